"""Grayscale history anchors, totals and capping at the edges, every number worked by hand.

Rules checked: the membership anchors of SPEC §4.6 and §8.4 over more than one earlier review
(lists, universe flags and thresholds of the earlier review play no part; price and supply do),
the anchor review "in the data" when its E lies after the data, the totals built from the
anchored sectors (SPEC §5, §3.3), the Investible anchor with an infeasible cap at the earlier
reviews and an at-cap weight at the anchor (SPEC §3.4), the Investible without its anchor, and
the review rows of these (SPEC §6.3).

Instants (SPEC §4.1, Grayscale rows, 16:00 New York; US DST from 2022-03-13, 2023-03-12,
2024-03-10, back on 2022-11-06, 2023-11-05):

- Mar 2022: cut-off Mon Feb 28 21:00Z; review prices Wed Mar 9 21:00Z (first Friday Mar 4);
  3rd Friday Mar 18: C = 20:00Z, E = Sun Mar 20 20:00Z.
- Jun 2022: cut-off May 31 20:00Z; prices Wed Jun 8 20:00Z; C = Fri Jun 17 20:00Z,
  E = Sun Jun 19 20:00Z.
- Sep 2022 (broad anchor): cut-off Aug 31 20:00Z; prices Wed Sep 7 20:00Z; E = Sun Sep 18
  20:00Z; ADTV dates Aug 10..Sep 6.
- Sep 2023: cut-off Aug 31 20:00Z; prices Wed Sep 6 20:00Z; E = Sun Sep 17 20:00Z.
- Dec 2023: cut-off Nov 30 21:00Z; prices Wed Dec 6 21:00Z; E = Sun Dec 17 21:00Z.
- Mar 2024 (Investible anchor): cut-off Feb 29 21:00Z; prices Wed Mar 6 21:00Z; E = Sun Mar 17
  20:00Z.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scenarios import (
    M,
    actions_by_asset,
    basket,
    hour_grid,
    lists_table,
    ns,
    prices_table,
    step,
    supply_table,
)

from daix.engine.backfill import backfill

# --- building small data sets -------------------------------------------------------------


def universe_table(rows: list[tuple[str, str, bool]]) -> pa.Table:
    """(review month, asset, liquidity_pass): benchmark Total Cap members, not new entrants."""
    n = len(rows)
    return pa.table({"review": [r[0] for r in rows], "asset": [r[1] for r in rows],
                     "total_cap": [True] * n, "class": ["benchmark"] * n,
                     "liquidity_pass": [r[2] for r in rows], "new_entrant": [False] * n})


def assets_table(codes: dict[str, str]) -> pa.Table:
    """Sector codes; the subsector is the sector code followed by 10."""
    return pa.table({"asset": list(codes), "name": list(codes), "sector": list(codes.values()),
                     "subsector": [c + "10" for c in codes.values()]})


def volume_table(assets: list[str], first: str, last: str) -> pa.Table:
    """$1M a day for every asset (every ADTV screen passes)."""
    days = np.arange(np.datetime64(first), np.datetime64(last) + 1)
    dates = [d.item() for d in days for _ in assets]
    return pa.table({"date": pa.array(dates, pa.date32()), "asset": list(assets) * len(days),
                     "volume_usd": [1e6] * len(dates)})


def review_rows(result, index: str, month: str) -> list[dict]:
    return [r for r in result.reviews.to_pylist()
            if r["index"] == index and r["review"] == month]


def levels_of(result, index: str) -> dict[int, float]:
    lv = result.levels.filter(pc.equal(result.levels.column("index"), index))
    return dict(zip(lv.column("ts").cast("int64").to_pylist(), lv.column("level").to_pylist(),
                    strict=True))


def weights_and_factors(rows: dict[str, dict]) -> dict[str, tuple[float, float]]:
    return {a: (r["weight"], r["factor"]) for a, r in rows.items()}


def approx_pairs(expected: dict[str, tuple[float, float]]) -> dict:
    return {a: (pytest.approx(w, rel=1e-12), pytest.approx(f, rel=1e-12))
            for a, (w, f) in expected.items()}


# --- 1. the broad anchor over two earlier reviews, with the totals (SPEC §4.6, §8.4, §5) ----
#
# Currencies (701010) A1..A6 and Utilities (702030) U1, all benchmark; A1 is also on the
# Utilities inclusion list (2022-09 list, the first, so in force at every review). 15m prices
# 1.0 except: A1 2.0 from 2022-06-13 00:00Z (after the June review prices, before its C); A3
# 1.5 from 2022-06-20 00:00Z; A2 has no fix at the June review price time 2022-06-08 20:00Z.
# Market values ($M) = price * supply at the cut-off:
#             Mar 2022    Jun 2022    Sep 2022
#   A1          400         400       2.0 * 450 = 900
#   A2          100       (no price)    300
#   A3      (no supply)       64      1.5 * 100 = 150    (first supply row 2022-04-01)
#   A4          225           16        200      (Currencies exclusion list of 2022-03, which
#                                                 is in force in Mar and Jun; illiquid in Jun)
#   A5          500          500        500      (Currencies exclusion list of 2022-09)
#   A6           25       (supply 0)    250      (a 0 row on 2022-05-15, SPEC §8.3)
#   U1          100          100        150
BROAD_E = {"2022-03": "2022-03-20T20:00Z", "2022-06": "2022-06-19T20:00Z",
           "2022-09": "2022-09-18T20:00Z"}
BROAD_ASSETS = {"A1": "701010", "A2": "701010", "A3": "701010", "A4": "701010",
                "A5": "701010", "A6": "701010", "U1": "702030"}


def broad_tables(end: str = "2022-09-20T00:00Z") -> dict[str, pa.Table]:
    t = hour_grid("2022-02-25T00:00Z", end)
    series = {a: step(t, 1.0) for a in BROAD_ASSETS}
    series["A1"] = step(t, 1.0, ("2022-06-13T00:00Z", 2.0))
    series["A3"] = step(t, 1.0, ("2022-06-20T00:00Z", 1.5))
    series["A2"][t == ns("2022-06-08T20:00Z")] = np.nan
    feb, may, aug = "2022-02-01T00:00Z", "2022-05-15T00:00Z", "2022-08-15T00:00Z"
    supply = [(feb, "A1", 400 * M), (aug, "A1", 450 * M),
              (feb, "A2", 100 * M), (aug, "A2", 300 * M),
              ("2022-04-01T00:00Z", "A3", 64 * M), (aug, "A3", 100 * M),
              (feb, "A4", 225 * M), (may, "A4", 16 * M), (aug, "A4", 200 * M),
              (feb, "A5", 500 * M),
              (feb, "A6", 25 * M), (may, "A6", 0.0), (aug, "A6", 250 * M),
              (feb, "U1", 100 * M), (aug, "U1", 150 * M)]
    universe = [(m, a, not (m == "2022-06" and a == "A4"))
                for m in BROAD_E for a in BROAD_ASSETS]
    lists = [("2022-03", "grayscale_exclusion_currencies", "A4"),
             ("2022-09", "grayscale_exclusion_currencies", "A5"),
             ("2022-09", "grayscale_inclusion_utilities", "A1")]
    return {
        "prices": prices_table(t, series),
        "supply": supply_table(supply),
        "assets": assets_table(BROAD_ASSETS),
        "universe": universe_table(universe),
        "lists": lists_table(lists),
        "volume": volume_table(list(BROAD_ASSETS), "2022-01-01", "2022-09-30"),
    }


BROAD_INDICES = ["GS_CURRENCIES", "GS_UTILITIES", "GS_TOTAL", "GS_TOTAL_CAP"]


@pytest.fixture(scope="module")
def broad():
    return backfill(broad_tables(), indices=BROAD_INDICES)


def test_anchor_sets_from_the_anchor_review_lists(broad):
    """SPEC §4.6, §8.4, §4.5: Sep 2022 is a launch review with the 2022-09 lists: Currencies
    {A1, A2, A3, A4, A6} (A5 on the Sep exclusion list; A4 no longer excluded); Utilities
    {U1, A1} (A1 by the inclusion list)."""
    assert set(basket(broad, "GS_CURRENCIES", BROAD_E["2022-09"])) == {"A1", "A2", "A3", "A4",
                                                                        "A6"}
    assert set(basket(broad, "GS_UTILITIES", BROAD_E["2022-09"])) == {"U1", "A1"}


def test_march_2022_anchored_members_and_sqrt_weights(broad):
    """SPEC §4.6, §8.4, §3.3: March 2022 holds the Sep 2022 Currencies members with a March
    price and supply: A1, A2, A4, A6 (A3 has no supply row at the cut-off). A4 is in though on
    the exclusion list in force in March and A6 though at $25M < $50M: only the weights follow
    March data. A5 passes March's own screens but is not a Sep member: out.
    sqrt 20, 10, 15, 5 (sum 50): w = .4, .2, .3, .1; f proportional to 1/sqrt(MV), the
    smallest (A6) 1: f = sqrt(25/MV) = .25, .5, 1/3, 1."""
    mar = basket(broad, "GS_CURRENCIES", BROAD_E["2022-03"])
    assert weights_and_factors(mar) == approx_pairs({
        "A1": (0.4, 0.25), "A2": (0.2, 0.5), "A4": (0.3, 1 / 3), "A6": (0.1, 1.0)})
    assert {a: r["market_value"] for a, r in mar.items()} == {
        "A1": 400 * M, "A2": 100 * M, "A4": 225 * M, "A6": 25 * M}
    assert actions_by_asset(broad, "GS_CURRENCIES", "2022-03") == {a: ["add"] for a in mar}


def test_june_2022_members_need_a_price_and_a_positive_supply(broad):
    """SPEC §4.6, §8.4, §3.8, §8.3: June holds A1 (400), A3 (64: its supply row of Apr 1 is in
    force at the May 31 cut-off) and A4 (16: fails every June screen, in anyway). A2 has no
    fix at the review price time (an earlier fix does not count); A6's latest supply row is 0.
    sqrt 20, 8, 4 (32): w = .625, .25, .125; f = sqrt(16/MV) = .2, .5, 1.
    Review rows: keep A1, A4; add A3; delete A2, A6, each once."""
    jun = basket(broad, "GS_CURRENCIES", BROAD_E["2022-06"])
    assert weights_and_factors(jun) == approx_pairs({
        "A1": (0.625, 0.2), "A3": (0.25, 0.5), "A4": (0.125, 1.0)})
    assert {a: r["supply"] for a, r in jun.items()} == {"A1": 400 * M, "A3": 64 * M,
                                                       "A4": 16 * M}
    assert actions_by_asset(broad, "GS_CURRENCIES", "2022-06") == {
        "A1": ["keep"], "A3": ["add"], "A4": ["keep"], "A2": ["delete"], "A6": ["delete"]}
    for r in review_rows(broad, "GS_CURRENCIES", "2022-06"):
        if r["action"] == "delete":
            assert "§" in r["reason"]


def test_anchor_review_rows_follow_the_june_basket(broad):
    """SPEC §6.3, §8.4: at Sep 2022 the June members A1, A3, A4 are kept and A2, A6 (dropped in
    June for want of data) are added back; A5 never was a member (no add/keep/delete)."""
    assert actions_by_asset(broad, "GS_CURRENCIES", "2022-09") == {
        "A1": ["keep"], "A3": ["keep"], "A4": ["keep"], "A2": ["add"], "A6": ["add"]}


def test_utilities_anchored_with_an_inclusion_listed_member(broad):
    """SPEC §4.6, §5: Utilities in March and June = {U1, A1} (the Sep 2022 members), A1 at
    price 1.0 in both: sqrt(100) = 10, sqrt(400) = 20: w = 1/3, 2/3; f = 1, sqrt(100/400) =
    .5."""
    for month in ("2022-03", "2022-06"):
        assert weights_and_factors(basket(broad, "GS_UTILITIES", BROAD_E[month])) == \
            approx_pairs({"U1": (1 / 3, 1.0), "A1": (2 / 3, 0.5)})


#: Totals: the union of the anchored sectors (A1 once), market values in $M.
TOTAL_MV = {"2022-03": {"A1": 400, "A2": 100, "A4": 225, "A6": 25, "U1": 100},
            "2022-06": {"A1": 400, "A3": 64, "A4": 16, "U1": 100}}


@pytest.mark.parametrize("month", sorted(TOTAL_MV))
def test_totals_are_the_union_of_the_anchored_sectors(broad, month):
    """SPEC §5, §3.3, §4.6: GS_TOTAL_CAP: f = 1, w = MV/sum (850 in March, 580 in June).
    GS_TOTAL: w = sqrt(MV)/sum sqrt (March 20+10+15+5+10 = 60, June 20+8+4+10 = 42),
    f = sqrt(min MV / MV) (A6 at 25 in March, A4 at 16 in June get 1)."""
    mvs = TOTAL_MV[month]
    total, roots, low = sum(mvs.values()), sum(math.sqrt(v) for v in mvs.values()), min(
        mvs.values())
    cap = basket(broad, "GS_TOTAL_CAP", BROAD_E[month])
    assert weights_and_factors(cap) == approx_pairs({a: (v / total, 1.0) for a, v in mvs.items()})
    tot = basket(broad, "GS_TOTAL", BROAD_E[month])
    assert weights_and_factors(tot) == approx_pairs(
        {a: (math.sqrt(v) / roots, math.sqrt(low / v)) for a, v in mvs.items()})


def test_totals_review_rows(broad):
    """SPEC §6.3: GS_TOTAL_CAP, one action per asset that was or becomes a member. March: all
    added. June: A1, A4, U1 kept; A3 added; A2, A6 deleted. Sep: A1, A3, A4, U1 kept; A2, A6
    added."""
    assert actions_by_asset(broad, "GS_TOTAL_CAP", "2022-03") == {
        a: ["add"] for a in TOTAL_MV["2022-03"]}
    assert actions_by_asset(broad, "GS_TOTAL_CAP", "2022-06") == {
        "A1": ["keep"], "A4": ["keep"], "U1": ["keep"], "A3": ["add"], "A2": ["delete"],
        "A6": ["delete"]}
    assert actions_by_asset(broad, "GS_TOTAL_CAP", "2022-09") == {
        "A1": ["keep"], "A3": ["keep"], "A4": ["keep"], "U1": ["keep"], "A2": ["add"],
        "A6": ["add"]}


@pytest.mark.parametrize(("when", "level"), [
    ("2022-03-20T20:00Z", 1000.0),  # E of the first basket: the base value
    # A1 at 2.0: (2*400 + 100 + 225 + 25 + 100) / 850 * 1000
    ("2022-06-13T20:00Z", 1250 / 850 * 1000),
    ("2022-06-17T20:00Z", 1250 / 850 * 1000),  # C of June
    # June basket, units A1 400, A3 64, A4 16, U1 100: MV_new(C) = 800 + 64 + 16 + 100 = 980,
    # d_new = d_old * 980/1250: the level at E is unchanged
    ("2022-06-19T20:00Z", 1250 / 850 * 1000),
    # A3 at 1.5: MV 800 + 96 + 16 + 100 = 1012 under d_new
    ("2022-06-20T20:00Z", 1012 / 980 * 1250 / 850 * 1000),
])
def test_total_cap_levels_across_the_anchored_reviews(broad, when, level):
    """SPEC §3.1, §3.5: GS_TOTAL_CAP (f = 1, units = cut-off supply) from the March 2022
    anchored basket (d = 850M/1000) through the June change of basket."""
    assert levels_of(broad, "GS_TOTAL_CAP")[ns(when)] == pytest.approx(level, rel=1e-12)


def test_totals_anchored_without_their_sector_indices():
    """SPEC §5, §4.6: GS_TOTAL_CAP asked for alone holds the same anchored unions (its sectors'
    membership does not depend on which indices are computed)."""
    res = backfill(broad_tables(), indices=["GS_TOTAL_CAP"])
    for month, mvs in TOTAL_MV.items():
        got = basket(res, "GS_TOTAL_CAP", BROAD_E[month])
        assert {a: r["market_value"] for a, r in got.items()} == {a: v * M for a, v in
                                                                  mvs.items()}


def test_anchored_new_entrant_uses_the_22utc_supply():
    """SPEC §8.4, §4.6: U1 flagged as a new entrant in the 2022-06 universe snapshot; a supply
    row of 400M at 2022-05-31 21:00Z (after the 20:00Z cut-off, before 22:00Z). The anchored
    June basket weighs it and holds its supply at 22:00Z: 400M * 1.0 = $400M (the cut-off would
    give $100M). With A1 at $400M: sqrt weights .5, .5, factors 1, 1."""
    tables = broad_tables()
    uni = tables["universe"].to_pylist()
    for r in uni:
        r["new_entrant"] = r["review"] == "2022-06" and r["asset"] == "U1"
    tables["universe"] = pa.Table.from_pylist(uni, schema=tables["universe"].schema)
    tables["supply"] = pa.concat_tables([tables["supply"], supply_table(
        [("2022-05-31T21:00Z", "U1", 400 * M), ("2022-06-01T00:00Z", "U1", 100 * M)])])
    jun = basket(backfill(tables, indices=["GS_UTILITIES"]), "GS_UTILITIES", BROAD_E["2022-06"])
    assert weights_and_factors(jun) == approx_pairs({"U1": (0.5, 1.0), "A1": (0.5, 1.0)})
    assert (jun["U1"]["supply"], jun["U1"]["market_value"]) == (400 * M, 400 * M)


@pytest.mark.parametrize(("end", "june"), [
    # Sep 2022 review prices (Sep 7 20:00Z) inside the data, its E (Sep 18) after it: the
    # anchor review is computed (SPEC §8.3), so June is anchored
    ("2022-09-10T00:00Z", {"A1", "A3", "A4"}),
    # Sep cut-off inside but review prices after the data: no anchor, June uses the normal
    # screens (March first: A1 400, A2 100, A5 500 pass; A3 no supply; A4 excluded; A6 $25M
    # < $50M. June: A1, A5 stay; A3 $64M >= $50M enters; A2 no price; A4 excluded; A6 supply 0)
    ("2022-09-05T00:00Z", {"A1", "A3", "A5"}),
])
def test_anchor_review_in_the_data_is_its_review_prices(end, june):
    """SPEC §8.3, §8.4: "without the anchor review in the data, earlier reviews use the normal
    screens"; a review is in the data when its cut-off and review price time are."""
    res = backfill(broad_tables(end=end), indices=["GS_CURRENCIES"])
    assert set(basket(res, "GS_CURRENCIES", BROAD_E["2022-06"])) == june
    if end == "2022-09-10T00:00Z":
        # the review whose E lies after the data still appears in the review rows
        assert actions_by_asset(res, "GS_CURRENCIES", "2022-09") == {
            "A1": ["keep"], "A3": ["keep"], "A4": ["keep"], "A2": ["add"], "A6": ["add"]}
    else:
        assert basket(res, "GS_CURRENCIES", BROAD_E["2022-03"]).keys() == {"A1", "A2", "A5"}


