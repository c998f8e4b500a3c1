"""End-to-end backfill on small hand-built data, every number worked out by hand.

Scenario (CUSTOM_INFRA, equal weighted, official calendar 10:00 UTC Sunday to Friday):
assets A and B in sector 702020, supply 100 each, prices A = 10 then 12 from 2024-03-20,
B = 20 then 25 from 2024-04-20 and 30 from 2024-04-25.

- March 2024 review (SPEC §4.1): cut-off 2024-02-29 10:00Z, prices 2024-03-06 10:00Z,
  C = 2024-03-15 10:00Z, E = 2024-03-17 10:00Z. MV A 1000, B 2000; W {1/3, 2/3}; equal target
  {1/2, 1/2}: f = {1.5, 0.75} scaled to {1, 0.5} (SPEC §3.3); units A 100, B 50.
  First basket: d = MV(E)/1000 = (10*100 + 20*50)/1000 = 2, so I(E) = 1000 (SPEC §3.5).
- 2024-03-20 onwards A = 12: I = (1200 + 1000)/2 = 1100.
- April factor reset: prices 2024-04-10 10:00Z (A 12, B 20): W {1200, 2000}/3200, f = {4/3, .8}
  scaled {1, .6}; units A 100, B 60. C = 2024-04-19 10:00Z, E = 2024-04-21 10:00Z.
  d = 2 * (1200 + 1200)/(1200 + 1000) = 24/11 = 2.181818..., I(C) = 1100 under both baskets.
- 2024-04-20 onwards B = 25: I = (1200 + 1500)/(24/11) = 1237.5.
- Deletion of A at 2024-04-24 03:00Z: E = 2024-04-24 10:00Z, C = 2024-04-23 10:00Z;
  d = 24/11 * 1500/2700 = 40/33; I = 1500/(40/33) = 1237.5 at C and at E.
- 2024-04-25 onwards B = 30: I = 1800/(40/33) = 1485.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from daix.engine.backfill import backfill

UTC = dt.timezone.utc
TS = pa.timestamp("ns", tz="UTC")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def hours(start: str, end: str) -> list[dt.datetime]:
    t, stop, out = at(start), at(end), []
    while t <= stop:
        out.append(t)
        t += dt.timedelta(hours=1)
    return out


def price_a(t: dt.datetime) -> float:
    return 12.0 if t >= at("2024-03-20T00:00Z") else 10.0


def price_b(t: dt.datetime) -> float:
    if t >= at("2024-04-25T00:00Z"):
        return 30.0
    return 25.0 if t >= at("2024-04-20T00:00Z") else 20.0


def scenario(drop_b: tuple[str, str] | None = None, deletion: bool = True) -> dict:
    grid = hours("2024-02-01T00:00Z", "2024-04-30T00:00Z")
    ts, asset, window, price = [], [], [], []
    for t in grid:
        for a, f in (("A", price_a), ("B", price_b)):
            if a == "B" and drop_b and at(drop_b[0]) <= t <= at(drop_b[1]):
                continue
            ts.append(t)
            asset.append(a)
            window.append("15m")
            price.append(f(t))
    tables = {
        "prices": pa.table({"ts": pa.array(ts, TS), "asset": asset, "window": window,
                            "price": price}),
        "supply": pa.table({"ts": pa.array([at("2024-01-01T00:00Z")] * 2, TS),
                            "asset": ["A", "B"], "circulating_supply": [100.0, 100.0]}),
        "assets": pa.table({"asset": ["A", "B"], "name": ["a", "b"],
                            "sector": ["702020", "702020"],
                            "subsector": ["70202010", "70202010"]}),
        "universe": pa.table({"review": ["2024-03", "2024-03"], "asset": ["A", "B"],
                              "total_cap": [True, True], "class": ["benchmark"] * 2,
                              "liquidity_pass": [True, True], "new_entrant": [False, False]}),
    }
    if deletion:
        tables["deletions"] = pa.table({"ts": pa.array([at("2024-04-24T03:00Z")], TS),
                                        "asset": ["A"]})
    return tables


def level_at(levels: pa.Table, when: str) -> tuple[float, float, str]:
    ts = levels.column("ts").cast("int64").to_numpy()
    target = int(at(when).timestamp()) * 10**9
    i = int(np.flatnonzero(ts == target)[0])
    return (levels.column("level")[i].as_py(), levels.column("divisor")[i].as_py(),
            levels.column("status")[i].as_py())


@pytest.fixture(scope="module")
def official():
    return backfill(scenario(), indices=["CUSTOM_INFRA"])


def test_first_level_is_base_value_at_e(official):
    levels = official.levels
    assert levels.column("ts")[0].as_py() == at("2024-03-17T10:00Z")
    assert level_at(levels, "2024-03-17T10:00Z") == (pytest.approx(1000.0), pytest.approx(2.0),
                                                      "firm")


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        ("2024-03-18T10:00Z", 1000.0, 2.0),
        ("2024-03-20T10:00Z", 1100.0, 2.0),
        ("2024-04-19T10:00Z", 1100.0, 2.0),  # C of the reset: old basket, same level
        ("2024-04-21T10:00Z", 1237.5, 24 / 11),  # E of the reset, B = 25 since 04-20
        ("2024-04-23T10:00Z", 1237.5, 24 / 11),  # C of the deletion
        ("2024-04-24T10:00Z", 1237.5, 40 / 33),  # E of the deletion: B alone
        ("2024-04-25T10:00Z", 1485.0, 40 / 33),
    ],
)
def test_levels_and_divisors_by_hand(official, when, level, divisor):
    got = level_at(official.levels, when)
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)


def test_no_saturday_levels_on_the_official_calendar(official):
    ts = official.levels.column("ts").to_pylist()
    assert all(t.weekday() != 5 for t in ts)


def test_constituents_rows(official):
    c = official.constituents.to_pylist()
    review = [r for r in c if r["effective"] == at("2024-03-17T10:00Z")]
    assert {r["asset"]: (r["factor"], r["weight"], r["market_value"]) for r in review} == {
        "A": (pytest.approx(1.0), pytest.approx(0.5), pytest.approx(1000.0)),
        "B": (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(2000.0)),
    }
    reset = {r["asset"]: r["factor"] for r in c if r["effective"] == at("2024-04-21T10:00Z")}
    assert reset == {"A": pytest.approx(1.0), "B": pytest.approx(0.6)}
    after = [r for r in c if r["effective"] == at("2024-04-24T10:00Z")]
    # Deletion basket: B keeps s and f; market value at C (25 * 100), weight 1 (SPEC §8.6).
    assert [(r["asset"], r["factor"], r["market_value"], r["weight"]) for r in after] == [
        ("B", pytest.approx(0.6), pytest.approx(2500.0), pytest.approx(1.0))]


def test_review_rows(official):
    rows = [(r["review"], r["asset"], r["action"]) for r in official.reviews.to_pylist()]
    assert ("2024-03", "A", "add") in rows and ("2024-03", "B", "add") in rows
    assert ("2024-04", "A", "reset") in rows and ("2024-04", "B", "reset") in rows
    assert ("2024-04", "A", "delete") in rows
    reasons = [r["reason"] for r in official.reviews.to_pylist()]
    assert all("SPEC §" in r for r in reasons)


def test_stale_constituent_is_carried_and_indicative():
    # B has no fix from 2024-03-25 00:00 to 2024-03-26 23:00: its last price (20) is kept.
    res = backfill(scenario(drop_b=("2024-03-25T00:00Z", "2024-03-26T23:00Z")),
                   indices=["CUSTOM_INFRA"])
    assert level_at(res.levels, "2024-03-25T10:00Z") == (pytest.approx(1100.0),
                                                          pytest.approx(2.0), "indicative")
    assert level_at(res.levels, "2024-03-27T10:00Z")[2] == "firm"


def test_hourly_calendar_uses_official_baskets():
    res = backfill(scenario(), indices=["CUSTOM_INFRA"], hourly=True)
    # Between C (04-19 10:00) and E (04-21 10:00) the new basket applies (SPEC §3.5):
    # 04-20 00:00, A 12, B 25: (1200 + 25*60)/(24/11) = 1237.5 (the old basket would give 1225).
    level, divisor, status = level_at(res.levels, "2024-04-20T00:00Z")
    assert level == pytest.approx(1237.5) and divisor == pytest.approx(24 / 11)
    assert status == "indicative"  # not an official calculation time (SPEC §5)
    assert level_at(res.levels, "2024-04-19T10:00Z") == (pytest.approx(1100.0),
                                                          pytest.approx(2.0), "firm")
    assert level_at(res.levels, "2024-04-19T11:00Z")[1] == pytest.approx(24 / 11)


def test_start_end_limit_output_not_computation(official):
    res = backfill(scenario(), indices=["CUSTOM_INFRA"], start="2024-04-21", end="2024-04-24")
    ts = res.levels.column("ts").to_pylist()
    assert ts[0] == at("2024-04-21T10:00Z") and ts[-1] == at("2024-04-24T10:00Z")
    assert level_at(res.levels, "2024-04-21T10:00Z")[0] == pytest.approx(1237.5)


def test_deletion_emptying_basket_suspends_until_next_review():
    tables = scenario(deletion=False)
    tables["deletions"] = pa.table({"ts": pa.array([at("2024-04-24T03:00Z")] * 2, TS),
                                    "asset": ["A", "B"]})
    res = backfill(tables, indices=["CUSTOM_INFRA"])
    last = res.levels.column("ts")[-1].as_py()
    # SPEC §8.5: no levels after the deletion's C until the next review (after the data).
    assert last == at("2024-04-23T10:00Z")
