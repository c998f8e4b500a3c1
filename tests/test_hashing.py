"""The slice-hash kernel (SPEC §7.2) against its plain-Python reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from daix.kernels.hashing import group_hash_nb, month_of_day_nb, month_start_day_nb
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import group_hash_naive

DAY = 86_400_000_000_000


def kernel(keys, when, is_days, values, second=None):
    """The kernel and the reference on one table. ``keys`` are codes of one key column, -1
    for a null; with ``second`` = (codes, n, null code) a second key column too, the key of
    the reference being ``key * n + code`` (or none when either is null)."""
    keys = np.asarray(keys, np.int64)
    when = np.asarray(when, np.int64)
    units = when if is_days else when // DAY
    lo = int(month_of_day_nb(int(units.min()))) if len(when) else 0
    hi = int(month_of_day_nb(int(units.max()))) if len(when) else 0
    n_keys = int(keys.max()) + 1 if len(keys) and keys.max() >= 0 else 1
    vals = [np.asarray(v, np.int64) for v in values]
    padded = vals + [when] * (4 - len(vals))
    if second is None:
        k1, n1, null1, composite = keys, 0, -1, keys.tolist()
    else:
        codes, n1, null1 = second
        k1 = np.asarray(codes, np.int8)  # codes of another integer type, as stored
        composite = [k * n1 + c if k >= 0 and c != null1 else -1
                     for k, c in zip(keys.tolist(), codes, strict=True)]
        n_keys *= n1
    got = group_hash_nb(keys.astype(np.int32), -1, k1, null1, n1, when, is_days, lo,
                        hi - lo + 1, n_keys, *padded, len(vals))
    want = group_hash_naive(composite, when.tolist(), is_days, lo, hi - lo + 1, n_keys,
                            [v.tolist() for v in vals])
    return got.tolist(), want


@pytest.mark.parametrize("month", [-25, -1, 0, 1, 11, 12, 349, 600, 1000])
def test_month_start_by_the_calendar(month):
    first = dt.date(1970 + month // 12, month % 12 + 1, 1)
    assert month_start_day_nb(month) == (first - dt.date(1970, 1, 1)).days
    assert month_of_day_nb(month_start_day_nb(month)) == month
    assert month_of_day_nb(month_start_day_nb(month) - 1) == month - 1


def test_rows_crossing_months_in_and_out_of_order():
    # Instants around the end of January and February 2024 (leap day), back and forth: each
    # row lands in its own month whatever the order.
    base = (dt.date(2024, 1, 31) - dt.date(1970, 1, 1)).days * DAY
    when = [base + h * 3_600_000_000_000 for h in (0, 23, 24, 5, 24 * 30, 24 * 29 + 23, -1)]
    keys = [0, 1, 0, -1, 1, 0, 1]
    values = [[7, 8, 9, 10, 11, 12, 13], [1, 1, 2, 2, 3, 3, 4]]
    got, want = kernel(keys, when, False, values)
    assert got == want and sum(1 for x in got if x) >= 4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(-400, 400), st.integers(-5, 5)),
                min_size=1, max_size=60),
       st.booleans(), st.integers(0, 3))
def test_matches_reference(rows, is_days, n_values):
    keys = [k for k, _, _ in rows]
    if max(keys) < 0:
        keys[0] = 0
    when = [d if is_days else d * DAY + (v % 7) * 3_600_000_000_000 for _, d, v in rows]
    when = [w + 19_000 if is_days else w + 19_000 * DAY for w in when]  # around 2022
    extremes = (-(2**63), 2**63 - 1, 0, -1)  # whole int64 range
    values = [[v * 1_000_003 * (j + 1) if v % 3 else extremes[(v + j) % 4]
               for _, _, v in rows] for j in range(n_values)]
    got, want = kernel(keys, when, is_days, values)
    assert got == want


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(0, 2), st.integers(-60, 60)),
                min_size=1, max_size=50), st.integers(0, 2))
def test_two_key_columns_match_reference(rows, n_values):
    """Two key columns (asset and window in prices): the group is ``k0 * n1 + k1``; a row
    with a null in either (code -1, or the second column's null code 2) is in no group."""
    keys = [k for k, _, _ in rows]
    if max(keys) < 0:
        keys[0] = 0
    codes = [c for _, c, _ in rows]
    when = [(19_000 + d) * DAY for _, _, d in rows]
    values = [[d * 7 + j for _, _, d in rows] for j in range(n_values)]
    got, want = kernel(keys, when, False, values, second=(codes, 2, 2))
    assert got == want
