"""Properties of the fixes (SPEC §2, §8.1) on hypothesis-generated small inputs.

Inputs mix a few assets, exchanges and quotes over a few hours, with NaN, zero and negative
prices and sizes, ties, trades exactly on bucket edges, trades before the first FX row and an
optional vetted-exchange list.
"""

from __future__ import annotations

import math
import random

import naive
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fixes import (
    T0,
    WINDOWS,
    H,
    M,
    assert_rows_match,
    result_rows,
    tables,
    trades_table,
)

from daix.fixes import compute_fixes

START, END = T0, T0 + 3 * H
PED = 0.05
_PRICES = [1.0, 1.01, 1.02, 1.1, 1.2, 2.0, 100.0]
_BAD = [math.nan, 0.0, -1.0, math.inf]
_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@st.composite
def trade_sets(draw, max_trades: int = 40):
    """(trades, fx rows, exchanges or None), trades as naive tuples."""
    n = draw(st.integers(0, max_trades))
    edge = st.integers(-6, 14).map(lambda k: T0 + k * 15 * M)  # bucket edges, -1h30 .. 3h30
    near = st.tuples(edge, st.sampled_from([0, 1, -1, 7 * M, 14 * M + 59_999_999_999]))
    trades = []
    for _ in range(n):
        ts = sum(draw(near))
        price = draw(st.one_of(st.sampled_from(_PRICES), st.sampled_from(_BAD),
                               st.floats(0.5, 3.0))) if draw(st.integers(0, 9)) else math.nan
        size = draw(st.one_of(st.sampled_from([0.5, 1.0, 2.0, 3.0]),
                              st.sampled_from(_BAD), st.floats(0.1, 10.0)))
        trades.append((ts, draw(st.sampled_from("AB")), draw(st.sampled_from("wxyz")),
                       draw(st.sampled_from(["USD", "EUR", "USDT"])), price, size))
    fx = [(T0 + draw(st.integers(-8, 10)) * 15 * M, "EUR", draw(st.sampled_from([1.25, 0.5,
                                                                                   1.0])))
          for _ in range(draw(st.integers(1, 3)))]
    fx += [(T0 - 2 * H, "USDT", 1.0), (T0 + draw(st.integers(0, 10)) * 15 * M, "USDT", 0.5)]
    fx = sorted({(t, c): r for t, c, r in fx}.items())
    fx = [(t, c, r) for (t, c), r in fx]
    exchanges = None
    if draw(st.booleans()):
        exchanges = []
        for ex in draw(st.lists(st.sampled_from("wxyz"), unique=True, max_size=4)):
            lo = draw(st.one_of(st.none(), edge))
            hi = draw(st.one_of(st.none(), edge))
            if lo is not None and hi is not None and lo >= hi:
                lo, hi = hi - 15 * M, lo + 15 * M
            exchanges.append((ex, lo, hi))
    return trades, fx, exchanges


def _run(trades, fx, exchanges, **kw):
    return compute_fixes(tables(trades, fx, exchanges), START, END, ped=PED, **kw)


@_SETTINGS
@given(trade_sets())
def test_kernel_matches_naive(case):
    trades, fx, exchanges = case
    result = _run(trades, fx, exchanges)
    ref = naive.fixes_naive(trades, fx, naive.fix_grid_naive(START, END, H), WINDOWS, ped=PED,
                            exchanges=exchanges)
    assert_rows_match(result_rows(result.table), ref["rows"])
    assert result.report["rejected"] == ref["rejected"]
    assert result.report["trades_read"] == len(trades)


