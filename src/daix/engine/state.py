"""What a backfill keeps for a later ``recalc`` (SPEC §7): fine-grained input hashes and the
review state of every index, written under ``state/`` of the output directory.

- ``state/hashes.parquet``: one content hash per input table, key (asset, asset|window,
  currency, list...) and month, so that a recalc sees exactly which slices changed;
- ``state/baskets.parquet``: every basket of every multi-asset index (a checkpoint at each
  review, reset and deletion: E, C, kind, members with supply, factor, market value, weight,
  rank), from which a recalc restores an index just before its earliest change;
- ``state/rows.parquet``: the review rows, each with the E of the review, reset or deletion
  that wrote it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daix.engine.digests import FileParts
from daix.io import DataSet
from daix.memory import gc_paused
from daix.writing import link_or_copy

#: Per input table: (key columns, time column, value columns) of the hash groups.
HASH_LAYOUT: dict[str, tuple[tuple[str, ...], str | None, tuple[str, ...]]] = {
    "prices": (("asset", "window"), "ts", ("price",)),
    "supply": (("asset",), "ts", ("circulating_supply",)),
    "volume": (("asset",), "date", ("volume_usd",)),
    "fx": (("currency",), "ts", ("usd_per_unit",)),
    "trades": (("asset",), "ts", ("price", "size", "exchange", "quote")),
    "deletions": (("asset",), "ts", ()),
    "universe": (("asset",), "review", ("total_cap", "class", "liquidity_pass",
                                         "new_entrant")),
    "lists": (("list",), "review", ("asset",)),
    "assets": (("asset",), None, ("name", "sector", "subsector")),
    "exchanges": (("exchange",), None, ("valid_from", "valid_to")),
}


def _string_hash(value: str | None) -> int:
    if value is None:
        return 0x5BD1E995
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _codes(col) -> tuple[np.ndarray, list, int]:
    """(codes as stored, distinct values, the code of a null: ``len(values)``, or -1 when there
    is no null) of a text column."""
    from daix.engine.market import dictionary_codes

    idx, values = dictionary_codes(col)
    if values and values[-1] is None:
        return idx, values[:-1], len(values) - 1
    return idx, values, -1


def _as_int64(col) -> np.ndarray:
    """Row values as int64 bit patterns: numbers, instants, booleans, or text hashes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    t = col.type
    if pa.types.is_floating(t):
        if col.null_count:
            col = pc.fill_null(col, np.nan)
        return col.to_numpy().astype(np.float64, copy=False).view(np.int64)
    if pa.types.is_timestamp(t) or pa.types.is_integer(t):
        return pc.fill_null(col.cast(pa.int64()), -(2**63)).to_numpy()
    if pa.types.is_boolean(t):
        return pc.fill_null(col.cast(pa.int64()), 2).to_numpy()
    idx, values, _ = _codes(col)
    lookup = np.array([_string_hash(v) for v in values] + [_string_hash(None)], np.int64)
    return lookup[idx]  # a null (code len(values)) takes the last entry


