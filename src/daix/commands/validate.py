"""``daix validate DATA_DIR`` (SPEC §6.2)."""

from __future__ import annotations

import click


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=str))
def validate(data_dir: str) -> None:
    """Check every table in DATA_DIR and print a summary; exit 1 on any problem.

    Errors (missing column, wrong type, naive timestamp, unknown window or class, duplicate
    key, bad review month, unreadable file) stop every computation; row problems (invalid
    trades, bad prices, non-positive supply) are rows the rules skip and count (SPEC §2.3,
    §3.8, §8.2). Data is clean when it has neither.
    """
    from daix.validation import validate as run

    report = run(data_dir)
    click.echo(f"{'table':<10} {'rows':>12} {'assets':>7}  range")
    for t in report.tables:
        assets = "" if t.assets is None else str(t.assets)
        span = f"{t.start} .. {t.end}" if t.start else ""
        rows = "unreadable" if t.rows is None else f"{t.rows:,}"
        click.echo(f"{t.name:<10} {rows:>12} {assets:>7}  {span}")
    if report.clean:
        click.echo("clean: no problems")
        return
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.by_kind().items()))
    for p in report.problems:
        click.echo(str(p), err=True)
    raise click.ClickException(f"{len(report.problems)} problem(s) ({kinds})")