# --- 2. the Investible anchor with infeasible caps (SPEC §4.6, §8.4, §3.4) -----------------
#
# Smart Contract Platforms (702020), all benchmark and liquid, 15m prices 1.0 (Q3: none before
# 2024-01-01; Q4: 2.0 for one day from 2023-09-18 00:00Z). The only access list is the
# 2024-03 one: Q1, Q2, Q3, Q4, Q6 (so in force at every review, SPEC §4.2).
#            Sep 2023   Dec 2023   Mar 2024   ($M)
#   Q1          600        600        440
#   Q2          200        200        240
#   Q3           -          -         240      (no price before 2024)
#   Q4          100    (supply -5)     80
#   Q5          300        300        300      (not on the access list)
#   Q6          100        200         30
# GS_SCP (normal screens): Sep {Q1, Q2, Q4, Q5, Q6}; Dec {Q1, Q2, Q5, Q6} (Q4 negative
# supply); Mar: Q6 a constituent at $30M < $40M goes, Q3 (240) and Q4 (80) enter:
# {Q1, Q2, Q3, Q4, Q5}. Investible at Mar 2024 = those on the access list: Q1, Q2, Q3, Q4.
INV_E = {"2023-09": "2023-09-17T20:00Z", "2023-12": "2023-12-17T21:00Z",
         "2024-03": "2024-03-17T20:00Z"}
