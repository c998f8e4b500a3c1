"""Deterministic synthetic data: every input table of SPEC §6.1, for tests, demos and benchmarks.

For a seed the output is identical on every run. The history ends at 22:00 UTC on ``end`` and
starts ``years`` before (a whole number of days, so also at 22:00 UTC). It is built to exercise
every rule of SPEC §2-§4 and §8:

- ``assets``: the single asset tickers BTC, ETH, SOL, XRP, ADA, DOT, TON, XDC first, then
  ``A0009``...; sector and subsector codes cover every Custom and Grayscale code (SPEC §5) and
  one sector no index takes (704010).
- ``prices``: every whole UTC hour, both windows (``1h`` a slightly smoother ``15m``), from each
  asset's listing (some list partway); mean-reverting random walks with Student-t increments;
  market values spread log-normally from about $10M to $1T, BTC largest, ETH second, ranks
  moving enough for the Top 20 / Top 10 buffers and the Grayscale thresholds to bite. About
  one row in 10,000 is missing, a few assets miss whole days (one on a Grayscale review price
  date) and, with ``defects``, a handful of prices are null (SPEC §8.2).
- ``supply``: daily at 00:00 UTC, slowly growing, some token unlocks, all positive.
- ``volume``: daily USD volume; thin assets trade around the Grayscale ADTV floors, a late
  lister has under 21 days of record at its first review (SPEC §4.5).
- ``universe``, ``lists``, ``deletions``: see :mod:`daix.synth_lists`. The first lists are of the
  second quarterly review month, after the history starts (SPEC §4.2).
- ``fx``: hourly EUR (about 1.10), USDT and USDC (about 1.00; USDC de-pegs to about 0.88 for
  three days, on 10-13 March 2023 when the history holds it), from a day before the history.
- ``exchanges``: ``EX01``-``EX10``, valid from the history start except ``EX09`` (later) and
  ``EX10`` (which stops), both inside the trades period.
- ``trades``: the last ``trades_days`` days, on the ten exchanges in USD, USDT, USDC and EUR,
  around the hourly path; ``EX07`` is 5.5-9% off in about 12% of (hour, asset) windows. With
  ``defects``, a few trades have zero size or zero price or trade on an exchange (``EX99``)
  missing from the exchanges table: the fix rejects and counts them (SPEC §2.3).

``daix validate`` reports the deliberate row defects (null prices, invalid trades) as row
problems; ``defects=False`` leaves them out.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from daix.errors import ConfigError
from daix.synth_assets import DAYS_PER_YEAR, Plan, asset_ids, end_instant, make_plan
from daix.timeutil import NS_PER_DAY, NS_PER_HOUR, ns_to_iso, parse_instant

#: Tables in the order they are generated and reported.
TABLES = ("assets", "prices", "supply", "volume", "universe", "lists", "deletions", "fx",
          "exchanges", "trades")
FORMATS = ("parquet", "csv")
#: The real USDC de-peg, used when the history holds it.
USDC_DEPEG = "2023-03-10T20:00:00Z"
#: Independent random streams, so that e.g. the trades period does not change the prices.
_STREAMS = ("plan", "paths", "gaps", "volume", "lists", "universe", "fx", "venues", "trades",
            "nulls")


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}


def synthesize_tables(assets: int = 40, years: float = 3, seed: int = 0,
                      trades_days: float = 2, end: str = "2025-12-31",
                      defects: bool = True) -> dict[str, Any]:
    """Every SPEC §6.1 input table, in memory, with exactly the SPEC column types.

    Meant for small sizes (tests, demos); :func:`synthesize` streams large ones to disk.
    """
    import pyarrow as pa

    from daix.schemas import arrow_schema

    chunks: list = []
    tables, _ = _generate(assets, years, seed, trades_days, end, defects, chunks.append)
    prices = pa.concat_tables(chunks) if chunks else None
    tables["prices"] = _conform(prices, "prices")
    return {name: tables[name].cast(arrow_schema(name)) for name in TABLES}


def synthesize(out_dir: str | os.PathLike, assets: int = 40, years: float = 3, seed: int = 0,
               trades_days: float = 2, end: str = "2025-12-31", fmt: str = "parquet",
               defects: bool = True) -> dict[str, Any]:
    """Write every SPEC §6.1 table as ``<table>.parquet`` (or ``.csv``) into ``out_dir``.

    Each file is written under a temporary name and renamed into place; prices are streamed in
    row groups so memory stays bounded. A table file of the other format already in
    ``out_dir`` is an error (the directory would hold the table twice). Returns a summary:
    rows per table, the time range, the seconds taken.
    """
    from daix.progress import task
    from daix.writing import write_table

    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    _check(assets, years, seed, trades_days, end)
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".parquet" if fmt == "parquet" else ".csv"
    clash = [p.name for name in TABLES for p in (out / f"{name}.parquet", out / f"{name}.csv",
                                                 out / f"{name}.csv.gz", out / name)
             if p.exists() and p.name != f"{name}{suffix}"]
    if clash:
        raise ConfigError(f"{out} already holds {', '.join(clash)}; remove them or choose "
                          f"another directory (a table must be given once)")
    n_chunks = _n_chunks(years)
    rows: dict[str, int] = {}
    writer = _ChunkWriter(out / f"prices{suffix}", fmt)
    try:
        with task("synthetic prices", total=n_chunks) as advance:
            def sink(table) -> None:
                writer.write(table)
                advance(1)

            tables, plan = _generate(assets, years, seed, trades_days, end, defects, sink)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    rows["prices"] = writer.rows
    for name in TABLES:
        if name == "prices":
            continue
        write_table(tables[name], out / f"{name}{suffix}")
        rows[name] = tables[name].num_rows
    return {
        "dir": str(out),
        "format": fmt,
        "assets": assets,
        "seed": seed,
        "start": ns_to_iso(plan.start_ns),
        "end": ns_to_iso(plan.end_ns),
        "rows": {name: rows[name] for name in TABLES},
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _check(assets: int, years: float, seed: int, trades_days: float, end: str) -> None:
    """Refuse bad arguments before any work (ConfigError)."""
    if not isinstance(assets, (int, np.integer)) or assets < 1:
        raise ConfigError(f"assets must be a positive integer, got {assets!r}")
    if not (years > 0 and math.isfinite(years)) or round(years * DAYS_PER_YEAR) < 1:
        raise ConfigError(f"years must cover at least one day, got {years}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not (trades_days >= 0 and math.isfinite(trades_days)):
        raise ConfigError(f"trades_days must be zero or more, got {trades_days}")
    if trades_days > round(years * DAYS_PER_YEAR):
        raise ConfigError(f"trades_days ({trades_days}) is longer than the history "
                          f"({round(years * DAYS_PER_YEAR)} days)")
    end_instant(end)


def _n_chunks(years: float) -> int:
    from daix.synth_market import CHUNK_HOURS

    return max(1, math.ceil((24 * round(years * DAYS_PER_YEAR) + 1) / CHUNK_HOURS))


def _generate(assets: int, years: float, seed: int, trades_days: float, end: str,
              defects: bool, sink: Callable[[Any], None]) -> tuple[dict[str, Any], Plan]:
    """Generate every table; price chunks go to ``sink``, the rest is returned."""
    import pyarrow as pa

    from daix.synth_lists import make_deletions, make_lists, make_universe
    from daix.synth_market import (
        PricePaths,
        PriceRows,
        fx_rates,
        fx_table,
        supply_table,
        volume_table,
    )

    _check(assets, years, seed, trades_days, end)
    rngs = _rngs(seed)
    plan = make_plan(int(assets), years, int(seed), end, defects, rngs["plan"])
    tail_hours = math.ceil(trades_days * 24) + 1
    tail_h0 = max(0, plan.n_hours - 1 - tail_hours)
    tail = np.empty((plan.n_hours - tail_h0, plan.n_assets))
    snap = np.empty((plan.n_days + 1, plan.n_assets))
    rows = PriceRows(plan, rngs["gaps"], rngs["nulls"])
    for h0, c, lp15, lp1h in PricePaths(plan, rngs["paths"]).chunks():
        first = -(-h0 // 24) * 24
        days = np.arange(first, h0 + c.shape[0], 24)
        snap[days // 24] = c[days - h0]
        lo = max(h0, tail_h0)
        if lo < h0 + c.shape[0]:
            tail[lo - tail_h0:h0 + c.shape[0] - tail_h0] = c[lo - h0:]
        sink(rows.table(h0, lp15, lp1h))
    caps = np.exp(snap + plan.ln_supply)

    tables: dict[str, Any] = {"assets": pa.table({
        "asset": plan.ids, "name": plan.names, "sector": plan.sectors,
        "subsector": plan.subsectors})}
    tables["supply"] = supply_table(plan)
    tables["volume"] = volume_table(plan, caps, rngs["volume"])
    lists = make_lists(plan, caps, rngs["lists"])
    tables["lists"] = pa.table({
        "review": [r[0] for r in lists], "list": [r[1] for r in lists],
        "asset": [plan.ids[r[2]] for r in lists]}, schema=_schema("lists"))
    deletions = make_deletions(plan, caps, rngs["lists"], lists)
    tables["deletions"] = pa.table({
        "ts": pa.array([t for t, _ in deletions], pa.timestamp("ns", tz="UTC")),
        "asset": pa.array([plan.ids[a] for _, a in deletions], pa.string())})
    tables["universe"] = make_universe(plan, caps, deletions, rngs["universe"])

    fx_first = plan.start_ns - NS_PER_DAY
    n_fx = plan.n_hours + 24
    depeg = (parse_instant(USDC_DEPEG) - fx_first) // NS_PER_HOUR
    if not 24 <= depeg < n_fx - 72:
        depeg = 24 + int(0.45 * plan.n_hours)
    rates = fx_rates(rngs["fx"], n_fx, int(depeg))
    tables["fx"] = fx_table(fx_first, rates)
    tables.update(_exchanges_and_trades(plan, trades_days, tail_h0, tail, caps, fx_first,
                                        rates, rngs))
    return tables, plan


def _exchanges_and_trades(plan: Plan, trades_days: float, tail_h0: int, tail: np.ndarray,
                          caps: np.ndarray, fx_first: int, rates: dict, rngs: dict) -> dict:
    """Ten exchanges (one joining late, one leaving, SPEC §2.3) and the trades of the last
    ``trades_days`` days: about 12 x (market value / $1B)^0.4 trades an hour per asset,
    between 1 and 300."""
    from daix.synth_market import exchanges_table, make_trades, make_venues, minute_floor

    venues = make_venues(10, rngs["venues"])
    t_end = plan.end_ns
    t_start = t_end - round(trades_days * NS_PER_DAY)
    if t_end > t_start:
        joins, leaves = (minute_floor(t_start + f * (t_end - t_start)) for f in (0.25, 0.6))
    else:
        joins, leaves = (minute_floor(plan.start_ns + f * (t_end - plan.start_ns))
                         for f in (0.5, 0.8))
    valid_from = np.full(len(venues.names), plan.start_ns, dtype=np.int64)
    valid_from[8] = joins
    valid_to: list[int | None] = [None] * len(venues.names)
    valid_to[9] = leaves
    out = {"exchanges": exchanges_table(venues, valid_from, valid_to)}
    rng = rngs["trades"]
    list_ns = plan.start_ns + plan.list_hour * NS_PER_HOUR
    lo = np.maximum(t_start, list_ns)
    hours = np.maximum(0, t_end - lo) / NS_PER_HOUR
    rate = np.clip(12.0 * (caps[-1] / 1e9) ** 0.4, 1.0, 300.0)
    counts = rng.poisson(rate * hours)
    out["trades"] = make_trades(
        rng, ids=plan.ids, counts=counts, lo_ns=lo, hi_ns=t_end,
        hour0_ns=plan.start_ns + tail_h0 * NS_PER_HOUR, log_price=tail, fx_first_ns=fx_first,
        rates=rates, venues=venues, defects=plan.defects, sort=True)
    return out


def synthetic_trades(n_trades: int, n_assets: int = 50, n_exchanges: int = 10,
                     days: float = 30, seed: int = 0, start: str = "2025-01-01"
                     ) -> dict[str, Any]:
    """``{"trades", "fx", "exchanges"}`` for benchmarks of the reference price fix (SPEC §2).

    ``n_trades`` trades (unsorted) over ``days`` days from ``start`` (00:00 UTC), on
    ``n_assets`` assets (activity falling with rank) and ``n_exchanges`` exchanges in USD,
    USDT, USDC and EUR; one exchange is sometimes more than 5% off the others. No invalid
    trades; every exchange is vetted for the whole period.
    """
    if n_trades < 0 or n_assets < 1 or n_exchanges < 1 or not days > 0:
        raise ConfigError("synthetic_trades needs n_trades >= 0, n_assets >= 1, "
                          "n_exchanges >= 1 and days > 0")
    from daix.synth_market import (
        HOURS_PER_YEAR,
        exchanges_table,
        fx_rates,
        fx_table,
        make_trades,
        make_venues,
        student_t,
    )

    start_ns = parse_instant(start)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    n_hours = math.ceil(days * 24) + 1
    ids = asset_ids(n_assets)
    log_p0 = np.log(10 ** rng.uniform(-2.0, 3.0, n_assets))
    log_p0[0] = np.log(80_000.0)
    steps = student_t(rng, (n_hours, n_assets)) * (0.8 / np.sqrt(HOURS_PER_YEAR))
    log_price = log_p0 + np.cumsum(steps, axis=0)
    weight = 1.0 / np.arange(1, n_assets + 1) ** 0.9
    counts = rng.multinomial(int(n_trades), weight / weight.sum())
    fx_first = start_ns - NS_PER_DAY
    rates = fx_rates(rng, n_hours + 24, depeg_hour=None)
    venues = make_venues(n_exchanges, rng)
    end_ns = start_ns + round(days * NS_PER_DAY)
    trades = make_trades(
        rng, ids=ids, counts=counts, lo_ns=np.full(n_assets, start_ns), hi_ns=end_ns,
        hour0_ns=start_ns, log_price=log_price, fx_first_ns=fx_first, rates=rates,
        venues=venues, defects=False, sort=False)
    exchanges = exchanges_table(venues, np.full(n_exchanges, start_ns - NS_PER_DAY),
                                [None] * n_exchanges)
    return {"trades": trades, "fx": fx_table(fx_first, rates), "exchanges": exchanges}


def _schema(name: str):
    from daix.schemas import arrow_schema

    return arrow_schema(name)


def _conform(table, name: str):
    """Decode dictionary columns and cast to the SPEC §6.1 schema (an empty table if None)."""
    import pyarrow as pa

    schema = _schema(name)
    if table is None:
        return schema.empty_table()
    cols = []
    for field in schema:
        col = table.column(field.name)
        if pa.types.is_dictionary(col.type):
            col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], field.type)
        cols.append(col.cast(field.type))
    return pa.Table.from_arrays(cols, schema=schema)


class _ChunkWriter:
    """Writes a table chunk by chunk to a temporary file renamed into place on close.

    Chunks are written on a background thread (Arrow releases the GIL) while the next one is
    generated; at most two chunks wait, so memory stays bounded.
    """

    def __init__(self, path: Path, fmt: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.path, self.fmt = path, fmt
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        self.tmp = tmp
        self.writer: Any = None
        self.rows = 0
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: list = []

    def write(self, table) -> None:
        while len(self.pending) >= 2:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self._write, table))

    def _write(self, table) -> None:
        if self.fmt == "csv":
            table = _conform(table, "prices")
        if self.writer is None:
            if self.fmt == "csv":
                import pyarrow.csv as pcsv

                self.writer = pcsv.CSVWriter(self.tmp, table.schema)
            else:
                import pyarrow.parquet as pq

                self.writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd",
                                               use_dictionary=["ts", "asset", "window"])
        self.writer.write_table(table)
        self.rows += table.num_rows

    def _drain(self) -> None:
        while self.pending:
            self.pending.pop(0).result()

    def close(self) -> None:
        self._drain()
        self.pool.shutdown()
        if self.writer is None:  # no rows: still write a file with the schema
            self._write(_schema("prices").empty_table())
        self.writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True)
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def describe(summary: dict[str, Any]) -> str:
    """The summary of :func:`synthesize` as text, one table a line."""
    lines = [f"{summary['dir']}: {summary['assets']} assets, seed {summary['seed']}, "
             f"{summary['start']} .. {summary['end']} ({summary['format']})"]
    lines += [f"  {name:<10} {n:>14,} rows" for name, n in summary["rows"].items()]
    lines.append(f"  written in {summary['seconds']:.1f} s")
    return "\n".join(lines)


__all__ = ["TABLES", "describe", "synthesize", "synthesize_tables", "synthetic_trades"]