def _kept_prices(trades, fx, exchanges, asset, fix_time, width):
    """USD prices of the trades of the markets the screen keeps (SPEC §2.4), for bounds."""
    markets: dict = {}
    for t in trades:
        if t[1] != asset or not (fix_time - width <= t[0] < fix_time):
            continue
        if naive._reject_reason_naive(t, fx, exchanges) is not None:
            continue
        usd = t[4] * naive._usd_per_unit_naive(fx, t[3], t[0])
        markets.setdefault((t[2], t[3]), []).append((usd, t[5]))
    vwap = {k: sum(p * s for p, s in v) / sum(s for _, s in v) for k, v in markets.items()}
    keep = list(markets)
    if len(keep) >= 3:
        values = sorted(vwap.values())
        mid = len(values) // 2
        med = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        keep = [k for k in keep if abs(vwap[k] / med - 1.0) <= PED]
    return [p for k in keep for p, _ in markets[k]]


@_SETTINGS
@given(trade_sets())
def test_fix_within_kept_trade_prices(case):
    trades, fx, exchanges = case
    result = _run(trades, fx, exchanges)
    checked = 0
    for ts, asset, window, price, *_rest, stale in result_rows(result.table):
        if stale:
            continue
        prices = _kept_prices(trades, fx, exchanges, asset, ts, WINDOWS[window])
        assert prices, (ts, asset, window)
        assert min(prices) * (1 - 1e-12) <= price <= max(prices) * (1 + 1e-12)
        checked += 1
    assert checked == result.table.num_rows - result.report["stale_fixes"]


@_SETTINGS
@given(trade_sets(), st.randoms(use_true_random=False))
def test_permutation_changes_nothing(case, rnd: random.Random):
    trades, fx, exchanges = case
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    a = result_rows(_run(trades, fx, exchanges).table)
    b = result_rows(_run(shuffled, fx, exchanges).table)
    assert_rows_match(b, a)


@_SETTINGS
@given(trade_sets(), st.integers(0, 40))
def test_split_into_two_batches_changes_nothing(case, cut):
    trades, fx, exchanges = case
    cut = min(cut, len(trades))
    whole = _run(trades, fx, exchanges)
    table = trades_table(trades)
    two = pa.Table.from_batches(
        [b for part in (table.slice(0, cut), table.slice(cut)) for b in part.to_batches()
         if b.num_rows] or table.to_batches(), schema=table.schema)
    data = tables(trades, fx, exchanges)
    data["trades"] = two
    split = compute_fixes(data, START, END, ped=PED)
    assert split.table.equals(whole.table)  # bit for bit
    assert split.report["rejected"] == whole.report["rejected"]


@pytest.mark.parametrize("rows", [1, 3])
def test_batch_rows_bit_identical_on_a_larger_input(rows):
    rnd = random.Random(7)
    trades = [(T0 + rnd.randrange(-H, 3 * H), rnd.choice("AB"), rnd.choice("wxyz"),
               rnd.choice(["USD", "EUR"]), rnd.uniform(1.0, 1.1), rnd.uniform(0.1, 5.0))
              for _ in range(400)]
    fx = [(T0 - 2 * H, "EUR", 1.1)]
    whole = _run(trades, fx, None)
    batched = _run(trades, fx, None, batch_rows=rows)
    assert batched.table.equals(whole.table)
    assert whole.report["trades_used"] > 300


# --- the paths taken for speed (SPEC §2.2-§2.3: same numbers, bit for bit) ---------------------


def _fast_paths(mp: pytest.MonkeyPatch, parts: int = 3, keys: int = 2) -> None:
    """Every batch cut into ``parts`` row ranges (text encoding and counting sort) or time
    ranges, even a small one, and the counting sort on ``keys`` keys (runs of buckets)."""
    mp.setattr("daix.fixes.PARTS", parts)
    mp.setattr("daix.fixes.PARALLEL_ROWS", 0)
    mp.setattr("daix.fixes.SORT_KEYS", keys)
    mp.setattr("daix.fixes_input.PARALLEL_ENCODE_ROWS", 1)
    mp.setattr("daix.kernels.options.threads", lambda: parts)


