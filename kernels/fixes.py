"""Reference price kernels (SPEC §2, §8.1): one pass accumulating bucket sums, then windows.

The trades are read once. Every trade is validated (SPEC §2.3, §8.1 reason order), converted to
USD with the as-of FX rate of its quote (SPEC §2.2) and added to the partial sums ``V``, ``PV``
and ``N`` of its series (one asset on one market, a market being an (exchange, quote) pair) in
its time bucket, ``acc[bucket, series, V/PV/N]``: 15 minutes for the hourly fixes, 15 seconds
for the real-time stream.

Each cell is summed in input order by exactly one thread (threads own disjoint time ranges of
whole buckets when the trades are in time order, disjoint sets of assets otherwise), so the sums
do not depend on the number of threads nor on how the input is split into batches, bit for bit.
The module also holds the dictionary encoder of the trades' text columns.

Every window is then a run of consecutive buckets (SPEC §1.3: a window of length w ending at T
holds ``T - w <= ts < T``): the fix at the k-th grid time uses buckets ``first + k * step`` to
``first + k * step + width - 1``.
"""

from __future__ import annotations

import numpy as np
from daix.kernels.options import jit, jit_parallel
from numba import prange

#: Slots of a ``counts`` row: trades used, then rejections in SPEC §8.1 order, then valid
#: trades outside the buckets of the run.
USED = 0
REJ_PRICE = 1
REJ_SIZE = 2
REJ_UNKNOWN_EXCHANGE = 3
REJ_OUTSIDE_VETTED = 4
REJ_BEFORE_FX = 5
OUTSIDE_RANGE = 6
N_COUNTS = 7

#: Slots of the last axis of the accumulator: sum of sizes, of USD price * size, trade count.
ACC_V = 0
ACC_PV = 1
ACC_N = 2


@jit
def fx_asof_nb(fx_ts, lo, hi, t):
    """Index of the last fx row in ``[lo, hi)`` with ``fx_ts <= t``, or ``lo - 1`` (SPEC §2.2)."""
    a = lo
    b = hi
    while a < b:
        mid = (a + b) >> 1
        if fx_ts[mid] <= t:
            a = mid + 1
        else:
            b = mid
    return a - 1


@jit
def is_sorted_nb(ts):
    """Whether ``ts`` is non-decreasing."""
    for i in range(1, ts.shape[0]):
        if ts[i] < ts[i - 1]:
            return False
    return True


@jit_parallel
def mark_series_nb(ts, asset_idx, exchange_idx, quote_idx, n_exchanges, n_quotes, seen):
    """Mark the (asset, exchange, quote) codes of a batch that some trade uses.

    ``seen[part, (asset * n_exchanges + exchange) * n_quotes + quote]`` is set by the part of
    the rows that holds the trade (parts are contiguous row ranges). Returns whether ``ts`` is
    non-decreasing.
    """
    n = ts.shape[0]
    parts = seen.shape[0]
    ordered = np.ones(parts, dtype=np.bool_)
    for j in prange(parts):
        lo = n * j // parts
        hi = n * (j + 1) // parts
        sorted_part = True
        for i in range(lo, hi):
            seen[j, (asset_idx[i] * n_exchanges + exchange_idx[i]) * n_quotes + quote_idx[i]] = 1
            if i > lo and ts[i] < ts[i - 1]:
                sorted_part = False
        if lo > 0 and hi > lo and ts[lo] < ts[lo - 1]:
            sorted_part = False
        ordered[j] = sorted_part
    return ordered.all()


