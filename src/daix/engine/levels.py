"""Index levels over an hourly UTC grid (SPEC §3.1, §3.5-§3.8).

:func:`compute_levels` validates baskets and calculation rows, packs them into flat offset
arrays and runs ``daix.kernels.levels.levels_into_nb`` over every index at once. It reads the
forward-filled prices and the fresh mask ``isfinite(price)`` (SPEC §3.8) packed 64 assets to a
word, which :func:`forward_fill_fresh` makes in the same pass as the forward fill.

Readings of the SPEC made here:

- A basket applies to every calculation row at or after its ``start_row`` until the next
  basket's start (SPEC §3.5: "the new basket applies to every calculation time after C", so a
  later basket has ``start_row = link_row + 1``, ``link_row`` being the row of C).
- SPEC §8.5, "the index is suspended (no levels) until its next review and resumes from its last
  published level": a basket with no members gives NaN levels with status -1 while in force;
  the next non-empty basket links with ``d = MV_new(C) / L_last``, ``L_last`` being the last
  level published before the suspension (in the chain-linked form: ``IV = L_last * MC(t) /
  MC(C)``). An index whose first non-empty basket follows only empty ones starts at the base
  value at that basket's start.
- Chain-linked form (SPEC §3.6): the first calculation row continues from the base value at E
  (so it is the base value when E is a calculation row); at a basket change the chain passes
  through C (``IV(C)`` under the old basket, then ``MC_new(t) / MC_new(C)``), which is the
  previous calculation row on the official and hourly calendars. Both forms agree to 1e-12.
- A level that cannot be computed because a member has never had a price is NaN with status -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daix import memory
from daix.errors import ConfigError

#: Status codes of a level (SPEC §3.8).
FIRM = 0
INDICATIVE = 1
NO_LEVEL = -1


@dataclass(frozen=True)
class Basket:
    """One basket of an index: in force from grid row ``start_row`` (E, or C + 1).

    ``link_row`` is the grid row of C (SPEC §3.5), -1 for the first basket of an index.
    ``assets`` are price-matrix columns and ``units`` the matching ``s_i * f_i``.
    """

    start_row: int
    link_row: int
    assets: np.ndarray
    units: np.ndarray


@dataclass(frozen=True)
class LevelResult:
    """Levels of one index, one entry per calculation row (``rows``)."""

    rows: np.ndarray  # int64 grid rows
    level: np.ndarray  # float64, NaN where there is no level
    divisor: np.ndarray  # float64, the divisor in force (chain form: MC_c / IV_t)
    status: np.ndarray  # int8: 0 firm, 1 indicative, -1 no level


def forward_fill(price: np.ndarray) -> np.ndarray:
    """Last finite price at or before each row, per column (NaN before the first)."""
    from daix.kernels.levels import ffill_into_nb

    price = _price_matrix(price, "price")
    # Allocated here (from Arrow's pool, pages reused), not in the kernel.
    return ffill_into_nb(price, memory.empty(price.shape, np.float64))


def fresh_shape(price_shape: tuple[int, ...]) -> tuple[int, int]:
    """Shape of the packed fresh mask of a ``(rows, assets)`` price matrix: 64 assets a word."""
    n_rows, n_cols = price_shape
    return n_rows, (n_cols + 63) // 64


def fresh_bits(price: np.ndarray) -> np.ndarray:
    """The fresh mask ``isfinite(price)`` packed 64 columns to a uint64 word (SPEC §3.8):
    ``bits[t, a // 64]`` has bit ``a % 64`` set when asset ``a`` has a fresh fix at row ``t``;
    bits past the last column are 0."""
    from daix.kernels.levels import fresh_bits_into_nb

    price = _price_matrix(price, "price")
    fresh = memory.empty(fresh_shape(price.shape), np.uint64)
    fresh_bits_into_nb(price, fresh)
    return fresh


def forward_fill_fresh(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(forward_fill(price), fresh_bits(price))`` in one pass over the prices."""
    from daix.kernels.levels import ffill_fresh_into_nb

    price = _price_matrix(price, "price")
    filled = memory.empty(price.shape, np.float64)
    fresh = memory.empty(fresh_shape(price.shape), np.uint64)
    ffill_fresh_into_nb(price, filled, fresh)
    return filled, fresh


def _price_matrix(price: object, what: str) -> np.ndarray:
    arr = np.asarray(price)
    if arr.ndim != 2:
        raise ConfigError(f"{what} must be a 2-d matrix (grid rows x assets), got shape "
                          f"{arr.shape}")
    if arr.dtype != np.float64 or not arr.flags.c_contiguous:
        try:
            arr = np.ascontiguousarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what} must hold numbers: {exc}") from None
    return arr


