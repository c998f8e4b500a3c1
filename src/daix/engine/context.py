"""What a family's review driver works with: market data, reference data, and one
:class:`Book` per index holding its baskets and review rows, with intra-review deletions
(SPEC §3.7, §8.5) applied between reviews.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from daix.calendars import ReviewEvent, calculation_times
from daix.catalogue import IndexDef
from daix.engine.baskets import Basket, ReviewRow, rank_by_value, weights_of
from daix.engine.market import PriceGrid
from daix.engine.reads import FRESH, LAST, ReadLog
from daix.engine.reference import Reference
from daix.timeutil import NS_PER_DAY, ns_to_datetime, ns_to_iso

#: Reasons shared by every family's screens (SPEC §3.8, §8.5).
DELETED = "deleted from the universe before this review took effect (SPEC §8.5)"
NO_SUPPLY = "no or non-positive supply at the cut-off (SPEC §3.8)"
NO_PRICE = "no price at the review price time (SPEC §3.8)"
NO_CUTOFF_FIX = "no fix at the cut-off, so not ranked (SPEC §4.1, §8.3)"

#: How far to look for the next or previous official calculation time.
_SEARCH = 8 * NS_PER_DAY
#: How many instants' lookups a context keeps.
_KEEP = 64
NAN = float("nan")


@dataclass
class Context:
    """Market and reference data of one run.

    What a review reads at one instant (every asset's fix, last fix or supply) is looked up
    for all assets at once and kept for the next lookups at that instant (SPEC §3.2, §3.8).
    """

    grid: PriceGrid
    ref: Reference
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    #: Where the price reads of each review step are noted (``daix.engine.reads``), if any.
    reads: ReadLog | None = field(default=None, init=False, repr=False, compare=False)

    def _kept(self, key: tuple, make: Callable[[], dict[str, float]]) -> dict[str, float]:
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= _KEEP:
                del self._memo[next(iter(self._memo))]  # the oldest
            found = self._memo[key] = make()
        return found

    def fixes(self, window: str, ts: int) -> dict[str, float]:
        """Every asset's fix of ``window`` at exactly ``ts`` (NaN when none; empty off the
        grid)."""
        if self.reads is not None:
            self.reads.note(window, FRESH, ts)

        def make() -> dict[str, float]:
            r = self.grid.row(ts)
            if r < 0 or r >= self.grid.n_rows:
                return {}
            return dict(zip(self.grid.assets, self.grid.matrix(window)[r].tolist(),
                            strict=True))

        return self._kept(("fix", window, ts), make)

    def last_fixes(self, window: str, ts: int) -> dict[str, float]:
        """Every asset's last fix at or before ``ts`` (NaN when none)."""
        if self.reads is not None:
            self.reads.note(window, LAST, ts)

        def make() -> dict[str, float]:
            r = min(self.grid.row(ts), self.grid.n_rows - 1)
            if r < 0:
                return {}
            return dict(zip(self.grid.assets, self.grid.filled(window)[r].tolist(),
                            strict=True))

        return self._kept(("last", window, ts), make)

    def supply_at(self, ts: int) -> dict[str, float]:
        """Every asset's supply as of ``ts``: its latest row at or before (NaN when none;
        zero or negative values as they are, SPEC §8.3)."""
        return self._kept(("supply", ts), lambda: self.ref.supply.snapshot(ts))

    def fresh(self, index: IndexDef, ts: int, asset: str) -> float:
        """The index window's fix of ``asset`` at exactly ``ts`` (NaN when none)."""
        return self.fixes(index.window, ts).get(asset, NAN)

    def last(self, index: IndexDef, ts: int, asset: str) -> float:
        """The last fix at or before ``ts`` (SPEC §3.8: a stale constituent keeps it)."""
        return self.last_fixes(index.window, ts).get(asset, NAN)

    def deleted_by(self, asset: str, effective: int) -> int | None:
        """The instant u of a deletion of ``asset`` with u <= E, if any (SPEC §8.5)."""
        u = self.ref.first_deletion.get(asset)
        return u if u is not None and u <= effective else None

    def review_inputs(self, index: IndexDef, ev: ReviewEvent,
                      asset: str) -> tuple[float, float] | str:
        """(supply at the cut-off, fix at the review price time) of a candidate, or why it is
        ineligible: deleted before E (SPEC §8.5), no or non-positive supply or no price (§3.8)."""
        return self.review_screen(index, ev)(asset)

    def review_screen(self, index: IndexDef,
                      ev: ReviewEvent) -> Callable[[str], tuple[float, float] | str]:
        """:meth:`review_inputs` of one review as a function of the asset (the lookups at the
        review's instants done once)."""
        supply = self.supply_at(ev.cutoff)
        prices = self.fixes(index.window, ev.price_time)

        def inputs(asset: str) -> tuple[float, float] | str:
            if self.deleted_by(asset, ev.effective) is not None:
                return DELETED
            s = supply.get(asset, NAN)
            if not s > 0:
                return NO_SUPPLY
            p = prices.get(asset, NAN)
            if not p > 0:
                return NO_PRICE
            return s, p

        return inputs

    def computable(self, ev: ReviewEvent) -> bool:
        """A review is computed when its cut-off and price time lie in the data (SPEC §8.3)."""
        return self.grid.inside(ev.cutoff) and self.grid.inside(ev.price_time)


