"""Column conversion to the SPEC §6.1 logical types, with errors that show example rows.

Parquet columns of the right type pass through (timestamps are re-labelled to ns UTC, a
zero-copy cast when already ns). CSV columns arrive as text and are parsed here, so that a
value that is not a number, a naive timestamp or a malformed month is reported with its row
(SPEC §6.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daix.errors import InputError
from daix.schemas import BOOL, DATE, FLOAT, INT, MONTH, STRING, TIMESTAMP

#: A timestamp string whose time of day carries an explicit zone: ``Z`` or ``+HH:MM`` /
#: ``+HHMM`` / ``+HH`` (SPEC §1.1). A bare date is naive (its ``-DD`` is no offset).
_ZONED = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_MONTH = r"^\d{4}-(?:0[1-9]|1[0-2])$"
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def convert_column(col, kind: str, label: str, name: str, keep_dictionary: bool = False):
    """Convert one column (Array or ChunkedArray) to the Arrow type of ``kind``.

    With ``keep_dictionary`` a dictionary-encoded text column stays encoded (its values as
    ``string``): large tables then never materialise one string per row.
    """
    import pyarrow as pa

    from daix.schemas import arrow_type

    if keep_dictionary and kind == STRING and pa.types.is_dictionary(col.type):
        return _dictionary_strings(col, label, name)
    if isinstance(col, pa.ChunkedArray):
        if _passes_through(col.type, kind):
            # chunk by chunk, zero-copy when the type is it
            return _plain_cast(col, arrow_type(kind), kind, label, name)
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    target = arrow_type(kind)
    if kind == TIMESTAMP:
        return _timestamp(col, label, name)
    if kind == DATE:
        return _date(col, label, name)
    if kind == MONTH:
        return _month(col, label, name)
    if kind == BOOL:
        return _bool(col, label, name)
    if kind == STRING:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return col.cast(pa.string())
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            return col.cast(pa.string())
        raise _wrong_type(col, "text", label, name)
    if kind in (FLOAT, INT):
        return _number(col, target, label, name)
    raise AssertionError(kind)  # pragma: no cover


def _passes_through(typ, kind: str) -> bool:
    """Whether a column of Arrow type ``typ`` becomes ``kind`` by a plain cast that cannot fail
    on a value (no parsing, no check): it is then cast chunk by chunk, never combined."""
    import pyarrow as pa

    if kind == TIMESTAMP:
        return pa.types.is_timestamp(typ) and typ.tz is not None
    if kind == FLOAT:
        return pa.types.is_floating(typ) or pa.types.is_integer(typ)
    if kind == INT:
        return pa.types.is_integer(typ)
    if kind == BOOL:
        return pa.types.is_boolean(typ)
    if kind == DATE:
        return pa.types.is_date(typ)
    return False


def _plain_cast(col, target, kind: str, label: str, name: str):
    """A cast of :func:`_passes_through`. An integer becomes the nearest float (supplies can
    pass 2**53); an instant beyond what int64 nanoseconds hold (1677-09-21 to 2262-04-11)
    is an input error showing its rows."""
    import pyarrow as pa

    try:
        return col.cast(target, safe=kind != FLOAT)
    except pa.ArrowInvalid:
        if kind != TIMESTAMP:
            raise
    unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[col.type.unit]
    values = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
    limit = np.iinfo(np.int64).max // unit
    data = col if not isinstance(col, pa.ChunkedArray) else col.combine_chunks()
    idx = np.flatnonzero(np.abs(np.nan_to_num(values.astype(float))) > limit)[:5]
    raise InputError(
        "instant out of range: int64 nanoseconds hold 1677-09-21 to 2262-04-11 (SPEC §1.1); "
        "leave an open-ended bound empty", path=label, column=name,
        rows=[f"row {int(i) + 1}: {name}={data[int(i)]}" for i in idx])


def display_values(col) -> list:
    """Python values of an Arrow array for messages; timestamps as ISO text with every ns
    (``to_pylist`` cannot turn nanoseconds into datetimes without pandas)."""
    import pyarrow as pa

    from daix.timeutil import ns_to_text

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_timestamp(col.type):
        suffix = "" if col.type.tz is None else ("Z" if col.type.tz in ("UTC", "+00:00")
                                                 else f" {col.type.tz}")
        return [None if v is None else ns_to_text(v, suffix)
                for v in col.cast(pa.int64()).to_pylist()]
    return col.to_pylist()


def display_rows(table) -> list[dict]:
    """Rows of a table as dicts of :func:`display_values`."""
    columns = {name: display_values(table.column(name)) for name in table.column_names}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(),
                                                                      strict=True)]


def _dictionary_strings(col, label: str, name: str):
    """A dictionary text column kept as it is held, chunk by chunk (no unified dictionary, no
    re-encoded indices); only a ``large_string`` dictionary is cast to ``string``."""
    import pyarrow as pa

    value_type = col.type.value_type
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise _wrong_type(col.cast(value_type) if not isinstance(col, pa.ChunkedArray)
                          else col.combine_chunks().dictionary_decode(), "text", label, name)
    if not isinstance(col, pa.ChunkedArray):
        col = pa.chunked_array([col])
    if pa.types.is_string(value_type):
        return col
    target = pa.dictionary(col.type.index_type, pa.string())
    return pa.chunked_array([pa.DictionaryArray.from_arrays(c.indices,
                                                            c.dictionary.cast(pa.string()))
                             for c in col.chunks], target)


def _wrong_type(col, expected: str, label: str, name: str, mask=None) -> InputError:
    import pyarrow.compute as pc

    if mask is None:
        rows = [f"row {i + 1}: {name}={v}"
                for i, v in enumerate(display_values(col.slice(0, 5)))]
    else:
        rows = _masked_examples(col, pc.fill_null(mask, False), name)
    return InputError(
        f"wrong type: expected {expected}, found {col.type}", path=label, column=name, rows=rows
    )


def _masked_examples(col, mask, name: str) -> list[str]:
    import numpy as np

    idx = np.flatnonzero(mask.to_numpy(zero_copy_only=False))[:5]
    values = display_values(col.take(idx)) if len(idx) else []
    return [f"row {int(i) + 1}: {name}={v!r}" for i, v in zip(idx, values, strict=True)]


def _is_text(col) -> bool:
    import pyarrow as pa

    return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)


def _timestamp(col, label: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    target = pa.timestamp("ns", tz="UTC")
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            raise InputError(
                "naive timestamp (no time zone): instants must be UTC-aware, e.g. "
                "timestamp[ns, tz=UTC] in Parquet or '2024-01-01T00:00:00Z' in CSV (SPEC §1.1)",
                path=label, column=name,
                rows=[f"row {i + 1}: {name}={v}" for i, v in
                      enumerate(display_values(col.slice(0, 5)))],
            )
        # Arrow stores instants as UTC; a cast changes only the unit and the zone label.
        return _plain_cast(col, target, TIMESTAMP, label, name)
    if _is_text(col):
        stripped = pc.utf8_trim_whitespace(col)
        naive = pc.and_(pc.invert(pc.match_substring_regex(stripped, _ZONED)),
                        pc.is_valid(stripped))
        if pc.any(naive).as_py():
            raise InputError(
                "naive timestamp (no time zone): write 'Z' or an offset such as '+00:00' "
                "(SPEC §1.1)", path=label, column=name,
                rows=_masked_examples(col, naive, name),
            )
        try:
            return pc.cast(stripped, target)
        except pa.ArrowInvalid:
            bad = _unparsable(stripped, target)
            raise InputError("cannot read as an ISO 8601 instant", path=label, column=name,
                             rows=_masked_examples(col, bad, name)) from None
    raise _wrong_type(col, "a UTC timestamp", label, name)


def _unparsable(col, target):
    """Mask of the values that do not cast to ``target`` (slow path, errors only)."""
    import pyarrow as pa

    flags = []
    for value in col.to_pylist():
        if value is None:
            flags.append(False)
            continue
        try:
            pa.array([value]).cast(target)
            flags.append(False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            flags.append(True)
    return pa.array(flags)


def _number(col, target, label: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return _plain_cast(col, target, FLOAT if pa.types.is_floating(target) else INT, label,
                           name)
    if pa.types.is_decimal(col.type):
        return col.cast(target)
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), target)
    if _is_text(col):
        stripped = pc.utf8_trim_whitespace(col)
        empty = pc.equal(stripped, "")
        stripped = pc.if_else(empty, pa.scalar(None, pa.string()), stripped)
        try:
            return pc.cast(stripped, target)
        except pa.ArrowInvalid:
            bad = _unparsable(stripped, target)
            kind = "a number" if pa.types.is_floating(target) else "an integer"
            raise InputError(f"wrong type: expected {kind}, found text", path=label,
                             column=name, rows=_masked_examples(col, bad, name)) from None
    raise _wrong_type(col, "a number", label, name)


def _bool(col, label: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(col.type):
        return col
    if pa.types.is_integer(col.type):
        bad = pc.invert(pc.is_in(col, value_set=pa.array([0, 1], col.type)))
        if pc.any(pc.fill_null(bad, False)).as_py():
            raise _wrong_type(col, "true/false", label, name, bad)
        return pc.not_equal(col, 0)
    if _is_text(col):
        low = pc.utf8_lower(pc.utf8_trim_whitespace(col))
        true = pc.is_in(low, value_set=pa.array(_TRUE))
        false = pc.is_in(low, value_set=pa.array(_FALSE))
        bad = pc.and_(pc.invert(pc.or_(true, false)), pc.is_valid(low))
        if pc.any(bad).as_py():
            raise InputError("wrong type: expected true/false", path=label, column=name,
                             rows=_masked_examples(col, bad, name))
        return pc.if_else(pc.is_valid(low), true, pa.scalar(None, pa.bool_()))
    raise _wrong_type(col, "true/false", label, name)


def _date(col, label: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date(col.type):
        return col.cast(pa.date32())
    if pa.types.is_timestamp(col.type):
        if col.type.tz is not None:
            col = col.cast(pa.timestamp("ns", tz="UTC"))
        return pc.cast(pc.floor_temporal(col, unit="day"), pa.date32())
    if _is_text(col):
        stripped = pc.utf8_trim_whitespace(col)
        try:
            return pc.cast(stripped, pa.date32())
        except pa.ArrowInvalid:
            bad = _unparsable(stripped, pa.date32())
            raise InputError("cannot read as a date YYYY-MM-DD", path=label, column=name,
                             rows=_masked_examples(col, bad, name)) from None
    raise _wrong_type(col, "a date", label, name)


def _month(col, label: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _is_text(col):
        raise _wrong_type(col, "a review month 'YYYY-MM'", label, name)
    stripped = pc.utf8_trim_whitespace(col)
    bad = pc.or_(pc.invert(pc.match_substring_regex(stripped, _MONTH)), pc.is_null(stripped))
    if pc.any(pc.fill_null(bad, True)).as_py():
        raise InputError("review month is not YYYY-MM (e.g. 2024-03)", path=label, column=name,
                         rows=_masked_examples(col, pc.fill_null(bad, True), name))
    return stripped.cast(pa.string())


# --- columns as NumPy arrays, chunk by chunk (no combined copies) ------------------------


def _chunks(col) -> list:
    """The arrays of an Array, a ChunkedArray or a list of arrays."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        return list(col.chunks)
    if isinstance(col, pa.Array):
        return [col]
    return list(col)


