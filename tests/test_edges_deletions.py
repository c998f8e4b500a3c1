"""Intra-review deletions of the Custom Digital Asset indices: edge rules, every expected number
worked out by hand (SPEC §3.5, §3.7, §8.5, §8.6).

Custom instants (SPEC §4.1, all 10:00 UTC; official calendar 10:00 UTC Sunday to Friday): Mar 2024
review C = Fri 2024-03-15, E = Sun 2024-03-17; Apr 2024 reset C = Fri 2024-04-19, E = Sun
2024-04-21; May 2024 reset C = Fri 2024-05-17, E = Sun 2024-05-19; Jun 2024 review C = Fri
2024-06-21, E = Sun 2024-06-23.
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
    universe_table,
)
from scenarios import (
    at,
    basket,
    deletions_table,
    effectives,
    hour_grid,
    prices_table,
    step,
    supply_table,
)

from daix.engine.backfill import backfill

# --- 4. deletions: timing at the edges (SPEC §3.5, §3.7, §8.5, §8.6) -------------------------
#
# CUSTOM_INFRA, all in sector 702020, supply 100. Prices: P 10, 12 from Sun 2024-03-17
# 12:00Z, 15 from Sat 2024-04-20 00:00Z; M 5, 6 from Mon 2024-04-01 12:00Z; U 4; V 8; S 2;
# R 1. Deletions:
#   V at 2024-03-17 10:00:00Z, exactly the March E: ineligible at March (E at or after u).
#   U at 2024-03-17 10:00:01Z: in the March basket; E = Mon 03-18 10:00Z, C = Sun 03-17 10:00Z.
#   S at Tue 2024-04-02 10:00:00Z, an official time: E = that instant, C = Mon 04-01 10:00Z.
#   R at Sat 2024-04-20 12:00Z: E = Sun 04-21 10:00Z, the April reset's E: the reset applies.
# By hand:
#   March: MVs P 1000, M 500, U 400, S 200, R 100; f = 100/MV: .1, .2, .25, .5, 1; units
#   10, 20, 25, 50, 100, each worth 100: d0 = 500/1000 = .5.
#   U leaves: MV_old(C) = 500, MV_new(C) = 400: d1 = .4. At E, P 12: (120+100+100+100)/.4 = 1050.
#   S leaves: at C P 120, M 100 (M 6 only from 12:00), S 100, R 100 = 420 (level 1050);
#   MV_new(C) = 320: d2 = .4*320/420 = 32/105. At E, M 6: (120+120+100)/d2 = 1115.625.
#   April reset (prices 04-10: P 12, M 6): members P, M (R leaves at the same E); MVs 1200,
#   600: f .5, 1: units 50, 100. C 04-19: MV_old = 120+120+100 = 340, MV_new = 600+600 = 1200:
#   d3 = 32/105*1200/340 = 128/119. At E, P 15: (750 + 600)/d3 = 1255.078125.
#   May reset (P 15, M 6): f .4, 1; C 05-17: MV_old 1350, MV_new 1200: d4 = d3*8/9 = 1024/1071.
#   June review: only P and M eligible (the others deleted, u <= E): same factors, d4 kept.
DEL1 = ["P", "M", "U", "V", "S", "R"]


@pytest.fixture(scope="module")
def del1():
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    s = {"P": step(t, 10, ("2024-03-17T12:00Z", 12), ("2024-04-20T00:00Z", 15)),
         "M": step(t, 5, ("2024-04-01T12:00Z", 6)), "U": step(t, 4), "V": step(t, 8),
         "S": step(t, 2), "R": step(t, 1)}
    tables = {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in DEL1]),
        "assets": assets_table(dict.fromkeys(DEL1, "702020")),
        "universe": universe_table("2024-03", DEL1),
        "deletions": deletions_table([("2024-03-17T10:00:00Z", "V"), ("2024-03-17T10:00:01Z", "U"),
                                      ("2024-04-02T10:00:00Z", "S"),
                                      ("2024-04-20T12:00:00Z", "R")]),
    }
    return backfill(tables, indices=["CUSTOM_INFRA"])


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        ("2024-03-17T10:00Z", 1000.0, 0.5),
        ("2024-03-18T10:00Z", 1050.0, 0.4),
        ("2024-04-01T10:00Z", 1050.0, 0.4),
        ("2024-04-02T10:00Z", 1115.625, 32 / 105),
        ("2024-04-19T10:00Z", 1115.625, 32 / 105),
        ("2024-04-21T10:00Z", 1255.078125, 128 / 119),
        ("2024-05-17T10:00Z", 1255.078125, 128 / 119),
        ("2024-05-19T10:00Z", 1255.078125, 1024 / 1071),
        ("2024-06-23T10:00Z", 1255.078125, 1024 / 1071),
    ],
)
def test_deletion_timing_levels_by_hand(del1, when, level, divisor):
    """SPEC §3.5, §3.7: E is the first official time at or after u; C the one just before E;
    d_new = d_old * MV_new(C)/MV_old(C) at the prices of C; the divisor in force (SPEC §8.6)."""
    got = level_at(del1, "CUSTOM_INFRA", when)
    assert got[:2] == (approx(level), approx(divisor))


def test_deletion_at_or_after_e_boundaries(del1):
    """SPEC §8.5: V (u = the March E) is ineligible at March; U (u one second later) is a March
    member. Baskets: March, U's deletion (E Mon 03-18), S's (E Tue 04-02, u itself), the April
    reset (R's deletion shares its E: no separate basket), May reset, June review."""
    mar = basket(del1, "CUSTOM_INFRA", "2024-03-17T10:00Z")
    assert set(mar) == {"P", "M", "U", "S", "R"}
    assert effectives(del1, "CUSTOM_INFRA") == [
        at("2024-03-17T10:00Z"), at("2024-03-18T10:00Z"), at("2024-04-02T10:00Z"),
        at("2024-04-21T10:00Z"), at("2024-05-19T10:00Z"), at("2024-06-23T10:00Z")]


def test_deletion_baskets_at_the_prices_of_c(del1):
    """SPEC §8.6: a deletion basket shows market values and weights at C; the others keep s and
    f (SPEC §3.7); rank by market value among the members. U's: C = Sun 03-17 10:00Z (P still
    10): MV P 1000, M 500, S 200, R 100; weights p*s*f/sum = 100/400 each. S's: C = Mon 04-01
    10:00Z (P 12, M 5): MV 1200, 500, 100; weights 120/320, 100/320, 100/320."""
    after_u = basket(del1, "CUSTOM_INFRA", "2024-03-18T10:00Z")
    assert {a: (r["market_value"], r["weight"], r["factor"], r["rank"])
            for a, r in after_u.items()} == {
        "P": (approx(1000.0), approx(0.25), approx(0.1), 1),
        "M": (approx(500.0), approx(0.25), approx(0.2), 2),
        "S": (approx(200.0), approx(0.25), approx(0.5), 3),
        "R": (approx(100.0), approx(0.25), approx(1.0), 4),
    }
    after_s = basket(del1, "CUSTOM_INFRA", "2024-04-02T10:00Z")
    assert {a: (r["market_value"], r["weight"], r["rank"]) for a, r in after_s.items()} == {
        "P": (approx(1200.0), approx(0.375), 1), "M": (approx(500.0), approx(0.3125), 2),
        "R": (approx(100.0), approx(0.3125), 3)}


def test_deletion_sharing_the_reset_e(del1):
    """SPEC §8.5, §6.3: R's deletion has the April reset's E: the reset applies to P and M only
    (one `reset` row each) at reset prices: MV 1200, 600, f .5, 1, weights 1/2. R and S get one
    `delete` row each in 2024-04 (the month of u); U gets its row in 2024-03."""
    apr = basket(del1, "CUSTOM_INFRA", "2024-04-21T10:00Z")
    assert {a: (r["market_value"], r["factor"], r["weight"]) for a, r in apr.items()} == {
        "P": (approx(1200.0), approx(0.5), approx(0.5)),
        "M": (approx(600.0), approx(1.0), approx(0.5))}
    assert actions(del1, "CUSTOM_INFRA", "2024-04", ("reset",)) == [("M", "reset"),
                                                                     ("P", "reset")]
    assert actions(del1, "CUSTOM_INFRA", "2024-04") == [("R", "delete"), ("S", "delete")]
    # U: `add` at the March review and, u being in March, the intra-review `delete` row
    assert actions(del1, "CUSTOM_INFRA", "2024-03") == [
        ("M", "add"), ("P", "add"), ("R", "add"), ("S", "add"), ("U", "add"), ("U", "delete")]


def test_deleted_assets_never_return(del1):
    """SPEC §8.5: at the June review V, U, S and R still have prices, supply and universe rows,
    but each was deleted at a u before that E: only P and M (kept)."""
    assert actions(del1, "CUSTOM_INFRA", "2024-06") == [("M", "keep"), ("P", "keep")]
    assert set(basket(del1, "CUSTOM_INFRA", "2024-06-23T10:00Z")) == {"P", "M"}


# CUSTOM_INFRA, sector 702020, supply 100: A1 10, 12 from Thu 2024-05-16 12:00Z; A2 5, 4 from
# Sat 2024-06-01 00:00Z; A3 2; A4 1; A5 4; A6 3, 6 from 2024-06-24 (A6 only in the 2024-06
# universe). Deletions:
#   A5 at Fri 2024-05-17 05:00Z: E = Fri 05-17 10:00Z (the May reset's C), C = Thu 05-16 10:00Z.
#   A3 at Fri 2024-05-31 11:00Z and A4 at Sat 2024-06-01 12:00Z: both E = Sun 06-02 10:00Z,
#   C = Fri 05-31 10:00Z (one basket change; rows in the months of u: May and June).
#   A2 at Mon 2024-06-10 03:00Z: E = Mon 06-10 10:00Z (in the June review month, before its E).
# By hand:
#   March: MVs 1000, 500, 200, 100, 400: f = 100/MV: units A1 10, A2 20, A3 50, A4 100, A5 25,
#   each worth 100: d0 = .5. April reset: same prices, same factors, d0 kept.
#   A5: MV_old(C) = 500, MV_new(C) = 400: d1 = .4; at E A1 12: 420/.4 = 1050.
#   May reset (prices 05-08, A1 still 10): A1..A4 f as in March; C = 05-17 10:00Z:
#   MV_new(C) = MV_old(C) = 420: d1 kept, level 1050.
#   A3, A4: MV_old(C) = 120+100+100+100 = 420, MV_new(C) = 220: d2 = .4*220/420 = 22/105;
#   at E A2 4: (120 + 80)/d2 = 954.5454...
#   A2: C Sun 06-09: MV_old 200, MV_new 120: d3 = 22/105*120/200 = 22/175; level 954.54...
#   June review (prices 06-12): A1 1200, A6 300: f .25, 1: units 25, 100. C 06-21: MV_old 120,
#   MV_new 300 + 300 = 600: d4 = 22/175*5 = 22/35; from 06-24 A6 6: 900/d4 = 1431.8181...
DEL2 = ["A1", "A2", "A3", "A4", "A5", "A6"]


def del2_tables() -> dict[str, pa.Table]:
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    s = {"A1": step(t, 10, ("2024-05-16T12:00Z", 12)), "A2": step(t, 5, ("2024-06-01T00:00Z", 4)),
         "A3": step(t, 2), "A4": step(t, 1), "A5": step(t, 4),
         "A6": step(t, 3, ("2024-06-24T00:00Z", 6))}
    return {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in DEL2]),
        "assets": assets_table(dict.fromkeys(DEL2, "702020")),
        "universe": pa.concat_tables([universe_table("2024-03", DEL2[:5]),
                                      universe_table("2024-06", DEL2)]),
        "deletions": deletions_table([("2024-05-17T05:00Z", "A5"), ("2024-05-31T11:00Z", "A3"),
                                      ("2024-06-01T12:00Z", "A4"), ("2024-06-10T03:00Z", "A2")]),
    }


