"""Benchmark of ``recalc`` (SPEC §7) against a full backfill on the same corrected data.

Workload: ``daix.synth.synthesize`` with 500 assets over 10 years, prices only (the trades file
is removed, so the backfill reads the ``prices`` table), generated once per session
(``DAIX_BENCH_RECALC_ASSETS``, ``DAIX_BENCH_RECALC_YEARS`` change the size;
``DAIX_BENCH_RECALC_DATA`` names an existing data directory to use instead). A full backfill of
every index, written with ``write_backfill`` (levels, constituents, reviews, manifest and the
``state/`` a recalc restarts from), is the previous output. Each case is one price correction:
a copy of the data directory (the other tables hard-linked) whose ``prices.parquet`` is
rewritten with one asset's fixes of one window over one UTC day scaled by 1.01:

- ``mid_15m``: ETH, 15m window, the UTC day in the middle of the history; it reaches every
  multi-asset index of the 15m window (Custom, Grayscale) and ETH's 15m single asset indices;
- ``mid_1h``: ETH, 1h window, the same day; it reaches Crypto Select and ETH's 1h indices;
- ``late_15m``: ETH, 15m window, seven days before the end of the history (reviews before the
  start of that month are restored from ``state/``, SPEC §7.2).

Reported per case, each round pairing the two on the same new data so that both see the same
load on the machine:

- (r) ``recalc(new, previous)`` + ``write_recalc``; (f) ``backfill(new)`` + ``write_backfill``;
  the ratio (r)/(f) (target <= 0.1);
- the stage timings of both manifests (``timings_s``), which indices the recalc recomputed
  (``manifest["recalc"]``), and an exclusive-time breakdown of both runs by stage (reading and
  validating inputs, slice hashes, file hashes, price matrix, reviews, levels, tables, diff,
  writing...) from timers wrapped around the library functions (a few hundred calls per run);
- the peak RSS of each run above the process's RSS when it starts (Linux, where the peak can
  be reset);
- the recalc tables are checked equal to the full backfill's (``Table.equals``, SPEC §7.2).

Numba compilation (or loading the on-disk cache) is kept out of the timings by a small backfill
and recalc first. Run with ``pytest bench/bench_recalc.py --benchmark-only``; the numbers are in
the summary at the end.
"""

from __future__ import annotations

import functools
import gc
import os
import shutil
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rss import current_rss, peak_rss, reset_peak_rss

N_ASSETS = int(os.environ.get("DAIX_BENCH_RECALC_ASSETS", 500))
YEARS = float(os.environ.get("DAIX_BENCH_RECALC_YEARS", 10))
ROUNDS = int(os.environ.get("DAIX_BENCH_RECALC_ROUNDS", 3))
ASSET = os.environ.get("DAIX_BENCH_RECALC_ASSET", "ETH")
SEED = 0
SCALE = 1.01
NS_PER_DAY = 86_400_000_000_000
TABLES = ("levels", "constituents", "reviews")


@dataclass(frozen=True)
class Correction:
    """One asset's fixes of one window over one UTC day, scaled by ``SCALE``."""

    name: str
    window: str
    where: str  # "middle": the day in the middle of the history; "late": 7 days before its end

    def day(self, lo_ns: int, hi_ns: int) -> int:
        """The first instant (00:00 UTC) of the corrected day, for a history [lo, hi]."""
        at = (lo_ns + hi_ns) // 2 if self.where == "middle" else hi_ns - 7 * NS_PER_DAY
        return at - at % NS_PER_DAY


CASES = (Correction("mid_15m", "15m", "middle"), Correction("mid_1h", "1h", "middle"),
         Correction("late_15m", "15m", "late"))

RESULTS: dict[str, Any] = {}


# --- exclusive time per stage ------------------------------------------------------------------


