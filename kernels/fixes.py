"""Reference price kernels (SPEC §2, §8.1): bucket sums of the trades, then windows.

Every trade is validated (SPEC §2.3, §8.1 reason order), converted to USD with the as-of FX rate
of its quote (SPEC §2.2) and added to the partial sums ``V``, ``PV`` and ``N`` of its series (one
asset on one market, a market being an (exchange, quote) pair) in its time bucket,
``acc[series, bucket, V/PV/N]``: 15 minutes for the hourly fixes, 15 seconds for the real-time
stream. A series' buckets are contiguous, so that the sums of a time range, and of a window,
are read in order.

Trades in time order are added in one pass by threads owning disjoint time ranges of whole
buckets. Trades in any other order are first sorted by runs of buckets with a stable counting
sort (a histogram, then a scatter of (size, USD price * size, cell) records, each part of the
rows with its own write positions), so that the sums of one run are in cache while its trades
are added; threads then own disjoint runs of buckets. Either way each cell is summed in input
order by exactly one thread, so the sums do not depend on the number of threads nor on how the
input is split into batches, bit for bit. The module also holds the dictionary encoder of the
trades' text columns.

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

#: Hashing of the text encoder: a word of ones (masks), and 2**64 / golden ratio.
ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)
GOLDEN = np.uint64(11400714819323198485)


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


@jit(inline="always")
def _reason_nb(t, p, s, e, check_exchanges, ex_lo, ex_hi, period_from, period_to):
    """``USED`` for a trade passing the checks of SPEC §2.3 in the order of SPEC §8.1 up to the
    vetted period, else the ``counts`` slot of the first one it fails."""
    if not (p > 0.0 and p < np.inf):
        return REJ_PRICE
    if not (s > 0.0 and s < np.inf):
        return REJ_SIZE
    if check_exchanges:
        k = ex_lo[e]
        if k < 0:
            return REJ_UNKNOWN_EXCHANGE
        if not (period_from[k] <= t and t < period_to[k]):
            for r in range(k + 1, ex_hi[e]):
                if period_from[r] <= t and t < period_to[r]:
                    return USED
            return REJ_OUTSIDE_VETTED
    return USED


@jit(inline="always")
def _outside_reason_nb(t, q, fx_lo, fx_hi, fx_ts):
    """Slot of a valid trade outside the buckets: still checked against the fx rows."""
    if fx_asof_nb(fx_ts, fx_lo[q], fx_hi[q], t) < fx_lo[q]:
        return REJ_BEFORE_FX
    return OUTSIDE_RANGE


@jit(inline="always")
def _bucket_nb(t, base_ns, bucket_ns, inv_bucket):
    """``(t - base_ns) // bucket_ns`` for ``t >= base_ns``, without an integer division."""
    d = t - base_ns
    b = np.int64(d * inv_bucket)
    lo = b * bucket_ns
    if d < lo:
        b -= 1
    elif d >= lo + bucket_ns:
        b += 1
    return b


@jit(inline="always")
def _fx_row_nb(fx_ts, fx_at, q, b, t):
    """The quote's last fx row at or before ``t`` (in bucket ``b``), from the bucket's row."""
    c = fx_at[q, b]
    while fx_ts[c + 1] <= t:  # the sentinel row ends the walk
        c += 1
    return c


