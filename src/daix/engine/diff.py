"""Per-index diff of two outputs (SPEC §7.1), vectorised over rows.

Two outputs (the ``levels``, ``constituents`` and ``reviews`` tables of SPEC §6.3) are compared
index by index, in catalogue order, for every catalogue index present in any of the six tables:

- a level row *moved* when its (level, divisor, status) differs at a ts, or the ts is on one
  side only. Values compare with ``==``, except that NaN equals NaN and null equals null: the
  result of a recalc is identical bit for bit to a backfill (SPEC §7.2), so two identical NaN
  levels are no change (a plain ``!=`` on floats would count them as one). ``-0.0 == 0.0``.
  A repeated (index, ts) counts with its last row.
- ``max_abs_change`` / ``max_rel_change``: over moved ts present on both sides with both levels
  non-null, ``|new - old|`` and ``|new / old - 1|`` (the latter where the old level is non-zero);
  the largest value that is not NaN (NaN when every one is); 0.0 when levels moved but none of
  them on both sides; null when none moved.
- ``changed_constituents`` / ``changed_reviews``: the number of distinct rows on one side only
  (the symmetric difference of the two row sets of the index).

Rows are grouped by index from runs of equal values (outputs are stored index by index), level
series are matched on ts by a sorted merge, and row sets are compared by sorting integer keys,
only for indices whose rows are not identical already.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from daix.catalogue import CATALOGUE
from daix.errors import InputError
from daix.schemas import arrow_schema

if TYPE_CHECKING:
    import pyarrow as pa

TABLES = ("levels", "constituents", "reviews")
DIFF_COLUMNS = ("index", "changed", "first_changed", "changed_levels", "max_abs_change",
                "max_rel_change", "changed_constituents", "changed_reviews")

_IDS = tuple(CATALOGUE)
_POSITION = {iid: k for k, iid in enumerate(_IDS)}
#: More runs of equal ``index`` values than this in a table: rows are grouped by sorting codes.
_MAX_RUNS = 4096

#: Rows of one index in a table: ``(start, end)`` ranges, or row positions.
Rows = list[tuple[int, int]] | np.ndarray


def diff_schema() -> pa.Schema:
    """The schema of the diff table (SPEC §7.1)."""
    import pyarrow as pa

    return pa.schema([
        ("index", pa.string()), ("changed", pa.bool_()),
        ("first_changed", pa.timestamp("ns", tz="UTC")), ("changed_levels", pa.int64()),
        ("max_abs_change", pa.float64()), ("max_rel_change", pa.float64()),
        ("changed_constituents", pa.int64()), ("changed_reviews", pa.int64()),
    ])


def diff(prev: Mapping[str, pa.Table], new: Mapping[str, pa.Table],
         indices: Collection[str] | None = None) -> pa.Table:
    """Per index: changed or not, first changed calculation time, number of changed levels,
    largest absolute and relative level change, changed constituent and review rows
    (SPEC §7.1; conventions in the module docstring).

    ``indices``: when given, only these indices can differ (the others were copied unchanged):
    only their rows are compared; every other index present gets an unchanged row.
    """
    old = {name: _conform(prev, name, "previous") for name in TABLES}
    cur = {name: _conform(new, name, "new") for name in TABLES}
    old_rows = {name: group_by_index(t.column("index")) for name, t in old.items()}
    cur_rows = {name: group_by_index(t.column("index")) for name, t in cur.items()}
    present = sorted(set().union(*old_rows.values(), *cur_rows.values()))
    if indices is None:
        compare = set(present)
    else:
        if isinstance(indices, str):
            indices = [indices]
        compare = {_POSITION[i] for i in indices if i in _POSITION}
    out: list[tuple] = []
    for code in present:
        if code not in compare:
            out.append((_IDS[code], False, None, 0, None, None, 0, 0))
            continue

        def pair(name: str, code: int = code) -> tuple[pa.Table, pa.Table]:
            return (_take(old[name], old_rows[name].get(code)),
                    _take(cur[name], cur_rows[name].get(code)))

        moved, first, max_abs, max_rel = level_changes(*pair("levels"))
        n_c = row_changes(*pair("constituents"))
        n_r = row_changes(*pair("reviews"))
        out.append((_IDS[code], bool(moved or n_c or n_r), first, moved, max_abs, max_rel,
                    n_c, n_r))
    return _table(out)


def _conform(tables: Mapping[str, Any], name: str, side: str) -> pa.Table:
    """The SPEC §6.3 columns of ``tables[name]`` with their types (an absent table: empty)."""
    import pyarrow as pa

    schema = arrow_schema(name, outputs=True)
    table = tables.get(name)
    if table is None:
        return schema.empty_table()
    label = f"{side} {name} table"
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            raise InputError("missing column", path=label, column=field.name)
        col = table.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise InputError(f"cannot be read as {field.type}: {e}", path=label,
                                 column=field.name) from None
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def group_by_index(column: pa.ChunkedArray) -> dict[int, Rows]:
    """Catalogue position -> the rows of that index, in table order (other values left out).

    Stored outputs hold each index in one run of rows: run-end encoding finds the runs in one
    pass; with many runs, codes are sorted instead."""
    import pyarrow.compute as pc

    ranges: dict[int, list[tuple[int, int]]] = {}
    offset = runs = 0
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        encoded = pc.run_end_encode(chunk)
        runs += len(encoded.values)
        if runs > _MAX_RUNS:
            return _group_by_sorting(column)
        start = 0
        for value, end in zip(encoded.values.to_pylist(), encoded.run_ends.to_pylist(),
                              strict=True):
            code = _POSITION.get(value)
            if code is not None:
                ranges.setdefault(code, []).append((offset + start, offset + end))
            start = end
        offset += len(chunk)
    return ranges


def _group_by_sorting(column: pa.ChunkedArray) -> dict[int, Rows]:
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = pc.index_in(column, value_set=pa.array(_IDS, pa.string())).fill_null(-1)
    codes = np.asarray(codes.to_numpy(), dtype=np.int64)
    order = np.argsort(codes, kind="stable")  # stable: table order within an index
    counts = np.bincount(codes + 1, minlength=len(_IDS) + 1)
    bounds = np.cumsum(counts)
    return {k: order[bounds[k]:bounds[k + 1]] for k in range(len(_IDS)) if counts[k + 1]}


def _take(table: pa.Table, rows: Rows | None) -> pa.Table:
    import pyarrow as pa

    if rows is None:
        return table.slice(0, 0)
    if isinstance(rows, np.ndarray):
        return table.take(pa.array(rows))
    if len(rows) == 1:
        return table.slice(rows[0][0], rows[0][1] - rows[0][0])
    return pa.concat_tables([table.slice(s, e - s) for s, e in rows])


# --- levels ------------------------------------------------------------------------------------


def _floats(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (NaN where null) and the null mask (None without nulls)."""
    values = np.asarray(col.to_numpy(), dtype=np.float64)
    nulls = np.asarray(col.is_null().to_numpy(), dtype=bool) if col.null_count else None
    return values, nulls


