"""``daix plot`` and :mod:`daix.plot`: charts of a backfill output (SPEC §6.3).

The step data of the weights panel and the kinds of basket change are checked by hand on tiny
hand-made tables; the rendering on a small synthetic backfill (PNG magic, pixel size, content).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.cli import main
from daix.errors import ConfigError, InputError
from daix.plot import (
    CHANGE,
    DELETION,
    OTHER,
    RESET,
    REVIEW,
    basket_changes,
    clip_steps,
    plot_levels,
    weight_steps,
)
from daix.timeutil import parse_instant

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TS = pa.timestamp("ns", tz="UTC")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    """A small backfill output: CUSTOM_TOP20 and GS_SCP over 1.5 synthetic years."""
    from daix.engine.backfill import backfill
    from daix.engine.outputs import write_backfill
    from daix.synth import synthesize_tables

    tables = synthesize_tables(assets=30, years=1.5, seed=1, defects=False)
    result = backfill(tables, indices=["CUSTOM_TOP20", "GS_SCP"])
    return write_backfill(result, tmp_path_factory.mktemp("plot") / "out")


def at(text: str) -> int:
    return parse_instant(text)


def constituents(rows: list[tuple[str, str, str, float]]) -> pa.Table:
    """A constituents table (SPEC §6.3) from (index, effective, asset, weight) rows."""
    return pa.table({
        "index": [r[0] for r in rows],
        "effective": pa.array([at(r[1]) for r in rows], pa.int64()).cast(TS),
        "asset": [r[2] for r in rows],
        "weight": [r[3] for r in rows],
    })


def check_png(path: Path) -> np.ndarray:
    """The file is a PNG of a sensible size with something drawn on it; returns its pixels."""
    import matplotlib.image as mpimg

    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert 600 <= height <= 1400 and 900 <= width <= 2000 and width > height
    rgb = pixels[..., :3]
    # Two filled panels of lines and stacked areas: well over a tenth of the pixels not white.
    assert (rgb < 0.95).any(axis=-1).mean() > 0.10
    return pixels


# --- the step data of the weights panel (SPEC §6.3, §8.6) ---------------------------------------


# Three baskets of X: a review at E1 (A .5, B .3, C .2); an intra-review deletion of C at E2,
# its weight going to A and B pro rata (SPEC §3.7): A .5/.8 = .625, B .3/.8 = .375; a review
# at E3 (A .4, B .35, D .25). Largest weights: A .625, B .375, D .25, C .2 -> order A B D C.
E1, E2, E3 = "2024-03-17T10:00Z", "2024-04-03T10:00Z", "2024-06-23T10:00Z"
ROWS = [
    ("X", E3, "D", 0.25), ("X", E1, "A", 0.5), ("X", E2, "B", 0.375), ("X", E1, "C", 0.2),
    ("X", E3, "A", 0.4), ("X", E1, "B", 0.3), ("X", E2, "A", 0.625), ("X", E3, "B", 0.35),
    ("Y", E2, "Z", 1.0),
]


def test_weight_steps_step_at_each_effective_instant() -> None:
    times, assets, matrix = weight_steps(constituents(ROWS), "X")
    assert times.dtype == np.int64
    assert times.tolist() == [at(E1), at(E2), at(E3)]  # sorted, one step per basket change
    assert assets == ["A", "B", "D", "C"]
    expected = np.array([
        [0.5, 0.3, 0.0, 0.2],  # from E1
        [0.625, 0.375, 0.0, 0.0],  # from E2: C deleted
        [0.4, 0.35, 0.25, 0.0],  # from E3
    ])
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_weight_steps_groups_the_rest_as_other() -> None:
    times, assets, matrix = weight_steps(constituents(ROWS), "X", top=2)
    assert assets == ["A", "B", OTHER]
    # other = D + C per basket: E1 0 + .2, E2 0 + 0, E3 .25 + 0.
    np.testing.assert_allclose(matrix[:, 2], [0.2, 0.0, 0.25], rtol=0, atol=1e-15)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert times.size == 3


def test_weight_steps_accepts_a_mapping_and_one_member() -> None:
    times, assets, matrix = weight_steps(
        {"index": ["Y"], "effective": pa.array([at(E2)], pa.int64()).cast(TS),
         "asset": ["Z"], "weight": [1.0]}, "Y")
    assert times.tolist() == [at(E2)] and assets == ["Z"] and matrix.tolist() == [[1.0]]


def test_weight_steps_errors() -> None:
    with pytest.raises(ConfigError, match=r"no constituents of index W .*holds X, Y"):
        weight_steps(constituents(ROWS), "W")
    with pytest.raises(InputError, match="twice") as exc:
        weight_steps(constituents([*ROWS, ("X", E1, "A", 0.1)]), "X")
    assert exc.value.column == "asset" and "2024-03-17T10:00:00Z A" in exc.value.rows[0]
    with pytest.raises(InputError, match="null or not finite") as exc:
        weight_steps(constituents([*ROWS[:-1], ("X", E2, "Q", float("nan"))]), "X")
    assert exc.value.column == "weight"


def test_clip_steps_keeps_the_basket_in_force_at_start() -> None:
    times, _, matrix = weight_steps(constituents(ROWS), "X")
    # Start between E1 and E2: the E1 basket is in force, shown from the start.
    lo, hi = at("2024-04-01T00:00Z"), at("2024-05-01T00:00Z")
    t, m = clip_steps(times, matrix, lo, hi)
    assert t.tolist() == [lo, at(E2)]  # E3 (June) is after hi
    np.testing.assert_array_equal(m, matrix[:2])
    # Start exactly at E2: E2 is the basket in force.
    t, m = clip_steps(times, matrix, at(E2), None)
    assert t.tolist() == [at(E2), at(E3)] and np.array_equal(m, matrix[1:])
    # Before E1 nothing is in force: the steps start at E1; an end before E1 shows nothing.
    t, _ = clip_steps(times, matrix, at("2024-01-01T00:00Z"), None)
    assert t.tolist() == [at(E1), at(E2), at(E3)]
    t, m = clip_steps(times, matrix, None, at("2024-03-01T00:00Z"))
    assert t.size == 0 and m.shape == (0, 4)
    # The input is not modified.
    assert times.tolist() == [at(E1), at(E2), at(E3)]


def test_weight_steps_of_a_backfill_sum_to_one(out_dir: Path) -> None:
    table = pq.read_table(out_dir / "constituents.parquet")
    for index in ("CUSTOM_TOP20", "GS_SCP"):
        times, assets, matrix = weight_steps(table, index)
        mine = table.filter(pc.equal(table.column("index"), index))
        distinct = sorted(set(mine.column("effective").cast(pa.int64()).to_pylist()))
        assert times.tolist() == distinct
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-9)
        assert len(assets) <= 13 and (matrix >= 0).all()
    # Custom Top 20 holds 20 members (SPEC §4.3): 12 shown, 8 or more summed as other.
    _, assets, matrix = weight_steps(table, "CUSTOM_TOP20")
    assert len(assets) == 13 and assets[-1] == OTHER and (matrix[:, -1] > 0).all()


# --- kinds of basket change (SPEC §3.5, §3.7, §4.1) -------------------------------------------


def reviews(rows: list[tuple[str, str, str, str, str]]) -> pa.Table:
    return pa.table({k: [r[i] for r in rows]
                     for i, k in enumerate(("index", "review", "asset", "action", "reason"))})


def test_basket_changes_tells_reviews_resets_and_deletions_apart() -> None:
    # X: March review (E 2024-03-17); C leaves the universe at 2024-04-02 15:00Z, removed at
    # 2024-04-03 10:00Z; April factor reset (E 2024-04-21); B leaves at 2024-05-31 23:00Z,
    # removed at 2024-06-02 10:00Z, in June, the month of the June review (E 2024-06-23):
    # only the named instant u tells that deletion from the review.
    cons = constituents([
        ("X", "2024-03-17T10:00Z", "A", 0.5), ("X", "2024-03-17T10:00Z", "B", 0.3),
        ("X", "2024-03-17T10:00Z", "C", 0.2),
        ("X", "2024-04-03T10:00Z", "A", 0.625), ("X", "2024-04-03T10:00Z", "B", 0.375),
        ("X", "2024-04-21T10:00Z", "A", 0.5), ("X", "2024-04-21T10:00Z", "B", 0.5),
        ("X", "2024-06-02T10:00Z", "A", 1.0),
        ("X", "2024-06-23T10:00Z", "A", 0.6), ("X", "2024-06-23T10:00Z", "D", 0.4),
        ("X", "2024-07-21T10:00Z", "A", 0.5), ("X", "2024-07-21T10:00Z", "D", 0.5),
    ])
    intra = ("intra-review deletion: left the universe at {}, removed at the next official "
             "calculation; its weight goes to the others pro rata (SPEC §3.7)")
    revs = reviews([
        ("X", "2024-03", "A", "add", "ranked 1"), ("X", "2024-03", "B", "add", "ranked 2"),
        ("X", "2024-03", "C", "add", "ranked 3"), ("X", "2024-03", "A", "capped", "cap"),
        ("X", "2024-04", "C", "delete", intra.format("2024-04-02T15:00:00Z")),
        ("X", "2024-04", "A", "reset", "monthly factor reset"),
        ("X", "2024-04", "B", "reset", "monthly factor reset"),
        ("X", "2024-05", "B", "delete", intra.format("2024-05-31T23:00:00Z")),
        ("X", "2024-06", "A", "keep", "kept"), ("X", "2024-06", "D", "add", "added"),
        ("Y", "2024-07", "A", "reset", "another index"),
    ])
    got = basket_changes(cons, revs, "X")
    assert got == [
        (at("2024-03-17T10:00Z"), REVIEW),
        (at("2024-04-03T10:00Z"), DELETION),
        (at("2024-04-21T10:00Z"), RESET),
        (at("2024-06-02T10:00Z"), DELETION),
        (at("2024-06-23T10:00Z"), REVIEW),
        (at("2024-07-21T10:00Z"), CHANGE),  # no review rows of X in July
    ]


def test_basket_changes_of_a_backfill_follow_the_review_calendar(out_dir: Path) -> None:
    cons = pq.read_table(out_dir / "constituents.parquet")
    revs = pq.read_table(out_dir / "reviews.parquet")
    changes = basket_changes(cons, revs, "CUSTOM_TOP20")
    deletions = [e for e, k in changes if k == DELETION]
    # Every intra-review deletion row names u; its basket change is the first one after u.
    us = [parse_instant(r.split("left the universe at ")[1].split(",")[0])
          for r, i in zip(revs.column("reason").to_pylist(), revs.column("index").to_pylist(),
                          strict=True)
          if i == "CUSTOM_TOP20" and r.startswith("intra-review")]
    assert us and len(deletions) == len(set(deletions)) >= 1
    times = [e for e, _ in changes]
    assert sorted({min(t for t in times if t >= u) for u in us}) == deletions
    # The others: quarterly reviews in Mar/Jun/Sep/Dec, factor resets in the other months
    # (SPEC §4.1; E lies in the review month).
    for e, kind in changes:
        if kind != DELETION:
            month = int(np.datetime64(e, "ns").astype("datetime64[M]").astype(int) % 12 + 1)
            assert kind == (REVIEW if month in (3, 6, 9, 12) else RESET), (e, kind)


# --- rendering -----------------------------------------------------------------------------------


def test_plot_levels_writes_a_png(out_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "charts" / "levels.png"
    got = plot_levels(out_dir, ["CUSTOM_TOP20", "GS_SCP"], target)
    assert got == target
    check_png(target)
    assert [p.name for p in target.parent.iterdir()] == ["levels.png"]  # no temporary left


def test_plot_cli_with_range_weights_and_log(out_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "gs.png"
    result = CliRunner().invoke(main, [
        "plot", str(out_dir), "--index", "GS_SCP", "--index", "CUSTOM_TOP20",
        "--weights", "GS_SCP", "--start", "2025-01-01", "--end", "2025-06-30", "--log",
        "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    check_png(target)


def test_plot_a_single_index_by_name(out_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "one.svg"
    plot_levels(out_dir, "GS_SCP", target)
    assert target.read_text()[:200].lstrip().startswith("<?xml")


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_index_lists_the_ids_present(out_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"index NOPE not in .*holds CUSTOM_TOP20, GS_SCP"):
        plot_levels(out_dir, ["CUSTOM_TOP20", "NOPE"], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="holds CUSTOM_TOP20, GS_SCP"):
        plot_levels(out_dir, ["GS_SCP"], tmp_path / "x.png", weights="SELECT10")
    result = CliRunner().invoke(main, ["plot", str(out_dir), "--index", "NOPE",
                                       "--out", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "index NOPE not in" in result.output and "CUSTOM_TOP20, GS_SCP" in result.output
    assert not (tmp_path / "x.png").exists()


def test_missing_directory_or_file_names_the_directory(out_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_output"
    with pytest.raises(InputError, match="does not exist") as exc:
        plot_levels(missing, ["GS_SCP"], tmp_path / "x.png")
    assert str(missing) in str(exc.value)
    partial = tmp_path / "partial"
    shutil.copytree(out_dir, partial)
    (partial / "reviews.parquet").unlink()
    with pytest.raises(InputError, match=r"missing reviews\.parquet") as exc:
        plot_levels(partial, ["GS_SCP"], tmp_path / "x.png")
    assert str(partial) in str(exc.value)
    result = CliRunner().invoke(main, ["plot", str(missing), "--index", "GS_SCP",
                                       "--out", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and str(missing) in result.output
    assert "Traceback" not in result.output


def test_missing_column_is_an_input_error(out_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(out_dir, broken)
    levels = pq.read_table(broken / "levels.parquet").drop_columns(["level"])
    pq.write_table(levels, broken / "levels.parquet")
    with pytest.raises(InputError, match="missing column") as exc:
        plot_levels(broken, ["GS_SCP"], tmp_path / "x.png")
    assert exc.value.column == "level" and "levels.parquet" in str(exc.value)


def test_without_matplotlib_says_how_to_install(out_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ConfigError, match=r'pip install "daix\[plot\]"'):
        plot_levels(out_dir, ["GS_SCP"], tmp_path / "x.png")
    result = CliRunner().invoke(main, ["plot", str(out_dir), "--index", "GS_SCP",
                                       "--out", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and 'pip install "daix[plot]"' in result.output
    assert not (tmp_path / "x.png").exists()


def test_bad_arguments(out_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image format"):
        plot_levels(out_dir, ["GS_SCP"], tmp_path / "x.jpg")
    with pytest.raises(ConfigError, match="after --end"):
        plot_levels(out_dir, ["GS_SCP"], tmp_path / "x.png", start="2025-06-01",
                    end="2025-01-01")
    with pytest.raises(ConfigError, match="no levels of GS_SCP"):
        plot_levels(out_dir, ["GS_SCP"], tmp_path / "x.png", start="2030-01-01")
    with pytest.raises(ConfigError, match="at least one index"):
        plot_levels(out_dir, [], tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
