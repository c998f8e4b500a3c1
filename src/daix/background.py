"""Work started in a background thread of its own, its result (or error) taken later."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


def in_background(func: Callable[..., Any], *args: Any, name: str) -> Future:
    """Run ``func(*args)`` in a new thread named ``daix-<name>``; its future (``result()``
    waits and raises its error). The thread ends with the work: nothing to shut down."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"daix-{name}")
    try:
        return pool.submit(func, *args)
    finally:
        pool.shutdown(wait=False)
