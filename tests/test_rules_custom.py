"""Custom Top 20 and intra-review deletions against the SPEC, every number worked out by hand.

Rules checked: Top 20 eligibility (Total Cap, exclusion list) and ranking by price and supply
at the cut-off while weights use review prices (SPEC §4.1, §8.3), the 40% cap (SPEC §3.4),
the monthly factor reset with a stale constituent (SPEC §4.1, §8.3), and deletions (SPEC
§3.7, §8.5, §6.3). The calendar crossing a DST change is checked for Crypto Select in
``test_rules_select.py`` (Custom runs on UTC).

Instants (SPEC §4.1, Custom rows, 10:00 UTC, Sunday to Friday):

- Mar 2024 review: cut-off 2024-02-29 10:00Z; review prices Wed 2024-03-06 10:00Z (first
  Friday Mar 1); C = Fri 2024-03-15 10:00Z; E = Sun 2024-03-17 10:00Z.
- Apr 2024 reset: prices Wed 2024-04-10 10:00Z (first Friday Apr 5); C = 2024-04-19 10:00Z;
  E = 2024-04-21 10:00Z. May reset: prices 2024-05-08 10:00Z, C 2024-05-17, E 2024-05-19.
- Jun 2024 review: cut-off 2024-05-31 10:00Z; prices 2024-06-12 10:00Z (first Friday Jun 7);
  C = 2024-06-21 10:00Z; E = Sun 2024-06-23 10:00Z.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scenarios import TS, at, effectives, hour_grid, ns, prices_table, step, supply_table

from daix.engine.backfill import backfill


# --- building small data sets -------------------------------------------------------------
def universe_table(month: str, assets: list[str], not_total_cap: tuple[str, ...] = ()
                   ) -> pa.Table:
    n = len(assets)
    return pa.table({"review": [month] * n, "asset": assets,
                     "total_cap": [a not in not_total_cap for a in assets],
                     "class": ["benchmark"] * n, "liquidity_pass": [True] * n,
                     "new_entrant": [False] * n})


def level_at(result, index: str, when: str) -> tuple[float, float, str]:
    lv = result.levels.filter(pc.equal(result.levels.column("index"), index))
    ts = lv.column("ts").cast("int64").to_numpy()
    i = int(np.flatnonzero(ts == ns(when))[0])
    return (lv.column("level")[i].as_py(), lv.column("divisor")[i].as_py(),
            lv.column("status")[i].as_py())


def basket(result, index: str, effective: str) -> dict[str, dict]:
    return {r["asset"]: r for r in result.constituents.to_pylist()
            if r["index"] == index and r["effective"] == at(effective)}


def rows_of(result, index: str, asset: str | None = None) -> list[dict]:
    return [r for r in result.reviews.to_pylist()
            if r["index"] == index and (asset is None or r["asset"] == asset)]


# --- 1. Top 20: eligibility, ranking at the cut-off, the 40% cap, the factor reset --------
#
# R01 (large), R02..R19, Y, Z, EXC, NOFIX, NOTC; 15m prices 1.0 except:
#   Y 0.5 and Z 0.6 before 2024-03-01, then Y 0.9 and Z 0.4 (the ranking flips between the
#   cut-off and the review prices); R01 1.2 from 2024-04-01; R02 has no fix from 2024-04-05
#   00:00Z to 2024-04-12 23:00Z (stale at the April reset price time); NOFIX has no fix at the
#   cut-off 2024-02-29 10:00Z; NOFIX0 has a row there with price 0 (no price, SPEC §8.2).
# Supply: R01 2760, R02..R19 100, Y 100, Z 100, EXC 5000 (on hashkey_exclusion_top20),
#   NOFIX 3000, NOFIX0 3500, NOTC 4000 (total_cap false); R03 200 from 2024-03-02 (after the
#   cut-off: unused).
TOP = [f"R{i:02d}" for i in range(1, 20)]
OTHERS = ["Y", "Z", "EXC", "NOFIX", "NOFIX0", "NOTC"]


def top20_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-02-20T00:00Z", "2024-04-25T00:00Z")
    series = {a: step(t, 1.0) for a in TOP + OTHERS}
    series["Y"] = step(t, 0.5, ("2024-03-01T00:00Z", 0.9))
    series["Z"] = step(t, 0.6, ("2024-03-01T00:00Z", 0.4))
    series["R01"] = step(t, 1.0, ("2024-04-01T00:00Z", 1.2))
    series["R02"][(t >= ns("2024-04-05T00:00Z")) & (t <= ns("2024-04-12T23:00Z"))] = np.nan
    series["NOFIX"][t == ns("2024-02-29T10:00Z")] = np.nan
    series["NOFIX0"][t == ns("2024-02-29T10:00Z")] = 0.0  # a row, but no usable price (§8.2)
    sup = {"R01": 2760, "EXC": 5000, "NOFIX": 3000, "NOFIX0": 3500, "NOTC": 4000}
    supply = [("2024-02-01T00:00Z", a, sup.get(a, 100)) for a in TOP + OTHERS]
    supply.append(("2024-03-02T00:00Z", "R03", 200))
    return {
        "prices": prices_table(t, series),
        "supply": supply_table(supply),
        "universe": universe_table("2024-03", TOP + OTHERS, not_total_cap=("NOTC",)),
        "lists": pa.table({"review": ["2024-03"], "list": ["hashkey_exclusion_top20"],
                           "asset": ["EXC"]}),
    }


@pytest.fixture(scope="module")
def top20():
    return backfill(top20_tables(), indices=["CUSTOM_TOP20"])


def test_selection_ranks_at_the_cut_off(top20):
    """SPEC §4.1 (Decision), §8.3: ranked by price and supply at the cut-off: R01 2760, R02-R19
    100 each, Z 0.6*100 = 60 (20th), Y 0.5*100 = 50 (21st). At review prices Y (90) would beat
    Z (40), but Z is selected. EXC (exclusion list), NOTC (not Total Cap), NOFIX (no fix at
    the cut-off, not ranked) and NOFIX0 (a zero price there, SPEC §8.2) are out though larger
    than all."""
    mar = basket(top20, "CUSTOM_TOP20", "2024-03-17T10:00Z")
    assert set(mar) == {*TOP, "Z"}
    assert mar["Z"]["rank"] == 20 and mar["R01"]["rank"] == 1


def test_weights_use_review_prices_and_the_40pct_cap(top20):
    """SPEC §3.2-§3.4, §8.6: MV at review prices: R01 2760, R02-R19 100, Z 0.4*100 = 40 (sum
    4600): W R01 = .6 > .4. One pass: R01 .4, the others * (.6/.4) = 1.5: R_i 150/4600,
    Z 60/4600. f: R01 .4/.6 = 2/3, others 1.5; scaled: R01 4/9, others 1. R03 keeps supply
    100 (the row after the cut-off does not count)."""
    mar = basket(top20, "CUSTOM_TOP20", "2024-03-17T10:00Z")
    assert mar["R01"]["weight"] == pytest.approx(0.4, rel=1e-12)
    assert mar["R01"]["factor"] == pytest.approx(4 / 9, rel=1e-12)
    assert mar["R01"]["market_value"] == pytest.approx(2760.0)
    assert mar["Z"]["market_value"] == pytest.approx(40.0)
    assert mar["Z"]["weight"] == pytest.approx(60 / 4600, rel=1e-12)
    assert mar["R05"]["weight"] == pytest.approx(150 / 4600, rel=1e-12)
    assert mar["R05"]["factor"] == pytest.approx(1.0, rel=1e-12)
    assert mar["R03"]["supply"] == 100.0
    capped = [r["asset"] for r in rows_of(top20, "CUSTOM_TOP20") if r["action"] == "capped"
              and r["review"] == "2024-03"]
    assert capped == ["R01"]


def test_factor_reset_keeps_a_stale_constituent(top20):
    """SPEC §4.1, §8.3: April reset at 2024-04-10 10:00Z; R02 has no fix then and keeps its
    last price 1.0 (MV 100) and stays. MVs: R01 1.2*2760 = 3312, others 1840 (total 5152):
    W R01 = .643 -> .4; the others share .6 pro rata; f R01 = (.4/.6)*(1840/3312) = 10/27."""
    apr = basket(top20, "CUSTOM_TOP20", "2024-04-21T10:00Z")
    assert set(apr) == {*TOP, "Z"}
    assert apr["R02"]["market_value"] == pytest.approx(100.0)
    assert apr["R01"]["factor"] == pytest.approx(10 / 27, rel=1e-12)
    assert apr["R01"]["weight"] == pytest.approx(0.4, rel=1e-12)
    assert apr["R02"]["weight"] == pytest.approx(0.6 * 100 / 1840, rel=1e-12)
    reset = {r["asset"]: r for r in rows_of(top20, "CUSTOM_TOP20") if r["review"] == "2024-04"
             and r["action"] == "reset"}
    assert set(reset) == {*TOP, "Z"}
    assert "last price" in reset["R02"]["reason"] and "§8.3" in reset["R02"]["reason"]


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        # E: units R01 2760*4/9 = 1226.67, others 100 (Z: value 40): MC 3066.67, d = MC/1000
        ("2024-03-17T10:00Z", 1000.0, 3066.6666666666665 / 1000),
        # R01 1.2: 1472 + 1840 = 3312: 3312/3.0667 = 1080
        ("2024-04-02T10:00Z", 1080.0, 3066.6666666666665 / 1000),
        ("2024-04-19T10:00Z", 1080.0, 3066.6666666666665 / 1000),  # C of the reset
        # E: units R01 2760*10/27; MC 1.2*1022.22 + 1840 = 3066.67; d = 3.0667*3066.67/3312
        ("2024-04-21T10:00Z", 1080.0, 3066.6666666666665 ** 2 / 3312 / 1000),
    ],
)
def test_top20_levels(top20, when, level, divisor):
    """SPEC §3.1, §3.5 by hand."""
    got = level_at(top20, "CUSTOM_TOP20", when)
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)


def test_stale_constituent_level_is_indicative(top20):
    """SPEC §3.8: Mon 2024-04-08 10:00Z R02 has no fresh fix: last price kept (level 1080 as
    before), status indicative."""
    assert level_at(top20, "CUSTOM_TOP20", "2024-04-08T10:00Z") == (
        pytest.approx(1080.0, rel=1e-12), pytest.approx(3066.6666666666665 / 1000, rel=1e-12),
        "indicative")


# --- 2. deletions (SPEC §3.7, §8.5, §6.3) ---------------------------------------------------
#
# CUSTOM_TOP20 with M1..M5, supply 100 each; 15m prices M1 3 (3.6 from 2024-04-01, 7.2 from
# 2024-06-24), M2 2.5, M3 2, M4 1.5, M5 1 (2 from 2024-05-01).
# Deletions: M4 at 2024-04-24 03:00Z (E = Wed 04-24 10:00Z, C = Tue 04-23 10:00Z);
# M3 at Fri 2024-05-31 11:00Z (E = Sun 06-02 10:00Z, C = Fri 05-31 10:00Z; u in May);
# M2 at Sat 2024-06-22 12:00Z (E = Sun 06-23 10:00Z, the June review's E).
#
# By hand:
# Mar review: MV 300, 250, 200, 150, 100 (sum 1000), max weight .3 < .4: f = 1. d = 1.
# From 04-01 M1 3.6: I = 1060. April reset (MV 360..100, max .34): f = 1, d unchanged.
# M4 deletion: MV_old(C) 1060, MV_new 910: d = 910/1060; I(E) = 1060.
# From 05-01 M5 2: I = 1010 * 1060/910 = 1176.4835... May reset: MV 360, 250, 200, 200: f = 1.
# M3 deletion: MV_old(C) 1010, MV_new 810: d = (910/1060)*(810/1010); I(E) = 1176.48...
# June review: M2, M3, M4 deleted (u <= E): only M1 (360) and M5 (200) eligible. Cap .4 with
# N = 2: N*c = .8 < 1, infeasible: equal weights; f = .5/(360/560) = 7/9 and .5/(200/560) =
# 1.4, scaled: 5/9 and 1. Units M1 100*5/9, M5 100. At C: MV_old (M1, M2, M5) = 810,
# MV_new = 3.6*55.56 + 200 = 400: d = (910/1060)*(400/1010); I(E) = 1176.48...
# From 06-24 M1 7.2: (400 + 200)/d = 1.5 * 1176.48... = 1764.7253...
DEL_ASSETS = ["M1", "M2", "M3", "M4", "M5"]


def deletion_tables(end: str = "2024-06-26T00:00Z") -> dict[str, pa.Table]:
    t = hour_grid("2024-02-20T00:00Z", end)
    series = {
        "M1": step(t, 3.0, ("2024-04-01T00:00Z", 3.6), ("2024-06-24T00:00Z", 7.2)),
        "M2": step(t, 2.5), "M3": step(t, 2.0), "M4": step(t, 1.5),
        "M5": step(t, 1.0, ("2024-05-01T00:00Z", 2.0)),
    }
    return {
        "prices": prices_table(t, series),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in DEL_ASSETS]),
        "universe": universe_table("2024-03", DEL_ASSETS),
        "deletions": pa.table({"ts": pa.array([at("2024-04-24T03:00Z"), at("2024-05-31T11:00Z"),
                                               at("2024-06-22T12:00Z")], TS),
                               "asset": ["M4", "M3", "M2"]}),
    }


@pytest.fixture(scope="module")
def deletions():
    return backfill(deletion_tables(), indices=["CUSTOM_TOP20"])


D1 = 910 / 1060
D2 = D1 * 810 / 1010
D3 = D1 * 400 / 1010


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        ("2024-03-17T10:00Z", 1000.0, 1.0),
        ("2024-04-23T10:00Z", 1060.0, 1.0),  # C of the M4 deletion
        ("2024-04-24T10:00Z", 1060.0, D1),  # E: M4 gone
        ("2024-05-02T10:00Z", 1010 / D1, D1),  # M5 2: 360 + 250 + 200 + 200
        ("2024-05-31T10:00Z", 1010 / D1, D1),  # C of the M3 deletion
        ("2024-06-02T10:00Z", 1010 / D1, D2),  # E: M3 gone, 810 / D2
        ("2024-06-21T10:00Z", 1010 / D1, D2),  # C of the June review
        ("2024-06-23T10:00Z", 1010 / D1, D3),  # E: M1 (5/9), M5
        ("2024-06-24T10:00Z", 1.5 * 1010 / D1, D3),  # M1 7.2: 600 / D3
    ],
)
def test_deletion_levels_by_hand(deletions, when, level, divisor):
    """SPEC §3.5, §3.7: the others keep s and f; d_new = d_old * MV_new(C)/MV_old(C)."""
    got = level_at(deletions, "CUSTOM_TOP20", when)
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)


def test_deletion_baskets(deletions):
    """SPEC §3.7, §8.5: one basket per change; the M2 deletion shares the June review's E, so
    the review applies and there is no separate deletion basket."""
    assert effectives(deletions, "CUSTOM_TOP20") == [
        at("2024-03-17T10:00Z"), at("2024-04-21T10:00Z"), at("2024-04-24T10:00Z"),
        at("2024-05-19T10:00Z"), at("2024-06-02T10:00Z"), at("2024-06-23T10:00Z")]
    after_m4 = basket(deletions, "CUSTOM_TOP20", "2024-04-24T10:00Z")
    # SPEC §8.6: a deletion basket shows market values and weights at C (2024-04-23 10:00Z):
    # 360, 250, 200, 100 of 910
    assert {a: (r["factor"], r["market_value"], r["weight"]) for a, r in after_m4.items()} == {
        "M1": (pytest.approx(1.0), pytest.approx(360.0), pytest.approx(360 / 910)),
        "M2": (pytest.approx(1.0), pytest.approx(250.0), pytest.approx(250 / 910)),
        "M3": (pytest.approx(1.0), pytest.approx(200.0), pytest.approx(200 / 910)),
        "M5": (pytest.approx(1.0), pytest.approx(100.0), pytest.approx(100 / 910)),
    }
    jun = basket(deletions, "CUSTOM_TOP20", "2024-06-23T10:00Z")
    assert {a: (r["factor"], r["weight"]) for a, r in jun.items()} == {
        "M1": (pytest.approx(5 / 9, rel=1e-12), pytest.approx(0.5, rel=1e-12)),
        "M5": (pytest.approx(1.0, rel=1e-12), pytest.approx(0.5, rel=1e-12)),
    }


def test_deletion_rows_carry_the_month_of_u(deletions):
    """SPEC §6.3: an intra-review deletion writes `delete` with the month of u: M4 2024-04,
    M3 2024-05 (u = May 31 though E is June 2); M2, deleted by the June review itself, gets
    exactly one `delete` row, in 2024-06."""
    dels = sorted((r["asset"], r["review"]) for r in rows_of(deletions, "CUSTOM_TOP20")
                  if r["action"] == "delete")
    assert dels == [("M2", "2024-06"), ("M3", "2024-05"), ("M4", "2024-04")]


def test_deleted_assets_are_ineligible_later(deletions):
    """SPEC §8.5: M3 and M4 still have prices, supply and universe rows at the June review,
    but were deleted before its E: not re-added. At the review M1 and M5 are kept, M2
    deleted, and the cap is reported infeasible (SPEC §3.4)."""
    june = {(r["asset"], r["action"]) for r in rows_of(deletions, "CUSTOM_TOP20")
            if r["review"] == "2024-06"}
    assert {x for x in june if x[1] in ("add", "keep", "delete")} == {
        ("M1", "keep"), ("M5", "keep"), ("M2", "delete")}
    reasons = " ".join(r["reason"] for r in rows_of(deletions, "CUSTOM_TOP20")
                       if r["review"] == "2024-06")
    assert "infeasible" in reasons


def test_infeasible_cap_at_a_monthly_reset_is_reported():
    """SPEC §3.4: the July 2024 factor reset (E = Sun 07-21 10:00Z) keeps M1 and M5; with
    N * c = .8 < 1 the cap is infeasible, so both get 1/2 (uncapped 400 and 200 of 600 at M1
    7.2 * 100 * 5/9 and M5 2 * 100) and the reset's report says so, as the June review's does."""
    res = backfill(deletion_tables(end="2024-07-25T00:00Z"), indices=["CUSTOM_TOP20"])
    july = [r for r in rows_of(res, "CUSTOM_TOP20") if r["review"] == "2024-07"]
    assert sorted((r["asset"], r["action"]) for r in july if r["action"] != "note") == [
        ("M1", "reset"), ("M5", "reset")]
    notes = [r for r in july if r["action"] == "note"]
    assert len(notes) == 1 and notes[0]["asset"] == ""
    assert "infeasible" in notes[0]["reason"]
    weights = {a: r["weight"] for a, r in basket(res, "CUSTOM_TOP20",
                                                  "2024-07-21T10:00Z").items()}
    assert weights == {"M1": pytest.approx(0.5, rel=1e-12), "M5": pytest.approx(0.5, rel=1e-12)}


def test_review_with_e_after_the_data_still_reported():
    """SPEC §8.3: data ending 2024-06-15, after the June cut-off and review prices but before
    its E (06-23): the review still appears in `reviews` (M1 and M5 kept, M2 deleted, as u <= E);
    no level after the data."""
    res = backfill(deletion_tables(end="2024-06-15T00:00Z"), indices=["CUSTOM_TOP20"])
    june = {(r["asset"], r["action"]) for r in rows_of(res, "CUSTOM_TOP20")
            if r["review"] == "2024-06" and r["action"] in ("add", "keep", "delete")}
    assert june == {("M1", "keep"), ("M5", "keep"), ("M2", "delete")}
    assert res.levels.column("ts")[-1].as_py() == at("2024-06-14T10:00Z")


def test_emptied_basket_suspends_and_resumes_from_the_last_level():
    """SPEC §8.5: all of M1..M5 leave at 2024-04-24 03:00Z (E = 04-24 10:00Z, C = 04-23
    10:00Z, last level 1060 as above). No level from E until the June review, where M6 (in the
    2024-06 universe only; price 4, supply 100, so the same value at the June C and E) forms
    the basket and the index resumes at 1060; M6 at 5 from 2024-06-24: 1060 * 5/4 = 1325."""
    tables = deletion_tables()
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    m6 = prices_table(t, {"M6": step(t, 4.0, ("2024-06-24T00:00Z", 5.0))})
    tables["prices"] = pa.concat_tables([tables["prices"], m6])
    tables["supply"] = pa.concat_tables([tables["supply"],
                                         supply_table([("2024-02-01T00:00Z", "M6", 100)])])
    tables["universe"] = pa.concat_tables([tables["universe"],
                                           universe_table("2024-06", [*DEL_ASSETS, "M6"])])
    tables["deletions"] = pa.table({"ts": pa.array([at("2024-04-24T03:00Z")] * 5, TS),
                                    "asset": DEL_ASSETS})
    res = backfill(tables, indices=["CUSTOM_TOP20"])
    ts = res.levels.column("ts").to_pylist()
    assert not [x for x in ts if at("2024-04-23T10:00Z") < x < at("2024-06-23T10:00Z")]
    assert level_at(res, "CUSTOM_TOP20", "2024-04-23T10:00Z")[0] == pytest.approx(1060.0)
    assert level_at(res, "CUSTOM_TOP20", "2024-06-23T10:00Z")[0] == pytest.approx(1060.0,
                                                                                rel=1e-12)
    assert level_at(res, "CUSTOM_TOP20", "2024-06-24T10:00Z")[0] == pytest.approx(1325.0,
                                                                                rel=1e-12)
    assert set(basket(res, "CUSTOM_TOP20", "2024-06-23T10:00Z")) == {"M6"}


def test_deletion_basket_keeps_the_selection_ranks(deletions):
    """SPEC §8.6: the Mar 2024 selection ranks are M1 1, M2 2, M3 3, M4 4, M5 5; after M4 leaves
    (2024-04-24) and at the May reset the members keep them: M5 stays 5."""
    for e in ("2024-04-24T10:00Z", "2024-05-19T10:00Z"):
        got = {a: r["rank"] for a, r in basket(deletions, "CUSTOM_TOP20", e).items()}
        assert got == {"M1": 1, "M2": 2, "M3": 3, "M5": 5}