def _level_series(table: pa.Table) -> tuple[np.ndarray, tuple, tuple, pa.ChunkedArray]:
    """One index's (ts, level, divisor, status) in ts order, a repeated ts with its last row."""
    import pyarrow as pa

    if table.column("ts").null_count:
        raise InputError("null calculation time", path="levels table", column="ts")
    ts = np.asarray(table.column("ts").cast(pa.int64()).to_numpy(), dtype=np.int64)
    if len(ts) > 1 and not np.all(ts[1:] > ts[:-1]):
        order = np.argsort(ts, kind="stable")
        last = np.ones(len(ts), dtype=bool)
        last[:-1] = ts[order][1:] != ts[order][:-1]
        table = table.take(pa.array(order[last]))
        ts = ts[order[last]]
    return (ts, _floats(table.column("level")), _floats(table.column("divisor")),
            table.column("status"))


def _pick(values: tuple[np.ndarray, np.ndarray | None], at: np.ndarray | None):
    v, n = values
    if at is None:
        return v, n
    return v[at], (None if n is None else n[at])


def _same_floats(x: tuple, y: tuple) -> np.ndarray:
    """Element-wise ``==``, with NaN equal to NaN and null equal only to null."""
    (a, an), (b, bn) = x, y
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.isnan(a) & np.isnan(b))
    if an is None and bn is None:
        return same
    an = np.zeros(len(a), dtype=bool) if an is None else an
    bn = np.zeros(len(b), dtype=bool) if bn is None else bn
    return np.where(an | bn, an & bn, same)


