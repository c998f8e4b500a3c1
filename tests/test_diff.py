"""The per-index diff of two outputs (SPEC §7.1): hand-built cases with the expected rows written
out, and properties against the plain-Python reference ``naive.diff_naive``."""

from __future__ import annotations

import math

import naive
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daix.engine.diff as diff_module
from daix.engine.diff import DIFF_COLUMNS, diff, diff_schema
from daix.errors import InputError
from daix.schemas import arrow_schema

T0 = 1_704_067_200 * 1_000_000_000  # 2024-01-01 00:00 UTC
H = 3_600_000_000_000
A, B, C = "CUSTOM_TOP20", "BTC_UTC", "GS_TOTAL"  # catalogue order: A, B, C
NAN = math.nan


def table(name: str, rows: list[tuple], chunks: int = 1) -> pa.Table:
    """A SPEC §6.3 table from row tuples (timestamps as int ns), in ``chunks`` chunks."""
    schema = arrow_schema(name, outputs=True)
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = []
    for field, values in zip(schema, cols, strict=True):
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(list(values), pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(list(values), field.type))
    t = pa.Table.from_arrays(arrays, schema=schema)
    if chunks > 1 and t.num_rows > 1:
        cut = t.num_rows // 2
        t = pa.concat_tables([t.slice(0, cut), t.slice(cut)])
    return t


def output(levels=(), constituents=(), reviews=(), chunks: int = 1) -> dict[str, pa.Table]:
    return {"levels": table("levels", list(levels), chunks),
            "constituents": table("constituents", list(constituents), chunks),
            "reviews": table("reviews", list(reviews), chunks)}


def rows(t: pa.Table) -> list[dict]:
    """Diff rows with ``first_changed`` as int ns."""
    assert t.schema.equals(diff_schema())
    t = t.set_column(2, "first_changed", t.column("first_changed").cast(pa.int64()))
    return t.to_pylist()


def row(index, changed=False, first=None, levels=0, abs_=None, rel=None, cons=0, revs=0):
    return dict(zip(DIFF_COLUMNS, (index, changed, first, levels, abs_, rel, cons, revs),
                    strict=True))


def same(x, y) -> bool:
    """Equal, NaN equal to NaN (for floats)."""
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y))
    return x == y and type(x) is type(y)