@_SETTINGS
@given(trade_sets(), st.integers(1, 4), st.sampled_from([1, 2, 4, 256]), st.booleans())
def test_parts_and_sort_keys_change_nothing(case, parts, keys, in_time_order):
    # the counting sort (trades in any order) and the time partitions (trades in time order)
    # keep every cell's input order, however the rows and buckets are cut
    trades, fx, exchanges = case
    if in_time_order:
        trades = sorted(trades, key=lambda t: t[0])
    plain = _run(trades, fx, exchanges, batch_rows=max(1, len(trades)))
    with pytest.MonkeyPatch.context() as mp:
        _fast_paths(mp, parts, keys)
        cut = _run(trades, fx, exchanges)
    assert cut.table.equals(plain.table)  # bit for bit
    assert cut.report["rejected"] == plain.report["rejected"]
    assert cut.report["trades_outside_range"] == plain.report["trades_outside_range"]


def test_fx_row_inside_a_bucket():
    # EUR: 1.0 from 23:00, 2.0 from 00:50 (inside the bucket [00:45, 01:00)); USDT: first row
    # at 00:20, inside the bucket [00:15, 00:30) (SPEC §2.2: the rate at or before each trade)
    fx = [(T0 - H, "EUR", 1.0), (T0 + 50 * M, "EUR", 2.0), (T0 + 20 * M, "USDT", 0.5)]
    trades = [
        (T0 + 55 * M, "BTC", "a", "EUR", 10.0, 1.0),   # 10 * 2.0 = 20 USD
        (T0 + 17 * M, "BTC", "b", "USDT", 30.0, 1.0),  # before USDT's first row: rejected
        (T0 + 46 * M, "BTC", "a", "EUR", 10.0, 1.0),   # 10 * 1.0 = 10 USD
        (T0 + 25 * M, "BTC", "b", "USDT", 30.0, 2.0),  # 30 * 0.5 = 15 USD, size 2
    ]
    for order in (trades, sorted(trades)):
        for fast in (False, True):
            with pytest.MonkeyPatch.context() as mp:
                if fast:
                    _fast_paths(mp)
                result = compute_fixes(tables(order, fx), T0 + H, T0 + H, ped=PED)
            rows = {r[2]: r for r in result_rows(result.table)}
            assert result.report["rejected"]["before_first_fx"] == 1
            # 15m [00:45, 01:00): market (a, EUR) (10 + 20) / 2 = 15
            assert rows["15m"][3] == 15.0 and rows["15m"][4] == 2.0
            # 1h: markets (a, EUR) vwap 15 and (b, USDT) 15, no screen with two:
            # (10 + 20 + 15 * 2) / (1 + 1 + 2) = 60 / 4 = 15
            assert rows["1h"][3] == 15.0 and rows["1h"][4] == 4.0 and rows["1h"][6] == 2


def _column_codes(values: list[str], table: pa.Table | None = None):
    """(codes, dictionary) of one text column through TradeSource.encode."""
    from daix.fixes_input import TradeSource
    from daix.io import DataSet

    if table is None:
        table = trades_table([(T0, v, "x", "USD", 1.0, 1.0) for v in values])
    source = TradeSource(DataSet({"trades": table}), None)
    encoded = source.encode(table.combine_chunks().to_batches()[0])
    return encoded.codes["asset"], encoded.dictionaries["asset"]


_TEXT = st.lists(st.one_of(
    st.sampled_from(["", "B", "BTC", "USDT", "EX01", "A0050", "ABCDEFGH", "ABCDEFGHI",
                     "ABCDEFGHIJKLMNOPQRST", "ABCDEFGHIJKLMNOPQRSU", "ÉUR", "比特币"]),
    st.text(min_size=0, max_size=12)), min_size=1, max_size=60)