def _fresh_matrix(fresh: object, price_shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(fresh)
    if arr.dtype != np.uint64 or arr.shape != fresh_shape(price_shape):
        raise ConfigError(f"fresh must be the packed fresh mask of the prices (uint64, shape "
                          f"{fresh_shape(price_shape)}), got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _int_vector(values: object, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{what} must be integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_rows(calc_rows: np.ndarray, calc_offsets: np.ndarray, n_rows: int) -> None:
    """Calculation rows inside the grid and strictly increasing within each index."""
    from daix.kernels.levels import check_rows_nb

    code, i = check_rows_nb(calc_rows, calc_offsets, n_rows)
    if code == 0:
        return
    j = int(np.searchsorted(calc_offsets, i, side="right") - 1)
    if code == 1:
        raise ConfigError(f"index {j}: calculation rows must lie in [0, {n_rows}); got "
                          f"{int(calc_rows[i])}")
    k = i - int(calc_offsets[j])
    raise ConfigError(f"index {j}: calculation rows must be strictly increasing; rows "
                      f"{k} and {k + 1} are {int(calc_rows[i])}, {int(calc_rows[i + 1])}")


def _check_baskets(b_start: np.ndarray, b_link: np.ndarray, basket_offsets: np.ndarray,
                   n_rows: int) -> None:
    """Baskets in time order, each first with link -1, each later one linked to a C inside the
    previous basket's time (SPEC §3.5)."""
    n = b_start.size
    if n == 0:
        return
    first = np.zeros(n, dtype=bool)
    first[basket_offsets[:-1][np.diff(basket_offsets) > 0]] = True
    prev = np.r_[-1, b_start[:-1]]
    bad = (b_start < 0) | (b_start >= n_rows)
    bad |= first & (b_link != -1)
    bad |= ~first & ((b_start <= prev) | (b_link < prev) | (b_link >= b_start))
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    j = int(np.searchsorted(basket_offsets, i, side="right") - 1)
    start, link = int(b_start[i]), int(b_link[i])
    where = f"index {j}, basket {i - int(basket_offsets[j])}"
    if not 0 <= start < n_rows:
        raise ConfigError(f"{where}: start_row {start} is outside the grid [0, {n_rows})")
    if first[i]:
        raise ConfigError(f"{where}: the first basket must have link_row -1, got {link}")
    if start <= prev[i]:
        raise ConfigError(f"{where}: baskets must be in time order; start_row {start} is not "
                          f"after the previous basket's {int(prev[i])}")
    raise ConfigError(f"{where}: link_row (C) {link} must lie in [previous start_row "
                      f"{int(prev[i])}, start_row {start})")


def _members(flat: list[Basket], n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Member offsets, asset columns and units of all baskets, validated."""
    from daix.kernels.levels import check_members_nb

    try:
        sizes = np.array([len(b.assets) for b in flat], dtype=np.int64)
        n_units = np.array([len(b.units) for b in flat], dtype=np.int64)
    except TypeError:
        raise ConfigError("basket assets and units must be 1-d arrays") from None
    if np.any(sizes != n_units):
        k = int(np.flatnonzero(sizes != n_units)[0])
        raise ConfigError(f"basket {k}: {sizes[k]} assets but {n_units[k]} units")
    member_offsets = np.zeros(len(flat) + 1, dtype=np.int64)
    member_offsets[1:] = np.cumsum(sizes)
    if not member_offsets[-1]:
        return member_offsets, np.zeros(0, np.int64), np.zeros(0)
    member_asset = np.concatenate([b.assets for b in flat])
    member_units = np.concatenate([b.units for b in flat])
    if member_asset.shape != (member_offsets[-1],) or member_units.shape != member_asset.shape:
        raise ConfigError("basket assets and units must be 1-d arrays")
    if not np.issubdtype(member_asset.dtype, np.integer):
        raise ConfigError(f"basket assets must be integer price columns, got {member_asset.dtype}")
    member_asset = member_asset.astype(np.int64, copy=False)
    try:
        member_units = member_units.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise ConfigError("basket units (s*f) must be numbers") from None
    if np.any(~np.isfinite(member_units) | (member_units < 0)):
        raise ConfigError("basket units (s*f) must be finite and non-negative")
    code, k, a = check_members_nb(member_offsets, member_asset, n_cols)
    if code == 1:
        raise ConfigError(f"basket {k}: asset column {a} is not a price column in [0, {n_cols})")
    if code == 2:
        raise ConfigError(f"basket {k} holds asset column {a} twice")
    return member_offsets, member_asset, member_units


def compute_levels(
    price: np.ndarray,
    calc_rows_per_index: Sequence[np.ndarray],
    baskets_per_index: Sequence[Sequence[Basket]],
    base_values: Sequence[float] | np.ndarray,
    chain: Sequence[bool] | np.ndarray,
    filled: np.ndarray | None = None,
    fresh: np.ndarray | None = None,
) -> list[LevelResult]:
    """Levels of many indices over one price matrix (SPEC §3.1, §3.5-§3.8).

    ``price[T, A]`` holds the fix of the indices' window per grid hour and asset (NaN = no fresh
    fix). Index ``j`` is calculated at the sorted grid rows ``calc_rows_per_index[j]`` with the
    baskets ``baskets_per_index[j]`` (time order), base value ``base_values[j]`` and the
    chain-linked form of SPEC §3.6 when ``chain[j]``. ``filled`` (the forward-filled prices)
    and ``fresh`` (the packed fresh mask, :func:`fresh_bits`) may be passed when already
    computed, as :func:`forward_fill_fresh` makes both; what is not given is computed here.
    """
    from daix.kernels.levels import levels_into_nb

    price = _price_matrix(price, "price")
    n_rows, n_cols = price.shape
    if filled is None and fresh is None:
        filled, fresh = forward_fill_fresh(price)
    if filled is None:
        filled = forward_fill(price)
    else:
        filled = _price_matrix(filled, "filled")
        if filled.shape != price.shape:
            raise ConfigError(f"filled has shape {filled.shape}, price {price.shape}")
    fresh = fresh_bits(price) if fresh is None else _fresh_matrix(fresh, price.shape)
    n_idx = len(calc_rows_per_index)
    if len(baskets_per_index) != n_idx:
        raise ConfigError(f"got {len(baskets_per_index)} basket lists for {n_idx} indices")
    base = np.ascontiguousarray(base_values, dtype=np.float64).reshape(-1)
    if base.size != n_idx:
        raise ConfigError(f"got {base.size} base values for {n_idx} indices")
    if np.any(~np.isfinite(base) | (base <= 0)):
        raise ConfigError(f"base values must be finite and positive, got {base.tolist()[:5]}")
    chain_arr = np.ascontiguousarray(chain, dtype=np.bool_).reshape(-1)
    if chain_arr.size != n_idx:
        raise ConfigError(f"got {chain_arr.size} chain flags for {n_idx} indices")

    rows_list = [_int_vector(r, f"index {j}: calculation rows")
                 for j, r in enumerate(calc_rows_per_index)]
    calc_offsets = np.zeros(n_idx + 1, dtype=np.int64)
    calc_offsets[1:] = np.cumsum([r.size for r in rows_list])
    calc_rows = np.concatenate(rows_list) if n_idx else np.zeros(0, np.int64)
    _check_rows(calc_rows, calc_offsets, n_rows)

    flat = [b for baskets in baskets_per_index for b in baskets]
    basket_offsets = np.zeros(n_idx + 1, dtype=np.int64)
    basket_offsets[1:] = np.cumsum([len(b) for b in baskets_per_index])
    b_start = np.array([b.start_row for b in flat], dtype=np.int64)
    b_link = np.array([b.link_row for b in flat], dtype=np.int64)
    _check_baskets(b_start, b_link, basket_offsets, n_rows)
    member_offsets, member_asset, member_units = _members(flat, n_cols)

    n_calc = calc_rows.size
    level = np.empty(n_calc, dtype=np.float64)
    divisor = np.empty(n_calc, dtype=np.float64)
    status = np.empty(n_calc, dtype=np.int8)
    levels_into_nb(level, divisor, status, filled, fresh, calc_offsets, calc_rows,
                   basket_offsets, b_start, b_link, member_offsets, member_asset, member_units,
                   base, chain_arr)
    return [
        LevelResult(
            rows=rows_list[j],
            level=level[calc_offsets[j]:calc_offsets[j + 1]],
            divisor=divisor[calc_offsets[j]:calc_offsets[j + 1]],
            status=status[calc_offsets[j]:calc_offsets[j + 1]],
        )
        for j in range(n_idx)
    ]
