"""Benchmark of the end-to-end backfill (SPEC §3-§6) against pyarrow reading and writing alone.

Workload: ``daix.synth.synthesize`` with 500 assets over 10 years (about 80 million hourly
prices of the 15m and 1h windows, 640 MB of Parquet, with supply, volume, universe, lists, fx
and deletions), generated once per session in a temporary directory (``DAIX_BENCH_ASSETS``,
``DAIX_BENCH_YEARS`` change the size; ``DAIX_BENCH_BACKFILL_DATA`` names an existing data
directory to use instead). Reported together:

- (a) ``backfill(dir)`` of every index of the catalogue + ``write_backfill`` (Parquet in,
  Parquet out), as ``daix backfill`` runs them: the price matrices built in a file beside the
  output (``spool``), which ``state/`` links;
- (b) pyarrow alone: ``pyarrow.parquet.read_table`` of every input table file the backfill
  reads, then writing the same three output tables as Parquet and the manifest;
- the ratio (a)/(b), each round of (a) paired with a run of (b) just before it, so that both
  see the same load on the machine; target <= 3. ``write_backfill`` also writes ``state/``
  (input hashes per key and month for ``recalc``, SPEC §7), which (b) has no counterpart for:
  the ratio is also given for the backfill with the SPEC §6.3 files only;
- the stage timings of the manifest (``timings_s``) of the fastest round, and the peak RSS
  of one backfill above the process's RSS when it starts (and of the pyarrow run, for scale;
  on Linux, where the peak can be reset).

Numba compilation (or loading the on-disk cache) is kept out of the timings by a small backfill
first. Run with ``pytest bench/bench_backfill.py --benchmark-only``; the numbers are in the
summary at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import pytest
from rss import current_rss, peak_rss, reset_peak_rss

N_ASSETS = int(os.environ.get("DAIX_BENCH_ASSETS", 500))
YEARS = float(os.environ.get("DAIX_BENCH_YEARS", 10))
ROUNDS = int(os.environ.get("DAIX_BENCH_ROUNDS", 3))
SEED = 0

#: The input tables a backfill from a ``prices`` table reads (SPEC §6.1); ``trades`` and
#: ``exchanges`` are only hashed for the manifest.
READ_TABLES = ("prices", "fx", "supply", "assets", "universe", "lists", "volume", "deletions")
OUTPUT_TABLES = ("levels", "constituents", "reviews")

RESULTS: dict[str, object] = {}


# --- the two workloads -----------------------------------------------------------------------


def input_files(data_dir: Path) -> list[Path]:
    """The Parquet files of the tables a backfill reads that are present in ``data_dir``."""
    return [data_dir / f"{n}.parquet" for n in READ_TABLES
            if (data_dir / f"{n}.parquet").exists()]


def pyarrow_read_write(files: list[Path], result, out: Path) -> int:
    """(b): pyarrow reads every input file, then writes the outputs of ``result``; the number
    of input rows read."""
    import pyarrow.parquet as pq

    rows = 0
    for path in files:
        rows += pq.read_table(path).num_rows
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_TABLES:
        pq.write_table(getattr(result, name), out / f"{name}.parquet", compression="zstd")
    (out / "manifest.json").write_text(json.dumps(result.manifest, indent=2, default=str))
    return rows


def end_to_end(data_dir: Path, out: Path, split: dict | None = None):
    """(a): every index of the catalogue from the data directory, written to ``out``;
    ``split`` receives the seconds of the backfill and of the writing."""
    from daix.engine.backfill import backfill
    from daix.engine.outputs import write_backfill

    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    result = backfill(data_dir, spool=out.parent)  # as ``daix backfill --out`` does
    t1 = time.perf_counter()
    write_backfill(result, out)
    if split is not None:
        split.update(backfill=t1 - t0, write=time.perf_counter() - t1)
    return result


def spec_outputs(result, tmp_path: Path) -> float:
    """Seconds to write only the SPEC §6.3 files of ``result`` (without the ``state/`` kept
    for recalculation, SPEC §7), for the ratio of the backfill proper."""
    import dataclasses

    from daix.engine.outputs import write_backfill

    if getattr(result, "dataset", None) is not None:
        result = dataclasses.replace(result, dataset=None)
    seconds, _ = timed(write_backfill, result, tmp_path / "spec_only_out")
    return seconds


def timed(func, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = func(*args)
    return time.perf_counter() - t0, value


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The synthetic data directory (generated once per session)."""
    given = os.environ.get("DAIX_BENCH_BACKFILL_DATA")
    if given and Path(given, "prices.parquet").exists():
        RESULTS["generate"] = 0.0
        return Path(given)
    from daix.synth import synthesize

    path = tmp_path_factory.mktemp("backfill_data")
    seconds, _ = timed(lambda: synthesize(path, assets=N_ASSETS, years=YEARS, seed=SEED,
                                          defects=False))
    RESULTS["generate"] = seconds
    return path


@pytest.fixture(scope="session")
def warm(tmp_path_factory) -> float:
    """Seconds of a small backfill that compiles (or loads from the cache) every kernel."""
    from daix.synth import synthesize

    small = tmp_path_factory.mktemp("backfill_warm")
    synthesize(small, assets=40, years=1.5, seed=1, defects=False)
    seconds, _ = timed(end_to_end, small, small.parent / "backfill_warm_out")
    RESULTS["warm"] = seconds
    return seconds


