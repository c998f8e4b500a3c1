"""Content hashes of input tables per key and month (SPEC §7.2), one pass over the rows.

Each row's values (as 64-bit patterns) are mixed into a row hash with splitmix64; the row hashes
of a group ``(key, month)`` are added modulo 2**64, so a group's hash does not depend on row
order but changes with any value, any added or removed row.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit

NS_PER_DAY = 86_400_000_000_000


@jit
def splitmix64_nb(x):
    """The splitmix64 finaliser: a fast, well-mixed 64-bit hash of a 64-bit value."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(
        0xFFFFFFFFFFFFFFFF)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(
        0xFFFFFFFFFFFFFFFF)
    return x ^ (x >> np.uint64(31))


@jit
def month_of_day_nb(days):
    """Months since 1970-01 of a day number (days since 1970-01-01), proleptic Gregorian."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return (y - 1970) * 12 + (m - 1)


@jit
def month_start_day_nb(month):
    """Day number (days since 1970-01-01) of the first day of a month since 1970-01."""
    y = 1970 + month // 12
    m = month % 12 + 1
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@jit
def group_hash_nb(k0, null0, k1, null1, n1, when, when_is_days, month_lo, n_months, n_keys,
                  v0, v1, v2, v3, n_vals):
    """Sum of row hashes per group ``key * n_months + (month(when) - month_lo)``.

    The key is ``k0`` or, when ``n1 > 0``, ``k0 * n1 + k1``: small integer codes of any integer
    type (dictionary indices as stored, no copy); a row whose code is ``null0`` / ``null1`` is
    skipped. ``when`` is ns since the epoch, or days when ``when_is_days``; ``v0..v3`` are
    int64 views of the row values (only the first ``n_vals`` are read; pass any array for the
    others). The month of a row is worked out only when it leaves the previous row's month
    (rows mostly come in time order)."""
    out = np.zeros(n_keys * n_months, dtype=np.uint64)
    unit = 1 if when_is_days else NS_PER_DAY
    lo = np.int64(1)
    hi = np.int64(0)  # an empty month: the first row computes its own
    m = 0
    for i in range(k0.shape[0]):
        k = np.int64(k0[i])
        if k == null0:
            continue
        if n1 > 0:
            c = np.int64(k1[i])
            if c == null1:
                continue
            k = k * n1 + c
        t = when[i]
        if t < lo or t >= hi:
            day = t if when_is_days else (t // NS_PER_DAY)
            month = month_of_day_nb(day)
            m = month - month_lo
            lo = month_start_day_nb(month) * unit
            hi = month_start_day_nb(month + 1) * unit
        g = k * n_months + m
        h = splitmix64_nb(np.uint64(t))
        if n_vals > 0:
            h = splitmix64_nb(h ^ np.uint64(v0[i]))
        if n_vals > 1:
            h = splitmix64_nb(h ^ np.uint64(v1[i]))
        if n_vals > 2:
            h = splitmix64_nb(h ^ np.uint64(v2[i]))
        if n_vals > 3:
            h = splitmix64_nb(h ^ np.uint64(v3[i]))
        out[g] += h
    return out
