"""``daix fix DATA_DIR --out FILE --start ISO --end ISO`` (SPEC §2, §8.1)."""

from __future__ import annotations

import click

_FORMATS = (".parquet", ".pq", ".csv", ".csv.gz")


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Output file, .parquet or .csv (written under a temporary name, then "
                   "renamed into place).")
@click.option("--start", required=True, help="First instant S, ISO 8601 (a bare date is "
              "00:00 UTC; a time without zone is UTC).")
@click.option("--end", required=True, help="Last instant E, ISO 8601, inclusive. A bare date "
              "YYYY-MM-DD means the end of that day: its last fix is 23:00 UTC (23:59:45 with "
              "--realtime).")
@click.option("--realtime", is_flag=True, help="The 15-second stream (window 15s) instead of "
              "the hourly 15m and 1h fixes.")
@click.option("--ped", type=float, default=0.05, show_default=True,
              help="Screen: a market whose VWAP is more than this fraction away from the "
                   "median of 3 or more markets is excluded (SPEC §2.4).")
@click.option("--batch-rows", type=click.IntRange(min=1), default=None,
              help="Read the trades this many rows at a time (bounds memory; same result).")
@click.option("--quiet", is_flag=True, help="No progress bar and no report.")
@click.option("--dask", "dask_spec", metavar="TEXT", default=None,
              help="local for a LocalCluster on this machine's cores, or tcp://HOST:PORT of a "
                   "running scheduler")
def fix(data_dir: str, out: str, start: str, end: str, realtime: bool, ped: float,
        batch_rows: int | None, quiet: bool, dask_spec: str | None) -> None:
    """Compute reference price fixes from the trades of DATA_DIR.

    Reads trades, fx (needed unless every quote is USD) and exchanges (optional). Writes one
    row per window, asset and grid time S <= T <= E: every whole UTC hour, windows 15m and 1h
    (SPEC §2.5, §2.7), or every 15 s with --realtime; an empty window repeats the previous fix,
    flagged stale (SPEC §2.6). Prints trades read, rejected by reason, fixes written, stale
    fixes and the markets the screen excluded.
    """
    from daix import progress
    from daix.errors import ConfigError
    from daix.fixes import compute_fixes
    from daix.timeutil import NS_PER_DAY, parse_instant
    from daix.writing import check_output_file, table_files, write_table

    if not out.endswith(_FORMATS):
        raise ConfigError(f"cannot tell the format of '{out}': use .parquet or .csv")
    check_output_file(out, table_files(data_dir, ("trades", "fx", "exchanges")))
    start_ns = parse_instant(start)
    end_ns = parse_instant(end)
    if len(end.strip()) == 10:  # a bare date: the end of that day, inclusive
        end_ns += NS_PER_DAY - 1
    if quiet:
        progress.set_quiet(True)
    try:
        if dask_spec:
            from daix.distributed import client
            from daix.distributed_fixes import fixes_distributed

            with client(dask_spec) as dask_client:
                result = fixes_distributed(data_dir, start_ns, end_ns, dask_client,
                                           realtime=realtime, ped=ped, batch_rows=batch_rows)
        else:
            result = compute_fixes(data_dir, start_ns, end_ns, realtime=realtime, ped=ped,
                                   batch_rows=batch_rows)
        write_table(result.table, out)
    finally:
        if quiet:
            progress.set_quiet(False)
    if not quiet:
        click.echo(format_report(result.report))
        click.echo(f"wrote {result.table.num_rows:,} fixes to {out}")


def format_report(report: dict) -> str:
    """The run report of :func:`daix.fixes.compute_fixes` as a few readable lines."""
    rejected = report["rejected"]
    lines = [
        f"trades read       {report['trades_read']:>12,}",
        f"trades used       {report['trades_used']:>12,}   outside the grid "
        f"{report['trades_outside_range']:,}",
        f"rejected          {sum(rejected.values()):>12,}   "
        + ", ".join(f"{reason} {n:,}" for reason, n in rejected.items()),
        f"fixes written     {report['fixes_written']:>12,}   {report['assets']} assets, "
        f"windows {', '.join(report['windows'])}, {report['start']} .. {report['end']}",
        f"stale fixes       {report['stale_fixes']:>12,}   of which null {report['null_fixes']:,}",
    ]
    excluded = report["markets_excluded"]
    parts = [f"{ex}/{quote} {n:,}" for ex in sorted(excluded)
             for quote, n in sorted(excluded[ex].items())]
    lines.append("markets excluded  " + (", ".join(parts) if parts else "none")
                 + "   (windows screened out, by exchange/quote)")
    return "\n".join(lines)
