"""Inputs of the reference price fixes (SPEC §2.1-§2.3, §6.2): trades batches, fx, exchanges.

:class:`TradeSource` reads the ``trades`` table as record batches (in memory, a Parquet file read
with its text columns as dictionaries, a CSV file or a dataset directory) and encodes each batch
as NumPy arrays: ``ts`` in int64 ns, asset, exchange and quote as dictionary codes (zero-copy for
dictionary columns, a Numba encoder for plain text, run on every text column and row range at
once), price and size as float64 (a null becomes NaN, which the rules reject). :class:`FxIndex`
and :class:`Vetting` lay out the fx rows and the vetted periods for the kernel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from daix.errors import InputError

#: Rows per batch when reading a file, and of a table in memory (results do not depend on
#: them; fewer, larger batches start the threads fewer times).
DEFAULT_BATCH_ROWS = 1 << 21
MEMORY_BATCH_ROWS = 1 << 22
#: Batches read ahead within a file of a dataset.
READAHEAD_BATCHES = 1
#: Text columns of at least this many rows are encoded in row ranges on several threads.
PARALLEL_ENCODE_ROWS = 1 << 16
TRADE_COLUMNS = ("ts", "asset", "exchange", "quote", "price", "size")
CODE_COLUMNS = ("asset", "exchange", "quote")
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _kernel():
    from daix.kernels import fixes

    return fixes


@dataclass
class Encoded:
    """One batch as NumPy arrays: codes index the batch's own dictionaries."""

    ts: Any
    codes: dict[str, Any]
    dictionaries: dict[str, list[str]]
    price: Any
    size: Any


