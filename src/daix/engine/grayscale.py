"""Grayscale Crypto Sector reviews: sector screens (market value, ADTV, liquidity), the totals,
the Investible index and the history anchors (SPEC §4.5-§4.6, §8.4; Grayscale ground rules
§4-§5).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from daix.calendars import ReviewEvent, new_entrant_time
from daix.catalogue import GRAYSCALE_SECTORS, GRAYSCALE_X
from daix.engine.baskets import rank_by_value
from daix.engine.context import DELETED, NAN, NO_PRICE, NO_SUPPLY, Book, Context, ny_date
from daix.engine.custom import finish_review
from daix.engine.selection import GrayscaleThresholds

SECTOR_INDEX = {
    "currencies": "GS_CURRENCIES",
    "scp": "GS_SCP",
    "financials": "GS_FINANCIALS",
    "consumer": "GS_CONSUMER",
    "utilities": "GS_UTILITIES",
}
TOTALS = ("GS_TOTAL", "GS_TOTAL_CAP")
INVESTIBLE = "GS_SCP_INVESTIBLE"
ACCESS_LIST = "grayscale_access"
#: History anchors (SPEC §4.6): broad sector indices before Sep 2022, Investible before Mar 2024.
BROAD_ANCHOR = "2022-09"
INVESTIBLE_ANCHOR = "2024-03"


@dataclass
class SectorScreen:
    """The outcome of one sector's screens at one review."""

    members: list[str]
    supply: dict[str, float] = field(default_factory=dict)
    mv: dict[str, float] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # reason an asset is not selected
    passed: dict[str, str] = field(default_factory=dict)  # reason an asset is selected


def _inputs(ctx: Context, ev: ReviewEvent, asset: str, index_window_of) -> tuple[float, float,
                                                                                  str]:
    """Supply and price for screening and weighting: new entrants use 22:00 UTC of the last day
    of the prior month for both (SPEC §4.5, §8.4); others the cut-off and review prices."""
    row = ctx.ref.universe(ev.month).get(asset)
    if row is not None and row.new_entrant:
        t = new_entrant_time(ev)
        return (ctx.supply_at(t).get(asset, NAN), ctx.fixes(index_window_of, t).get(asset, NAN),
                "new entrant: 22:00 UTC price and supply")
    return (ctx.supply_at(ev.cutoff).get(asset, NAN),
            ctx.fixes(index_window_of, ev.price_time).get(asset, NAN), "")


def screen_sector(ctx: Context, ev: ReviewEvent, key: str, constituents: set[str],
                  window: str) -> SectorScreen:
    """SPEC §4.5 screens of one sector at one review; ``constituents`` decide the thresholds."""
    ref = ctx.ref
    universe = ref.universe(ev.month)
    codes = GRAYSCALE_SECTORS[key]
    excluded = ref.named_list(f"grayscale_exclusion_{key}", ev.month)
    included = ref.named_list(f"grayscale_inclusion_{key}", ev.month)
    th = GrayscaleThresholds(GRAYSCALE_X[key])
    out = SectorScreen([])
    sector = ref.assets_in(codes)
    candidates = {a for a in universe if a in sector} | included | constituents
    adtv_dates: dict[bool, tuple[dt.date, dt.date]] = {}  # by new entrant or not
    for asset in sorted(candidates):
        in_sector = asset in sector
        if asset not in included and (not in_sector or asset in excluded):
            out.why[asset] = (f"on grayscale_exclusion_{key} (SPEC §4.5)" if in_sector
                              else f"not in the {key} sector codes (SPEC §5)")
            continue
        row = universe.get(asset)
        if row is None:
            out.why[asset] = "no row in the universe snapshot in force (SPEC §8.4)"
            continue
        if ctx.deleted_by(asset, ev.effective) is not None:
            out.why[asset] = DELETED
            continue
        s, p, note = _inputs(ctx, ev, asset, window)
        if not s > 0:
            out.why[asset] = NO_SUPPLY
            continue
        if not p > 0:
            out.why[asset] = NO_PRICE
            continue
        mv = p * s
        constituent = asset in constituents
        ok, mv_words = th.mv_ok(mv, row.klass, constituent)
        if not ok:
            out.why[asset] = mv_words
            continue
        if row.new_entrant not in adtv_dates:
            adtv_dates[row.new_entrant] = _adtv_dates(ev, row.new_entrant)
        first, last = adtv_dates[row.new_entrant]
        adtv, days = ref.adtv(asset, first, last)
        ok, adtv_words = th.adtv_ok(adtv, days, constituent, row.new_entrant)
        if not ok:
            out.why[asset] = adtv_words
            continue
        if not row.new_entrant and not row.liquidity_pass:
            out.why[asset] = "failed the liquidity test (SPEC §4.5)"
            continue
        out.members.append(asset)
        out.supply[asset], out.mv[asset] = s, mv
        out.passed[asset] = "; ".join(x for x in (note, mv_words, adtv_words) if x)
    return out


def _adtv_dates(ev: ReviewEvent, new_entrant: bool) -> tuple[dt.date, dt.date]:
    """ADTV dates (SPEC §8.4): the 28 dates before the New York date of the review price; for
    new entrants the 84 dates ending 5 days before the cut-off date, inclusive."""
    if new_entrant:
        last = ny_date(ev.cutoff) - dt.timedelta(days=5)
        return last - dt.timedelta(days=83), last
    day = ny_date(ev.price_time)
    return day - dt.timedelta(days=28), day - dt.timedelta(days=1)


