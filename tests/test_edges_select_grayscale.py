"""Edge cases of the Crypto Select and Grayscale Crypto Sector rules, numbers worked by hand.

Crypto Select (SPEC §3.6, §4.1, §4.3-§4.4, §8.3-§8.6): the October 2021 review taken literally
(review prices two days before the cut-off), the turnover rule against the basket in force just
before E after an intra-review deletion, a deletion whose E is the review's E, a constituent that
fails the liquidity flag, ex-BTC turnover over its own members, and chain-linked levels across a
stale price.

Grayscale (SPEC §4.2, §4.5, §8.4, §8.6): X = $100M sector thresholds at their edges, the class of
the review in force, lists in force (latest at or before, the first for an earlier review), the
universe row a screened asset needs, the 21-day minimum for a constituent, a new entrant priced
and weighted at 22:00 UTC with an 84-day ADTV of exactly $500K, and the ranks of §8.6.

Instants (SPEC §4.1, 16:00 New York = 20:00Z in summer, 21:00Z in winter):

- Crypto Select Oct 2021 (old schedule): first Friday Oct 1, review prices Wed Sep 29 20:00Z,
  cut-off Thu Sep 30 22:00Z, C = Fri Oct 8 20:00Z, E = Sun Oct 10 20:00Z. Jan 2022: first
  Friday Jan 7, prices Wed Jan 5 21:00Z, cut-off Dec 31 22:00Z, C = Fri Jan 14 21:00Z,
  E = Sun Jan 16 21:00Z.
- Crypto Select Dec 2023: cut-off Nov 30 22:00Z, prices Dec 6 21:00Z, E = Dec 17 21:00Z.
  Mar 2024: cut-off Feb 29 22:00Z, prices Mar 6 21:00Z, C = Fri Mar 15 20:00Z, E = Sun Mar 17
  20:00Z (EDT from Mar 10).
- Grayscale Sep 2024: cut-off Aug 31 20:00Z (new entrants Aug 31 22:00Z), prices Wed Sep 11
  20:00Z, E = Sun Sep 22 20:00Z; ADTV dates Aug 14..Sep 10, new entrants Jun 4..Aug 26.
  Dec 2024: cut-off Nov 30 21:00Z, prices Wed Dec 11 21:00Z, E = Sun Dec 22 21:00Z; ADTV dates
  Nov 13..Dec 10.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from scenarios import (
    M,
    actions_by_asset,
    assets_table,
    at,
    basket,
    between,
    day,
    deletions_table,
    effectives,
    hour_grid,
    levels_of,
    lists_table,
    ns,
    prices_table,
    step,
    supply_table,
    universe_table,
    volume_table,
)

from daix.engine.backfill import backfill

# --- building small data sets -------------------------------------------------------------


def reasons(result, index: str, month: str, asset: str) -> str:
    return " ".join(r["reason"] for r in result.reviews.to_pylist()
                    if r["index"] == index and r["review"] == month and r["asset"] == asset)


def select_universe(months: dict[str, list[str]], illiquid: dict[str, set[str]] | None = None
                    ) -> pa.Table:
    illiquid = illiquid or {}
    return universe_table([(m, a, "benchmark", a not in illiquid.get(m, set()), False)
                           for m, assets in months.items() for a in assets])


def inclusion(months: dict[str, list[str]]) -> pa.Table:
    return lists_table([(m, "21shares_inclusion", a) for m, assets in months.items()
                        for a in assets])


# --- 1. Crypto Select: the October 2021 review taken literally (SPEC §4.1, §8.3) -----------
#
# A (1h): 10 until 2021-09-30 00:00Z, 20 from then, 25 from 2022-01-17 00:00Z. B: 40.
# Supply A: 100 (Sep 1), 200 from Sep 30 21:00Z (before the 22:00Z cut-off: counts), 300 from
# Sep 30 23:00Z (after it: used from January). B: 100.
def october_2021_tables(start: str = "2021-09-29T00:00Z") -> dict[str, pa.Table]:
    t = hour_grid(start, "2022-01-20T00:00Z")
    series = {"A": step(t, 10.0, ("2021-09-30T00:00Z", 20.0), ("2022-01-17T00:00Z", 25.0)),
              "B": step(t, 40.0)}
    return {
        "prices": prices_table(t, window="1h", series=series),
        "supply": supply_table([("2021-09-01T00:00Z", "A", 100), ("2021-09-30T21:00Z", "A", 200),
                                ("2021-09-30T23:00Z", "A", 300), ("2021-09-01T00:00Z", "B", 100)]),
        "universe": select_universe({"2021-10": ["A", "B"]}),
        "lists": inclusion({"2021-10": ["A", "B"]}),
    }


@pytest.fixture(scope="module")
def october_run():
    return backfill(october_2021_tables(), indices=["SELECT10"])


def test_october_2021_review_prices_before_the_cut_off(october_run):
    """SPEC §4.1, §8.3: Oct 2021 review prices Wed 2021-09-29 20:00Z (Wed *before* the first
    Friday, Oct 1), two days before the cut-off 2021-09-30 22:00Z; taken literally.
    A: price 10 (the Sep 30 move to 20 is after the review price time) * supply 200 (the
    21:00Z row; the 23:00Z row is after the cut-off) = 2000; B: 40 * 100 = 4000.
    Ranks B 1, A 2; weights 4000/6000 = 2/3 and 1/3; market cap, f = 1."""
    assert effectives(october_run, "SELECT10")[0] == at("2021-10-10T20:00Z")
    octb = basket(october_run, "SELECT10", "2021-10-10T20:00Z")
    got = {a: (r["market_value"], r["supply"], r["weight"], r["factor"], r["rank"])
           for a, r in octb.items()}
    assert got == {
        "B": (pytest.approx(4000.0), 100.0, pytest.approx(2 / 3), pytest.approx(1.0), 1),
        "A": (pytest.approx(2000.0), 200.0, pytest.approx(1 / 3), pytest.approx(1.0), 2),
    }
    assert actions_by_asset(october_run, "SELECT10", "2021-10") == {"A": ["add"], "B": ["add"]}


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        # E = Sun 2021-10-10 20:00Z: A 20*200 + B 40*100 = 8000, d = 8, I = 1000
        ("2021-10-10T20:00Z", 1000.0, 8.0),
        ("2021-10-11T20:00Z", 1000.0, 8.0),
        # Jan 2022: cut-off supply A 300, B 100; prices (Jan 5 21:00Z) A 20, B 40:
        # old s*f weights 4000/8000 = .5, .5; new 6000/10000 = .6, .4: two-way .2 >= 106 bp,
        # f = 1 (SPEC §4.4). C = Fri 2022-01-14 21:00Z: MV_old 8000, MV_new 10000,
        # d = 8 * 10000/8000 = 10
        ("2022-01-14T21:00Z", 1000.0, 8.0),
        ("2022-01-16T21:00Z", 1000.0, 10.0),
        # A 25: (25*300 + 40*100)/10 = 11500/10 = 1150
        ("2022-01-17T21:00Z", 1150.0, 10.0),
    ],
)
def test_october_2021_levels(october_run, when, level, divisor):
    """SPEC §3.5-§3.6, §4.1 on the old schedule: C is the 2nd-Friday close, E the Sunday after."""
    got = levels_of(october_run, "SELECT10")[ns(when)]
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)
    assert got[2] == "firm"


def test_october_2021_not_computed_when_its_review_prices_precede_the_data():
    """SPEC §8.3, §4.1: with prices from 2021-09-30 00:00Z the Oct 2021 review price time
    (Sep 29 20:00Z) lies outside the data, so the review is not computed; the history starts
    with Jan 2022: units A 300, B 100 (MV 20*300 = 6000, 40*100 = 4000), I(E) = 1000 at
    Sun 2022-01-16 21:00Z, d = 10000/1000 = 10; Mon A 25: 11500/10 = 1150."""
    res = backfill(october_2021_tables(start="2021-09-30T00:00Z"), indices=["SELECT10"])
    assert effectives(res, "SELECT10") == [at("2022-01-16T21:00Z")]
    jan = basket(res, "SELECT10", "2022-01-16T21:00Z")
    assert {a: r["market_value"] for a, r in jan.items()} == {"A": pytest.approx(6000.0),
                                                             "B": pytest.approx(4000.0)}
    lv = levels_of(res, "SELECT10")
    assert min(lv) == ns("2022-01-16T21:00Z")
    assert lv[ns("2022-01-16T21:00Z")][:2] == (pytest.approx(1000.0, rel=1e-12),
                                              pytest.approx(10.0, rel=1e-12))
    assert lv[ns("2022-01-17T21:00Z")][0] == pytest.approx(1150.0, rel=1e-12)


# --- 2. Crypto Select: the turnover rule against the basket in force (SPEC §4.4, §8.4) ------
#
# A, B, C on the 1h window at 10 each (A 20 from 2024-03-18 00:00Z); supply 100 each, then A
# 100.1 from 2024-02-15 (so at the Mar cut-off). Dec 2023: MV 1000 each, units 100 each,
# d = 3000/1000 = 3.
# With A and B only, the Mar §4.4 test at review prices 10: old s*f weights .5, .5; new
# 1001/2001 = .500250 and 1000/2001 = .499750: |dw| = .00025 each (< 20 bp), two-way .0005
# (< 106 bp): s*f is kept, f_A = 100/100.1, f_B = 100/100 = 1.
TURN_GRID = ("2023-11-25T00:00Z", "2024-03-20T00:00Z")


def turnover_tables(deleted_at: str | None = None, mar_illiquid: set[str] | None = None
                    ) -> dict[str, pa.Table]:
    t = hour_grid(*TURN_GRID)
    series = {"A": step(t, 10.0, ("2024-03-18T00:00Z", 20.0)), "B": step(t, 10.0),
              "C": step(t, 10.0)}
    abc = ["A", "B", "C"]
    tables = {
        "prices": prices_table(t, window="1h", series=series),
        "supply": supply_table([("2023-11-01T00:00Z", a, 100) for a in abc]
                               + [("2024-02-15T00:00Z", "A", 100.1)]),
        "universe": select_universe({"2023-12": abc, "2024-03": abc},
                                    {"2024-03": mar_illiquid or set()}),
        "lists": inclusion({"2023-12": abc}),
    }
    if deleted_at is not None:
        tables["deletions"] = deletions_table([(deleted_at, "C")])
    return tables


def test_turnover_rule_runs_against_the_basket_after_a_deletion():
    """SPEC §3.7, §8.4-§8.5, §4.4: C leaves the universe at Wed 2024-03-13 12:00Z, after the
    Mar review prices: its deletion takes effect at Wed 2024-03-13 20:00Z (first official time
    at or after u), before the review's E, so the basket in force just before E is {A, B}.
    C is ineligible at the review (u <= E); the selection {A, B} equals that basket, so §4.4
    runs and keeps s*f: f_A = 100/100.1.
    Divisors: deletion at C' = Tue 2024-03-12 20:00Z: d = 3 * 2000/3000 = 2. Review at
    C = 2024-03-15 20:00Z: units unchanged (100, 100), d stays 2. Mon 2024-03-18 20:00Z, A 20:
    (20*100 + 10*100)/2 = 1500 (a reset to f = 1 would give d = 2.001 and 3002/2.001)."""
    res = backfill(turnover_tables(deleted_at="2024-03-13T12:00Z"), indices=["SELECT10"])
    dele = basket(res, "SELECT10", "2024-03-13T20:00Z")
    # SPEC §8.6: a deletion's basket at the prices of C: 10 * 100 each, weights .5
    assert {a: (r["market_value"], r["weight"]) for a, r in dele.items()} == {
        "A": (pytest.approx(1000.0), pytest.approx(0.5)),
        "B": (pytest.approx(1000.0), pytest.approx(0.5))}
    mar = basket(res, "SELECT10", "2024-03-17T20:00Z")
    assert {a: (r["supply"], r["factor"], r["weight"]) for a, r in mar.items()} == {
        "A": (100.1, pytest.approx(100 / 100.1, rel=1e-12), pytest.approx(0.5, rel=1e-12)),
        "B": (100.0, pytest.approx(1.0, rel=1e-12), pytest.approx(0.5, rel=1e-12))}
    lv = levels_of(res, "SELECT10")
    assert lv[ns("2024-03-13T20:00Z")][:2] == (pytest.approx(1000.0, rel=1e-12),
                                              pytest.approx(2.0, rel=1e-12))
    assert lv[ns("2024-03-17T20:00Z")][:2] == (pytest.approx(1000.0, rel=1e-12),
                                              pytest.approx(2.0, rel=1e-12))
    assert lv[ns("2024-03-18T20:00Z")][0] == pytest.approx(1500.0, rel=1e-12)
    assert actions_by_asset(res, "SELECT10", "2024-03")["A"] == ["keep"]
    assert "§4.4" in reasons(res, "SELECT10", "2024-03", "A")


def test_deletion_at_the_review_e_leaves_the_turnover_rule_out():
    """SPEC §8.5, §8.4, §4.4: C leaves at Sat 2024-03-16 12:00Z: its E would be Sun 2024-03-17
    20:00Z, the review's E, so the review applies and the deletion has nothing left to do.
    The basket in force just before E is {A, B, C}; the selection {A, B} differs, so §4.4
    does not run: f = 1, units A 100.1, B 100. At C = 2024-03-15 20:00Z: MV_old = 3000,
    MV_new = 1001 + 1000 = 2001: d = 3 * 2001/3000 = 2.001. Mon A 20: (2002 + 1000)/2.001.
    C gets exactly one row, a review `delete` (SPEC §6.3)."""
    res = backfill(turnover_tables(deleted_at="2024-03-16T12:00Z"), indices=["SELECT10"])
    assert effectives(res, "SELECT10") == [at("2023-12-17T21:00Z"), at("2024-03-17T20:00Z")]
    mar = basket(res, "SELECT10", "2024-03-17T20:00Z")
    assert {a: (r["supply"], r["factor"]) for a, r in mar.items()} == {
        "A": (100.1, pytest.approx(1.0)), "B": (100.0, pytest.approx(1.0))}
    lv = levels_of(res, "SELECT10")
    assert lv[ns("2024-03-15T20:00Z")][:2] == (pytest.approx(1000.0, rel=1e-12),
                                              pytest.approx(3.0, rel=1e-12))
    assert lv[ns("2024-03-17T20:00Z")][:2] == (pytest.approx(1000.0, rel=1e-12),
                                              pytest.approx(2.001, rel=1e-12))
    assert lv[ns("2024-03-18T20:00Z")][0] == pytest.approx(3002 / 2.001, rel=1e-12)
    rows = [r["action"] for r in res.reviews.to_pylist()
            if r["index"] == "SELECT10" and r["asset"] == "C"
            and r["action"] in ("add", "keep", "delete")]
    assert rows == ["add", "delete"]
    assert actions_by_asset(res, "SELECT10", "2024-03") == {"A": ["keep"], "B": ["keep"],
                                                  "C": ["delete"]}


def test_constituent_failing_liquidity_is_deleted_and_f_reset():
    """SPEC §8.4, §4.3, §4.4: C fails the liquidity flag of the Mar snapshot: deleted (no
    longer eligible). The selection {A, B} differs from the basket {A, B, C}, so f = 1 for A
    and B although their supply barely moved: units 100.1, 100; d = 3 * 2001/3000 = 2.001 at
    C = 2024-03-15 20:00Z; Mon A 20: 3002/2.001."""
    res = backfill(turnover_tables(mar_illiquid={"C"}), indices=["SELECT10"])
    mar = basket(res, "SELECT10", "2024-03-17T20:00Z")
    assert {a: r["factor"] for a, r in mar.items()} == {"A": pytest.approx(1.0),
                                                       "B": pytest.approx(1.0)}
    assert actions_by_asset(res, "SELECT10", "2024-03")["C"] == ["delete"]
    assert "liquidity" in reasons(res, "SELECT10", "2024-03", "C")
    lv = levels_of(res, "SELECT10")
    assert lv[ns("2024-03-18T20:00Z")][:2] == (pytest.approx(3002 / 2.001, rel=1e-12),
                                              pytest.approx(2.001, rel=1e-12))


def test_ex_btc_turnover_is_over_its_own_members():
    """SPEC §4.4, §8.4: BTC 100, A 10, B 10 (A 20 from 2024-03-18); supply BTC 20, A 100,
    B 100, then BTC 22 and A 100.1 at the Mar cut-off.
    SELECT10: old weights 2000, 1000, 1000 of 4000 = .5, .25, .25; new 2200, 1001, 1000 of
    4201: BTC .52369 (|dw| = 237 bp >= 20 bp): f = 1; d: 4 at Dec E, 4 * 4201/4000 = 4.201
    at Mar C; Mon: (2200 + 2002 + 1000)/4.201 = 5202/4.201.
    SELECT10_EXBTC (BTC dropped): A and B only, |dw| = 2.5 bp each: s*f kept,
    f_A = 100/100.1; d = 2 unchanged; Mon: (2000 + 1000)/2 = 1500."""
    t = hour_grid(*TURN_GRID)
    tables = {
        "prices": prices_table(t, window="1h", series={"BTC": step(t, 100.0),
                                         "A": step(t, 10.0, ("2024-03-18T00:00Z", 20.0)),
                                         "B": step(t, 10.0)}),
        "supply": supply_table([("2023-11-01T00:00Z", "BTC", 20), ("2023-11-01T00:00Z", "A", 100),
                                ("2023-11-01T00:00Z", "B", 100), ("2024-02-15T00:00Z", "BTC", 22),
                                ("2024-02-15T00:00Z", "A", 100.1)]),
        "universe": select_universe({"2023-12": ["BTC", "A", "B"]}),
        "lists": inclusion({"2023-12": ["BTC", "A", "B"]}),
    }
    res = backfill(tables, indices=["SELECT10", "SELECT10_EXBTC"])
    full = basket(res, "SELECT10", "2024-03-17T20:00Z")
    assert {a: r["factor"] for a, r in full.items()} == {
        "BTC": pytest.approx(1.0), "A": pytest.approx(1.0), "B": pytest.approx(1.0)}
    ex = basket(res, "SELECT10_EXBTC", "2024-03-17T20:00Z")
    assert {a: r["factor"] for a, r in ex.items()} == {
        "A": pytest.approx(100 / 100.1, rel=1e-12), "B": pytest.approx(1.0, rel=1e-12)}
    mon = ns("2024-03-18T20:00Z")
    assert levels_of(res, "SELECT10")[mon][:2] == (pytest.approx(5202 / 4.201, rel=1e-12),
                                                  pytest.approx(4.201, rel=1e-12))
    assert levels_of(res, "SELECT10_EXBTC")[mon][:2] == (pytest.approx(1500.0, rel=1e-12),
                                                        pytest.approx(2.0, rel=1e-12))


# --- 3. Crypto Select: chain-linked levels across a stale price (SPEC §3.6, §3.8) ----------
def stale_tables() -> dict[str, pa.Table]:
    """A 10 -> 20 from 2024-01-10 00:00Z; B 10 -> 12 from 2024-01-10 00:00Z but with no 1h
    fix from 2024-01-10 00:00Z to 2024-01-11 23:00Z; supply 100 each; Dec 2023 basket only."""
    t = hour_grid("2023-11-25T00:00Z", "2024-01-20T00:00Z")
    b = step(t, 10.0, ("2024-01-10T00:00Z", 12.0))
    b[(t >= ns("2024-01-10T00:00Z")) & (t <= ns("2024-01-11T23:00Z"))] = np.nan
    return {
        "prices": prices_table(t, window="1h", series={
            "A": step(t, 10.0, ("2024-01-10T00:00Z", 20.0)), "B": b}),
        "supply": supply_table([("2023-11-01T00:00Z", a, 100) for a in "AB"]),
        "universe": select_universe({"2023-12": ["A", "B"]}),
        "lists": inclusion({"2023-12": ["A", "B"]}),
    }


@pytest.mark.parametrize("hourly", [False, True])
def test_chain_linked_level_keeps_a_stale_price(hourly):
    """SPEC §3.6, §3.8, §3.5: d = (10*100 + 10*100)/1000 = 2 at E = 2023-12-17 21:00Z.
    Jan 10 and 11 21:00Z: B has no fresh fix and keeps its last price 10: (2000 + 1000)/2 =
    1500, indicative. Jan 12 21:00Z: B 12 again fresh: (2000 + 1200)/2 = 1600, firm. The
    chain-linked form agrees with sum p*s*f/d; on the hourly calendar the official times carry
    the same levels (and Jan 10 12:00Z: 1500, indicative)."""
    lv = levels_of(backfill(stale_tables(), indices=["SELECT10"], hourly=hourly), "SELECT10")
    assert lv[ns("2024-01-09T21:00Z")] == (pytest.approx(1000.0, rel=1e-12),
                                          pytest.approx(2.0, rel=1e-12), "firm")
    for when in ("2024-01-10T21:00Z", "2024-01-11T21:00Z"):
        assert lv[ns(when)] == (pytest.approx(1500.0, rel=1e-12), pytest.approx(2.0, rel=1e-12),
                                "indicative")
    assert lv[ns("2024-01-12T21:00Z")] == (pytest.approx(1600.0, rel=1e-12),
                                          pytest.approx(2.0, rel=1e-12), "firm")
    if hourly:
        assert lv[ns("2024-01-10T12:00Z")][0] == pytest.approx(1500.0, rel=1e-12)
        assert lv[ns("2024-01-10T12:00Z")][2] == "indicative"


# --- 4. Grayscale: thresholds at X = $100M, classes, lists in force (SPEC §4.5, §8.4) -------
#
# Every 15m price 1.0 (market value = supply, $M) except K_NEW. Supply rows 2024-08-01 (Sep)
# and 2024-11-15 (Dec). All liquid, not new entrants, unless said. Volume $1M a day.
#
#   asset       codes                   class Sep / Dec     MV Sep   MV Dec
#   F_BIG       Financials 70102015     benchmark             400      400   (on the
#                                                                             Currencies
#                                                                             exclusion list)
#   F_EX2       Financials              benchmark             310      310   (excl. list Dec)
#   F_INC_LATE  Utilities 70203010      benchmark             300      300   (Fin. incl. list,
#                                                                             Dec only)
#   F_EX1       Financials              benchmark             290      290   (excl. list Sep)
#   F_D20       Financials              benchmark             200      200   (20 days in Dec)
#   F_N79       Financials              non-benchmark         150     79.9
#   F_N100      Financials              non-benchmark         100       80
#   F_N99       Financials              non-benchmark          99       99
#   F_CLS       Financials              benchmark / non-b.     60       60
#   F_NOUNI     Financials              (no universe row)     500      500   (Fin. incl. list,
#                                                                             Dec only)
#   K_A         Consumer 70201010       benchmark             900      900
#   K_NEW       Consumer 70201010       non-benchmark, new entrant in Sep
FIN = "70102015"
G_ASSETS = {
    "F_BIG": ("701020", FIN), "F_EX2": ("701020", FIN), "F_INC_LATE": ("702030", "70203010"),
    "F_EX1": ("701020", FIN), "F_D20": ("701020", FIN), "F_N79": ("701020", FIN),
    "F_N100": ("701020", FIN), "F_N99": ("701020", FIN), "F_CLS": ("701020", FIN),
    "F_NOUNI": ("701020", FIN), "K_A": ("702010", "70201010"), "K_NEW": ("702010", "70201010"),
}
G_MV = {"F_BIG": (400, 400), "F_EX2": (310, 310), "F_INC_LATE": (300, 300),
        "F_EX1": (290, 290), "F_D20": (200, 200), "F_N79": (150, 79.9), "F_N100": (100, 80),
        "F_N99": (99, 99), "F_CLS": (60, 60), "F_NOUNI": (500, 500), "K_A": (900, 900)}
NON_BENCH = {"F_N79", "F_N100", "F_N99"}
SEP, DEC = "2024-09", "2024-12"
SEP_E, DEC_E = "2024-09-22T20:00Z", "2024-12-22T21:00Z"


def g_volume(asset: str, d: dt.date) -> float | None:
    if asset == "F_D20" and between(d, "2024-11-13", "2024-11-20"):
        return None  # Dec window Nov 13..Dec 10 holds only Nov 21..Dec 10: 20 days
    if asset == "K_NEW":
        # 84 dates Jun 4..Aug 26 at exactly $500K; nothing Aug 27..Sep 10 (its 28-day window
        # Aug 14..Sep 10 would hold 13 days only); $1M from Sep 11 on.
        if between(d, "2024-06-04", "2024-08-26"):
            return 500e3
        return 1e6 if d >= day("2024-09-11") else None
    return 1e6


def g_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-08-30T00:00Z", "2024-12-24T00:00Z")
    series = {a: step(t, 1.0) for a in G_MV}
    # K_NEW: 2.5 until Sep 1, 2.0 from then, 3.0 from Sep 23; no fix at the Sep review prices.
    k_new = step(t, 2.5, ("2024-09-01T00:00Z", 2.0), ("2024-09-23T00:00Z", 3.0))
    k_new[t == ns("2024-09-11T20:00Z")] = np.nan
    series["K_NEW"] = k_new
    supply = [(w, a, mv * M) for a, mvs in G_MV.items()
              for w, mv in zip(("2024-08-01T00:00Z", "2024-11-15T00:00Z"), mvs, strict=True)]
    # K_NEW: 30M at the 20:00Z cut-off, 40M from 21:00Z, so 40M at 22:00Z and at the Dec cut-off
    supply += [("2024-08-01T00:00Z", "K_NEW", 30 * M), ("2024-08-31T21:00Z", "K_NEW", 40 * M)]
    universe = []
    for a in G_ASSETS:
        if a == "F_NOUNI":
            continue
        for month in (SEP, DEC):
            klass = ("non-benchmark" if a in NON_BENCH or a == "K_NEW"
                     or (a == "F_CLS" and month == DEC) else "benchmark")
            new = a == "K_NEW" and month == SEP
            universe.append((month, a, klass, not new, new))
    lists = [(SEP, "grayscale_exclusion_financials", "F_EX1"),
             (DEC, "grayscale_exclusion_financials", "F_EX2"),
             (DEC, "grayscale_inclusion_financials", "F_INC_LATE"),
             (DEC, "grayscale_inclusion_financials", "F_NOUNI"),
             (SEP, "grayscale_exclusion_currencies", "F_BIG")]
    return {
        "prices": prices_table(t, window="15m", series=series),
        "supply": supply_table(supply),
        "assets": assets_table(G_ASSETS),
        "universe": universe_table(universe),
        "lists": lists_table(lists),
        "volume": volume_table(list(G_ASSETS), "2024-05-01", "2024-12-31", g_volume),
    }


@pytest.fixture(scope="module")
def gs():
    return backfill(g_tables(), indices=["GS_FINANCIALS", "GS_CONSUMER", "GS_UTILITIES",
                                         "GS_TOTAL_CAP"])


SEP_FIN = {"F_BIG": 400, "F_EX2": 310, "F_INC_LATE": 300, "F_D20": 200, "F_N79": 150,
           "F_N100": 100, "F_CLS": 60}


def test_financials_first_review_screens(gs):
    """SPEC §4.5, §8.4, §4.2 at Sep 2024 (X = $100M for Financials):
    in: F_N100 (non-benchmark at exactly X); F_CLS (benchmark, $60M >= $50M); F_INC_LATE
    (Utilities code, on the Financials inclusion list first recorded in Dec: a review earlier
    than the first list uses the first list); F_EX2 (its exclusion is only in the Dec list);
    F_BIG (the Currencies exclusion list does not touch Financials).
    out: F_N99 ($99M < X); F_EX1 (on the Sep exclusion list); F_NOUNI (inclusion-listed but
    with no universe row)."""
    assert set(basket(gs, "GS_FINANCIALS", SEP_E)) == set(SEP_FIN)


def test_financials_sqrt_weights_and_ranks(gs):
    """SPEC §3.3, §8.6: square root: w_i = sqrt(MV_i)/sum sqrt(MV_j); f_i = target_i/W_i is
    proportional to 1/sqrt(MV_i), scaled so the largest is 1: f_i = sqrt(60/MV_i) (F_CLS, the
    smallest, gets 1). Ranks by market value among the members: F_BIG 1, F_EX2 2, F_INC_LATE 3,
    F_D20 4, F_N79 5, F_N100 6, F_CLS 7. Market values at review prices * cut-off supply."""
    sep = basket(gs, "GS_FINANCIALS", SEP_E)
    roots = sum(math.sqrt(v) for v in SEP_FIN.values())
    order = sorted(SEP_FIN, key=lambda a: -SEP_FIN[a])
    for i, (a, mv) in enumerate(sorted(SEP_FIN.items(), key=lambda x: -x[1])):
        assert a == order[i]
        r = sep[a]
        assert r["rank"] == i + 1
        assert r["market_value"] == pytest.approx(mv * M, rel=1e-12)
        assert r["weight"] == pytest.approx(math.sqrt(mv) / roots, rel=1e-12)
        assert r["factor"] == pytest.approx(math.sqrt(60 / mv), rel=1e-12)


def test_financials_later_review_thresholds_and_lists(gs):
    """SPEC §4.5, §8.4, §4.2 at Dec 2024 (constituents stay unless below):
    keep: F_BIG; F_INC_LATE (Dec inclusion list); F_N100 at exactly 0.8 X = $80M.
    delete: F_N79 ($79.9M < $80M); F_CLS ($60M, now non-benchmark in the Dec snapshot: needs
    $80M); F_EX2 (on the Dec exclusion list); F_D20 (20 days of volume in Nov 13..Dec 10,
    under 21, though a constituent).
    add: F_EX1 (the Sep exclusion list is no longer the latest at or before Dec).
    F_N99 ($99M < X) stays out. Ranks F_BIG 1, F_INC_LATE 2, F_EX1 3, F_N100 4."""
    dec = basket(gs, "GS_FINANCIALS", DEC_E)
    assert {a: r["rank"] for a, r in dec.items()} == {"F_BIG": 1, "F_INC_LATE": 2, "F_EX1": 3,
                                                      "F_N100": 4}
    assert actions_by_asset(gs, "GS_FINANCIALS", DEC) == {
        "F_BIG": ["keep"], "F_INC_LATE": ["keep"], "F_N100": ["keep"], "F_EX1": ["add"],
        "F_N79": ["delete"], "F_CLS": ["delete"], "F_EX2": ["delete"], "F_D20": ["delete"]}
    assert dec["F_N100"]["market_value"] == pytest.approx(80 * M)


def test_inclusion_list_does_not_move_an_asset_out_of_its_own_sector(gs):
    """SPEC §4.5, §5: F_INC_LATE (code 702030) is in Utilities ($300M >= $50M) as well as in
    Financials through the inclusion list; alone in Utilities: weight 1, factor 1."""
    for e in (SEP_E, DEC_E):
        utl = basket(gs, "GS_UTILITIES", e)
        assert {a: (r["weight"], r["factor"]) for a, r in utl.items()} == {
            "F_INC_LATE": (pytest.approx(1.0), pytest.approx(1.0))}


def test_new_entrant_priced_and_weighted_at_22_utc(gs):
    """SPEC §4.1, §4.5, §8.4: K_NEW, a non-benchmark new entrant in Sep (liquidity flag off),
    uses the 22:00Z price 2.5 and supply 40M: MV $100M = X (enters; the 20:00Z cut-off supply
    30M would give $75M). It has no fix at the review price time, which it does not use. Its
    84-day ADTV (Jun 4..Aug 26) is exactly $500K (>= $500K); its 28-day window would hold only
    13 days. Consumer sqrt weights: sqrt(900) = 30, sqrt(100) = 10: targets .75, .25;
    W = .9, .1; f = .75/.9, .25/.1 = 5/6, 5/2, scaled by 2/5: K_A 1/3, K_NEW 1.
    Units K_A 300M, K_NEW 40M. E = Sep 22 20:00Z (K_NEW 2.0): 300M + 80M = 380M: d = 380M/1000.
    Mon Sep 23 20:00Z, K_NEW 3.0: (300 + 120)/380 * 1000 = 1105.263..."""
    sep = basket(gs, "GS_CONSUMER", SEP_E)
    got = {a: (r["market_value"], r["supply"], r["weight"], r["factor"], r["rank"])
           for a, r in sep.items()}
    assert got == {
        "K_A": (pytest.approx(900 * M), pytest.approx(900 * M), pytest.approx(0.75, rel=1e-12),
                pytest.approx(1 / 3, rel=1e-12), 1),
        "K_NEW": (pytest.approx(100 * M), pytest.approx(40 * M), pytest.approx(0.25, rel=1e-12),
                  pytest.approx(1.0, rel=1e-12), 2),
    }
    lv = levels_of(gs, "GS_CONSUMER")
    assert lv[ns(SEP_E)][:2] == (pytest.approx(1000.0, rel=1e-12),
                                 pytest.approx(380 * M / 1000, rel=1e-12))
    assert lv[ns("2024-09-23T20:00Z")][0] == pytest.approx(420 / 380 * 1000, rel=1e-12)


def test_former_new_entrant_uses_review_prices_at_the_next_review(gs):
    """SPEC §4.5, §3.2: in Dec K_NEW is no longer a new entrant: review price 3.0 (Dec 11
    21:00Z) * cut-off supply 40M = $120M (a constituent stays above 0.8 X = $80M; 28-day ADTV
    $1M). K_A $900M. Weights sqrt(900) = 30 and sqrt(120) of their sum."""
    dec = basket(gs, "GS_CONSUMER", DEC_E)
    s = 30 + math.sqrt(120)
    assert {a: (r["market_value"], r["weight"]) for a, r in dec.items()} == {
        "K_A": (pytest.approx(900 * M), pytest.approx(30 / s, rel=1e-12)),
        "K_NEW": (pytest.approx(120 * M), pytest.approx(math.sqrt(120) / s, rel=1e-12))}
    assert actions_by_asset(gs, "GS_CONSUMER", DEC) == {"K_A": ["keep"], "K_NEW": ["keep"]}


def test_total_cap_is_the_union_with_new_entrant_values(gs):
    """SPEC §5, §3.3, §8.4: GS_TOTAL_CAP at Sep = Financials (7) + Consumer (K_A, K_NEW);
    Utilities adds nothing new (F_INC_LATE once). Sum of market values:
    400 + 310 + 300 + 200 + 150 + 100 + 60 + 900 + 100 = 2520 ($M, K_NEW at 22:00Z values);
    market cap: f = 1, w = MV/2520."""
    tot = basket(gs, "GS_TOTAL_CAP", SEP_E)
    mvs = dict(SEP_FIN, K_A=900, K_NEW=100)
    assert set(tot) == set(mvs)
    for a, mv in mvs.items():
        assert tot[a]["factor"] == pytest.approx(1.0)
        assert tot[a]["weight"] == pytest.approx(mv / 2520, rel=1e-12)
    assert tot["K_NEW"]["supply"] == pytest.approx(40 * M)


# --- 5. Grayscale: Investible and totals computed without their sector index (SPEC §4.5, §5) -
#
# Smart Contract Platforms (702020), 15m prices 1.0, all on the access list, volume $1M a day:
#   S1 benchmark 500 / 500, S2 non-benchmark 250 / 170, S3 benchmark 300 / 300,
#   S4 benchmark 300 / 300 ($M, Sep / Dec 2024).
SCP_MV = {"S1": (500, 500), "S2": (250, 170), "S3": (300, 300), "S4": (300, 300)}


def scp_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-08-30T00:00Z", "2024-12-24T00:00Z")
    supply = [(w, a, mv * M) for a, mvs in SCP_MV.items()
              for w, mv in zip(("2024-08-01T00:00Z", "2024-11-15T00:00Z"), mvs, strict=True)]
    return {
        "prices": prices_table(t, window="15m", series={a: step(t, 1.0) for a in SCP_MV}),
        "supply": supply_table(supply),
        "assets": assets_table(dict.fromkeys(SCP_MV, ("702020", "70202010"))),
        "universe": universe_table([(SEP, a, "non-benchmark" if a == "S2" else "benchmark",
                                     True, False) for a in SCP_MV]),
        "lists": lists_table([(SEP, "grayscale_access", a) for a in SCP_MV]),
        "volume": volume_table(list(SCP_MV), "2024-05-01", "2024-12-31", lambda a, d: 1e6),
    }


@pytest.mark.parametrize("indices", [["GS_SCP_INVESTIBLE"], ["GS_TOTAL_CAP"],
                                     ["GS_SCP", "GS_SCP_INVESTIBLE", "GS_TOTAL_CAP"]])
def test_sector_constituency_without_the_sector_index(indices):
    """SPEC §4.5, §5, §8.4, §3.4, §8.6: S2 (non-benchmark, X = $200M) enters GS_SCP in Sep at
    $250M and, as a GS_SCP constituent, stays in Dec at $170M >= 0.8 X = $160M (a newcomer
    would need $200M) whichever indices are asked for.
    GS_SCP_INVESTIBLE (30% cap) in Dec: MV 500, 170, 300, 300 (1270): S1 .3937 -> .3; the
    others share .7 pro rata to 770: S3, S4 300/770*.7 = .272727, S2 170/770*.7 = .154545;
    none above .3, so one pass. (Without S2, N*c = .9 < 1 would give 1/3 each.)
    GS_TOTAL_CAP in Dec: w = MV/1270."""
    res = backfill(scp_tables(), indices=indices)
    if "GS_SCP_INVESTIBLE" in indices:
        dec = basket(res, "GS_SCP_INVESTIBLE", DEC_E)
        assert {a: r["weight"] for a, r in dec.items()} == {
            "S1": pytest.approx(0.3, rel=1e-12), "S2": pytest.approx(0.7 * 170 / 770, rel=1e-12),
            "S3": pytest.approx(0.7 * 300 / 770, rel=1e-12),
            "S4": pytest.approx(0.7 * 300 / 770, rel=1e-12)}
        assert dec["S1"]["weight"] == 0.3  # SPEC §8.6: a capped member shows its cap exactly
        assert actions_by_asset(res, "GS_SCP_INVESTIBLE", DEC)["S2"] == ["keep"]
    if "GS_TOTAL_CAP" in indices:
        dec = basket(res, "GS_TOTAL_CAP", DEC_E)
        assert {a: r["weight"] for a, r in dec.items()} == {
            a: pytest.approx(mvs[1] / 1270, rel=1e-12) for a, mvs in SCP_MV.items()}