@pytest.fixture(scope="session")
def reference(data_dir, warm, tmp_path_factory):
    """A first full backfill: output tables for the pyarrow baseline to write, and the levels
    every later round must reproduce bit for bit."""
    out = tmp_path_factory.mktemp("backfill_ref") / "out"
    return end_to_end(data_dir, out)


# --- benchmarks --------------------------------------------------------------------------------


def test_pyarrow_read_write(benchmark, data_dir, reference, tmp_path):
    files = input_files(data_dir)
    rows = benchmark.pedantic(pyarrow_read_write, (files, reference, tmp_path / "out"),
                              rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert rows >= reference.manifest["data"]["price_rows"]["rows"]
    RESULTS["baseline_min"] = benchmark.stats.stats.min
    reset_peak_rss()
    start = current_rss()
    pyarrow_read_write(files, reference, tmp_path / "out")
    RESULTS["baseline_rss"] = peak_rss() - start


def test_backfill_end_to_end(benchmark, data_dir, reference, tmp_path, record):
    files = input_files(data_dir)
    out = tmp_path / "backfill_out"
    paired: list[float] = []  # baseline seconds just before each round
    rounds: list[dict] = []
    start: list[float] = []

    def setup():
        seconds, _ = timed(pyarrow_read_write, files, reference, tmp_path / "baseline_out")
        paired.append(seconds)
        reset_peak_rss()
        start.append(current_rss())

    def run():
        split: dict = {}
        seconds, result = timed(end_to_end, data_dir, out, split)
        rounds.append({"seconds": seconds, "rss": peak_rss() - start[-1],
                       "timings": {**result.manifest["timings_s"],
                                   "write_backfill": split["write"]},
                       "levels": result.levels.column("level"),
                       "spec_only": split["backfill"] + spec_outputs(result, tmp_path)})
        return result

    result = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    # Every round computes the same levels as the reference run, bit for bit.
    expect = reference.levels.column("level").to_numpy()
    for r in rounds:
        assert r["levels"].to_numpy().tobytes() == expect.tobytes()
    assert result.levels.num_rows > 0 and result.constituents.num_rows > 0
    assert {p.name for p in out.iterdir()} >= {"constituents.parquet", "levels.parquet",
                                               "manifest.json", "reviews.parquet"}
    RESULTS["rounds"] = rounds
    RESULTS["paired"] = paired
    RESULTS["rows"] = result.manifest["data"]["price_rows"]["rows"]
    RESULTS["input_bytes"] = sum(p.stat().st_size for p in files)
    for line in report().splitlines():
        record("backfill:", line)


def report() -> str:
    """The summary lines (see the module docstring)."""
    rounds: list[dict] = RESULTS["rounds"]  # type: ignore[assignment]
    paired: list[float] = RESULTS["paired"]  # type: ignore[assignment]
    e2e = [r["seconds"] for r in rounds]
    ratios = [a / b for a, b in zip(e2e, paired, strict=True)]
    spec = [r["spec_only"] for r in rounds]
    spec_ratios = [a / b for a, b in zip(spec, paired, strict=True)]
    fastest = min(rounds, key=lambda r: r["seconds"])
    gib = 2.0 ** 30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stages = ", ".join(f"{k} {v:.2f}" for k, v in fastest["timings"].items())
    lines = [
        f"{N_ASSETS} assets x {YEARS:g} y hourly: {RESULTS['rows']:,} price rows, "
        f"{RESULTS['input_bytes'] / 2**20:.0f} MiB of input Parquet "
        f"(load average {load} on {os.cpu_count()} CPUs)",
        f"  (b) pyarrow read + write   min {min(paired):6.2f} s   median "
        f"{statistics.median(paired):6.2f} s",
        f"  (a) backfill + write       min {min(e2e):6.2f} s   median "
        f"{statistics.median(e2e):6.2f} s",
        f"  ratio (a)/(b), per round   min {min(ratios):6.2f}     median "
        f"{statistics.median(ratios):6.2f}     (target <= 3; rounds "
        f"{', '.join(f'{x:.2f}' for x in ratios)})",
        f"  ratio of the fastest runs  {min(e2e) / min(paired):6.2f}     (the least disturbed "
        f"run of each; without state/ {min(spec) / min(paired):.2f})",
        f"  without state/ (SPEC §6.3 files only): min {min(spec):6.2f} s, ratio min "
        f"{min(spec_ratios):.2f}, median {statistics.median(spec_ratios):.2f}",
        f"  stages of the fastest round (s): {stages}",
        f"  peak RSS above the start of a round: backfill "
        f"{max(r['rss'] for r in rounds) / gib:.2f} GiB, pyarrow read + write "
        f"{RESULTS.get('baseline_rss', float('nan')) / gib:.2f} GiB",
        f"  warm-up backfill (compile or cache load) {RESULTS['warm']:.1f} s; data generated "
        f"in {RESULTS['generate']:.1f} s",
    ]
    return "\n".join(lines)