@pytest.fixture(scope="module")
def del2():
    return backfill(del2_tables(), indices=["CUSTOM_INFRA"])


@pytest.fixture(scope="module")
def del2_hourly():
    return backfill(del2_tables(), indices=["CUSTOM_INFRA"], hourly=True)


D2_1, D2_2, D2_3, D2_4 = 0.4, 22 / 105, 22 / 175, 22 / 35


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        ("2024-05-16T10:00Z", 1000.0, 0.5),  # C of A5's deletion
        ("2024-05-17T10:00Z", 1050.0, D2_1),  # its E, the May reset's C
        ("2024-05-19T10:00Z", 1050.0, D2_1),  # May reset E
        ("2024-05-31T10:00Z", 1050.0, D2_1),
        ("2024-06-02T10:00Z", 200 / D2_2, D2_2),
        ("2024-06-09T10:00Z", 200 / D2_2, D2_2),
        ("2024-06-10T10:00Z", 200 / D2_2, D2_3),
        ("2024-06-21T10:00Z", 200 / D2_2, D2_3),
        ("2024-06-23T10:00Z", 200 / D2_2, D2_4),
        ("2024-06-24T10:00Z", 900 / D2_4, D2_4),
    ],
)
def test_deletions_across_a_reset_and_a_review_by_hand(del2, when, level, divisor):
    """SPEC §3.5, §3.7: a deletion whose E is the reset's C; two deletions with one E; a
    deletion in the review month before the review's E."""
    got = level_at(del2, "CUSTOM_INFRA", when)
    assert got == (approx(level), approx(divisor), "firm")