def _when(table, column: str | None) -> tuple[np.ndarray, bool]:
    """(instants in ns, or days with the flag True) of a table's time column."""
    import pyarrow as pa

    n = table.num_rows
    if column is None:
        return np.zeros(n, dtype=np.int64), True
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        return col.cast(pa.int64()).to_numpy(), False
    if pa.types.is_date32(col.type):
        return col.cast(pa.int32()).to_numpy().astype(np.int64), True
    # Review months "YYYY-MM": the first day of the month.
    months = np.array(col.to_pylist(), dtype="datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64), True


def table_hashes(name: str, table, first_row: int = 0) -> list[tuple[str, str, str, int]]:
    """Rows (table, key, month, hash) of one input table, or of its rows from ``first_row``
    on (SPEC §7.2)."""
    keys, months, hashes = table_hash_columns(name, table, first_row)
    return list(zip([name] * len(keys), keys.tolist(), months.tolist(), hashes.tolist(),
                    strict=True))


@functools.lru_cache(maxsize=64)
def _key_text(values0: tuple, values1: tuple | None) -> np.ndarray:
    """The text of every key code (``a`` or ``a|b``), the same for every part that shares the
    dictionaries."""
    labels = [str(v) for v in values0]
    if values1 is not None:
        labels = [f"{a}|{b}" for a in labels for b in values1]
    return np.array(labels, dtype=object)


def table_hash_columns(name: str, table, first_row: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, months, hashes) of the slices of one input table, or of a part of it whose first
    row is row ``first_row`` of the table: text as object arrays, the hashes as int64 (SPEC
    §7.2)."""
    from daix.kernels.hashing import group_hash_nb, month_of_day_nb

    key_cols, when_col, value_cols = HASH_LAYOUT[name]
    if table.num_rows == 0:
        return (np.zeros(0, dtype=object), np.zeros(0, dtype=object),
                np.zeros(0, dtype=np.int64))
    when, is_days = _when(table, when_col)
    parts = [_codes(table.column(c)) for c in key_cols]  # one or two key columns
    (k0, values0, null0), (k1, values1, null1) = parts[0], parts[-1]
    n1 = len(values1) if len(parts) > 1 else 0
    key_text = _key_text(tuple(values0), tuple(values1) if n1 else None)
    n_keys = len(key_text)
    lo, hi = int(when.min()), int(when.max())
    unit = 1 if is_days else 86_400_000_000_000
    month_lo = int(month_of_day_nb(lo // unit))
    month_hi = int(month_of_day_nb(hi // unit))
    n_months = month_hi - month_lo + 1
    values = [_as_int64(table.column(c)) for c in value_cols]
    if name == "trades":
        # Row order matters for bit-identical fixes (sums in input order): bind each trade to
        # its position in the whole table, so that moving a part moves its hashes too.
        values = [*values[:3], values[3] ^ np.arange(first_row, first_row + len(when),
                                                     dtype=np.int64)]
    while len(values) < 4:
        values.append(when)
    sums = group_hash_nb(k0, null0, k1, null1, n1, when, is_days, month_lo, n_months, n_keys,
                         *values[:4], len(value_cols))
    nz = np.flatnonzero(sums)
    k, m = np.divmod(nz, n_months)
    month_text = np.array([f"{1970 + (month_lo + j) // 12:04d}-{(month_lo + j) % 12 + 1:02d}"
                           for j in range(n_months)], dtype=object)
    return key_text[k], month_text[m], sums.view(np.int64)[nz]


MASK64 = (1 << 64) - 1
#: Threads hashing the parts of a table.
HASH_THREADS = 2


def _wrap(x: int) -> int:
    """An integer as a signed 64-bit value (hash sums wrap modulo 2**64)."""
    x &= MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


def hash_rows_table(rows: list[tuple[str, str, str, int]], parts: list[int] | None = None):
    """(table, key, month, hash) rows as a table; with ``parts``, a ``part`` column too."""
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    data = {"table": pa.array(cols[0], pa.string()), "key": pa.array(cols[1], pa.string()),
            "month": pa.array(cols[2], pa.string()), "hash": pa.array(cols[3], pa.int64())}
    if parts is not None:
        data = {"table": data["table"], "part": pa.array(parts, pa.int32()),
                **{k: v for k, v in data.items() if k != "table"}}
    return pa.table(data)


def hashes_table(rows: list[tuple[str, str, str, int]]):
    return hash_rows_table(rows)


@dataclass
class TableState:
    """The slice hashes of one input table, per part of its file (SPEC §7.2).

    ``parts`` describes the file (None: the table is one part, hashed from its rows every
    time); ``part_hashes`` has one row per (part, key, month) with the sum of that part's row
    hashes; a slice's hash is the sum over the parts (modulo 2**64)."""

    name: str
    parts: FileParts | None
    part_hashes: Any  # pyarrow.Table: table, part, key, month, hash


def merge_parts(part_hashes):
    """The slice hashes summed over the parts (modulo 2**64), as a (table, key, month, hash)
    table; zero sums are no slice."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if part_hashes.num_rows == 0:
        return hashes_table([])
    part_hashes = part_hashes.combine_chunks()
    joined = pc.binary_join_element_wise(part_hashes.column("table"), part_hashes.column("key"),
                                         part_hashes.column("month"), "\x00")
    codes = pc.dictionary_encode(joined).combine_chunks().indices.to_numpy(
        zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    hashes = part_hashes.column("hash").to_numpy().view(np.uint64)[order]
    sums = np.add.reduceat(hashes, starts).view(np.int64)  # uint64 sums wrap
    keep = sums != 0
    first = order[starts][keep]
    out = part_hashes.select(["table", "key", "month"]).take(pa.array(first))
    return out.append_column("hash", pa.array(sums[keep], pa.int64()))


def table_state(name: str, ds: DataSet) -> TableState:
    """Hash a table part by part (row group by row group for a Parquet file): the table as the
    engine reads it, sliced at the row groups' boundaries (zero-copy)."""
    # (the prices' keys are checked by the backfill's price grid, which reads them too)
    table = ds.table(name, dictionary=name == "prices", check_keys=name != "prices")
    parts = ds.parts(name)
    if parts is not None and parts.kind == "parquet" and sum(parts.rows) == table.num_rows:
        from concurrent.futures import ThreadPoolExecutor

        starts = np.cumsum([0, *parts.rows]).tolist()
        # Parts side by side: the hashing kernel releases the GIL.
        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            got = list(pool.map(lambda k: table_hash_columns(name, table.slice(
                starts[k], parts.rows[k]), starts[k]), range(len(parts.rows))))
    else:
        if parts is not None and parts.kind == "parquet":
            parts = None  # rows do not line up with the file's row groups: no parts
        got = [table_hash_columns(name, table)]
    return TableState(name, parts, _part_table(name, got))


def _part_table(name: str, got: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """The (table, part, key, month, hash) table of the slices of each part, in part order."""
    import pyarrow as pa

    sizes = [len(g[0]) for g in got]
    n = sum(sizes)
    def cat(j, dtype):
        return (np.concatenate([g[j] for g in got]) if got
               else np.zeros(0, dtype=dtype))
    return pa.table({
        "table": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                pa.array([name])).cast(pa.string()),
        "part": pa.array(np.repeat(np.arange(len(got), dtype=np.int32), sizes), pa.int32()),
        "key": pa.array(cat(0, object), pa.string()),
        "month": pa.array(cat(1, object), pa.string()),
        "hash": pa.array(cat(2, np.int64), pa.int64())})


@dataclass
class InputState:
    """Slice hashes of every input table: per part (for the next recalc) and merged (the
    hashes per table, key and month)."""

    tables: dict[str, TableState]
    merged: Any  # pyarrow.Table: table, key, month, hash

    @classmethod
    def of(cls, tables: dict[str, TableState]) -> InputState:
        import pyarrow as pa

        parts = [t.part_hashes for t in tables.values()]
        return cls(tables, merge_parts(pa.concat_tables(parts)) if parts else hashes_table([]))


def input_state(ds: DataSet) -> InputState:
    """Hashes of every input table present (SPEC §7.2). Tables are taken as the engine reads
    them (prices with their dictionary codes), so nothing is read twice."""
    return InputState.of({name: table_state(name, ds) for name in HASH_LAYOUT if ds.has(name)})


class StateHashes:
    """:func:`input_state` computed in a background thread from construction on (the hashing
    kernel releases the GIL), so a backfill pays for it only while it is busy elsewhere. The
    prices are hashed first: :meth:`wait_prices` returns once they are, after which the
    backfill may let the decoded prices go. The slices are merged there too (a third of a
    second of Arrow compute on 10 years of 500 assets, while the reviews run)."""

    def __init__(self, ds: DataSet) -> None:
        from concurrent.futures import ThreadPoolExecutor

        names = [n for n in HASH_LAYOUT if ds.has(n)]  # prices first
        first, rest = names[:1], names[1:]
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="daix-state")
        self._first = pool.submit(lambda: {n: table_state(n, ds) for n in first})
        self._rest = pool.submit(lambda: {n: table_state(n, ds) for n in rest})
        # (one worker: the merge runs once both are done; it re-raises their errors)
        self._merged = pool.submit(
            lambda: InputState.of({**self._first.result(), **self._rest.result()}))
        pool.shutdown(wait=False)

    def wait_prices(self) -> None:
        """Wait until the first table (prices, when present) is hashed; its errors are raised
        by :meth:`result`."""
        from concurrent.futures import wait

        wait([self._first])

    def result(self) -> InputState:
        return self._merged.result()


