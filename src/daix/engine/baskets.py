"""Baskets and review records shared by every family's review driver (SPEC §3.3, §3.5, §6.3).

A :class:`Basket` is one composition of an index, in force from its effective instant E (and, on
an hourly calendar, from every calculation time after C, SPEC §3.5). Its units ``s_i * f_i``
drive the levels kernel; its market values and weights, at review prices (a deletion: at C),
are what ``constituents.parquet`` shows (SPEC §8.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from daix.catalogue import MARKET_CAP, IndexDef


@dataclass
class Basket:
    """One composition of an index."""

    index: str
    month: str  # YYYY-MM of the review, reset or deletion
    kind: str  # review | reset | deletion
    effective: int  # E, ns UTC
    close: int | None  # C, ns UTC (None for the first basket)
    members: list[str]
    supply: dict[str, float]
    factor: dict[str, float]
    market_value: dict[str, float]
    weight: dict[str, float]
    rank: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def units(self, asset: str) -> float:
        return self.supply[asset] * self.factor[asset]


class ReviewRow(NamedTuple):
    """A row of ``reviews.parquet`` (SPEC §6.3); a tuple, as tens of thousands are made per
    backfill."""

    index: str
    review: str
    asset: str
    action: str
    reason: str


def weigh(index: IndexDef, mv: dict[str, float], scheme: str | None = None,
          cap: float | None = None) -> tuple[dict[str, float], dict[str, float], list[str], str]:
    """Weighting factors and target weights for members with market values ``mv`` (SPEC §3.3).

    Returns (factors, weights, capped members, a note on capping for the review report).
    """
    from daix.engine.weighting import weighting_factors

    members = sorted(mv)
    if not members:
        return {}, {}, [], ""
    scheme = scheme or index.weighting
    cap = index.cap if cap is None else cap
    values = np.array([mv[a] for a in members], dtype=np.float64)
    res = weighting_factors(values, scheme, cap=cap)
    factors = dict(zip(members, res.factors.tolist(), strict=True))
    weights = dict(zip(members, res.weights.tolist(), strict=True))
    capped = [a for a, c in zip(members, res.capped.tolist(), strict=True) if c]
    note = ""
    if cap is not None:
        if not res.feasible:
            note = (f"cap {cap:.0%} infeasible with {len(members)} constituents: equal weights "
                    f"(SPEC §3.4)")
        elif capped:
            note = f"capped at {cap:.0%} in {int(res.passes)} pass(es) (SPEC §3.4)"
    return factors, weights, capped, note


def weights_of(units: dict[str, float], prices: dict[str, float]) -> dict[str, float]:
    """Weights ``p*s*f / sum`` of a basket at given prices."""
    values = {a: prices[a] * units[a] for a in units}
    total = sum(values.values())
    return {a: v / total for a, v in values.items()} if total > 0 else dict.fromkeys(units, 0.0)


def rank_by_value(values: dict[str, float]) -> dict[str, int]:
    """1-based rank by value descending, ties by asset id (SPEC §8.6 rank of members)."""
    order = sorted(values, key=lambda a: (-values[a], a))
    return {a: i + 1 for i, a in enumerate(order)}


def is_market_cap(index: IndexDef) -> bool:
    return index.weighting == MARKET_CAP and index.cap is None