@dataclass
class DictionaryChunks:
    """A text column as dictionary indices chunk by chunk, without decoding a row.

    ``indices[k]`` are chunk k's dictionary indices as a NumPy array (zero-copy where the
    chunk has no nulls; a null is the index ``len(dictionary)``); ``which[k]`` says which of
    the distinct ``dictionaries`` (value lists, each ending with ``None`` for the null slot)
    chunk k uses. A Parquet reader gives every chunk the same dictionary, so ``lookup`` tables
    built per dictionary stay tiny.
    """

    indices: list[np.ndarray]
    which: list[int]
    dictionaries: list[list[str | None]]

    @classmethod
    def of(cls, col) -> DictionaryChunks:
        import pyarrow as pa
        import pyarrow.compute as pc

        chunks = _chunks(col)
        if chunks and not pa.types.is_dictionary(chunks[0].type):
            chunks = pa.chunked_array(chunks, chunks[0].type).dictionary_encode().chunks
        indices, which, seen, dictionaries = [], [], [], []
        for chunk in chunks:
            d = chunk.dictionary
            k = next((j for j in range(len(seen) - 1, -1, -1)
                      if seen[j] is d or seen[j].equals(d)), -1)
            if k < 0:
                k = len(seen)
                seen.append(d)
                dictionaries.append([*d.cast(pa.string()).to_pylist(), None])
            idx = chunk.indices
            if idx.null_count:
                idx = pc.fill_null(idx.cast(pa.int32()), len(d))
            indices.append(idx.to_numpy())
            which.append(k)
        return cls(indices, which, dictionaries)

    def lookups(self, mapping, dtype=np.int64) -> list[np.ndarray]:
        """Per distinct dictionary, ``mapping(value)`` of each of its entries as an array."""
        return [np.array([mapping(v) for v in d], dtype=dtype) for d in self.dictionaries]

    def used(self) -> set[str]:
        """The non-null values some row uses."""
        from daix.kernels.grid import mark_used_nb

        marks = [np.zeros(len(d), dtype=np.bool_) for d in self.dictionaries]
        for idx, k in zip(self.indices, self.which, strict=True):
            mark_used_nb(idx, marks[k])
        return {d[i] for d, m in zip(self.dictionaries, marks, strict=True)
                for i in np.flatnonzero(m) if d[i] is not None}


def int64_chunk(arr, null: int):
    """An integer or timestamp array as int64 NumPy values (zero-copy without nulls)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(arr.type):
        arr = arr.view(pa.int64())
    elif arr.type != pa.int64():
        arr = arr.cast(pa.int64())
    if arr.null_count:
        arr = pc.fill_null(arr, null)
    return arr.to_numpy()
