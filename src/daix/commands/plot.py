"""``daix plot OUT_DIR --index ID --out FILE.png`` (SPEC §6.3 outputs as a chart)."""

from __future__ import annotations

import click


@click.command()
@click.argument("out_dir", type=click.Path(path_type=str))
@click.option("--index", "indices", multiple=True, required=True,
              help="Index id whose levels are drawn (repeatable).")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Image file, .png (or .svg/.pdf), written under a temporary name and "
                   "renamed into place.")
@click.option("--weights", help="Index id whose constituent weights fill the lower panel "
                                "(default: the first --index).")
@click.option("--start", help="First instant shown, ISO 8601 (a bare date is 00:00 UTC).")
@click.option("--end", help="Last instant shown; a bare date means the end of that day.")
@click.option("--log", is_flag=True, help="Levels on a log scale.")
def plot(out_dir: str, indices: tuple[str, ...], out_file: str, weights: str | None,
         start: str | None, end: str | None, log: bool) -> None:
    """Plot index levels and constituent weights from a backfill output OUT_DIR.

    Top panel: the levels of each --index over time, with a vertical line at each basket
    change (solid: quarterly review, dotted: monthly factor reset, dashed: intra-review
    deletion). Lower panel: the constituent weights of one index as a stacked area, as of
    each basket change; members beyond the 12 largest are summed as "other". Times are UTC.
    Needs matplotlib: pip install "daix[plot]".
    """
    from daix.plot import plot_levels

    path = plot_levels(out_dir, list(indices), out_file, weights=weights, start=start, end=end,
                       log=log)
    click.echo(f"wrote {path}")
