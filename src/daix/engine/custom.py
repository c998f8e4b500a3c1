"""Custom Digital Asset (HashKey) reviews: Top 20 with buffers and a 40% cap, Infrastructure
and Application equal weighted, quarterly reviews and monthly factor resets (SPEC §4.1, §4.3,
§5; Custom ground rules §5).
"""

from __future__ import annotations

from daix.calendars import ReviewEvent
from daix.catalogue import IndexDef
from daix.engine.baskets import Basket, rank_by_value, weigh
from daix.engine.context import NAN, NO_CUTOFF_FIX, Book
from daix.engine.selection import buffer_select, rank


def custom_review(book: Book, ev: ReviewEvent) -> None:
    """A quarterly review or a monthly factor reset of one Custom index."""
    if ev.kind == "reset":
        if book.current() is not None:
            factor_reset(book, ev)
        return
    index, ctx = book.index, book.ctx
    previous = book.previous_members()
    universe = ctx.ref.universe(ev.month)
    excluded = ctx.ref.named_list(index.exclusion_list, ev.month) if index.exclusion_list \
        else set()
    top = index.ranked is not None
    in_sectors = ctx.ref.assets_in(index.sectors) if index.sectors else None
    inputs = ctx.review_screen(index, ev)
    cutoff_fixes = ctx.fixes(index.window, ev.cutoff) if top else {}
    why: dict[str, str] = {}
    screened: dict[str, str] = {}  # candidates that failed a data screen (SPEC §3.8)
    supply: dict[str, float] = {}
    mv: dict[str, float] = {}
    rank_value: dict[str, float] = {}
    for asset in sorted(set(universe) | (previous or set())):
        if in_sectors is not None and asset not in in_sectors:
            why[asset] = "sector not among " + ", ".join(index.sectors) + " (SPEC §5)"
            continue
        row = universe.get(asset)
        if row is None:
            why[asset] = "no row in the universe snapshot in force (SPEC §4.2)"
            continue
        if not row.total_cap:
            why[asset] = "not a member of the Total Cap index (SPEC §5)"
            continue
        if asset in excluded:
            why[asset] = f"on the {index.exclusion_list} list in force (SPEC §4.2)"
            continue
        found = inputs(asset)
        if isinstance(found, str):
            why[asset] = screened[asset] = found
            continue
        s, p = found
        if top:
            pc = cutoff_fixes.get(asset, NAN)
            if not pc > 0:
                why[asset] = screened[asset] = NO_CUTOFF_FIX
                continue
            rank_value[asset] = pc * s
        supply[asset] = s
        mv[asset] = p * s
    if top:
        n, ins, outs = index.ranked
        sel = buffer_select(rank(rank_value), previous, n, ins, outs, why)
        members, actions, ranks = sel.members, sel.actions, sel.ranks
    else:
        members = sorted(mv)
        actions = {}
        for a in members:
            actions[a] = (("keep", "eligible at the review and a constituent (SPEC §5)")
                          if previous and a in previous
                          else ("add", "eligible at the review (SPEC §5)"))
        for a in sorted(previous or set()):
            if a not in mv:
                actions[a] = ("delete", f"no longer eligible: {why.get(a, 'not eligible')}")
        ranks = rank_by_value(mv)
    for a in sorted(previous or set()):
        if a not in members and a not in actions:
            actions[a] = ("delete", f"no longer eligible: {why.get(a, 'not eligible')}")
    finish_review(book, ev, members, supply, mv, ranks, actions, ineligible=screened)


def finish_review(book: Book, ev: ReviewEvent, members: list[str], supply: dict[str, float],
                  mv: dict[str, float], ranks: dict[str, int],
                  actions: dict[str, tuple[str, str]], factors: dict[str, float] | None = None,
                  weights: dict[str, float] | None = None,
                  ineligible: dict[str, str] | None = None) -> Basket:
    """Weigh the selected members (SPEC §3.3-§3.4), record the basket and the review rows.

    ``ineligible`` maps candidates that failed a screen (no price or supply, SPEC §3.8; a
    threshold) to the reason, written as ``ineligible`` rows when they take no other action.
    """
    index = book.index
    book.writing_for = ev.effective
    member_mv = {a: mv[a] for a in members}
    capped: list[str] = []
    note = ""
    if factors is None:
        factors, weights, capped, note = weigh(index, member_mv)
    assert weights is not None
    # The index starts with its first non-empty basket, which is based at its own E
    # (SPEC §3.5); an empty selection before that records its review rows only.
    started = any(b.members for b in book.baskets)
    basket = Basket(index.id, ev.month, "review", ev.effective,
                    ev.close if started else None,
                    list(members), {a: supply[a] for a in members}, factors, member_mv,
                    weights, {a: ranks[a] for a in members})
    if note:
        basket.notes.append(note)
    if members or started:
        book.baskets.append(basket)
    for a in sorted(actions, key=lambda x: (x not in ranks, ranks.get(x, 0), x)):
        action, reason = actions[a]
        book.row(ev.month, a, action, reason)
    for a in sorted(ineligible or {}):
        if a not in actions:
            book.row(ev.month, a, "ineligible", ineligible[a])
    if not members:
        book.row(ev.month, "", "note", "no constituent selected: no basket from this review"
                                       + (" (suspended, SPEC §8.5)" if started else
                                          ": the index has not started (SPEC §4.1)"))
    for a in capped:
        book.row(ev.month, a, "capped", f"weight capped at {index.cap:.0%}: {note}")
    if note and not capped:
        book.row(ev.month, "", "note", note)
    return basket


def factor_reset(book: Book, ev: ReviewEvent) -> None:
    """Monthly factor reset (SPEC §4.1, §8.3): same members and supply, factors recomputed at
    the reset prices; a constituent with no fix then keeps its last price and stays."""
    index, ctx = book.index, book.ctx
    book.writing_for = ev.effective
    cur = book.current()
    assert cur is not None
    members = []
    for a in cur.members:
        if ctx.deleted_by(a, ev.effective) is not None:
            book.row(ev.month, a, "delete", "deleted from the universe before this factor reset "
                                            "took effect (SPEC §8.5)")
            continue
        members.append(a)
    last = ctx.last_fixes(index.window, ev.price_time)
    fresh = ctx.fixes(index.window, ev.price_time)
    prices = {a: last.get(a, NAN) for a in members}
    mv = {a: prices[a] * cur.supply[a] for a in members}
    factors, weights, capped, note = weigh(index, mv)
    basket = Basket(index.id, ev.month, "reset", ev.effective, ev.close, members,
                    {a: cur.supply[a] for a in members}, factors, mv, weights,
                    _reset_ranks(cur, mv, index))
    if note:
        basket.notes.append(note)
    book.baskets.append(basket)
    for a in sorted(members):
        stale = "" if fresh.get(a, NAN) > 0 else \
            "; no fix at the reset price time, its last price kept (SPEC §8.3)"
        book.row(ev.month, a, "reset", f"monthly factor reset: supply unchanged, factor "
                                       f"recomputed at reset prices (SPEC §4.1){stale}")
    for a in capped:
        book.row(ev.month, a, "capped", f"weight capped at {index.cap:.0%}: {note}")
    if note and not capped:  # an infeasible cap (SPEC §3.4), as at a review
        book.row(ev.month, "", "note", note)


def _reset_ranks(cur: Basket, mv: dict[str, float], index: IndexDef) -> dict[str, int]:
    """A reset keeps the selection ranks of the review it follows (SPEC §8.6)."""
    if index.ranked is not None:
        return {a: cur.rank[a] for a in mv}
    return rank_by_value(mv)
