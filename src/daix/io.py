"""Reading and writing tables: validated inputs (SPEC §6.1-§6.2) and atomic outputs (SPEC §6.2).

A data directory holds one file per table, ``name.parquet`` or ``name.csv`` (a directory
``name/`` of Parquet files, hive-partitioned or not, is read as one dataset). :class:`DataSet`
reads a table once, checks it and returns it with the SPEC §6.1 column types: timestamps as
``timestamp[ns, tz=UTC]``, extra columns dropped. Fatal problems raise
:class:`daix.errors.InputError` naming the file, the column and example rows.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from daix.errors import ConfigError, InputError
from daix.schemas import INPUTS, TableSpec

#: How many example rows an error shows (SPEC §6.2).
MAX_EXAMPLES = 5


class DataSet:
    """The input tables of one data directory, or of an in-memory mapping of tables.

    ``DataSet("data/")`` finds ``trades.parquet``, ``prices.csv``... ;
    ``DataSet({"prices": table, ...})`` wraps pyarrow tables (or anything
    ``pyarrow.table()`` accepts) given by the caller. Tables are validated once and cached.
    """

    def __init__(self, source: str | os.PathLike | Mapping[str, Any] | DataSet) -> None:
        if isinstance(source, DataSet):
            self.root, self._given, self._cache = source.root, source._given, source._cache
            self._pending = source._pending
            self.checked = source.checked
            self._unchecked = source._unchecked
            self._locks = source._locks
            self._parts, self._parts_lock = source._parts, source._parts_lock
            return
        #: Tables whose bytes a previous run already checked for duplicate keys (a recalc
        #: sets it from the file digests of SPEC §7.2): that check is not repeated.
        self.checked: set[str] = set()
        #: Tables cached without their duplicate-key check (``table(check_keys=False)``): a
        #: later ``table()`` that wants it makes it then, unless ``keys_checked`` was called.
        self._unchecked: set[Any] = set()
        self._locks: dict[Any, threading.Lock] = {}  # per (name, dictionary), see table()
        self._cache: dict[Any, Any] = {}
        self._pending: dict[Any, Any] = {}  # (name, dictionary) -> Future of prefetch()
        self._parts: dict[str, list] = {}  # name -> [lock, FileParts | None, done]
        self._parts_lock = threading.Lock()
        if isinstance(source, Mapping):
            unknown = sorted(set(source) - set(INPUTS))
            if unknown:
                raise ConfigError(
                    f"unknown table name(s) {unknown}; tables are {', '.join(INPUTS)}"
                )
            self.root = None
            self._given = dict(source)
        else:
            self.root = Path(source)
            self._given = {}
            if not self.root.is_dir():
                raise InputError(f"data directory {self.root} does not exist or is not a directory")

    # --- discovery -------------------------------------------------------------------------
    def path(self, name: str) -> Path | None:
        """The file (or dataset directory) holding table ``name``, or None."""
        if self.root is None:
            return None
        found = [
            p for p in (self.root / f"{name}.parquet", self.root / f"{name}.csv",
                        self.root / f"{name}.csv.gz", self.root / name)
            if p.exists()
        ]
        if len(found) > 1:
            raise InputError(
                f"table '{name}' is given twice ({', '.join(p.name for p in found)}); keep one",
                path=str(self.root),
            )
        return found[0] if found else None

    def parts(self, name: str):
        """The row groups and digests of table ``name``'s file
        (:func:`daix.engine.digests.describe`), computed once per data set even when several
        threads ask at the same time; None for a directory or an in-memory table."""
        from daix.engine.digests import describe

        with self._parts_lock:
            entry = self._parts.setdefault(name, [threading.Lock(), None, False])
        with entry[0]:
            if not entry[2]:
                entry[1], entry[2] = describe(self.path(name)), True
        return entry[1]

    def has(self, name: str) -> bool:
        """Whether the table is present."""
        _spec(name)
        if self.root is None:
            return name in self._given
        return self.path(name) is not None

    def names(self) -> list[str]:
        """The SPEC §6.1 tables present, in SPEC order."""
        return [n for n in INPUTS if self.has(n)]

    def label(self, name: str) -> str:
        """How errors name the table's source: its path, or ``<name> (in memory)``."""
        p = self.path(name)
        return str(p) if p is not None else f"{name} (in memory)"

    # --- reading ---------------------------------------------------------------------------
    def table(self, name: str, required: bool = True, dictionary: bool = False,
              check_keys: bool = True):
        """The validated table ``name`` (SPEC §6.2), or None when absent and not required.

        With ``dictionary`` text columns stored dictionary-encoded (as Parquet writers do)
        stay encoded: the values are the same, without one Python-visible string per row.
        With ``check_keys`` false the duplicate-key check may be left out: the caller makes it
        on the way (and reports it with :meth:`keys_checked`) or does not depend on it.
        """
        key = (name, dictionary)
        # One thread at a time reads (or waits for) a table: the others then find it cached.
        with self._locks.setdefault(key, threading.Lock()):
            return self._table(name, key, required, check_keys)

    def _table(self, name: str, key: tuple[str, bool], required: bool, check_keys: bool):
        spec = _spec(name)
        dictionary = key[1]
        if key in self._cache:
            if check_keys and key in self._unchecked:
                self.check_keys(name, self._cache[key], dictionary)
            return self._cache[key]
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._cache[key] = pending.result()  # re-raises the reader's InputError here
            return self._cache[key]
        if not self.has(name):
            if not required:
                return None
            where = self.root if self.root is not None else "the tables given"
            raise InputError(
                f"missing table '{name}' (needed for {spec.needed_for}): expected {name}.parquet"
                f" or {name}.csv in {where}"
            )
        later = not check_keys and name not in self.checked
        table = self._load(name, dictionary, check_keys=not later)
        if later:
            self._unchecked.add(key)
        self._cache[key] = table
        return table

    def keys_checked(self, name: str, dictionary: bool = False) -> None:
        """Record that the cached table ``name`` has no duplicate key (its caller checked)."""
        self._unchecked.discard((name, dictionary))

    def check_keys(self, name: str, table, dictionary: bool = False) -> None:
        """The duplicate-key check of :func:`conform` on ``table`` (read as ``table(name,
        dictionary=dictionary)``); a duplicate raises InputError and drops the cached copy."""
        spec = _spec(name)
        if spec.key and name in KEYED_TABLES and name not in self.checked:
            try:
                check_unique(table, spec.key, self.label(name))
            except InputError:
                self._cache.pop((name, dictionary), None)
                self._unchecked.discard((name, dictionary))
                raise
        self.keys_checked(name, dictionary)

    def forget(self, name: str) -> None:
        """Drop the validated copies of table ``name`` read from a file, so that their memory
        can be reused (a later :meth:`table` reads the file again); tables given in memory
        stay."""
        if self.root is not None:
            for dictionary in (False, True):
                self._cache.pop((name, dictionary), None)
                self._unchecked.discard((name, dictionary))

    def _load(self, name: str, dictionary: bool, check_keys: bool = True):
        raw = self.raw(name, dictionary=dictionary)
        return conform(raw, _spec(name), self.label(name), keep_dictionary=dictionary,
                       check_keys=check_keys and name not in self.checked)

    def prefetch(self, names: Iterable[str], dictionary: Iterable[str] = ()) -> None:
        """Start reading and validating the tables ``names`` that are present, each in a
        background thread (Arrow and the kernels release the GIL); :meth:`table` then waits
        for its table and raises its errors. Tables named in ``dictionary`` are read as
        ``table(name, dictionary=True)`` reads them."""
        from concurrent.futures import ThreadPoolExecutor

        as_dictionary = set(dictionary)
        todo = [(n, n in as_dictionary) for n in dict.fromkeys(names)]
        todo = [k for k in todo if k not in self._cache and k not in self._pending
                and self.has(k[0])]
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=min(len(todo), 4),
                                  thread_name_prefix="daix-read")
        for key in todo:
            self._pending[key] = pool.submit(self._load, *key)
        pool.shutdown(wait=False)

    def raw(self, name: str, dictionary: bool = False):
        """The table as stored, before validation (file errors are InputError). With
        ``dictionary`` the text columns of a Parquet file are read dictionary-encoded."""
        import pyarrow as pa

        if self.root is None:
            value = self._given[name]
            return value if isinstance(value, pa.Table) else pa.table(value)
        path = self.path(name)
        assert path is not None
        return read_file(path, _spec(name), dictionary=dictionary)

    def dataset(self, name: str):
        """A ``pyarrow.dataset.Dataset`` over the table's files, for batch scanning."""
        import pyarrow.dataset as ds

        if self.root is None:
            return ds.dataset(self.raw(name))
        path = self.path(name)
        if path is None:
            raise InputError(f"missing table '{name}' in {self.root}")
        fmt = "csv" if path.name.endswith((".csv", ".csv.gz")) else "parquet"
        partitioning = "hive" if path.is_dir() else None
        try:
            return ds.dataset(str(path), format=fmt, partitioning=partitioning)
        except Exception as exc:
            raise InputError(f"cannot open as a {fmt} dataset: {exc}", path=str(path)) from exc


