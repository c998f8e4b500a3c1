"""Recalc reads only the row groups that changed (SPEC §7.2): byte-range digests, kept slice
hashes per part, the kept price matrices patched in place, and a recalc of a recalc."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from daix.kernels.digest import range_digests_nb
from daix.kernels.grid import patch_hourly_nb
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import patch_grid_naive, range_digest_naive
from scenarios import ROWS_PER_GROUP, scale_rows, write_groups

from daix.engine.backfill import backfill
from daix.engine.changes import update_state
from daix.engine.digests import describe
from daix.engine.outputs import write_backfill
from daix.engine.recalc import recalc, write_recalc
from daix.engine.state import input_state, read_state
from daix.io import DataSet
from daix.synth import synthesize

HOUR = 3_600_000_000_000


# --- the digest kernel against its reference -------------------------------------------------


def kernel_digest(data: bytes, offset: int = 0) -> tuple[int, int]:
    """The kernel's digest of ``data`` placed ``offset`` bytes into a buffer."""
    buf = b"\xab" * offset + data + b"\xcd" * 16  # other bytes around the range
    words = np.zeros(len(buf) // 8 + 2, dtype=np.uint64)
    words.view(np.uint8)[:len(buf)] = np.frombuffer(buf, dtype=np.uint8)
    out = np.zeros((1, 2), dtype=np.uint64)
    range_digests_nb(words, np.array([offset], np.int64),
                     np.array([offset + len(data)], np.int64), out)
    return int(out[0, 0]), int(out[0, 1])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 31, 32, 33, 100])
def test_digest_matches_reference_at_every_alignment(n):
    # SPEC §7.2: equal bytes give equal digests wherever they lie (a row group after a grown
    # one keeps its digest).
    data = bytes((i * 37 + 11) % 256 for i in range(n))
    want = range_digest_naive(data)
    for offset in range(9):
        assert kernel_digest(data, offset) == want


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=80), st.integers(0, 15))
def test_digest_property(data, offset):
    assert kernel_digest(data, offset) == range_digest_naive(data)


def test_digest_sees_every_byte_and_the_length():
    data = bytearray(range(64))
    base = kernel_digest(bytes(data))
    for k in (0, 7, 8, 33, 63):
        changed = bytearray(data)
        changed[k] ^= 1
        assert kernel_digest(bytes(changed)) != base
    assert kernel_digest(bytes(data) + b"\0") != base  # a trailing zero byte is a change
    assert kernel_digest(b"") != kernel_digest(b"\0")


# --- the patch kernel against its reference --------------------------------------------------


@pytest.mark.parametrize("price", [2.5, float("nan"), -1.0, 0.0, float("inf")])
def test_patch_kernel_matches_reference(price):
    # SPEC §8.2: an unusable price leaves the cell without a price.
    start = 10 * HOUR
    assets = ["A", "B"]
    cells = {(0, "A"): 1.0, (1, "B"): 3.0}
    rows = [(start, "A", "15m", price), (start + HOUR, "B", "1h", 9.0),
            (start + 2 * HOUR, "B", "15m", price), (start + 5, "A", "15m", 4.0),
            (start + 9 * HOUR, "A", "15m", 4.0)]  # other window, off the hour, off the grid
    want, changed, was, now = patch_grid_naive(cells, rows, "15m", start, 3, assets)
    m = np.full((3, 2), np.nan)
    for (r, a), v in cells.items():
        m[r, assets.index(a)] = v
    ts = np.array([r[0] for r in rows], np.int64)
    wcode = np.array([0, 1, 0, 0, 0], np.int64)
    acode = np.array([assets.index(r[1]) for r in rows], np.int64)
    got = patch_hourly_nb(ts, wcode, np.array([0, 1]), acode, np.array([0, 1]),
                          np.array([r[3] for r in rows]), start, 0, m)
    assert got == (changed, was, now)
    # By hand: row 0 writes A at hour 0 (was 1.0), row 2 B at hour 2 (was empty); the others
    # are of the 1h window, off the hour or off the grid. A good price changes both cells; a
    # bad one empties the first and leaves the second empty.
    good = price == 2.5
    assert (was, changed, now) == ((1, 2, 0) if good else (1, 1, 2))
    assert {(r, assets[a]): m[r, a] for r in range(3) for a in range(2)
            if math.isfinite(m[r, a])} == want


