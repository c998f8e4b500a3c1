"""Plain-Python references of every kernel, written for clarity, not speed.

Each section mirrors one kernel module and cites the SPEC rule it implements. Tests compare the
Numba kernels against these on parametrized edge cases and hypothesis-generated inputs.
"""

from __future__ import annotations

import math

# --- reference prices (SPEC §2), for kernels/fixes.py -------------------------------------
# (section: fixes)
#
# Trades are tuples ``(ts, asset, exchange, quote, price, size)`` with ``ts`` in int ns UTC;
# fx rows ``(ts, currency, usd_per_unit)``; exchange rows ``(exchange, valid_from, valid_to)``
# with None for an open end. Everything is loops, dicts and ``statistics.median``.

FIX_REASONS = ("price", "size", "unknown_exchange", "outside_vetted_period", "before_first_fx")


def fix_grid_naive(start: int, end: int, step: int) -> list[int]:
    """Every multiple of ``step`` (ns since the epoch) with start <= T <= end (SPEC §8.1)."""
    first = -(-start // step) * step
    return list(range(first, end + 1, step))


def _usd_per_unit_naive(fx, quote, ts):
    """Latest fx rate of ``quote`` at or before ``ts``; None before its first row (SPEC §2.2)."""
    if quote == "USD":
        return 1.0
    best_ts, best = None, None
    for fts, cur, rate in fx:
        if cur == quote and fts <= ts and (best_ts is None or fts >= best_ts):
            best_ts, best = fts, rate
    return best


def _reject_reason_naive(trade, fx, exchanges):
    """The first failing reason of SPEC §8.1 in its order, or None for a valid trade."""
    ts, _asset, exchange, quote, price, size = trade
    if not (math.isfinite(price) and price > 0):
        return "price"
    if not (math.isfinite(size) and size > 0):
        return "size"
    if exchanges is not None:
        periods = [(f, t) for ex, f, t in exchanges if ex == exchange]
        if not periods:
            return "unknown_exchange"
        if not any((f is None or f <= ts) and (t is None or ts < t) for f, t in periods):
            return "outside_vetted_period"
    if _usd_per_unit_naive(fx, quote, ts) is None:
        return "before_first_fx"
    return None


def fixes_naive(trades, fx, grid, windows, *, ped=0.05, exchanges=None):
    """Reference fixes of SPEC §2 and §8.1.

    ``grid`` is the list of fix times, ``windows`` maps a window label to its length in ns.
    Returns ``{"rows": [...], "rejected": {reason: n}, "markets_excluded": {(ex, quote): n}}``
    with rows ``(ts, asset, window, price, volume, n_trades, n_markets, n_excluded, stale)``
    sorted by window label, asset, ts. A null price is None, and such a row is stale.
    """
    import statistics

    quotes = {t[3] for t in trades}
    for quote in sorted(quotes):
        if quote != "USD" and not any(cur == quote for _, cur, _ in fx):
            raise ValueError(f"quote {quote} has no fx row")
    rejected = dict.fromkeys(FIX_REASONS, 0)
    kept = []  # (ts, asset, exchange, quote, price_usd, size), input order
    for trade in trades:
        reason = _reject_reason_naive(trade, fx, exchanges)
        if reason is not None:
            rejected[reason] += 1
            continue
        ts, asset, exchange, quote, price, size = trade
        kept.append((ts, asset, exchange, quote, price * _usd_per_unit_naive(fx, quote, ts), size))
    assets = sorted({t[1] for t in trades})
    rows, excluded_count = [], {}
    for label in sorted(windows):
        width = windows[label]
        for asset in assets:
            previous = None
            for fix_time in grid:
                markets = {}  # (exchange, quote) -> [V, PV, N]
                for ts, a, exchange, quote, price_usd, size in kept:
                    if a == asset and fix_time - width <= ts < fix_time:
                        acc = markets.setdefault((exchange, quote), [0.0, 0.0, 0])
                        acc[0] += size
                        acc[1] += price_usd * size
                        acc[2] += 1
                keys = sorted(markets)
                vwap = {k: markets[k][1] / markets[k][0] for k in keys}
                out = []
                if len(keys) >= 3:
                    m = statistics.median([vwap[k] for k in keys])
                    out = [k for k in keys if abs(vwap[k] / m - 1.0) > ped]
                for k in out:
                    excluded_count[k] = excluded_count.get(k, 0) + 1
                use = [k for k in keys if k not in out]
                if not use:
                    rows.append((fix_time, asset, label, previous, 0.0, 0, 0, 0, True))
                    continue
                pv = 0.0
                v = 0.0
                for k in use:
                    pv += markets[k][1]
                    v += markets[k][0]
                previous = pv / v
                rows.append((fix_time, asset, label, previous, v,
                             sum(markets[k][2] for k in use), len(use), len(out), False))
    return {"rows": rows, "rejected": rejected, "markets_excluded": excluded_count}

# --- capping (SPEC §3.4), for kernels/capping.py ------------------------------------------
# (section: capping)
#
# Weights are plain lists of floats; the loop is the SPEC §3.4 rule written out literally.


def cap_weights_naive(weights, cap, tol=1e-12):
    """SPEC §3.4 capping of one vector: ``(weights, passes, capped, feasible)``.

    Normalise to sum 1; if ``N * cap < 1`` (to the same tolerance) every weight is ``1/N`` and the
    cap is infeasible; else repeat {cap every weight above ``cap * (1 + tol)``, share the excess
    among the uncapped pro rata to their weights} until none exceeds.
    """
    n = len(weights)
    if n == 0:
        return [], 0, [], True
    total = sum(float(x) for x in weights)
    w = [float(x) / total for x in weights]
    if n * cap * (1.0 + tol) < 1.0:
        return [1.0 / n] * n, 0, [False] * n, False
    capped = [False] * n
    passes = 0
    while True:
        over = [i for i in range(n) if not capped[i] and w[i] > cap * (1.0 + tol)]
        if not over:
            break
        passes += 1
        excess = sum(w[i] - cap for i in over)
        for i in over:
            w[i] = cap
            capped[i] = True
        free = [i for i in range(n) if not capped[i]]
        if not free:
            break
        rest = sum(w[i] for i in free)
        for i in free:
            w[i] += excess * w[i] / rest if rest > 0 else excess / len(free)
    return w, passes, capped, True


def weighting_factors_naive(market_values, scheme, cap=None):
    """SPEC §3.3 factors of one basket: ``(factors, targets, capped, passes, feasible)``."""
    n = len(market_values)
    total = sum(market_values)
    uncapped = [mv / total for mv in market_values]
    if scheme == "equal":
        target = [1.0 / n] * n
    elif scheme == "sqrt":
        roots = [math.sqrt(mv) for mv in market_values]
        target = [r / sum(roots) for r in roots]
    else:
        target = list(uncapped)
    capped, passes, feasible = [False] * n, 0, True
    if cap is not None:
        target, passes, capped, feasible = cap_weights_naive(target, cap)
    factors = [t / w for t, w in zip(target, uncapped, strict=True)]
    top = max(factors)
    return [f / top for f in factors], target, capped, passes, feasible


# --- index levels (SPEC §3.1, §3.5-§3.8), for kernels/levels.py ----------------------------
# (section: levels)
#
# One index at a time. ``price`` is a list of grid rows (lists of floats, NaN = no fresh fix);
# baskets are objects with ``start_row``, ``link_row``, ``assets`` and ``units``. The last price of
# every asset is kept in a dict while the grid is walked row by row.


def ffill_naive(price):
    """Last finite price at or before each row, per column, NaN before the first (SPEC §3.8)."""
    out = []
    last = {}
    for row in price:
        for a, v in enumerate(row):
            if math.isfinite(v):
                last[a] = float(v)
        out.append([last.get(a, math.nan) for a in range(len(row))])
    return out


def _price_at_naive(price, asset, row):
    """The last finite price of ``asset`` at or before ``row`` (NaN if none)."""
    for r in range(row, -1, -1):
        v = price[r][asset]
        if math.isfinite(v):
            return v
    return math.nan


def _mv_at_naive(price, basket, row):
    """``sum p_i(row) * s_i * f_i`` with carried prices (SPEC §3.1, §3.8)."""
    return sum(_price_at_naive(price, int(a), row) * float(u)
               for a, u in zip(basket.assets, basket.units, strict=True))


def levels_naive(price, calc_rows, baskets, base_value=1000.0, chain=False):
    """Levels of one index: ``(levels, divisors, statuses)``, one entry per calculation row.

    Divisor form (SPEC §3.1, §3.5): first basket ``d = MV(E) / base``; later baskets
    ``d = d_old * MV_new(C) / MV_old(C)``; after an empty basket (suspended, SPEC §8.5)
    ``d = MV_new(C) / last published level``. Chain form (SPEC §3.6): ``IV_t = IV_prev * MC(t) /
    MC(prev)`` over the basket in force at t, ``prev`` the previous published calculation row
    (the first row of an index continues from the base value at E, a resumption from the last
    level at C). Status 0 firm, 1 indicative (a member without a fresh fix), -1 no level.
    """
    if hasattr(price, "tolist"):
        price = price.tolist()
    n_cols = len(price[0]) if price else 0
    levels, divisors, statuses = [], [], []
    last = {}  # asset -> last finite price
    grid_row = 0
    k_cur = -1
    active = False
    d = math.nan
    last_level, last_row = math.nan, -1
    anchor_level, anchor_row = math.nan, -1
    for t in calc_rows:
        t = int(t)
        while grid_row <= t:
            for a in range(n_cols):
                if math.isfinite(price[grid_row][a]):
                    last[a] = price[grid_row][a]
            grid_row += 1
        k = -1
        for i, b in enumerate(baskets):
            if b.start_row <= t:
                k = i
        while k_cur < k:
            k_cur += 1
            b = baskets[k_cur]
            if len(b.assets) == 0:
                active = False
                continue
            if b.link_row < 0 or (not active and math.isnan(last_level)):
                d = _mv_at_naive(price, b, b.start_row) / base_value
                anchor_level, anchor_row = base_value, b.start_row
            elif active:
                c = b.link_row
                d = d * _mv_at_naive(price, b, c) / _mv_at_naive(price, baskets[k_cur - 1], c)
                anchor_level, anchor_row = last_level, last_row
            else:
                c = b.link_row
                d = _mv_at_naive(price, b, c) / last_level
                anchor_level, anchor_row = last_level, c
            active = True
        if not active:
            levels.append(math.nan)
            divisors.append(math.nan)
            statuses.append(-1)
            continue
        b = baskets[k_cur]
        mc = sum(last.get(int(a), math.nan) * float(u)
                 for a, u in zip(b.assets, b.units, strict=True))
        fresh = all(math.isfinite(price[t][int(a)]) for a in b.assets)
        if chain:
            level = anchor_level * mc / _mv_at_naive(price, b, anchor_row)
            divisor = mc / level
        else:
            level = mc / d
            divisor = d
        if not math.isfinite(level):
            levels.append(math.nan)
            divisors.append(math.nan)
            statuses.append(-1)
            continue
        levels.append(level)
        divisors.append(divisor)
        statuses.append(0 if fresh else 1)
        last_level, last_row = level, t
        anchor_level, anchor_row = level, t
    return levels, divisors, statuses


# --- duplicate keys (SPEC §6.2), for kernels/keys.py ----------------------------------------


def first_duplicate_naive(rows: list[tuple]) -> int:
    """Row index of the first key tuple already seen, or -1."""
    seen: set[tuple] = set()
    for i, key in enumerate(rows):
        if key in seen:
            return i
        seen.add(key)
    return -1


# --- hourly price matrix (SPEC §6.1, §8.2), for kernels/grid.py ------------------------------


def price_grid_naive(rows: list[tuple], windows: tuple[str, ...], assets: list[str]):
    """Rows ``(ts_ns, asset, window, price)`` -> (grid_start, {window: {(hour, asset): price}},
    bad, off). A price that is None, not finite or <= 0 counts as no price; rows off the hour
    or of another window are left out."""
    hour = 3_600_000_000_000
    on = [r for r in rows if r[2] in windows and r[0] % hour == 0]
    off = sum(1 for r in rows if r[2] in windows and r[0] % hour != 0)
    if not on:
        return None, {}, 0, off
    start = min(r[0] for r in on)
    cells: dict[str, dict] = {w: {} for w in windows}
    bad = 0
    for ts, asset, window, price in on:
        if asset not in assets:
            off += 1
            continue
        ok = price is not None and math.isfinite(price) and price > 0
        if not ok:
            bad += 1
            continue
        cells[window][((ts - start) // hour, asset)] = price
    return start, cells, bad, off


def patch_grid_naive(cells: dict, rows: list[tuple], window: str, start: int, n_rows: int,
                     assets: list[str]) -> tuple[dict, int, int, int]:
    """Lay rows ``(ts_ns, asset, window, price)`` over ``cells`` ({(hour, asset): price}, NaN
    cells absent): each on-grid row of ``window`` sets its cell, or clears it when the price is
    unusable. Returns (new cells, cells whose value changed, cells empty before among those
    written, empty after)."""
    hour = 3_600_000_000_000
    out = dict(cells)
    changed = was = now = 0
    for ts, asset, w, price in rows:
        r = (ts - start) // hour
        if w != window or ts % hour or not 0 <= r < n_rows or asset not in assets:
            continue
        old = out.get((r, asset))
        was += old is None
        if price is not None and math.isfinite(price) and price > 0:
            out[r, asset] = price
        else:
            out.pop((r, asset), None)
            now += 1
        changed += old != out.get((r, asset))
    return out, changed, was, now


# --- slice hashes (SPEC §7.2), for kernels/hashing.py -----------------------------------------


def group_hash_naive(keys: list[int], when: list[int], is_days: bool, month_lo: int,
                     n_months: int, n_keys: int, values: list[list[int]]) -> list[int]:
    """Per group ``key * n_months + month - month_lo`` the sum modulo 2**64 of the row hashes:
    splitmix64 of the instant, then mixed with each value in turn (rows with key -1 left
    out). Months count from 1970-01 by the calendar (datetime)."""
    import datetime as dt

    mask = (1 << 64) - 1

    def mix(x: int) -> int:  # splitmix64
        x = (x + 0x9E3779B97F4A7C15) & mask
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    out = [0] * (n_keys * n_months)
    for i, k in enumerate(keys):
        if k < 0:
            continue
        t = when[i]
        day = t if is_days else t // 86_400_000_000_000
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        month = (date.year - 1970) * 12 + date.month - 1
        h = mix(t & mask)
        for v in values:
            h = mix(h ^ (v[i] & mask))
        g = k * n_months + month - month_lo
        out[g] = (out[g] + h) & mask
    return out


# --- byte-range digests (SPEC §7.2), for kernels/digest.py -----------------------------------


def range_digest_naive(data: bytes) -> tuple[int, int]:
    """The digest of a byte string as ``range_digest_one_nb`` defines it: 8-byte little-endian
    words (the last one zero-padded) dealt to four multiply-xorshift lanes, whole groups of
    four first, then single words to lane 0, the ragged tail to lane 1; then splitmix64."""
    mask = (1 << 64) - 1
    mults = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
    h = [0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89]

    def lane(k: int, x: int) -> None:
        v = ((h[k] ^ x) * mults[k]) & mask
        h[k] = v ^ (v >> 29)

    def mix(x: int) -> int:  # splitmix64
        x = (x + 0x9E3779B97F4A7C15) & mask
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    full = len(data) // 8
    words = [int.from_bytes(data[8 * j:8 * j + 8], "little") for j in range(full)]
    j = 0
    while j + 4 <= full:
        for k in range(4):
            lane(k, words[j + k])
        j += 4
    while j < full:
        lane(0, words[j])
        j += 1
    if len(data) % 8:
        lane(1, int.from_bytes(data[8 * full:], "little"))
    n = len(data)
    d0 = mix(mix(mix(h[0] ^ n) ^ h[1]) ^ h[2])
    d0 = mix(d0 ^ h[3])
    d1 = mix(mix(mix(h[3] ^ ((n * mults[1]) & mask)) ^ h[2]) ^ h[1])
    d1 = mix(d1 ^ h[0])
    return d0, d1


# --- chunk-by-chunk reading (SPEC §6.2, §2.7), for kernels/grid.py (mark_used_nb,
# span_and_used_nb); kernels/keys.py (mark_keys_nb) is checked with first_duplicate_naive.


def used_codes_naive(codes: list[int], n: int) -> list[bool]:
    """Which of ``n`` dictionary entries some row's code names."""
    used = [False] * n
    for c in codes:
        used[c] = True
    return used


def hourly_span_naive(ts: list[int], windows: list[str], hourly: tuple[str, ...]):
    """(first, last) whole-hour instant among rows of an ``hourly`` window, or None."""
    hour = 3_600_000_000_000
    on = [t for t, w in zip(ts, windows, strict=True) if w in hourly and t % hour == 0]
    return (min(on), max(on)) if on else None


# --- output diff (SPEC §7.1), for daix/engine/diff.py ---------------------------------------
# (section: diff)
#
# Two outputs ``{"levels", "constituents", "reviews"}`` (pyarrow tables of SPEC §6.3) read into
# Python dicts and sets. Values compare with ``==``, except that NaN equals NaN: identical bits
# are no change (SPEC §7.2). Rows are dicts; ``first_changed`` is int ns or None.

_NAN_NAIVE = object()  # stands for every NaN in a row set, so that NaN rows compare equal


def _columns_naive(table) -> dict[str, list]:
    import pyarrow as pa

    out = {}
    for name in table.column_names:
        col = table.column(name)
        out[name] = (col.cast(pa.int64()).to_pylist() if pa.types.is_timestamp(col.type)
                     else col.to_pylist())
    return out


def _same_naive(x, y) -> bool:
    return x == y or (isinstance(x, float) and isinstance(y, float)
                      and math.isnan(x) and math.isnan(y))


def _largest_naive(values: list[float]) -> float:
    """The largest value that is not NaN; NaN when all are."""
    numbers = [v for v in values if not math.isnan(v)]
    return max(numbers) if numbers else math.nan


def _levels_by_index_naive(table) -> dict[str, dict[int, tuple]]:
    """index -> ts -> (level, divisor, status); a repeated (index, ts) keeps its last row."""
    c = _columns_naive(table)
    out: dict[str, dict[int, tuple]] = {}
    for i, t, v, d, s in zip(c["index"], c["ts"], c["level"], c["divisor"], c["status"],
                             strict=True):
        out.setdefault(i, {})[t] = (v, d, s)
    return out


def _row_sets_naive(table) -> dict[str, set]:
    """index -> set of its rows (tuples of every column, NaN as one marker)."""
    c = _columns_naive(table)
    out: dict[str, set] = {}
    for k, iid in enumerate(c["index"]):
        row = tuple(_NAN_NAIVE if isinstance(c[n][k], float) and math.isnan(c[n][k])
                    else c[n][k] for n in table.column_names)
        out.setdefault(iid, set()).add(row)
    return out


def diff_naive(prev: dict, new: dict) -> list[dict]:
    """Per catalogue index present in any table: whether it changed, first changed ts, number
    of changed levels, largest absolute and relative level change, and the number of
    constituent and review rows on one side only (SPEC §7.1).

    A level row moved when (level, divisor, status) differs at a ts or the ts is on one side
    only. The largest changes are over moved ts on both sides with both levels non-null (the
    relative one where the old level is non-zero), NaN ignored unless all are NaN; 0.0 when
    levels moved but none of them on both sides, None when none moved.
    """
    from daix.catalogue import CATALOGUE

    old_l, new_l = _levels_by_index_naive(prev["levels"]), _levels_by_index_naive(new["levels"])
    old_c, new_c = _row_sets_naive(prev["constituents"]), _row_sets_naive(new["constituents"])
    old_r, new_r = _row_sets_naive(prev["reviews"]), _row_sets_naive(new["reviews"])
    present = set(old_l) | set(new_l) | set(old_c) | set(new_c) | set(old_r) | set(new_r)
    out = []
    for iid in [i for i in CATALOGUE if i in present]:
        a, b = old_l.get(iid, {}), new_l.get(iid, {})
        moved = sorted(t for t in set(a) | set(b)
                       if t not in a or t not in b
                       or not all(_same_naive(x, y) for x, y in zip(a[t], b[t], strict=True)))
        both = [t for t in moved if t in a and t in b
                and a[t][0] is not None and b[t][0] is not None]
        abs_ch = [abs(b[t][0] - a[t][0]) for t in both]
        rel_ch = [abs(b[t][0] / a[t][0] - 1) for t in both if a[t][0] != 0]
        n_c = len(old_c.get(iid, set()) ^ new_c.get(iid, set()))
        n_r = len(old_r.get(iid, set()) ^ new_r.get(iid, set()))
        out.append({
            "index": iid,
            "changed": bool(moved or n_c or n_r),
            "first_changed": moved[0] if moved else None,
            "changed_levels": len(moved),
            "max_abs_change": (_largest_naive(abs_ch) if abs_ch
                               else (0.0 if moved else None)),
            "max_rel_change": (_largest_naive(rel_ch) if rel_ch
                               else (0.0 if moved else None)),
            "changed_constituents": n_c,
            "changed_reviews": n_r,
        })
    return out


# --- grouped as-of lookups (SPEC §3.2, §8.4), for kernels/grouping.py -----------------------


def group_order_naive(codes: list[int], keys: list[int]) -> list[int]:
    """Row indices by code, then key, ties in row order."""
    return sorted(range(len(codes)), key=lambda i: (codes[i], keys[i], i))


def asof_rows_naive(keys: list[int], starts: list[int], t: int) -> list[int]:
    """Per group (rows ``starts[c]:starts[c+1]``, keys ascending), the last row with a key at
    or before ``t``, else -1."""
    out = []
    for c in range(len(starts) - 1):
        found = -1
        for j in range(starts[c], starts[c + 1]):
            if keys[j] <= t:
                found = j
        out.append(found)
    return out


# --- packed fresh mask (SPEC §3.8), for kernels/levels.py -----------------------------------
# (section: fresh bits)
#
# ``price`` is a list of grid rows (lists of floats). The forward fill itself is ``ffill_naive``
# of the levels section.


def fresh_bits_naive(price):
    """Per row, the words of the fresh mask: bit ``a % 64`` of word ``a // 64`` is set when
    ``price[t][a]`` is finite (a fresh fix, SPEC §3.8); ``ceil(n_assets / 64)`` words a row,
    bits past the last asset 0."""
    out = []
    for row in price:
        words = [0] * ((len(row) + 63) // 64)
        for a, v in enumerate(row):
            if math.isfinite(v):
                words[a // 64] |= 1 << (a % 64)
        out.append(words)
    return out


def fill_naive(n: int, value) -> list:
    """``[value] * n``: what ``daix.kernels.fill.fill_nb`` writes."""
    return [value for _ in range(n)]


def count_finite_naive(values) -> int:
    """How many of ``values`` (any nesting of lists) are finite numbers: what
    ``daix.kernels.grid.count_finite_nb`` counts."""
    if isinstance(values, list):
        return sum(count_finite_naive(v) for v in values)
    return int(math.isfinite(values))