@jit_parallel
def accumulate_sorted_nb(
    ts, asset_idx, exchange_idx, quote_idx, price, size, series_of, n_exchanges, n_quotes,
    fx_lo, fx_hi, fx_ts, fx_rate, fx_at, fx_flat, check_exchanges, ex_lo, ex_hi, period_from,
    period_to, base_ns, bucket_ns, owner_from, acc, counts, asset_seen, series_used,
):
    """Validate, convert and accumulate one batch of trades in time order (SPEC §2.2-§2.3).

    Inputs (read only), indexed by the batch's own dictionary codes: ``ts`` int64 ns,
    non-decreasing; ``price``, ``size`` float64; ``series_of[(asset * n_exchanges + exchange)
    * n_quotes + quote]`` the series; ``fx_lo/fx_hi[quote]`` the quote's rows in
    ``fx_ts/fx_rate``, sorted by (currency, ts), each segment followed by a sentinel row at the
    end of time (USD: one row of rate 1 at the start of time); ``fx_at[quote, bucket]`` its
    last row at or before the bucket's start (``fx_lo - 1``: none) and ``fx_flat[quote,
    bucket]`` that row's rate when it holds for the whole bucket (else NaN);
    ``ex_lo/ex_hi[exchange]`` its vetted periods ``[period_from, period_to)`` (``ex_lo < 0``:
    unknown exchange; the arrays end with a never-matching period).

    Partition ``j`` owns the trades with ``owner_from[j] <= ts < owner_from[j + 1]`` (bounds on
    bucket edges, the last partition open-ended), so each cell is summed in input order by one
    thread. State (updated): ``acc[series, bucket, V/PV/N]`` (the series in use),
    ``counts[partition, slot]``, ``asset_seen[partition, asset]`` (every trade read) and
    ``series_used[partition, series]`` (every trade used).
    """
    n_buckets = acc.shape[1]
    end_ns = base_ns + n_buckets * bucket_ns
    inv_bucket = 1.0 / bucket_ns
    parts = owner_from.shape[0] - 1
    for j in prange(parts):
        first = np.searchsorted(ts, owner_from[j])
        last = ts.shape[0] if j == parts - 1 else np.searchsorted(ts, owner_from[j + 1])
        b = np.int64(-1)
        b_lo = np.int64(0)
        b_hi = np.int64(0)
        # a scalar for the common case: a counter in an array would chain every iteration
        # through memory
        used = 0
        tally = np.zeros(N_COUNTS, dtype=np.int64)
        # the part's rows as slices: indexing the whole arrays from inside the parallel loop
        # is slower (their bounds and data pointers are reloaded after every store)
        ts_j = ts[first:last]
        asset_j = asset_idx[first:last]
        exchange_j = exchange_idx[first:last]
        quote_j = quote_idx[first:last]
        price_j = price[first:last]
        size_j = size[first:last]
        seen_j = asset_seen[j]
        used_j = series_used[j]
        for i in range(last - first):
            t = ts_j[i]
            a = asset_j[i]
            seen_j[a] = True
            p = price_j[i]
            s = size_j[i]
            e = exchange_j[i]
            q = quote_j[i]
            k = ex_lo[e]  # -1 (unknown) reads the never-matching last period
            ok = ((p > 0.0) & (p < np.inf) & (s > 0.0) & (s < np.inf) & (t >= base_ns)
                  & (t < end_ns) & ((not check_exchanges)
                                    | ((period_from[k] <= t) & (t < period_to[k]))))
            if not ok:  # every rule in the order of SPEC §8.1
                reason = _reason_nb(t, p, s, e, check_exchanges, ex_lo, ex_hi, period_from,
                                    period_to)
                if reason == USED and (t < base_ns or t >= end_ns):
                    reason = _outside_reason_nb(t, q, fx_lo, fx_hi, fx_ts)
                if reason != USED:  # (else vetted by a later period of its exchange)
                    tally[reason] += 1
                    continue
            if not (t >= b_lo and t < b_hi):
                b = _bucket_nb(t, base_ns, bucket_ns, inv_bucket)
                b_lo = base_ns + b * bucket_ns
                b_hi = b_lo + bucket_ns
                if b + 1 < n_buckets:
                    # trades in time order reach the next bucket next: read its cells now,
                    # series after series, so that they are in cache rather than missed one
                    # by one (a fifth faster)
                    warm = 0.0
                    for x in range(acc.shape[0]):
                        warm += acc[x, b + 1, ACC_N]
                    if warm < 0.0:
                        tally[OUTSIDE_RANGE] += 1  # never: counts are >= 0; keeps the reads
            r = fx_flat[q, b]
            if not (r == r):
                c = _fx_row_nb(fx_ts, fx_at, q, b, t)
                if c < fx_lo[q]:
                    tally[REJ_BEFORE_FX] += 1
                    continue
                r = fx_rate[c]
            sid = series_of[(a * n_exchanges + e) * n_quotes + q]
            acc[sid, b, ACC_V] += s
            acc[sid, b, ACC_PV] += (p * r) * s
            acc[sid, b, ACC_N] += 1.0
            used_j[sid] = True
            used += 1
        tally[USED] += used
        for x in range(N_COUNTS):
            counts[j, x] += tally[x]


