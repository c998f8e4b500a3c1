"""Crypto Select (21Shares) reviews: eligibility, top 10 with 8/13 buffers, the turnover rule
(SPEC §4.3-§4.4, §8.4; Crypto Select ground rules §4-§5)."""

from __future__ import annotations

from daix.calendars import ReviewEvent
from daix.engine.baskets import weights_of
from daix.engine.context import Book
from daix.engine.custom import finish_review
from daix.engine.selection import buffer_select, rank, turnover_keeps_factors

INCLUSION_LIST = "21shares_inclusion"


def select_review(book: Book, ev: ReviewEvent) -> None:
    """One quarterly review of SELECT10 or SELECT10_EXBTC."""
    index, ctx = book.index, book.ctx
    previous = book.previous_members()
    universe = ctx.ref.universe(ev.month)
    inclusion = ctx.ref.named_list(INCLUSION_LIST, ev.month)
    ex_btc = index.id.endswith("EXBTC")
    why: dict[str, str] = {}
    screened: dict[str, str] = {}  # candidates that failed a data screen (SPEC §3.8)
    supply: dict[str, float] = {}
    price: dict[str, float] = {}
    mv: dict[str, float] = {}
    inputs = ctx.review_screen(index, ev)
    for asset in sorted(set(universe) | (previous or set())):
        row = universe.get(asset)
        if ex_btc and asset == "BTC":
            why[asset] = "Bitcoin is excluded from the ex-Bitcoin index (ground rules §4.1.4)"
            continue
        if row is None:
            why[asset] = "no row in the universe snapshot in force (SPEC §8.4)"
            continue
        if asset not in inclusion:
            why[asset] = f"not on the {INCLUSION_LIST} list in force (SPEC §8.4)"
            continue
        if not row.liquidity_pass:
            why[asset] = screened[asset] = "failed the liquidity test (SPEC §8.4)"
            continue
        found = inputs(asset)
        if isinstance(found, str):
            why[asset] = screened[asset] = found
            continue
        s, p = found
        supply[asset], price[asset], mv[asset] = s, p, p * s
    n, ins, outs = index.ranked
    sel = buffer_select(rank(mv), previous, n, ins, outs, why)
    members = sel.members
    cur = book.current()
    factors = weights = None
    if cur is not None and cur.members and set(members) == set(cur.members):
        keep, total, largest = turnover_keeps_factors(
            {a: price[a] for a in members}, {a: cur.units(a) for a in members},
            {a: supply[a] for a in members})
        words = (f"no constituent changes; two-way turnover {total * 1e4:.1f} bp, largest "
                 f"{largest * 1e4:.1f} bp")
        if keep:
            factors = {a: cur.units(a) / supply[a] for a in members}
            detail = f"{words}: s*f kept, f_e = s_c*f_c/s_e (SPEC §4.4)"
        else:
            factors = dict.fromkeys(members, 1.0)
            detail = f"{words}: at or above 106 bp / 20 bp, f reset to 1 (SPEC §4.4)"
        weights = weights_of({a: supply[a] * factors[a] for a in members}, price)
        for a in members:
            action, reason = sel.actions[a]
            sel.actions[a] = (action, f"{reason}; {detail}")
    finish_review(book, ev, members, supply, mv, sel.ranks, sel.actions, factors, weights,
                  ineligible=screened)