class StageClock:
    """Exclusive wall time per stage: each wrapped function's time minus that of the wrapped
    functions it calls, on the main thread only (background readers and hashers are counted
    where the main thread waits for them)."""

    #: (module, attribute, stage) of the library functions timed.
    TARGETS = (
        ("daix.io:DataSet", "table", "read + validate inputs"),
        ("daix.engine.state", "table_hashes", "slice hashes (state)"),
        ("daix.engine.changes", "update_state", "find changed parts"),
        ("daix.engine.outputs:InputHashes", "result", "input content hashes (wait)"),
        ("daix.engine.state:StateHashes", "result", "slice hashes (wait)"),
        ("daix.engine.market", "build_price_grid", "price matrix"),
        ("daix.engine.backfill", "run_reviews", "reviews"),
        ("daix.engine.recalc_plan", "restore_books", "restore baskets"),
        ("daix.engine.state", "kept_books", "kept baskets"),
        ("daix.engine.backfill", "multi_levels", "levels (multi-asset)"),
        ("daix.engine.single", "TickStream", "single asset"),
        ("daix.engine.single", "single_levels", "single asset"),
        ("daix.engine.outputs", "build_tables", "build tables"),
        ("daix.engine.recalc_plan", "_load_previous", "read previous output"),
        ("daix.engine.recalc_plan", "_previous_tables", "read previous output"),
        ("daix.engine.recalc_plan", "_kept_grid", "kept price matrices"),
        ("daix.engine.recalc_plan", "_resume", "which reviews rerun"),
        ("daix.engine.recalc", "_merge", "merge with previous"),
        ("daix.engine.diff", "diff", "diff"),
        ("daix.engine.outputs", "manifest_for", "manifest"),
        ("daix.engine.state", "baskets_tables", "state baskets"),
        ("daix.engine.outputs", "write_backfill", "write outputs + state"),
    )

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._stack: list[float] = []
        self._main = threading.main_thread()

    def wrap(self, func: Callable, stage: str) -> Callable:
        clock = self

        @functools.wraps(func)
        def timed(*args, **kwargs):
            if threading.current_thread() is not clock._main:
                return func(*args, **kwargs)
            clock._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                inner = clock._stack.pop()
                clock.totals[stage] += elapsed - inner
                if clock._stack:
                    clock._stack[-1] += elapsed

        return timed

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Wrap every target that exists (the others are left out of the breakdown)."""
        import importlib

        for target, attr, stage in self.TARGETS:
            module, _, cls = target.partition(":")
            owner = importlib.import_module(module)
            if cls:
                owner = getattr(owner, cls, None)
            if owner is not None and hasattr(owner, attr):
                monkeypatch.setattr(owner, attr, self.wrap(getattr(owner, attr), stage))

    def take(self, total: float) -> dict[str, float]:
        """The stages since the last call, with ``other`` = ``total`` minus their sum."""
        out = dict(self.totals)
        out["other"] = total - sum(out.values())
        self.totals.clear()
        return out


# --- data ---------------------------------------------------------------------------------------


def timed(func: Callable, *args) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = func(*args)
    return time.perf_counter() - t0, value


def history_span(prices_path: Path) -> tuple[int, int]:
    """(first, last) ``ts`` of a prices Parquet file in ns, from its row-group statistics."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(prices_path).metadata
    k = meta.schema.to_arrow_schema().get_field_index("ts")
    lo, hi = [], []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(k).statistics
        lo.append(_ns(stats.min))
        hi.append(_ns(stats.max))
    return min(lo), max(hi)


def _ns(value: Any) -> int:
    if isinstance(value, (int, np.integer)):
        return int(value)
    import pandas as pd

    return int(pd.Timestamp(value).value)


