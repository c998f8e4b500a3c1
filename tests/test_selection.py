"""Selection rules by hand: buffers (SPEC §4.3), turnover (SPEC §4.4), Grayscale screens (§4.5)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from daix.engine.reference import Reference
from daix.engine.selection import (
    GrayscaleThresholds,
    buffer_select,
    rank,
    turnover_keeps_factors,
)


def names(n: int) -> list[str]:
    """Assets R01..Rn already in rank order (R01 largest)."""
    return [f"R{i:02d}" for i in range(1, n + 1)]


def test_rank_ties_by_asset_id():
    # SPEC §4.3: MV descending, ties by asset id.
    assert rank({"B": 5.0, "A": 5.0, "C": 7.0}) == ["C", "A", "B"]


def test_first_review_takes_top_n():
    sel = buffer_select(names(30), None, 20, 18, 22)
    assert sel.members == names(20)
    assert all(sel.actions[a][0] == "add" for a in names(20))


@pytest.mark.parametrize(("rank_of_newcomer", "inserted"), [(18, True), (19, False)])
def test_non_constituent_enters_at_18_not_19(rank_of_newcomer, inserted):
    # 20 constituents ranked 1..21 except one slot; the newcomer sits at rank 18 or 19.
    ranked = names(25)
    newcomer = ranked[rank_of_newcomer - 1]
    previous = set(names(21)) - {newcomer}
    sel = buffer_select(ranked, previous, 20, 18, 22)
    assert (newcomer in sel.members) is inserted
    assert len(sel.members) == 20
    if inserted:
        # 21 candidates: the lowest-ranked previous constituent (R21) makes room.
        assert sel.actions["R21"][0] == "delete"
        assert "lowest-ranked" in sel.actions["R21"][1]
    else:
        assert newcomer not in sel.actions


@pytest.mark.parametrize(("rank_of_member", "kept"), [(21, True), (22, False)])
def test_constituent_kept_at_21_deleted_at_22(rank_of_member, kept):
    ranked = names(30)
    member = ranked[rank_of_member - 1]
    previous = set(names(19)) | {member}
    sel = buffer_select(ranked, previous, 20, 18, 22)
    assert (member in sel.members) is kept
    assert len(sel.members) == 20
    if not kept:
        # One deletion, no insertion above 18: the highest-ranked non-constituent (R20) fills.
        assert sel.actions[member][0] == "delete"
        assert sel.actions["R20"][0] == "add"
        assert "highest-ranked non-constituent" in sel.actions["R20"][1]


def test_more_inserts_than_deletes_drops_lowest_previous():
    # Previous: R01..R15 and R25..R29 (5 members at or below 22 are deleted anyway).
    # Newcomers ranked 16, 17, 18 enter; previous members 19..21 do not exist here.
    ranked = names(30)
    previous = set(names(15)) | {"R19", "R20", "R21", "R25", "R26"}
    # Kept: R01..R15, R19, R20, R21 (18); deleted: R25, R26 (>= 22).
    # Inserted: R16, R17, R18 (<= 18) -> 21 members, one too many: drop R21.
    sel = buffer_select(ranked, previous, 20, 18, 22)
    assert sel.members == [*names(20)]
    assert sel.actions["R21"][0] == "delete"
    assert sel.actions["R25"][0] == "delete" and sel.actions["R26"][0] == "delete"
    assert [a for a in ("R16", "R17", "R18") if sel.actions[a][0] == "add"] == ["R16", "R17",
                                                                              "R18"]


def test_more_deletes_than_inserts_fills_from_top_non_constituents():
    ranked = names(30)
    previous = set(names(17)) | {"R23", "R24", "R25"}
    # Kept 17; deleted R23..R25; inserted none above 18 except R18 (<= 18) -> 18; fill R19, R20.
    sel = buffer_select(ranked, previous, 20, 18, 22)
    assert sel.members == names(20)
    assert sel.actions["R18"][1].startswith("ranked 18, at or above")
    assert "highest-ranked non-constituent" in sel.actions["R19"][1]


def test_fewer_than_n_eligible_takes_all():
    sel = buffer_select(names(7), {"R01", "X"}, 10, 8, 13, {"X": "failed liquidity"})
    assert sel.members == names(7)
    assert sel.actions["X"][0] == "delete" and "failed liquidity" in sel.actions["X"][1]


def _turnover(delta_one: float):
    """Two assets of equal value; the new supply moves weight delta_one from B to A.

    Old weights {.5, .5}; new supply A: (1 + 2d), B: (1 - 2d) with price 1 gives new weights
    {.5 + d, .5 - d}: two-way turnover 2d, largest single change d.
    """
    prices = {"A": 1.0, "B": 1.0}
    old_units = {"A": 1.0, "B": 1.0}
    new_supply = {"A": 1.0 + 2 * delta_one, "B": 1.0 - 2 * delta_one}
    return turnover_keeps_factors(prices, old_units, new_supply)


def test_turnover_rule_single_threshold_just_below_and_above_20bp():
    keep, total, largest = _turnover(0.00199)
    assert keep and largest == pytest.approx(0.00199) and total == pytest.approx(0.00398)
    keep, _, largest = _turnover(0.00201)
    assert not keep and largest == pytest.approx(0.00201)


def test_turnover_rule_total_threshold_just_below_and_above_106bp():
    # Many small moves, each under 20 bp: 60 assets, 30 up and 30 down by d each.
    def run(d: float):
        assets = [f"A{i}" for i in range(60)]
        prices = dict.fromkeys(assets, 1.0)
        old = dict.fromkeys(assets, 1.0)
        # Weights 1/60 each; new supply moves each weight by +-d: s = 1 + 60 d or 1 - 60 d.
        new = {a: (1 + 60 * d if i % 2 == 0 else 1 - 60 * d) for i, a in enumerate(assets)}
        return turnover_keeps_factors(prices, old, new)

    # Two-way turnover = 60 d; 60 d = 105.9 bp keeps, 106.1 bp does not.
    keep, total, largest = run(0.01059 / 60)
    assert total < 0.0106 and largest < 0.0020 and keep
    keep, total, largest = run(0.01061 / 60)
    assert total == pytest.approx(0.01061) and largest < 0.0020 and not keep


@pytest.mark.parametrize(
    ("mv", "klass", "constituent", "x", "ok"),
    [
        (50e6, "benchmark", False, 200e6, True),  # enters at exactly $50M
        (49.9e6, "benchmark", False, 200e6, False),
        (40e6, "benchmark", True, 200e6, True),  # stays unless < $40M
        (39.9e6, "benchmark", True, 200e6, False),
        (200e6, "non-benchmark", False, 200e6, True),  # X for Currencies / SCP
        (199e6, "non-benchmark", False, 200e6, False),
        (160e6, "non-benchmark", True, 200e6, True),  # 0.8 X stays
        (159e6, "non-benchmark", True, 200e6, False),
        (100e6, "non-benchmark", False, 100e6, True),  # X for the other sectors
        (80e6, "non-benchmark", True, 100e6, True),
        (79e6, "non-benchmark", True, 100e6, False),
    ],
)
def test_grayscale_market_value_thresholds(mv, klass, constituent, x, ok):
    assert GrayscaleThresholds(x).mv_ok(mv, klass, constituent)[0] is ok


@pytest.mark.parametrize(
    ("adtv", "days", "constituent", "new", "ok"),
    [
        (250e3, 28, False, False, True),  # enters at $250K
        (249e3, 28, False, False, False),
        (200e3, 28, True, False, True),  # stays at $200K
        (199e3, 28, True, False, False),
        (500e3, 84, False, True, True),  # new entrant needs $500K
        (499e3, 84, False, True, False),
        (1e9, 20, False, False, False),  # under 21 days of record: ineligible
        (1e9, 20, False, True, False),  # ... new entrants too (SPEC §8.4)
        (1e9, 21, False, False, True),
    ],
)
def test_grayscale_adtv_thresholds(adtv, days, constituent, new, ok):
    assert GrayscaleThresholds(100e6).adtv_ok(adtv, days, constituent, new)[0] is ok


def test_adtv_mean_of_days_present():
    days = [dt.date(2024, 2, 1) + dt.timedelta(days=i) for i in range(10)]
    vol = pa.table({"date": days, "asset": ["A"] * 10,
                    "volume_usd": [float(100 * (i + 1)) for i in range(10)]})
    ref = Reference(volume=vol)
    # Dates 2024-02-03..2024-02-05 hold 300, 400, 500: mean 400 over 3 days.
    assert ref.adtv("A", dt.date(2024, 2, 3), dt.date(2024, 2, 5)) == (400.0, 3)
    assert ref.adtv("A", dt.date(2023, 1, 1), dt.date(2023, 1, 5))[1] == 0


def test_lists_in_force_before_the_first_list_and_between():
    lists = pa.table({"review": ["2022-03", "2022-03", "2022-09"],
                      "list": ["21shares_inclusion"] * 3, "asset": ["BTC", "ETH", "SOL"]})
    ref = Reference(lists=lists)
    # SPEC §4.2: a review earlier than the first list uses the first list.
    assert ref.named_list("21shares_inclusion", "2021-10") == {"BTC", "ETH"}
    assert ref.named_list("21shares_inclusion", "2022-06") == {"BTC", "ETH"}
    assert ref.named_list("21shares_inclusion", "2022-09") == {"SOL"}
    assert ref.named_list("21shares_inclusion", "2030-01") == {"SOL"}
    assert ref.named_list("grayscale_access", "2022-09") == set()


def test_sector_codes_match_sector_or_subsector():
    assets = pa.table({"asset": ["A", "B", "C"], "name": ["a", "b", "c"],
                       "sector": ["702010", "701020", "702020"],
                       "subsector": ["70201025", "70102010", "70202010"]})
    ref = Reference(assets=assets)
    assert ref.in_codes("A", ("70201025",)) and ref.in_codes("A", ("702010",))
    assert ref.in_codes("B", ("701010", "70102010"))  # Currencies via its subsector
    assert not ref.in_codes("C", ("701010", "70102010"))
