"""Progress bars for long work (rich), silent when quiet or when output is not a terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled() -> bool:
    """Bars show only on an interactive stderr, unless quiet or ``DAIX_PROGRESS=0``."""
    if _QUIET or os.environ.get("DAIX_PROGRESS", "") == "0":
        return False
    return os.environ.get("DAIX_PROGRESS", "") == "1" or sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar when bars are enabled."""
    if not enabled():
        yield from items
        return
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, transient=True)


@contextlib.contextmanager
def task(description: str, total: float | None = None):
    """A bar advanced by hand: ``with task("fixes", total=n) as advance: advance(k)``."""
    if not enabled():
        yield lambda _step=1: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        tid = progress.add_task(description, total=total)
        yield lambda step=1: progress.advance(tid, step)
