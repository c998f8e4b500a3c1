"""Grayscale Crypto Sector indices against the SPEC, every number worked out by hand.

Rules checked: sector codes and the exclusion / inclusion lists (SPEC §4.5, §5, §8.4), market
value thresholds for new and existing members (SPEC §4.5), ADTV windows and thresholds, new
entrants (SPEC §4.5, §8.4), square-root and market-cap weights (SPEC §3.3), the totals, the
Investible index with its 30% cap (SPEC §3.4, §5) and the history anchors (SPEC §4.6, §8.4).

Instants (SPEC §4.1, Grayscale rows; 16:00 New York):

- Sep 2024: cut-off 2024-08-31 20:00Z; new entrants use 2024-08-31 22:00Z; review prices
  Wed 2024-09-11 20:00Z (first Friday Sep 6); C = 2024-09-20 20:00Z; E = 2024-09-22 20:00Z.
  ADTV (SPEC §8.4): the 28 dates before Sep 11 = Aug 14..Sep 10; new entrants: the 84 dates
  ending 5 days before the cut-off date Aug 31 = Jun 4..Aug 26.
- Dec 2024: cut-off 2024-11-30 21:00Z; review prices Wed 2024-12-11 21:00Z (first Friday
  Dec 6); C = 2024-12-20 21:00Z; E = 2024-12-22 21:00Z. ADTV dates Nov 13..Dec 10.
- 2022: Jun review prices 2022-06-08 20:00Z, cut-off 2022-05-31 20:00Z, E 2022-06-19 20:00Z;
  Sep: 2022-09-07 20:00Z, cut-off 2022-08-31 20:00Z, E 2022-09-18 20:00Z; Dec: 2022-12-07
  21:00Z, cut-off 2022-11-30 21:00Z, E 2022-12-18 21:00Z.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scenarios import (
    M,
    assets_table,
    at,
    between,
    day,
    hour_grid,
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
def basket(result, index: str, effective: str) -> dict[str, dict]:
    return {r["asset"]: r for r in result.constituents.to_pylist()
            if r["index"] == index and r["effective"] == at(effective)}


def actions(result, index: str, month: str) -> dict[str, list[str]]:
    """The actions of a review's members (SPEC §6.3), with their ``capped`` detail; rows of
    non-members (``ineligible``) and notes are left out."""
    out: dict[str, list[str]] = {}
    for r in result.reviews.to_pylist():
        if (r["index"] == index and r["review"] == month
                and r["action"] not in ("ineligible", "note")):
            out.setdefault(r["asset"], []).append(r["action"])
    return out


def levels_of(result, index: str) -> dict[int, float]:
    lv = result.levels.filter(pc.equal(result.levels.column("index"), index))
    return dict(zip(lv.column("ts").cast("int64").to_pylist(), lv.column("level").to_pylist(),
                    strict=True))


# --- 1. screens, weights, totals and the Investible index (Sep and Dec 2024) -------------
#
# Every 15m price is 1.0 (so market value = supply at the cut-off), except C_NEW (2.5 until
# 2024-09-01, then 2.0) and S1 (2.0 from 2024-12-23). Sector codes (SPEC §5): Currencies =
# sector 701010 or subsector 70102010; Financials = 70102015 or 70201025; SCP = 702020;
# Utilities includes 702030.
SEP, DEC = "2024-09", "2024-12"
SEP_E, DEC_E = "2024-09-22T20:00Z", "2024-12-22T21:00Z"

#: asset: (sector, subsector, class, Sep MV $M, Dec MV $M)
G1 = {
    "C_BIG": ("701010", "70101010", "benchmark", 1000, 1000),
    "C_B49": ("701010", "70101010", "benchmark", 49, 45),
    "C_B50": ("701010", "70101010", "benchmark", 50, 40),
    "C_SUB": ("701020", "70102010", "benchmark", 300, 39),  # Currencies by its subsector
    "C_N199": ("701010", "70101010", "non-benchmark", 199, 199),
    "C_N200": ("701010", "70101010", "non-benchmark", 200, None),  # see g1_tables
    "C_N2": ("701010", "70101010", "non-benchmark", 250, 159),
    "C_EXCL": ("701010", "70101010", "benchmark", 500, 500),  # on the exclusion list
    "C_BOTH": ("701010", "70101010", "benchmark", 500, 500),  # on both lists
    "I_INC": ("702030", "70203010", "benchmark", 400, 400),  # Utilities, on the inclusion list
    "C_A249": ("701010", "70101010", "benchmark", 500, 500),
    "C_A250": ("701010", "70101010", "benchmark", 500, 500),
    "C_D20": ("701010", "70101010", "benchmark", 500, 500),
    "C_D21": ("701010", "70101010", "benchmark", 500, 500),
    "C_ILLIQ": ("701010", "70101010", "benchmark", 500, 500),
    "C_NEW": ("701010", "70101010", "non-benchmark", None, None),  # see g1_tables
    "C_NEWLOW": ("701010", "70101010", "non-benchmark", 300, 300),
    "C_NEW20": ("701010", "70101010", "non-benchmark", 300, 300),
    # ADTV window edges (SPEC §8.4), 21 days of volume each: see g1_volume
    "C_NEW21": ("701010", "70101010", "non-benchmark", 300, 300),
    "C_NEWEND": ("701010", "70101010", "non-benchmark", 300, 300),
    "C_NEWSTART": ("701010", "70101010", "non-benchmark", 300, 300),
    "C_NEWPRE": ("701010", "70101010", "non-benchmark", 300, 300),
    "C_DEND": ("701010", "70101010", "benchmark", 500, 500),
    "C_DPRE": ("701010", "70101010", "benchmark", 500, 500),
    "F1": ("701020", "70102015", "non-benchmark", 400, 400),
    "F2": ("702010", "70201025", "non-benchmark", 100, 100),
    "F3": ("701020", "70102015", "non-benchmark", 225, 225),
    "S1": ("702020", "70202010", "benchmark", 500, 500),
    "S2": ("702020", "70202010", "benchmark", 300, 250),
    "S3": ("702020", "70202010", "benchmark", 200, 150),
    "S4": ("702020", "70202010", "benchmark", 100, 100),
}
NEW_ENTRANTS = {"C_NEW", "C_NEWLOW", "C_NEW20", "C_NEW21", "C_NEWEND", "C_NEWSTART", "C_NEWPRE"}
#: Not liquid in the Dec universe (so out in Dec whatever their volume)
DEC_ILLIQUID = {"C_ILLIQ", "C_NEWLOW", "C_NEW20", "C_NEWEND", "C_NEWPRE", "C_DEND", "C_DPRE"}


def g1_volume(asset: str, d: dt.date) -> float | None:
    """Daily volume: $1M unless the scenario says otherwise."""
    if asset == "C_BIG" and between(d, "2024-11-13", "2024-12-10"):
        return 199e3  # Dec 28-day ADTV 199K < 200K to stay
    if asset == "C_A249":
        return 249e3  # 28-day ADTV 249K < 250K to enter
    if asset == "C_A250":
        if between(d, "2024-11-13", "2024-12-10"):
            return 200e3  # Dec: exactly 200K, stays
        return 250e3  # Sep: exactly 250K, enters
    if asset == "C_D20":
        return 1e6 if between(d, "2024-08-22", "2024-09-10") else None  # 20 days on record
    if asset == "C_D21":
        # 21 days Aug 21..Sep 10 at 300K: mean of those present 300K >= 250K (a mean over
        # 28 days would be 225K)
        return 300e3 if d >= day("2024-08-21") else None
    if asset == "C_NEW":
        # 84 dates Jun 4..Aug 26: 71 * 700K + 13 * 100K = 51M, / 84 = 607K >= 500K; its
        # 28-day window Aug 14..Sep 10 is 100K (would fail)
        if d <= day("2024-08-13"):
            return 700e3
        return 100e3 if d <= day("2024-09-10") else 1e6
    if asset == "C_NEWLOW":
        return 400e3 if d <= day("2024-08-26") else 1e6  # 84-day ADTV 400K < 500K
    if asset == "C_NEW20":
        return 1e6 if d >= day("2024-08-07") else None  # 20 days Aug 7..Aug 26 in 84 dates
    # 21 consecutive days each; the Sep windows are Jun 4..Aug 26 (new entrants) and
    # Aug 14..Sep 10 (others), so exactly one day of each run falls outside for the *END/*PRE
    # assets and none for C_NEW21 / C_NEWSTART (which trade again from Sep 11, for Dec).
    runs = {"C_NEW21": ("2024-08-06", "2024-08-26"), "C_NEWEND": ("2024-08-07", "2024-08-27"),
            "C_NEWSTART": ("2024-06-04", "2024-06-24"), "C_NEWPRE": ("2024-06-03", "2024-06-23"),
            "C_DEND": ("2024-08-22", "2024-09-11"), "C_DPRE": ("2024-08-13", "2024-09-02")}
    if asset in runs:
        if between(d, *runs[asset]) or (asset in ("C_NEW21", "C_NEWSTART")
                                        and d >= day("2024-09-11")):
            return 1e6
        return None
    return 1e6


def g1_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-08-30T00:00Z", "2024-12-24T00:00Z")
    series = {a: step(t, 1.0) for a in G1}
    series["C_NEW"] = step(t, 2.5, ("2024-09-01T00:00Z", 2.0))
    series["S1"] = step(t, 1.0, ("2024-12-23T00:00Z", 2.0))
    supply = []
    for a, (_, _, _, sep, dec) in G1.items():
        if sep is not None:
            supply.append(("2024-08-01T00:00Z", a, sep * M))
        if dec is not None:
            supply.append(("2024-11-15T00:00Z", a, dec * M))
    # Cut-offs are 16:00 New York: 20:00Z on Aug 31 (EDT), 21:00Z on Nov 30 (EST). A C_N2 row
    # at Aug 31 20:30Z is after the Sep cut-off (unused); a C_N200 row at Nov 30 20:30Z is
    # before the Dec cut-off (used).
    supply += [("2024-08-31T20:30Z", "C_N2", 1000 * M), ("2024-11-30T20:30Z", "C_N200", 161 * M),
               ("2024-11-15T00:00Z", "C_N200", 300 * M)]
    # C_NEW: 60M at the 20:00Z cut-off, 100M from 21:00Z, so 100M at 22:00Z
    supply += [("2024-08-01T00:00Z", "C_NEW", 60 * M), ("2024-08-31T21:00Z", "C_NEW", 100 * M)]
    universe = []
    for a, (_, _, klass, _, _) in G1.items():
        new = a in NEW_ENTRANTS
        universe.append((SEP, a, klass, not new and a != "C_ILLIQ", new))
        universe.append((DEC, a, klass, a not in DEC_ILLIQUID, False))
    lists = [(SEP, "grayscale_exclusion_currencies", "C_EXCL"),
             (SEP, "grayscale_exclusion_currencies", "C_BOTH"),
             (SEP, "grayscale_inclusion_currencies", "C_BOTH"),
             (SEP, "grayscale_inclusion_currencies", "I_INC")]
    lists += [(SEP, "grayscale_access", a) for a in ("S1", "S2", "S3")]
    lists += [(DEC, "grayscale_access", a) for a in ("S1", "S2", "S3", "S4")]
    return {
        "prices": prices_table(t, series),
        "supply": supply_table(supply),
        "assets": assets_table({a: (v[0], v[1]) for a, v in G1.items()}),
        "universe": universe_table(universe),
        "lists": lists_table(lists),
        "volume": volume_table(list(G1), "2024-05-01", "2024-12-31", g1_volume),
    }


ALL_GS = ["GS_CURRENCIES", "GS_SCP", "GS_FINANCIALS", "GS_UTILITIES", "GS_TOTAL",
          "GS_TOTAL_CAP", "GS_SCP_INVESTIBLE"]


@pytest.fixture(scope="module")
def g1():
    return backfill(g1_tables(), indices=ALL_GS)


SEP_CURRENCIES = {"C_BIG", "C_B50", "C_SUB", "C_N200", "C_N2", "C_BOTH", "I_INC", "C_A250",
                  "C_D21", "C_NEW", "C_NEW21", "C_NEWSTART"}


def test_currencies_screens_at_a_first_review(g1):
    """SPEC §4.5, §8.4 for non-constituents (Sep 2024, X = $200M):
    in: C_BIG; C_B50 (benchmark, exactly $50M); C_SUB (subsector 70102010); C_N200
    (non-benchmark, exactly X); C_N2; C_BOTH (on both lists); I_INC (sector 702030, on the
    inclusion list); C_A250 (ADTV exactly $250K); C_D21 (21 days on record, mean of those
    present $300K); C_NEW (new entrant, see below); C_NEW21, C_NEWSTART (ADTV window edges).
    out: C_B49 ($49M < $50M); C_N199 ($199M < X); C_EXCL (exclusion list); C_A249 ($249K);
    C_D20 (20 days of record < 21); C_ILLIQ (liquidity flag); C_NEWLOW (84-day ADTV $400K <
    $500K); C_NEW20 (20 days in its 84-date window); C_NEWEND, C_NEWPRE, C_DEND, C_DPRE
    (window edges); F*, S* (other sectors)."""
    assert set(basket(g1, "GS_CURRENCIES", SEP_E)) == SEP_CURRENCIES


def test_adtv_window_edges(g1):
    """SPEC §8.4, 21 days of $1M volume each: new entrants use the 84 dates Jun 4..Aug 26
    inclusive: C_NEW21 (Aug 6..26) and C_NEWSTART (Jun 4..24) are in; C_NEWEND (Aug 7..27)
    and C_NEWPRE (Jun 3..23) have 20 days inside and are out. Others use the 28 dates Aug 14..
    Sep 10 (before the review price date Sep 11): C_DEND (Aug 22..Sep 11) and C_DPRE (Aug 13..
    Sep 2) have 20 days inside and are out."""
    sep = set(basket(g1, "GS_CURRENCIES", SEP_E))
    assert {"C_NEW21", "C_NEWSTART"} <= sep
    assert not sep & {"C_NEWEND", "C_NEWPRE", "C_DEND", "C_DPRE"}


def test_new_entrant_uses_22utc_price_and_supply(g1):
    """SPEC §4.1, §4.5, §8.4: C_NEW is screened and weighted with the 22:00Z price 2.5 and
    supply 100M: MV $250M >= X (review price 2.0 with the 20:00Z cut-off supply 60M would
    give $120M); its liquidity flag is off (new entrants skip the test); its 84-day ADTV is
    $607K >= $500K while its 28-day ADTV ($100K) would fail."""
    row = basket(g1, "GS_CURRENCIES", SEP_E)["C_NEW"]
    assert row["market_value"] == pytest.approx(250 * M)
    assert row["supply"] == pytest.approx(100 * M)


def test_currencies_screens_for_existing_constituents(g1):
    """SPEC §4.5 at Dec 2024 for constituents (stay unless below):
    stay: C_B50 at exactly $40M (benchmark); C_N200 $161M >= 0.8 X = $160M; C_A250 ADTV
    exactly $200K; C_NEW $200M (2.0 * 100M, now an ordinary member).
    go: C_SUB $39M < $40M; C_N2 $159M < $160M; C_BIG ADTV $199K < $200K.
    Non-constituents still need entry levels: C_B49 at $45M and C_N199 at $199M stay out."""
    dec = basket(g1, "GS_CURRENCIES", DEC_E)
    assert set(dec) == {"C_B50", "C_N200", "C_BOTH", "I_INC", "C_A250", "C_D21", "C_NEW",
                        "C_NEW21", "C_NEWSTART"}
    acts = actions(g1, "GS_CURRENCIES", DEC)
    assert {a: v for a, v in acts.items() if v == ["delete"]} == {
        "C_BIG": ["delete"], "C_SUB": ["delete"], "C_N2": ["delete"]}
    assert all(acts[a] == ["keep"] for a in dec)
    assert dec["C_NEW"]["market_value"] == pytest.approx(200 * M)
    # SPEC §4.1, §1.2: the Dec cut-off is 21:00Z, so the 20:30Z row ($161M) counts
    assert dec["C_N200"]["market_value"] == pytest.approx(161 * M)


def test_cut_off_is_16_new_york(g1):
    """SPEC §4.1, §1.2: the Sep cut-off is 20:00Z (EDT): C_N2's row at 20:30Z is not used, its
    market value stays $250M (the later row would make it $1000M)."""
    assert basket(g1, "GS_CURRENCIES", SEP_E)["C_N2"]["market_value"] == pytest.approx(250 * M)


def test_review_rows_give_reasons(g1):
    """SPEC §6.3: every member that was or becomes one gets exactly one action; reasons cite
    the SPEC."""
    sep = actions(g1, "GS_CURRENCIES", SEP)
    assert {a for a, v in sep.items() if v == ["add"]} == SEP_CURRENCIES
    rows = [r for r in g1.reviews.to_pylist() if r["index"] == "GS_CURRENCIES"
            and r["review"] == DEC and r["asset"] in ("C_BIG", "C_SUB")]
    assert all("§4.5" in r["reason"] for r in rows) and len(rows) == 2


def test_square_root_factors_by_hand(g1):
    """SPEC §3.3 square root: Financials F1 $400M, F2 $100M, F3 $225M (all >= X = $100M).
    sqrt = 20000, 10000, 15000 (sum 45000): targets 4/9, 2/9, 1/3; W = 400/725, 100/725,
    225/725; f = target/W = 725/900, 1450/900, 725/675, scaled by 1450/900: 0.5, 1, 2/3."""
    fin = basket(g1, "GS_FINANCIALS", SEP_E)
    assert {a: (r["factor"], r["weight"]) for a, r in fin.items()} == {
        "F1": (pytest.approx(0.5, rel=1e-12), pytest.approx(4 / 9, rel=1e-12)),
        "F2": (pytest.approx(1.0, rel=1e-12), pytest.approx(2 / 9, rel=1e-12)),
        "F3": (pytest.approx(2 / 3, rel=1e-12), pytest.approx(1 / 3, rel=1e-12)),
    }
    assert set(basket(g1, "GS_UTILITIES", SEP_E)) == {"I_INC"}


SEP_MV = {"C_BIG": 1000, "C_B50": 50, "C_SUB": 300, "C_N200": 200, "C_N2": 250, "C_BOTH": 500,
          "I_INC": 400, "C_A250": 500, "C_D21": 500, "C_NEW": 250, "F1": 400, "F2": 100,
          "F3": 225, "S1": 500, "S2": 300, "S3": 200, "S4": 100, "C_NEW21": 300,
          "C_NEWSTART": 300}


def test_totals_are_the_union(g1):
    """SPEC §5: GS_TOTAL and GS_TOTAL_CAP hold the union of the five sectors (I_INC, in both
    Currencies and Utilities, once). Sum of the 19 market values = $6375M.
    GS_TOTAL_CAP: f = 1, w = MV/6375. GS_TOTAL: square root, f_i = sqrt(50/MV_i) (the
    smallest, C_B50 at $50M, gets 1), w_i = sqrt(MV_i)/sum sqrt(MV_j)."""
    cap = basket(g1, "GS_TOTAL_CAP", SEP_E)
    assert set(cap) == set(SEP_MV)
    for a, mv in SEP_MV.items():
        assert cap[a]["factor"] == pytest.approx(1.0)
        assert cap[a]["weight"] == pytest.approx(mv / 6375, rel=1e-12)
    tot = basket(g1, "GS_TOTAL", SEP_E)
    roots = sum(math.sqrt(v) for v in SEP_MV.values())
    for a, mv in SEP_MV.items():
        assert tot[a]["factor"] == pytest.approx(math.sqrt(50 / mv), rel=1e-12)
        assert tot[a]["weight"] == pytest.approx(math.sqrt(mv) / roots, rel=1e-12)


def test_investible_infeasible_cap_gives_equal_weights(g1):
    """SPEC §3.4, §5, §8.4: Sep GS_SCP = S1-S4; the access list has S1-S3: W = .5, .3, .2.
    N*c = 3*.3 = .9 < 1: equal weights 1/3; f = (1/3)/W = 2/3, 10/9, 5/3, scaled by 5/3:
    .4, 2/3, 1. The review report says the cap was infeasible."""
    sep = basket(g1, "GS_SCP_INVESTIBLE", SEP_E)
    assert {a: (r["factor"], r["weight"]) for a, r in sep.items()} == {
        "S1": (pytest.approx(0.4, rel=1e-12), pytest.approx(1 / 3, rel=1e-12)),
        "S2": (pytest.approx(2 / 3, rel=1e-12), pytest.approx(1 / 3, rel=1e-12)),
        "S3": (pytest.approx(1.0, rel=1e-12), pytest.approx(1 / 3, rel=1e-12)),
    }
    reasons = " ".join(r["reason"] for r in g1.reviews.to_pylist()
                       if r["index"] == "GS_SCP_INVESTIBLE" and r["review"] == SEP)
    assert "infeasible" in reasons
    assert set(basket(g1, "GS_SCP", SEP_E)) == {"S1", "S2", "S3", "S4"}


def test_investible_feasible_cap_by_hand(g1):
    """SPEC §3.4 at Dec: S1-S4 $500M, $250M, $150M, $100M: W = .5, .25, .15, .10.
    Pass 1: S1 -> .3, excess .2 to the others pro rata (.5): .35, .21, .14. Pass 2: S2 -> .3,
    excess .05 to S3, S4 pro rata (.35): .24, .16. Weights .3, .3, .24, .16;
    f = .6, 1.2, 1.6, 1.6, scaled by 1.6: .375, .75, 1, 1. S1 and S2 get `capped` rows."""
    dec = basket(g1, "GS_SCP_INVESTIBLE", DEC_E)
    assert {a: (r["factor"], r["weight"]) for a, r in dec.items()} == {
        "S1": (pytest.approx(0.375, rel=1e-12), pytest.approx(0.30, rel=1e-12)),
        "S2": (pytest.approx(0.75, rel=1e-12), pytest.approx(0.30, rel=1e-12)),
        "S3": (pytest.approx(1.0, rel=1e-12), pytest.approx(0.24, rel=1e-12)),
        "S4": (pytest.approx(1.0, rel=1e-12), pytest.approx(0.16, rel=1e-12)),
    }
    acts = actions(g1, "GS_SCP_INVESTIBLE", DEC)
    assert acts["S4"] == ["add"]
    assert sorted(a for a, v in acts.items() if "capped" in v) == ["S1", "S2"]


def test_levels_by_hand(g1):
    """SPEC §3.1, §3.5 on Mon 2024-12-23 21:00Z, S1 at 2.0 (every other price unchanged, so
    every level is 1000 until then).
    GS_SCP_INVESTIBLE: Sep units 500*.4 = 300*(2/3) = 200*1 = 200M each, d = 600M/1000; Dec at
    C: MV_old 600M, new units 187.5, 187.5, 150, 100 (625M), d = 625M/1000;
    level (2*187.5 + 187.5 + 150 + 100)/625 * 1000 = 1300.
    GS_SCP (square root): Dec units MV_i * sqrt(100/MV_i) = sqrt(100*MV_i) ($M): 223.607,
    158.114, 122.474, 100; level = 1000 * (2*223.607 + 158.114 + 122.474 + 100) / (sum)."""
    mon = ns("2024-12-23T21:00Z")
    assert levels_of(g1, "GS_SCP_INVESTIBLE")[mon] == pytest.approx(1300.0, rel=1e-12)
    units = [math.sqrt(100 * v) for v in (500, 250, 150, 100)]
    expect = 1000 * (2 * units[0] + sum(units[1:])) / sum(units)
    assert levels_of(g1, "GS_SCP")[mon] == pytest.approx(expect, rel=1e-12)
    cur = levels_of(g1, "GS_CURRENCIES")
    assert min(cur) == ns(SEP_E) and ns(DEC_E) in cur
    assert all(v == pytest.approx(1000.0, rel=1e-12) for v in cur.values())


# --- 2. history anchors (SPEC §4.6, §8.4) ---------------------------------------------------
#
# Currencies only (sector 701010), 15m prices 1.0 (K2 has none before 2022-07-01), so market
# value = supply ($M):       Jun   Sep   Dec
#   K1 benchmark             400   900   900
#   K2 benchmark              -    300   300   (no price in June)
#   K3 benchmark              25   100    45   (no volume before July)
#   K4 benchmark             600    30    30
#   K5 non-benchmark         250   170   170
#   K6 benchmark             100    45    45
ANCHOR_MV = {"K1": (400, 900, 900), "K2": (300, 300, 300), "K3": (25, 100, 45),
             "K4": (600, 30, 30), "K5": (250, 170, 170), "K6": (100, 45, 45)}


def anchor_tables(end: str = "2022-12-20T00:00Z") -> dict[str, pa.Table]:
    t = hour_grid("2022-05-25T00:00Z", end)
    series = {a: step(t, 1.0) for a in ANCHOR_MV}
    series["K2"] = np.where(t >= ns("2022-07-01T00:00Z"), 1.0, np.nan)
    supply = []
    for a, mvs in ANCHOR_MV.items():
        for when, mv in zip(("2022-05-01T00:00Z", "2022-08-15T00:00Z", "2022-11-15T00:00Z"), mvs,
                            strict=True):
            supply.append((when, a, mv * M))
    klass = {a: "non-benchmark" if a == "K5" else "benchmark" for a in ANCHOR_MV}

    def vol(a: str, d: dt.date) -> float | None:
        return None if a == "K3" and d < day("2022-07-01") else 1e6

    return {
        "prices": prices_table(t, series),
        "supply": supply_table(supply),
        "assets": assets_table(dict.fromkeys(ANCHOR_MV, ("701010", "70101010"))),
        "universe": universe_table([("2022-06", a, klass[a], True, False) for a in ANCHOR_MV]),
        "volume": volume_table(list(ANCHOR_MV), "2022-02-01", "2022-12-31", vol),
    }


@pytest.fixture(scope="module")
def anchored():
    return backfill(anchor_tables(), indices=["GS_CURRENCIES"])


def test_anchor_review_is_a_launch_review(anchored):
    """SPEC §4.6, §8.4: Sep 2022 is screened with no previous constituents: K1, K2, K3 pass;
    K4 ($30M) and K6 ($45M < $50M to enter) fail; K5 ($170M) needs X = $200M to enter (a
    constituent would have stayed at >= $160M)."""
    assert set(basket(anchored, "GS_CURRENCIES", "2022-09-18T20:00Z")) == {"K1", "K2", "K3"}


def test_june_2022_basket_is_the_anchor_members_with_data(anchored):
    """SPEC §4.6, §8.4: the June basket is the Sep 2022 selection members with a price and
    supply in June: K1 and K3 (K2 has no June price). K3 is in though at $25M and with no
    volume it would fail June's own screens; K4, K5, K6 pass June's screens but are not Sep
    members. Weights follow June data: sqrt(400) = 20, sqrt(25) = 5: targets .8, .2;
    W = 400/425, 25/425; f = sqrt(25/400) = .25 and 1."""
    jun = basket(anchored, "GS_CURRENCIES", "2022-06-19T20:00Z")
    assert {a: (r["factor"], r["weight"], r["market_value"]) for a, r in jun.items()} == {
        "K1": (pytest.approx(0.25, rel=1e-12), pytest.approx(0.8, rel=1e-12),
               pytest.approx(400 * M)),
        "K3": (pytest.approx(1.0, rel=1e-12), pytest.approx(0.2, rel=1e-12),
               pytest.approx(25 * M)),
    }
    lv = levels_of(anchored, "GS_CURRENCIES")
    assert min(lv) == ns("2022-06-19T20:00Z")
    assert lv[min(lv)] == pytest.approx(1000.0, rel=1e-12)


def test_after_the_anchor_ordinary_reviews(anchored):
    """SPEC §4.5, §6.3: Sep keeps K1, K3 (June members) and adds K2. Dec: K3 at $45M stays
    (constituent, >= $40M) while K6 at $45M stays out (needs $50M); K5 ($170M) stays out."""
    assert actions(anchored, "GS_CURRENCIES", "2022-09") == {"K1": ["keep"], "K2": ["add"],
                                                            "K3": ["keep"]}
    assert set(basket(anchored, "GS_CURRENCIES", "2022-12-18T21:00Z")) == {"K1", "K2", "K3"}


def test_without_the_anchor_review_june_uses_normal_screens():
    """SPEC §8.4: data ending before the Sep 2022 review: June is screened normally:
    K1 ($400M), K4 ($600M), K6 ($100M >= $50M) and K5 ($250M >= X) pass; K3 ($25M, and no
    volume) and K2 (no price) do not."""
    res = backfill(anchor_tables(end="2022-08-20T00:00Z"), indices=["GS_CURRENCIES"])
    assert set(basket(res, "GS_CURRENCIES", "2022-06-19T20:00Z")) == {"K1", "K4", "K5", "K6"}


# --- 3. an index whose first review selects nothing (SPEC §3.5, §4.1) ----------------------
def with_late_consumer(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Adds CON1 (Consumer, subsector 70201010, benchmark): $10M in Sep (below $50M, so the
    Sep GS_CONSUMER review selects nothing), $100M in Dec (in); 15m price 1.0, then 1.5 from
    2024-12-21 00:00Z, between the Dec C (12-20 21:00Z) and E (12-22 21:00Z)."""
    t = hour_grid("2024-08-30T00:00Z", "2024-12-24T00:00Z")
    add = {
        "prices": prices_table(t, {"CON1": step(t, 1.0, ("2024-12-21T00:00Z", 1.5))}),
        "supply": supply_table([("2024-08-01T00:00Z", "CON1", 10 * M),
                                ("2024-11-15T00:00Z", "CON1", 100 * M)]),
        "assets": assets_table({"CON1": ("702010", "70201010")}),
        "universe": universe_table([(SEP, "CON1", "benchmark", True, False),
                                    (DEC, "CON1", "benchmark", True, False)]),
        "volume": volume_table(["CON1"], "2024-05-01", "2024-12-31", lambda a, d: 1e6),
    }
    return {k: pa.concat_tables([v, add[k]]) if k in add else v for k, v in tables.items()}