def month_of(ts: int) -> str:
    d = ns_to_datetime(ts)
    return f"{d.year:04d}-{d.month:02d}"


def ny_date(ts: int) -> dt.date:
    """The New York calendar date of an instant (SPEC §8.4 ADTV dates)."""
    from zoneinfo import ZoneInfo

    return ns_to_datetime(ts).astimezone(ZoneInfo("America/New_York")).date()


def next_official(index: IndexDef, ts: int) -> int:
    """The first official calculation time at or after ``ts``."""
    times = calculation_times(index, ts, ts + _SEARCH)
    return int(times[0])


def previous_official(index: IndexDef, ts: int) -> int:
    """The last official calculation time strictly before ``ts``."""
    times = calculation_times(index, ts - _SEARCH, ts - 1)
    return int(times[-1])


@dataclass
class Book:
    """The baskets and review rows of one index, built in time order."""

    index: IndexDef
    ctx: Context
    baskets: list[Basket] = field(default_factory=list)
    rows: list[ReviewRow] = field(default_factory=list)
    #: E of the review, reset or deletion whose rows are being written, for each row (recalc).
    row_effective: list[int] = field(default_factory=list)
    writing_for: int = 0
    _pending: list[tuple[int, int, list[tuple[int, str]]]] | None = None

    def current(self) -> Basket | None:
        return self.baskets[-1] if self.baskets else None

    def previous_members(self) -> set[str] | None:
        """Members just before the next basket change; None before the first review."""
        cur = self.current()
        return None if cur is None else set(cur.members)

    def row(self, review: str, asset: str, action: str, reason: str) -> None:
        self.rows.append(ReviewRow(self.index.id, review, asset, action, reason))
        self.row_effective.append(self.writing_for)

    # --- intra-review deletions (SPEC §3.7, §8.5) ----------------------------------------
    def _deletion_groups(self) -> list[tuple[int, int, list[tuple[int, str]]]]:
        """Deletions grouped by their effective instant E (first official time at or after u)."""
        if self._pending is None:
            groups: dict[int, list[tuple[int, str]]] = {}
            for u, asset in self.ctx.ref.deletions:
                e = next_official(self.index, u)
                groups.setdefault(e, []).append((u, asset))
            self._pending = [(e, previous_official(self.index, e), dels)
                             for e, dels in sorted(groups.items())]
        return self._pending

    def apply_deletions(self, before: int | None) -> None:
        """Apply the deletions whose E is before ``before`` (all when None), in time order.

        A deletion whose E equals a review's E is left to the review (SPEC §8.5); one before
        the index's first basket, or of an asset the basket does not hold, does nothing.
        """
        groups = self._deletion_groups()
        while groups and (before is None or groups[0][0] < before):
            e, c, dels = groups.pop(0)
            cur = self.current()
            if cur is None or e <= cur.effective:
                continue
            gone = [(u, a) for u, a in dels if a in cur.members]
            if not gone:
                continue
            self._delete(cur, e, c, gone)

    def _delete(self, cur: Basket, e: int, c: int, gone: list[tuple[int, str]]) -> None:
        out = {a for _, a in gone}
        members = [a for a in cur.members if a not in out]
        prices = {a: self.ctx.last(self.index, c, a) for a in members}
        supply = {a: cur.supply[a] for a in members}
        factor = {a: cur.factor[a] for a in members}
        mv = {a: prices[a] * supply[a] for a in members}
        weight = weights_of({a: supply[a] * factor[a] for a in members}, prices)
        month = month_of(min(u for u, _ in gone))
        # SPEC §8.6: the selection rank where there is one, else the rank by market value.
        ranks = ({a: cur.rank[a] for a in members} if self.index.ranked is not None
                 else rank_by_value(mv))
        basket = Basket(self.index.id, month, "deletion", e, c, members, supply, factor, mv,
                        weight, ranks)
        if not members:
            basket.notes.append("every constituent deleted: index suspended until its next "
                                "review (SPEC §8.5)")
        self.baskets.append(basket)
        self.writing_for = e
        for u, a in sorted(gone):
            when = ns_to_iso(u)
            self.row(month_of(u), a, "delete",
                     f"intra-review deletion: left the universe at {when}, removed at the next "
                     f"official calculation; its weight goes to the others pro rata (SPEC §3.7)")
