"""Which parts of an input file changed, without decoding it (SPEC §7.2).

A Parquet file is cut into its row groups; each column chunk of each row group (its compressed
bytes, as stored) gets a 128-bit digest from :mod:`daix.kernels.digest`, at memory speed over
the file mapped read-only. A row group whose chunks have the same digests and row count as one
of the previous run holds the same rows, so a recalc reuses that row group's slice hashes and
decodes only the row groups that differ. Digests do not depend on where a row group lies in the
file, so row groups after a changed one still match. The bytes outside the column chunks (the
magic number and the footer) get a digest too: all parts and that one equal means the same file.

A CSV file (or any other single file) is one part: its digest is blake2b of the whole file. A
directory (a hive dataset) has no parts: it is hashed from its rows every time.

The same digests give the manifest's content hash of each input (SPEC §6.3,
:func:`content_digest`): 128 bits over the digests of every byte of the file, so the hash costs
nothing beyond the digest pass a recalc makes anyway.
"""

from __future__ import annotations

import hashlib
import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class FileParts:
    """Row counts and per-column-chunk digests of one input file."""

    kind: str  # "parquet" or "file"
    size: int
    schema: str  # the Parquet file's Arrow schema (parts compare only under the same schema)
    columns: list[str]
    rows: list[int]  # per part (-1: the whole table)
    digests: list[list[tuple[int, int]]]  # per part, per column: (d0, d1) as int64
    rest: tuple[int, int]  # digest of the bytes outside the column chunks
    #: (inode, size, mtime in ns) when described: only a hint of which files may have
    #: changed (to start work on them early), never a reason to trust a file unchanged.
    stat: tuple[int, int, int] = (0, 0, 0)

    def key(self, part: int) -> tuple:
        """What identifies a part's content: its row count and every column chunk's digest."""
        return (self.rows[part], *self.digests[part])

    def column_digest(self, part: int, column: str) -> tuple[int, int]:
        return self.digests[part][self.columns.index(column)]

    def to_json(self) -> dict:
        return {"kind": self.kind, "size": self.size, "schema": self.schema,
                "columns": self.columns, "rows": self.rows,
                "digests": [[list(d) for d in part] for part in self.digests],
                "rest": list(self.rest), "stat": list(self.stat)}

    @classmethod
    def from_json(cls, d: dict) -> FileParts:
        return cls(d["kind"], int(d["size"]), d["schema"], list(d["columns"]),
                   [int(r) for r in d["rows"]],
                   [[(int(a), int(b)) for a, b in part] for part in d["digests"]],
                   (int(d["rest"][0]), int(d["rest"][1])),
                   tuple(int(x) for x in d.get("stat", (0, 0, 0))))

    def same_file(self, other: FileParts | None) -> bool:
        """Whether ``other`` describes the same bytes (every digest, the footer, the size)."""
        return (other is not None and self.kind == other.kind and self.size == other.size
                and self.schema == other.schema and self.columns == other.columns
                and self.rows == other.rows and self.digests == other.digests
                and self.rest == other.rest)


def file_stat(path: Path) -> tuple[int, int, int]:
    """(inode, size, mtime in ns) of a file."""
    st = path.stat()
    return (int(st.st_ino), int(st.st_size), int(st.st_mtime_ns))


def _signed(x: np.uint64) -> int:
    return int(np.uint64(x).view(np.int64))


