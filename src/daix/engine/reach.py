"""Which indices a change of the inputs can reach, and from when (SPEC §7.2).

A price of a window reaches the indices of that window (single asset indices: of that asset
only); supply, universe, deletions and sectors reach the multi-asset indices; volume the
Grayscale ones; a list its family; EUR rates the EUR indices. A change in month m reaches from
the start of m: every review or deletion taking effect before then read only earlier data
(SPEC §4.1: E falls in the review month; prices, supply, volume and deletions are read at or
before E). A change to the first universe snapshot or list on record reaches back to the
start, since earlier reviews use it (SPEC §4.2).
"""

from __future__ import annotations

import math

import numpy as np

from daix.catalogue import IndexDef

NEVER = math.inf
FROM_START = -math.inf


def _month_start(month: str) -> int:
    return int(np.datetime64(month, "M").astype("datetime64[ns]").astype(np.int64))


def _first_months(hashes: dict, table: str, key: str | None = None) -> str | None:
    months = [m for (t, k, m) in hashes if t == table and (key is None or k == key)]
    return min(months) if months else None


def reach(changes: list[tuple[str, str, str]], defs: list[IndexDef], old: dict, new: dict,
          derived_prices: bool) -> dict[str, float]:
    """Per index, the earliest instant (ns) a change can reach; indices not reached are left
    out (SPEC §7.2)."""
    out: dict[str, float] = {}

    def mark(d: IndexDef, t: float) -> None:
        out[d.id] = min(out.get(d.id, NEVER), t)

    for table, key, month in changes:
        t = float(_month_start(month))
        for d in defs:
            multi = d.family != "single"
            if table == "prices":
                asset, window = key.split("|")
                if window == d.window and (multi or d.asset == asset):
                    mark(d, t)
            elif table in ("supply", "deletions") and multi:
                mark(d, t)
            elif table == "volume" and d.family == "grayscale":
                mark(d, t)
            elif table == "universe" and multi:
                first = min(x for x in (_first_months(old, "universe"),
                                        _first_months(new, "universe")) if x)
                mark(d, FROM_START if month <= first else t)
            elif table == "lists" and multi and _list_reaches(key, d):
                first = min(x for x in (_first_months(old, "lists", key),
                                        _first_months(new, "lists", key)) if x)
                mark(d, FROM_START if month <= first else t)
            elif table == "assets" and multi:
                mark(d, FROM_START)
            elif table == "fx" and key == "EUR" and d.currency == "EUR":
                mark(d, t)
            if derived_prices and table in ("trades", "fx", "exchanges"):
                mark(d, t if table != "exchanges" else FROM_START)
    return out


def _list_reaches(name: str, d: IndexDef) -> bool:
    """Whether a named list (SPEC §6.1) is read by index ``d``."""
    if name.startswith("hashkey_"):
        return d.exclusion_list == name
    if name.startswith("21shares_"):
        return d.family == "select"
    if name == "grayscale_access":
        return d.id == "GS_SCP_INVESTIBLE"
    if name.startswith("grayscale_"):
        return d.family == "grayscale" and name.rsplit("_", 1)[-1] in d.grayscale
    return d.family != "single"