def assert_rows(got: list[dict], want: list[dict]) -> None:
    assert [r["index"] for r in got] == [r["index"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert all(same(g[k], w[k]) for k in DIFF_COLUMNS), (g, w)


LEVELS = [(A, T0, 100.0, 2.0, "firm"), (A, T0 + H, 101.0, 2.0, "firm"),
          (A, T0 + 2 * H, 102.0, 2.0, "firm"),
          (B, T0, 50.0, 1.0, "firm"), (B, T0 + H, 51.0, 1.0, "indicative")]
CONS = [(A, T0, "BTC", 1, 10.0, 5.0, 1.0, 0.6), (A, T0, "ETH", 2, 8.0, 4.0, 1.0, 0.4),
        (B, T0, "BTC", 1, None, None, 1.0, 1.0)]
REVS = [(A, "2024-01", "BTC", "add", "top 20 (SPEC §4.2)"),
        (A, "2024-01", "ETH", "add", "top 20 (SPEC §4.2)")]


def edit(rows_: list[tuple], at: int, **values) -> list[tuple]:
    """``rows_`` with row ``at`` changed in the named level columns."""
    names = ("index", "ts", "level", "divisor", "status")
    out = list(rows_)
    r = dict(zip(names, out[at], strict=True)) | values
    out[at] = tuple(r[n] for n in names)
    return out


def test_identical_outputs_change_nothing():
    prev = output(LEVELS, CONS, REVS)
    assert_rows(rows(diff(prev, output(LEVELS, CONS, REVS, chunks=2))),
                [row(A), row(B)])


def test_level_changed_at_one_ts():
    new = output(edit(LEVELS, 1, level=103.02), CONS, REVS)
    # A at T0+1h: |103.02 - 101| = 2.02 (as the float arithmetic gives it), 103.02/101 - 1.
    want = [row(A, True, T0 + H, 1, abs(103.02 - 101.0), abs(103.02 / 101.0 - 1)), row(B)]
    assert_rows(rows(diff(output(LEVELS, CONS, REVS), new)), want)


def test_ts_added_and_removed():
    # B loses T0+1h and gains T0+2h: two moved rows, none on both sides -> 0.0 and 0.0.
    new_levels = [*LEVELS[:4], (B, T0 + 2 * H, 52.0, 1.0, "firm")]
    got = rows(diff(output(LEVELS, CONS, REVS), output(new_levels, CONS, REVS)))
    assert_rows(got, [row(A), row(B, True, T0 + H, 2, 0.0, 0.0)])


def test_divisor_only_and_status_only_changes():
    new_levels = edit(edit(LEVELS, 2, divisor=2.5), 3, status="indicative")
    got = rows(diff(output(LEVELS, CONS, REVS), output(new_levels, CONS, REVS)))
    # Same levels: the moved rows change by 0 (absolute and relative).
    assert_rows(got, [row(A, True, T0 + 2 * H, 1, 0.0, 0.0), row(B, True, T0, 1, 0.0, 0.0)])


def test_largest_change_over_several_rows():
    new_levels = edit(edit(LEVELS, 0, level=90.0), 2, level=103.0)
    got = rows(diff(output(LEVELS), output(new_levels)))
    # |90 - 100| = 10 > |103 - 102| = 1; relative 0.1 = |90/100 - 1| > 1/102.
    assert_rows(got, [row(A, True, T0, 2, 10.0, abs(90.0 / 100.0 - 1)), row(B)])


def test_constituent_rows_added_and_removed():
    new_cons = [CONS[0], (A, T0, "SOL", 2, 8.0, 4.0, 1.0, 0.4), CONS[2],
                (B, T0 + H, "BTC", 1, None, None, 1.0, 1.0)]
    got = rows(diff(output(LEVELS, CONS, REVS), output(LEVELS, new_cons, REVS)))
    # A: ETH row out, SOL row in (2); B: one row in (1). No level moved.
    assert_rows(got, [row(A, True, cons=2), row(B, True, cons=1)])


def test_review_row_changed():
    new_revs = [REVS[0], (A, "2024-01", "ETH", "keep", "top 20 (SPEC §4.2)")]
    got = rows(diff(output(LEVELS, CONS, REVS), output(LEVELS, CONS, new_revs)))
    assert_rows(got, [row(A, True, revs=2), row(B)])  # old row out, new row in


def test_index_present_only_in_prev_or_only_in_new():
    prev = output(LEVELS, CONS[:2], REVS)
    new = output([*LEVELS[:3], (C, T0, 1000.0, 3.0, "firm")], [*CONS[:2], (C, T0, "BTC", 1,
                                                                           1.0, 1.0, 1.0, 1.0)],
                 REVS)
    got = rows(diff(prev, new))
    # B: both level rows gone, nothing on both sides; C: one level row and one constituent new.
    assert_rows(got, [row(A), row(B, True, T0, 2, 0.0, 0.0),
                      row(C, True, T0, 1, 0.0, 0.0, cons=1)])


def test_index_present_only_in_reviews_and_unknown_ids():
    prev = output(reviews=[(C, "2024-01", "BTC", "add", "r"), ("NOT_AN_INDEX", "x", "y", "z",
                                                               "w")])
    assert_rows(rows(diff(prev, prev)), [row(C)])
    assert_rows(rows(diff(prev, output())), [row(C, True, revs=1)])


def test_empty_tables():
    got = diff(output(), output())
    assert got.num_rows == 0 and got.schema.equals(diff_schema())
    assert diff({}, {}).num_rows == 0


def test_zero_old_level_has_no_relative_change():
    prev = output([(A, T0, 0.0, 1.0, "firm"), (A, T0 + H, 4.0, 1.0, "firm")])
    new = output([(A, T0, 5.0, 1.0, "firm"), (A, T0 + H, 4.0, 1.0, "firm")])
    # |5 - 0| = 5; the old level is 0: no relative change at T0, none elsewhere -> 0.0.
    assert_rows(rows(diff(prev, new)), [row(A, True, T0, 1, 5.0, 0.0)])


def test_identical_nan_levels_are_no_change():
    lv = [(A, T0, NAN, NAN, "firm"), (A, T0 + H, 4.0, 1.0, "firm")]
    cons = [(A, T0, "BTC", 1, NAN, 1.0, 1.0, 1.0)]
    assert_rows(rows(diff(output(lv, cons), output(lv, cons, chunks=2))), [row(A)])
    # A NaN level turning into a number moved; its change is NaN (the only one).
    new = output([(A, T0, 3.0, NAN, "firm"), lv[1]], cons)
    assert_rows(rows(diff(output(lv, cons), new)), [row(A, True, T0, 1, NAN, NAN)])


def test_nan_change_does_not_hide_a_number():
    lv = [(A, T0, NAN, 1.0, "firm"), (A, T0 + H, 4.0, 1.0, "firm")]
    new = output([(A, T0, 3.0, 1.0, "firm"), (A, T0 + H, 6.0, 1.0, "firm")])
    # |3 - NaN| = NaN is left out: the largest change is |6 - 4| = 2, relative 6/4 - 1 = 0.5.
    assert_rows(rows(diff(output(lv), new)), [row(A, True, T0, 2, 2.0, 0.5)])


def test_negative_zero_equals_zero_and_null_equals_only_null():
    lv = [(A, T0, 0.0, None, "firm"), (A, T0 + H, None, 1.0, None)]
    cons = [(A, T0, "BTC", None, 0.0, None, 1.0, 1.0), (A, T0, "ETH", 2, 1.0, 1.0, 1.0, 0.5)]
    prev = output(lv, cons)
    # -0.0 == 0.0 (level and constituent row), null == null: nothing moved.
    same_new = output([(A, T0, -0.0, None, "firm"), lv[1]],
                      [(A, T0, "BTC", None, -0.0, None, 1.0, 1.0), cons[1]])
    assert_rows(rows(diff(prev, same_new)), [row(A)])
    # Only the ETH row differs (out and in), not the BTC row with -0.0.
    other_new = output(lv, [(A, T0, "BTC", None, -0.0, None, 1.0, 1.0),
                            (A, T0, "ETH", 2, 1.0, 1.0, 1.0, 0.25)])
    assert_rows(rows(diff(prev, other_new)), [row(A, True, cons=2)])
    # A null level turning into NaN moved (no change computed: a level is null); a null
    # supply turning into NaN is another constituent row (one out, one in).
    new = output([lv[0], (A, T0 + H, NAN, 1.0, None)],
                 [(A, T0, "BTC", None, 0.0, NAN, 1.0, 1.0), cons[1]])
    assert_rows(rows(diff(prev, new)), [row(A, True, T0 + H, 1, 0.0, 0.0, cons=2)])


def test_unsorted_levels_and_repeated_ts():
    prev = output([(B, T0 + H, 51.0, 1.0, "firm"), (A, T0, 1.0, 1.0, "firm"),
                   (B, T0, 50.0, 1.0, "firm"), (B, T0 + H, 52.0, 1.0, "firm")])
    # A repeated (index, ts) counts with its last row: B at T0+1h is 52 on both sides.
    new = output([(A, T0, 1.0, 1.0, "firm"), (B, T0, 50.0, 1.0, "firm"),
                  (B, T0 + H, 52.0, 1.0, "firm")])
    assert_rows(rows(diff(prev, new)), [row(A), row(B)])


def test_indices_compares_only_the_named_ones():
    new = output(edit(edit(LEVELS, 0, level=99.0), 3, level=49.0), CONS, REVS)
    got = rows(diff(output(LEVELS, CONS, REVS), new, indices=[B, C]))
    # A differs but is not named: reported unchanged. B: |49 - 50| = 1, 1/50 = 0.02.
    assert_rows(got, [row(A), row(B, True, T0, 1, 1.0, abs(49.0 / 50.0 - 1))])


def test_bad_table_is_an_input_error():
    bad = output(LEVELS)
    bad["levels"] = bad["levels"].drop_columns(["divisor"])
    with pytest.raises(InputError, match="divisor"):
        diff(bad, output(LEVELS))


def test_agrees_with_naive_on_the_hand_built_cases():
    prev = output(LEVELS, CONS, REVS)
    new = output([*edit(LEVELS, 1, level=NAN)[:4], (C, T0, 1.0, 1.0, "firm")], CONS[1:],
                 REVS[:1])
    assert_rows(rows(diff(prev, new)), naive.diff_naive(prev, new))


# --- properties ----------------------------------------------------------------------------------

IDS = (A, B, C, "NOT_AN_INDEX")
FLOATS = (0.0, -0.0, 1.0, 2.0, 3.5, NAN, math.inf, None)
LEVEL_FLOATS = (1.0, 2.0, 3.5, 7.25, *FLOATS)  # ordinary numbers more often than not


def level_rows(draw_floats=LEVEL_FLOATS, statuses=("firm", "indicative", None)):
    return st.tuples(st.sampled_from(IDS), st.sampled_from([T0 + k * H for k in range(4)]),
                     st.sampled_from(draw_floats), st.sampled_from(draw_floats),
                     st.sampled_from(statuses))


def constituent_rows(floats=FLOATS):
    f = st.sampled_from(floats)
    return st.tuples(st.sampled_from(IDS), st.sampled_from([T0, T0 + H]),
                     st.sampled_from(["BTC", "ETH", None]), st.sampled_from([1, 2, None]),
                     f, f, f, f)


def review_rows():
    return st.tuples(st.sampled_from(IDS), st.sampled_from(["2024-01", "2024-02"]),
                     st.sampled_from(["BTC", "ETH", None]), st.sampled_from(["add", "keep"]),
                     st.sampled_from(["r", None]))


@st.composite
def edited_pair(draw, rows_strategy, max_rows: int = 12):
    """(old rows, new rows): new keeps, drops, replaces or edits each old row, may add some."""
    old = draw(st.lists(rows_strategy, max_size=max_rows))
    new = []
    for r in old:
        op = draw(st.sampled_from(("keep",) * 5 + ("drop", "replace", "edit")))
        if op == "keep":
            new.append(r)
        elif op == "replace":
            new.append(draw(rows_strategy))
        elif op == "edit":  # same index and time or review, other values drawn again
            new.append(r[:2] + draw(rows_strategy)[2:])
    if draw(st.integers(0, 3)) == 0:
        new += draw(st.lists(rows_strategy, min_size=1, max_size=2))
    if draw(st.booleans()):
        new = draw(st.permutations(new))
    return old, new


@st.composite
def output_pairs(draw, floats=None, statuses=("firm", "indicative", None)):
    lv = draw(edited_pair(level_rows(floats or LEVEL_FLOATS, statuses)))
    cons = draw(edited_pair(constituent_rows(floats or FLOATS)))
    revs = draw(edited_pair(review_rows()))
    chunks = draw(st.sampled_from((1, 2)))
    return (output(lv[0], cons[0], revs[0], chunks),
            output(lv[1], cons[1], revs[1], 3 - chunks))


_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(pair=output_pairs(), by_sorting=st.booleans())
def test_matches_naive(pair, by_sorting):
    prev, new = pair
    saved = diff_module._MAX_RUNS
    diff_module._MAX_RUNS = 0 if by_sorting else saved  # both ways of grouping rows by index
    try:
        got = rows(diff(prev, new))
    finally:
        diff_module._MAX_RUNS = saved
    assert_rows(got, naive.diff_naive(prev, new))


@_SETTINGS
@given(pair=output_pairs(), named=st.sets(st.sampled_from(IDS[:3])))
def test_indices_when_the_others_are_equal(pair, named):
    prev, new = pair
    # Copy the rows of every index not named from prev into new, as a recalc does.
    merged = {}
    for name in prev:
        keep = [r for r in prev[name].to_pylist() if r["index"] not in named]
        redo = [r for r in new[name].to_pylist() if r["index"] in named]
        merged[name] = pa.Table.from_pylist(keep + redo, schema=prev[name].schema)
    assert_rows(rows(diff(prev, merged, indices=named)), rows(diff(prev, merged)))
