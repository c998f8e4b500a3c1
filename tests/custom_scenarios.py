"""Small Custom Digital Asset data sets and readers of backfill results, shared by the hand-worked
edge tests of the Custom family and of intra-review deletions (SPEC §3-§8)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

TS = pa.timestamp("ns", tz="UTC")
HOUR = 3_600 * 10**9
ADD_KEEP_DELETE = ("add", "keep", "delete")


# --- small data sets -----------------------------------------------------------------------
def ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 10**9


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def hour_grid(start: str, end: str) -> np.ndarray:
    return np.arange(ns(start), ns(end) + 1, HOUR, dtype=np.int64)


def step(t: np.ndarray, base: float, *changes: tuple[str, float]) -> np.ndarray:
    """A price series: ``base``, then each ``(from, value)`` in turn."""
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


def prices_table(t: np.ndarray, series: dict[str, np.ndarray]) -> pa.Table:
    ts, asset, price = [], [], []
    for a, p in series.items():
        ok = np.isfinite(p)
        ts.append(t[ok])
        price.append(p[ok])
        asset += [a] * int(ok.sum())
    return pa.table({"ts": pa.array(np.concatenate(ts), TS), "asset": asset,
                     "window": ["15m"] * len(asset), "price": np.concatenate(price)})


def supply_table(rows: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table({"ts": pa.array([at(r[0]) for r in rows], TS),
                     "asset": [r[1] for r in rows],
                     "circulating_supply": [float(r[2]) for r in rows]})


def universe_table(month: str, assets: list[str]) -> pa.Table:
    n = len(assets)
    return pa.table({"review": [month] * n, "asset": assets, "total_cap": [True] * n,
                     "class": ["benchmark"] * n, "liquidity_pass": [True] * n,
                     "new_entrant": [False] * n})


def assets_table(sectors: dict[str, str]) -> pa.Table:
    names = list(sectors)
    return pa.table({"asset": names, "name": [a.lower() for a in names],
                     "sector": [sectors[a] for a in names],
                     "subsector": [sectors[a] + "10" for a in names]})


def lists_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.table({"review": [r[0] for r in rows], "list": [r[1] for r in rows],
                     "asset": [r[2] for r in rows]})


def deletions_table(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"ts": pa.array([at(r[0]) for r in rows], TS),
                     "asset": [r[1] for r in rows]})


# --- reading results -----------------------------------------------------------------------
def index_levels(result, index: str) -> pa.Table:
    return result.levels.filter(pc.equal(result.levels.column("index"), index))


def level_at(result, index: str, when: str) -> tuple[float, float, str]:
    lv = index_levels(result, index)
    ts = lv.column("ts").cast("int64").to_numpy()
    found = np.flatnonzero(ts == ns(when))
    assert len(found) == 1, f"no single level of {index} at {when}"
    i = int(found[0])
    return (lv.column("level")[i].as_py(), lv.column("divisor")[i].as_py(),
            lv.column("status")[i].as_py())


def level_times(result, index: str) -> list[dt.datetime]:
    return index_levels(result, index).column("ts").to_pylist()


def basket_rows(result, index: str, effective: str) -> list[dict]:
    return [r for r in result.constituents.to_pylist()
            if r["index"] == index and r["effective"] == at(effective)]


def basket(result, index: str, effective: str) -> dict[str, dict]:
    rows = basket_rows(result, index, effective)
    out = {r["asset"]: r for r in rows}
    assert len(out) == len(rows), "one row per member"
    return out


def effectives(result, index: str) -> list[dt.datetime]:
    return sorted({r["effective"] for r in result.constituents.to_pylist()
                   if r["index"] == index})


def rows_of(result, index: str, month: str | None = None) -> list[dict]:
    return [r for r in result.reviews.to_pylist()
            if r["index"] == index and (month is None or r["review"] == month)]


def actions(result, index: str, month: str, kinds=ADD_KEEP_DELETE) -> list[tuple[str, str]]:
    """(asset, action) rows of the given kinds, sorted (duplicates kept)."""
    return sorted((r["asset"], r["action"]) for r in rows_of(result, index, month)
                  if r["action"] in kinds)


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12)