def test_deletion_rows_and_baskets(del2):
    """SPEC §6.3, §8.6: one `delete` per deletion in the month of u (A5, A3 May; A4, A2 June);
    the May reset writes `reset` rows for the members then (A1..A4, A5 having left at its C).
    At the June review A1 is kept and A6 added; A2 and A4 have exactly one `delete` each in
    2024-06 (their deletions). The A3/A4 basket (E 06-02) at the prices of C (05-31: A1 12,
    A2 5): MV 1200, 500; weights 120/220, 100/220."""
    assert actions(del2, "CUSTOM_INFRA", "2024-05") == [("A3", "delete"), ("A5", "delete")]
    assert actions(del2, "CUSTOM_INFRA", "2024-05", ("reset",)) == [
        ("A1", "reset"), ("A2", "reset"), ("A3", "reset"), ("A4", "reset")]
    assert actions(del2, "CUSTOM_INFRA", "2024-06") == [
        ("A1", "keep"), ("A2", "delete"), ("A4", "delete"), ("A6", "add")]
    assert effectives(del2, "CUSTOM_INFRA") == [
        at("2024-03-17T10:00Z"), at("2024-04-21T10:00Z"), at("2024-05-17T10:00Z"),
        at("2024-05-19T10:00Z"), at("2024-06-02T10:00Z"), at("2024-06-10T10:00Z"),
        at("2024-06-23T10:00Z")]
    jun2 = basket(del2, "CUSTOM_INFRA", "2024-06-02T10:00Z")
    assert {a: (r["market_value"], r["weight"]) for a, r in jun2.items()} == {
        "A1": (approx(1200.0), approx(6 / 11)), "A2": (approx(500.0), approx(5 / 11))}
    jun = basket(del2, "CUSTOM_INFRA", "2024-06-23T10:00Z")
    assert {a: (r["factor"], r["market_value"]) for a, r in jun.items()} == {
        "A1": (approx(0.25), approx(1200.0)), "A6": (approx(1.0), approx(300.0))}


