"""``daix indices``, ``daix calendar`` and ``daix reviews``: the catalogue and its calendars.

Tables are drawn with rich on a terminal and printed as plain text otherwise (aligned columns
for ``indices``, tab-separated for ``reviews``), so that they can be piped and parsed.
"""

from __future__ import annotations

import sys

import click

from daix.catalogue import DAILY, FAMILIES, HOURLY, REALTIME, IndexDef, catalogue, get_index
from daix.errors import ConfigError
from daix.timeutil import NS_PER_DAY, ns_to_iso, parse_instant

_END_HELP = ("Last instant, inclusive (ISO 8601, UTC unless an offset is given); "
             "a bare YYYY-MM-DD means the end of that day, inclusive.")
_START_HELP = ("First instant, inclusive (ISO 8601, UTC unless an offset is given; "
               "a bare YYYY-MM-DD is midnight UTC).")


def _bounds(start: str, end: str) -> tuple[int, int]:
    """Parse --start/--end; a bare date as --end means the end of that day (inclusive)."""
    start_ns = parse_instant(start)
    end_ns = parse_instant(end)
    if len(end.strip()) == 10:
        end_ns += NS_PER_DAY - 1
    if end_ns < start_ns:
        raise ConfigError(f"--end {end} is before --start {start}")
    return start_ns, end_ns


def _tty() -> bool:
    return sys.stdout.isatty()


def _print_table(header: list[str], rows: list[list[str]], *, tabs: bool) -> None:
    """A rich table on a terminal; tab-separated or space-aligned plain text otherwise."""
    if _tty():
        from rich.console import Console
        from rich.table import Table

        table = Table()
        for name in header:
            table.add_column(name, overflow="fold")  # never cut a value on a narrow terminal
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if tabs:
        lines = ["\t".join(r) for r in [header, *rows]]
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in [header, *rows]]
    click.echo("\n".join(lines))


def calendar_text(d: IndexDef) -> str:
    """The calendar of an index in words (SPEC §5), e.g. ``daily 16:00 America/New_York``."""
    if d.calendar == DAILY:
        return f"daily {d.hour:02d}:{d.minute:02d} {d.zone}"
    if d.calendar == HOURLY:
        return "hourly Sun 22:00-Fri 22:00 UTC"
    if d.calendar == REALTIME:
        return "realtime 15s"
    return d.calendar


def weighting_text(d: IndexDef) -> str:
    """The weighting of an index in words (SPEC §3.3-§3.4), with its cap and scale."""
    parts = [d.weighting]
    if d.cap is not None:
        parts.append(f"cap {d.cap * 100:g}%")
    if d.cap_frequency:
        parts.append(f"{d.cap_frequency} factors")
    if d.chain_linked:
        parts.append("chain-linked")
    if d.scale != 1.0:
        parts.append(f"x{d.scale:g}")
    return ", ".join(parts)


@click.command()
@click.option("--family", "-f", type=str, default=None,
              help=f"Only this family: one of {', '.join(FAMILIES)}.")
def indices(family: str | None) -> None:
    """List the built-in indices (SPEC §5): id, family, name, window, calendar, weighting."""
    defs = catalogue(family.strip().lower() if family else None)
    header = ["id", "family", "name", "window", "calendar", "weighting", "currency"]
    rows = [[d.id, d.family, d.name, d.window, calendar_text(d), weighting_text(d), d.currency]
            for d in defs]
    _print_table(header, rows, tabs=False)


@click.command()
@click.argument("index_id")
@click.option("--start", required=True, help=_START_HELP)
@click.option("--end", required=True, help=_END_HELP)
@click.option("--hourly", is_flag=True,
              help="Every whole UTC hour of every day instead of the official calendar.")
def calendar(index_id: str, start: str, end: str, hourly: bool) -> None:
    """Print the calculation instants of INDEX_ID in UTC, one per line (SPEC §5, §1.2).

    The official calendar of the index, or with --hourly every whole UTC hour (SPEC §5).
    """
    from daix.calendars import calculation_times

    d = get_index(index_id)
    start_ns, end_ns = _bounds(start, end)
    times = calculation_times(d, start_ns, end_ns, hourly=hourly)
    if times.size:
        click.echo("\n".join(ns_to_iso(int(t)) for t in times))


@click.command()
@click.argument("family")
@click.option("--start", required=True, help=_START_HELP)
@click.option("--end", required=True, help=_END_HELP)
def reviews(family: str, start: str, end: str) -> None:
    """Print the review events of FAMILY (SPEC §4.1), all instants in UTC.

    One line per event whose review price instant lies in [start, end]: month, kind (review or
    Custom monthly reset), supply cut-off, review prices, close C and effective instant E
    (SPEC §3.5).
    """
    from daix.calendars import review_events

    fam = family.strip().lower()
    if fam not in FAMILIES:
        raise ConfigError(f"unknown family '{family}'; choose one of {', '.join(FAMILIES)}")
    start_ns, end_ns = _bounds(start, end)
    events = review_events(fam, start_ns, end_ns)
    header = ["month", "kind", "cutoff", "review_prices", "close", "effective"]
    rows = [[e.month, e.kind, ns_to_iso(e.cutoff), ns_to_iso(e.price_time), ns_to_iso(e.close),
             ns_to_iso(e.effective)] for e in events]
    _print_table(header, rows, tabs=True)