# --- a data set whose prices file has many row groups -----------------------------------------


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """(root, data, previous output, prices table): 24 assets over 1.6 years."""
    root = tmp_path_factory.mktemp("parts")
    data = root / "data"
    synthesize(data, assets=24, years=1.6, seed=5, trades_days=0.5, defects=False)
    (data / "trades.parquet").unlink()
    prices = pq.read_table(data / "prices.parquet")
    write_groups(prices, data / "prices.parquet")
    out = root / "out"
    write_backfill(backfill(data), out)
    return root, data, out, prices


def fresh_copy(data: Path, new: Path) -> Path:
    """``new``: a copy of the data directory (replacing an earlier one)."""
    if new.exists():
        shutil.rmtree(new)
    shutil.copytree(data, new)
    return new


def corrected(grouped, name: str, edit) -> Path:
    """A copy of the data whose prices are ``edit(prices)``, written the same way."""
    root, data, _, prices = grouped
    new = fresh_copy(data, root / name)
    write_groups(edit(prices), new / "prices.parquet")
    return new


def middle(prices) -> int:
    ts = prices.column("ts").cast(pa.int64()).to_numpy()
    mid = int(np.median(ts))
    return mid - mid % (24 * HOUR)


def assert_full(new: Path, res) -> None:
    """SPEC §7.2: bit for bit a full backfill on the new data."""
    full = backfill(new)
    for name in ("levels", "constituents", "reviews"):
        assert getattr(res.result, name).equals(getattr(full, name)), name
    assert res.result.manifest["data"] == full.manifest["data"]  # counts and grid span
    assert res.result.manifest["inputs"] == full.manifest["inputs"]  # content hashes


def test_parquet_parts_describe_row_groups(grouped):
    _, data, _, prices = grouped
    parts = describe(data / "prices.parquet")
    assert parts.kind == "parquet" and sum(parts.rows) == prices.num_rows
    assert len(parts.rows) == math.ceil(prices.num_rows / ROWS_PER_GROUP) > 3
    copy = data.parent / "copy.parquet"
    shutil.copyfile(data / "prices.parquet", copy)
    assert describe(copy).same_file(parts)


def test_price_correction_reads_one_row_group_and_patches_the_matrix(grouped, monkeypatch):
    root, _, out, prices = grouped
    day = middle(prices)
    edited, n = scale_rows(prices, "BTC", "15m", day, 1.01)
    assert n >= 20
    new = corrected(grouped, "one_group", lambda _: edited)
    old_parts = describe(out.parent / "data" / "prices.parquet")
    new_parts = describe(new / "prices.parquet")
    differ = [g for g in range(len(new_parts.rows)) if new_parts.key(g) != old_parts.key(g)]
    assert 1 <= len(differ) <= 2  # the day's rows lie in one or two row groups
    update = update_state(DataSet(new), *read_state(out / "state"))
    assert update.prices_patch is not None and len(update.prices_patch) == len(differ)
    assert "prices" not in update.read_whole
    assert [c[:2] for c in update.changes] == [("prices", "BTC|15m")]
    # The merged hashes of the update equal those of hashing the new data whole.
    whole = input_state(DataSet(new)).merged
    assert sorted(update.state.merged.to_pylist(), key=str) == sorted(whole.to_pylist(),
                                                                       key=str)

    def no_full_grid(*args, **kwargs):
        raise AssertionError("the price matrix was rebuilt from the whole table")

    monkeypatch.setattr("daix.engine.market.build_price_grid", no_full_grid)
    res = recalc(new, out)
    monkeypatch.undo()
    assert_full(new, res)
    write_recalc(res, root / "one_group_out", out)
    state = root / "one_group_out" / "state"
    # The 1h matrix was not touched: the new output links the kept file.
    assert (state / "grid_1h.npy").stat().st_ino == (out / "state" / "grid_1h.npy").stat().st_ino
    # The 15m matrix is linked too, with the corrected cells (one day of BTC) beside it.
    assert (state / "grid_15m.npy").stat().st_ino == (out / "state" / "grid_15m.npy").stat().st_ino
    with np.load(state / "grid_15m.cells.npz") as z:
        assert len(z["rows"]) == n and np.all(np.isfinite(z["values"]))
    assert not (state / "grid_1h.cells.npz").exists()


