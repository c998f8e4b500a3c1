"""Top 20 selection with buffers and capping on real CoinMarketCap monthly snapshots (SPEC §3.3,
§3.4, §4.3), directly through the selection and weighting functions and end to end through
``backfill`` (CUSTOM_TOP20).

The snapshots (``daily_supply/cmc_monthly_top200_snapshots.csv.gz``, the 1st of every month
2020-01 to 2025-10) are read where they lie and never copied. Assets are keyed on Symbol and
Name; recognisable stablecoins are dropped. The snapshot dated the 1st of a review month stands
for the data at its cut-off (the last day of the prior month, SPEC §4.1).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from naive import weighting_factors_naive

from daix.engine.selection import buffer_select, rank
from daix.engine.weighting import cap_weights, weighting_factors

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SNAPSHOTS = REAL / "daily_supply" / "cmc_monthly_top200_snapshots.csv.gz"

STABLECOINS = {"USDT", "USDC", "DAI", "SAI", "BUSD", "TUSD", "USDP", "PAX", "UST", "FDUSD",
               "PYUSD", "USDD", "USDE", "GUSD", "HUSD", "USDN", "USDK", "SUSD", "FEI", "USD1",
               "RLUSD", "LUSD", "FRAX", "USDS"}
TS = pa.timestamp("ns", tz="UTC")
N, IN, OUT, CAP = 20, 18, 22, 0.40

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def snapshots() -> dict[dt.date, dict[str, tuple[float, float]]]:
    """snapshot date -> asset -> (price, circulating supply), stablecoins dropped."""
    if not SNAPSHOTS.exists():
        pytest.skip(f"real data not found at {REAL}")
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(SNAPSHOTS)
    out: dict[dt.date, dict[str, tuple[float, float]]] = {}
    for r in table.select(["Name", "Symbol", "Price", "Circulating Supply",
                           "snapshot_date"]).to_pylist():
        if str(r["Symbol"]).upper() in STABLECOINS:
            continue
        price, supply = r["Price"], r["Circulating Supply"]
        if not (price and supply and price > 0 and supply > 0):
            continue
        d = dt.datetime.strptime(str(r["snapshot_date"]), "%Y%m%d").date()
        out.setdefault(d, {})[f"{r['Symbol']}:{r['Name'].strip()}"] = (float(price),
                                                                        float(supply))
    return out


def review_months() -> list[dt.date]:
    """Quarterly reviews (SPEC §4.1) 2020-03 .. 2025-09, as the snapshot dates that feed them."""
    return [dt.date(y, m, 1) for y in range(2020, 2026) for m in (3, 6, 9, 12)
            if dt.date(y, m, 1) <= dt.date(2025, 9, 1)]


def market_values(snap: dict[str, tuple[float, float]], top: int | None = None
                  ) -> dict[str, float]:
    mv = {a: p * s for a, (p, s) in snap.items()}
    if top is not None:
        mv = {a: mv[a] for a in rank(mv)[:top]}
    return mv


def direct_selection(snapshots, top: int | None = None):
    """Buffered and plain top 20 at every quarterly review: (reviews, buffered changes,
    plain changes), each review as (date, members, market values)."""
    previous: set[str] | None = None
    plain_previous: set[str] | None = None
    changes = plain_changes = 0
    reviews = []
    for d in review_months():
        mv = market_values(snapshots[d], top)
        ranked = rank(mv)
        sel = buffer_select(ranked, previous, N, IN, OUT)
        plain = set(ranked[:N])
        members = set(sel.members)
        if previous is not None:
            changes += len(members - previous)
            plain_changes += len(plain - plain_previous)
        reviews.append((d, sel.members, mv, sel.ranks))
        previous, plain_previous = members, plain
    return reviews, changes, plain_changes


def test_buffered_top20_with_40pct_cap(snapshots):
    """SPEC §4.3 and §3.4 at all 23 quarterly reviews 2020-03..2025-09 on the full snapshots."""
    reviews, changes, plain_changes = direct_selection(snapshots)
    assert len(reviews) == 23
    for d, members, mv, ranks in reviews:
        assert len(members) == N, d
        # SPEC §4.3: every asset ranked <= 18 is in; no member ranked 22 or below survives.
        assert {a for a, r in ranks.items() if r <= IN} <= set(members), d
        assert max(ranks[a] for a in members) < OUT, d
        res = weighting_factors([mv[a] for a in members], "market_cap", cap=CAP)
        assert res.feasible
        assert float(np.max(res.weights)) <= CAP * (1 + 1e-12), d
        assert float(np.sum(res.weights)) == pytest.approx(1.0, abs=1e-12)
        assert float(np.max(res.factors)) == 1.0
        ref_factors, ref_weights, *_ = weighting_factors_naive([mv[a] for a in members],
                                                               "market_cap", cap=CAP)
        np.testing.assert_allclose(res.weights, ref_weights, rtol=1e-12)
        np.testing.assert_allclose(res.factors, ref_factors, rtol=1e-12)
        capped = cap_weights([mv[a] for a in members], CAP)
        np.testing.assert_allclose(capped, ref_weights, rtol=1e-12)
    print(f"\nconstituent changes 2020-03..2025-09: buffered 18/22 {changes}, "
          f"plain top 20 {plain_changes}")
    # The buffers exist to cut turnover (Crypto Select ground rules §5.4.3; SPEC §4.3).
    assert 0 < changes < plain_changes


# --- end to end: CUSTOM_TOP20 over 2020-2025 --------------------------------------------
TOP_UNIVERSE = 40  # ranks beyond 22 never matter to an 18/22 top 20: the top 40 suffice


def cutoff_of(snapshot: dt.date) -> dt.datetime:
    """The Custom cut-off the snapshot stands for: last day of the prior month, 10:00Z."""
    prior = snapshot - dt.timedelta(days=1)
    return dt.datetime(prior.year, prior.month, prior.day, 10, tzinfo=dt.timezone.utc)


def snapshot_tables(snapshots) -> dict[str, pa.Table]:
    """Daily 10:00Z fixes holding each snapshot's price from its cut-off to the next one; supply
    rows at each cut-off; one universe snapshot per month (every asset a Total Cap member)."""
    dates = sorted(d for d in snapshots if dt.date(2020, 2, 1) <= d <= dt.date(2025, 10, 1))
    ts, asset, price = [], [], []
    s_ts, s_asset, s_val = [], [], []
    u_month, u_asset = [], []
    for i, d in enumerate(dates):
        mv = market_values(snapshots[d], TOP_UNIVERSE)
        start = cutoff_of(d)
        stop = cutoff_of(dates[i + 1]) if i + 1 < len(dates) else start + dt.timedelta(days=20)
        days = (stop - start).days
        for a in mv:
            p, s = snapshots[d][a]
            for k in range(days):
                ts.append(start + dt.timedelta(days=k))
                asset.append(a)
                price.append(p)
            s_ts.append(start)
            s_asset.append(a)
            s_val.append(s)
            u_month.append(f"{d.year:04d}-{d.month:02d}")
            u_asset.append(a)
    n = len(u_asset)
    return {
        "prices": pa.table({"ts": pa.array(ts, TS), "asset": asset,
                            "window": ["15m"] * len(ts), "price": price}),
        "supply": pa.table({"ts": pa.array(s_ts, TS), "asset": s_asset,
                            "circulating_supply": s_val}),
        "universe": pa.table({"review": u_month, "asset": u_asset, "total_cap": [True] * n,
                              "class": ["benchmark"] * n, "liquidity_pass": [True] * n,
                              "new_entrant": [False] * n}),
    }


def test_backfill_custom_top20_on_snapshots(snapshots):
    """SPEC §4.1, §4.3, §3.3-§3.5 end to end: every quarterly basket of CUSTOM_TOP20 is the
    buffered selection computed directly (ranking at the cut-off = the snapshot's market
    values), with the capped market-cap weights of the naive reference; levels are finite and
    positive; the divisor changes only at basket changes."""
    from daix.engine.backfill import backfill

    res = backfill(snapshot_tables(snapshots), indices=["CUSTOM_TOP20"])
    reviews, _, _ = direct_selection(snapshots, TOP_UNIVERSE)
    rows = res.constituents.to_pylist()
    by_month: dict[str, dict[str, dict]] = {}
    months = {r["review"] for r in res.reviews.to_pylist() if r["action"] in ("add", "keep")}
    for r in rows:
        by_month.setdefault(r["effective"], {})[r["asset"]] = r
    assert len(months) == 23
    for d, members, mv, _ in reviews:
        # the basket whose effective instant falls in the review month after its cut-off
        eff = [e for e in by_month if (e.year, e.month) == (d.year, d.month) and e.day > 14]
        assert len(eff) == 1, d
        got = by_month[eff[0]]
        assert set(got) == set(members), d
        _, ref_weights, *_ = weighting_factors_naive([mv[a] for a in members], "market_cap",
                                                     cap=CAP)
        for a, w in zip(members, ref_weights, strict=True):
            assert got[a]["weight"] == pytest.approx(w, rel=1e-9), (d, a)
            assert got[a]["weight"] <= CAP * (1 + 1e-12)
    level = np.asarray(res.levels.column("level").to_numpy(zero_copy_only=False), float)
    assert level.size > 1500 and np.all(np.isfinite(level)) and np.all(level > 0)