def _same_strings(a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    import pyarrow.compute as pc

    if a.equals(b):
        return np.ones(len(a), dtype=bool)
    same = np.asarray(pc.equal(a, b).fill_null(False).to_numpy(), dtype=bool)
    if a.null_count and b.null_count:
        same |= (np.asarray(a.is_null().to_numpy(), dtype=bool)
                 & np.asarray(b.is_null().to_numpy(), dtype=bool))
    return same


def _largest(values: np.ndarray, moved: int) -> float | None:
    if len(values) == 0:
        return 0.0 if moved else None
    numbers = values[~np.isnan(values)]
    return float(numbers.max()) if len(numbers) else float("nan")


def level_changes(a: pa.Table, b: pa.Table) -> tuple[int, int | None, float | None,
                                                     float | None]:
    """(number of moved level rows, first moved ts in ns, largest absolute and relative level
    change) between one index's old rows ``a`` and new rows ``b``."""
    import pyarrow as pa

    ta, la, da, sa = _level_series(a)
    tb, lb, db, sb = _level_series(b)
    if len(ta) == len(tb) and np.array_equal(ta, tb):
        ia = ib = None  # the same ts on both sides, row for row
        alone = ta[:0]
    else:
        pos = np.searchsorted(tb, ta)
        hit = pos < len(tb)
        hit[hit] = tb[pos[hit]] == ta[hit]
        ia, ib = np.flatnonzero(hit), pos[hit]
        in_b = np.zeros(len(tb), dtype=bool)
        in_b[ib] = True
        alone = np.concatenate([ta[~hit], tb[~in_b]])
        sa, sb = sa.take(pa.array(ia)), sb.take(pa.array(ib))
    la, lb = _pick(la, ia), _pick(lb, ib)
    moved = ~(_same_floats(la, lb) & _same_floats(_pick(da, ia), _pick(db, ib))
              & _same_strings(sa, sb))
    n_moved = int(np.count_nonzero(moved)) + len(alone)
    if not n_moved:
        return 0, None, None, None
    matched = ta if ia is None else ta[ia]
    first = min([int(t.min()) for t in (matched[moved], alone) if len(t)])
    both = moved.copy()
    for nulls in (la[1], lb[1]):
        if nulls is not None:
            both &= ~nulls
    old, cur = la[0][both], lb[0][both]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        abs_change = np.abs(cur - old)
        nonzero = old != 0
        rel_change = np.abs(cur[nonzero] / old[nonzero] - 1.0)
    return n_moved, first, _largest(abs_change, n_moved), _largest(rel_change, n_moved)


# --- constituent and review rows ---------------------------------------------------------------


def _row_keys(a: pa.Table, b: pa.Table) -> list[np.ndarray]:
    """Integer keys of the rows of ``a`` then ``b``, equal exactly when the rows are equal
    (strings by a shared dictionary, floats by their bits with one NaN and one zero)."""
    import pyarrow as pa

    keys: list[np.ndarray] = []
    for field in a.schema:
        col = pa.chunked_array(a.column(field.name).chunks + b.column(field.name).chunks,
                               type=field.type)
        if pa.types.is_string(field.type):
            codes = col.dictionary_encode().combine_chunks().indices.fill_null(-1)
            keys.append(np.asarray(codes.to_numpy(), dtype=np.int64))
            continue
        nulls = np.asarray(col.is_null().to_numpy(), dtype=bool)
        if pa.types.is_floating(field.type):
            v = np.asarray(col.to_numpy(), dtype=np.float64)
            v = np.where(v == 0, 0.0, v)  # -0.0 == 0.0
            v[np.isnan(v)] = np.nan  # one NaN (nulls are NaN here too, told apart below)
            keys.append(v.view(np.int64))
        else:
            keys.append(np.asarray(col.cast(pa.int64()).fill_null(0).to_numpy(),
                                   dtype=np.int64))
        keys.append(nulls.astype(np.int64))
    return keys


def row_changes(a: pa.Table, b: pa.Table) -> int:
    """The number of distinct rows in one of ``a``, ``b`` and not in the other."""
    if a.num_rows == b.num_rows and a.equals(b):
        return 0
    n = a.num_rows + b.num_rows
    keys = _row_keys(a, b)
    order = np.lexsort(keys)
    start = np.zeros(n, dtype=bool)
    start[0] = True
    for k in keys:
        k = k[order]
        start[1:] |= k[1:] != k[:-1]
    first = np.flatnonzero(start)
    new_side = order >= a.num_rows
    in_new = np.logical_or.reduceat(new_side, first)
    in_old = np.logical_or.reduceat(~new_side, first)
    return int(np.count_nonzero(in_new != in_old))


def _table(rows: list[tuple]) -> pa.Table:
    import pyarrow as pa

    schema = diff_schema()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(DIFF_COLUMNS)
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        if field.name == "first_changed":
            arrays.append(pa.array(list(values), pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(list(values), field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


__all__ = ["DIFF_COLUMNS", "diff", "diff_schema", "group_by_index", "level_changes",
           "row_changes"]