def test_a_price_made_unusable_is_counted(grouped):
    # SPEC §8.2: a non-positive price counts as no price, in the matrix and the manifest.
    _root, _, out, prices = grouped
    edited, n = scale_rows(prices, "ETH", "1h", middle(prices) + 3 * 24 * HOUR, 1.0,
                           value=-5.0)
    assert n > 0
    new = corrected(grouped, "bad_price", lambda _: edited)
    res = recalc(new, out)
    assert_full(new, res)
    before = json.loads((out / "manifest.json").read_text())
    assert (res.result.manifest["data"]["price_rows"]["bad_price"]
            == before["data"]["price_rows"]["bad_price"] + n)


def test_new_rows_fall_back_to_the_whole_table(grouped):
    # A row that was not there (a new instant) cannot be laid over the kept matrix.
    _root, _, out, prices = grouped
    last = prices.slice(prices.num_rows - 1, 1)
    ts = last.column("ts").cast(pa.int64()).to_numpy()[0] + HOUR
    extra = last.set_column(0, "ts", pa.array([ts], pa.int64()).cast(prices.schema[0].type))
    new = corrected(grouped, "new_row", lambda p: pa.concat_tables([p, extra]))
    update = update_state(DataSet(new), *read_state(out / "state"))
    assert update.prices_patch is None
    res = recalc(new, out)
    assert_full(new, res)


def test_recalc_of_a_recalc(grouped):
    # The state/ a recalc writes serves the next recalc (part hashes, linked matrices).
    root, _, out, prices = grouped
    day = middle(prices)
    first, _ = scale_rows(prices, "ETH", "15m", day, 0.98)
    new1 = corrected(grouped, "chain1", lambda _: first)
    out1 = root / "chain1_out"
    write_recalc(recalc(new1, out), out1, out)
    second, _ = scale_rows(first, "BTC", "1h", day - 40 * 24 * HOUR, 1.03)
    new2 = corrected(grouped, "chain2", lambda _: second)
    res = recalc(new2, out1)
    assert [c[:2] for c in res.changes] == [("prices", "BTC|1h")]
    assert_full(new2, res)


def test_supply_row_group_change_detected(grouped, tmp_path):
    # A change in a table other than prices: only its changed slice, found from its parts.
    root, data, out, _ = grouped
    new = fresh_copy(data, root / "supply_change")
    supply = pq.read_table(data / "supply.parquet")
    values = supply.column("circulating_supply").to_numpy().copy()
    k = supply.num_rows // 2
    values[k] *= 2
    asset = supply.column("asset").cast(pa.string())[k].as_py()
    supply = supply.set_column(supply.schema.get_field_index("circulating_supply"),
                               "circulating_supply", pa.array(values))
    pq.write_table(supply, new / "supply.parquet")
    res = recalc(new, out)
    assert [c[:2] for c in res.changes] == [("supply", asset)]
    assert_full(new, res)


def test_changed_file_is_validated_unchanged_one_is_not_rechecked(grouped):
    # SPEC §6.2: a duplicate key in a corrected file is still an input error; a file byte for
    # byte the one the previous run validated is not checked for duplicates again.
    from daix.errors import InputError

    root, data, out, _ = grouped
    new = fresh_copy(data, root / "dup_supply")
    supply = pq.read_table(data / "supply.parquet")
    pq.write_table(pa.concat_tables([supply, supply.slice(5, 1)]), new / "supply.parquet")
    with pytest.raises(InputError, match="supply"):
        recalc(new, out)
    ds = DataSet(new)
    ds.checked = {"supply"}
    assert ds.table("supply").num_rows == supply.num_rows + 1