INV_MV = {"Q1": (600, 600, 440), "Q2": (200, 200, 240), "Q3": (240, 240, 240),
          "Q4": (100, -5, 80), "Q5": (300, 300, 300), "Q6": (100, 200, 30)}


def investible_tables(end: str = "2024-03-20T00:00Z", mv: dict | None = None,
                      access: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4", "Q6"),
                      ) -> dict[str, pa.Table]:
    mv = INV_MV if mv is None else mv
    t = hour_grid("2023-08-25T00:00Z", end)
    series = {a: step(t, 1.0) for a in mv}
    series["Q3"] = np.where(t >= ns("2024-01-01T00:00Z"), 1.0, np.nan)
    series["Q4"] = step(t, 1.0, ("2023-09-18T00:00Z", 2.0), ("2023-09-19T00:00Z", 1.0))
    whens = ("2023-08-01T00:00Z", "2023-11-15T00:00Z", "2024-02-01T00:00Z")
    supply = [(w, a, v * M) for a, values in mv.items()
              for w, v in zip(whens, values, strict=True)]
    return {
        "prices": prices_table(t, series),
        "supply": supply_table(supply),
        "assets": assets_table(dict.fromkeys(mv, "702020")),
        "universe": universe_table([("2023-09", a, True) for a in mv]),
        "lists": lists_table([("2024-03", "grayscale_access", a) for a in access]),
        "volume": volume_table(list(mv), "2023-06-01", "2024-03-31"),
    }


