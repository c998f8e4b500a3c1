"""Benchmark of how the backfill scales with the length of the history (SPEC §3-§6).

Workload: ``daix.synth.synthesize`` with 200 assets ending 2025-12-31, over 1, 4 and 16 years
(``DAIX_BENCH_SCALING_ASSETS``, ``DAIX_BENCH_SCALING_YEARS`` = ``"1,4,16"`` change them),
prices only (the trades file is removed). Each run is ``backfill(dir)`` of every index of the
catalogue on its official calendar + ``write_backfill``, in a fresh Python process, so that
its peak RSS is its own; the process first loads every kernel with a small backfill (the
Numba cache is filled beforehand by one such run) and resets its peak-RSS mark (Linux).

The work unit is the index-hour: for each index with levels, the hours from its first level to
the end of the price grid (``manifest["data"]["grid_end"]``), summed over the indices. Reported
per length (min and median over ``DAIX_BENCH_SCALING_ROUNDS`` rounds, each round running the
lengths one after the other): index-hours, seconds of ``backfill`` and of ``backfill`` +
``write_backfill``, microseconds per index-hour of both, whether the lengths lie within +-20%
of their mean (target), the manifest's stage timings, and the peak RSS of the run.

Run with ``pytest bench/bench_scaling.py --benchmark-only`` (the numbers are in the summary at
the end); the benchmark table times one round of the child processes, start-up included.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rss import peak_rss, reset_peak_rss

N_ASSETS = int(os.environ.get("DAIX_BENCH_SCALING_ASSETS", 200))
LENGTHS = tuple(float(y) for y in os.environ.get("DAIX_BENCH_SCALING_YEARS", "1,4,16").split(","))
ROUNDS = int(os.environ.get("DAIX_BENCH_SCALING_ROUNDS", 3))
END = "2025-12-31"
SEED = 0
TOLERANCE = 0.20
NS_PER_HOUR = 3_600_000_000_000
#: The line of a child's output that holds its result (JSON).
MARK = "daix-scaling-result "

RESULTS: dict[str, Any] = {}


# --- data ---------------------------------------------------------------------------------------


def make_data(path: Path, assets: int, years: float, seed: int = SEED) -> Path:
    """A prices-only synthetic data directory ending on ``END`` (SPEC §6.1)."""
    from daix.synth import synthesize

    synthesize(path, assets=assets, years=years, seed=seed, trades_days=0, end=END,
               defects=False)
    for p in path.glob("trades.*"):
        p.unlink()
    return path


def index_hours(levels, grid_end_ns: int) -> tuple[int, dict[str, float]]:
    """(sum, per index) of the hours from each index's first level to ``grid_end_ns``."""
    import pyarrow as pa

    first = levels.group_by("index").aggregate([("ts", "min")])
    ids = first.column("index").to_pylist()
    start = first.column("ts_min").cast(pa.int64()).to_pylist()
    per = {i: (grid_end_ns - t) / NS_PER_HOUR for i, t in zip(ids, start, strict=True)}
    return round(sum(per.values())), per


# --- the child process ---------------------------------------------------------------------------


def child(data: str, warm: str, out: str) -> dict[str, Any]:
    """One measured run (in a fresh process): warm up on ``warm``, then backfill ``data``."""
    import gc

    from daix.engine.backfill import backfill
    from daix.engine.outputs import write_backfill
    from daix.timeutil import parse_instant

    t0 = time.perf_counter()
    write_backfill(backfill(warm), Path(out) / "warm")
    load = time.perf_counter() - t0
    gc.collect()
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    result = backfill(data, spool=out)  # as ``daix backfill --out`` does
    t1 = time.perf_counter()
    write_backfill(result, Path(out) / "out")
    t2 = time.perf_counter()
    peak = peak_rss()
    grid_end = parse_instant(result.manifest["data"]["grid_end"])
    total, per = index_hours(result.levels, grid_end)
    return {"backfill": t1 - t0, "write": t2 - t1, "load": load, "peak_rss": peak,
            "peak_reset": reset, "index_hours": total, "indices": len(per),
            "levels": result.levels.num_rows, "grid_start": result.manifest["data"]["grid_start"],
            "grid_end": result.manifest["data"]["grid_end"],
            "price_rows": result.manifest["data"]["price_rows"].get("rows"),
            "timings": result.manifest["timings_s"]}