@_SETTINGS
@given(_TEXT, st.integers(1, 5))
def test_text_encoding_matches_arrow(values, ranges):
    # codes and values in order of first appearance, as pyarrow.compute.dictionary_encode,
    # however the rows are cut into ranges (strings of 0, 1-8 and more bytes, multi-byte)
    want = pa.array(values, pa.string()).dictionary_encode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("daix.fixes_input.PARALLEL_ENCODE_ROWS", 1)
        mp.setattr("daix.kernels.options.threads", lambda: ranges)
        codes, dictionary = _column_codes(values)
    assert dictionary == want.dictionary.to_pylist()
    assert codes.tolist() == want.indices.to_pylist()


def test_text_encoding_unaligned_bytes_and_many_values():
    # a data buffer that does not start on an 8-byte boundary is read byte by byte; 3000
    # distinct values outgrow the first table (2**10 slots, a quarter full) several times
    values = [f"v{i % 3000}" for i in range(7000)] + ["", "12345678", "123456789"]
    raw = "".join(values).encode()
    offsets = [0]
    for v in values:
        offsets.append(offsets[-1] + len(v.encode()))
    data = pa.py_buffer(b"_" + raw).slice(1)
    column = pa.Array.from_buffers(pa.string(), len(values),
                                   [None, pa.array(offsets, pa.int32()).buffers()[1], data])
    from daix.fixes_input import _string_buffers

    assert len(_string_buffers(column)[2]) == 0  # no 64-bit words: the byte by byte path
    table = trades_table([(T0, "x", "x", "USD", 1.0, 1.0)] * len(values))
    table = table.set_column(1, "asset", column)
    codes, dictionary = _column_codes(values, table)
    assert len(dictionary) == 3003
    assert [dictionary[c] for c in codes.tolist()] == values
    assert dictionary == pa.array(values).dictionary_encode().dictionary.to_pylist()


def test_unknown_quotes_of_later_batches_named_together():
    # in memory the quotes are checked batch by batch; the error names every unknown quote
    # of the table, as the pass over a file's quote column does (SPEC §2.2)
    from daix.errors import InputError

    trades = [(T0 + i * M, "BTC", "a", q, 1.0, 1.0)
              for i, q in enumerate(["USD", "USD", "USD", "XXX", "USD", "YYY"])]
    with pytest.raises(InputError, match="XXX, YYY") as err:
        _run(trades, [(T0 - H, "EUR", 1.1)], None, batch_rows=2)
    assert "row 4" in str(err.value)


def test_table_of_many_chunks_read_in_few_batches():
    # a table in memory is read in batches of MEMORY_BATCH_ROWS rows, joining small chunks
    from daix.fixes_input import TradeSource

    rnd = random.Random(3)
    trades = [(T0 + rnd.randrange(0, 2 * H), rnd.choice("AB"), rnd.choice("wxyz"), "USD",
               rnd.uniform(1.0, 1.1), 1.0) for _ in range(60)]
    whole = trades_table(trades)
    chunked = pa.Table.from_batches(whole.to_batches(max_chunksize=5))
    assert chunked.column("ts").num_chunks == 12
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("daix.fixes_input.MEMORY_BATCH_ROWS", 25)
        encode = TradeSource.encode
        mp.setattr(TradeSource, "encode", lambda self, b: calls.append(b.num_rows) or
                   encode(self, b))
        data = tables(trades, [])
        data["trades"] = chunked
        got = compute_fixes(data, START, END, ped=PED)
    assert calls == [25, 25, 10]
    want = compute_fixes(tables(trades, []), START, END, ped=PED)
    assert got.table.equals(want.table)


def test_bucket_sums_grow_with_new_markets():
    # markets appear batch after batch; the sums table is copied into a larger one when its
    # room is used up (RESERVE_SERIES), with the same result as when it never grows
    trades = [(T0 + (i * 7 % 120) * M, f"A{i // 10}", "abc"[i % 3], "USD", 1.0 + i % 5, 1.0)
              for i in range(100)]
    want = _run(trades, [], None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("daix.fixes.RESERVE_SERIES", 1)
        got = _run(trades, [], None, batch_rows=9)
    assert got.table.equals(want.table)
    assert got.report["markets"] == 30  # 10 assets x 3 exchanges