@pytest.fixture(scope="module")
def inv():
    return backfill(investible_tables(), indices=["GS_SCP", "GS_SCP_INVESTIBLE"])


def test_investible_anchor_review_weight_reaching_the_cap_is_not_capped(inv):
    """SPEC §3.4, §5: Mar 2024 Investible Q1 440, Q2 240, Q3 240, Q4 80 (1000): W = .44, .24,
    .24, .08. Pass 1: Q1 -> .3, excess .14 shared pro rata over .56 (x 1.25): Q2, Q3 .3
    exactly, Q4 .1. Pass 2: none above .3 (a weight exactly at the cap is not capped).
    f = target/W = .3/.44, 1.25, 1.25, 1.25, scaled by 1.25: 6/11, 1, 1, 1. One `capped` row
    (Q1), the report giving 1 pass."""
    mar = basket(inv, "GS_SCP_INVESTIBLE", INV_E["2024-03"])
    assert weights_and_factors(mar) == approx_pairs({
        "Q1": (0.3, 6 / 11), "Q2": (0.3, 1.0), "Q3": (0.3, 1.0), "Q4": (0.1, 1.0)})
    capped = [r for r in review_rows(inv, "GS_SCP_INVESTIBLE", "2024-03")
              if r["action"] == "capped"]
    assert [r["asset"] for r in capped] == ["Q1"]
    assert re.search(r"\b1 pass", capped[0]["reason"])


