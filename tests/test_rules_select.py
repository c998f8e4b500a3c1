"""Crypto Select (SELECT10, SELECT10_EXBTC) against the SPEC, every number worked out by hand.

Rules checked: eligibility (SPEC §8.4, §3.8), top 10 with 8/13 buffers (SPEC §4.3), the
turnover rule (SPEC §4.4), the first level and the chain-linked form (SPEC §3.5-§3.6), the
review calendars before and after March 2022 (SPEC §4.1, §8.3) and the official 16:00 New York
calendar across the March 2024 US daylight-saving switch (SPEC §1.2, §5).

Instants used (SPEC §4.1; 16:00 New York is 21:00Z in winter, 20:00Z in summer):

- Dec 2023 review: cut-off 2023-11-30 22:00Z; review prices Wed 2023-12-06 21:00Z (the first
  Friday is Dec 1); C = Fri 2023-12-15 21:00Z; E = Sun 2023-12-17 21:00Z.
- Mar 2024 review: cut-off 2024-02-29 22:00Z; review prices Wed 2024-03-06 21:00Z (first Friday
  Mar 1; still EST); C = Fri 2024-03-15 20:00Z and E = Sun 2024-03-17 20:00Z (EDT from Mar 10).
- Jun 2024 review: cut-off 2024-05-31 22:00Z; review prices Wed 2024-06-12 20:00Z (first Friday
  Jun 7); C = Fri 2024-06-21 20:00Z; E = Sun 2024-06-23 20:00Z.
- Before March 2022 (Jan/Apr/Jul/Oct): Apr 2021 review prices Wed *before* the first Friday
  (Apr 2) = 2021-03-31 20:00Z, cut-off 2021-03-31 22:00Z, E = 16:00 ET on the Sunday after the
  second Friday (Apr 9) = 2021-04-11 20:00Z, C = Fri 2021-04-09 20:00Z. Jul 2021: prices
  2021-06-30 20:00Z (first Friday Jul 2), cut-off 2021-06-30 22:00Z, C = Fri 2021-07-09 20:00Z,
  E = Sun 2021-07-11 20:00Z.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from scenarios import (
    HOUR,
    TS,
    at,
    effectives,
    hour_grid,
    levels_of,
    ns,
    step,
    supply_table,
)

from daix.engine.backfill import backfill


# --- building small data sets -------------------------------------------------------------
def without(t: np.ndarray, series: np.ndarray, *instants: str) -> np.ndarray:
    """The series with no fix (no row) at the given instants."""
    out = series.copy()
    for when in instants:
        out[t == ns(when)] = np.nan
    return out


def prices_table(t: np.ndarray, windows: dict[str, dict[str, np.ndarray]]) -> pa.Table:
    ts, asset, window, price = [], [], [], []
    for w, series in windows.items():
        for a, p in series.items():
            ok = np.isfinite(p)
            ts.append(t[ok])
            price.append(p[ok])
            asset += [a] * int(ok.sum())
            window += [w] * int(ok.sum())
    return pa.table({"ts": pa.array(np.concatenate(ts), TS), "asset": asset, "window": window,
                     "price": np.concatenate(price)})


def universe_table(rows: list[tuple[str, str, bool]]) -> pa.Table:
    """(review month, asset, liquidity_pass); every row a benchmark Total Cap member."""
    return pa.table({"review": [r[0] for r in rows], "asset": [r[1] for r in rows],
                     "total_cap": [True] * len(rows), "class": ["benchmark"] * len(rows),
                     "liquidity_pass": [r[2] for r in rows],
                     "new_entrant": [False] * len(rows)})


def inclusion_table(months: dict[str, list[str]]) -> pa.Table:
    rows = [(m, a) for m, assets in months.items() for a in assets]
    return pa.table({"review": [r[0] for r in rows], "list": ["21shares_inclusion"] * len(rows),
                     "asset": [r[1] for r in rows]})


def basket(result, index: str, effective: str) -> dict[str, dict]:
    return {r["asset"]: r for r in result.constituents.to_pylist()
            if r["index"] == index and r["effective"] == at(effective)}


def actions(result, index: str, month: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in result.reviews.to_pylist():
        if r["index"] == index and r["review"] == month:
            out.setdefault(r["asset"], []).append(r["action"])
    return out


def review_rows(result, index: str, month: str, asset: str) -> list[dict]:
    return [r for r in result.reviews.to_pylist()
            if r["index"] == index and r["review"] == month and r["asset"] == asset]


# --- 1. levels: first level, chain-linked = divisor form, DST (SPEC §3.5-§3.6, §1.2) -------
#
# BTC, ETH, SOL on the 1h window. Base prices: BTC 100 (110 from 2024-01-10), ETH 10 (12 from
# 2024-02-05), SOL 0.5 (0.6 from 2024-03-20). Every 1h fix at 20:00Z carries a common factor
# m = 1.05 (m = 1 at every other hour), so a level read at 20:00Z shows it and one at 21:00Z
# does not. The 15m window holds BTC at three times its 1h price: an index reading the wrong
# window would weigh BTC differently. Supply BTC 20, ETH 100, SOL 1000 (1200 from 2024-02-15).
LEVEL_GRID = ("2023-11-20T00:00Z", "2024-03-31T23:00Z")


def level_prices(t: np.ndarray) -> dict[str, np.ndarray]:
    m = np.where((t // HOUR) % 24 == 20, 1.05, 1.0)
    return {
        "BTC": step(t, 100.0, ("2024-01-10T00:00Z", 110.0)) * m,
        "ETH": step(t, 10.0, ("2024-02-05T00:00Z", 12.0)) * m,
        "SOL": step(t, 0.5, ("2024-03-20T00:00Z", 0.6)) * m,
    }


def level_tables(month: str = "2023-12") -> dict[str, pa.Table]:
    """``month``: the review month of the only universe snapshot and 21Shares list."""
    t = hour_grid(*LEVEL_GRID)
    one_hour = level_prices(t)
    fifteen = dict(one_hour, BTC=one_hour["BTC"] * 3.0)
    assets = ["BTC", "ETH", "SOL"]
    return {
        "prices": prices_table(t, {"1h": one_hour, "15m": fifteen}),
        "supply": supply_table([("2023-11-01T00:00Z", "BTC", 20), ("2023-11-01T00:00Z", "ETH", 100),
                                ("2023-11-01T00:00Z", "SOL", 1000),
                                ("2024-02-15T00:00Z", "SOL", 1200)]),
        "universe": universe_table([(month, a, True) for a in assets]),
        "lists": inclusion_table({month: assets}),
    }


@pytest.fixture(scope="module")
def levels_run():
    return backfill(level_tables(), indices=["SELECT10", "SELECT10_EXBTC"])


# Hand baskets (units s*f) and divisors, SPEC §3.3-§3.5 and §4.4:
# SELECT10, Dec 2023: review prices (21:00Z, m = 1) BTC 100, ETH 10, SOL 0.5; supply 20, 100,
#   1000: MV 2000, 1000, 500; market cap, f = 1; at E (21:00Z) MC = 3500, d = 3.5, I = 1000.
# Mar 2024: review prices BTC 110, ETH 12, SOL 0.5 (21:00Z, m = 1); supply at the cut-off SOL
#   1200: MV 2200, 1200, 600 (sum 4000). Same members, so the §4.4 test runs: old s*f weights
#   2200/3900, 1200/3900, 500/3900 = .5641, .3077, .1282; new .55, .30, .15; |dw| = .0141,
#   .0077, .0218: two-way .0436 >= 106 bp, so f = 1 and units 20, 100, 1200.
#   At C (20:00Z, m = 1.05): MV_old = 1.05*3900, MV_new = 1.05*4000; d = 3.5 * 4000/3900.
# SELECT10_EXBTC: Dec units ETH 100, SOL 1000, MC(E) = 1500, d = 1.5. Mar: MV 1200, 600; old
#   weights 1200/1700, 500/1700 = .7059, .2941, new 2/3, 1/3: two-way .0784, f = 1; units 100,
#   1200; d = 1.5 * 1800/1700.
HAND_BASKETS = {
    "SELECT10": [
        ("2023-12-17T21:00Z", {"BTC": 20.0, "ETH": 100.0, "SOL": 1000.0}, 3.5),
        ("2024-03-15T20:00Z", {"BTC": 20.0, "ETH": 100.0, "SOL": 1200.0}, 3.5 * 4000 / 3900),
    ],
    "SELECT10_EXBTC": [
        ("2023-12-17T21:00Z", {"ETH": 100.0, "SOL": 1000.0}, 1.5),
        ("2024-03-15T20:00Z", {"ETH": 100.0, "SOL": 1200.0}, 1.5 * 1800 / 1700),
    ],
}


def test_first_level_is_1000_at_e(levels_run):
    """SPEC §3.5: the first basket applies from its E with I(E) = 1000; nothing before E."""
    for index in ("SELECT10", "SELECT10_EXBTC"):
        lv = levels_of(levels_run, index)
        first = min(lv)
        assert first == ns("2023-12-17T21:00Z")
        assert lv[first][0] == pytest.approx(1000.0, rel=1e-12)
        assert lv[first][2] == "firm"


@pytest.mark.parametrize(
    ("index", "when", "level", "divisor"),
    [
        ("SELECT10", "2024-01-09T21:00Z", 1000.0, 3.5),
        ("SELECT10", "2024-01-10T21:00Z", 3700 / 3.5, 3.5),  # BTC 110: 2200+1000+500
        ("SELECT10", "2024-02-05T21:00Z", 3900 / 3.5, 3.5),  # ETH 12: 2200+1200+500
        ("SELECT10", "2024-03-08T21:00Z", 3900 / 3.5, 3.5),  # Friday, EST: 21:00Z, m = 1
        ("SELECT10", "2024-03-10T20:00Z", 1.05 * 3900 / 3.5, 3.5),  # Sunday, EDT: m = 1.05
        ("SELECT10", "2024-03-11T20:00Z", 1170.0, 3.5),  # 1.05*3900/3.5 = 1170
        ("SELECT10", "2024-03-15T20:00Z", 1170.0, 3.5),  # C: old basket
        ("SELECT10", "2024-03-17T20:00Z", 1170.0, 3.5 * 4000 / 3900),  # E: 1.05*4000/d_new
        # SOL 0.6: 1.05*(2200+1200+720) = 4326; 4326*39/140 = 1205.1
        ("SELECT10", "2024-03-20T20:00Z", 1205.1, 3.5 * 4000 / 3900),
        ("SELECT10_EXBTC", "2024-01-10T21:00Z", 1000.0, 1.5),  # BTC is not in it
        ("SELECT10_EXBTC", "2024-02-05T21:00Z", 1700 / 1.5, 1.5),
        ("SELECT10_EXBTC", "2024-03-11T20:00Z", 1190.0, 1.5),  # 1.05*1700/1.5
        # 1.05*(1200+720)/(1.5*1800/1700) = 2016*1700/2700 = 1269.333...
        ("SELECT10_EXBTC", "2024-03-20T20:00Z", 2016 * 1700 / 2700, 1.5 * 1800 / 1700),
    ],
)
def test_levels_by_hand(levels_run, index, when, level, divisor):
    """SPEC §3.1, §3.5-§3.6, §4.4 on the 1h window (SPEC §5) at 16:00 New York (SPEC §1.2)."""
    got = levels_of(levels_run, index)[ns(when)]
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)
    assert got[2] == "firm"


def test_official_times_follow_new_york_across_dst(levels_run):
    """SPEC §1.2, §5: 16:00 New York, Sunday to Friday: 21:00Z before 2024-03-10, 20:00Z after."""
    lv = levels_of(levels_run, "SELECT10")
    week = sorted(t for t in lv if ns("2024-03-07T00:00Z") <= t < ns("2024-03-13T00:00Z"))
    assert week == [ns("2024-03-07T21:00Z"), ns("2024-03-08T21:00Z"), ns("2024-03-10T20:00Z"),
                    ns("2024-03-11T20:00Z"), ns("2024-03-12T20:00Z")]
    # No Saturday anywhere; every time is 16:00 in New York.
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    local = [dt.datetime.fromtimestamp(t / 1e9, tz=dt.timezone.utc).astimezone(ny) for t in lv]
    assert all(x.weekday() != 5 and (x.hour, x.minute) == (16, 0) for x in local)


@pytest.fixture(scope="module")
def hourly_run():
    return backfill(level_tables(), indices=["SELECT10", "SELECT10_EXBTC"], hourly=True)


@pytest.mark.parametrize("calendar", ["official", "hourly"])
def test_chain_linked_equals_divisor_form(levels_run, hourly_run, calendar):
    """SPEC §3.6: the chain-linked level equals sum p*s*f/d of SPEC §3.5 to 1e-12, at every
    official time and every hour; p from the hand price functions, units and d from the hand
    baskets (the second applies after C, SPEC §3.5)."""
    run = levels_run if calendar == "official" else hourly_run
    t_all = hour_grid(*LEVEL_GRID)
    prices = level_prices(t_all)
    for index, baskets in HAND_BASKETS.items():
        lv = levels_of(run, index)
        assert len(lv) > (80 if calendar == "official" else 2000)
        for ts, (level, divisor, _) in lv.items():
            # the basket in force: the last whose C is before ts (the first from its E)
            live = [b for b in baskets if ns(b[0]) <= ts and (b is baskets[0] or ns(b[0]) < ts)]
            _, units, d = live[-1]
            row = int((ts - t_all[0]) // HOUR)
            mc = sum(prices[a][row] * u for a, u in units.items())
            assert level == pytest.approx(mc / d, rel=1e-12), dt.datetime.fromtimestamp(ts / 1e9)
            assert divisor == pytest.approx(d, rel=1e-12)


def test_constituents_at_review_prices(levels_run):
    """SPEC §8.6: market value and weight at the review prices, f = 1 after the §4.4 reset."""
    dec = basket(levels_run, "SELECT10", "2023-12-17T21:00Z")
    got = {a: (r["market_value"], r["weight"], r["factor"], r["rank"]) for a, r in dec.items()}
    assert got == {
        "BTC": (pytest.approx(2000.0), pytest.approx(4 / 7), pytest.approx(1.0), 1),
        "ETH": (pytest.approx(1000.0), pytest.approx(2 / 7), pytest.approx(1.0), 2),
        "SOL": (pytest.approx(500.0), pytest.approx(1 / 7), pytest.approx(1.0), 3),
    }
    mar = basket(levels_run, "SELECT10", "2024-03-17T20:00Z")
    assert {a: (r["supply"], r["factor"], r["weight"]) for a, r in mar.items()} == {
        "BTC": (20.0, pytest.approx(1.0), pytest.approx(0.55)),
        "ETH": (100.0, pytest.approx(1.0), pytest.approx(0.30)),
        "SOL": (1200.0, pytest.approx(1.0), pytest.approx(0.15)),
    }
    assert set(basket(levels_run, "SELECT10_EXBTC", "2023-12-17T21:00Z")) == {"ETH", "SOL"}


def test_turnover_reset_is_reported(levels_run):
    """SPEC §4.4, §6.3: a review with no adds or deletes: every member `keep`, reason cites §4.4."""
    assert actions(levels_run, "SELECT10", "2024-03") == {"BTC": ["keep"], "ETH": ["keep"],
                                                          "SOL": ["keep"]}
    for r in review_rows(levels_run, "SELECT10", "2024-03", "SOL"):
        assert "§4.4" in r["reason"]


def test_hourly_calendar_uses_official_baskets(levels_run, hourly_run):
    """SPEC §3.5, §5: hourly levels use the official baskets; between C and E the new one.
    Sat 2024-03-16 12:00Z (m = 1): 4000 / (3.5 * 4000/3900) = 3900/3.5 = 1114.2857...;
    the old basket would give the same by construction, so read 2024-03-20 12:00Z too:
    SOL 0.6, m = 1: (2200 + 1200 + 720) / (3.5*4000/3900) = 4120*3900/14000 = 1147.714..."""
    lv = levels_of(hourly_run, "SELECT10")
    assert lv[ns("2024-03-16T12:00Z")][0] == pytest.approx(3900 / 3.5, rel=1e-12)
    assert lv[ns("2024-03-20T12:00Z")][0] == pytest.approx(4120 * 3900 / 14000, rel=1e-12)
    assert lv[ns("2024-03-20T12:00Z")][2] == "indicative"
    assert lv[ns("2024-03-20T20:00Z")] == (pytest.approx(1205.1, rel=1e-12),
                                          pytest.approx(3.5 * 4000 / 3900, rel=1e-12), "firm")
    # SPEC §3.5: at every official calculation time the hourly level is the official level
    official = levels_of(levels_run, "SELECT10")
    for ts, (level, divisor, status) in official.items():
        assert lv[ts] == (pytest.approx(level, rel=1e-12), pytest.approx(divisor, rel=1e-12),
                          status)


def test_review_before_the_first_list_uses_the_first_list():
    """SPEC §4.2, §8.3: with the universe and the 21Shares list first on record in 2024-03,
    the Dec 2023 review uses them: the index still starts at 1000 on 2023-12-17 21:00Z."""
    res = backfill(level_tables(month="2024-03"), indices=["SELECT10"])
    lv = levels_of(res, "SELECT10")
    assert min(lv) == ns("2023-12-17T21:00Z")
    assert lv[ns("2024-02-05T21:00Z")][0] == pytest.approx(3900 / 3.5, rel=1e-12)


def test_chain_linked_intra_review_deletion():
    """SPEC §3.6-§3.7, §8.4-§8.5: SOL leaves the universe at 2024-01-17 15:00Z: E = Wed
    2024-01-17 21:00Z, C = Tue 2024-01-16 21:00Z. At C: BTC 110*20 + ETH 10*100 = 3200 of
    3700: d = 3.5*3200/3700; I stays 3700/3.5 at E. ETH 12: (2200 + 1200)/d = 3400*3700/11200.
    March: SOL is ineligible (u <= E); the selection {BTC, ETH} equals the basket in force, so
    the §4.4 rule runs: supply unchanged, turnover 0, s*f kept (f = 20*1/20 = 1), d unchanged:
    on 2024-03-20 20:00Z (m = 1.05) I = 1.05*3400*3700/11200."""
    tables = level_tables()
    tables["deletions"] = pa.table({"ts": pa.array([at("2024-01-17T15:00Z")], TS),
                                    "asset": ["SOL"]})
    res = backfill(tables, indices=["SELECT10"])
    lv = levels_of(res, "SELECT10")
    d = 3.5 * 3200 / 3700
    assert lv[ns("2024-01-16T21:00Z")][0] == pytest.approx(3700 / 3.5, rel=1e-12)
    assert lv[ns("2024-01-17T21:00Z")][:2] == (pytest.approx(3700 / 3.5, rel=1e-12),
                                              pytest.approx(d, rel=1e-12))
    assert lv[ns("2024-02-05T21:00Z")][0] == pytest.approx(3400 / d, rel=1e-12)
    assert lv[ns("2024-03-20T20:00Z")][:2] == (pytest.approx(1.05 * 3400 / d, rel=1e-12),
                                              pytest.approx(d, rel=1e-12))
    assert set(basket(res, "SELECT10", "2024-03-17T20:00Z")) == {"BTC", "ETH"}
    assert [r["review"] for r in res.reviews.to_pylist() if r["asset"] == "SOL"
            and r["action"] == "delete"] == ["2024-01"]
    for r in review_rows(res, "SELECT10", "2024-03", "ETH"):
        assert r["action"] == "keep" and "§4.4" in r["reason"]


# --- 2. eligibility and buffers (SPEC §4.3, §8.4, §3.8, §8.3) -------------------------------
#
# Every asset's 1h price is constant (BTC 4, the others 2); market values are set through the
# supply at each cut-off (supply = MV / price). Five assets with huge market values are never
# eligible: X_NOLIST (not on the 21Shares list), X_NOUNI (no universe row), X_ILLIQ (fails the
# liquidity flag), X_NOPRICE (no 1h fix at any review price time), X_ZEROSUP (latest supply
# row before each cut-off is 0: no fallback to the older positive row, SPEC §8.3).
SEL_GRID = ("2023-11-25T00:00Z", "2024-06-26T00:00Z")
REVIEW_PRICE_TIMES = ("2023-12-06T21:00Z", "2024-03-06T21:00Z", "2024-06-12T20:00Z")

SEL_MV = {  # asset: (Dec 2023, Mar 2024, Jun 2024) market values
    "BTC": (20000, 20000, 20000),
    "A02": (13000, 13000, 13000), "A03": (12000, 12000, 12000), "A04": (11000, 11000, 11000),
    "A05": (10000, 10000, 10000), "A06": (9000, 9000, 9000), "A07": (8000, 8000, 8000),
    "A08": (7000, 7200, 7200), "A09": (6000, 7100, 7100), "A10": (5000, 1000, 1000),
    "A11": (4000, 7300, 5050), "A12": (3000, 7500, 7500), "A13": (2000, 7400, 5100),
    "X_NOLIST": (99000,) * 3, "X_NOUNI": (98000,) * 3, "X_ILLIQ": (97000,) * 3,
    "X_NOPRICE": (96000,) * 3,
}


def selection_tables() -> dict[str, pa.Table]:
    t = hour_grid(*SEL_GRID)
    price = {a: 4.0 if a == "BTC" else 2.0 for a in [*SEL_MV, "X_ZEROSUP"]}
    series = {a: step(t, p) for a, p in price.items()}
    series["X_NOPRICE"] = without(t, series["X_NOPRICE"], *REVIEW_PRICE_TIMES)
    # A04 has no fix at the June review price time: ineligible at that review (SPEC §3.8).
    series["A04"] = without(t, series["A04"], REVIEW_PRICE_TIMES[2])
    supply = []
    for a, mvs in SEL_MV.items():
        for when, mv in zip(("2023-11-15T00:00Z", "2024-02-15T00:00Z", "2024-05-15T00:00Z"), mvs,
                            strict=True):
            supply.append((when, a, mv / price[a]))
    supply += [("2023-11-01T00:00Z", "X_ZEROSUP", 50000.0), ("2023-11-20T00:00Z", "X_ZEROSUP", 0.0)]
    assets = [*SEL_MV, "X_ZEROSUP"]
    universe = [("2023-12", a, a != "X_ILLIQ") for a in assets if a != "X_NOUNI"]
    listed = [a for a in assets if a != "X_NOLIST"]
    return {
        "prices": prices_table(t, {"1h": series}),
        "supply": supply_table(supply),
        "universe": universe_table(universe),
        # The June list drops A03; the Mar review uses the Dec list (latest at or before, §4.2).
        "lists": inclusion_table({"2023-12": listed,
                                  "2024-06": [a for a in listed if a != "A03"]}),
    }


@pytest.fixture(scope="module")
def selection_run():
    return backfill(selection_tables(), indices=["SELECT10", "SELECT10_EXBTC"])


def test_first_review_top_10_of_the_eligible(selection_run):
    """SPEC §4.3, §8.4: eligible ranking BTC 20000, A02 13000, ..., A10 5000 (10th), A11 4000;
    the five X_ assets are ineligible despite the largest market values; ex-BTC drops BTC."""
    dec = basket(selection_run, "SELECT10", "2023-12-17T21:00Z")
    assert {a: r["rank"] for a, r in dec.items()} == {
        "BTC": 1, "A02": 2, "A03": 3, "A04": 4, "A05": 5, "A06": 6, "A07": 7, "A08": 8,
        "A09": 9, "A10": 10}
    assert dec["A02"]["market_value"] == pytest.approx(13000.0)  # 2 * 6500
    ex = basket(selection_run, "SELECT10_EXBTC", "2023-12-17T21:00Z")
    assert {a: r["rank"] for a, r in ex.items()} == {
        "A02": 1, "A03": 2, "A04": 3, "A05": 4, "A06": 5, "A07": 6, "A08": 7, "A09": 8,
        "A10": 9, "A11": 10}


def test_buffers_at_a_later_review(selection_run):
    """SPEC §4.3 at Mar 2024. Ranks: BTC 1, A02-A07 2-7, A12 8, A13 9, A11 10, A08 11, A09 12,
    A10 13. SELECT10: A10 (13 >= 13) deleted, A12 (8 <= 8) inserted; A08 (11) and A09 (12) stay
    inside the buffer; A13 (9) and A11 (10) are not inserted. A plain top 10 would differ."""
    mar = basket(selection_run, "SELECT10", "2024-03-17T20:00Z")
    assert set(mar) == {"BTC", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "A12"}
    assert mar["A08"]["rank"] == 11 and mar["A12"]["rank"] == 8
    acts = actions(selection_run, "SELECT10", "2024-03")
    assert acts["A10"] == ["delete"] and acts["A12"] == ["add"]
    assert all(acts[a] == ["keep"] for a in ("BTC", "A02", "A07", "A08", "A09"))
    assert "add" not in acts.get("A13", []) and "add" not in acts.get("A11", [])


def test_more_than_n_deletes_lowest_ranked_previous(selection_run):
    """SPEC §4.3 at Mar 2024, ex-BTC ranks: A02-A07 1-6, A12 7, A13 8, A11 9, A08 10, A09 11,
    A10 12. Nobody is at 13 or below; A12 and A13 (<= 8) come in, so 12 qualify and the two
    lowest-ranked previous constituents, A10 (12) and A09 (11), go."""
    mar = basket(selection_run, "SELECT10_EXBTC", "2024-03-17T20:00Z")
    assert set(mar) == {"A02", "A03", "A04", "A05", "A06", "A07", "A12", "A13", "A11", "A08"}
    acts = actions(selection_run, "SELECT10_EXBTC", "2024-03")
    assert acts["A09"] == ["delete"] and acts["A10"] == ["delete"]
    assert acts["A12"] == ["add"] and acts["A13"] == ["add"] and acts["A11"] == ["keep"]


def test_fewer_than_n_inserts_highest_ranked_non_constituents(selection_run):
    """SPEC §4.3, §8.4, §3.8 at Jun 2024: A03 is off the June list, A04 has no review price.
    SELECT10 eligible ranks: BTC 1, A02 2, A05-A07 3-5, A12 6, A08 7, A09 8, A13 9, A11 10,
    A10 11. Eight stay; no non-constituent is ranked <= 8, so the two highest-ranked ones,
    A13 (9) and A11 (10), are inserted."""
    jun = basket(selection_run, "SELECT10", "2024-06-23T20:00Z")
    assert set(jun) == {"BTC", "A02", "A05", "A06", "A07", "A08", "A09", "A12", "A13", "A11"}
    acts = actions(selection_run, "SELECT10", "2024-06")
    assert acts["A03"] == ["delete"] and acts["A04"] == ["delete"]
    assert acts["A13"] == ["add"] and acts["A11"] == ["add"]
    # ex-BTC ranks: A02 1, A05-A07 2-4, A12 5, A08 6, A09 7, A13 8, A11 9, A10 10: A09 comes
    # in at 7 (<= 8), then A10, the highest-ranked non-constituent left, fills the tenth place.
    ex = basket(selection_run, "SELECT10_EXBTC", "2024-06-23T20:00Z")
    assert set(ex) == {"A02", "A05", "A06", "A07", "A08", "A09", "A10", "A11", "A12", "A13"}


def test_missing_review_price_deletes_a_constituent_with_reason(selection_run):
    """SPEC §3.8: no price at the review price time makes A04 ineligible; the report says why."""
    rows = review_rows(selection_run, "SELECT10", "2024-06", "A04")
    assert [r["action"] for r in rows] == ["delete"]
    assert "§3.8" in rows[0]["reason"]
    rows = review_rows(selection_run, "SELECT10", "2024-06", "A03")
    assert "21shares_inclusion" in rows[0]["reason"]


def test_ineligible_assets_never_selected(selection_run):
    """SPEC §8.4, §8.3: no universe row, not on the list, liquidity flag off, no review price,
    supply 0 at the cut-off: never a constituent of either index."""
    members = {r["asset"] for r in selection_run.constituents.to_pylist()}
    assert not members & {"X_NOLIST", "X_NOUNI", "X_ILLIQ", "X_NOPRICE", "X_ZEROSUP"}
    assert "BTC" not in {r["asset"] for r in selection_run.constituents.to_pylist()
                         if r["index"] == "SELECT10_EXBTC"}


def test_missing_review_price_reason_row_for_a_non_constituent(selection_run):
    """SPEC §3.8, §6.3: X_NOPRICE (never a member) gets a row saying why it is ineligible."""
    rows = review_rows(selection_run, "SELECT10", "2023-12", "X_NOPRICE")
    assert rows and all(r["action"] not in ("add", "keep") for r in rows)
    assert any("§3.8" in r["reason"] for r in rows)


def test_constant_prices_keep_the_level_at_1000(selection_run):
    """SPEC §3.5: with every price constant, each rebalance keeps I(C) under both baskets, so
    the level stays 1000 through the Mar and Jun reviews."""
    for index in ("SELECT10", "SELECT10_EXBTC"):
        lv = levels_of(selection_run, index)
        assert ns("2024-06-24T20:00Z") in lv
        assert all(v[0] == pytest.approx(1000.0, rel=1e-12) for v in lv.values())


# --- 3. the turnover rule (SPEC §4.4) ------------------------------------------------------
#
# T01..T10, 1h price 10 each, supply 100 each: Mar 2024 review weights 0.1 each, d = 10000/1000
# = 10. June cut-off supplies move; June review prices are still 10, so w_new_i = s_e,i / sum.
# After E (from 2024-06-24 00:00Z) T01 doubles to 20, which shows the units in force.
TURN_GRID = ("2024-02-25T00:00Z", "2024-06-25T00:00Z")
TEN = [f"T{i:02d}" for i in range(1, 11)]


def turnover_tables(june_supply: dict[str, float]) -> dict[str, pa.Table]:
    t = hour_grid(*TURN_GRID)
    series = {a: step(t, 10.0) for a in TEN}
    series["T01"] = step(t, 10.0, ("2024-06-24T00:00Z", 20.0))
    supply = [("2024-02-01T00:00Z", a, 100.0) for a in TEN]
    supply += [("2024-05-15T00:00Z", a, s) for a, s in june_supply.items()]
    return {
        "prices": prices_table(t, {"1h": series}),
        "supply": supply_table(supply),
        "universe": universe_table([("2024-03", a, True) for a in TEN]),
        "lists": inclusion_table({"2024-03": TEN}),
    }


def test_ties_broken_by_asset_id():
    """SPEC §4.3: eleven assets of equal market value (10 * 100), listed in reverse order:
    the top 10 by asset id, K00..K09; K10 is out."""
    names = [f"K{i:02d}" for i in range(10, -1, -1)]
    t = hour_grid(*TURN_GRID)
    tables = {
        "prices": prices_table(t, {"1h": {a: step(t, 10.0) for a in names}}),
        "supply": supply_table([("2024-02-01T00:00Z", a, 100.0) for a in names]),
        "universe": universe_table([("2024-03", a, True) for a in names]),
        "lists": inclusion_table({"2024-03": names}),
    }
    res = backfill(tables, indices=["SELECT10"])
    mar = basket(res, "SELECT10", "2024-03-17T20:00Z")
    assert {a: r["rank"] for a, r in mar.items()} == {f"K{i:02d}": i + 1 for i in range(10)}


def _split(up: float, down: float) -> dict[str, float]:
    return {a: (up if i < 5 else down) for i, a in enumerate(TEN)}


def test_turnover_just_below_106bp_keeps_s_times_f():
    """SPEC §4.4: T01-T05 supply 101.05, T06-T10 98.95 (sum 1000): w_new = .10105 / .09895,
    |dw| = .00105 each (< 20 bp), two-way 10 * .00105 = .0105 < .0106: keep s*f, so
    f_e = s_c*f_c/s_e = 100/101.05 (100/98.95), units stay 100. After T01 doubles:
    (20*100 + 9*10*100)/10 = 1100."""
    res = backfill(turnover_tables(_split(101.05, 98.95)), indices=["SELECT10"])
    jun = basket(res, "SELECT10", "2024-06-23T20:00Z")
    assert jun["T01"]["supply"] == 101.05
    assert jun["T01"]["factor"] == pytest.approx(100 / 101.05, rel=1e-12)
    assert jun["T10"]["factor"] == pytest.approx(100 / 98.95, rel=1e-12)
    assert all(r["weight"] == pytest.approx(0.1, rel=1e-12) for r in jun.values())
    assert levels_of(res, "SELECT10")[ns("2024-06-24T20:00Z")][0] == pytest.approx(1100.0,
                                                                                  rel=1e-12)
    assert actions(res, "SELECT10", "2024-06") == {a: ["keep"] for a in TEN}


def test_turnover_just_above_106bp_resets_f():
    """SPEC §4.4: 101.07 / 98.93: |dw| = .00107 (< 20 bp) but two-way .0107 >= .0106: f = 1,
    units = new supply. d stays 10 (MV at C: 10*(5*101.07 + 5*98.93) = 10000). After T01
    doubles: (20*101.07 + 10*(4*101.07 + 5*98.93))/10 = (2021.4 + 8989.3)/10 = 1101.07."""
    res = backfill(turnover_tables(_split(101.07, 98.93)), indices=["SELECT10"])
    jun = basket(res, "SELECT10", "2024-06-23T20:00Z")
    assert all(r["factor"] == pytest.approx(1.0) for r in jun.values())
    assert jun["T01"]["weight"] == pytest.approx(0.10107, rel=1e-12)
    lv = levels_of(res, "SELECT10")
    assert lv[ns("2024-06-24T20:00Z")][0] == pytest.approx(1101.07, rel=1e-12)
    assert lv[ns("2024-06-24T20:00Z")][1] == pytest.approx(10.0, rel=1e-12)


def test_turnover_one_constituent_above_20bp_resets_f():
    """SPEC §4.4: T01 102.1, T10 97.9, others 100: |dw| = .0021 for two members (>= 20 bp),
    two-way .0042 (< 106 bp): f = 1. After T01 doubles: (2042 + 10*(800 + 97.9))/10 = 1102.1."""
    res = backfill(turnover_tables({"T01": 102.1, "T10": 97.9}), indices=["SELECT10"])
    jun = basket(res, "SELECT10", "2024-06-23T20:00Z")
    assert jun["T01"]["factor"] == pytest.approx(1.0) and jun["T01"]["supply"] == 102.1
    assert levels_of(res, "SELECT10")[ns("2024-06-24T20:00Z")][0] == pytest.approx(1102.1,
                                                                                  rel=1e-12)


# --- 4. the schedule before March 2022 (SPEC §4.1, §8.3) -----------------------------------
#
# A, B, C on the 1h window. A 10 (15 from 2021-05-01); B 20 except 60 at exactly the April
# review price time 2021-03-31 20:00Z; C 5 (10 from 2021-07-12). Supply A 100, then 120 from
# 2021-03-31 22:00Z (after the review price time, exactly at the cut-off: it counts) and 130
# from 2021-04-01 (after the cut-off: it does not, until July); B 100; C 200. C joins the
# 21Shares list in July.
def old_schedule_tables() -> dict[str, pa.Table]:
    t = hour_grid("2021-03-25T00:00Z", "2021-07-20T00:00Z")
    b = step(t, 20.0)
    b[t == ns("2021-03-31T20:00Z")] = 60.0
    series = {"A": step(t, 10.0, ("2021-05-01T00:00Z", 15.0)), "B": b,
              "C": step(t, 5.0, ("2021-07-12T00:00Z", 10.0))}
    return {
        "prices": prices_table(t, {"1h": series}),
        "supply": supply_table([("2021-03-01T00:00Z", "A", 100), ("2021-03-31T22:00Z", "A", 120),
                                ("2021-04-01T00:00Z", "A", 130), ("2021-03-01T00:00Z", "B", 100),
                                ("2021-03-01T00:00Z", "C", 200)]),
        "universe": universe_table([("2021-04", a, True) for a in "ABC"]),
        "lists": inclusion_table({"2021-04": ["A", "B"], "2021-07": ["A", "B", "C"]}),
    }


@pytest.fixture(scope="module")
def old_run():
    return backfill(old_schedule_tables(), indices=["SELECT10"])


def test_old_schedule_effective_instants(old_run):
    """SPEC §4.1: before Mar 2022 E is 16:00 ET on the Sunday after the 2nd Friday."""
    assert effectives(old_run, "SELECT10") == [at("2021-04-11T20:00Z"), at("2021-07-11T20:00Z")]
    lv = levels_of(old_run, "SELECT10")
    assert min(lv) == ns("2021-04-11T20:00Z")
    assert lv[ns("2021-04-11T20:00Z")][0] == pytest.approx(1000.0, rel=1e-12)


def test_old_schedule_review_prices_before_the_first_friday(old_run):
    """SPEC §4.1, §8.3: April 2021 review prices at Wed 2021-03-31 16:00 ET (20:00Z), taken
    literally though before the 22:00Z cut-off: B = 60 * 100 = 6000, A = 10 * 120 = 1200
    (supply at the cut-off); weights 6000/7200 = 5/6 and 1/6."""
    apr = basket(old_run, "SELECT10", "2021-04-11T20:00Z")
    assert {a: (r["market_value"], r["supply"], r["weight"], r["rank"]) for a, r in apr.items()} \
        == {"B": (pytest.approx(6000.0), 100.0, pytest.approx(5 / 6), 1),
            "A": (pytest.approx(1200.0), 120.0, pytest.approx(1 / 6), 2)}


@pytest.mark.parametrize(
    ("when", "level", "divisor"),
    [
        # E: A 10*120 + B 20*100 = 3200, d = 3.2
        ("2021-04-11T20:00Z", 1000.0, 3.2),
        ("2021-05-03T20:00Z", 1187.5, 3.2),  # A 15: (1800 + 2000)/3.2
        # July: prices 2021-06-30 20:00Z A 15, B 20, C 5; supply A 130, B 100, C 200:
        # MV 1950 + 2000 + 1000 = 4950. C = 2021-07-09 20:00Z: MV_old 3800, d = 3.2*4950/3800
        ("2021-07-09T20:00Z", 1187.5, 3.2),
        ("2021-07-11T20:00Z", 1187.5, 3.2 * 4950 / 3800),
        # C 10: (1950 + 2000 + 2000)/(3.2*4950/3800) = 5950*3800/15840
        ("2021-07-12T20:00Z", 5950 * 3800 / 15840, 3.2 * 4950 / 3800),
    ],
)
def test_old_schedule_levels(old_run, when, level, divisor):
    """SPEC §3.5-§3.6 on the pre-2022 calendar."""
    got = levels_of(old_run, "SELECT10")[ns(when)]
    assert got[0] == pytest.approx(level, rel=1e-12)
    assert got[1] == pytest.approx(divisor, rel=1e-12)


def test_old_schedule_review_rows(old_run):
    """SPEC §6.3: April adds A and B; July keeps them and adds C (now on the list)."""
    assert actions(old_run, "SELECT10", "2021-04") == {"A": ["add"], "B": ["add"]}
    assert actions(old_run, "SELECT10", "2021-07") == {"A": ["keep"], "B": ["keep"],
                                                       "C": ["add"]}


def test_switch_from_the_old_to_the_new_schedule():
    """SPEC §4.1: Jan 2022 is the last old-schedule review (prices Wed 2022-01-05 21:00Z, before
    the first Friday Jan 7; E = Sun 2022-01-16 21:00Z after the second Friday), Mar 2022 the
    first new one (prices Wed 2022-03-09 21:00Z, after the first Friday Mar 4, still EST;
    C = 3rd Friday 2022-03-18 20:00Z and E = Sun 2022-03-20 20:00Z, EDT from Mar 13).
    A = 10, B = 20 except 40 at exactly each review price time; supply 100 each: at each
    review MV B = 4000, A = 1000, weights .8 and .2."""
    t = hour_grid("2021-12-20T00:00Z", "2022-03-25T00:00Z")
    b = step(t, 20.0)
    b[np.isin(t, [ns("2022-01-05T21:00Z"), ns("2022-03-09T21:00Z")])] = 40.0
    tables = {
        "prices": prices_table(t, {"1h": {"A": step(t, 10.0), "B": b}}),
        "supply": supply_table([("2021-12-01T00:00Z", a, 100) for a in "AB"]),
        "universe": universe_table([("2022-01", a, True) for a in "AB"]),
        "lists": inclusion_table({"2022-01": ["A", "B"]}),
    }
    res = backfill(tables, indices=["SELECT10"])
    assert effectives(res, "SELECT10") == [at("2022-01-16T21:00Z"), at("2022-03-20T20:00Z")]
    for e in ("2022-01-16T21:00Z", "2022-03-20T20:00Z"):
        got = basket(res, "SELECT10", e)
        assert got["B"]["market_value"] == pytest.approx(4000.0)
        assert got["B"]["weight"] == pytest.approx(0.8)
    lv = levels_of(res, "SELECT10")
    assert ns("2022-03-18T20:00Z") in lv and ns("2022-03-18T21:00Z") not in lv
