"""``daix demo``: the whole pipeline on built-in synthetic data."""

from __future__ import annotations

import tempfile

import click


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("--assets", default=40, show_default=True, help="Synthetic assets.")
@click.option("--years", default=3.0, show_default=True, help="Years of hourly history.")
@click.option("--seed", default=7, show_default=True, help="Random seed.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(directory: str | None, assets: int, years: float, seed: int, quiet: bool) -> None:
    """Synthesize a seeded data set in DIRECTORY (default: a temporary one), validate it,
    compute fixes from its trades and backfill every index of every family."""
    from daix import progress

    progress.set_quiet(quiet)
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="daix-demo-") as tmp:
            _run(tmp, assets, years, seed)
    else:
        _run(directory, assets, years, seed)


def _run(directory: str, assets: int, years: float, seed: int) -> None:
    from daix.demo import run_demo

    click.echo(f"daix demo: {assets} synthetic assets, {years:g} years, seed {seed}, in "
               f"{directory}")
    res = run_demo(directory, assets=assets, years=years, seed=seed)
    v = res.validation
    kinds = v.by_kind()
    if v.clean:
        words = "clean"
    elif not kinds.get("error"):
        words = (f"no errors; {kinds.get('rows', 0)} table(s) with rows the rules skip and "
                 f"count (SPEC §2.3, §8.2)")
    else:
        words = f"{kinds['error']} error(s)"
    click.echo(f"validate: {len(v.tables)} tables, {words}")
    r = res.fix_report
    rejected = sum(r.get("rejected", {}).values())
    click.echo(f"fixes: {r.get('trades_read', 0):,} trades read, {rejected:,} rejected, "
               f"{r.get('fixes_written', 0):,} hourly fixes, "
               f"{r['realtime'].get('fixes_written', 0):,} 15-second fixes")
    levels = res.backfill.levels
    m = res.backfill.manifest
    click.echo(f"backfill: {m['counts']['indices']} indices, {levels.num_rows:,} levels, "
               f"{m['counts']['reviews']:,} review rows -> {res.out_dir}")
    finals = final_levels(levels)
    from daix.catalogue import catalogue

    click.echo(f"\n{'family':<10} {'index':<22} {'last time (UTC)':<21} {'level':>14}")
    for d in catalogue():
        row = finals.get(d.id)
        if row is None:
            why = m["skipped"].get(d.id, "no level")
            click.echo(f"{d.family:<10} {d.id:<22} {'-':<21} {'':>14}  ({why})")
            continue
        when, level = row
        click.echo(f"{d.family:<10} {d.id:<22} {when:<21} {level:>14,.4f}")
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in res.seconds.items())
    click.echo(f"\ntime: {secs}")


def final_levels(levels) -> dict[str, tuple[str, float]]:
    """The last level of each index: (UTC time, level)."""
    from daix.timeutil import ns_to_iso

    index = levels.column("index").to_pylist()
    ts = levels.column("ts").cast("int64").to_pylist()
    level = levels.column("level").to_pylist()
    out: dict[str, tuple[int, float]] = {}
    for i, t, v in zip(index, ts, level, strict=True):
        if i not in out or t >= out[i][0]:
            out[i] = (t, v)
    return {i: (ns_to_iso(t).replace("T", " ").rstrip("Z"), v) for i, (t, v) in out.items()}
