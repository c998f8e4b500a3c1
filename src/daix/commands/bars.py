"""``daix import-bars``: exchange bar files to one trades table (SPEC §2.1)."""

from __future__ import annotations

import click

from daix.bars import FORMATS


def _interval(ns: int | None) -> str:
    if not ns:
        return "?"
    seconds = ns // 1_000_000_000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@click.command("import-bars")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--asset", help="Asset of every file (default: from each file name, XBT = BTC).")
@click.option("--exchange", help="Exchange of every file (default: from each file name).")
@click.option("--quote", help="Quote currency of every file (default: from each file name).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Trades file to write: .parquet or .csv.")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Force the bar format instead of detecting it.")
def import_bars(files: tuple[str, ...], asset: str | None, exchange: str | None,
                quote: str | None, out: str, fmt: str | None) -> None:
    """Turn exchange bar files (OHLCV candles) into one trades table (SPEC §2.1).

    Each bar becomes one trade at its open time, priced at its VWAP where the file gives one
    (Binance klines) or else at (high + low + close) / 3, sized by its base volume. Formats:
    CryptoDataDownload CSVs, plain OHLCV CSVs with a header, Binance klines and Kraken OHLCVT;
    gzip, bz2 and single-file zip are read directly. Times without a zone are read as UTC.
    Duplicate bars (the last is kept), zero-volume bars and bars with a bad price or volume are
    skipped and counted. Several files are appended into one table.
    """
    from daix.bars import read_bar_file
    from daix.errors import ConfigError
    from daix.progress import track
    from daix.timeutil import ns_to_iso
    from daix.writing import check_output_file, write_table

    if not out.endswith((".parquet", ".pq", ".csv")):
        raise ConfigError(f"cannot tell the format of '{out}': use .parquet or .csv")
    check_output_file(out, files)
    imported = [read_bar_file(f, asset=asset, exchange=exchange, quote=quote, format=fmt)
                for f in track(files, "reading bars")]
    import pyarrow as pa

    table = pa.concat_tables([b.table for b in imported])
    write_table(table, out)
    for b in imported:
        span = (f"{ns_to_iso(b.first_ns)} .. {ns_to_iso(b.last_ns)}" if b.rows
                else "no trades")
        skipped = ", ".join(f"{k} {v}" for k, v in b.skipped.items() if v) or "none"
        zone = "naive times read as UTC" if b.naive_utc else "UTC"
        price = "VWAP" if b.price_basis == "vwap" else "(H+L+C)/3"
        click.echo(
            f"{b.path}: {b.format}, {b.asset}/{b.quote} on {b.exchange}, "
            f"{_interval(b.interval_ns)} bars; {b.bars} rows -> {b.rows} trades at {price}; "
            f"open times {span} ({zone}, column '{b.time_column}'); skipped: {skipped}"
        )
    click.echo(f"wrote {table.num_rows} trades from {len(imported)} file(s) to {out}")
