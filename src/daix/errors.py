"""Exceptions raised by daix.

Every error a user can cause is a :class:`DaixError`; the CLI turns it into a
``click.ClickException`` (SPEC §6.2: name the file, the column and example rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DaixError(Exception):
    """Base class of every error daix reports to its user."""


class InputError(DaixError):
    """A problem with an input table: names the file, the column and example rows (SPEC §6.2)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        column: str | None = None,
        rows: Sequence[Any] | None = None,
        kind: str = "input",
    ) -> None:
        self.path = path
        self.column = column
        self.rows = list(rows or [])[:5]
        self.kind = kind
        self.detail = message
        parts = []
        if path is not None:
            parts.append(str(path))
        if column is not None:
            parts.append(f"column '{column}'")
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if self.rows:
            shown = "\n".join(f"    {r}" for r in self.rows)
            text = f"{text}\n  example rows:\n{shown}"
        super().__init__(text)


class ConfigError(DaixError):
    """A bad argument: an unknown index id, family, date or option value."""