def test_investible_anchored_reviews_with_an_infeasible_cap(inv):
    """SPEC §4.6, §8.4, §3.4: before Mar 2024 the Investible holds the Mar 2024 members with a
    price and supply at each review. Sep 2023: Q1 600, Q2 200, Q4 100 (Q3 no price; Q6, on the
    access list and in GS_SCP, is no Mar member): N*c = 3 * .3 = .9 < 1: every weight 1/3;
    W = 6/9, 2/9, 1/9: f = (1/3)/W = .5, 1.5, 3, scaled by 3: 1/6, 1/2, 1.
    Dec 2023: Q1 600, Q2 200 (Q4 supply -5): N*c = .6 < 1: .5 each; W = .75, .25:
    f = 2/3, 2, scaled by 2: 1/3, 1. Each review report says the cap was infeasible."""
    sep = basket(inv, "GS_SCP_INVESTIBLE", INV_E["2023-09"])
    assert weights_and_factors(sep) == approx_pairs({
        "Q1": (1 / 3, 1 / 6), "Q2": (1 / 3, 0.5), "Q4": (1 / 3, 1.0)})
    dec = basket(inv, "GS_SCP_INVESTIBLE", INV_E["2023-12"])
    assert weights_and_factors(dec) == approx_pairs({"Q1": (0.5, 1 / 3), "Q2": (0.5, 1.0)})
    for month in ("2023-09", "2023-12"):
        text = " ".join(r["reason"] for r in review_rows(inv, "GS_SCP_INVESTIBLE", month))
        assert "infeasible" in text
        assert not [r for r in review_rows(inv, "GS_SCP_INVESTIBLE", month)
                    if r["action"] == "capped"]


