"""``daix synth DIR``: write a deterministic synthetic data directory (SPEC §6.1)."""

from __future__ import annotations

import click


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--assets", type=click.IntRange(min=1), default=40, show_default=True,
              help="Number of assets (BTC, ETH, SOL, XRP, ADA, DOT, TON, XDC first).")
@click.option("--years", type=click.FloatRange(min=0, min_open=True), default=3.0,
              show_default=True, help="Length of the hourly price history.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed: the same seed gives the same tables.")
@click.option("--trades-days", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Days of trades at the end of the history.")
@click.option("--end", default="2025-12-31", show_default=True,
              help="Last date of the history (it ends at 22:00 UTC that day).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet",
              show_default=True, help="File format of the tables.")
@click.option("--defects", is_flag=True,
              help="Add a few null prices and invalid trades that the rules skip and count.")
def synth(out_dir: str, assets: int, years: float, seed: int, trades_days: float, end: str,
          fmt: str, defects: bool) -> None:
    """Write every input table (prices, supply, volume, universe, lists, deletions, fx,
    exchanges, trades, assets) of a synthetic history into OUT_DIR and print a summary.

    The data exercises the selection, weighting and fix rules and passes `daix validate`.
    With --defects it also holds a few null prices and invalid trades that the calculations
    skip and count (SPEC §2.3, §8.2) and that `daix validate` reports as row problems.
    """
    from daix.synth import describe, synthesize

    summary = synthesize(out_dir, assets=assets, years=years, seed=seed,
                         trades_days=trades_days, end=end, fmt=fmt, defects=defects)
    click.echo(describe(summary))
