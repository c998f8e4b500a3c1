"""Writing outputs (SPEC §6.2): nothing partial is ever left behind, and nothing daix did not
write is replaced.

Files and directories are written under a temporary name beside their target and renamed
into place when complete. An output directory replaces only an earlier daix output (it holds
``manifest.json``) or an empty directory, never the inputs; paths are checked before any work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from daix.errors import ConfigError


def write_table(table, path: str | os.PathLike) -> Path:
    """Write Parquet or CSV (by extension) under a temporary name, then rename into place."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    target = check_output_file(path)
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


def link_or_copy(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """``dest`` as a hard link to ``src`` (a copy where links are not possible): for files
    daix never writes in place, so two output directories may share them."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def check_output_dir(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()
                     ) -> Path:
    """Refuse, before any work, an output directory daix must not replace: a file, a
    non-empty directory that is no daix output (no ``manifest.json``: a data directory, a
    home), one that is or holds an input in ``inputs``, or a path through a file."""
    target = Path(path)
    if target.exists():
        if not target.is_dir():
            raise ConfigError(f"output path {target} exists and is not a directory")
        if any(target.iterdir()) and not (target / "manifest.json").is_file():
            raise ConfigError(f"output directory {target} exists and is not a daix output (no "
                              "manifest.json): daix replaces only its own outputs")
    out = target.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if out == source or out in source.parents:
            raise ConfigError(f"output directory {target} must not be or hold the input {item}")
    _check_parents(target)
    return target


def check_output_file(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()
                      ) -> Path:
    """Refuse, before any work, an output file that is a directory, one of the files
    ``inputs`` or inside one of them, or a path through a file."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"output path {target} is a directory: give a file name")
    out = target.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if out == source or source in out.parents:
            raise ConfigError(f"output file {target} would replace the input {item}")
    _check_parents(target)
    return target


def table_files(data_dir: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """The files (or directories of parts) of tables ``names`` present in ``data_dir``."""
    root = Path(data_dir)
    return [p for name in names for p in (root / f"{name}.parquet", root / f"{name}.csv",
                                          root / name) if p.exists()]


def _check_parents(target: Path) -> None:
    """The nearest existing ancestor of ``target`` is a directory (it can be created under)."""
    for parent in target.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"cannot write {target}: {parent} is not a directory")
            return


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block succeeds.

    An existing ``path`` is replaced when ``overwrite`` and it is an earlier daix output or
    empty (the old one removed only after the new one is in place), else it is an error. On
    failure the temporary directory is removed.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise ConfigError(f"output directory {target} already exists")
    check_output_dir(target)
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