@pytest.mark.parametrize("where", ["same_group", "new_group"])
def test_duplicate_price_key_in_a_corrected_file_is_an_error(grouped, where):
    """SPEC §6.2: a corrected prices file with a duplicate (ts, asset, window) is an input
    error in a recalc too, whether the extra row sits in a changed row group or in one of its
    own (the file's slices are then hashed, and the grid rebuilt, from the whole table)."""
    from daix.errors import InputError

    _root, _, out, prices = grouped
    k = prices.num_rows // 2
    twice = prices.slice(k, 1)
    if where == "same_group":
        edit = lambda p: pa.concat_tables([p.slice(0, k), twice, p.slice(k)])  # noqa: E731
    else:
        edit = lambda p: pa.concat_tables([p, twice])  # noqa: E731
    new = corrected(grouped, f"dup_prices_{where}", edit)
    with pytest.raises(InputError, match="duplicate key") as info:
        recalc(new, out)
    assert "prices" in str(info.value)


# --- reviews rerun only from the first step that read a changed price ---------------------


def read_days(out: Path, index: str, window: str) -> set[int]:
    """UTC days (ns) holding an instant some review step of ``index`` read in ``window``."""
    reads = pq.read_table(out / "state" / "reads.parquet").to_pylist()
    return {r["ts"] - r["ts"] % (24 * HOUR) for r in reads
            if r["index"] == index and r["window"] == window}


def recalc_corrected(grouped, name: str, prices, asset: str, day: int, factor: float):
    """(recalc of the 15m prices of ``asset`` on ``day`` times ``factor``, checked equal to a
    full backfill; the corrected prices)."""
    _, _, out, _ = grouped
    edited, n = scale_rows(prices, asset, "15m", day, factor)
    assert n > 0
    new = corrected(grouped, name, lambda _: edited)
    res = recalc(new, out)
    assert_full(new, res)
    return res, edited


def test_correction_no_review_read_reruns_no_review(grouped):
    # SPEC §7.2: a price no review read changes levels only; every kept basket stands.
    root, _, out, prices = grouped
    day = middle(prices)
    busy = set().union(*(read_days(out, i, "15m") for i in ("CUSTOM_TOP20", "CUSTOM_INFRA",
                                                           "CUSTOM_APP", "grayscale")))
    while any(abs(day - b) <= 2 * 24 * HOUR for b in busy):
        day += 24 * HOUR
    res, _ = recalc_corrected(grouped, "quiet_day", prices, "BTC", day, 1.02)
    info = res.result.manifest["recalc"]
    assert info["reviews_from"] and set(info["reviews_from"].values()) == {"none"}
    changed = {r["index"] for r in res.diff.to_pylist() if r["changed"]}
    assert "CUSTOM_TOP20" in changed  # BTC is a Top 20 constituent: its levels moved
    # The kept baskets, review rows and reads stand: the new state/ links them.
    write_recalc(res, root / "quiet_day_out", out)
    for name in ("baskets.parquet", "rows.parquet", "reads.parquet"):
        assert (root / "quiet_day_out" / "state" / name).stat().st_ino == (
            out / "state" / name).stat().st_ino