@jit_parallel
def bucket_counts_nb(ts, base_ns, bucket_ns, n_buckets, shift, bounds, hist):
    """Rows per sort key of each part of a batch (the histogram of a counting sort).

    The key of a row is its time bucket ``>> shift`` (a run of ``2**shift`` buckets). Part
    ``j`` is rows ``bounds[j]:bounds[j + 1]``; ``hist[j, key]`` gets its rows with that key
    and ``hist[j, -1]`` the rows outside every bucket (updated).
    """
    end_ns = base_ns + n_buckets * bucket_ns
    inv_bucket = 1.0 / bucket_ns
    last = hist.shape[1] - 1
    for j in prange(bounds.shape[0] - 1):
        for i in range(bounds[j], bounds[j + 1]):
            t = ts[i]
            if t >= base_ns and t < end_ns:
                hist[j, _bucket_nb(t, base_ns, bucket_ns, inv_bucket) >> shift] += 1
            else:
                hist[j, last] += 1


@jit_parallel
def scatter_trades_nb(
    ts, asset_idx, exchange_idx, quote_idx, price, size, series_of, n_exchanges, n_quotes,
    fx_lo, fx_hi, fx_ts, fx_rate, fx_at, fx_flat, check_exchanges, ex_lo, ex_hi, period_from,
    period_to, base_ns, bucket_ns, n_buckets, shift, bounds, cursor, rec, rec_cell, counts,
    asset_seen, series_used,
):
    """Validate and convert a batch in any order and sort its trades by time bucket.

    The checks and the arguments up to ``bucket_ns`` are those of
    :func:`accumulate_sorted_nb`, with ``fx_flat[quote, bucket]`` the fx rate that holds for
    the whole bucket (NaN when a row starts inside it or none is before it). Part ``j`` (rows
    ``bounds[j]:bounds[j + 1]``) writes each trade it uses to slot ``cursor[j, key]`` (then
    advanced), key = bucket ``>> shift``, of ``rec`` (size, USD price * size) and ``rec_cell``
    (its cell of the bucket sums: ``series * n_buckets + bucket``). With the cursors at the
    key-major prefix sums of :func:`bucket_counts_nb`, this is a stable counting sort: every
    cell keeps the input order of its trades. Updates ``counts``, ``asset_seen`` and
    ``series_used`` per part as :func:`accumulate_sorted_nb` does.
    """
    end_ns = base_ns + n_buckets * bucket_ns
    inv_bucket = 1.0 / bucket_ns
    for j in prange(bounds.shape[0] - 1):
        used = 0
        tally = np.zeros(N_COUNTS, dtype=np.int64)
        for i in range(bounds[j], bounds[j + 1]):
            t = ts[i]
            a = asset_idx[i]
            asset_seen[j, a] = True
            p = price[i]
            s = size[i]
            e = exchange_idx[i]
            q = quote_idx[i]
            k = ex_lo[e]  # -1 (unknown) reads the never-matching last period
            # the common case in one test, without a branch per rule
            ok = ((p > 0.0) & (p < np.inf) & (s > 0.0) & (s < np.inf) & (t >= base_ns)
                  & (t < end_ns) & ((not check_exchanges)
                                    | ((period_from[k] <= t) & (t < period_to[k]))))
            if ok:
                b = _bucket_nb(t, base_ns, bucket_ns, inv_bucket)
                r = fx_flat[q, b]
                if r == r:
                    sid = series_of[(a * n_exchanges + e) * n_quotes + q]
                    key = b >> shift
                    pos = cursor[j, key]
                    cursor[j, key] = pos + 1
                    rec[pos, 0] = s
                    rec[pos, 1] = (p * r) * s
                    rec_cell[pos] = sid * n_buckets + b
                    series_used[j, sid] = True
                    used += 1
                    continue
            # every rule in the order of SPEC §8.1
            reason = _reason_nb(t, p, s, e, check_exchanges, ex_lo, ex_hi, period_from,
                                period_to)
            if reason != USED:
                tally[reason] += 1
                continue
            if t < base_ns or t >= end_ns:
                tally[_outside_reason_nb(t, q, fx_lo, fx_hi, fx_ts)] += 1
                continue
            b = _bucket_nb(t, base_ns, bucket_ns, inv_bucket)
            c = _fx_row_nb(fx_ts, fx_at, q, b, t)
            if c < fx_lo[q]:
                tally[REJ_BEFORE_FX] += 1
                continue
            sid = series_of[(a * n_exchanges + e) * n_quotes + q]
            key = b >> shift
            pos = cursor[j, key]
            cursor[j, key] = pos + 1
            rec[pos, 0] = s
            rec[pos, 1] = (p * fx_rate[c]) * s
            rec_cell[pos] = sid * n_buckets + b
            series_used[j, sid] = True
            used += 1
        tally[USED] += used
        for x in range(N_COUNTS):
            counts[j, x] += tally[x]


