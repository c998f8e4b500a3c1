"""Which prices each review read, so that a recalc reruns only the reviews a price correction
reaches (SPEC §7.2).

Reviews read the price matrices only through :class:`daix.engine.context.Context`: every
asset's fix of a window at an instant (``fixes``), or its last fix at or before it
(``last_fixes``). A backfill notes each distinct (window, kind, instant) a review step read,
under the step: ``(index, E)`` for a Custom or Crypto Select review or reset (with the deletions
applied just before it), ``(index, FINAL)`` for the deletions after the last review, and
``("grayscale", 0)`` for the whole Grayscale family (its indices share their sector screens).
The notes are kept in ``state/reads.parquet``.

A recalc that laid corrected prices over the kept matrices knows exactly which cells changed.
A fix read at an instant is affected when a cell of that hour changed; a last fix read is
affected from a changed cell's hour up to the asset's next unchanged fix. Every step before an
index's first affected step read the same prices as before (and its other inputs did not change,
or the month rule of :func:`daix.engine.recalc.reach` would have reached it), so its baskets
and review rows are the kept ones, bit for bit; the reviews rerun from that step on.
"""

from __future__ import annotations

import numpy as np

FRESH, LAST = 0, 1
GRAYSCALE = "grayscale"
#: The step key of the deletions applied after an index's last review.
FINAL = 2**62


class ReadLog:
    """The distinct reads of each review step of a run."""

    def __init__(self) -> None:
        self.key: tuple[str, int] | None = None
        self.entries: set[tuple[str, int, str, int, int]] = set()

    def note(self, window: str, kind: int, ts: int) -> None:
        if self.key is not None:
            self.entries.add((self.key[0], self.key[1], window, kind, int(ts)))

    def table(self):
        """The notes as a table: index, step (E, ns), window, kind (0 fix, 1 last fix), ts."""
        import pyarrow as pa

        rows = sorted(self.entries)
        cols = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
        return pa.table({"index": pa.array(cols[0], pa.string()),
                         "step": pa.array(cols[1], pa.int64()),
                         "window": pa.array(cols[2], pa.string()),
                         "kind": pa.array(cols[3], pa.int8()),
                         "ts": pa.array(cols[4], pa.int64())})


def affected_rows(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(fix rows, last-fix rows) of one window's matrix whose reads see a changed cell.

    ``matrix`` is the corrected matrix, ``rows`` / ``cols`` the cells that changed. A fix read
    at hour t sees a change when a cell of row t changed; a last-fix read at t when, for some
    asset, a changed cell lies at or before t with no unchanged fix of that asset in between.
    """
    n = matrix.shape[0]
    fresh = np.zeros(n, dtype=bool)
    last = np.zeros(n, dtype=bool)
    fresh[rows] = True
    for c in np.unique(cols):
        mine = np.sort(rows[cols == c])
        changed = set(mine.tolist())
        column = matrix[:, c]
        for r in mine.tolist():
            t = r
            while t < n:
                last[t] = True
                t += 1
                if t < n and np.isfinite(column[t]) and t not in changed:
                    break
    return fresh, last


def first_affected(reads, affected: dict[str, tuple[np.ndarray, np.ndarray]], grid_start: int,
                   hour: int) -> dict[str, int]:
    """Per index (or ``"grayscale"``), the step of its first read that sees a changed cell;
    indices with none are left out. ``affected`` is :func:`affected_rows` per window."""
    if reads is None or reads.num_rows == 0 or not affected:
        return {}
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, int] = {}
    for window, (fresh, last) in affected.items():
        part = reads.filter(pc.equal(reads.column("window"), window))
        if part.num_rows == 0:
            continue
        n = len(fresh)
        ts = part.column("ts").to_numpy()
        row = (ts - grid_start) // hour
        kind = part.column("kind").to_numpy()
        inside = (row >= 0) & (row < n)
        clamped = np.clip(row, 0, n - 1)  # a last fix read after the grid reads its last row
        hit = np.where(kind == FRESH, inside & fresh[clamped], (row >= 0) & last[clamped])
        if not hit.any():
            continue
        hits = part.filter(pa.array(hit))
        for index, step in zip(hits.column("index").to_pylist(),
                               hits.column("step").to_pylist(), strict=True):
            if step < out.get(index, FINAL + 1):
                out[index] = step
    return out


def steps_before(reads, index: str, step: int) -> int | None:
    """The latest step of ``index`` noted before ``step`` (None: none)."""
    import pyarrow.compute as pc

    mine = reads.filter(pc.and_(pc.equal(reads.column("index"), index),
                                pc.less(reads.column("step"), step)))
    if mine.num_rows == 0:
        return None
    return int(pc.max(mine.column("step")).as_py())


__all__ = ["FINAL", "FRESH", "GRAYSCALE", "LAST", "ReadLog", "affected_rows", "first_affected",
           "steps_before"]
