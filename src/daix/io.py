"""Reading and writing tables: validated inputs (SPEC §6.1-§6.2) and atomic outputs (SPEC §6.2).

A data directory holds one file per table, ``name.parquet`` or ``name.csv`` (a directory
``name/`` of Parquet files, hive-partitioned or not, is read as one dataset). :class:`DataSet`
reads a table once, checks it and returns it with the SPEC §6.1 column types: timestamps as
``timestamp[ns, tz=UTC]``, extra columns dropped. Fatal problems raise
:class:`daix.errors.InputError` naming the file, the column and example rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
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
            return
        self._cache: dict[str, Any] = {}
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
    def table(self, name: str, required: bool = True, dictionary: bool = False):
        """The validated table ``name`` (SPEC §6.2), or None when absent and not required.

        With ``dictionary`` text columns stored dictionary-encoded (as Parquet writers do)
        stay encoded: the values are the same, without one Python-visible string per row.
        """
        spec = _spec(name)
        key = (name, dictionary)
        if key in self._cache:
            return self._cache[key]
        if not self.has(name):
            if not required:
                return None
            where = self.root if self.root is not None else "the tables given"
            raise InputError(
                f"missing table '{name}' (needed for {spec.needed_for}): expected {name}.parquet"
                f" or {name}.csv in {where}"
            )
        raw = self.raw(name)
        table = conform(raw, spec, self.label(name), keep_dictionary=dictionary)
        self._cache[key] = table
        return table

    def raw(self, name: str):
        """The table as stored, before validation (file errors are InputError)."""
        import pyarrow as pa

        if self.root is None:
            value = self._given[name]
            return value if isinstance(value, pa.Table) else pa.table(value)
        path = self.path(name)
        assert path is not None
        return read_file(path, _spec(name))

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


def read_file(path: Path, spec: TableSpec | None = None):
    """Read a Parquet or CSV file (or a directory of Parquet files) as stored."""
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

        return pq.read_table(str(path))
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, ValueError) as exc:
        kind = "CSV" if ".csv" in text else "Parquet"
        raise InputError(f"cannot read {kind} file (corrupt or not {kind}): {exc}",
                         path=str(path)) from exc


def _spec(name: str) -> TableSpec:
    if name not in INPUTS:
        raise ConfigError(f"unknown table '{name}'; tables are {', '.join(INPUTS)}")
    return INPUTS[name]


# --- validation and conversion (SPEC §6.2) ---------------------------------------------------


def conform(table, spec: TableSpec, label: str, keep_dictionary: bool = False):
    """Check ``table`` against ``spec`` and return it with exactly the SPEC §6.1 columns/types.

    Raises InputError for a missing column, a wrong type, a naive timestamp, an unknown enum
    value, a malformed review month or a duplicate key. Row-level problems the rules cover
    (SPEC §2.3, §3.8, §8.2) are left for the calculations to count.
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
    for column, allowed in spec.enums.items():
        check_enum(out, column, allowed, label)
    if spec.key and spec.name in KEYED_TABLES:
        # Codes from the stored dictionary columns where there are some: no string hashing.
        raw = {c: table.column(c) for c in spec.key
               if pa.types.is_dictionary(table.column(c).type)}
        check_unique(out, spec.key, label, raw)
    return out


#: Tables whose key must be unique: a duplicate would make the data ambiguous (SPEC §6.2).
KEYED_TABLES = ("prices", "supply", "fx", "universe", "assets", "volume")