@jit_parallel
def accumulate_records_nb(starts, ends, rec, rec_cell, owner_from, cells):
    """Add the sorted trades of :func:`scatter_trades_nb` to the bucket sums.

    Key ``key`` holds, part after part, the slots ``starts[part, key]:ends[part, key]``, in
    input order; ``cells`` is the bucket sums as ``(series * n_buckets + bucket, V/PV/N)``.
    Partition ``j`` owns keys ``owner_from[j]:owner_from[j + 1]`` (whole buckets), so each
    cell is summed in input order by one thread.
    """
    for j in prange(owner_from.shape[0] - 1):
        for key in range(owner_from[j], owner_from[j + 1]):
            for part in range(starts.shape[0]):
                for r in range(starts[part, key], ends[part, key]):
                    cell = rec_cell[r]
                    cells[cell, ACC_V] += rec[r, 0]
                    cells[cell, ACC_PV] += rec[r, 1]
                    cells[cell, ACC_N] += 1.0


@jit
def screen_window_nb(v, pv, nt, col, keep, ordered, ped):
    """Screen the markets of one asset in one window (SPEC §2.4).

    ``v``, ``pv``, ``nt[market, col]`` are the window's sums per market (``keep``: has
    trades). With 3 or more markets trading, markets with ``|vwap / median - 1| > ped`` lose
    ``keep``. Returns ``(active, dropped)``.
    """
    m = v.shape[0]
    active = 0
    for j in range(m):
        keep[j] = nt[j, col] > 0.0
        if keep[j]:
            x = pv[j, col] / v[j, col]
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
            if keep[j] and abs((pv[j, col] / v[j, col]) / med - 1.0) > ped:
                keep[j] = False
                dropped += 1
    return active, dropped