def _anchored(ctx: Context, ev: ReviewEvent, anchor: SectorScreen, window: str,
              month: str) -> SectorScreen:
    """Anchor members (SPEC §4.6) that have a price and supply at this earlier review."""
    out = SectorScreen([])
    for asset in anchor.members:
        s, p, _ = _inputs(ctx, ev, asset, window)
        if not (s > 0 and p > 0):
            out.why[asset] = ("anchored member without a price or supply at this review "
                              "(SPEC §4.6, §8.4)")
            continue
        out.members.append(asset)
        out.supply[asset], out.mv[asset] = s, p * s
        out.passed[asset] = f"history anchored to the {month} constituents (SPEC §4.6)"
    return out


def _record(book: Book, ev: ReviewEvent, screen: SectorScreen) -> None:
    """Turn a screen into add/keep/delete rows and a weighted basket."""
    previous = book.previous_members() or set()
    actions: dict[str, tuple[str, str]] = {}
    for a in screen.members:
        verb = "keep" if a in previous else "add"
        actions[a] = (verb, screen.passed.get(a, "passed the screens (SPEC §4.5)"))
    for a in sorted(previous - set(screen.members)):
        actions[a] = ("delete", screen.why.get(a, "not selected (SPEC §4.5)"))
    ranks = rank_by_value({a: screen.mv[a] for a in screen.members})
    ineligible = {a: w for a, w in screen.why.items() if a not in previous}
    finish_review(book, ev, sorted(screen.members), screen.supply, screen.mv, ranks, actions,
                  ineligible=ineligible)


def _union(screens: list[SectorScreen]) -> SectorScreen:
    out = SectorScreen([])
    for sc in screens:
        for a in sc.members:
            if a not in out.supply:
                out.members.append(a)
                out.supply[a], out.mv[a] = sc.supply[a], sc.mv[a]
                out.passed[a] = f"member of a sector index: {sc.passed.get(a, '')}"
        for a, w in sc.why.items():
            out.why.setdefault(a, w)
    for a in out.members:
        out.why.pop(a, None)
    return out


def grayscale_family(ctx: Context, books: dict[str, Book], events: list[ReviewEvent]) -> None:
    """Every Grayscale index over every computable quarterly review, in time order."""
    window = next(iter(books.values())).index.window
    reviews = [ev for ev in events if ev.kind == "review" and ctx.computable(ev)]
    sector_books = {k: books[v] for k, v in SECTOR_INDEX.items() if v in books}
    need_sectors = set(SECTOR_INDEX) if (set(TOTALS) | {INVESTIBLE}) & set(books) \
        else set(sector_books)
    anchor_ev = next((ev for ev in reviews if ev.month == BROAD_ANCHOR), None)
    anchor = ({k: screen_sector(ctx, anchor_ev, k, set(), window) for k in need_sectors}
              if anchor_ev is not None else None)
    # Sector constituents also when a sector index itself was not asked for (totals need them).
    shadow: dict[str, set[str] | None] = dict.fromkeys(need_sectors)
    scp_by_month: dict[str, SectorScreen] = {}
    for ev in reviews:
        for book in books.values():
            if book.index.id != INVESTIBLE:
                book.apply_deletions(before=ev.effective)
        screens: dict[str, SectorScreen] = {}
        for key in sorted(need_sectors):
            book = sector_books.get(key)
            prev = book.previous_members() if book is not None else shadow[key]
            if anchor is not None and ev.month < BROAD_ANCHOR:
                screens[key] = _anchored(ctx, ev, anchor[key], window, BROAD_ANCHOR)
            elif anchor is not None and ev is anchor_ev:
                screens[key] = anchor[key]  # a launch review: no previous constituents
            else:
                screens[key] = screen_sector(ctx, ev, key, prev or set(), window)
            shadow[key] = set(screens[key].members)
            if book is not None:
                _record(book, ev, screens[key])
        if "scp" in screens:
            scp_by_month[ev.month] = screens["scp"]
        union = _union([screens[k] for k in sorted(screens)])
        for total in TOTALS:
            if total in books:
                _record(books[total], ev, union)
    if INVESTIBLE in books:
        _investible(ctx, books[INVESTIBLE], reviews, scp_by_month, window)


def _investible(ctx: Context, book: Book, reviews: list[ReviewEvent],
                scp: dict[str, SectorScreen], window: str) -> None:
    """GS_SCP and the Access List (SPEC §8.4), anchored before March 2024 (SPEC §4.6).

    The anchor review is a launch review (SPEC §8.4: no previous constituents), so there the
    Smart Contract Platforms screen is made afresh, every asset at the entry thresholds;
    later reviews take the GS_SCP selection itself."""
    def investible(ev: ReviewEvent, base: SectorScreen) -> SectorScreen:
        access = ctx.ref.named_list(ACCESS_LIST, ev.month)
        out = SectorScreen([a for a in base.members if a in access])
        for a in out.members:
            out.supply[a], out.mv[a] = base.supply[a], base.mv[a]
            out.passed[a] = f"in GS_SCP and on the {ACCESS_LIST} list (SPEC §8.4)"
        for a in base.members:
            if a not in access:
                out.why[a] = f"not on the {ACCESS_LIST} list in force (SPEC §8.4)"
        out.why.update({a: w for a, w in base.why.items() if a not in out.why})
        return out

    anchor_ev = next((ev for ev in reviews if ev.month == INVESTIBLE_ANCHOR), None)
    anchor = (investible(anchor_ev, screen_sector(ctx, anchor_ev, "scp", set(), window))
              if anchor_ev is not None else None)
    for ev in reviews:
        book.apply_deletions(before=ev.effective)
        if anchor is not None and ev.month < INVESTIBLE_ANCHOR:
            screen = _anchored(ctx, ev, anchor, window, INVESTIBLE_ANCHOR)
        elif ev is anchor_ev:
            screen = anchor
        else:
            screen = investible(ev, scp[ev.month])
        _record(book, ev, screen)
