"""Weighting factors (SPEC §3.3) and iterative capping (SPEC §3.4).

Thin wrappers over ``daix.kernels.capping``: they validate and convert, the kernels compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daix.errors import ConfigError

#: Scheme name -> kernel code (SPEC §3.3); the codes match ``daix.kernels.capping``.
SCHEME_CODES = {"market_cap": 0, "equal": 1, "sqrt": 2}

#: Relative tolerance of the cap test, ``w > c * (1 + CAP_TOL)`` (SPEC §3.4).
CAP_TOL = 1e-12


@dataclass(frozen=True)
class CapResult:
    """Capped weights of one or many segments (SPEC §3.4).

    ``weights`` and ``capped`` (bool, the members set to the cap) have one entry per input
    weight; ``passes`` (int64) and ``feasible`` (bool, False when ``N*c < 1``) one per segment.
    """

    weights: np.ndarray
    passes: np.ndarray
    capped: np.ndarray
    feasible: np.ndarray


@dataclass(frozen=True)
class WeightResult:
    """Weighting factors of one or many baskets (SPEC §3.3).

    Per member: ``factors`` (largest of each basket exactly 1), ``weights`` (the target weights
    after capping) and ``capped``; per basket (scalars for a single basket): ``passes`` and
    ``feasible``.
    """

    factors: np.ndarray
    weights: np.ndarray
    capped: np.ndarray
    passes: np.ndarray | int
    feasible: np.ndarray | bool


def _values(values: object, what: str, *, positive: bool) -> np.ndarray:
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be numbers: {exc}") from None
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        rule = "finite and positive" if positive else "finite and non-negative"
        shown = ", ".join(f"[{i}]={arr[i]!r}" for i in idx)
        raise ConfigError(f"{what} must be {rule}; bad entries: {shown}")
    return arr


def _offsets(offsets: object, n: int, n_seg: int | None = None) -> np.ndarray:
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    if off.ndim != 1 or off.size < 1 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
        raise ConfigError(
            f"offsets must be non-decreasing, start at 0 and end at {n} (the number of values)"
        )
    if n_seg is not None and off.size - 1 != n_seg:
        raise ConfigError(f"offsets describe {off.size - 1} segments, expected {n_seg}")
    return off


def _caps(caps: object, n_seg: int) -> np.ndarray:
    """Caps per segment; ``None``/NaN/inf mean no cap, others must lie in (0, 1]."""
    if caps is None:
        return np.full(n_seg, np.inf)
    arr = np.array(
        [np.nan if c is None else c for c in np.atleast_1d(np.asarray(caps, dtype=object))],
        dtype=np.float64,
    )
    if arr.size == 1 and n_seg != 1:
        arr = np.full(n_seg, arr[0])
    if arr.size != n_seg:
        raise ConfigError(f"got {arr.size} caps for {n_seg} segments")
    arr[np.isnan(arr)] = np.inf
    bad = (arr <= 0) | (np.isfinite(arr) & (arr > 1))
    if bad.any():
        raise ConfigError(f"a weight cap must lie in (0, 1]; got {arr[bad][0]!r}")
    return arr


def cap_weight_segments(weights: object, offsets: object, caps: object) -> CapResult:
    """Cap many weight vectors in one call (SPEC §3.4).

    Segment ``s`` is ``weights[offsets[s]:offsets[s+1]]`` with cap ``caps[s]`` (``None`` or NaN:
    no cap; a single number applies to every segment). Each segment is first normalised to sum
    1. Negative, NaN or all-zero weights raise ``ConfigError``.
    """
    from daix.kernels.capping import cap_weights_segments_nb

    w = _values(weights, "weights", positive=False)
    off = _offsets(offsets, w.size)
    n_seg = off.size - 1
    cap = _caps(caps, n_seg)
    sums = np.add.reduceat(w, off[:-1]) if w.size else np.zeros(n_seg)
    empty = off[1:] == off[:-1]
    sums[empty] = 1.0
    if np.any(sums <= 0):
        s = int(np.flatnonzero(sums <= 0)[0])
        raise ConfigError(f"weights of segment {s} are all zero; they cannot be normalised")
    out, passes, capped, feasible = cap_weights_segments_nb(w, off, cap, CAP_TOL)
    return CapResult(weights=out, passes=passes, capped=capped, feasible=feasible)


def cap_weights(weights: object, cap: float) -> np.ndarray:
    """Weights capped at ``cap`` by the iterative rule of SPEC §3.4 (normalised to sum 1 first).

    When ``N * cap < 1`` the cap cannot hold and every weight is ``1/N`` (use
    :func:`cap_weight_segments` to see the ``feasible`` flag and the passes).
    """
    w = _values(weights, "weights", positive=False)
    return cap_weight_segments(w, np.array([0, w.size]), [cap]).weights


def weighting_factors_segments(
    market_values: object,
    offsets: object,
    schemes: Sequence[str] | Sequence[int] | np.ndarray,
    caps: object = None,
) -> WeightResult:
    """Weighting factors of many baskets in one call (SPEC §3.3, capping §3.4).

    ``schemes`` holds per basket a name (``market_cap``, ``equal``, ``sqrt``) or its code;
    ``caps`` per basket a cap or ``None``/NaN for none. Market values must be finite and > 0.
    """
    from daix.kernels.capping import weighting_factors_segments_nb

    mv = _values(market_values, "market values", positive=True)
    off = _offsets(offsets, mv.size)
    n_seg = off.size - 1
    codes = _scheme_codes(schemes, n_seg)
    cap = _caps(caps, n_seg)
    factors, targets, capped, passes, feasible = weighting_factors_segments_nb(
        mv, off, codes, cap, CAP_TOL
    )
    return WeightResult(
        factors=factors, weights=targets, capped=capped, passes=passes, feasible=feasible
    )


def _scheme_codes(schemes: object, n_seg: int) -> np.ndarray:
    """Kernel codes of the schemes per basket (names or codes; one applies to every basket)."""
    codes = np.empty(n_seg, dtype=np.int64)
    scheme_list = list(np.atleast_1d(np.asarray(schemes, dtype=object)))
    if len(scheme_list) == 1 and n_seg != 1:
        scheme_list = scheme_list * n_seg
    if len(scheme_list) != n_seg:
        raise ConfigError(f"got {len(scheme_list)} weighting schemes for {n_seg} baskets")
    valid = set(SCHEME_CODES.values())
    for s, scheme in enumerate(scheme_list):
        code = SCHEME_CODES.get(scheme) if isinstance(scheme, str) else scheme
        if code is None or not isinstance(code, (int, np.integer)) or int(code) not in valid:
            raise ConfigError(
                f"unknown weighting scheme {scheme!r}; expected one of {', '.join(SCHEME_CODES)}"
            )
        codes[s] = int(code)
    return codes


def weighting_factors(
    market_values: object, scheme: str, cap: float | None = None
) -> WeightResult:
    """Weighting factors of one basket (SPEC §3.3): ``f_i = target_i / W_i``, largest exactly 1.

    ``scheme`` is ``market_cap``, ``equal`` or ``sqrt``; with ``cap`` the target weights are
    capped per SPEC §3.4. ``passes`` and ``feasible`` of the result are scalars.
    """
    from daix.kernels.capping import weighting_factors_segments_nb

    mv = _values(market_values, "market values", positive=True)
    factors, targets, capped, passes, feasible = weighting_factors_segments_nb(
        mv, np.array([0, mv.size], dtype=np.int64), _scheme_codes([scheme], 1), _caps([cap], 1),
        CAP_TOL
    )
    return WeightResult(
        factors=factors,
        weights=targets,
        capped=capped,
        passes=int(passes[0]),
        feasible=bool(feasible[0]),
    )
