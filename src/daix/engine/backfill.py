"""``backfill``: every index of the catalogue (or a chosen few) over the whole data (SPEC §3-§6).

Reviews run family by family in time order (baskets, review rows); then the levels kernel runs
over the dense hourly price matrix for every multi-asset index at once, and the single asset
indices read their fixes directly. Levels are path dependent, so ``start``/``end`` limit what
is returned, not what is computed (SPEC §4.1).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daix.catalogue import CATALOGUE, FAMILIES, IndexDef, catalogue, get_index
from daix.errors import ConfigError, InputError
from daix.io import DataSet
from daix.memory import gc_paused
from daix.timeutil import NS_PER_DAY, NS_PER_HOUR


@dataclass
class BackfillResult:
    """The tables of SPEC §6.3 and what the manifest records."""

    levels: Any  # pyarrow.Table
    constituents: Any
    reviews: Any
    manifest: dict
    books: dict = field(default_factory=dict, repr=False)
    dataset: Any = field(default=None, repr=False)  # the inputs, for state/ (SPEC §7)
    state_hashes: Any = field(default=None, repr=False)  # their hashes, being computed
    grid: Any = field(default=None, repr=False)  # the price matrices, kept in state/
    grid_source: Any = field(default=None, repr=False)  # window -> kept file it is equal to
    kept_books: Any = field(default=None, repr=False)  # recalc: state/ rows of books kept
    reads: Any = field(default=None, repr=False)  # what each review step read (state/)
    same_state: Any = field(default=None, repr=False)  # recalc: state/ files kept as they were


def select_indices(indices: Iterable[str] | None = None, family: str | None = None
                   ) -> list[IndexDef]:
    """The catalogue entries a run computes: the ids given, a family, or all (SPEC §5)."""
    if indices:
        chosen = [get_index(i) for i in indices]
        if family is not None:
            chosen = [d for d in chosen if d.family == family]
        return list(dict.fromkeys(chosen))
    return catalogue(family)


def backfill(data: Any, indices: Iterable[str] | None = None, start: Any = None,
             end: Any = None, hourly: bool = False, family: str | None = None,
             state: bool = True, spool: Any = None) -> BackfillResult:
    """Compute levels, constituents and reviews (SPEC §6.3) and return them as pyarrow tables.

    ``data`` is a data directory or a mapping of table name to pyarrow table (SPEC §6.1);
    ``indices`` ids of the catalogue (default: all, or all of ``family``); ``start``/``end``
    (ISO strings or ns) limit the levels returned; ``hourly`` computes every whole UTC hour
    with the official baskets and divisors (SPEC §5); ``state`` hashes the inputs for the
    ``state/`` a later recalc restarts from (SPEC §7). ``spool`` (a directory on the file system
    of the output to come): the hourly price matrices are saved to a file there while the
    reviews run, which :func:`daix.engine.outputs.write_backfill` links into ``state/``
    instead of writing them then; the file is removed with the result.
    """
    from daix import progress
    from daix.engine.outputs import InputHashes, build_tables, manifest_for

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = DataSet(data)
    defs = select_indices(indices, family)
    if not defs:
        raise ConfigError("no index selected")
    start_ns, end_ns = _bound(start), _bound(end, end_of_day=True)
    if start_ns is not None and end_ns is not None and start_ns > end_ns:
        raise ConfigError(f"start {start} is after end {end}: no level could be written")
    multi = [d for d in defs if d.family != "single"]
    # The input files are hashed in a background thread (the manifest's content hashes, and
    # the row groups' digests that state/ keeps), from the start: the checks that follow the
    # decoding of the prices use one core only.
    hashes = InputHashes(ds)
    # decoded by Arrow on every core; the keys are checked by the price grid, below
    prices, derived, fix_report = _prices(ds, check_keys=False)
    timings["read_prices"] = time.perf_counter() - t0
    # While the price matrix and the reviews run: the other tables are read and validated in
    # background threads.
    ds.prefetch(["fx", *(REVIEW_TABLES if multi else ())])
    # ... and the reference data of the reviews laid out from them (SPEC §3.2, §4.2, §4.5).
    from daix.engine.reference import Reference

    reference = (Reference.prepare(ds, any(d.family == "grayscale" for d in multi))
                 if multi else None)
    from daix.engine.market import AsOf, build_price_grid
    from daix.engine.single import TickStream, single_series
    from daix.engine.state import StateHashes

    # For state/ (SPEC §7), the slices of every table are hashed (prices first) in a background
    # thread, on the core the price matrix leaves free.
    state_hashes = StateHashes(ds) if state else None
    t = time.perf_counter()
    # The duplicate-key check of the prices (SPEC §6.2) is made by the grid on the way.
    grid = None
    if _has_hourly(prices):
        grid = build_price_grid(prices, ds.label("prices"), spool=spool if state else None,
                                check_keys=not derived)
        ds.keys_checked("prices", dictionary=True)
    elif not derived:
        ds.check_keys("prices", prices, dictionary=True)
    singles = [d for d in defs if d.family == "single"]
    ticks = TickStream(prices) if singles else None
    timings["price_matrix"] = time.perf_counter() - t
    # The decoded prices (80 million rows: 1.7 GB for 10 years of 500 assets) are done with
    # once their state hashes are made: they are let go before the forward fills, which then
    # reuse their pages.
    t = time.perf_counter()
    if state_hashes is not None:
        state_hashes.wait_prices()
    del prices
    ds.forget("prices")
    if grid is not None:
        for window in dict.fromkeys(d.window for d in multi):
            if window in grid.matrices:
                grid.filled(window)  # SPEC §3.8: every column's last price carried forward
    timings["forward_fill"] = time.perf_counter() - t
    fx = AsOf.from_table(ds.table("fx", required=False), "currency", "usd_per_unit")
    series = []
    books: dict[str, Any] = {}
    if multi:
        if grid is None:
            raise InputError("no hourly fixes in the prices table (SPEC §2.7)",
                             path=ds.label("prices"))
        t = time.perf_counter()
        from daix.engine.reads import ReadLog

        reads = ReadLog()
        books = run_reviews(ds, grid, multi, reads=reads, reference=reference)
        timings["reviews"] = time.perf_counter() - t
        t = time.perf_counter()
        series += multi_levels(grid, multi, books, hourly)
        timings["levels"] = time.perf_counter() - t
    skipped: dict[str, str] = {}
    realtime = None
    if singles:
        t = time.perf_counter()
        realtime = ticks.counts
        for d in progress.track(singles, "single asset indices"):
            s, why = single_series(d, grid, ticks, fx, hourly)
            if s is None:
                skipped[d.id] = why
            else:
                series.append(s)
        timings["single"] = time.perf_counter() - t
    for d in multi:
        if d.id in books and not books[d.id].baskets:
            skipped[d.id] = "no review with its cut-off and price time inside the data (SPEC §4.1)"
    t = time.perf_counter()
    levels, constituents, reviews = build_tables(series, books, start_ns, end_ns)
    timings["tables"] = time.perf_counter() - t
    t = time.perf_counter()
    inputs = hashes.result()
    timings["hash_wait"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    manifest = manifest_for(ds, defs, levels, constituents, reviews, timings, skipped,
                            dict(indices=[d.id for d in defs], start=start, end=end,
                                 hourly=hourly, family=family, derived_prices=derived),
                            grid, inputs=inputs, realtime=realtime,
                            derived_fixes=fix_report)
    result = BackfillResult(levels, constituents, reviews, manifest, books, ds)
    result.state_hashes = state_hashes
    result.grid = grid
    if multi:
        result.reads = reads.table()
    return result


#: The tables the reviews read (``Reference.from_dataset``), prefetched when there are reviews.
REVIEW_TABLES = ("supply", "universe", "lists", "assets", "volume", "deletions")


def _bound(value: Any, end_of_day: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    from daix.timeutil import parse_instant

    ns = parse_instant(str(value))
    if end_of_day and len(str(value).strip()) == 10:
        ns += NS_PER_DAY - 1
    return ns


def _has_hourly(prices) -> bool:
    """Whether some row is of the 15m or 1h window (no row scan when the dictionaries hold
    only those: then any non-null row is one)."""
    import pyarrow as pa

    from daix.engine.market import distinct_text

    col = prices.column("window")
    hourly = {"15m", "1h"}
    if pa.types.is_dictionary(col.type) and col.null_count < len(col) and all(
            set(c.dictionary.to_pylist()) <= hourly for c in col.chunks):
        return True
    return bool(hourly & set(distinct_text(col)))


def _prices(ds: DataSet, check_keys: bool = True):
    """(prices table, derived, report): the ``prices`` table, or hourly fixes derived from
    trades when it is absent (SPEC §8.2) with the report of their computation (trades read,
    rejected by reason, SPEC §2.3; None when the table was given). ``check_keys`` false: the
    table's duplicate-key check is left to the caller (:meth:`DataSet.table`)."""
    if ds.has("prices") or not ds.has("trades"):
        return ds.table("prices", dictionary=True, check_keys=check_keys), False, None
    import pyarrow.compute as pc

    from daix.fixes import compute_fixes

    trades = ds.table("trades")
    if trades.num_rows == 0:
        raise InputError("no prices table, and no trades to derive its hourly fixes from "
                         "(SPEC §8.2)", path=ds.label("trades"))
    lo, hi = pc.min_max(trades.column("ts").cast("int64")).values()
    start = (lo.as_py() // NS_PER_HOUR + 1) * NS_PER_HOUR
    end = (hi.as_py() // NS_PER_HOUR + 1) * NS_PER_HOUR
    result = compute_fixes(ds, start, end)
    fixes = result.table
    ok = pc.and_(pc.invert(fixes.column("stale")), pc.is_valid(fixes.column("price")))
    report = {k: v for k, v in result.report.items() if k != "seconds"}
    return fixes.filter(ok).select(["ts", "asset", "window", "price"]), True, report


@gc_paused()
def run_reviews(ds: DataSet, grid, defs: list[IndexDef], restore=None,
                reads=None, reference=None) -> dict[str, Any]:
    """Every review of every multi-asset index in ``defs``, family by family (SPEC §4).

    The cycle collector is paused meanwhile: the reviews make many small dicts and rows and
    no cycles, and its passes over them cost about 8% of their CPU time.

    ``reference``: the future of :meth:`daix.engine.reference.Reference.prepare` (else the
    reference tables are read here). ``restore`` (recalc, SPEC §7.2) fills books with kept
    baskets and returns, per restored index, the instant from which its events run again
    (:data:`daix.engine.reads.FINAL` or later: none; a Grayscale index is restored whole or
    not at all). ``reads``
    (a :class:`daix.engine.reads.ReadLog`) notes the prices each review step reads.
    """
    from daix import progress
    from daix.calendars import review_events
    from daix.engine.context import Book, Context
    from daix.engine.custom import custom_review
    from daix.engine.grayscale import grayscale_family
    from daix.engine.reads import FINAL, GRAYSCALE
    from daix.engine.reference import Reference
    from daix.engine.select import select_review

    needs_volume = any(d.family == "grayscale" for d in defs)
    ref = (reference.result() if reference is not None
           else Reference.from_dataset(ds, needs_volume=needs_volume))
    ctx = Context(grid, ref)
    ctx.reads = reads
    books = {d.id: Book(d, ctx) for d in defs}
    resume = restore(books) if restore is not None else {}
    lo = grid.grid_start - 62 * NS_PER_DAY
    for fam in progress.track([f for f in FAMILIES if f != "single"], "reviews"):
        fam_books = {i: b for i, b in books.items() if b.index.family == fam}
        if not fam_books:
            continue
        events = sorted(review_events(fam, lo, grid.grid_end), key=lambda ev: ev.effective)
        if fam == "grayscale":
            if not all(resume.get(i, 0) >= FINAL for i in fam_books):  # not restored whole
                _note(reads, GRAYSCALE, 0)
                grayscale_family(ctx, fam_books, events)
        else:
            step = custom_review if fam == "custom" else select_review
            for book in fam_books.values():
                since = resume.get(book.index.id)
                for ev in events:
                    if not ctx.computable(ev) or (since is not None and ev.effective < since):
                        continue
                    _note(reads, book.index.id, ev.effective)
                    book.apply_deletions(before=ev.effective)
                    step(book, ev)
        for book in fam_books.values():
            _note(reads, book.index.id if fam != "grayscale" else GRAYSCALE,
                  FINAL if fam != "grayscale" else 0)
            book.apply_deletions(before=None)
    _note(reads, None, 0)
    return books


def _note(reads, index: str | None, step: int) -> None:
    """Note the reads that follow under ``(index, step)`` (none after ``index`` None)."""
    if reads is not None:
        reads.key = None if index is None else (index, int(step))


def multi_levels(grid, defs: list[IndexDef], books: dict[str, Any], hourly: bool) -> list:
    """Levels of the multi-asset indices through the levels kernel (SPEC §3.1, §3.5-§3.8)."""
    from daix.calendars import calculation_times, is_official
    from daix.engine.levels import Basket as KBasket
    from daix.engine.levels import compute_levels
    from daix.engine.single import SeriesLevels

    out = []
    by_window: dict[str, list[IndexDef]] = {}
    for d in defs:
        if books[d.id].baskets:
            by_window.setdefault(d.window, []).append(d)
    col = grid.asset_index
    for window, group in by_window.items():
        calc, baskets, times_all = [], [], []
        for d in group:
            kb = []
            for b in books[d.id].baskets:
                if b.close is None:
                    start, link = grid.row(b.effective), -1
                else:
                    link = grid.row(b.close)
                    start = link + 1
                if start >= grid.n_rows:
                    break
                arrays = getattr(b, "arrays", None)  # a kept basket has them ready
                if arrays is not None:
                    assets, units = arrays
                else:
                    assets = np.array([col[a] for a in b.members], dtype=np.int64)
                    units = np.array([b.units(a) for a in b.members], dtype=np.float64)
                kb.append(KBasket(start, link, assets, units))
            first = books[d.id].baskets[0].effective
            times = calculation_times(d, first, grid.grid_end, hourly=hourly)
            times_all.append(times)
            calc.append(grid.rows(times))
            baskets.append(kb)
        results = compute_levels(grid.matrix(window), calc, baskets,
                                 [d.base_value for d in group], [d.chain_linked for d in group],
                                 filled=grid.filled(window), fresh=grid.fresh_bits(window))
        for d, times, res in zip(group, times_all, results, strict=True):
            ok = res.status >= 0
            indicative = res.status == 1
            if hourly:
                indicative = indicative | ~is_official(d, times)
            out.append(SeriesLevels(d.id, times[ok], res.level[ok], res.divisor[ok],
                                    indicative[ok], int(times[0]) if len(times) else None))
    return out


__all__ = ["CATALOGUE", "BackfillResult", "backfill", "run_reviews", "select_indices"]
