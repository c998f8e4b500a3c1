"""Nulls in the input tables (SPEC §6.2): a row without its key or the name of its asset is an
error naming the file, the column and the row; a null or unusable volume is no day on record
for the ADTV (SPEC §4.5) and a row problem for ``daix validate``."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner
from test_io import clean_tables, write_dir

from daix.cli import main
from daix.engine.reference import Reference
from daix.errors import InputError
from daix.io import DataSet
from daix.schemas import INPUTS
from daix.validation import validate

#: (table, column) pairs that need a value in every row.
REQUIRED = [(name, col) for name, spec in INPUTS.items() for col in spec.not_null]


def with_null(table: pa.Table, column: str, row: int = 0) -> pa.Table:
    col = table.column(column).combine_chunks()
    mask = pa.array([i == row for i in range(table.num_rows)])
    i = table.schema.get_field_index(column)
    return table.set_column(i, table.schema.field(column),
                            pc.if_else(mask, pa.scalar(None, col.type), col))


def test_every_key_column_is_required():
    for name, spec in INPUTS.items():
        assert set(spec.key) <= set(spec.not_null), name
    assert ("universe", "class") in REQUIRED and ("exchanges", "exchange") in REQUIRED
    assert ("exchanges", "valid_to") not in REQUIRED  # open-ended periods are null
    assert ("volume", "volume_usd") not in REQUIRED and ("prices", "price") not in REQUIRED


@pytest.mark.parametrize(("name", "column"), REQUIRED)
def test_a_null_key_is_an_error_naming_file_column_and_row(name, column):
    tables = clean_tables()
    tables[name] = with_null(tables[name], column)
    with pytest.raises(InputError) as info:
        DataSet(tables).table(name)
    text = str(info.value)
    assert f"column '{column}'" in text and "row 1:" in text and f"{column}=None" in text


@pytest.mark.parametrize(("name", "column"), [("prices", "ts"), ("supply", "asset"),
                                              ("volume", "date"), ("universe", "class")])
def test_null_keys_in_files_fail_validate_and_backfill_cleanly(tmp_path, name, column):
    tables = clean_tables()
    tables[name] = with_null(tables[name], column)
    root = write_dir(tmp_path / "data", tables)
    report = validate(root)
    assert [(p.table, p.kind) for p in report.problems] == [(name, "error")]
    assert f"column '{column}'" in report.problems[0].message
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["backfill", str(root), "--out", str(out), "--quiet"])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert f"column '{column}'" in result.output and "Traceback" not in result.output
    assert not out.exists()


def volume(rows) -> pa.Table:
    return pa.table({"date": pa.array([dt.date.fromisoformat(r[0]) for r in rows], pa.date32()),
                     "asset": [r[1] for r in rows],
                     "volume_usd": pa.array([r[2] for r in rows], pa.float64())})


@pytest.mark.parametrize("bad", [None, math.nan, -5.0, math.inf])
def test_an_unusable_volume_is_no_day_on_record(bad):
    # A: 100, 300 and an unusable Feb 2; B: only the unusable row. By hand: A's mean over
    # Feb 1..3 is (100 + 300) / 2 over 2 days; B has no day on record.
    ref = Reference(volume=volume([("2024-02-01", "A", 100.0), ("2024-02-02", "A", bad),
                                   ("2024-02-03", "A", 300.0), ("2024-02-02", "B", bad)]))
    assert ref.adtv("A", dt.date(2024, 2, 1), dt.date(2024, 2, 3)) == (200.0, 2)
    got, n = ref.adtv("B", dt.date(2024, 2, 1), dt.date(2024, 2, 3))
    assert math.isnan(got) and n == 0


def test_a_zero_volume_is_a_day_on_record():
    ref = Reference(volume=volume([("2024-02-01", "A", 0.0), ("2024-02-02", "A", 300.0)]))
    assert ref.adtv("A", dt.date(2024, 2, 1), dt.date(2024, 2, 2)) == (150.0, 2)


@pytest.mark.parametrize("bad", [None, math.nan, -5.0, math.inf])
def test_validate_reports_unusable_volumes_as_row_problems(bad):
    tables = clean_tables()
    tables["volume"] = volume([("2024-03-01", "BTC", 1e9), ("2024-03-01", "ETH", bad)])
    report = validate(tables)
    assert [(p.table, p.kind) for p in report.problems] == [("volume", "rows")]
    text = report.problems[0].message
    assert "volume_usd" in text and "asset=ETH" in text and "asset=BTC" not in text