def check_enum(table, column: str, allowed: tuple[str, ...], label: str) -> None:
    """Every non-null value of ``column`` is one of ``allowed`` (SPEC §6.2)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        used = col.dictionary.take(pc.unique(pc.drop_null(col.indices)))
        if pc.all(pc.is_in(used, value_set=pa.array(allowed))).as_py() is not False:
            return
        col = col.dictionary_decode()
    bad = pc.and_(pc.invert(pc.is_in(col, value_set=pa.array(allowed))), pc.is_valid(col))
    if pc.any(bad).as_py():
        raise InputError(
            f"unknown {column} value(s) {sorted(set(pc.filter(col, bad).to_pylist()))[:5]}; "
            f"allowed: {', '.join(allowed)}",
            path=label, column=column, rows=example_rows(table, bad),
        )


def check_unique(table, key: tuple[str, ...], label: str, raw: dict | None = None) -> None:
    """No two rows share ``key`` (SPEC §6.2: duplicate ``ts, asset, window`` in prices).

    Key columns become integer codes. Where the key space is dense (an hourly grid of assets
    and windows) one counting pass of ``daix.kernels.keys`` settles it; otherwise, or to list
    the offending rows once a duplicate is known, the codes are sorted.
    """
    import numpy as np

    n = table.num_rows
    if n < 2:
        return
    raw = raw or {}
    cols = [_order_codes(raw[c] if c in raw else table.column(c), ordered=False) for c in key]
    if _dense_first_duplicate(cols, n) == -1:
        return
    cols64 = [c.astype(np.int64, copy=False) for c in cols]
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


def _dense_first_duplicate(cols, n: int) -> int | None:
    """Row of a duplicated key via ``daix.kernels.keys`` when the key space is dense enough to
    count (at most 4 cells a row), -1 when there is none, None when it cannot be counted."""
    from daix.kernels.keys import divisible_nb, first_duplicate_nb, min_max_nb

    if len(cols) > 3:
        return None
    args = []
    span = 1
    for c in cols:
        lo, hi = min_max_nb(c)
        step = 1
        if hi - lo >= _STEPS[-1]:
            for candidate in _STEPS:
                if divisible_nb(c[:: max(1, len(c) // 4096)], lo, candidate) and divisible_nb(
                        c, lo, candidate):
                    step = candidate
                    break
        width = (hi - lo) // step + 1
        span *= int(width)
        if span > 4 * n + 1024:
            return None
        args.append((c, lo, step, int(width)))
    while len(args) < 3:
        args.append((cols[0], 0, 1, 1))
    (c0, lo0, st0, _), (c1, lo1, st1, w1), (c2, lo2, st2, w2) = args
    return int(first_duplicate_nb(c0, lo0, st0, c1, lo1, st1, w1, c2, lo2, st2, w2,
                                  len(cols), span))


def _order_codes(col, ordered: bool = True):
    """int64 codes of a column; with ``ordered`` they sort as its values do (nulls first)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries()
            dictionary = col.chunk(0).dictionary if col.num_chunks else pa.array([], pa.string())
            indices = pa.chunked_array([c.indices for c in col.chunks],
                                       col.type.index_type).combine_chunks()
            col = pa.DictionaryArray.from_arrays(indices, dictionary)
        else:
            col = col.combine_chunks()
    if pa.types.is_date32(col.type):
        col = col.cast(pa.int32())
    if pa.types.is_timestamp(col.type) or pa.types.is_integer(col.type):
        col = col.cast(pa.int64())
        if col.null_count:
            col = pc.fill_null(col, -(2**62))
        return col.to_numpy()
    if pa.types.is_boolean(col.type) or pa.types.is_floating(col.type):
        return np.nan_to_num(pc.fill_null(col.cast(pa.float64()), -np.inf).to_numpy())
    enc = col if pa.types.is_dictionary(col.type) else col.dictionary_encode()
    idx = enc.indices
    if idx.null_count:
        idx = pc.fill_null(idx, -1)
    idx = idx.to_numpy()
    if not ordered:
        return idx  # any integer width: the kernels widen as they read
    ranks = np.argsort(np.argsort(np.asarray(enc.dictionary.to_pylist(), dtype=object)))
    return np.where(idx >= 0, ranks[np.maximum(idx, 0)], -1).astype(np.int64)


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


# --- writing (SPEC §6.2: nothing partial is ever left behind) -----------------------------


def write_table(table, path: str | os.PathLike) -> Path:
    """Write Parquet or CSV (by extension) under a temporary name, then rename into place."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        if target.name.endswith(".csv.gz"):
            import pyarrow as pa

            with pa.CompressedOutputStream(tmp, "gzip") as stream:
                pcsv.write_csv(table, stream)
        elif target.name.endswith(".csv"):
            pcsv.write_csv(table, tmp)
        elif target.suffix in (".parquet", ".pq"):
            pq.write_table(table, tmp, compression="zstd")
        else:
            raise ConfigError(f"cannot tell the format of '{target}': use .parquet or .csv")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block succeeds.

    An existing ``path`` is replaced when ``overwrite`` (the old one removed only after the
    new one is in place), else it is an error. On failure the temporary directory is removed.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise ConfigError(f"output directory {target} already exists")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"output path {target} exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                        dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
