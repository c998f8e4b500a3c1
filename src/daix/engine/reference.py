"""Reference data in force at a review: universe snapshot, named lists, sectors, ADTV, supply.

The list rule of SPEC §4.2 applies to every monthly table (lists, per list name, and the
universe, SPEC §8.3): the one in force at a review month is the latest at or before it; a review
earlier than the first one on record uses the first.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

import numpy as np

from daix.engine.market import AsOf


@dataclass(frozen=True)
class UniverseRow:
    """One asset's row of the universe snapshot (SPEC §4.2)."""

    total_cap: bool
    klass: str
    liquidity_pass: bool
    new_entrant: bool


def _in_force(months: list[str], month: str) -> str | None:
    """The latest month at or before ``month``; the first when ``month`` precedes them all."""
    if not months:
        return None
    i = bisect.bisect_right(months, month) - 1
    return months[max(i, 0)]


class Reference:
    """Universe, lists, sectors, supply, volume and deletions of one data set."""

    def __init__(self, universe=None, lists=None, assets=None, supply=None, volume=None,
                 deletions=None) -> None:
        # A universe snapshot becomes UniverseRow objects when a review first reads it.
        self._universe_table = universe
        self._universe_rows: dict[str, np.ndarray] = {}
        self._universe: dict[str, dict[str, UniverseRow]] = {}  # by month on record
        self._universe_at: dict[str, dict[str, UniverseRow]] = {}  # by month asked for
        self._universe_row_values: dict[tuple, UniverseRow] = {}
        if universe is not None and universe.num_rows:
            self._universe_rows = _rows_by_value(universe.column("review"))
        self._universe_months = sorted(self._universe_rows)
        self._lists: dict[str, dict[str, set[str]]] = {}
        if lists is not None:
            for review, name, asset in zip(*_columns(lists, "review", "list", "asset"),
                                           strict=True):
                self._lists.setdefault(name, {}).setdefault(review, set()).add(asset)
        self._list_months = {name: sorted(m) for name, m in self._lists.items()}
        self.sector: dict[str, str] = {}
        self.subsector: dict[str, str] = {}
        if assets is not None:
            for asset, sector, subsector in zip(*_columns(assets, "asset", "sector",
                                                          "subsector"), strict=True):
                self.sector[asset] = (sector or "").strip()
                self.subsector[asset] = (subsector or "").strip()
        self._code_sets: dict[tuple[str, ...], frozenset[str]] = {}
        # A table, or a function reading it: then read when a review first asks for supply
        # (a recalc that reruns no review never reads it).
        self._supply_source = supply
        self._supply: AsOf | None = None
        # The volume table is grouped per asset when an ADTV is first asked for.
        self._volume_table = volume  # a table, None, or a function reading it
        self._volume: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self.deletions: list[tuple[int, str]] = []
        #: The first deletion instant u of each deleted asset (SPEC §8.5).
        self.first_deletion: dict[str, int] = {}
        if deletions is not None:
            ts = deletions.column("ts").cast("int64").to_pylist()
            self.deletions = sorted(zip(ts, deletions.column("asset").to_pylist(), strict=True))
            for u, asset in self.deletions:
                self.first_deletion.setdefault(asset, u)

    @classmethod
    def prepare(cls, ds, needs_volume: bool = False):
        """:meth:`from_dataset` with the supply steps and (``needs_volume``) the volume per
        asset made now, not when a review first asks, in a background thread: the reviews of
        a backfill take it from the returned future (its errors are raised there)."""
        from daix.background import in_background

        def build() -> Reference:
            ref = cls.from_dataset(ds, needs_volume=needs_volume)
            ref.supply  # noqa: B018 (made now)
            if needs_volume:
                ref._volume_groups()
            return ref

        return in_background(build, name="reference")

    @property
    def supply(self) -> AsOf:
        """Circulating supply as of an instant, per asset (SPEC §3.2)."""
        if self._supply is None:
            source = self._supply_source
            self._supply = AsOf.from_table(source() if callable(source) else source, "asset",
                                           "circulating_supply")
            self._supply_source = None
        return self._supply

    @classmethod
    def from_dataset(cls, ds, needs_volume: bool = False) -> Reference:
        for name, needed in (("supply", True), ("volume", needs_volume)):
            if needed and not ds.has(name):
                ds.table(name)  # the missing-table error, now
        return cls(
            universe=ds.table("universe"),
            lists=ds.table("lists", required=False),
            assets=ds.table("assets", required=False),
            supply=lambda: ds.table("supply"),
            volume=(lambda: ds.table("volume", required=needs_volume)),
            deletions=ds.table("deletions", required=False),
        )

    # --- monthly tables in force (SPEC §4.2, §8.3) ----------------------------------------
    def universe_month(self, month: str) -> str | None:
        return _in_force(self._universe_months, month)

    def universe(self, month: str) -> dict[str, UniverseRow]:
        found = self._universe_at.get(month)
        if found is not None:
            return found
        m = self.universe_month(month)
        if m is None:
            return {}
        found = self._universe.get(m)
        if found is None:
            found = self._universe[m] = {}
            rows = self._universe_table.take(self._universe_rows[m])
            shared = self._universe_row_values  # rows are immutable: one object per value
            for asset, total_cap, klass, liquidity, new in zip(*_columns(
                    rows, "asset", "total_cap", "class", "liquidity_pass", "new_entrant"),
                    strict=True):
                value = (bool(total_cap), klass, bool(liquidity), bool(new))
                row = shared.get(value)
                if row is None:
                    row = shared[value] = UniverseRow(*value)
                found[asset] = row
        self._universe_at[month] = found
        return found

    def named_list(self, name: str, month: str) -> set[str]:
        m = _in_force(self._list_months.get(name, []), month)
        return set(self._lists[name][m]) if m is not None else set()

    # --- sectors (SPEC §5: a subsector's first six digits are its sector) ------------------
    def in_codes(self, asset: str, codes: tuple[str, ...]) -> bool:
        """Whether the asset's sector or subsector is one of ``codes`` (6 or 8 digits)."""
        return asset in self.assets_in(codes)

    def assets_in(self, codes: tuple[str, ...]) -> frozenset[str]:
        """The assets whose sector or subsector is one of ``codes`` (an asset with no row in
        the assets table has no sector: it is in none)."""
        found = self._code_sets.get(codes)
        if found is None:
            found = self._code_sets[codes] = frozenset(
                a for a in self.subsector if self._has_code(a, codes))
        return found

    def _has_code(self, asset: str, codes: tuple[str, ...]) -> bool:
        sub = self.subsector.get(asset, "")
        sector = self.sector.get(asset, "") or sub[:6]
        for code in codes:
            if len(code) == 6 and (sector == code or sub[:6] == code):
                return True
            if len(code) == 8 and sub == code:
                return True
        return False

    # --- volume (SPEC §4.5, §8.4) ----------------------------------------------------------
    def _volume_groups(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The volume table grouped per asset (made on first use)."""
        if self._volume is None:
            table = self._volume_table() if callable(self._volume_table) else self._volume_table
            self._volume = ({} if table is None or table.num_rows == 0
                            else _volume_by_asset(table))
            self._volume_table = None
        return self._volume

    def adtv(self, asset: str, first: dt.date, last: dt.date) -> tuple[float, int]:
        """Mean daily USD volume over the dates ``first..last`` inclusive, and days on record."""
        rec = self._volume_groups().get(asset)
        if rec is None:
            return float("nan"), 0
        days, usd = rec
        lo = days.searchsorted(_day_number(first), side="left")
        hi = days.searchsorted(_day_number(last), side="right")
        n = int(hi - lo)
        if n == 0:
            return float("nan"), 0
        return float(np.mean(usd[lo:hi])), n


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _columns(table, *names: str) -> list[list]:
    """Columns of a table as Python lists (one conversion per column, none per row)."""
    return [table.column(n).to_pylist() for n in names]


def _rows_by_value(col) -> dict[str | None, np.ndarray]:
    """The rows of each value of a text column (a null is the value None), in row order."""
    from daix.engine.grouping import group_order, groups, text_rank_codes

    codes, names = text_rank_codes(col)
    order, starts, _ = group_order(codes, len(names) + 1, np.zeros(len(codes), dtype=np.int64))
    values = [*names, None]
    return {values[c]: order[lo:hi] for c, lo, hi in groups(starts)}


def _volume_by_asset(volume) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per asset: its dates (day numbers) ascending and the USD volumes of those dates.

    A row whose volume is null, not finite or negative is not a day on record (SPEC §4.5:
    the mean of the days present); ``daix validate`` reports such rows. Dates and assets are
    never null (:func:`daix.io.conform`)."""
    import pyarrow.compute as pc

    from daix.engine.grouping import group_order, groups, int64_keys, text_rank_codes

    usd_col = volume.column("volume_usd")
    usable = pc.fill_null(pc.and_(pc.is_finite(usd_col), pc.greater_equal(usd_col, 0)), False)
    if not pc.all(usable).as_py():
        volume = volume.filter(usable)
    codes, names = text_rank_codes(volume.column("asset"))
    date = volume.column("date").cast("int32")
    order, starts, _ = group_order(codes, len(names) + 1, int64_keys(date))
    days = np.asarray(np.asarray(date.to_numpy(zero_copy_only=False))[order], np.int64)
    usd = np.asarray(volume.column("volume_usd").to_numpy(zero_copy_only=False), float)[order]
    return {names[c]: (days[lo:hi], usd[lo:hi]) for c, lo, hi in groups(starts)}
