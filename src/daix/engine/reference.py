"""Reference data in force at a review: universe snapshot, named lists, sectors, ADTV, supply.

The list rule of SPEC §4.2 applies to every monthly table (lists, per list name, and the
universe, SPEC §8.3): the one in force at a review month is the latest at or before it; a review
earlier than the first one on record uses the first.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
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
        self._universe: dict[str, dict[str, UniverseRow]] = {}
        if universe is not None:
            for r in universe.to_pylist():
                self._universe.setdefault(r["review"], {})[r["asset"]] = UniverseRow(
                    bool(r["total_cap"]), r["class"], bool(r["liquidity_pass"]),
                    bool(r["new_entrant"]))
        self._universe_months = sorted(self._universe)
        self._lists: dict[str, dict[str, set[str]]] = {}
        if lists is not None:
            for r in lists.to_pylist():
                self._lists.setdefault(r["list"], {}).setdefault(r["review"], set()).add(
                    r["asset"])
        self._list_months = {name: sorted(m) for name, m in self._lists.items()}
        self.sector: dict[str, str] = {}
        self.subsector: dict[str, str] = {}
        if assets is not None:
            for r in assets.to_pylist():
                self.sector[r["asset"]] = (r["sector"] or "").strip()
                self.subsector[r["asset"]] = (r["subsector"] or "").strip()
        self.supply = AsOf.from_table(supply, "asset", "circulating_supply")
        self._volume: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if volume is not None and volume.num_rows:
            import pyarrow.compute as pc

            order = pc.sort_indices(volume, [("asset", "ascending"), ("date", "ascending")])
            v = volume.take(order)
            assets_v = np.asarray(v.column("asset").to_numpy(zero_copy_only=False))
            days = v.column("date").cast("int32").to_numpy(zero_copy_only=False)
            usd = np.asarray(v.column("volume_usd").to_numpy(zero_copy_only=False), float)
            bounds = np.flatnonzero(np.r_[True, assets_v[1:] != assets_v[:-1], True])
            for lo, hi in itertools.pairwise(bounds):
                self._volume[str(assets_v[lo])] = (np.asarray(days[lo:hi], np.int64),
                                                   usd[lo:hi])
        self.deletions: list[tuple[int, str]] = []
        if deletions is not None:
            ts = deletions.column("ts").cast("int64").to_pylist()
            self.deletions = sorted(zip(ts, deletions.column("asset").to_pylist(), strict=True))

    @classmethod
    def from_dataset(cls, ds, needs_volume: bool = False) -> Reference:
        return cls(
            universe=ds.table("universe"),
            lists=ds.table("lists", required=False),
            assets=ds.table("assets", required=False),
            supply=ds.table("supply"),
            volume=ds.table("volume", required=needs_volume),
            deletions=ds.table("deletions", required=False),
        )

    # --- monthly tables in force (SPEC §4.2, §8.3) ----------------------------------------
    def universe_month(self, month: str) -> str | None:
        return _in_force(self._universe_months, month)

    def universe(self, month: str) -> dict[str, UniverseRow]:
        m = self.universe_month(month)
        return self._universe.get(m, {}) if m is not None else {}

    def named_list(self, name: str, month: str) -> set[str]:
        m = _in_force(self._list_months.get(name, []), month)
        return set(self._lists[name][m]) if m is not None else set()

    # --- sectors (SPEC §5: a subsector's first six digits are its sector) ------------------
    def in_codes(self, asset: str, codes: tuple[str, ...]) -> bool:
        """Whether the asset's sector or subsector is one of ``codes`` (6 or 8 digits)."""
        sub = self.subsector.get(asset, "")
        sector = self.sector.get(asset, "") or sub[:6]
        for code in codes:
            if len(code) == 6 and (sector == code or sub[:6] == code):
                return True
            if len(code) == 8 and sub == code:
                return True
        return False

    # --- volume (SPEC §4.5, §8.4) ----------------------------------------------------------
    def adtv(self, asset: str, first: dt.date, last: dt.date) -> tuple[float, int]:
        """Mean daily USD volume over the dates ``first..last`` inclusive, and days on record."""
        rec = self._volume.get(asset)
        if rec is None:
            return float("nan"), 0
        days, usd = rec
        lo = np.searchsorted(days, _day_number(first), side="left")
        hi = np.searchsorted(days, _day_number(last), side="right")
        n = int(hi - lo)
        if n == 0:
            return float("nan"), 0
        return float(np.mean(usd[lo:hi])), n


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days