@jit_parallel
def accumulate_trades_nb(
    ts,
    ts_sorted,
    asset_idx,
    exchange_idx,
    quote_idx,
    price,
    size,
    series_of,
    n_exchanges,
    n_quotes,
    fx_lo,
    fx_hi,
    fx_ts,
    fx_rate,
    fx_at,
    check_exchanges,
    ex_lo,
    ex_hi,
    period_from,
    period_to,
    base_ns,
    bucket_ns,
    owner_from,
    owner_of_asset,
    acc,
    counts,
    asset_seen,
    series_used,
):
    """Validate, convert and accumulate one batch of trades (SPEC §2.2-§2.3, §8.1).

    Inputs (read only), indexed by the batch's own dictionary codes: ``ts`` int64 ns
    (``ts_sorted``: non-decreasing); ``price``, ``size`` float64; ``series_of[(asset *
    n_exchanges + exchange) * n_quotes + quote]`` the series; ``fx_lo/fx_hi[quote]`` the
    quote's rows in ``fx_ts/fx_rate``, sorted by (currency, ts), each segment followed by a
    sentinel row at the end of time (USD: one row of rate 1 at the start of time);
    ``fx_at[quote, bucket]`` its last row at or before the bucket's start (``fx_lo - 1``:
    none); ``ex_lo/ex_hi[exchange]`` its vetted periods ``[period_from, period_to)``
    (``ex_lo < 0``: unknown exchange; a never-matching period ends the arrays).

    Partition ``j`` owns whole buckets, so each cell is summed in input order by one thread:
    for sorted ``ts`` the trades with ``owner_from[j] <= ts < owner_from[j + 1]`` (bounds on
    bucket edges, the last partition open-ended), otherwise the trades of the assets with
    ``owner_of_asset == j``. State (updated): ``acc[bucket, series, V/PV/N]``,
    ``counts[partition, slot]``, ``asset_seen[partition, asset]`` (every trade read) and
    ``series_used[partition, series]`` (every trade used).
    """
    n = ts.shape[0]
    n_buckets = acc.shape[0]
    end_ns = base_ns + n_buckets * bucket_ns
    parts = owner_from.shape[0] - 1
    for j in prange(parts):
        t_from = owner_from[j]
        t_to = owner_from[j + 1]
        open_end = j == parts - 1
        first = 0
        last = n
        if ts_sorted:
            first = np.searchsorted(ts, t_from)
            if not open_end:
                last = np.searchsorted(ts, t_to)
        b_cur = np.int64(-1)
        b_lo = np.int64(0)
        b_hi = np.int64(0)
        # local counters: a counter in an array would chain every iteration through memory
        used = 0
        bad_price = 0
        bad_size = 0
        unknown_exchange = 0
        outside_vetted = 0
        before_fx = 0
        outside = 0
        for i in range(first, last):
            t = ts[i]
            a = asset_idx[i]
            if ts_sorted:
                if t < t_from or (t >= t_to and not open_end):
                    continue
            elif owner_of_asset[a] != j:
                continue
            asset_seen[j, a] = True
            p = price[i]
            if not (p > 0.0 and p < np.inf):
                bad_price += 1
                continue
            s = size[i]
            if not (s > 0.0 and s < np.inf):
                bad_size += 1
                continue
            e = exchange_idx[i]
            if check_exchanges:
                k = ex_lo[e]
                if k < 0:
                    unknown_exchange += 1
                    continue
                if not (period_from[k] <= t and t < period_to[k]):
                    vetted = False
                    for r in range(k + 1, ex_hi[e]):
                        if period_from[r] <= t and t < period_to[r]:
                            vetted = True
                            break
                    if not vetted:
                        outside_vetted += 1
                        continue
            q = quote_idx[i]
            if t < base_ns or t >= end_ns:
                # not in any window of the run; still checked for the report (SPEC §8.1)
                if fx_asof_nb(fx_ts, fx_lo[q], fx_hi[q], t) < fx_lo[q]:
                    before_fx += 1
                else:
                    outside += 1
                continue
            if not (t >= b_lo and t < b_hi):
                b_cur = (t - base_ns) // bucket_ns
                b_lo = base_ns + b_cur * bucket_ns
                b_hi = b_lo + bucket_ns
                if ts_sorted and b_cur + 1 < n_buckets:
                    # trades in time order reach the next bucket next: read its row now, in
                    # order, so that its cells are in cache rather than missed one by one
                    warm = 0.0
                    for x in range(0, acc.shape[1], 2):
                        warm += acc[b_cur + 1, x, ACC_N]
                    if warm < 0.0:
                        outside += 1  # never: counts are >= 0; keeps the reads
            c = fx_at[q, b_cur]
            while fx_ts[c + 1] <= t:  # the sentinel row ends the walk
                c += 1
            if c < fx_lo[q]:
                before_fx += 1
                continue
            sid = series_of[(a * n_exchanges + e) * n_quotes + q]
            acc[b_cur, sid, ACC_V] += s
            acc[b_cur, sid, ACC_PV] += (p * fx_rate[c]) * s
            acc[b_cur, sid, ACC_N] += 1.0
            series_used[j, sid] = True
            used += 1
        counts[j, USED] += used
        counts[j, REJ_PRICE] += bad_price
        counts[j, REJ_SIZE] += bad_size
        counts[j, REJ_UNKNOWN_EXCHANGE] += unknown_exchange
        counts[j, REJ_OUTSIDE_VETTED] += outside_vetted
        counts[j, REJ_BEFORE_FX] += before_fx
        counts[j, OUTSIDE_RANGE] += outside


