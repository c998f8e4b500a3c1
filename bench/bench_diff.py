"""Micro benchmark of the per-index output diff (SPEC §7.1) that ``recalc`` reports.

Workload (``DAIX_BENCH_DIFF_ROWS`` changes the level rows): the previous output is 50 indices
(the catalogue ids) with 4.4 million level rows in all (hourly, 88,000 per index), 60
quarterly baskets of 25 members per index in ``constituents`` (75,000 rows) and as many review
rows, in chunks of 2**20 rows as read from Parquet; the new output is the same tables after a
correction, built as a recalc builds them (the rows of the reached indices replaced): 9 indices
have 40 consecutive levels moved (360 rows), 2 constituent rows and 2 review rows changed each.
Reported together:

- ``diff(prev, new, indices=...)`` with 14 indices named (the 9 changed and 5 unchanged), as
  recalc calls it; target < 0.2 s;
- ``diff(prev, new)`` comparing every index; target < 1 s;
- ``naive.diff_naive`` (plain Python dicts and sets, row by row) once, and the ratios to it.

The three are checked to give the same rows. Run with
``pytest bench/bench_diff.py --benchmark-only``; the numbers are in the summary at the end.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from naive import diff_naive

from daix.catalogue import CATALOGUE
from daix.engine.diff import diff

N_LEVELS = int(os.environ.get("DAIX_BENCH_DIFF_ROWS", 4_400_000))
N_BASKETS = 60
N_MEMBERS = 25
N_CHANGED = 9
N_NAMED = 14
MOVED_PER_INDEX = 40
START_NS = 1_388_534_400 * 1_000_000_000  # 2014-01-01 00:00 UTC
NS_PER_HOUR = 3_600_000_000_000
SEED = 7
RESULTS: dict[str, float] = {}


def make_outputs() -> tuple[dict, dict, list[str]]:
    """(previous output, new output, named indices) as described in the module docstring."""
    import pyarrow as pa

    from daix.schemas import arrow_schema

    rng = np.random.default_rng(SEED)
    ids = list(CATALOGUE)
    per = N_LEVELS // len(ids)
    ts = START_NS + np.arange(per, dtype=np.int64) * NS_PER_HOUR
    level = 1000.0 * np.exp(np.cumsum(rng.normal(0, 0.002, (len(ids), per)), axis=1))
    divisor = rng.uniform(1e6, 1e9, len(ids))
    status = np.where(np.arange(per) % 97 == 0, "indicative", "firm")
    basket_ts = START_NS + np.linspace(0, per - 1, N_BASKETS).astype(np.int64) * NS_PER_HOUR
    assets = [f"A{k:03d}" for k in range(200)]

    def levels_of(k: int, lv: np.ndarray) -> pa.Table:
        return pa.table({"index": pa.array([ids[k]] * per, pa.string()),
                         "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
                         "level": lv, "divisor": np.full(per, divisor[k]),
                         "status": pa.array(status, pa.string())})

    def constituents_of(k: int, weight: np.ndarray) -> pa.Table:
        n = N_BASKETS * N_MEMBERS
        return pa.table({"index": pa.array([ids[k]] * n, pa.string()),
                         "effective": pa.array(np.repeat(basket_ts, N_MEMBERS),
                                               pa.timestamp("ns", tz="UTC")),
                         "asset": pa.array([assets[(k + j) % 200] for j in range(n)]),
                         "rank": np.tile(np.arange(1, N_MEMBERS + 1), N_BASKETS),
                         "market_value": weight * 1e9, "supply": weight * 1e7,
                         "factor": np.ones(n), "weight": weight})

    def reviews_of(k: int, actions: list[str]) -> pa.Table:
        n = N_BASKETS * N_MEMBERS
        months = [f"{2014 + q // 4}-{3 * (q % 4) + 1:02d}" for q in range(N_BASKETS)]
        return pa.table({"index": pa.array([ids[k]] * n, pa.string()),
                         "review": np.repeat(months, N_MEMBERS).tolist(),
                         "asset": [assets[(k + j) % 200] for j in range(n)],
                         "action": actions, "reason": ["top by market value (SPEC §4.2)"] * n})

    n = N_BASKETS * N_MEMBERS
    weights = [rng.dirichlet(np.ones(N_MEMBERS), N_BASKETS).reshape(-1) for _ in ids]
    actions = ["keep"] * n
    changed = set(rng.choice(len(ids), N_CHANGED, replace=False).tolist())
    named = sorted(changed | set(rng.choice(sorted(set(range(len(ids))) - changed),
                                            N_NAMED - N_CHANGED, replace=False).tolist()))
    prev_parts: dict[str, list] = {"levels": [], "constituents": [], "reviews": []}
    new_parts: dict[str, list] = {"levels": [], "constituents": [], "reviews": []}
    for k in range(len(ids)):
        prev_parts["levels"].append(levels_of(k, level[k]))
        prev_parts["constituents"].append(constituents_of(k, weights[k]))
        prev_parts["reviews"].append(reviews_of(k, actions))
        if k in named:  # recomputed: new arrays, equal values unless corrected
            lv, w, act = level[k].copy(), weights[k].copy(), list(actions)
            if k in changed:
                at = int(rng.integers(0, per - MOVED_PER_INDEX))
                lv[at:at + MOVED_PER_INDEX] *= 1.0001
                w[[n // 2, n // 2 + 1]] *= 1.01
                act[n // 3] = act[n // 3 + 1] = "delete"
            new_parts["levels"].append(levels_of(k, lv))
            new_parts["constituents"].append(constituents_of(k, w))
            new_parts["reviews"].append(reviews_of(k, act))
        else:
            for name in new_parts:
                new_parts[name].append(prev_parts[name][-1])

    def tables(parts: dict, chunk_rows: int | None) -> dict:
        out = {name: pa.concat_tables(p).cast(arrow_schema(name, outputs=True))
               .combine_chunks() for name, p in parts.items()}
        if chunk_rows:  # as read back from Parquet: one chunk per row group
            out = {name: pa.Table.from_batches(t.to_batches(max_chunksize=chunk_rows),
                                               schema=t.schema) for name, t in out.items()}
        return out

    return tables(prev_parts, 1 << 20), tables(new_parts, None), [ids[k] for k in named]


@pytest.fixture(scope="module")
def outputs():
    return make_outputs()


def _rows(table) -> list[dict]:
    import pyarrow as pa

    table = table.set_column(2, "first_changed", table.column("first_changed").cast(pa.int64()))
    return table.to_pylist()


def _same_rows(got: list[dict], want: list[dict]) -> bool:
    def same(x, y) -> bool:
        return x == y or (isinstance(x, float) and isinstance(y, float)
                          and math.isnan(x) and math.isnan(y))

    return len(got) == len(want) and all(same(g[k], w[k]) for g, w in zip(got, want,
                                                                            strict=True)
                                         for k in w)


def test_diff_named(benchmark, outputs, record):
    prev, new, named = outputs
    result = benchmark.pedantic(lambda: diff(prev, new, indices=named), rounds=7, iterations=1,
                                warmup_rounds=1)
    RESULTS["named"] = benchmark.stats.stats.min
    RESULTS["named_median"] = benchmark.stats.stats.median
    rows = _rows(result)
    assert sum(r["changed"] for r in rows) == N_CHANGED
    assert sum(r["changed_levels"] for r in rows) == N_CHANGED * MOVED_PER_INDEX
    record("diff: indices=", f"{RESULTS['named']:.3f} s (median {RESULTS['named_median']:.3f} "
           f"s) with {len(named)} of {len(CATALOGUE)} indices named, "
           f"{prev['levels'].num_rows:,} level rows (target < 0.2 s)")


def test_diff_full(benchmark, outputs, record):
    prev, new, named = outputs
    result = benchmark.pedantic(lambda: diff(prev, new), rounds=5, iterations=1,
                                warmup_rounds=1)
    RESULTS["full"] = benchmark.stats.stats.min
    RESULTS["full_median"] = benchmark.stats.stats.median
    assert _same_rows(_rows(result), _rows(diff(prev, new, indices=named)))
    record("diff: every index", f"{RESULTS['full']:.3f} s (median {RESULTS['full_median']:.3f} "
           "s) (target < 1 s)")


def test_diff_naive_once(benchmark, outputs, record):
    prev, new, _ = outputs
    t0 = time.perf_counter()
    want = benchmark.pedantic(lambda: diff_naive(prev, new), rounds=1, iterations=1)
    seconds = time.perf_counter() - t0
    assert _same_rows(_rows(diff(prev, new)), want)
    text = f"{seconds:.2f} s once (plain Python dicts and sets)"
    if "full" in RESULTS:
        text += (f"; every index {seconds / RESULTS['full']:.0f}x faster, "
                 f"indices= {seconds / RESULTS['named']:.0f}x faster")
    record("diff: naive", text)