def run_child(data: Path, warm: Path, out: Path) -> dict[str, Any]:
    """:func:`child` in a fresh Python process; its result."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "child", str(data),
                           str(warm), str(out)], capture_output=True, text=True, check=False)
    lines = [x for x in proc.stdout.splitlines() if x.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"scaling run on {data} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len(MARK):])


# --- the benchmark --------------------------------------------------------------------------------


def test_backfill_scaling(benchmark, tmp_path_factory, record):
    if not LENGTHS:
        pytest.skip("no lengths given")
    root = tmp_path_factory.mktemp("scaling")
    warm = make_data(root / "warm", 30, 1.2, seed=1)
    t0 = time.perf_counter()
    run_child(warm, warm, root / "warm_out")  # fills the Numba cache for the measured runs
    RESULTS["warm"] = time.perf_counter() - t0
    data: dict[float, Path] = {}
    t0 = time.perf_counter()
    for years in LENGTHS:
        data[years] = make_data(root / f"data_{years:g}y", N_ASSETS, years)
    RESULTS["generate"] = time.perf_counter() - t0
    runs: dict[float, list[dict]] = {y: [] for y in LENGTHS}

    def one_round() -> None:
        for years in LENGTHS:
            runs[years].append(run_child(data[years], warm, root / f"out_{years:g}y"))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    for years in LENGTHS:
        first = runs[years][0]
        assert first["index_hours"] > 0 and first["levels"] > 0
        # Deterministic data: every round computes the same output.
        assert {(r["index_hours"], r["levels"]) for r in runs[years]} == {
            (first["index_hours"], first["levels"])}
        # At most every index for every hour of the grid.
        hours = (_ns(first["grid_end"]) - _ns(first["grid_start"])) / NS_PER_HOUR
        assert first["index_hours"] <= first["indices"] * hours + 1
    work = [runs[y][0]["index_hours"] for y in LENGTHS]
    assert work == sorted(work) and len(set(work)) == len(work)  # longer history, more work
    RESULTS["runs"] = runs
    for line in report().splitlines():
        record("scaling:", line)


def _ns(iso: str) -> int:
    from daix.timeutil import parse_instant

    return parse_instant(iso)


def spread(values: list[float]) -> float:
    """Largest relative distance from the mean."""
    mean = statistics.fmean(values)
    return max(abs(v / mean - 1.0) for v in values)


def report() -> str:
    """The summary lines (see the module docstring)."""
    runs: dict[float, list[dict]] = RESULTS["runs"]
    gib = 2.0 ** 30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"{N_ASSETS} assets, history ending {END}, official calendars, every index; "
             f"{ROUNDS} round(s), min / median (load average {load} on {os.cpu_count()} CPUs)",
             f"  {'years':>5} {'indices':>7} {'index-hours':>12} {'price rows':>11} "
             f"{'backfill s':>15} {'+ write s':>15} {'us/index-hour':>15} "
             f"{'+ write':>15} {'peak RSS GiB':>12}"]
    per_min: dict[str, list[float]] = {"backfill": [], "total": []}
    per_med: dict[str, list[float]] = {"backfill": [], "total": []}
    for years, rs in runs.items():
        n = rs[0]["index_hours"]
        bf = [r["backfill"] for r in rs]
        tot = [r["backfill"] + r["write"] for r in rs]
        for key, xs in (("backfill", bf), ("total", tot)):
            per_min[key].append(min(xs) / n * 1e6)
            per_med[key].append(statistics.median(xs) / n * 1e6)
        lines.append(
            f"  {years:>5g} {rs[0]['indices']:>7} {n:>12,} {rs[0]['price_rows'] or 0:>11,} "
            f"{min(bf):>6.2f} / {statistics.median(bf):>6.2f} "
            f"{min(tot):>6.2f} / {statistics.median(tot):>6.2f} "
            f"{per_min['backfill'][-1]:>6.2f} / {per_med['backfill'][-1]:>6.2f} "
            f"{per_min['total'][-1]:>6.2f} / {per_med['total'][-1]:>6.2f} "
            f"{max(r['peak_rss'] for r in rs) / gib:>12.2f}")
    for key, label in (("backfill", "backfill"), ("total", "backfill + write")):
        s_min, s_med = spread(per_min[key]), spread(per_med[key])
        verdict = "within" if max(s_min, s_med) <= TOLERANCE else "NOT within"
        lines.append(f"  {label}: per index-hour {verdict} +-{TOLERANCE:.0%} of the mean "
                     f"(largest deviation {s_min:.1%} on the min, {s_med:.1%} on the median)")
    for years, rs in runs.items():
        fastest = min(rs, key=lambda r: r["backfill"])
        stages = ", ".join(f"{k} {v:.2f}" for k, v in fastest["timings"].items())
        lines.append(f"  {years:g} y stages (s): {stages}; write {fastest['write']:.2f}; "
                     f"kernel load in the child {fastest['load']:.1f}")
    reset = all(r["peak_reset"] for rs in runs.values() for r in rs)
    lines.append(f"  warm-up {RESULTS['warm']:.1f} s, data generated in "
                 f"{RESULTS['generate']:.1f} s; peak RSS "
                 f"{'of the run, reset after the warm-up' if reset else 'of the whole process'}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "child":
        print(MARK + json.dumps(child(*argv[1:])), flush=True)
        return 0
    print("usage: bench_scaling.py child DATA WARM OUT  (or run it with pytest)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