def corrected_copy(data: Path, dest: Path, asset: str, window: str, day_ns: int) -> int:
    """``dest``: ``data`` with ``asset``'s ``window`` fixes in ``[day, day + 24h)`` scaled by
    ``SCALE``; other files hard-linked, ``prices.parquet`` rewritten row group by row group with
    the writer settings of ``synthesize``. Returns the number of rows changed."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from daix.writing import link_or_copy

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for p in data.iterdir():
        if p.is_file() and p.name != "prices.parquet":
            link_or_copy(p, dest / p.name)  # daix.io: a hard link, else a copy
    source = pq.ParquetFile(data / "prices.parquet")
    changed = 0
    tmp = dest / ".prices.parquet.tmp"
    with pq.ParquetWriter(tmp, source.schema_arrow, compression="zstd",
                          use_dictionary=["ts", "asset", "window"]) as writer:
        for g in range(source.num_row_groups):
            part = source.read_row_group(g)
            ts = part.column("ts").cast(pa.int64())
            hit = pc.and_(
                pc.and_(pc.greater_equal(ts, day_ns), pc.less(ts, day_ns + NS_PER_DAY)),
                pc.and_(pc.equal(part.column("asset").cast(pa.string()), asset),
                        pc.equal(part.column("window").cast(pa.string()), window)))
            n = pc.sum(hit.cast(pa.int64())).as_py() or 0
            if n:
                price = part.column("price")
                price = pc.if_else(hit, pc.multiply(price, SCALE), price)
                part = part.set_column(part.schema.get_field_index("price"), "price", price)
                changed += n
            writer.write_table(part)
    os.replace(tmp, dest / "prices.parquet")
    return changed


def make_data(path: Path, assets: int, years: float, seed: int) -> Path:
    """A prices-only synthetic data directory (SPEC §6.1)."""
    from daix.synth import synthesize

    synthesize(path, assets=assets, years=years, seed=seed, trades_days=0, defects=False)
    for p in path.glob("trades.*"):
        p.unlink()
    return path


# --- the two workloads -----------------------------------------------------------------------


def full_run(data: Path, out: Path, split: dict | None = None):
    """(f): ``backfill`` of every index + ``write_backfill``; ``split`` receives the seconds
    of each."""
    from daix.engine import outputs
    from daix.engine.backfill import backfill

    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    result = backfill(data, spool=out.parent)  # as ``daix backfill --out`` does
    t1 = time.perf_counter()
    outputs.write_backfill(result, out)
    if split is not None:
        split.update(compute=t1 - t0, write=time.perf_counter() - t1)
    return result


def recalc_run(data: Path, previous: Path, out: Path, split: dict | None = None):
    """(r): ``recalc`` against the previous output + ``write_recalc``; ``split`` receives the
    seconds of each."""
    from daix.engine.recalc import recalc, write_recalc

    t0 = time.perf_counter()
    res = recalc(data, previous)
    t1 = time.perf_counter()
    write_recalc(res, out, previous)
    if split is not None:
        split.update(compute=t1 - t0, write=time.perf_counter() - t1)
    return res


def slim(result) -> None:
    """Drop what a result holds beyond its tables (the cached inputs, the review books)."""
    result.dataset = None
    result.books = {}
    if hasattr(result, "state_hashes"):
        result.state_hashes = None


def same_tables(got, want) -> dict[str, bool]:
    return {name: getattr(got, name).equals(getattr(want, name)) for name in TABLES}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def recalc_data(tmp_path_factory) -> Path:
    """The synthetic data directory (generated once per session)."""
    given = os.environ.get("DAIX_BENCH_RECALC_DATA")
    if given and Path(given, "prices.parquet").exists():
        RESULTS["generate"] = 0.0
        return Path(given)
    path = tmp_path_factory.mktemp("recalc_data")
    seconds, _ = timed(make_data, path, N_ASSETS, YEARS, SEED)
    RESULTS["generate"] = seconds
    return path


@pytest.fixture(scope="session")
def recalc_warm(tmp_path_factory) -> float:
    """Seconds of a small backfill and recalc that compile (or load from the cache) every
    kernel."""
    root = tmp_path_factory.mktemp("recalc_warm")
    small = make_data(root / "data", 40, 1.5, 1)
    t0 = time.perf_counter()
    full_run(small, root / "prev")
    lo, hi = history_span(small / "prices.parquet")
    new = root / "new"
    assert corrected_copy(small, new, "BTC", "15m", CASES[0].day(lo, hi)) > 0
    recalc_run(new, root / "prev", root / "out")
    RESULTS["warm"] = time.perf_counter() - t0
    return RESULTS["warm"]


@pytest.fixture(scope="session")
def previous(recalc_data, recalc_warm, tmp_path_factory) -> Path:
    """The previous output: a full backfill of the original data, with ``state/``."""
    out = tmp_path_factory.mktemp("recalc_prev") / "out"
    seconds, result = timed(full_run, recalc_data, out)
    RESULTS["previous"] = seconds
    RESULTS["grid"] = (result.manifest["data"]["grid_start"], result.manifest["data"]["grid_end"])
    RESULTS["rows"] = result.manifest["data"]["price_rows"]["rows"]
    RESULTS["levels"] = result.levels.num_rows
    return out


# --- benchmarks --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_recalc_vs_full(benchmark, case, recalc_data, previous, tmp_path, monkeypatch, record):
    lo, hi = history_span(recalc_data / "prices.parquet")
    day = case.day(lo, hi)
    new = tmp_path / "data"
    changed = corrected_copy(recalc_data, new, ASSET, case.window, day)
    assert 20 <= changed <= 24  # the hourly fixes of one day (a few may be missing)
    clock = StageClock()
    clock.install(monkeypatch)
    rounds: list[dict] = []
    held: dict[str, Any] = {}

    def check() -> None:
        """Compare the last recalc with the full backfill of its round, then drop both."""
        if "recalc" in held:
            rounds[-1]["equal"] = same_tables(held.pop("recalc").result, held.pop("full"))

    def setup() -> None:
        check()
        gc.collect()
        reset_peak_rss()
        start = current_rss()
        clock.take(0.0)
        split: dict = {}
        seconds, full = timed(full_run, new, tmp_path / "full_out", split)
        rounds.append({"full": seconds, "full_rss": peak_rss() - start, "full_split": split,
                       "full_stages": clock.take(seconds),
                       "full_timings": full.manifest["timings_s"]})
        slim(full)
        held["full"] = full
        gc.collect()
        reset_peak_rss()
        rounds[-1]["start_rss"] = current_rss()

    def run() -> None:
        out = tmp_path / "recalc_out"
        if out.exists():
            shutil.rmtree(out)
        split: dict = {}
        seconds, res = timed(recalc_run, new, previous, out, split)
        r = rounds[-1]
        r.update(recalc=seconds, recalc_rss=peak_rss() - r["start_rss"], recalc_split=split,
                 recalc_stages=clock.take(seconds),
                 recalc_timings=res.result.manifest["timings_s"],
                 info=res.result.manifest["recalc"], diff=res.diff)
        slim(res.result)
        held["recalc"] = res

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    check()
    # SPEC §7.2: bit for bit the full backfill, every round.
    for r in rounds:
        assert r["equal"] == dict.fromkeys(TABLES, True), r["equal"]
    # The correction shows in the diff, only in indices the change reaches (SPEC §7.1).
    diff = rounds[-1]["diff"]
    changed_ids = [i for i, c in zip(diff.column("index").to_pylist(),
                                     diff.column("changed").to_pylist(), strict=True) if c]
    info = rounds[-1]["info"]
    assert changed_ids and set(changed_ids) <= set(info["reached_from"])
    assert [c[:2] for c in info["changes"]] == [["prices", f"{ASSET}|{case.window}"]]
    # SPEC §7.2: a price of one window reaches only indices of that window, and of the single
    # asset indices only the asset's own.
    from daix.catalogue import get_index

    for iid in info["reached_from"]:
        d = get_index(iid)
        assert d.window == case.window and (d.family != "single" or d.asset == ASSET), iid
    RESULTS[case.name] = rounds
    for line in report(case, day, changed, changed_ids).splitlines():
        record(f"recalc {case.name}:", line)


def _stages(stages: dict[str, float], total: float) -> str:
    top = sorted(stages.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.2f} ({v / total:.0%})" for k, v in top if v >= 0.005)


def report(case: Correction, day: int, changed: int, changed_ids: list[str]) -> str:
    """The summary lines of one case (see the module docstring)."""
    from daix.timeutil import ns_to_iso

    rounds: list[dict] = RESULTS[case.name]
    rec = [r["recalc"] for r in rounds]
    full = [r["full"] for r in rounds]
    ratios = [a / b for a, b in zip(rec, full, strict=True)]
    best = min(rounds, key=lambda r: r["recalc"])
    best_full = min(rounds, key=lambda r: r["full"])
    info = best["info"]
    gib = 2.0 ** 30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    reached = info["reached_from"]
    lines = [
        f"{N_ASSETS} assets x {YEARS:g} y, {RESULTS['rows']:,} price rows, grid "
        f"{RESULTS['grid'][0]} .. {RESULTS['grid'][1]}; {ASSET} {case.window} x {SCALE} on "
        f"{ns_to_iso(day)[:10]} ({changed} rows; load average {load} on {os.cpu_count()} CPUs)",
        f"  (f) backfill + write   min {min(full):6.2f} s   median "
        f"{statistics.median(full):6.2f} s",
        f"  (r) recalc + write     min {min(rec):6.2f} s   median "
        f"{statistics.median(rec):6.2f} s",
        f"  ratio (r)/(f)          min {min(ratios):6.3f}     median "
        f"{statistics.median(ratios):6.3f}     (target <= 0.1; rounds "
        f"{', '.join(f'{x:.3f}' for x in ratios)})",
        f"  changes {info['n_changes']} slice(s) {info['changes'][:3]}; reached "
        f"{len(reached)} indices, recomputed {len(info['recomputed'])}: "
        f"{', '.join(info['recomputed'])}",
        f"  changed in the diff: {len(changed_ids)} indices ({', '.join(changed_ids)})",
        f"  (r) fastest round: recalc {best['recalc_split']['compute']:.2f} s + write_recalc "
        f"{best['recalc_split']['write']:.2f} s; manifest timings_s: "
        f"{_fmt(best['recalc_timings'])}",
        f"  (r) exclusive stages (s): {_stages(best['recalc_stages'], best['recalc'])}",
        f"  (f) fastest round: backfill {best_full['full_split']['compute']:.2f} s + "
        f"write_backfill {best_full['full_split']['write']:.2f} s; manifest timings_s: "
        f"{_fmt(best_full['full_timings'])}",
        f"  (f) exclusive stages (s): {_stages(best_full['full_stages'], best_full['full'])}",
        f"  peak RSS above the start of a run: recalc "
        f"{max(r['recalc_rss'] for r in rounds) / gib:.2f} GiB, full "
        f"{max(r['full_rss'] for r in rounds) / gib:.2f} GiB; tables equal in "
        f"{sum(all(r['equal'].values()) for r in rounds)}/{len(rounds)} rounds",
        f"  previous backfill {RESULTS['previous']:.1f} s, warm-up {RESULTS['warm']:.1f} s, "
        f"data generated in {RESULTS['generate']:.1f} s",
    ]
    return "\n".join(lines)


def _fmt(timings: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
