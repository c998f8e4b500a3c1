"""The ``daix`` command line: a thin click layer over the Python API.

Sub-commands live in ``daix.commands.*`` and are imported only when run, so ``daix --help``
does not import numba or pyarrow. Every :class:`daix.errors.DaixError` becomes a
``click.ClickException`` (a clear message and a non-zero exit, never a traceback).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util

import click

from daix import __version__
from daix.errors import DaixError

#: Command name -> (module, attribute, one-line help shown by ``daix --help``).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("daix.commands.demo", "demo", "Run the catalogue on built-in synthetic data."),
    "synth": ("daix.commands.synth", "synth", "Write a deterministic synthetic data directory."),
    "validate": ("daix.commands.validate", "validate", "Check the tables of a data directory."),
    "indices": ("daix.commands.catalogue", "indices", "List the built-in indices."),
    "calendar": ("daix.commands.catalogue", "calendar", "Print calculation times (UTC)."),
    "reviews": ("daix.commands.catalogue", "reviews", "Print a family's review events (UTC)."),
    "fix": ("daix.commands.fix", "fix", "Compute reference price fixes from trades."),
    "import-bars": ("daix.commands.bars", "import_bars", "Turn bar files into a trades table."),
    "backfill": ("daix.commands.backfill", "backfill", "Compute levels, baskets and reviews."),
    "recalc": ("daix.commands.recalc", "recalc", "Recompute after a correction, with a diff."),
    "show": ("daix.commands.backfill", "show", "Print an output directory's manifest."),
    "plot": ("daix.commands.plot", "plot", "Plot index levels and constituent weights."),
}


class LazyGroup(click.Group):
    """A group that imports each sub-command on first use and reports DaixError cleanly."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module, attr, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        with _terminate_as_exit():
            try:
                return super().invoke(ctx)
            except DaixError as exc:
                raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def _terminate_as_exit():
    """SIGTERM (a batch system's stop) ends the command as Ctrl-C does: by an exception, so
    that temporary outputs are removed on the way out (SPEC §6.2) instead of left behind."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="daix")
def main() -> None:
    """daix: fast calculator for FTSE Russell / DAR digital asset indices.

    Reference prices from exchange trades, and every index of the Custom, Crypto Select,
    Single Digital Asset and Grayscale Crypto Sector families, to the rules of SPEC.md.
    """


if __name__ == "__main__":  # pragma: no cover
    main()