def test_investible_anchored_review_rows(inv):
    """SPEC §6.3, §4.6: Sep 2023 adds Q1, Q2, Q4; Dec keeps Q1, Q2 and deletes Q4 (no positive
    supply, SPEC §8.3); Mar 2024 keeps Q1, Q2 and adds Q3, Q4. Q6 never is a member."""
    assert actions_by_asset(inv, "GS_SCP_INVESTIBLE", "2023-09") == {"Q1": ["add"], "Q2": ["add"],
                                                           "Q4": ["add"]}
    assert actions_by_asset(inv, "GS_SCP_INVESTIBLE", "2023-12") == {"Q1": ["keep"], "Q2": ["keep"],
                                                           "Q4": ["delete"]}
    assert actions_by_asset(inv, "GS_SCP_INVESTIBLE", "2024-03") == {
        "Q1": ["keep"], "Q2": ["keep"], "Q3": ["add"], "Q4": ["add"]}


def test_investible_anchor_leaves_gs_scp_alone(inv):
    """SPEC §4.5, §4.6: the anchor is for the Investible only: GS_SCP keeps its own screens
    (Sep {Q1, Q2, Q4, Q5, Q6}, Dec {Q1, Q2, Q5, Q6}, Mar {Q1, Q2, Q3, Q4, Q5}; Q6 deleted in
    Mar at $30M < $40M)."""
    assert set(basket(inv, "GS_SCP", INV_E["2023-09"])) == {"Q1", "Q2", "Q4", "Q5", "Q6"}
    assert set(basket(inv, "GS_SCP", INV_E["2023-12"])) == {"Q1", "Q2", "Q5", "Q6"}
    assert set(basket(inv, "GS_SCP", INV_E["2024-03"])) == {"Q1", "Q2", "Q3", "Q4", "Q5"}
    assert actions_by_asset(inv, "GS_SCP", "2024-03")["Q6"] == ["delete"]