def _digest_buffer(data: bytes) -> tuple[int, int]:
    """Digest of a small in-memory byte string (the footer), with the kernel's function."""
    from daix.kernels.digest import range_digests_nb

    words = np.zeros(len(data) // 8 + 2, dtype=np.uint64)
    words.view(np.uint8)[:len(data)] = np.frombuffer(data, dtype=np.uint8)
    out = np.zeros((1, 2), dtype=np.uint64)
    range_digests_nb(words, np.zeros(1, np.int64), np.array([len(data)], np.int64), out)
    return _signed(out[0, 0]), _signed(out[0, 1])


def _whole_file(path: Path, stat: tuple[int, int, int]) -> FileParts:
    """A file as one part: blake2b (128 bits) of all its bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    d = h.digest()
    pair = (int.from_bytes(d[:8], "little", signed=True),
            int.from_bytes(d[8:], "little", signed=True))
    return FileParts("file", stat[1], "", ["*"], [-1], [[pair]], (0, 0), stat)


def parts_digest(parts: FileParts) -> str:
    """32 hex digits over a file's size, kind, row counts and every digest of its parts (the
    column chunks and the bytes around them): equal for equal bytes, and changed by any change
    of a byte except with negligible odds. Not a cryptographic hash."""
    h = hashlib.blake2b(digest_size=16)
    h.update(parts.kind.encode() + b"\0")
    flat = [parts.size, *parts.rows, *parts.rest]
    for part in parts.digests:
        for d0, d1 in part:
            flat += (d0, d1)
    h.update(np.array(flat, dtype=np.int64).tobytes())
    return h.hexdigest()


def content_digest(path: Path, parts: FileParts | None = None) -> str:
    """The content hash of an input file or dataset directory (SPEC §6.3): :func:`parts_digest`
    of the file (``parts`` when already described), or, for a directory, 32 hex digits over
    the relative name and the digest of every file below it, in name order."""
    if path.is_dir():
        h = hashlib.blake2b(digest_size=16)
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            h.update(content_digest(f).encode())
        return h.hexdigest()
    if parts is None:
        parts = describe(path) or _whole_file(path, file_stat(path))
    return parts_digest(parts)


def describe(path: Path | None) -> FileParts | None:
    """The parts of an input file and their digests; None for a directory or no file."""
    if path is None or not path.is_file():
        return None
    stat = file_stat(path)
    size = stat[1]
    if not path.name.endswith(".parquet"):
        return _whole_file(path, stat)
    import pyarrow.parquet as pq

    from daix.kernels.digest import range_digests_nb

    try:
        meta = pq.ParquetFile(str(path)).metadata
    except Exception:
        return None
    columns = [meta.schema.column(c).path for c in range(meta.num_columns)]
    starts, ends, rows = [], [], []
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        rows.append(rg.num_rows)
        for c in range(rg.num_columns):
            cc = rg.column(c)
            first = cc.data_page_offset
            if cc.has_dictionary_page and cc.dictionary_page_offset:
                first = min(first, cc.dictionary_page_offset)
            starts.append(first)
            ends.append(first + cc.total_compressed_size)
    starts_a = np.array(starts, dtype=np.int64)
    ends_a = np.array(ends, dtype=np.int64)
    # The kernel reads one word past a range's last byte: every range must end 8 bytes before
    # the last whole word of the file (the footer always follows the chunks in Parquet).
    if len(starts) and (starts_a.min() < 0 or ends_a.max() > (size // 8) * 8 - 8):
        return None
    out = np.zeros((len(starts), 2), dtype=np.uint64)
    with open(path, "rb") as fh:
        if len(starts):
            # Pre-fault the mapping in one go where the platform can (Linux): much cheaper
            # than a page fault per 4 KiB as the kernel walks the file.
            populate = getattr(mmap, "MAP_POPULATE", 0)
            opened = (mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED | populate,
                                prot=mmap.PROT_READ) if populate
                      else mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            with opened as mm:
                words = np.frombuffer(mm, dtype=np.uint64, count=size // 8)
                range_digests_nb(words, starts_a, ends_a, out)
                del words
        fh.seek(0)
        covered = sorted(zip(starts, ends, strict=True))
        head_end = covered[0][0] if covered else size
        tail_start = max((e for _, e in covered), default=size)
        header = fh.read(head_end)
        fh.seek(tail_start)
        footer = fh.read()
    n_cols = len(columns)
    digests = [[(_signed(out[g * n_cols + c, 0]), _signed(out[g * n_cols + c, 1]))
                for c in range(n_cols)] for g in range(len(rows))]
    schema = str(meta.schema.to_arrow_schema())
    return FileParts("parquet", size, schema, columns, rows, digests,
                     _digest_buffer(header + b"\0" + footer), stat)