@pytest.mark.parametrize(
    ("when", "level", "divisor", "status"),
    [
        ("2024-05-16T10:00Z", 1000.0, 0.5, "firm"),
        # After C (Thu 10:00Z) A5's deletion basket applies, though u is Fri 05:00Z (SPEC §3.5):
        # 11:00Z, A1 10: 400/.4 = 1000; 12:00Z, A1 12: 420/.4 = 1050 (the old basket: 1040)
        ("2024-05-16T11:00Z", 1000.0, D2_1, "indicative"),
        ("2024-05-16T13:00Z", 1050.0, D2_1, "indicative"),
        ("2024-05-17T10:00Z", 1050.0, D2_1, "firm"),
        # After C Fri 05-31 10:00Z, A1 and A2 only (A4 leaves at u = Sat 12:00Z): Sat 06:00Z,
        # A2 4: (120 + 80)/d2
        ("2024-06-01T06:00Z", 200 / D2_2, D2_2, "indicative"),
        # After the June C: A1 12*25 + A6 3*100 = 600: 600/d4
        ("2024-06-21T11:00Z", 600 / D2_4, D2_4, "indicative"),
    ],
)
def test_hourly_calendar_deletion_baskets(del2_hourly, when, level, divisor, status):
    """SPEC §3.5, §5: on the hourly calendar a new basket applies at every calculation time
    after C, with the official divisor; hours that are not official times are indicative."""
    got = level_at(del2_hourly, "CUSTOM_INFRA", when)
    assert got == (approx(level), approx(divisor), status)