def test_correction_on_a_review_day_reruns_from_that_review(grouped):
    # A price a Custom review read (its cut-off or review price time): that review and the
    # later ones run again, bit for bit a full backfill.
    root, _, out, prices = grouped
    reads = [r for r in pq.read_table(out / "state" / "reads.parquet").to_pylist()
             if r["index"] == "CUSTOM_TOP20" and r["window"] == "15m" and r["kind"] == 0]
    steps = sorted({r["step"] for r in reads})
    target = steps[len(steps) // 2]
    ts = min(r["ts"] for r in reads if r["step"] == target)
    day = ts - ts % (24 * HOUR)
    res, edited = recalc_corrected(grouped, "review_day", prices, "ETH", day, 0.9)
    info = res.result.manifest["recalc"]
    since = info["reviews_from"]["CUSTOM_TOP20"]
    assert since not in ("none", "start")
    from daix.timeutil import parse_instant

    # It restarts just after the step before the first one that read the changed day.
    assert parse_instant(since) <= target
    # The state the recalc wrote serves a second recalc on a review day of another index.
    out1 = root / "review_day_out"
    write_recalc(res, out1, out)
    second, _ = scale_rows(edited, "SOL", "15m", day, 1.1)
    new2 = corrected(grouped, "review_day2", lambda _: second)
    assert_full(new2, recalc(new2, out1))


def test_affected_rows_by_hand():
    from daix.engine.reads import affected_rows

    nan = float("nan")
    m = np.array([[1.0, 7.0], [nan, 7.0], [nan, nan], [4.0, nan], [5.0, 8.0]])
    # Cell (0, A) changed: fixes read at hour 0; last fixes of A at hours 0-2 (hour 3 has an
    # unchanged fix of A).
    fresh, last = affected_rows(m, np.array([0]), np.array([0]))
    assert fresh.tolist() == [True, False, False, False, False]
    assert last.tolist() == [True, True, True, False, False]
    # Also (3, A) and (1, B): B's last fix is read from hour 1 until its fix at hour 4.
    fresh, last = affected_rows(m, np.array([0, 3, 1]), np.array([0, 0, 1]))
    assert fresh.tolist() == [True, True, False, True, False]
    assert last.tolist() == [True, True, True, True, False]


def test_first_affected_by_hand():
    from daix.engine.reads import FRESH, LAST, first_affected

    reads = pa.table({"index": ["X", "X", "Y", "grayscale"], "step": [10, 20, 5, 0],
                      "window": ["15m", "15m", "1h", "15m"], "kind": pa.array(
                          [FRESH, LAST, FRESH, LAST], pa.int8()),
                      "ts": [2 * HOUR, 9 * HOUR, 2 * HOUR, 1 * HOUR]})
    fresh = np.array([False, False, True, False])
    last = np.array([False, False, True, True])
    # Grid of 4 hours from 0: X's fix at hour 2 and its last fix at hour 9 (after the grid:
    # its last row, 3) both see a change, the first at step 10; Y reads another window; the
    # Grayscale last fix at hour 1 sees none.
    got = first_affected(reads, {"15m": (fresh, last)}, 0, HOUR)
    assert got == {"X": 10}


def test_a_realtime_tick_made_unusable_is_counted(grouped):
    """SPEC §8.2: an unusable 15s price counts as no price in the manifest
    (``realtime_rows``), after a recalc exactly as after a full backfill; the real-time
    index of that asset carries the last price, indicative (SPEC §3.8)."""
    root, data, _, prices = grouped
    start = middle(prices)
    n_ticks = 40  # BTC ticks every 15 s from the middle day's 00:00, prices 100, 101, ...
    tick_ts = start + np.arange(n_ticks, dtype=np.int64) * 15_000_000_000
    ticks = pa.table({"ts": pa.array(tick_ts, pa.timestamp("ns", tz="UTC")),
                      "asset": ["BTC"] * n_ticks, "window": ["15s"] * n_ticks,
                      "price": 100.0 + np.arange(n_ticks)})
    with_ticks = pa.concat_tables([prices.cast(ticks.schema), ticks])
    base = fresh_copy(data, root / "ticks")
    write_groups(with_ticks, base / "prices.parquet")
    out = root / "ticks_out"
    if out.exists():
        shutil.rmtree(out)
    write_backfill(backfill(base), out)
    before = json.loads((out / "manifest.json").read_text())["data"]["realtime_rows"]
    assert before == {"rows": n_ticks, "bad_price": 0}
    price = with_ticks.column("price").to_numpy(zero_copy_only=False).copy()
    hit = with_ticks.num_rows - n_ticks + np.array([20, 21, 22])  # ticks 20-22
    price[hit] = [0.0, -1.0, np.nan]
    new = fresh_copy(base, root / "ticks_new")
    write_groups(with_ticks.set_column(with_ticks.schema.get_field_index("price"), "price",
                                       pa.array(price)), new / "prices.parquet")
    res = recalc(new, out)
    assert_full(new, res)
    assert res.result.manifest["data"]["realtime_rows"] == {"rows": n_ticks, "bad_price": 3}
    levels = res.result.levels.filter(pa.compute.equal(res.result.levels.column("index"),
                                                       "BTC_RT_USD"))
    got = dict(zip(levels.column("ts").cast(pa.int64()).to_pylist(),
                   zip(levels.column("level").to_pylist(), levels.column("status").to_pylist(),
                       strict=True), strict=True))
    for k in (20, 21, 22):  # tick 19 (price 119) carried
        assert got[int(tick_ts[k])] == (119.0, "indicative")
    assert got[int(tick_ts[23])] == (123.0, "firm")