@jit(inline="always")
def screen_window_nb(acc, b0, width, series, v, pv, nt, keep, ordered, ped):
    """Screen one window of one asset (SPEC §2.4) into the scratch arrays.

    Per market of ``series``: ``V``, ``PV``, ``N`` summed over buckets ``b0 .. b0+width-1``
    (``keep``: has trades). With 3 or more markets trading, markets with
    ``|vwap / median - 1| > ped`` lose ``keep``. Returns ``(active, dropped)``.
    """
    m = series.shape[0]
    active = 0
    for j in range(m):
        sid = series[j]
        sv = 0.0
        spv = 0.0
        sn = 0.0
        for b in range(b0, b0 + width):
            sv += acc[b, sid, ACC_V]
            spv += acc[b, sid, ACC_PV]
            sn += acc[b, sid, ACC_N]
        v[j] = sv
        pv[j] = spv
        nt[j] = sn
        keep[j] = sn > 0.0
        if sn > 0.0:
            x = spv / sv
            r = active  # insertion sort of the active vwaps, for the median
            while r > 0 and ordered[r - 1] > x:
                ordered[r] = ordered[r - 1]
                r -= 1
            ordered[r] = x
            active += 1
    dropped = 0
    if active >= 3:
        half = active // 2
        if active % 2 == 1:
            med = ordered[half]
        else:
            med = (ordered[half - 1] + ordered[half]) / 2.0
        for j in range(m):
            if keep[j] and abs((pv[j] / v[j]) / med - 1.0) > ped:
                keep[j] = False
                dropped += 1
    return active, dropped


@jit(inline="always")
def _fresh_fixes_nb(acc, asset_ptr, asset_series, k, b0, width, ped, v, pv, nt, ordered, keep,
                    price, volume, n_trades, n_markets, n_excluded, stale, excluded):
    """The fixes at tick ``k`` of every asset with a kept market (others left stale)."""
    for a in range(asset_ptr.shape[0] - 1):
        series = asset_series[asset_ptr[a] : asset_ptr[a + 1]]
        active, dropped = screen_window_nb(acc, b0, width, series, v, pv, nt, keep, ordered, ped)
        for j in range(series.shape[0]):
            if nt[j] > 0.0 and not keep[j]:
                excluded[series[j]] += 1
        if active - dropped == 0:
            continue
        tot_v = 0.0
        tot_pv = 0.0
        tot_n = 0.0
        for j in range(series.shape[0]):
            if keep[j]:
                tot_v += v[j]
                tot_pv += pv[j]
                tot_n += nt[j]
        price[a, k] = tot_pv / tot_v
        volume[a, k] = tot_v
        n_trades[a, k] = np.int64(tot_n)
        n_markets[a, k] = active - dropped
        n_excluded[a, k] = dropped
        stale[a, k] = False


