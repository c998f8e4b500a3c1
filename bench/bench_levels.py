"""Benchmark of the levels kernels (SPEC §3.1, §3.5-§3.8) against same-run baselines.

Workload: a dense hourly price matrix of 10 years x 500 assets (random walks, a few NaN), 50
indices with quarterly baskets of 10-100 random members, most calculated daily (Sunday to
Friday, at the UTC hours of the catalogue's daily calendars), 8 hourly, a few chain-linked
(SPEC §3.6). Reported together:

- levels time / time of ``price.sum()`` (one pass over the matrix), target <= 5, with what the
  forward-fill pass produces given: the filled prices and the packed fresh mask;
- that pass on its own (``forward_fill_fresh``: forward fill and fresh mask in one pass over
  the prices), and the two together against the sum;
- compile time (first call in a new process with an empty Numba cache), and cache load;
- speed-up over the plain-Python reference on one year of a few indices (same inputs), and
  scaled up to the full workload, target >= 100.

Run with ``pytest bench/bench_levels.py --benchmark-only`` (the numbers are in the summary at the
end) or ``python bench/bench_levels.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from naive import levels_naive

from daix.engine.levels import Basket, compute_levels, forward_fill_fresh

YEARS = 10
N_ASSETS = 500
N_INDICES = 50
N_HOURLY = 8
N_CHAIN = 6
HOURS_PER_YEAR = 8766
SEED = 20240601
#: UTC hours of the catalogue's daily calendars (standard time), as often as they occur there:
#: 16:00 New York (21), 17:00 Berlin (16), 16:00 Hong Kong (8), 10:00 UTC, 13:00 New York (18),
#: 15:00 London.
DAILY_HOURS = [21] * 18 + [16] * 13 + [8] * 4 + [10] * 3 + [18] * 2 + [15]

RESULTS: dict[str, float] = {}


def make_workload(years: int = YEARS, n_assets: int = N_ASSETS, n_indices: int = N_INDICES,
                  seed: int = SEED) -> dict:
    """Random-walk prices, calendars and quarterly baskets (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_rows = years * HOURS_PER_YEAR
    steps = rng.standard_normal((n_rows, n_assets), dtype=np.float32) * np.float32(0.01)
    price = np.exp(np.cumsum(steps, axis=0, dtype=np.float64))
    price *= rng.uniform(0.1, 1000.0, n_assets)
    holes = rng.integers(0, price.size, price.size // 200)  # 0.5% missing fixes
    price.reshape(-1)[holes] = np.nan
    quarter = n_rows // (years * 4)
    calc_rows, baskets, chain = [], [], []
    for j in range(n_indices):
        hourly = j < N_HOURLY
        offset = int(rng.choice(DAILY_HOURS)) if not hourly else 0
        rows = np.arange(offset, n_rows, 1 if hourly else 24, dtype=np.int64)
        if not hourly:  # Sunday to Friday: drop every 7th day
            rows = rows[(np.arange(rows.size) % 7) != 6]
        calc_rows.append(rows)
        blist = []
        for q in range(years * 4):
            # E (first basket) or C + 1: the calculation row just before the quarter boundary.
            boundary = q * quarter
            k = int(np.searchsorted(rows, boundary)) - 1
            size = min(n_assets, int(rng.integers(10, 101)))
            assets = np.sort(rng.choice(n_assets, size, replace=False)).astype(np.int64)
            units = rng.uniform(0.5, 2.0, size) / np.nan_to_num(price[max(boundary, 0), assets],
                                                                nan=1.0)
            if q == 0:
                blist.append(Basket(int(rows[0]), -1, assets, units))
            else:
                c = int(rows[k])
                blist.append(Basket(c + 1, c, assets, units))
        baskets.append(blist)
        chain.append(N_HOURLY <= j < N_HOURLY + N_CHAIN)
    return {"price": price, "calc_rows": calc_rows, "baskets": baskets,
            "base": np.full(n_indices, 1000.0), "chain": np.array(chain)}


def _subset(w: dict, rows: int, picks: list[int]) -> dict:
    """The first ``rows`` grid rows of indices ``picks``."""
    calc, baskets = [], []
    for j in picks:
        calc.append(w["calc_rows"][j][w["calc_rows"][j] < rows])
        baskets.append([b for b in w["baskets"][j] if b.start_row < rows])
    return {"price": np.ascontiguousarray(w["price"][:rows]), "calc_rows": calc,
            "baskets": baskets, "base": w["base"][picks], "chain": w["chain"][picks]}


def _levels(w: dict, filled: np.ndarray | None = None, fresh: np.ndarray | None = None):
    return compute_levels(w["price"], w["calc_rows"], w["baskets"], w["base"], w["chain"],
                          filled=filled, fresh=fresh)


_COMPILE_SCRIPT = """
import json, time
import numpy as np
t0 = time.perf_counter()
from daix.engine.levels import Basket, compute_levels
t1 = time.perf_counter()
price = np.random.default_rng(0).uniform(1, 2, (300, 5))
res = compute_levels(price, [np.arange(0, 300, 3)], [[Basket(0, -1, np.arange(5), np.ones(5))]],
                     [1000.0], [True])
t2 = time.perf_counter()
assert np.isfinite(res[0].level).all()
print(json.dumps({"import": t1 - t0, "first_call": t2 - t1}))
"""


def compile_times() -> tuple[float, float]:
    """First call of ``compute_levels`` in a new process with an empty Numba cache (compile),
    then again in a new process with that cache filled (cache load)."""
    import json
    import os
    import subprocess
    import tempfile

    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, check=True,
                                  capture_output=True, text=True)
            out.append(json.loads(done.stdout.strip().splitlines()[-1])["first_call"])
    return out[0], out[1]


def _packed(w: dict, filled: np.ndarray) -> tuple:
    """The flat arguments of ``levels_nb`` for a workload (as ``compute_levels`` builds them)."""
    flat = [b for bl in w["baskets"] for b in bl]
    calc_off = np.r_[0, np.cumsum([r.size for r in w["calc_rows"]])].astype(np.int64)
    b_off = np.r_[0, np.cumsum([len(bl) for bl in w["baskets"]])].astype(np.int64)
    m_off = np.r_[0, np.cumsum([b.assets.size for b in flat])].astype(np.int64)
    return (filled, w["price"], calc_off, np.concatenate(w["calc_rows"]), b_off,
            np.array([b.start_row for b in flat], np.int64),
            np.array([b.link_row for b in flat], np.int64), m_off,
            np.concatenate([b.assets for b in flat]), np.concatenate([b.units for b in flat]),
            w["base"], w["chain"])


def naive_speedup(w: dict, picks: list[int]) -> tuple[float, float, float]:
    """(naive seconds, kernel seconds, scaled speed-up) on one year of ``picks``."""
    sub = _subset(w, HOURS_PER_YEAR, picks)
    rows_list = sub["price"].tolist()
    t0 = time.perf_counter()
    for j in range(len(picks)):
        levels_naive(rows_list, sub["calc_rows"][j], sub["baskets"][j], 1000.0,
                     bool(sub["chain"][j]))
    naive = time.perf_counter() - t0
    kernel = best_of(lambda: _levels(sub))
    # Scale the naive time to the whole workload: the reference walks every grid row of every
    # asset once per index, so its cost grows with grid rows x indices.
    scale = (w["price"].shape[0] / HOURS_PER_YEAR) * (len(w["calc_rows"]) / len(picks))
    full_kernel = RESULTS.get("levels", np.nan) + RESULTS.get("ffill", np.nan)
    return naive, kernel, naive * scale / full_kernel


def best_of(func, n: int = 7) -> float:
    """The fastest of ``n`` runs (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def report() -> str:
    import os

    import numba

    r = RESULTS
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"levels benchmark (10 y hourly x 500 assets, 50 indices; {numba.get_num_threads()} "
        f"threads, {numba.threading_layer()}; load average {load} on {os.cpu_count()} CPUs)",
        f"  price.sum()            {r['sum'] * 1e3:9.1f} ms",
        f"  ffill + fresh mask     {r['ffill'] * 1e3:9.1f} ms   "
        f"({r['ffill'] / r['sum']:.2f} x sum; one pass, both outputs new arrays)",
        f"  levels (both given)    {r['levels'] * 1e3:9.1f} ms   "
        f"({r['levels'] / r['sum']:.2f} x sum, target <= 5; filled prices and fresh mask "
        "given)",
        f"  ffill + levels         {(r['ffill'] + r['levels']) * 1e3:9.1f} ms   "
        f"({(r['ffill'] + r['levels']) / r['sum']:.2f} x sum; from the raw prices)",
        f"  compile (empty cache)  {r['compile']:9.2f} s    (first call in a new process)",
        f"  cache load             {r['first_call']:9.2f} s    (first call, cache filled)",
        f"  naive, 1 y x {int(r['naive_n'])} indices {r['naive']:7.2f} s    "
        f"compute_levels on the same {r['naive_kernel'] * 1e3:.1f} ms "
        f"({r['naive'] / r['naive_kernel']:.0f} x)",
        f"  naive scaled to all    {r['speedup']:9.0f} x    (vs ffill + levels; target >= 100)",
        "  (times: fastest of several runs)",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def workload() -> dict:
    w = make_workload()
    w["filled"], w["fresh"] = forward_fill_fresh(w["price"])
    _levels(w, w["filled"], w["fresh"])  # compile / warm up
    return w


def test_sum_baseline(benchmark, workload):
    benchmark(workload["price"].sum)
    RESULTS["sum"] = benchmark.stats.stats.min


def test_ffill(benchmark, workload):
    benchmark(forward_fill_fresh, workload["price"])
    RESULTS["ffill"] = benchmark.stats.stats.min


def test_levels(benchmark, workload):
    res = benchmark(_levels, workload, workload["filled"], workload["fresh"])
    assert np.isfinite(res[0].level).any()
    RESULTS["levels"] = benchmark.stats.stats.min


def test_compile_and_naive(benchmark, workload, record):
    RESULTS["compile"], RESULTS["first_call"] = compile_times()
    picks = [0, N_HOURLY, N_HOURLY + N_CHAIN]  # one hourly, one chain-linked daily, one daily
    naive, kernel, speedup = benchmark.pedantic(naive_speedup, (workload, picks), rounds=1)
    RESULTS.update(naive=naive, naive_kernel=kernel, speedup=speedup, naive_n=len(picks))
    for line in report().splitlines():
        record("levels:", line.strip())
    assert speedup > 1


def main() -> None:
    w = make_workload()
    w["filled"], w["fresh"] = forward_fill_fresh(w["price"])
    _levels(w, w["filled"], w["fresh"])

    RESULTS["sum"] = best_of(w["price"].sum)
    RESULTS["ffill"] = best_of(lambda: forward_fill_fresh(w["price"]))
    RESULTS["levels"] = best_of(lambda: _levels(w, w["filled"], w["fresh"]))
    RESULTS["compile"], RESULTS["first_call"] = compile_times()
    picks = [0, N_HOURLY, N_HOURLY + N_CHAIN]
    naive, kernel, speedup = naive_speedup(w, picks)
    RESULTS.update(naive=naive, naive_kernel=kernel, speedup=speedup, naive_n=len(picks))
    print(report())


if __name__ == "__main__":
    main()
