"""Rows of a table grouped per asset (or currency) in time order, for the as-of lookups of
supply and FX (SPEC §3.2, §2.2) and the ADTV of the volume table (SPEC §4.5, §8.4).

The wrapper of ``daix.kernels.grouping``: it converts the columns, the kernel orders the rows.
"""

from __future__ import annotations

import numpy as np

from daix.convert import DictionaryChunks, int64_chunk

#: The key of a null instant or date: it sorts after every real one.
NULL_LAST = np.iinfo(np.int64).max


def text_rank_codes(col) -> tuple[np.ndarray, list[str]]:
    """(codes, names): ``names`` the distinct non-null values of a text column (dictionary or
    plain), sorted; ``codes`` (int64, one per row) each row's position in ``names``, a null
    ``len(names)``."""
    chunks = DictionaryChunks.of(col)
    names = sorted({v for d in chunks.dictionaries for v in d if v is not None})
    rank = {v: i for i, v in enumerate(names)}
    null = len(names)
    to_rank = chunks.lookups(lambda v: rank.get(v, null) if v is not None else null)
    parts = [to_rank[k][idx] for idx, k in zip(chunks.indices, chunks.which, strict=True)]
    codes = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    return np.ascontiguousarray(codes, dtype=np.int64), names


def int64_keys(col) -> np.ndarray:
    """A timestamp, date or integer column as int64 NumPy values, a null as :data:`NULL_LAST`."""
    parts = [int64_chunk(c, NULL_LAST) for c in col.chunks]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def group_order(codes: np.ndarray, n_codes: int, keys: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, starts, ordered keys): the rows by code, then key, ties in row order (a stable
    sort, as ``np.lexsort((keys, codes))``); the rows of code ``c`` are
    ``order[starts[c]:starts[c+1]]``; the keys in that order. ``codes`` must lie in
    ``[0, n_codes)``."""
    from daix.kernels.grouping import group_order_nb

    codes = np.ascontiguousarray(codes, dtype=np.int64)
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    if codes.shape != keys.shape:
        raise ValueError(f"{len(codes)} codes for {len(keys)} keys")
    if len(codes) and (codes.min() < 0 or codes.max() >= n_codes):
        raise ValueError(f"codes must lie in [0, {n_codes})")
    return group_order_nb(codes, np.int64(n_codes), keys)


def groups(starts: np.ndarray):
    """(code, lo, hi) of each non-empty group of :func:`group_order`, by code."""
    for c in np.flatnonzero(starts[1:] > starts[:-1]):
        yield int(c), int(starts[c]), int(starts[c + 1])