@jit_parallel
def window_fixes_nb(acc, asset_ptr, asset_series, n_ticks, first, step, width, ped):
    """Fixes of one window kind for every asset and grid time (SPEC §2.4, §2.6, §8.1).

    ``asset_series[asset_ptr[a]:asset_ptr[a + 1]]`` are the series (markets) of asset ``a`` in
    a fixed order; tick ``k`` uses buckets ``first + k * step`` .. ``+ width - 1``. The price is
    ``sum PV / sum V`` over the markets kept by the screen. An empty window (or every market
    excluded) carries the previous fix of the run, stale, with volume and counts 0; before any
    fix the price is NaN (null) and the row stale.

    Returns ``price, volume, n_trades, n_markets, n_excluded, stale`` as ``(assets, ticks)``
    arrays and ``excluded[chunk, series]``: how often the screen dropped that market, per
    chunk of ticks (sum over chunks).
    """
    n_assets = asset_ptr.shape[0] - 1
    n_series = acc.shape[1]
    price = np.full((n_assets, n_ticks), np.nan)
    volume = np.zeros((n_assets, n_ticks))
    n_trades = np.zeros((n_assets, n_ticks), dtype=np.int64)
    n_markets = np.zeros((n_assets, n_ticks), dtype=np.int64)
    n_excluded = np.zeros((n_assets, n_ticks), dtype=np.int64)
    stale = np.ones((n_assets, n_ticks), dtype=np.bool_)
    widest = 0
    for a in range(n_assets):
        widest = max(widest, asset_ptr[a + 1] - asset_ptr[a])
    # fresh fixes: every tick independently (a tick reads whole bucket rows), in chunks of
    # ticks that count the screened-out markets on their own
    n_chunks = min(n_ticks, 64)
    excluded = np.zeros((n_chunks, n_series), dtype=np.int64)
    for chunk in prange(n_chunks):
        v = np.empty(widest)
        pv = np.empty(widest)
        nt = np.empty(widest)
        ordered = np.empty(widest)
        keep = np.empty(widest, dtype=np.bool_)
        for k in range(n_ticks * chunk // n_chunks, n_ticks * (chunk + 1) // n_chunks):
            _fresh_fixes_nb(acc, asset_ptr, asset_series, k, first + k * step, width, ped, v,
                            pv, nt, ordered, keep, price, volume, n_trades, n_markets,
                            n_excluded, stale, excluded[chunk])
    # empty windows carry the previous fix of the same asset (SPEC §2.6)
    for a in prange(n_assets):
        previous = np.nan
        for k in range(n_ticks):
            if stale[a, k]:
                price[a, k] = previous
            else:
                previous = price[a, k]
    return price, volume, n_trades, n_markets, n_excluded, stale, excluded


@jit
def _same_bytes_nb(data, lo_a, lo_b, length):
    for k in range(length):
        if data[lo_a + k] != data[lo_b + k]:
            return False
    return True


@jit
def dictionary_codes_nb(offsets, data):
    """Dictionary codes of a string column given as Arrow ``offsets`` and ``data`` bytes.

    Returns ``(codes, first)``: ``codes[i]`` numbers the distinct strings in order of first
    appearance and ``first[c]`` is the row where string ``c`` first appears (the order of
    ``pyarrow.compute.dictionary_encode``). Strings of up to 8 bytes are compared as one
    64-bit word, longer ones by a hash and then byte by byte.
    """
    n = offsets.shape[0] - 1
    codes = np.empty(n, dtype=np.int32)
    bits = 8
    slot_code = np.full(1 << bits, -1, dtype=np.int64)
    first = np.empty(64, dtype=np.int64)
    keys = np.empty(64, dtype=np.uint64)
    lengths = np.empty(64, dtype=np.int64)
    n_codes = 0
    for i in range(n):
        lo = np.int64(offsets[i])
        length = np.int64(offsets[i + 1]) - lo
        key = np.uint64(0)
        if length <= 8:
            for k in range(length):
                key |= np.uint64(data[lo + k]) << np.uint64(8 * k)
        else:
            key = np.uint64(14695981039346656037)
            for k in range(length):
                key = (key ^ np.uint64(data[lo + k])) * np.uint64(1099511628211)
        h = ((key ^ np.uint64(length)) * np.uint64(11400714819323198485)) >> np.uint64(64 - bits)
        slot = np.int64(h)
        mask = (1 << bits) - 1
        while True:
            c = slot_code[slot]
            if c < 0:
                c = n_codes
                if c == first.shape[0]:
                    first = np.concatenate((first, np.empty(c, dtype=np.int64)))
                    keys = np.concatenate((keys, np.empty(c, dtype=np.uint64)))
                    lengths = np.concatenate((lengths, np.empty(c, dtype=np.int64)))
                first[c] = i
                keys[c] = key
                lengths[c] = length
                slot_code[slot] = c
                n_codes += 1
                if 2 * n_codes > (1 << bits):  # keep the table at most half full
                    bits += 1
                    mask = (1 << bits) - 1
                    slot_code = np.full(1 << bits, -1, dtype=np.int64)
                    for r in range(n_codes):
                        hr = ((keys[r] ^ np.uint64(lengths[r]))
                              * np.uint64(11400714819323198485)) >> np.uint64(64 - bits)
                        sr = np.int64(hr)
                        while slot_code[sr] >= 0:
                            sr = (sr + 1) & mask
                        slot_code[sr] = r
                break
            if keys[c] == key and lengths[c] == length and (
                    length <= 8 or _same_bytes_nb(data, lo, np.int64(offsets[first[c]]), length)):
                break
            slot = (slot + 1) & mask
        codes[i] = c
    return codes, first[:n_codes]
