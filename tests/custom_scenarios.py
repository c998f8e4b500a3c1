"""Custom Digital Asset data sets and readers of backfill results (beside :mod:`scenarios`), for
the hand-worked edge tests of the Custom family and of intra-review deletions (SPEC §3-§8)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scenarios import (
    ns,
)

ADD_KEEP_DELETE = ("add", "keep", "delete")


# --- small data sets -----------------------------------------------------------------------


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


def rows_of(result, index: str, month: str | None = None) -> list[dict]:
    return [r for r in result.reviews.to_pylist()
            if r["index"] == index and (month is None or r["review"] == month)]


def actions(result, index: str, month: str, kinds=ADD_KEEP_DELETE) -> list[tuple[str, str]]:
    """(asset, action) rows of the given kinds, sorted (duplicates kept)."""
    return sorted((r["asset"], r["action"]) for r in rows_of(result, index, month)
                  if r["action"] in kinds)


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12)