#: Ticks whose window sums one task holds at a time.
TICK_CHUNK = 512


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
    n_series = acc.shape[0]
    price = np.full((n_assets, n_ticks), np.nan)
    volume = np.zeros((n_assets, n_ticks))
    n_trades = np.zeros((n_assets, n_ticks), dtype=np.int64)
    n_markets = np.zeros((n_assets, n_ticks), dtype=np.int64)
    n_excluded = np.zeros((n_assets, n_ticks), dtype=np.int64)
    stale = np.ones((n_assets, n_ticks), dtype=np.bool_)
    n_chunks = max(1, (n_ticks + TICK_CHUNK - 1) // TICK_CHUNK)
    excluded = np.zeros((n_chunks, n_series), dtype=np.int64)
    # fresh fixes: one task per asset and chunk of ticks; each market's window sums are read
    # along its own contiguous buckets first, then every tick is screened
    for task in prange(n_assets * n_chunks):
        a = task // n_chunks
        chunk = task % n_chunks
        k0 = chunk * TICK_CHUNK
        k1 = min(n_ticks, k0 + TICK_CHUNK)
        series = asset_series[asset_ptr[a]: asset_ptr[a + 1]]
        m = series.shape[0]
        v = np.empty((m, k1 - k0))
        pv = np.empty((m, k1 - k0))
        nt = np.empty((m, k1 - k0))
        keep = np.empty(m, dtype=np.bool_)
        ordered = np.empty(m)
        for j in range(m):
            sid = series[j]
            for k in range(k0, k1):
                b0 = first + k * step
                sv = 0.0
                spv = 0.0
                sn = 0.0
                for b in range(b0, b0 + width):
                    sv += acc[sid, b, ACC_V]
                    spv += acc[sid, b, ACC_PV]
                    sn += acc[sid, b, ACC_N]
                v[j, k - k0] = sv
                pv[j, k - k0] = spv
                nt[j, k - k0] = sn
        for k in range(k0, k1):
            col = k - k0
            active, dropped = screen_window_nb(v, pv, nt, col, keep, ordered, ped)
            for j in range(m):
                if nt[j, col] > 0.0 and not keep[j]:
                    excluded[chunk, series[j]] += 1
            if active - dropped == 0:
                continue
            tot_v = 0.0
            tot_pv = 0.0
            tot_n = 0.0
            for j in range(m):
                if keep[j]:
                    tot_v += v[j, col]
                    tot_pv += pv[j, col]
                    tot_n += nt[j, col]
            price[a, k] = tot_pv / tot_v
            volume[a, k] = tot_v
            n_trades[a, k] = np.int64(tot_n)
            n_markets[a, k] = active - dropped
            n_excluded[a, k] = dropped
            stale[a, k] = False
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
def dictionary_codes_nb(offsets, data, words, row_lo, row_hi, codes, bits):
    """Dictionary codes of rows ``row_lo:row_hi`` of a string column (Arrow ``offsets`` and
    ``data`` bytes), with a table of ``2**bits`` slots.

    Writes ``codes[row_lo:row_hi]``, numbering the distinct strings of those rows in order of
    first appearance (the order of ``pyarrow.compute.dictionary_encode``), and returns
    ``(first, complete)``: ``first[c]`` the row where string ``c`` first appears; ``complete``
    False when more than ``2**bits / 4`` strings did not fit (call again with more bits).

    A string of 1 to 8 bytes is one word (its bytes, zeros above), read from ``words`` (the
    data as 64-bit words, empty when not 8-byte aligned) with two reads and shifts; a longer
    one is hashed (FNV-1a) and compared byte by byte. Each slot of the open-addressing table
    holds a key, its length and its code. (The key is computed in the loop and the table does
    not grow: a helper function for the key, or a growing table, made the loop 1.5 to 3 times
    slower. Encoding the three text columns together, one look-up per row, saved little and
    needs large tables when assets x markets is large.)
    """
    size = 1 << bits
    mask = size - 1
    shift_out = np.uint64(64 - bits)
    capacity = size // 4
    slot_key = np.zeros(size, dtype=np.uint64)
    slot_len = np.full(size, -1, dtype=np.int64)
    slot_code = np.zeros(size, dtype=np.int32)
    first = np.empty(capacity, dtype=np.int64)
    n_codes = 0
    n_words = words.shape[0]
    lo = np.int64(offsets[row_lo])
    for i in range(row_lo, row_hi):
        hi = np.int64(offsets[i + 1])
        length = hi - lo
        w = lo >> 3
        if length >= 1 and length <= 8 and w + 1 < n_words:
            shift = np.uint64((lo & 7) * 8)
            # the second word's part shifted in two steps: a shift by 64 is undefined
            key = (words[w] >> shift) | ((words[w + 1] << np.uint64(1))
                                         << (np.uint64(63) - shift))
            key &= ALL_BITS >> np.uint64(64 - 8 * length)
        elif length <= 8:
            key = np.uint64(0)
            for k in range(length):
                key |= np.uint64(data[lo + k]) << np.uint64(8 * k)
        else:
            key = np.uint64(14695981039346656037)  # FNV-1a
            for k in range(length):
                key = (key ^ np.uint64(data[lo + k])) * np.uint64(1099511628211)
        slot = np.int64(((key ^ np.uint64(length)) * GOLDEN) >> shift_out)
        while True:
            if slot_len[slot] == length and slot_key[slot] == key:
                c = slot_code[slot]
                if length <= 8 or _same_bytes_nb(data, lo, np.int64(offsets[first[c]]),
                                                 length):
                    break
            elif slot_len[slot] < 0:  # a new string
                if n_codes == capacity:
                    return first[:0], False
                c = n_codes
                first[c] = i
                slot_key[slot] = key
                slot_len[slot] = length
                slot_code[slot] = c
                n_codes += 1
                break
            slot = (slot + 1) & mask
        codes[i] = c
        lo = hi
    return first[:n_codes], True


@jit
def remap_codes_nb(codes, remap, row_lo, row_hi):
    """``codes[i] = remap[codes[i]]`` for the rows ``row_lo:row_hi``."""
    for i in range(row_lo, row_hi):
        codes[i] = remap[codes[i]]