def test_first_non_empty_basket_starts_at_1000_at_its_e():
    """SPEC §3.5, §4.1: GS_CONSUMER selects nothing in Sep 2024 (no level can be computed);
    its first basket, {CON1} of Dec 2024, applies from E = 2024-12-22 21:00Z with I(E) = 1000
    (CON1 at 1.5 then, units 100M: d = 150M/1000). Next day, same price: 1000."""
    res = backfill(with_late_consumer(g1_tables()), indices=["GS_CONSUMER"])
    lv = levels_of(res, "GS_CONSUMER")
    assert min(lv) == ns(DEC_E)
    assert lv[ns(DEC_E)] == pytest.approx(1000.0, rel=1e-12)
    assert lv[ns("2024-12-23T21:00Z")] == pytest.approx(1000.0, rel=1e-12)
    hourly = levels_of(backfill(with_late_consumer(g1_tables()), indices=["GS_CONSUMER"],
                                hourly=True), "GS_CONSUMER")
    assert min(hourly) == ns(DEC_E)


# --- 4. the Investible anchor (SPEC §4.6, §8.4) ---------------------------------------------
#
# Smart Contract Platforms (702020), all benchmark, 15m prices 1.0 (P4 none before 2024-01-01):
#                 Dec 2023   Mar 2024   access list
#   P1              600        600      Dec, Mar
#   P2              300        300      Dec, Mar
#   P3              100        100      Dec only
#   P4               -         200      Mar
#   P5               20        100      Mar      ($20M: fails the Dec GS_SCP screen)
#   P6              200        200      Mar
# Dec 2023: cut-off 2023-11-30 21:00Z, prices 2023-12-06 21:00Z, E 2023-12-17 21:00Z.
# Mar 2024: cut-off 2024-02-29 21:00Z, prices 2024-03-06 21:00Z, E 2024-03-17 20:00Z.
INV_MV = {"P1": (600, 600), "P2": (300, 300), "P3": (100, 100), "P4": (200, 200),
          "P5": (20, 100), "P6": (200, 200)}