def test_investible_equal_weight_levels(inv):
    """SPEC §3.1, §3.5: Sep 2023 units s*f: Q1 600M/6, Q2 200M/2, Q4 100M*1 = 100M each;
    I(E) = 1000, d = 300M/1000. Mon 2023-09-18 20:00Z, Q4 at 2.0: 400/300 * 1000; Tue, Q4 back
    at 1.0: 1000."""
    lv = levels_of(inv, "GS_SCP_INVESTIBLE")
    assert min(lv) == ns(INV_E["2023-09"])
    assert lv[ns(INV_E["2023-09"])] == pytest.approx(1000.0, rel=1e-12)
    assert lv[ns("2023-09-18T20:00Z")] == pytest.approx(4000 / 3, rel=1e-12)
    assert lv[ns("2023-09-19T20:00Z")] == pytest.approx(1000.0, rel=1e-12)


def test_investible_anchor_is_a_launch_review():
    """SPEC §8.4: the Investible's anchor review (Mar 2024) is a launch review, with no
    previous constituents. Q7 (benchmark, on the access list) is worth $100M in Sep and Dec
    2023 and $45M in Mar 2024. GS_SCP keeps it in March, a constituent staying above $40M;
    at the Investible's launch review it needs the $50M of an entrant, so the Investible's
    March members are Q1..Q4 as before, and Q7, no March member, is in none of its anchored
    baskets either (SPEC §4.6)."""
    mv = {**INV_MV, "Q7": (100, 100, 45)}
    res = backfill(investible_tables(mv=mv, access=("Q1", "Q2", "Q3", "Q4", "Q6", "Q7")),
                   indices=["GS_SCP", "GS_SCP_INVESTIBLE"])
    assert set(basket(res, "GS_SCP", INV_E["2024-03"])) == {"Q1", "Q2", "Q3", "Q4", "Q5", "Q7"}
    assert actions_by_asset(res, "GS_SCP", "2024-03")["Q7"] == ["keep"]
    assert set(basket(res, "GS_SCP_INVESTIBLE", INV_E["2024-03"])) == {"Q1", "Q2", "Q3", "Q4"}
    assert set(basket(res, "GS_SCP_INVESTIBLE", INV_E["2023-09"])) == {"Q1", "Q2", "Q4"}
    assert set(basket(res, "GS_SCP_INVESTIBLE", INV_E["2023-12"])) == {"Q1", "Q2"}
    q7 = [r for r in review_rows(res, "GS_SCP_INVESTIBLE", "2024-03") if r["asset"] == "Q7"]
    assert [r["action"] for r in q7] == ["ineligible"] and "$50M" in q7[0]["reason"]