def read_table(source: str | os.PathLike, name: str | None = None):
    """Read and validate one table file; the table name defaults to the file's stem."""
    path = Path(source)
    if name is None:
        name = path.name.split(".")[0]
    spec = _spec(name)
    return conform(read_file(path, spec), spec, str(path))


def read_file(path: Path, spec: TableSpec | None = None, dictionary: bool = False):
    """Read a Parquet or CSV file (or a directory of Parquet files) as stored.

    A single Parquet file is read with only the columns of ``spec`` it holds (the others are
    dropped by validation anyway); with ``dictionary`` its text columns come dictionary-encoded
    (the codes of the file's pages, never one string per row).
    """
    import pyarrow as pa

    text = path.name
    try:
        if text.endswith((".csv", ".csv.gz")):
            import pyarrow.csv as pcsv

            # Read every known column as text: conform() converts with row-level errors.
            types = {c: pa.string() for c in spec.names} if spec is not None else None
            return pcsv.read_csv(str(path), convert_options=pcsv.ConvertOptions(
                column_types=types, strings_can_be_null=True))
        if path.is_dir():
            import pyarrow.dataset as ds

            return ds.dataset(str(path), format="parquet", partitioning="hive").to_table()
        import pyarrow.parquet as pq

        columns = read_dictionary = None
        if spec is not None:
            stored = pq.read_schema(str(path))
            columns = [c for c in spec.names if c in stored.names]
            if dictionary:
                read_dictionary = [c for c in columns if pa.types.is_string(
                    stored.field(c).type) or pa.types.is_large_string(stored.field(c).type)]
            if len(columns) < len(spec.names):
                columns = None  # read everything: the error names what is there
            elif dictionary:
                from daix import parquet_flat

                flat = parquet_flat.read_parquet_flat(path, columns, read_dictionary or [])
                if flat is not None:
                    return flat
        return pq.read_table(str(path), columns=columns, read_dictionary=read_dictionary or None)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, ValueError) as exc:
        kind = "CSV" if ".csv" in text else "Parquet"
        raise InputError(f"cannot read {kind} file (corrupt or not {kind}): {exc}",
                         path=str(path)) from exc


