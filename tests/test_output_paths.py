"""Where outputs may go, and inputs at the edges of their types (SPEC §6.2): daix replaces
only its own outputs, never its inputs, refuses an impossible path before any work, leaves
nothing behind when stopped by SIGTERM, and turns odd but readable values into clear errors
or exact values, never a traceback."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_io import clean_tables, write_dir

from daix.cli import _terminate_as_exit, main
from daix.errors import ConfigError, InputError
from daix.io import DataSet
from daix.writing import atomic_output_dir, check_output_dir, check_output_file


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture()
def data(tmp_path):
    return write_dir(tmp_path / "park" / "data", clean_tables())


def test_backfill_refuses_to_replace_its_data_directory(data):
    before = listing(data.parent)
    result = run("backfill", str(data), "--out", str(data), "--quiet")
    assert result.exit_code != 0 and "not a daix output" in result.output
    assert listing(data.parent) == before


def test_backfill_refuses_a_directory_holding_its_data(data):
    (data.parent / "notes.txt").write_text("keep me")
    before = listing(data.parent)
    result = run("backfill", str(data), "--out", str(data.parent), "--quiet")
    assert result.exit_code != 0
    assert listing(data.parent) == before


def test_recalc_refuses_to_replace_its_data_directory(data, tmp_path):
    out = tmp_path / "out"
    assert run("backfill", str(data), "--out", str(out), "--quiet").exit_code == 0
    before = listing(data)
    result = run("recalc", str(data), "--previous", str(out), "--out", str(data), "--quiet")
    assert result.exit_code != 0 and str(data) in result.output
    assert listing(data) == before


def test_output_directory_rules(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a daix output"):
        check_output_dir(other)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output_dir(empty) == empty  # an empty directory may be filled
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "manifest.json").write_text("{}")
    assert check_output_dir(earlier) == earlier  # an earlier output is replaced
    assert check_output_dir(tmp_path / "data" / "out", [tmp_path / "data"])  # inside: fine
    with pytest.raises(ConfigError, match="must not be or hold"):
        check_output_dir(tmp_path / "a", [tmp_path / "a" / "data"])


def test_a_path_through_a_file_is_refused_before_any_work(data, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    for args in (["backfill", str(data), "--out", str(afile / "out")],
                 ["fix", str(data), "--out", str(afile / "f.parquet"), "--start", "2024-03-01",
                  "--end", "2024-03-01"]):
        result = run(*args, "--quiet")
        assert result.exit_code != 0 and f"{afile} is not a directory" in result.output
    with pytest.raises(ConfigError, match="is a directory"):
        check_output_file(tmp_path)


def test_fix_refuses_to_write_over_the_trades_it_reads(data):
    before = (data / "trades.parquet").read_bytes()
    result = run("fix", str(data), "--out", str(data / "trades.parquet"), "--start",
                 "2024-03-01", "--end", "2024-03-01", "--quiet")
    assert result.exit_code != 0 and "would replace the input" in result.output
    assert (data / "trades.parquet").read_bytes() == before


def test_import_bars_refuses_to_write_over_a_bar_file(tmp_path):
    src = tmp_path / "bars.csv"
    src.write_text("date,open,high,low,close,volume\n")
    result = run("import-bars", str(src), "--out", str(src))
    assert result.exit_code != 0 and "would replace the input" in result.output
    assert src.read_text() == "date,open,high,low,close,volume\n"


def test_show_on_a_corrupt_manifest_is_a_clean_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    result = run("show", str(tmp_path))
    assert result.exit_code != 0 and "cannot read" in result.output


def test_sigterm_ends_a_command_as_an_exception_that_cleans_up(tmp_path):
    target = tmp_path / "out"

    def mine(signum, frame):  # pragma: no cover - only stands in
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with pytest.raises(SystemExit) as info, _terminate_as_exit(), \
                atomic_output_dir(target) as tmp:
            (tmp / "levels.parquet").write_text("partial")
            os.kill(os.getpid(), signal.SIGTERM)
        assert info.value.code == 128 + signal.SIGTERM
        assert list(tmp_path.iterdir()) == []
        assert signal.getsignal(signal.SIGTERM) is mine  # the handler before is back
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- values at the edges of their types -----------------------------------------------------


def test_an_instant_beyond_int64_nanoseconds_is_an_input_error(tmp_path):
    tables = clean_tables()
    far = pa.array([dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc),
                    dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)],
                   pa.timestamp("us", tz="UTC"))
    tables["exchanges"] = tables["exchanges"].set_column(2, "valid_to", far)
    root = write_dir(tmp_path / "d", tables)
    with pytest.raises(InputError) as info:
        DataSet(root).table("exchanges")
    text = str(info.value)
    assert "column 'valid_to'" in text and "out of range" in text and "row 2:" in text
    result = run("validate", str(root))
    assert result.exit_code != 0 and "valid_to" in result.output


def test_an_integer_supply_above_2_53_becomes_the_nearest_float(tmp_path):
    tables = clean_tables()
    big = 160_000_000_000_000_001  # not a float64: the nearest is 1.6e17
    tables["supply"] = tables["supply"].set_column(
        2, "circulating_supply", pa.array([big, 120_000_000], pa.int64()))
    got = DataSet(write_dir(tmp_path / "d", tables)).table("supply")
    assert got.column("circulating_supply").to_pylist() == [float(big), 120e6]
    assert float(big) == 1.6e17


def test_no_prices_and_no_trades_is_an_input_error(tmp_path):
    tables = clean_tables()
    del tables["prices"]
    tables["trades"] = tables["trades"].slice(0, 0)
    root = write_dir(tmp_path / "d", tables)
    result = run("backfill", str(root), "--out", str(tmp_path / "out"), "--quiet")
    assert result.exit_code != 0 and "no trades to derive" in result.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_list_name_is_an_input_error(tmp_path):
    tables = clean_tables()
    tables["lists"] = pa.table({"review": ["2024-03"], "list": ["21Shares_inclusion"],
                                "asset": ["BTC"]})
    with pytest.raises(InputError) as info:
        DataSet(tables).table("lists")
    text = str(info.value)
    assert "column 'list'" in text and "21Shares_inclusion" in text and "21shares_inclusion" \
        in text  # the allowed names are listed
    pq.write_table(tables["lists"], write_dir(tmp_path / "d", clean_tables()) / "lists.parquet")
    assert run("validate", str(tmp_path / "d")).exit_code != 0