def investible_anchor_tables() -> dict[str, pa.Table]:
    t = hour_grid("2023-11-25T00:00Z", "2024-03-20T00:00Z")
    series = {a: step(t, 1.0) for a in INV_MV}
    series["P4"] = np.where(t >= ns("2024-01-01T00:00Z"), 1.0, np.nan)
    supply = [(w, a, mv * M) for a, mvs in INV_MV.items()
              for w, mv in zip(("2023-11-01T00:00Z", "2024-02-01T00:00Z"), mvs, strict=True)]
    access = [("2023-12", "grayscale_access", a) for a in ("P1", "P2", "P3")]
    access += [("2024-03", "grayscale_access", a) for a in ("P1", "P2", "P4", "P5", "P6")]
    return {
        "prices": prices_table(t, series),
        "supply": supply_table(supply),
        "assets": assets_table(dict.fromkeys(INV_MV, ("702020", "70202010"))),
        "universe": universe_table([("2023-12", a, "benchmark", True, False) for a in INV_MV]),
        "lists": lists_table(access),
        "volume": volume_table(list(INV_MV), "2023-09-01", "2024-03-31", lambda a, d: 1e6),
    }


def test_investible_history_anchored_to_march_2024():
    """SPEC §4.6, §8.4: Mar 2024 Investible = GS_SCP (P1-P6 all pass) and the Mar access list:
    P1, P2, P4, P5, P6; market values 600, 300, 200, 100, 200 (1400): P1 .4286 -> .3, the others
    share .7 pro rata (800): .2625, .175, .0875, .175.
    Dec 2023 uses those members with a Dec price and supply: P1, P2, P5, P6 (P4 has no price;
    P3, on the Dec access list and in GS_SCP, is not a Mar member; P5 is in though it fails the
    Dec screens). Dec weights, cap .3: W = 600, 300, 20, 200 of 1120. Pass 1: P1 .3, the rest
    share .7 pro rata (520): P2 .4038 -> pass 2: P2 .3, the rest share .4 (220): P6 .3636 ->
    pass 3: P6 .3, P5 gets .1. Final P1 .3, P2 .3, P5 .1, P6 .3."""
    res = backfill(investible_anchor_tables(), indices=["GS_SCP", "GS_SCP_INVESTIBLE"])
    dec = basket(res, "GS_SCP_INVESTIBLE", "2023-12-17T21:00Z")
    assert {a: r["weight"] for a, r in dec.items()} == {
        "P1": pytest.approx(0.3, rel=1e-12), "P2": pytest.approx(0.3, rel=1e-12),
        "P5": pytest.approx(0.1, rel=1e-12), "P6": pytest.approx(0.3, rel=1e-12)}
    assert set(basket(res, "GS_SCP", "2023-12-17T21:00Z")) == {"P1", "P2", "P3", "P6"}
    mar = basket(res, "GS_SCP_INVESTIBLE", "2024-03-17T20:00Z")
    assert {a: r["weight"] for a, r in mar.items()} == {
        "P1": pytest.approx(0.3, rel=1e-12), "P2": pytest.approx(0.2625, rel=1e-12),
        "P4": pytest.approx(0.175, rel=1e-12), "P5": pytest.approx(0.0875, rel=1e-12),
        "P6": pytest.approx(0.175, rel=1e-12)}
    assert actions(res, "GS_SCP_INVESTIBLE", "2024-03") == {
        "P1": ["keep", "capped"], "P2": ["keep"], "P4": ["add"], "P5": ["keep"],
        "P6": ["keep"]}