def _spec(name: str) -> TableSpec:
    if name not in INPUTS:
        raise ConfigError(f"unknown table '{name}'; tables are {', '.join(INPUTS)}")
    return INPUTS[name]


# --- validation and conversion (SPEC §6.2) ---------------------------------------------------


def conform(table, spec: TableSpec, label: str, keep_dictionary: bool = False,
            check_keys: bool = True):
    """Check ``table`` against ``spec`` and return it with exactly the SPEC §6.1 columns/types.

    Raises InputError for a missing column, a wrong type, a naive timestamp, an unknown enum
    value, a malformed review month or (unless ``check_keys`` is false) a duplicate key.
    Row-level problems the rules cover (SPEC §2.3, §3.8, §8.2) are left for the calculations
    to count.
    """
    import pyarrow as pa

    from daix.convert import convert_column

    missing = [c for c in spec.names if c not in table.column_names]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; table '{spec.name}' needs "
            f"{', '.join(spec.names)} (SPEC §6.1)",
            path=label, column=missing[0],
        )
    arrays = [convert_column(table.column(c), kind, label, c, keep_dictionary)
              for c, kind in spec.columns]
    out = pa.Table.from_arrays(arrays, names=spec.names)
    check_not_null(out, spec.not_null, label)
    for column, allowed in spec.enums.items():
        check_enum(out, column, allowed, label)
    if check_keys and spec.key and spec.name in KEYED_TABLES:
        # Codes from the stored dictionary columns where there are some: no string hashing.
        raw = {c: table.column(c) for c in spec.key
               if pa.types.is_dictionary(table.column(c).type)}
        check_unique(out, spec.key, label, raw)
    return out


#: Tables whose key must be unique: a duplicate would make the data ambiguous (SPEC §6.2).
KEYED_TABLES = ("prices", "supply", "fx", "universe", "assets", "volume")