def test_investible_without_its_anchor_uses_gs_scp_and_the_access_list():
    """SPEC §8.4, §4.2, §3.4: data ending before the Mar 2024 review prices: no anchor. Each
    review takes GS_SCP and the access list in force (the 2024-03 list, the first, for earlier
    reviews). Sep 2023: Q1 600, Q2 200, Q4 100, Q6 100 (Q5 not on the list): W = .6, .2, .1,
    .1. Pass 1: Q1 -> .3, excess .3 over .4 (x 1.75): Q2 .35, Q4 .175, Q6 .175. Pass 2: Q2 ->
    .3, excess .05 over .35: Q4, Q6 .2. f = .5, 1.5, 2, 2, scaled by 2: .25, .75, 1, 1;
    capped Q1 and Q2, 2 passes.
    Dec 2023: Q1, Q2, Q6 (Q4 supply -5): N*c = .9 < 1: 1/3 each; Q4 deleted."""
    res = backfill(investible_tables(end="2024-03-01T00:00Z"), indices=["GS_SCP_INVESTIBLE"])
    sep = basket(res, "GS_SCP_INVESTIBLE", INV_E["2023-09"])
    assert weights_and_factors(sep) == approx_pairs({
        "Q1": (0.3, 0.25), "Q2": (0.3, 0.75), "Q4": (0.2, 1.0), "Q6": (0.2, 1.0)})
    capped = [r for r in review_rows(res, "GS_SCP_INVESTIBLE", "2023-09")
              if r["action"] == "capped"]
    assert sorted(r["asset"] for r in capped) == ["Q1", "Q2"]
    assert all(re.search(r"\b2 pass", r["reason"]) for r in capped)
    dec = basket(res, "GS_SCP_INVESTIBLE", INV_E["2023-12"])
    assert {a: r["weight"] for a, r in dec.items()} == {
        a: pytest.approx(1 / 3, rel=1e-12) for a in ("Q1", "Q2", "Q6")}
    assert actions_by_asset(res, "GS_SCP_INVESTIBLE", "2023-12") == {
        "Q1": ["keep"], "Q2": ["keep"], "Q6": ["keep"], "Q4": ["delete"]}
    assert "infeasible" in " ".join(r["reason"] for r in
                                    review_rows(res, "GS_SCP_INVESTIBLE", "2023-12"))


def test_investible_single_member_cap_infeasible():
    """SPEC §3.4, §8.4: with Q2 the only asset on the access list (and no anchor in the data),
    the Sep 2023 Investible holds Q2 alone: N*c = .3 < 1, weight 1/1 = 1, factor 1, and the
    review report says the cap was infeasible."""
    tables = investible_tables(end="2024-03-01T00:00Z")
    tables["lists"] = lists_table([("2024-03", "grayscale_access", "Q2")])
    res = backfill(tables, indices=["GS_SCP_INVESTIBLE"])
    sep = basket(res, "GS_SCP_INVESTIBLE", INV_E["2023-09"])
    assert weights_and_factors(sep) == approx_pairs({"Q2": (1.0, 1.0)})
    assert actions_by_asset(res, "GS_SCP_INVESTIBLE", "2023-09") == {"Q2": ["add"]}
    assert "infeasible" in " ".join(r["reason"] for r in
                                    review_rows(res, "GS_SCP_INVESTIBLE", "2023-09"))