def test_suspension_spans_a_reset_and_resumes_at_the_review():
    """SPEC §8.5, §6.3: B1 (2, 3 from 2024-04-01) and B2 (1), supply 100, leave one after the
    other: B2 at 2024-04-17 03:00Z (E Wed 04-17 10:00Z, C Tue 04-16) and B1 at Tue 2024-04-23
    03:00Z (E Tue 04-23 10:00Z, C Mon 04-22 10:00Z). March: f B1 .5, B2 1: units 50, 100,
    MV(E) 200: d .2; from 04-01: 250/.2 = 1250. B2 leaves: d = .2*150/250 = .12 (1250).
    April reset (E 04-21): B1 alone, f 1, units 100: d = .12*300/150 = .24 (1250), one `reset`
    row. B1 leaves: basket empty, suspended: last level 1250 at Mon 04-22 10:00Z. The May reset
    has no member: no `reset` row. June: B3 (universe 2024-06 only, 5, supply 100,
    6 from 2024-06-24) forms the basket and the index resumes at 1250 (B3 constant around
    the June C and E: d = 500/1250 = .4); 06-24: 600/.4 = 1500."""
    t = hour_grid("2024-02-20T00:00Z", "2024-06-26T00:00Z")
    s = {"B1": step(t, 2, ("2024-04-01T00:00Z", 3)), "B2": step(t, 1),
         "B3": step(t, 5, ("2024-06-24T00:00Z", 6))}
    names = list(s)
    tables = {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in names]),
        "assets": assets_table(dict.fromkeys(names, "702030")),
        "universe": pa.concat_tables([universe_table("2024-03", ["B1", "B2"]),
                                      universe_table("2024-06", names)]),
        "deletions": deletions_table([("2024-04-17T03:00Z", "B2"), ("2024-04-23T03:00Z", "B1")]),
    }
    res = backfill(tables, indices=["CUSTOM_INFRA"])
    assert level_at(res, "CUSTOM_INFRA", "2024-04-17T10:00Z")[:2] == (approx(1250.0),
                                                                      approx(0.12))
    assert level_at(res, "CUSTOM_INFRA", "2024-04-22T10:00Z")[:2] == (approx(1250.0),
                                                                      approx(0.24))
    assert not [x for x in level_times(res, "CUSTOM_INFRA")
                if at("2024-04-22T10:00Z") < x < at("2024-06-23T10:00Z")]
    assert level_at(res, "CUSTOM_INFRA", "2024-06-23T10:00Z")[:2] == (approx(1250.0),
                                                                      approx(0.4))
    assert level_at(res, "CUSTOM_INFRA", "2024-06-24T10:00Z")[0] == approx(1500.0)
    assert actions(res, "CUSTOM_INFRA", "2024-04", ("reset",)) == [("B1", "reset")]
    assert actions(res, "CUSTOM_INFRA", "2024-05", ("reset",)) == []
    assert actions(res, "CUSTOM_INFRA", "2024-04") == [("B1", "delete"), ("B2", "delete")]
    assert actions(res, "CUSTOM_INFRA", "2024-06") == [("B3", "add")]