@gc_paused()
def baskets_tables(books: dict):
    """The baskets and review rows of every book, each row tied to its basket (seq)."""
    import pyarrow as pa

    ts = pa.timestamp("ns", tz="UTC")
    b: dict[str, list] = {k: [] for k in ("index", "seq", "month", "kind", "effective", "close",
                                          "asset", "position", "supply", "factor",
                                          "market_value", "weight", "rank", "notes")}
    r: dict[str, list] = {k: [] for k in ("index", "effective", "review", "asset", "action",
                                          "reason")}
    for iid, book in books.items():
        for seq, basket in enumerate(book.baskets):
            members = basket.members or [None]  # an empty (suspended) basket keeps one row
            n = len(members)
            for k, v in (("index", iid), ("seq", seq), ("month", basket.month),
                         ("kind", basket.kind), ("effective", basket.effective),
                         ("close", basket.close), ("notes", "\n".join(basket.notes))):
                b[k] += [v] * n
            b["asset"] += members
            b["position"] += range(n)
            for k, values in (("supply", basket.supply), ("factor", basket.factor),
                              ("market_value", basket.market_value),
                              ("weight", basket.weight), ("rank", basket.rank)):
                b[k] += [None if a is None else values[a] for a in members]
        r["index"] += [iid] * len(book.rows)
        r["effective"] += book.row_effective
        for k in ("review", "asset", "action", "reason"):
            r[k] += [getattr(row, k) for row in book.rows]
    baskets = pa.table({**b, "effective": pa.array(b["effective"], pa.int64()).cast(ts),
                        "close": pa.array(b["close"], pa.int64()).cast(ts)},
                       schema=pa.schema([
                           ("index", pa.string()), ("seq", pa.int64()), ("month", pa.string()),
                           ("kind", pa.string()), ("effective", ts), ("close", ts),
                           ("asset", pa.string()), ("position", pa.int64()),
                           ("supply", pa.float64()), ("factor", pa.float64()),
                           ("market_value", pa.float64()), ("weight", pa.float64()),
                           ("rank", pa.int64()), ("notes", pa.string())]))
    rows = pa.table(r, schema=pa.schema([("index", pa.string()), ("effective", pa.int64()),
                                         ("review", pa.string()), ("asset", pa.string()),
                                         ("action", pa.string()), ("reason", pa.string())]))
    return baskets, rows


