"""Small input tables and readers of backfill results for the hand-worked edge tests of the
multi-asset families (SPEC §3-§8): instants from ISO text, hourly price paths, and the
``prices``, ``supply``, ``lists`` and ``deletions`` tables of SPEC §6.1; for the recalc tests
(SPEC §7), a prices file in many row groups and a price correction of one day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TS = pa.timestamp("ns", tz="UTC")
HOUR = 3_600 * 10**9
M = 1e6
#: Rows per row group of :func:`write_groups`.
ROWS_PER_GROUP = 20_000


# --- instants and price paths ----------------------------------------------------------------
def ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 10**9


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def hour_grid(start: str, end: str) -> np.ndarray:
    return np.arange(ns(start), ns(end) + 1, HOUR, dtype=np.int64)


def step(t: np.ndarray, base: float, *changes: tuple[str, float]) -> np.ndarray:
    """A price held at ``base`` that moves to each new value from the instant given."""
    out = np.full(len(t), float(base))
    for when, value in changes:
        out[t >= ns(when)] = value
    return out


def hole(t: np.ndarray, series: np.ndarray, first: str, last: str | None = None) -> None:
    """No fix from ``first`` to ``last`` inclusive (one hour when ``last`` is None)."""
    series[(t >= ns(first)) & (t <= ns(last or first))] = np.nan


def spike(t: np.ndarray, series: np.ndarray, when: str, value: float) -> None:
    """A different fix at exactly one hour."""
    series[t == ns(when)] = value


# --- input tables (SPEC §6.1) ------------------------------------------------------------------
def prices_table(t: np.ndarray, series: dict[str, np.ndarray], window: str = "15m") -> pa.Table:
    """Fixes of one window, one row per finite value (NaN: no fix at that hour)."""
    ts, asset, price = [], [], []
    for a, p in series.items():
        ok = np.isfinite(p)
        ts.append(t[ok])
        price.append(p[ok])
        asset += [a] * int(ok.sum())
    return pa.table({"ts": pa.array(np.concatenate(ts), TS), "asset": asset,
                     "window": [window] * len(asset), "price": np.concatenate(price)})


def supply_table(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table({"ts": pa.array([at(r[0]) for r in rows], TS),
                     "asset": [r[1] for r in rows],
                     "circulating_supply": [float(r[2]) for r in rows]})


def lists_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.table({"review": [r[0] for r in rows], "list": [r[1] for r in rows],
                     "asset": [r[2] for r in rows]})


def deletions_table(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"ts": pa.array([at(r[0]) for r in rows], TS),
                     "asset": [r[1] for r in rows]})


def universe_table(rows: list[tuple[str, str, str, bool, bool]]) -> pa.Table:
    """(review month, asset, class, liquidity_pass, new_entrant); all Total Cap members."""
    return pa.table({"review": [r[0] for r in rows], "asset": [r[1] for r in rows],
                     "total_cap": [True] * len(rows), "class": [r[2] for r in rows],
                     "liquidity_pass": [r[3] for r in rows], "new_entrant": [r[4] for r in rows]})


def assets_table(codes: dict[str, tuple[str, str]]) -> pa.Table:
    """The assets table from each asset's (sector, subsector) codes."""
    return pa.table({"asset": list(codes), "name": list(codes),
                     "sector": [c[0] for c in codes.values()],
                     "subsector": [c[1] for c in codes.values()]})


def between(d: dt.date, first: str, last: str) -> bool:
    """Whether ``d`` lies in the ISO dates ``first..last`` inclusive."""
    return day(first) <= d <= day(last)


def volume_table(assets: list[str], first: str, last: str, rule) -> pa.Table:
    """Daily USD volume: ``rule(asset, date)`` gives the value, or None for no row."""
    dates, names, usd = [], [], []
    d, stop = day(first), day(last)
    while d <= stop:
        for a in assets:
            v = rule(a, d)
            if v is not None:
                dates.append(d)
                names.append(a)
                usd.append(float(v))
        d += dt.timedelta(days=1)
    return pa.table({"date": pa.array(dates, pa.date32()), "asset": names, "volume_usd": usd})


# --- reading results -----------------------------------------------------------------------------
def levels_of(result, index: str) -> dict[int, tuple[float, float, str]]:
    """ns -> (level, divisor, status) of one index."""
    lv = result.levels.filter(pc.equal(result.levels.column("index"), index))
    ts = lv.column("ts").cast("int64").to_pylist()
    return dict(zip(ts, zip(lv.column("level").to_pylist(), lv.column("divisor").to_pylist(),
                            lv.column("status").to_pylist(), strict=True), strict=True))


def basket_rows(result, index: str, effective: str) -> list[dict]:
    return [r for r in result.constituents.to_pylist()
            if r["index"] == index and r["effective"] == at(effective)]


def basket(result, index: str, effective: str) -> dict[str, dict]:
    """The members of the basket effective at ``effective``, by asset (one row each)."""
    rows = basket_rows(result, index, effective)
    out = {r["asset"]: r for r in rows}
    assert len(out) == len(rows), "one row per member"
    return out


def effectives(result, index: str) -> list[dt.datetime]:
    return sorted({r["effective"] for r in result.constituents.to_pylist()
                   if r["index"] == index})


def actions_by_asset(result, index: str, month: str) -> dict[str, list[str]]:
    """add / keep / delete rows of one review by asset (SPEC §6.3), detail rows left out."""
    out: dict[str, list[str]] = {}
    for r in result.reviews.to_pylist():
        if (r["index"] == index and r["review"] == month
                and r["action"] in ("add", "keep", "delete")):
            out.setdefault(r["asset"], []).append(r["action"])
    return out


# --- prices files in row groups and corrections of them (recalc, SPEC §7.2) --------------------


def write_groups(table: pa.Table, path: Path) -> None:
    """``table`` written in row groups of ``ROWS_PER_GROUP`` rows, with fixed writer settings
    (so unchanged row groups come out byte for byte the same)."""
    with pq.ParquetWriter(path, table.schema, compression="zstd",
                          use_dictionary=["ts", "asset", "window"]) as w:
        for at_row in range(0, table.num_rows, ROWS_PER_GROUP):
            w.write_table(table.slice(at_row, ROWS_PER_GROUP))


def scale_rows(prices: pa.Table, asset: str, window: str, day_ns: int, factor: float,
               value: float | None = None) -> tuple[pa.Table, int]:
    """``prices`` with one day (from ``day_ns``) of ``asset``'s ``window`` fixes times
    ``factor`` (or set to ``value``), and how many rows that was."""
    ts = prices.column("ts").cast(pa.int64()).to_numpy()
    hit = ((ts >= day_ns) & (ts < day_ns + 24 * HOUR)
           & (prices.column("asset").cast(pa.string()).to_numpy(zero_copy_only=False) == asset)
           & (prices.column("window").cast(pa.string()).to_numpy(zero_copy_only=False)
              == window))
    price = prices.column("price").to_numpy(zero_copy_only=False).copy()
    price[hit] = price[hit] * factor if value is None else value
    return prices.set_column(prices.schema.get_field_index("price"), "price",
                             pa.array(price)), int(hit.sum())