class TradeSource:
    """The trades table as raw record batches: in memory, a Parquet file, a CSV or a dataset."""

    def __init__(self, ds, batch_rows: int | None, reuse_buffers: bool = False) -> None:
        self.ds = ds
        self.batch_rows = batch_rows
        #: encode into the same code buffers every batch (a batch is then valid until the next)
        self.reuse_buffers = reuse_buffers
        self._buffers: dict[str, Any] = {}
        self._text_bits: dict[str, int] = {}  # log2 of the slots of a column's table
        self.label = ds.label("trades")
        self.path = ds.path("trades") if ds.root is not None else None
        self.total_batches: int | None = None
        self._rows = 0
        if not ds.has("trades"):
            ds.table("trades")  # raises the standard "missing table" InputError
        self._check_columns(self._schema_names())

    def _schema_names(self) -> list[str]:
        if self.path is None:
            return self.ds.raw("trades").column_names
        if self._kind() == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(str(self.path)).schema_arrow.names
        if self._kind() == "csv":
            import pyarrow.csv as pcsv

            try:
                return pcsv.open_csv(str(self.path)).schema.names
            except Exception as exc:
                raise InputError(f"cannot read CSV file: {exc}", path=self.label) from exc
        return self.ds.dataset("trades").schema.names

    def _check_columns(self, names: list[str]) -> None:
        missing = [c for c in TRADE_COLUMNS if c not in names]
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(missing)}; table 'trades' needs "
                f"{', '.join(TRADE_COLUMNS)} (SPEC §6.1)", path=self.label, column=missing[0])

    def _kind(self) -> str:
        assert self.path is not None
        if self.path.is_dir():
            return "dataset"
        return "csv" if self.path.name.endswith((".csv", ".csv.gz")) else "parquet"

    def batches(self, columns: tuple[str, ...] = TRADE_COLUMNS) -> Iterator[Any]:
        """Raw record batches of ``columns``, in file order."""
        self._rows = 0
        rows = self.batch_rows or DEFAULT_BATCH_ROWS
        if self.path is None:
            yield from self._memory_batches(columns, self.batch_rows or MEMORY_BATCH_ROWS)
        elif self._kind() == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(str(self.path), read_dictionary=self._dictionary_columns(columns))
            self.total_batches = -(-pf.metadata.num_rows // rows) if columns == TRADE_COLUMNS \
                else None
            yield from pf.iter_batches(batch_size=rows, columns=list(columns))
        elif self._kind() == "csv":
            yield from self._csv_batches(columns)
        else:
            # File by file, one batch read ahead: memory holds about one file's row group
            # whatever the dataset's size (a scanner over the whole dataset reads ahead
            # several files while the kernels work, and its memory grows with the data).
            dataset = self.ds.dataset("trades")
            for fragment in dataset.get_fragments():
                yield from fragment.to_batches(
                    schema=dataset.schema, columns=list(columns), batch_size=rows,
                    batch_readahead=READAHEAD_BATCHES, fragment_readahead=1)

    def _memory_batches(self, columns, rows: int) -> Iterator[Any]:
        """A table in memory in batches of ``rows`` rows: zero-copy slices, except where a
        slice spans several chunks, which are then joined (many small chunks would otherwise
        make many small batches)."""
        table = self.ds.raw("trades").select(list(columns))
        if columns == TRADE_COLUMNS:
            self.total_batches = -(-table.num_rows // rows)
        for lo in range(0, table.num_rows, rows):
            part = table.slice(lo, rows)
            if any(col.num_chunks > 1 for col in part.columns):
                part = part.combine_chunks()
            yield from (b for b in part.to_batches() if b.num_rows)

    def _dictionary_columns(self, columns) -> list[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(str(self.path)).schema_arrow
        return [c for c in columns if c in CODE_COLUMNS and c in schema.names and (
            pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(
                schema.field(c).type))]

    def _csv_batches(self, columns) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        convert = pcsv.ConvertOptions(
            column_types={c: pa.string() for c in TRADE_COLUMNS}, strings_can_be_null=True,
            include_columns=list(columns) if columns is not None else None)
        read = pcsv.ReadOptions(block_size=64 << 20)
        try:
            reader = pcsv.open_csv(str(self.path), read_options=read, convert_options=convert)
            yield from reader
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read CSV file: {exc}", path=self.label) from exc

    def encode(self, batch) -> Encoded:
        """Validate one batch (SPEC §6.2) and turn it into NumPy arrays."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from daix.convert import convert_column
        from daix.schemas import FLOAT, STRING, TIMESTAMP

        offset = self._rows
        self._rows += batch.num_rows
        ts = convert_column(batch.column("ts"), TIMESTAMP, self.label, "ts")
        self._no_nulls(batch, "ts", ts, offset)
        text = {}
        for name in CODE_COLUMNS:
            col = batch.column(name)
            if not (pa.types.is_dictionary(col.type) and col.dictionary.null_count == 0):
                col = convert_column(col, STRING, self.label, name)
            self._no_nulls(batch, name, col, offset)
            text[name] = col
        plain = {n: col for n, col in text.items() if not pa.types.is_dictionary(col.type)}
        found = self._string_codes(plain, batch.num_rows)
        codes, dictionaries = {}, {}
        for name, col in text.items():
            if name in found:
                idx, values = found[name]
            else:
                values = convert_column(col.dictionary, STRING, self.label, name).to_pylist()
                idx = col.indices.to_numpy(zero_copy_only=False)
            codes[name] = readonly(idx if idx.dtype == np.int32 else idx.astype(np.int32))
            dictionaries[name] = values
        numbers = {}
        for name in ("price", "size"):
            col = convert_column(batch.column(name), FLOAT, self.label, name)
            if col.null_count:
                col = pc.fill_null(col, math.nan)  # a missing price or size is rejected
            numbers[name] = readonly(col.to_numpy(zero_copy_only=False))
        return Encoded(ts=readonly(ts.view(pa.int64()).to_numpy(zero_copy_only=False)),
                        codes=codes, dictionaries=dictionaries, **numbers)

    def _code_buffer(self, name: str, n: int):
        import numpy as np

        if not self.reuse_buffers:
            return np.empty(n, dtype=np.int32)
        buf = self._buffers.get(name)
        if buf is None or len(buf) < n:
            buf = self._buffers[name] = np.empty(n, dtype=np.int32)
        return buf[:n]

    def _string_codes(self, columns: dict, n: int) -> dict:
        """Codes and values of text columns without nulls, from their Arrow buffers.

        Each column is cut into one row range per thread; the ranges are encoded at the same
        time (the kernel releases the GIL), then their dictionaries are merged in row order
        and the codes of later ranges renumbered, which gives the codes and the order of first
        appearance of one pass over the whole column.
        """
        from daix.kernels import options

        k = _kernel()
        threads = options.threads() if n >= PARALLEL_ENCODE_ROWS else 1
        bounds = [n * j // threads for j in range(threads + 1)]
        buffers = {name: _string_buffers(col) for name, col in columns.items()}
        codes = {name: self._code_buffer(name, n) for name in columns}
        tasks = [(name, bounds[j], bounds[j + 1]) for j in range(threads) for name in columns]

        def encode(task):
            name, lo, hi = task
            bits = self._text_bits.get(name, 10)
            while True:  # a larger table until every distinct value fits
                first, complete = k.dictionary_codes_nb(*buffers[name], lo, hi, codes[name],
                                                        bits)
                if complete:
                    self._text_bits[name] = max(bits, self._text_bits.get(name, 10))
                    return first
                bits += 3

        def renumber(task):
            name, remap, lo, hi = task
            k.remap_codes_nb(codes[name], remap, lo, hi)

        if n >= PARALLEL_ENCODE_ROWS and len(tasks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(len(tasks), max(threads, 2))) as pool:
                firsts = list(pool.map(encode, tasks))
                values, remaps = _merge_dictionaries(columns, tasks, firsts)
                list(pool.map(renumber, remaps))
        else:
            values, remaps = _merge_dictionaries(columns, tasks, [encode(t) for t in tasks])
            for task in remaps:
                renumber(task)
        return {name: (codes[name], values[name]) for name in columns}

    def _no_nulls(self, batch, name: str, col, offset: int) -> None:
        import pyarrow.compute as pc

        if col.null_count:
            raise InputError(
                "missing value: every trade needs a ts, asset, exchange and quote (SPEC §6.1)",
                path=self.label, column=name,
                rows=_example_rows(batch, pc.is_null(col), offset))

    def example_rows(self, column: str, values: set[str]) -> list[str]:
        """Up to five rows whose ``column`` is one of ``values`` (for error messages)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        found: list[str] = []
        self._rows = 0
        for batch in self.batches():
            col = batch.column(column)
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            found += _example_rows(batch, pc.is_in(col.cast(pa.string()),
                                                   value_set=pa.array(sorted(values))),
                                   self._rows)
            self._rows += batch.num_rows
            if len(found) >= 5:
                break
        return found[:5]


def _merge_dictionaries(columns: dict, tasks: list, firsts: list):
    """Per column, the values of its row ranges merged in row order, and the renumbering
    ``(column, remap, lo, hi)`` of every range whose own codes differ from the merged ones."""
    import numpy as np

    index: dict[str, dict[str, int]] = {name: {} for name in columns}
    remaps = []
    for (name, lo, hi), first in zip(tasks, firsts, strict=True):
        seen = index[name]
        values = columns[name].take(first).to_pylist()
        remap = np.array([seen.setdefault(v, len(seen)) for v in values], dtype=np.int32)
        if (remap != np.arange(len(remap))).any():
            remaps.append((name, remap, lo, hi))
    return {name: list(seen) for name, seen in index.items()}, remaps


def _string_buffers(col):
    """``(offsets, data, words)`` of a text column for the encoding kernel (``words``: the data
    bytes as 64-bit words when they are 8-byte aligned, else empty)."""
    import numpy as np
    import pyarrow as pa

    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    buffers = col.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[col.offset: col.offset + len(col) + 1]
    data = np.frombuffer(buffers[2] if buffers[2] is not None else b"", dtype=np.uint8)
    words = np.zeros(0, dtype=np.uint64)
    if data.ctypes.data % 8 == 0 and len(data) >= 8:
        words = data[: len(data) // 8 * 8].view(np.uint64)
    return readonly(offsets), readonly(data), readonly(words)


def readonly(array):
    view = array.view()
    view.flags.writeable = False
    return view


def _example_rows(batch, mask, offset: int) -> list[str]:
    import numpy as np
    import pyarrow.compute as pc

    idx = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))[:5]
    from daix.convert import display_rows

    rows = display_rows(batch.take(idx)) if len(idx) else []
    return [f"row {offset + int(i) + 1}: " + ", ".join(f"{k}={v}" for k, v in r.items())
            for i, r in zip(idx, rows, strict=True)]


def _unknown_quotes(source: TradeSource, known: set[str]) -> set[str]:
    """The quote currencies of the trades not in ``known``: a pass over the quote column only
    (for dictionary columns, only the dictionary unless it holds an unknown value)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    found: set[str] = set()
    for batch in source.batches(("quote",)):
        col = batch.column(0)
        if pa.types.is_dictionary(col.type):
            values = col.dictionary.cast(pa.string()).to_pylist()
            if set(values) <= known:
                continue
            used = np.bincount(col.indices.fill_null(0).to_numpy(zero_copy_only=False),
                               minlength=len(values)) > 0
            found.update(v for v, u in zip(values, used, strict=True) if u)
        else:
            found.update(pc.unique(col.cast(pa.string())).to_pylist())
    found.discard(None)
    return found - known


def known_quotes(fx) -> set[str]:
    """The quote currencies with fx rows, and USD (SPEC §2.2)."""
    import pyarrow.compute as pc

    known = set(pc.unique(fx.column("currency")).to_pylist()) if fx is not None else set()
    known.add("USD")
    return known


def check_quotes(source: TradeSource, fx, batch: Encoded | None = None,
                 known: set[str] | None = None) -> None:
    """SPEC §2.2: a quote currency with no FX row at all is an error before any fix is made.

    Without ``batch``, a pass over the quote column of the source; with it, the quotes of that
    encoded batch (the error then names every unknown quote of the source, from a pass over
    it). ``known`` is :func:`known_quotes` of ``fx``, when already at hand.
    """
    import numpy as np

    known = known_quotes(fx) if known is None else known
    if batch is not None:
        values = batch.dictionaries["quote"]
        bad = [i for i, v in enumerate(values) if v not in known]
        if not bad or not np.isin(batch.codes["quote"], bad).any():
            return
    unknown = _unknown_quotes(source, known)
    if unknown:
        where = "the fx table" if fx is not None else "an fx table (none was given)"
        raise InputError(
            f"quote currency {', '.join(sorted(unknown))} has no row in {where}; every quote "
            "other than USD needs usd_per_unit rows (SPEC §2.2)",
            path=source.label, column="quote", rows=source.example_rows("quote", unknown))


# --- reference tables: fx and vetted exchanges ------------------------------------------------


class FxIndex:
    """The fx rows sorted by (currency, ts), with each currency's segment (SPEC §2.2).

    USD gets a segment of its own: one row, rate 1, at the earliest instant, so that every
    quote takes the same path through the kernel. Rows of a ``USD`` currency in the table are
    not used (USD is 1).
    """

    def __init__(self, fx, label: str) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        self.segments: dict[str, tuple[int, int]] = {}
        ts = np.zeros(0, dtype=np.int64)
        rate = np.zeros(0)
        if fx is not None and fx.num_rows:
            col = fx.column("usd_per_unit")
            bad = pc.invert(pc.and_(pc.is_finite(col), pc.greater(col, 0.0)))
            bad = pc.or_(pc.fill_null(bad, True), pc.or_(pc.is_null(fx.column("ts")),
                                                          pc.is_null(fx.column("currency"))))
            if pc.any(bad).as_py():
                raise InputError(
                    "every fx row needs a ts, a currency and a finite usd_per_unit > 0 "
                    "(SPEC §2.2)", path=label, column="usd_per_unit",
                    rows=_example_rows(fx, bad, 0))
            fx = fx.filter(pc.not_equal(fx.column("currency"), "USD"))
            fx = fx.sort_by([("currency", "ascending"), ("ts", "ascending")])
            ts = fx.column("ts").cast(pa.int64()).to_numpy()
            rate = fx.column("usd_per_unit").to_numpy()
            currency = fx.column("currency").to_pylist()
            start = 0
            for i in range(1, len(currency) + 1):
                if i == len(currency) or currency[i] != currency[start]:
                    self.segments[currency[start]] = (start, i)
                    start = i
        # each segment is followed by a sentinel row at the end of time (read by the kernel's
        # as-of cache); USD is one row of rate 1 at the start of time
        # segments in the order USD, the currencies, "" (the empty segment of a quote with no
        # row); each is followed by a sentinel row at the end of time
        self.segments = {"USD": (-1, 0), **self.segments, "": (0, 0)}
        parts_ts, parts_rate, shift = [], [], 0
        for name, (lo, hi) in self.segments.items():
            seg_ts = np.array([INT64_MIN]) if name == "USD" else ts[lo:hi]
            seg_rate = np.array([1.0]) if name == "USD" else rate[lo:hi]
            self.segments[name] = (shift, shift + len(seg_ts))
            parts_ts += [seg_ts, np.array([INT64_MAX])]
            parts_rate += [seg_rate, np.array([math.nan])]
            shift += len(seg_ts) + 1
        self.ts = np.ascontiguousarray(np.concatenate(parts_ts), dtype=np.int64)
        self.rate = np.ascontiguousarray(np.concatenate(parts_rate), dtype=np.float64)
        self._at: dict[Any, Any] = {}

    def at_buckets(self, quote: str, starts):
        """Per bucket start, the quote's last row at or before it (lo - 1: none)."""
        import numpy as np

        if quote not in self._at:
            lo, hi = self.segment(quote)
            self._at[quote] = lo - 1 + np.searchsorted(self.ts[lo:hi], starts, side="right")
        return self._at[quote]

    def flat_buckets(self, quote: str, starts, width: int):
        """Per bucket start, the quote's rate when one row holds for the whole bucket of
        ``width`` ns (NaN: a row starts inside the bucket, or none is before it)."""
        import numpy as np

        key = ("flat", quote)
        if key not in self._at:
            at = self.at_buckets(quote, starts)
            lo, _ = self.segment(quote)
            whole = (at >= lo) & (self.ts[at + 1] >= starts + width)
            flat = np.full(len(starts), np.nan)
            flat[whole] = self.rate[at[whole]]
            self._at[key] = flat
        return self._at[key]

    def segment(self, quote: str) -> tuple[int, int]:
        """(lo, hi) in the sorted arrays; an empty segment for a quote without rows."""
        return self.segments.get(quote, self.segments[""])


class Vetting:
    """Vetted periods per exchange, half-open ``[valid_from, valid_to)`` (SPEC §2.3)."""

    def __init__(self, exchanges, label: str) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if exchanges.column("exchange").null_count:
            raise InputError("missing exchange name", path=label, column="exchange",
                             rows=_example_rows(exchanges, pc.is_null(exchanges.column(
                                 "exchange")), 0))
        lo = pc.fill_null(exchanges.column("valid_from").cast(pa.int64()), INT64_MIN)
        hi = pc.fill_null(exchanges.column("valid_to").cast(pa.int64()), INT64_MAX)
        empty = pc.greater_equal(lo, hi)
        if pc.any(empty).as_py():
            raise InputError("valid_to must be after valid_from (a vetted period is "
                             "valid_from <= ts < valid_to, SPEC §2.3)", path=label,
                             column="valid_to", rows=_example_rows(exchanges, empty, 0))
        names = exchanges.column("exchange").to_pylist()
        lo_np, hi_np = lo.to_numpy(), hi.to_numpy()
        order = sorted(range(len(names)), key=lambda i: (names[i], int(lo_np[i])))
        # a last period that never matches: the kernel may read it for an unknown exchange
        self.period_from = np.append(lo_np[order], INT64_MAX).astype(np.int64)
        self.period_to = np.append(hi_np[order], INT64_MIN).astype(np.int64)
        self.segments: dict[str, tuple[int, int]] = {}
        for pos, i in enumerate(order):
            first, _ = self.segments.get(names[i], (pos, pos))
            self.segments[names[i]] = (first, pos + 1)

    def segment(self, exchange: str) -> tuple[int, int]:
        return self.segments.get(exchange, (-1, -1))