# --- 7. a deleted constituent that stopped trading; deletions before the first review ---------
def test_deletion_of_a_constituent_without_fresh_fixes():
    """SPEC §3.5, §3.7, §3.8, §8.5: K1 (10, 12 from 2024-04-01, 15 from 2024-04-25) and K2 (2,
    no fix at all from 2024-04-20 00:00Z), supply 100, CUSTOM_INFRA. K3 (50) leaves at
    2024-03-13 05:00Z (its E, Wed 03-13 10:00Z, before the March E) and K4 (40) at 2024-01-15,
    before the data: both ineligible at March (E at or after u). March: MVs 1000, 200: f .2, 1:
    units 20, 100: d = 400/1000 = .4. From 04-01: 440/.4 = 1100. April reset (04-10): MVs 1200,
    200: f 1/6, 1: C 04-19: MV_old 440, MV_new 400: d = 4/11. K2 stale from 04-20: its last
    price 2 is kept, levels indicative. K2 leaves at 2024-04-23 03:00Z (E Tue 04-23 10:00Z,
    C Mon 04-22 10:00Z): MV_old(C) = 200 + 2*100 = 400, MV_new(C) = 200: d = 2/11; firm again.
    From 04-25 K1 15: 250/(2/11) = 1375."""
    t = hour_grid("2024-02-20T00:00Z", "2024-04-30T00:00Z")
    s = {"K1": step(t, 10, ("2024-04-01T00:00Z", 12), ("2024-04-25T00:00Z", 15)),
         "K2": step(t, 2, ("2024-04-20T00:00Z", np.nan)), "K3": step(t, 50), "K4": step(t, 40)}
    names = list(s)
    tables = {
        "prices": prices_table(t, s),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100) for a in names]),
        "assets": assets_table(dict.fromkeys(names, "702020")),
        "universe": universe_table("2024-03", names),
        "deletions": deletions_table([("2024-04-23T03:00Z", "K2"), ("2024-03-13T05:00Z", "K3"),
                                      ("2024-01-15T00:00Z", "K4")]),
    }
    res = backfill(tables, indices=["CUSTOM_INFRA"])
    assert set(basket(res, "CUSTOM_INFRA", "2024-03-17T10:00Z")) == {"K1", "K2"}
    expected = [
        ("2024-03-17T10:00Z", 1000.0, 0.4, "firm"),
        ("2024-04-19T10:00Z", 1100.0, 0.4, "firm"),
        ("2024-04-21T10:00Z", 1100.0, 4 / 11, "indicative"),
        ("2024-04-22T10:00Z", 1100.0, 4 / 11, "indicative"),
        ("2024-04-23T10:00Z", 1100.0, 2 / 11, "firm"),
        ("2024-04-25T10:00Z", 1375.0, 2 / 11, "firm"),
    ]
    for when, level, divisor, status in expected:
        assert level_at(res, "CUSTOM_INFRA", when) == (approx(level), approx(divisor), status)
    after = basket(res, "CUSTOM_INFRA", "2024-04-23T10:00Z")
    assert {a: (r["market_value"], r["weight"], r["factor"]) for a, r in after.items()} == {
        "K1": (approx(1200.0), approx(1.0), approx(1 / 6))}
    assert actions(res, "CUSTOM_INFRA", "2024-04") == [("K2", "delete")]


def test_hourly_calendar_starts_at_the_first_e(del2_hourly, del2):
    """SPEC §3.5: the first basket applies from its E (not from the hour after the March C):
    the first hourly level is 1000 at 2024-03-17 10:00Z; at official times the hourly levels
    equal the official ones."""
    assert level_times(del2_hourly, "CUSTOM_INFRA")[0] == at("2024-03-17T10:00Z")
    for when in ("2024-03-17T10:00Z", "2024-05-17T10:00Z", "2024-06-10T10:00Z",
                 "2024-06-24T10:00Z"):
        assert level_at(del2_hourly, "CUSTOM_INFRA", when) == level_at(del2, "CUSTOM_INFRA",
                                                                       when)


def test_every_review_row_cites_the_rule(del1, del2):
    """SPEC §6.3: `reason` says why in words that cite the rule."""
    for res in (del1, del2):
        rows = res.reviews.to_pylist()
        assert rows and all("SPEC §" in r["reason"] for r in rows)
