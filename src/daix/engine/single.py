"""Single Digital Asset indices (SPEC §5, §8.6; single asset ground rules §5.2.2, §7.3, §8).

The level is the fix of the index's window at its calculation times, divided by the divisor:
1, or 10 for the reduced-value (1/10th) indices. Real-time indices read the 15-second stream
and the EUR ones convert with the latest EUR rate at or before each tick (SPEC §3.1-§3.2).
A calculation time with no fresh fix keeps the last price and is ``indicative`` (SPEC §3.8);
so is, on the hourly calendar, a time that is not an official one (SPEC §5).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from daix.calendars import calculation_times, is_official
from daix.catalogue import IndexDef
from daix.engine.market import AsOf, PriceGrid


@dataclass
class SeriesLevels:
    """Levels of one index, ready for ``levels.parquet``."""

    index: str
    ts: np.ndarray  # int64 ns
    level: np.ndarray
    divisor: np.ndarray
    indicative: np.ndarray  # bool
    first: int | None  # first calculation time (the basket's effective instant)
    asset: str | None = None


class TickStream:
    """The 15-second fixes of each asset (window ``15s``), for the real-time indices.

    ``counts`` holds the rows of the 15s window and those of them with a null, non-finite or
    non-positive price, which count as no price (SPEC §8.2); None without a prices table."""

    def __init__(self, prices) -> None:
        import pyarrow.compute as pc

        self.ts: dict[str, np.ndarray] = {}
        self.price: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] | None = None
        if prices is None:
            return
        self.counts = {"rows": 0, "bad_price": 0}
        import pyarrow as pa

        from daix.engine.market import text_codes

        window = prices.column("window")
        if pa.types.is_dictionary(window.type) and not any(
                "15s" in chunk.dictionary.to_pylist() for chunk in window.chunks):
            return  # no 15-second fix in the table: no pass over its rows
        rt = prices.filter(text_codes(prices.column("window"), ["15s"]) == 0)
        if rt.num_rows == 0:
            return
        asset = rt.column("asset")
        if pa.types.is_dictionary(asset.type):  # read from a file: sort by the text
            rt = rt.set_column(rt.schema.get_field_index("asset"), "asset",
                               asset.cast(pa.string()))
        rt = rt.take(pc.sort_indices(rt, [("asset", "ascending"), ("ts", "ascending")]))
        assets = np.asarray(rt.column("asset").to_numpy(zero_copy_only=False))
        ts = rt.column("ts").cast("int64").to_numpy()
        price = np.asarray(rt.column("price").to_numpy(zero_copy_only=False), np.float64)
        usable = np.isfinite(price) & (price > 0)  # a null is NaN here
        self.counts = {"rows": rt.num_rows, "bad_price": int(rt.num_rows - usable.sum())}
        price = np.where(usable, price, np.nan)  # SPEC §8.2
        bounds = np.flatnonzero(np.r_[True, assets[1:] != assets[:-1], True])
        for lo, hi in itertools.pairwise(bounds):
            self.ts[str(assets[lo])] = ts[lo:hi]
            self.price[str(assets[lo])] = price[lo:hi]

    def has(self, asset: str) -> bool:
        return asset in self.ts and bool(np.isfinite(self.price[asset]).any())


def single_series(index: IndexDef, grid: PriceGrid | None, ticks: TickStream, fx: AsOf,
                  hourly: bool = False) -> tuple[SeriesLevels | None, str | None]:
    """(levels, None) of one single asset index, or (None, why it has none) for the
    manifest's ``skipped``: a backfill and a recalc give the same reasons."""
    if index.currency == "EUR" and "EUR" not in fx.times:
        return None, "no EUR rows in the fx table (SPEC §3.2)"
    s = single_levels(index, grid, ticks, fx, hourly)
    if s is None:
        return None, f"no {index.window} fix of {index.asset} in the prices table"
    return s, None


def single_levels(index: IndexDef, grid: PriceGrid | None, ticks: TickStream, fx: AsOf,
                  hourly: bool = False) -> SeriesLevels | None:
    """Levels of one single asset index over the data, or None when it has no fix at all."""
    asset = index.asset
    assert asset is not None
    if index.window == "15s":
        return _realtime(index, ticks, fx, hourly)
    if grid is None or asset not in grid.asset_index:
        return None
    col = grid.asset_index[asset]
    raw = grid.matrix(index.window)[:, col]
    valid = np.flatnonzero(np.isfinite(raw))
    if not len(valid):
        return None
    first_fix = grid.grid_start + int(valid[0]) * 3_600_000_000_000
    times = calculation_times(index, first_fix, grid.grid_end, hourly=hourly)
    rows = grid.rows(times)
    price = grid.filled(index.window)[rows, col]
    stale = ~np.isfinite(raw[rows])
    return _finish(index, times, price, stale, hourly, asset)


def _realtime(index: IndexDef, ticks: TickStream, fx: AsOf, hourly: bool) -> SeriesLevels | None:
    asset = index.asset
    if not ticks.has(asset):
        return None
    ts, px = ticks.ts[asset], ticks.price[asset]
    ok = np.flatnonzero(np.isfinite(px))
    times = calculation_times(index, int(ts[ok[0]]), int(ts[-1]), hourly=hourly)
    # Last finite tick at or before each calculation time (SPEC §3.8).
    finite_ts, finite_px = ts[ok], px[ok]
    i = np.searchsorted(finite_ts, times, side="right") - 1
    price = finite_px[np.maximum(i, 0)]
    fresh = np.zeros(len(times), dtype=bool)
    j = np.searchsorted(ts, times, side="left")
    inside = j < len(ts)
    fresh[inside] = (ts[j[inside]] == times[inside]) & np.isfinite(px[j[inside]])
    if index.currency == "EUR":
        usd_per_eur = fx.series("EUR", times)
        price = price / usd_per_eur  # e(t) = 1 / usd_per_unit(EUR, t) (SPEC §3.2)
    return _finish(index, times, price, ~fresh, hourly, asset)


def _finish(index: IndexDef, times: np.ndarray, price: np.ndarray, stale: np.ndarray,
            hourly: bool, asset: str) -> SeriesLevels:
    divisor = np.full(len(times), index.divisor_scale)
    indicative = stale.copy()
    if hourly:
        indicative |= ~is_official(index, times)
    keep = np.isfinite(price)  # no level before the first fix (or, for EUR, the first rate)
    kept = times[keep]
    # The index starts at its first level (SPEC §8.6): its constituents row's E.
    return SeriesLevels(index.id, kept, price[keep] / divisor[keep], divisor[keep],
                        indicative[keep], int(kept[0]) if len(kept) else None, asset)
