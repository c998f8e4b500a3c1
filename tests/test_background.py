"""daix.background: work in a thread of its own, its result or error taken later."""

from __future__ import annotations

import threading

import pytest

from daix.background import in_background


def test_result_and_thread_name():
    future = in_background(lambda a, b: (a + b, threading.current_thread().name), 2, 3,
                           name="sum")
    total, thread = future.result()
    assert total == 5 and thread.startswith("daix-sum")


def test_error_is_raised_by_result():
    def fail() -> None:
        raise ValueError("bad input")

    future = in_background(fail, name="fail")
    with pytest.raises(ValueError, match="bad input"):
        future.result()
