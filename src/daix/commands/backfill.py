"""``daix backfill`` and ``daix show`` (SPEC §6.3)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=str),
              help="Output directory (written atomically; an earlier output there is "
                   "replaced, any other non-empty directory refused).")
@click.option("--index", "indices", multiple=True, help="Index id (repeatable).")
@click.option("--family", type=click.Choice(["custom", "select", "single", "grayscale"]),
              help="Only this family.")
@click.option("--start", help="First level written (ISO date or instant, UTC).")
@click.option("--end", help="Last level written; a bare date means the end of that day.")
@click.option("--hourly", is_flag=True,
              help="Every whole UTC hour with the official baskets (SPEC §5).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--dask", "dask_spec", metavar="TEXT", default=None,
              help="local for a LocalCluster on this machine's cores, or tcp://HOST:PORT of a "
                   "running scheduler")
def backfill(data_dir: str, out_dir: str, indices: tuple[str, ...], family: str | None,
             start: str | None, end: str | None, hourly: bool, quiet: bool,
             dask_spec: str | None) -> None:
    """Compute levels, constituents and reviews of the catalogue from DATA_DIR.

    Writes levels.parquet, constituents.parquet, reviews.parquet and manifest.json
    (SPEC §6.3). --start/--end limit what is written, not what is computed (SPEC §4.1).
    """
    from daix import progress
    from daix.engine.backfill import backfill as run
    from daix.engine.outputs import write_backfill
    from daix.writing import check_output_dir

    check_output_dir(out_dir, [data_dir])  # before any work
    progress.set_quiet(quiet)
    if dask_spec:
        from daix.distributed import backfill_distributed, client

        with client(dask_spec) as dask_client:
            result = backfill_distributed(data_dir, dask_client, indices=list(indices) or None,
                                          family=family, start=start, end=end, hourly=hourly)
    else:
        result = run(data_dir, indices=list(indices) or None, start=start, end=end,
                     hourly=hourly, family=family, spool=spool_dir(out_dir))
    write_backfill(result, out_dir)
    echo_summary(result, out_dir)


def spool_dir(out_dir: str) -> Path | None:
    """Where a backfill builds its price matrices as a file (the directory that will hold
    ``out_dir``, so that ``state/`` links the file), or None when it does not exist yet."""
    parent = Path(out_dir).absolute().parent
    return parent if parent.is_dir() else None


def echo_summary(result, out_dir: str) -> None:
    """A short summary: counts, skipped indices, time per stage."""
    m = result.manifest
    c = m["counts"]
    click.echo(f"wrote {out_dir}: {c['indices']} indices, {c['levels']:,} levels, "
               f"{c['constituents']:,} constituent rows, {c['reviews']:,} review rows")
    for index, why in sorted(m["skipped"].items()):
        click.echo(f"  skipped {index}: {why}")
    rows = (m.get("data") or {}).get("price_rows", {}).get("rows")
    total = m["timings_s"].get("total")
    if rows and total:
        click.echo(f"  read {rows:,} price rows; {rows / total:,.0f} rows/s, "
                   f"{c['levels'] / total:,.0f} levels/s end to end")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in m["timings_s"].items())
    click.echo(f"  time: {stages}")


@click.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=str))
def show(out_dir: str) -> None:
    """Print the manifest of an output directory readably."""
    from daix.errors import InputError

    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        raise InputError(f"no manifest.json in {out_dir}: not a daix output directory")
    try:
        m = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    click.echo(f"daix {m.get('daix_version')}  (python {m.get('python')})")
    click.echo("parameters:")
    for k, v in m.get("parameters", {}).items():
        click.echo(f"  {k}: {v}")
    click.echo("inputs:")
    for name, info in m.get("inputs", {}).items():
        digest = info.get("digest") or info.get("sha256", "")  # older outputs: sha256
        click.echo(f"  {name:<10} {digest[:16]}  {info.get('file') or ''}")
    counts = m.get("counts", {})
    click.echo(f"counts: {counts.get('indices')} indices, {counts.get('levels')} levels, "
               f"{counts.get('constituents')} constituents, {counts.get('reviews')} reviews")
    for index, info in sorted(counts.get("per_index", {}).items()):
        extra = f" ({info['indicative']} indicative)" if info.get("indicative") else ""
        click.echo(f"  {index:<22} {info['levels']:>9} levels{extra}")
    for index, why in sorted(m.get("skipped", {}).items()):
        click.echo(f"  skipped {index}: {why}")
    click.echo("timings: " + ", ".join(f"{k} {v}s" for k, v in m.get("timings_s", {}).items()))