def check_not_null(table, columns: tuple[str, ...], label: str) -> None:
    """Every row has a value in ``columns`` (SPEC §6.2: a row without its key or the name of
    its asset cannot be placed, so it is an error rather than a row to skip)."""
    import pyarrow.compute as pc

    for column in columns:
        col = table.column(column)
        if col.null_count:
            raise InputError(
                f"{col.null_count} row(s) with no {column}: every row needs one (SPEC §6.2)",
                path=label, column=column, rows=example_rows(table, pc.is_null(col)),
            )


def check_enum(table, column: str, allowed: tuple[str, ...], label: str) -> None:
    """Every non-null value of ``column`` is one of ``allowed`` (SPEC §6.2).

    A dictionary column is settled by its dictionaries where they hold only allowed values;
    otherwise by the values its rows use.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        from daix.convert import DictionaryChunks

        chunks = DictionaryChunks.of(col)
        ok = set(allowed) | {None}
        if all(v in ok for d in chunks.dictionaries for v in d) or chunks.used() <= ok:
            return
        col = col.cast(col.type.value_type)
    bad = pc.and_(pc.invert(pc.is_in(col, value_set=pa.array(allowed))), pc.is_valid(col))
    if pc.any(bad).as_py():
        raise InputError(
            f"unknown {column} value(s) {sorted(set(pc.filter(col, bad).to_pylist()))[:5]}; "
            f"allowed: {', '.join(allowed)}",
            path=label, column=column, rows=example_rows(table, bad),
        )


def check_unique(table, key: tuple[str, ...], label: str, raw: dict | None = None) -> None:
    """No two rows share ``key`` (SPEC §6.2: duplicate ``ts, asset, window`` in prices).

    Key columns become integer codes, chunk by chunk as the table holds them (no combined
    copy). Where the key space is dense (an hourly grid of assets and windows) one counting
    pass of ``daix.kernels.keys`` settles it; otherwise, or to list the offending rows once a
    duplicate is known, the codes are sorted. ``raw`` may give dictionary-encoded versions of
    key columns (the codes of the file), used instead of the table's.
    """
    import numpy as np
    import pyarrow as pa

    n = table.num_rows
    if n < 2:
        return
    raw = raw or {}
    keyed = pa.table({c: raw[c] if c in raw else table.column(c) for c in key})
    batches = keyed.to_batches()
    cols = [_KeyColumn.of([b.column(j) for b in batches]) for j in range(len(key))]
    if _dense_first_duplicate(cols, n) == -1:
        return
    cols64 = [c.codes() for c in cols]
    order = np.lexsort(cols64[::-1])
    same = np.ones(n - 1, dtype=bool)
    for c in cols64:
        sc = c[order]
        same &= sc[1:] == sc[:-1]
    if not same.any():
        return
    dup_rows = np.unique(np.concatenate([order[1:][same], order[:-1][same]]))
    n_keys = int(np.count_nonzero(same & ~np.r_[False, same[:-1]]))
    rows = example_rows(table, _mask(n, dup_rows[: 2 * MAX_EXAMPLES]))
    raise InputError(
        f"duplicate key ({', '.join(key)}): {n_keys} key(s) appear more than once",
        path=label, column=", ".join(key), rows=rows,
    )


#: Common steps of timestamp keys in ns (hour, 15 min, minute, 15 s, second, ms, us).
_STEPS = (3_600_000_000_000, 900_000_000_000, 60_000_000_000, 15_000_000_000, 1_000_000_000,
          1_000_000, 1_000)

#: The code of a null timestamp or integer key (below any real instant).
_NULL_KEY = -(2**62)


class _KeyColumn:
    """One key column as integer codes per chunk: values (timestamps, integers, dates), or
    dictionary indices with, per chunk, a lookup to codes shared by every chunk (empty when
    all chunks share one dictionary: the indices are the codes)."""

    def __init__(self, chunks: list, maps: list, width: int | None) -> None:
        self.chunks, self.maps, self.width = chunks, maps, width

    @classmethod
    def of(cls, arrays: list) -> _KeyColumn:
        import numpy as np
        import pyarrow as pa

        from daix.convert import DictionaryChunks, int64_chunk

        typ = arrays[0].type
        if pa.types.is_date(typ):
            arrays = [a.cast(pa.int32()) for a in arrays]
            typ = pa.int32()
        if pa.types.is_timestamp(typ) or pa.types.is_integer(typ):
            return cls([int64_chunk(a, _NULL_KEY) for a in arrays], [], None)
        chunks = DictionaryChunks.of(arrays)
        empty = np.zeros(0, dtype=np.int64)
        if len(chunks.dictionaries) == 1:
            return cls(chunks.indices, [empty] * len(arrays), len(chunks.dictionaries[0]))
        codes: dict = {}
        lookups = chunks.lookups(lambda v: codes.setdefault(v, len(codes)))
        return cls(chunks.indices, [lookups[k] for k in chunks.which], len(codes))

    def codes(self):
        """Every row's code, as one int64 array."""
        import numpy as np

        if not self.chunks:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([m[c] if len(m) else c.astype(np.int64) for c, m in
                               zip(self.chunks, self.maps or [()] * len(self.chunks),
                                   strict=True)])