@dataclass
class KeptBasket:
    """A kept basket as the levels kernel reads it: E, C, and its members' grid columns and
    units (s*f, as :meth:`daix.engine.baskets.Basket.units` computes them)."""

    effective: int
    close: int | None
    arrays: tuple[np.ndarray, np.ndarray]


@dataclass
class KeptBook:
    """An index whose kept baskets all stand (SPEC §7.2): only its levels are computed."""

    baskets: list[KeptBasket]


def kept_books(baskets, ids: set[str], asset_index: dict[str, int]) -> dict[str, KeptBook]:
    """:class:`KeptBook` of each index of ``ids`` from ``state/baskets.parquet`` (rows of a
    basket in member order), members placed by ``asset_index`` (the price grid's columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {i: KeptBook([]) for i in ids}
    if not ids:
        return out
    mine = baskets.filter(pc.is_in(baskets.column("index"), value_set=pa.array(sorted(ids))))
    if mine.num_rows == 0:
        return out
    index = pc.dictionary_encode(mine.column("index")).combine_chunks()
    names = index.dictionary.to_pylist()
    code = index.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    seq = mine.column("seq").to_numpy().astype(np.int64)
    position = mine.column("position").to_numpy().astype(np.int64)
    order = np.lexsort((position, seq, code))
    code, seq = code[order], seq[order]
    asset = pc.dictionary_encode(mine.column("asset").take(pa.array(order))).combine_chunks()
    lookup = np.array([asset_index.get(a, -1) if a is not None else -1
                       for a in asset.dictionary.to_pylist()] + [-1], dtype=np.int64)
    acode = asset.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False)
    columns = lookup[acode]
    present = asset.is_valid().to_numpy(zero_copy_only=False)
    units = (mine.column("supply").to_numpy(zero_copy_only=False)[order]
             * mine.column("factor").to_numpy(zero_copy_only=False)[order])
    effective = mine.column("effective").cast(pa.int64()).to_numpy()[order]
    close_col = mine.column("close").cast(pa.int64()).take(pa.array(order))
    close_ok = close_col.is_valid().to_numpy(zero_copy_only=False)
    close = close_col.fill_null(0).to_numpy()
    bounds = np.flatnonzero(np.r_[True, (code[1:] != code[:-1]) | (seq[1:] != seq[:-1]), True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        keep = present[lo:hi]
        out[names[code[lo]]].baskets.append(KeptBasket(
            int(effective[lo]), int(close[lo]) if close_ok[lo] else None,
            (np.ascontiguousarray(columns[lo:hi][keep]),
             np.ascontiguousarray(units[lo:hi][keep], dtype=np.float64))))
    return out


def write_state(result, ds: DataSet, directory: Path, pool=None) -> None:
    """Write ``state/`` beside the SPEC §6.3 files (inside the temporary output directory):
    the slice hashes (merged and per part, with the files' part digests), the baskets and
    review rows, what each review step read (:mod:`daix.engine.reads`), and the hourly price
    matrices (:mod:`daix.engine.grid_store`). With ``pool`` (an executor) the Parquet files
    are encoded in its threads while the baskets are laid out here; all are written when
    this returns (or it raises a writer's error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from daix.engine.grid_store import save_grid

    writing = []

    def write(table, path: Path) -> None:
        if pool is None:
            pq.write_table(table, path)
        else:
            writing.append(pool.submit(pq.write_table, table, path))

    state = directory / "state"
    state.mkdir(exist_ok=True)
    pending = getattr(result, "state_hashes", None)
    inputs: InputState = pending.result() if pending is not None else input_state(ds)
    write(inputs.merged, state / "hashes.parquet")
    parts = [t.part_hashes for t in inputs.tables.values()]
    if parts:
        write(pa.concat_tables(parts), state / "part_hashes.parquet")
    (state / "parts.json").write_text(json.dumps(
        {n: (t.parts.to_json() if t.parts is not None else None)
         for n, t in inputs.tables.items()}))
    # Files a recalc that reran no review keeps as they were: linked, not written again.
    same = getattr(result, "same_state", None) or {}
    for name, src in same.items():
        link_or_copy(src, state / name)
    if "baskets.parquet" not in same:
        baskets, rows = baskets_tables(result.books)
        kept = getattr(result, "kept_books", None)
        if kept is not None:  # a recalc: the books it did not recompute, as kept before
            baskets = pa.concat_tables([kept[0], baskets.cast(kept[0].schema)])
            rows = pa.concat_tables([kept[1], rows.cast(kept[1].schema)])
        write(baskets, state / "baskets.parquet")
        write(rows, state / "rows.parquet")
    reads = getattr(result, "reads", None)
    if reads is not None and "reads.parquet" not in same:
        write(reads, state / "reads.parquet")
    grid = getattr(result, "grid", None)
    if grid is not None:
        save_grid(grid, state, kept=getattr(result, "grid_source", None))
    for job in writing:
        job.result()


def read_state(state: Path) -> tuple[Any, dict[str, FileParts | None], Any]:
    """(merged hashes, parts per table, part hashes) kept by a previous run; parts and part
    hashes are empty for an output written before they were kept."""
    import pyarrow.parquet as pq

    merged = pq.read_table(state / "hashes.parquet")
    parts: dict[str, FileParts | None] = {}
    if (state / "parts.json").exists():
        parts = {n: (FileParts.from_json(d) if d is not None else None)
                 for n, d in json.loads((state / "parts.json").read_text()).items()}
    part_hashes = (pq.read_table(state / "part_hashes.parquet")
                   if (state / "part_hashes.parquet").exists() else None)
    return merged, parts, part_hashes
