"""``daix recalc DATA_DIR --previous OLD_OUT --out NEW_OUT`` (SPEC §7)."""

from __future__ import annotations

import click


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--previous", required=True, type=click.Path(exists=True, file_okay=False),
              help="Output directory of the earlier backfill (left untouched).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=str),
              help="New output directory (outside --previous, and not holding it).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--dask", "dask_spec", metavar="TEXT", default=None,
              help="local for a LocalCluster on this machine's cores, or tcp://HOST:PORT of a "
                   "running scheduler: the indices whose reviews run again are recomputed "
                   "there")
def recalc(data_dir: str, previous: str, out_dir: str, quiet: bool,
           dask_spec: str | None) -> None:
    """Recompute after a data correction: only the indices and times the changes reach.

    Writes a full output directory (identical to a fresh backfill on DATA_DIR) plus
    diff.parquet, and prints per index what changed (SPEC §7.1).
    """
    from daix import progress
    from daix.engine.recalc import check_out_dir, write_recalc
    from daix.engine.recalc import recalc as run

    check_out_dir(out_dir, previous, data_dir)  # before any work
    progress.set_quiet(quiet)
    if dask_spec:
        from daix.distributed import client

        with client(dask_spec) as dask_client:
            res = run(data_dir, previous, client=dask_client)
    else:
        res = run(data_dir, previous)
    write_recalc(res, out_dir, previous)
    info = res.result.manifest["recalc"]
    click.echo(f"{info['n_changes']} changed slice(s) of the inputs; recomputed "
               f"{len(info['recomputed'])} of {res.result.manifest['counts']['indices']} "
               f"indices -> {out_dir}")
    rows = [r for r in res.diff.to_pylist() if r["changed"]]
    if not rows:
        click.echo("no level, constituent or review changed")
        return
    click.echo(f"{'index':<22} {'first changed (UTC)':<21} {'levels':>7} {'max abs':>12} "
               f"{'max rel':>10} {'constit.':>8} {'reviews':>8}")
    for r in rows:
        first = r["first_changed"]
        when = "" if first is None else first.strftime("%Y-%m-%d %H:%M")
        mabs = "" if r["max_abs_change"] is None else f"{r['max_abs_change']:.6g}"
        mrel = "" if r["max_rel_change"] is None else f"{r['max_rel_change']:.3e}"
        click.echo(f"{r['index']:<22} {when:<21} {r['changed_levels']:>7} {mabs:>12} "
                   f"{mrel:>10} {r['changed_constituents']:>8} {r['changed_reviews']:>8}")