def _dense_first_duplicate(cols: list[_KeyColumn], n: int) -> int | None:
    """A row at or before the first duplicated key (of a large chunk checked in parallel: the
    chunk's first row) via ``daix.kernels.keys`` when the key space is dense enough to count
    (at most 16 cells, 2 bytes of bitmap, a row), -1 when there is none, None when it cannot
    be counted."""
    import numpy as np

    from daix import memory
    from daix.kernels import options
    from daix.kernels.keys import divisible_nb, mark_keys_nb, mark_keys_parts_nb, min_max_nb

    if len(cols) > 3:
        return None
    empty = np.zeros(0, dtype=np.int64)
    args = []
    span = 1
    for col in cols:
        if col.width is not None:
            lo, step, width = 0, 1, col.width
            maps = col.maps
        else:
            found = [min_max_nb(c) for c in col.chunks if len(c)]
            lo, hi = min(f[0] for f in found), max(f[1] for f in found)
            step = 1
            if hi - lo >= _STEPS[-1]:
                for candidate in _STEPS:
                    if all(divisible_nb(c[:: max(1, len(c) // 256)], lo, candidate)
                           for c in col.chunks) and all(
                            divisible_nb(c, lo, candidate) for c in col.chunks):
                        step = candidate
                        break
            width = (hi - lo) // step + 1
            maps = [empty] * len(col.chunks)
        span *= int(width)
        if span > 16 * n + 8192:
            return None
        args.append((col.chunks, maps, int(lo), int(step), int(width)))
    while len(args) < 3:
        args.append((cols[0].chunks, [empty] * len(cols[0].chunks), 0, 1, 1))
    (k0, m0, lo0, st0, _), (k1, m1, lo1, st1, w1), (k2, m2, lo2, st2, w2) = args
    seen = memory.zeros((span + 63) // 64, np.uint64)  # one bit a key
    offset = 0
    threads = options.threads()
    for j in range(len(k0)):
        parts = min(threads, len(k0[j]) // PARALLEL_KEY_ROWS)
        if parts > 1:  # a large chunk: parts of its rows in parallel, each its own bitmap
            if mark_keys_parts_nb(seen, k0[j], m0[j], lo0, st0, k1[j], m1[j], lo1, st1, w1,
                                  k2[j], m2[j], lo2, st2, w2, len(cols), parts):
                return offset
        else:
            row = mark_keys_nb(seen, k0[j], m0[j], lo0, st0, k1[j], m1[j], lo1, st1, w1, k2[j],
                               m2[j], lo2, st2, w2, len(cols))
            if row >= 0:
                return offset + int(row)
        offset += len(k0[j])
    return -1


#: Chunks of at least twice this many rows are checked for duplicate keys in parallel parts.
PARALLEL_KEY_ROWS = 1 << 20



def _mask(n: int, rows):
    import numpy as np
    import pyarrow as pa

    m = np.zeros(n, dtype=bool)
    m[rows] = True
    return pa.array(m)


def example_rows(table, mask) -> list[str]:
    """Up to five rows of ``table`` where ``mask`` is true, with their row numbers."""
    import numpy as np
    import pyarrow.compute as pc

    idx = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
    idx = idx[:MAX_EXAMPLES]
    if not len(idx):
        return []
    from daix.convert import display_rows

    taken = display_rows(table.take(idx))
    return [f"row {int(i) + 1}: {_format_row(r)}" for i, r in zip(idx, taken, strict=True)]


def _format_row(row: dict) -> str:
    return ", ".join(f"{k}={v!s}" for k, v in row.items())
