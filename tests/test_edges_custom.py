"""Custom Digital Asset (HashKey) indices: edge rules, every expected number worked out by hand.

Rules checked: eligibility at quarterly reviews and the monthly factor reset (SPEC §3.8, §4.1,
§8.3), the lists in force (SPEC §4.2), Top 20 ranking with buffers (SPEC §4.3) and the 40% cap
(SPEC §3.4), divisor continuity (SPEC §3.5), intra-review deletions and suspension (SPEC §3.7,
§8.5), and the ``constituents`` and ``reviews`` outputs (SPEC §6.3, §8.6).

Custom instants (SPEC §4.1, all 10:00 UTC; official calendar 10:00 UTC Sunday to Friday):

- Mar 2024 review: cut-off Thu 2024-02-29; review prices Wed 2024-03-06 (first Friday Mar 1);
  C = Fri 2024-03-15; E = Sun 2024-03-17.
- Apr 2024 reset: prices Wed 2024-04-10; C = Fri 2024-04-19; E = Sun 2024-04-21.
- May 2024 reset: prices Wed 2024-05-08; C = Fri 2024-05-17; E = Sun 2024-05-19.
- Jun 2024 review: cut-off Fri 2024-05-31; prices Wed 2024-06-12; C = Fri 2024-06-21;
  E = Sun 2024-06-23.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from custom_scenarios import (
    actions,
    approx,
    assets_table,
    level_at,
    level_times,
    rows_of,
    universe_table,
)
from scenarios import (
    at,
    basket,
    effectives,
    hole,
    hour_grid,
    lists_table,
    prices_table,
    spike,
    step,
    supply_table,
)

from daix.engine.backfill import backfill

# --- 1. Infrastructure and Application: eligibility, factor reset, lists in force ----------
#
# Data 2024-02-20 .. 2024-06-26, hourly 15m fixes. Universe 2024-03 holds every asset.
# Infrastructure (sectors 702020/30/40/50), supply 100 at 2024-02-01 unless said:
#   A 702020: 10, 12 from 2024-04-01.
#   B 702030: 4, 8 from 2024-04-01; supply 50; no fix 2024-04-10 00:00Z..12:00Z (none at the April
#     reset price time; its last fix then is 8).
#   X 702040: 2; no fix at the March cut-off 2024-02-29 10:00Z (only Top 20 ranks at the
#     cut-off, SPEC §8.3) and none at the June review prices 2024-06-12 10:00Z.
#   Z0 702050: 1; supply 100, then 0 from 2024-02-20 (latest row 0: ineligible, no fallback).
#   ZN 702020: 1; supply 100, then -5 from 2024-02-25.
#   LATE 702020: 1; first supply row 2024-02-29 10:00:01Z, one second after the cut-off.
#   EXACT 702020: 5; supply 1000, then 30 at exactly 2024-02-29 10:00:00Z (at the cut-off).
#   NP 702020: 3, 6 from 2024-06-24; no fix at the March review prices 2024-03-06 10:00Z.
# Application (702010, 703010): APP1 702010 1; APP2 703010 2; APP3 702010 4, 8 from
# 2024-06-24. Lists: 2024-02 application exclusion {APP3}, 2024-05 application exclusion
# {APP2}; 2024-02 top-20 exclusion {A} and infrastructure exclusion {APP1} (no effect on
# these indices: each index reads its own list).
INFRA_SECTORS = {"A": "702020", "B": "702030", "X": "702040", "Z0": "702050", "ZN": "702020",
                 "LATE": "702020", "EXACT": "702020", "NP": "702020"}
APP_SECTORS = {"APP1": "702010", "APP2": "703010", "APP3": "702010"}


def infra_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    s = {
        "A": step(t, 10, ("2024-04-01T00:00Z", 12)),
        "B": step(t, 4, ("2024-04-01T00:00Z", 8)),
        "X": step(t, 2), "Z0": step(t, 1), "ZN": step(t, 1), "LATE": step(t, 1),
        "EXACT": step(t, 5), "NP": step(t, 3, ("2024-06-24T00:00Z", 6)),
        "APP1": step(t, 1), "APP2": step(t, 2), "APP3": step(t, 4, ("2024-06-24T00:00Z", 8)),
    }
    hole(t, s["B"], "2024-04-10T00:00Z", "2024-04-10T12:00Z")
    hole(t, s["X"], "2024-02-29T10:00Z")
    hole(t, s["X"], "2024-06-12T10:00Z")
    hole(t, s["NP"], "2024-03-06T10:00Z")
    supply = [("2024-02-01T00:00Z", a, 50 if a == "B" else 100) for a in s
              if a not in ("LATE", "EXACT")]
    supply += [("2024-02-20T00:00Z", "Z0", 0), ("2024-02-25T00:00Z", "ZN", -5),
               ("2024-02-29T10:00:01Z", "LATE", 100),
               ("2024-02-01T00:00Z", "EXACT", 1000), ("2024-02-29T10:00:00Z", "EXACT", 30)]
    return {
        "prices": prices_table(t, s),
        "supply": supply_table(supply),
        "assets": assets_table({**INFRA_SECTORS, **APP_SECTORS}),
        "universe": universe_table("2024-03", list(s)),
        "lists": lists_table([
            ("2024-02", "hashkey_exclusion_application", "APP3"),
            ("2024-05", "hashkey_exclusion_application", "APP2"),
            ("2024-02", "hashkey_exclusion_top20", "A"),
            ("2024-02", "hashkey_exclusion_infrastructure", "APP1"),
        ]),
    }


@pytest.fixture(scope="module")
def sectors_run():
    return backfill(infra_tables(), indices=["CUSTOM_INFRA", "CUSTOM_APP"])


def test_infra_march_screens_supply_as_of_the_cut_off(sectors_run):
    """SPEC §3.2, §3.8, §8.3: supply at the cut-off is the latest row at or before it, even 0 or
    negative (Z0, ZN ineligible, no fallback to their older 100); LATE's only row is one second
    after the cut-off (no supply: ineligible); EXACT's row at exactly the cut-off counts (30, not
    1000). NP has no fix at the review price time (ineligible); X has none at the cut-off but
    only Top 20 ranks at the cut-off, so X is eligible. A is on the Top 20 list only."""
    mar = basket(sectors_run, "CUSTOM_INFRA", "2024-03-17T10:00Z")
    assert set(mar) == {"A", "B", "X", "EXACT"}
    assert mar["EXACT"]["supply"] == 30.0
    assert mar["A"]["supply"] == 100.0


def test_infra_march_equal_weights_and_ranks(sectors_run):
    """SPEC §3.3, §8.6: MV at review prices A 10*100 = 1000, B 4*50 = 200, X 2*100 = 200,
    EXACT 5*30 = 150. Equal target 1/4; f_i = (1/4)/(MV_i/sum MV) is proportional to 1/MV_i,
    scaled so the largest is 1: f_i = 150/MV_i: A .15, B .75, X .75, EXACT 1. Weight 1/4 each.
    Rank by market value among the members (no selection rank), ties by asset id: A 1, B 2,
    X 3 (B and X tie at 200), EXACT 4."""
    mar = basket(sectors_run, "CUSTOM_INFRA", "2024-03-17T10:00Z")
    got = {a: (r["market_value"], r["factor"], r["weight"], r["rank"]) for a, r in mar.items()}
    assert got == {
        "A": (approx(1000.0), approx(0.15), approx(0.25), 1),
        "B": (approx(200.0), approx(0.75), approx(0.25), 2),
        "X": (approx(200.0), approx(0.75), approx(0.25), 3),
        "EXACT": (approx(150.0), approx(1.0), approx(0.25), 4),
    }


def test_infra_april_reset_keeps_a_stale_constituent_at_its_last_price(sectors_run):
    """SPEC §4.1, §8.3, §8.6: April reset at 2024-04-10 10:00Z, supply unchanged. B has no fix
    then: it keeps its last price 8 (MV 8*50 = 400) and stays. MVs A 12*100 = 1200, B 400,
    X 200, EXACT 150: f = 150/MV_i: A .125, B .375, X .75, EXACT 1; ranks by those values."""
    apr = basket(sectors_run, "CUSTOM_INFRA", "2024-04-21T10:00Z")
    got = {a: (r["market_value"], r["factor"], r["weight"], r["rank"], r["supply"])
           for a, r in apr.items()}
    assert got == {
        "A": (approx(1200.0), approx(0.125), approx(0.25), 1, 100.0),
        "B": (approx(400.0), approx(0.375), approx(0.25), 2, 50.0),
        "X": (approx(200.0), approx(0.75), approx(0.25), 3, 100.0),
        "EXACT": (approx(150.0), approx(1.0), approx(0.25), 4, 30.0),
    }


def test_reset_rows_one_per_member(sectors_run):
    """SPEC §6.3: a monthly factor reset writes one `reset` row per member (April and May:
    A, B, X, EXACT) and no add, keep or delete rows; the reason cites the rule."""
    for month in ("2024-04", "2024-05"):
        assert actions(sectors_run, "CUSTOM_INFRA", month, ("reset",)) == [
            ("A", "reset"), ("B", "reset"), ("EXACT", "reset"), ("X", "reset")]
        assert actions(sectors_run, "CUSTOM_INFRA", month) == []
        assert all("SPEC §" in r["reason"] for r in rows_of(sectors_run, "CUSTOM_INFRA", month))


def test_infra_june_review_actions(sectors_run):
    """SPEC §3.8, §6.3, §8.3: at the June review X (a constituent) has no fix at the review price
    time: ineligible, deleted (at a reset it would have stayed). NP now has one: added. LATE's
    supply row (2024-02-29 10:00:01Z) is before the June cut-off: added. Z0 and ZN still have
    supply 0 and -5: never added. Exactly one of add/keep/delete per asset that was or becomes
    a member; no `reset` rows at a quarterly review."""
    assert actions(sectors_run, "CUSTOM_INFRA", "2024-06") == [
        ("A", "keep"), ("B", "keep"), ("EXACT", "keep"), ("LATE", "add"), ("NP", "add"),
        ("X", "delete")]
    assert actions(sectors_run, "CUSTOM_INFRA", "2024-06", ("reset",)) == []
    assert actions(sectors_run, "CUSTOM_INFRA", "2024-03") == [
        ("A", "add"), ("B", "add"), ("EXACT", "add"), ("X", "add")]


def test_infra_june_basket(sectors_run):
    """SPEC §3.3, §8.6: June MVs at 2024-06-12 10:00Z: A 1200, B 400, NP 300, EXACT 150,
    LATE 100; f = 100/MV_i: A 1/12, B .25, NP 1/3, EXACT 2/3, LATE 1; ranks in that order."""
    jun = basket(sectors_run, "CUSTOM_INFRA", "2024-06-23T10:00Z")
    got = {a: (r["market_value"], r["factor"], r["rank"]) for a, r in jun.items()}
    assert got == {
        "A": (approx(1200.0), approx(1 / 12), 1), "B": (approx(400.0), approx(0.25), 2),
        "NP": (approx(300.0), approx(1 / 3), 3), "EXACT": (approx(150.0), approx(2 / 3), 4),
        "LATE": (approx(100.0), approx(1.0), 5),
    }
    assert all(r["weight"] == approx(0.2) for r in jun.values())


@pytest.mark.parametrize(
    ("when", "level", "divisor", "status"),
    [
        # March units (s*f): A 15, B 37.5, X 75, EXACT 30; each worth 150 at E: d = 600/1000
        ("2024-03-17T10:00Z", 1000.0, 0.6, "firm"),
        # from 04-01 A 12, B 8: 180 + 300 + 150 + 150 = 780: 780/.6 = 1300
        ("2024-04-02T10:00Z", 1300.0, 0.6, "firm"),
        ("2024-04-10T10:00Z", 1300.0, 0.6, "indicative"),  # B stale, last price kept (§3.8)
        ("2024-04-19T10:00Z", 1300.0, 0.6, "firm"),  # C of the April reset
        # April units A 12.5, B 18.75, X 75, EXACT 30: MV_new(C) = 4*150 = 600;
        # d = .6 * 600/780 = 6/13; I(E) = 600/(6/13) = 1300
        ("2024-04-21T10:00Z", 1300.0, 6 / 13, "firm"),
        # May reset: same prices, same factors: d unchanged
        ("2024-05-19T10:00Z", 1300.0, 6 / 13, "firm"),
        ("2024-06-21T10:00Z", 1300.0, 6 / 13, "firm"),  # C of the June review
        # June units worth 100 each at C: MV_new(C) = 500, MV_old(C) = 600: d = 6/13*5/6 = 5/13
        ("2024-06-23T10:00Z", 1300.0, 5 / 13, "firm"),
        # NP 6 from 06-24: units 33.33 -> 200: (600)/(5/13) = 1560
        ("2024-06-24T10:00Z", 1560.0, 5 / 13, "firm"),
    ],
)
def test_infra_levels_by_hand(sectors_run, when, level, divisor, status):
    """SPEC §3.1, §3.5, §3.8: levels and the divisor in force (SPEC §8.6)."""
    got = level_at(sectors_run, "CUSTOM_INFRA", when)
    assert got == (approx(level), approx(divisor), status)


def test_application_lists_in_force(sectors_run):
    """SPEC §4.2: the list in force is the latest at or before the review, per list name.
    March: application list 2024-02 {APP3}: APP1 (MV 100) and APP2 (MV 200) selected, f 1 and
    .5 (equal weights); the top-20 and infrastructure lists do not apply. June: list 2024-05
    {APP2}: APP2 deleted, APP3 (MV 400) added, f APP1 1, APP3 100/400 = .25."""
    mar = basket(sectors_run, "CUSTOM_APP", "2024-03-17T10:00Z")
    assert {a: r["factor"] for a, r in mar.items()} == {"APP1": approx(1.0), "APP2": approx(0.5)}
    jun = basket(sectors_run, "CUSTOM_APP", "2024-06-23T10:00Z")
    assert {a: r["factor"] for a, r in jun.items()} == {"APP1": approx(1.0),
                                                         "APP3": approx(0.25)}
    assert actions(sectors_run, "CUSTOM_APP", "2024-06") == [
        ("APP1", "keep"), ("APP2", "delete"), ("APP3", "add")]


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        # units APP1 100, APP2 50, each worth 100: d = 200/1000
        ("2024-03-17T10:00Z", 1000.0, 0.2),
        # June units APP1 100, APP3 25: MV_new(C) = 100 + 100 = MV_old(C): d unchanged
        ("2024-06-23T10:00Z", 1000.0, 0.2),
        # APP3 8 from 06-24: 100 + 200 = 300: 1500
        ("2024-06-24T10:00Z", 1500.0, 0.2),
    ],
)
def test_application_levels_by_hand(sectors_run, when, level, divisor):
    """SPEC §3.1, §3.5."""
    got = level_at(sectors_run, "CUSTOM_APP", when)
    assert got[:2] == (approx(level), approx(divisor))


# --- 2. Top 20: multi-pass capping, a weight exactly at the cap, the cut-off fix ------------
#
# T1..T5, supply 100 each, universe 2024-03 holds all five (fewer than 20 eligible: all taken,
# SPEC §4.3). Prices: T1 6, 4 from 2024-04-01; T2 3; T3 .5, 2 from 2024-04-01, no fix at the
# June cut-off 2024-05-31 10:00Z; T4 .5, 1 from 2024-04-01, no fix at the June review prices
# 2024-06-12 10:00Z; T5 no fix before 2024-05-01, then 2.
TOP_ASSETS = ["T1", "T2", "T3", "T4", "T5"]


def top_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    s = {
        "T1": step(t, 6, ("2024-04-01T00:00Z", 4)),
        "T2": step(t, 3),
        "T3": step(t, 0.5, ("2024-04-01T00:00Z", 2)),
        "T4": step(t, 0.5, ("2024-04-01T00:00Z", 1)),
        "T5": step(t, np.nan, ("2024-05-01T00:00Z", 2)),
    }
    hole(t, s["T3"], "2024-05-31T10:00Z")
    hole(t, s["T4"], "2024-06-12T10:00Z")
    return {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in TOP_ASSETS]),
        "universe": universe_table("2024-03", TOP_ASSETS),
    }


@pytest.fixture(scope="module")
def top_run():
    return backfill(top_tables(), indices=["CUSTOM_TOP20"])


def test_two_pass_capping_shows_the_cap_exactly(top_run):
    """SPEC §3.3, §3.4, §8.6: March W = 600, 300, 50, 50 of 1000 = .6, .3, .05, .05.
    Pass 1: T1 -> .4, excess .2 to T2, T3, T4 pro rata (.3/.4, .05/.4, .05/.4): .45, .075,
    .075. Pass 2: T2 -> .4, excess .05 to T3, T4: .1 each. f = target/W: 2/3, 4/3, 2, 2, scaled
    by 1/2: 1/3, 2/3, 1, 1. A capped member shows its cap exactly (.4); ranks at the cut-off
    T1..T4 (T3 and T4 tie at 50: by asset id); T5 has no fix at the cut-off: not ranked."""
    mar = basket(top_run, "CUSTOM_TOP20", "2024-03-17T10:00Z")
    assert set(mar) == {"T1", "T2", "T3", "T4"}
    assert mar["T1"]["weight"] == 0.4 and mar["T2"]["weight"] == 0.4
    got = {a: (r["factor"], r["weight"], r["rank"], r["market_value"]) for a, r in mar.items()}
    assert got == {
        "T1": (approx(1 / 3), 0.4, 1, approx(600.0)),
        "T2": (approx(2 / 3), 0.4, 2, approx(300.0)),
        "T3": (approx(1.0), approx(0.1), 3, approx(50.0)),
        "T4": (approx(1.0), approx(0.1), 4, approx(50.0)),
    }
    capped = rows_of(top_run, "CUSTOM_TOP20", "2024-03")
    assert sorted(r["asset"] for r in capped if r["action"] == "capped") == ["T1", "T2"]
    text = " ".join(r["reason"] for r in capped if r["action"] == "capped")
    assert "2 pass" in text  # SPEC §3.4: the report says in how many passes


def test_weight_exactly_at_the_cap_is_not_capped(top_run):
    """SPEC §3.4: April reset MVs 400, 300, 200, 100 of 1000: T1 exactly .4, not above it: no
    capping, f = 1 for all, no `capped` row; the reset keeps the selection ranks (SPEC §8.6)."""
    apr = basket(top_run, "CUSTOM_TOP20", "2024-04-21T10:00Z")
    got = {a: (r["factor"], r["weight"], r["rank"]) for a, r in apr.items()}
    assert got == {"T1": (approx(1.0), approx(0.4), 1), "T2": (approx(1.0), approx(0.3), 2),
                   "T3": (approx(1.0), approx(0.2), 3), "T4": (approx(1.0), approx(0.1), 4)}
    assert [r for r in rows_of(top_run, "CUSTOM_TOP20", "2024-04")
            if r["action"] == "capped"] == []


def test_top20_june_cut_off_fix_and_review_price(top_run):
    """SPEC §8.3, §3.8, §4.3: June: T3, a constituent, has no fix at the cut-off: not ranked,
    so deleted; T4 has a fix at the cut-off but none at the review price time: ineligible,
    deleted; T5 (fix at the cut-off now) added. Ranks by cut-off value: T1 400, T2 300,
    T5 200. Review MVs 400, 300, 200 (W 4/9, 3/9, 2/9): T1 -> .4, excess 4/9 - .4 = 2/45 to T2
    and T5 pro rata (3:2): .36 and .24. f .9, 1.08, 1.08 scaled: 5/6, 1, 1."""
    assert actions(top_run, "CUSTOM_TOP20", "2024-06") == [
        ("T1", "keep"), ("T2", "keep"), ("T3", "delete"), ("T4", "delete"), ("T5", "add")]
    jun = basket(top_run, "CUSTOM_TOP20", "2024-06-23T10:00Z")
    got = {a: (r["factor"], r["weight"], r["rank"]) for a, r in jun.items()}
    assert got == {"T1": (approx(5 / 6), 0.4, 1), "T2": (approx(1.0), approx(0.36), 2),
                   "T5": (approx(1.0), approx(0.24), 3)}


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        # units T1 100/3, T2 200/3, T3 100, T4 100: MV(E) = 200 + 200 + 50 + 50: d = .5
        ("2024-03-17T10:00Z", 1000.0, 0.5),
        # from 04-01: 133.33 + 200 + 200 + 100 = 1900/3: /0.5 = 3800/3
        ("2024-04-19T10:00Z", 3800 / 3, 0.5),
        # April units 100 each: MV_new(C) = 1000: d = .5*1000/(1900/3) = 15/19
        ("2024-04-21T10:00Z", 3800 / 3, 15 / 19),
        ("2024-06-21T10:00Z", 3800 / 3, 15 / 19),
        # June units T1 250/3, T2 100, T5 100: MV_new(C) = 333.33 + 300 + 200 = 2500/3;
        # MV_old(C) = 1000: d = 15/19 * 5/6 = 25/38
        ("2024-06-23T10:00Z", 3800 / 3, 25 / 38),
    ],
)
def test_top20_levels_by_hand(top_run, when, level, divisor):
    """SPEC §3.1, §3.5."""
    got = level_at(top_run, "CUSTOM_TOP20", when)
    assert got[:2] == (approx(level), approx(divisor))


# --- 3. Top 20 buffers at a later review, with a list change ---------------------------------
#
# G01..G24, supply 100. Until 2024-04-30 G_i is worth 100 - i (March: G01..G20 selected).
# From 2024-05-01 (June cut-off and review prices) the price is 100 - r for the June rank r
# among the eligible below, and G05 is 200 but on the 2024-05 top-20 exclusion list:
#   1-16: G01-G04, G06-G17; 17: G22; 18: G18; 19: G21; 20: G20; 21: G23; 22: G19; 23: G24.
JUNE_ORDER = ["G01", "G02", "G03", "G04", *[f"G{i:02d}" for i in range(6, 18)], "G22", "G18",
              "G21", "G20", "G23", "G19", "G24"]
G_ASSETS = [f"G{i:02d}" for i in range(1, 25)]


def buffer_tables(lists: list[tuple[str, str, str]]) -> dict[str, pa.Table]:
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    s = {}
    for i, a in enumerate(G_ASSETS, start=1):
        june = 200.0 if a == "G05" else 100.0 - (JUNE_ORDER.index(a) + 1)
        s[a] = step(t, 100.0 - i, ("2024-05-01T00:00Z", june))
    return {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in G_ASSETS]),
        "universe": universe_table("2024-03", G_ASSETS),
        "lists": lists_table(lists),
    }


@pytest.fixture(scope="module")
def buffer_run():
    # The top-20 list: 2024-03 {G24} (in force in March), 2024-05 {G05} (in force in June).
    lists = [("2024-03", "hashkey_exclusion_top20", "G24"),
             ("2024-05", "hashkey_exclusion_top20", "G05")]
    return backfill(buffer_tables(lists), indices=["CUSTOM_TOP20"])


def test_buffers_at_a_later_review(buffer_run):
    """SPEC §4.3, §4.2, §6.3: previous G01..G20. G05 is on the list in force (2024-05): no longer
    eligible, deleted. G19 ranks 22 (>= 22): deleted. G20 ranks 20 and G18 18: kept. G22 ranks
    17 (<= 18): inserted. That gives 19: the highest-ranked non-constituent, G21 (19), is
    inserted; G23 (21) is not. Exactly one add/keep/delete each; none for G23, G24."""
    kept = [a for a in G_ASSETS[:20] if a not in ("G05", "G19")]
    assert actions(buffer_run, "CUSTOM_TOP20", "2024-06") == sorted(
        [(a, "keep") for a in kept] + [("G05", "delete"), ("G19", "delete"), ("G21", "add"),
                                       ("G22", "add")])
    jun = basket(buffer_run, "CUSTOM_TOP20", "2024-06-23T10:00Z")
    assert set(jun) == {*kept, "G21", "G22"}
    assert {a: jun[a]["rank"] for a in ("G06", "G22", "G18", "G21", "G20")} == {
        "G06": 5, "G22": 17, "G18": 18, "G21": 19, "G20": 20}
    mar = basket(buffer_run, "CUSTOM_TOP20", "2024-03-17T10:00Z")
    assert set(mar) == set(G_ASSETS[:20])
    assert mar["G05"]["rank"] == 5 and mar["G20"]["rank"] == 20


def test_review_before_the_first_list_uses_the_first_list():
    """SPEC §4.2: with the 2024-05 list {G05} the only top-20 list on record, the March review
    (earlier than it) uses it: G05 is out in March and the top 20 of the rest is G01-G04,
    G06-G21 (G21 ranked 20)."""
    res = backfill(buffer_tables([("2024-05", "hashkey_exclusion_top20", "G05")]),
                   indices=["CUSTOM_TOP20"])
    mar = basket(res, "CUSTOM_TOP20", "2024-03-17T10:00Z")
    assert set(mar) == {a for a in G_ASSETS[:21] if a != "G05"}
    assert mar["G21"]["rank"] == 20


# --- 5. which reviews are computed (SPEC §4.1, §8.3) ------------------------------------------
#
# CUSTOM_INFRA, H1 (702020) 2, 3 from 2024-06-24; H2 (702040) 1; supply 100 from 2024-01-01.
# March review: f H1 .5, H2 1 (MVs 200, 100); June review: same prices, same factors.
def window_tables(start: str, end: str) -> dict[str, pa.Table]:
    t = hour_grid(start, end)
    s = {"H1": step(t, 2, ("2024-06-24T00:00Z", 3)), "H2": step(t, 1)}
    return {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-01-01T00:00Z", a, 100) for a in s]),
        "assets": assets_table({"H1": "702020", "H2": "702040"}),
        "universe": universe_table("2024-03", list(s)),
    }


def test_data_starting_after_the_cut_off_skips_the_review():
    """SPEC §4.1, §8.3: data from 2024-03-01: the March cut-off (2024-02-29 10:00Z) is outside
    it, so the March review is not computed, nor the April and May resets of an index not
    started: the history starts at the June review, 1000 at its E (units H1 50, H2 100:
    d = 200/1000); from 06-24 H1 3: 250/.2 = 1250."""
    res = backfill(window_tables("2024-03-01T00:00Z", "2024-06-26T00:00Z"),
                   indices=["CUSTOM_INFRA"])
    assert {r["review"] for r in rows_of(res, "CUSTOM_INFRA")} == {"2024-06"}
    assert effectives(res, "CUSTOM_INFRA") == [at("2024-06-23T10:00Z")]
    assert level_times(res, "CUSTOM_INFRA")[0] == at("2024-06-23T10:00Z")
    assert level_at(res, "CUSTOM_INFRA", "2024-06-23T10:00Z") == (approx(1000.0), approx(0.2),
                                                                  "firm")
    assert level_at(res, "CUSTOM_INFRA", "2024-06-24T10:00Z")[0] == approx(1250.0)
    assert actions(res, "CUSTOM_INFRA", "2024-06") == [("H1", "add"), ("H2", "add")]


def test_data_starting_exactly_at_the_cut_off_computes_the_review():
    """SPEC §8.3: the cut-off 2024-02-29 10:00Z is the first instant of the data: inside it;
    the March review is computed and the index starts at its E at 1000 (d = 200/1000)."""
    res = backfill(window_tables("2024-02-29T10:00Z", "2024-04-05T00:00Z"),
                   indices=["CUSTOM_INFRA"])
    assert level_times(res, "CUSTOM_INFRA")[0] == at("2024-03-17T10:00Z")
    assert level_at(res, "CUSTOM_INFRA", "2024-03-17T10:00Z") == (approx(1000.0), approx(0.2),
                                                                  "firm")


@pytest.mark.parametrize(
    ("end", "computed"),
    [
        ("2024-06-10T00:00Z", False),  # after the June cut-off, before its review prices
        ("2024-06-12T10:00Z", True),  # ends exactly at the review price time
    ],
)
def test_review_needs_its_price_time_in_the_data(end, computed):
    """SPEC §8.3: a review is computed when its cut-off and review price time lie inside the
    data; one whose E lies after the data still appears in `reviews` (H1, H2 kept)."""
    res = backfill(window_tables("2024-02-20T00:00Z", end), indices=["CUSTOM_INFRA"])
    june = actions(res, "CUSTOM_INFRA", "2024-06")
    assert june == ([("H1", "keep"), ("H2", "keep")] if computed else [])
    if not computed:
        assert effectives(res, "CUSTOM_INFRA")[-1] == at("2024-05-19T10:00Z")
    last = "2024-06-12T10:00Z" if computed else "2024-06-09T10:00Z"
    assert level_times(res, "CUSTOM_INFRA")[-1] == at(last)


# --- 6. the calendar over a year end (SPEC §4.1) -----------------------------------------------
#
# CUSTOM_INFRA, Q1 (702020) 1, Q2 (702050) 2, supply 100 from 2024-11-01; Q2's supply is 50 at
# exactly 2025-02-28 10:00:00Z and 10 one second later. One-hour spikes at the review price
# instants only: Q2 4 at Wed 2024-12-11 10:00Z, Q2 8 at Wed 2025-01-08 10:00Z, Q1 3 at
# Wed 2025-03-12 10:00Z. Instants:
#   Dec 2024 review: cut-off Sat 2024-11-30; prices Wed 12-11 (first Friday Dec 6); C Fri 12-20;
#     E Sun 12-22.
#   Jan 2025 reset: prices Wed 01-08 (first Friday Jan 3); C Fri 01-17; E Sun 01-19.
#   Feb 2025 reset: prices Wed 02-12 (first Friday Feb 7); C Fri 02-21; E Sun 02-23.
#   Mar 2025 review: cut-off Fri 2025-02-28; prices Wed 03-12 (first Friday Mar 7); C Fri 03-21;
#     E Sun 03-23.
# By hand (equal weights, f = min MV / MV):
#   Dec: MVs Q1 100, Q2 400: f 1, .25; units 100, 25; MV(E) = 100 + 50: d = .15.
#   Jan: MVs 100, 800: f 1, .125; units 100, 12.5; C: MV_old 150, MV_new 125: d = .125.
#   Feb: MVs 100, 200: f 1, .5; units 100, 50; C: MV_old 125, MV_new 200: d = .2.
#   Mar: supply Q2 50 (the row at the cut-off); MVs Q1 300, Q2 100: f 1/3, 1; units 100/3, 50;
#     C: MV_old 100 + 100 = 200, MV_new 33.33 + 100: d = .2*(400/3)/200 = 2/15.
@pytest.fixture(scope="module")
def year_end():
    t = hour_grid("2024-11-20T00:00Z", "2025-03-26T00:00Z")
    s = {"Q1": step(t, 1), "Q2": step(t, 2)}
    spike(t, s["Q2"], "2024-12-11T10:00Z", 4)
    spike(t, s["Q2"], "2025-01-08T10:00Z", 8)
    spike(t, s["Q1"], "2025-03-12T10:00Z", 3)
    tables = {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-11-01T00:00Z", "Q1", 100), ("2024-11-01T00:00Z", "Q2", 100),
                                ("2025-02-28T10:00:00Z", "Q2", 50),
                                ("2025-02-28T10:00:01Z", "Q2", 10)]),
        "assets": assets_table({"Q1": "702020", "Q2": "702050"}),
        "universe": universe_table("2024-12", ["Q1", "Q2"]),
    }
    return backfill(tables, indices=["CUSTOM_INFRA"])


def test_year_end_effective_instants(year_end):
    """SPEC §4.1: E is the Sunday 10:00 UTC after each third Friday."""
    assert effectives(year_end, "CUSTOM_INFRA") == [
        at("2024-12-22T10:00Z"), at("2025-01-19T10:00Z"), at("2025-02-23T10:00Z"),
        at("2025-03-23T10:00Z")]
    assert [r for r in rows_of(year_end, "CUSTOM_INFRA") if r["action"] == "reset"] and {
        r["review"] for r in rows_of(year_end, "CUSTOM_INFRA") if r["action"] == "reset"} == {
        "2025-01", "2025-02"}


@pytest.mark.parametrize(
    ("effective", "factors", "supply_q2"),
    [
        ("2024-12-22T10:00Z", (1.0, 0.25), 100.0),
        ("2025-01-19T10:00Z", (1.0, 0.125), 100.0),
        ("2025-02-23T10:00Z", (1.0, 0.5), 100.0),
        ("2025-03-23T10:00Z", (1 / 3, 1.0), 50.0),
    ],
)
def test_year_end_factors_use_the_review_price_instants(year_end, effective, factors,
                                                        supply_q2):
    """SPEC §3.2, §4.1, §8.3: factors from the fixes at exactly the Wednesday 10:00 UTC after
    the first Friday (the spikes), supply at the cut-off (the row at exactly it counts, the row
    a second later does not)."""
    b = basket(year_end, "CUSTOM_INFRA", effective)
    assert (b["Q1"]["factor"], b["Q2"]["factor"]) == (approx(factors[0]), approx(factors[1]))
    assert b["Q2"]["supply"] == supply_q2


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        ("2024-12-22T10:00Z", 1000.0, 0.15),
        ("2025-01-08T10:00Z", 2000.0, 0.15),  # Q2 8: (100 + 8*25)/.15
        ("2025-01-17T10:00Z", 1000.0, 0.15),
        ("2025-01-19T10:00Z", 1000.0, 0.125),
        ("2025-02-23T10:00Z", 1000.0, 0.2),
        ("2025-03-21T10:00Z", 1000.0, 0.2),
        ("2025-03-23T10:00Z", 1000.0, 2 / 15),
    ],
)
def test_year_end_levels_by_hand(year_end, when, level, divisor):
    """SPEC §3.1, §3.5."""
    got = level_at(year_end, "CUSTOM_INFRA", when)
    assert got[:2] == (approx(level), approx(divisor))


def test_every_review_row_cites_the_rule(sectors_run, top_run):
    """SPEC §6.3: `reason` says why in words that cite the rule."""
    for res in (sectors_run, top_run):
        rows = res.reviews.to_pylist()
        assert rows and all("SPEC §" in r["reason"] for r in rows)


def test_review_before_the_first_universe_snapshot_uses_it():
    """SPEC §8.3, §4.2: the universe snapshot in force follows the list rule: with only a
    2024-06 snapshot on record, the March review (earlier) uses it: H1 and H2 added, the index
    starts at 1000 at the March E (units H1 50, H2 100: d = .2)."""
    tables = window_tables("2024-02-20T00:00Z", "2024-04-05T00:00Z")
    tables["universe"] = universe_table("2024-06", ["H1", "H2"])
    res = backfill(tables, indices=["CUSTOM_INFRA"])
    assert actions(res, "CUSTOM_INFRA", "2024-03") == [("H1", "add"), ("H2", "add")]
    assert level_at(res, "CUSTOM_INFRA", "2024-03-17T10:00Z") == (approx(1000.0), approx(0.2),
                                                                  "firm")
