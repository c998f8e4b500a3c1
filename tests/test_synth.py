"""The synthetic data generator: every SPEC §6.1 table, deterministic, realistic enough to
exercise the rules of SPEC §2-§4 and §8."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from daix.catalogue import GRAYSCALE_SECTORS, get_index
from daix.cli import main
from daix.errors import ConfigError
from daix.io import DataSet
from daix.schemas import INPUTS, LIST_NAMES, arrow_schema
from daix.synth import synthesize, synthesize_tables, synthetic_trades
from daix.synth_assets import asset_ids
from daix.timeutil import NS_PER_DAY, NS_PER_HOUR, parse_instant

SINGLE = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOT", "TON", "XDC"]
END = parse_instant("2025-12-31T22:00:00Z")
START = parse_instant("2024-12-31T22:00:00Z")  # 1 year = round(365.25) = 365 days before


@pytest.fixture(scope="module")
def tables():
    return synthesize_tables(assets=30, years=1, seed=0)


def _np(col) -> np.ndarray:
    return col.to_numpy(zero_copy_only=False)


def _ns(col) -> np.ndarray:
    return _np(col.cast(pa.int64()))


def _caps_at(tables, ts_ns: int) -> dict[str, float]:
    """Market value per asset: the 15m price at ``ts_ns`` x the latest supply at or before it
    (SPEC §3.2)."""
    p = tables["prices"]
    p = p.filter(pc.and_(pc.equal(p["window"], "15m"),
                         pc.equal(p["ts"].cast(pa.int64()), ts_ns)))
    price = dict(zip(p["asset"].to_pylist(), p["price"].to_pylist(), strict=True))
    s = tables["supply"]
    s = s.filter(pc.less_equal(s["ts"].cast(pa.int64()), ts_ns))
    latest: dict[str, tuple[int, float]] = {}
    for ts, a, v in zip(_ns(s["ts"]), s["asset"].to_pylist(),
                        s["circulating_supply"].to_pylist(), strict=True):
        if a not in latest or ts > latest[a][0]:
            latest[a] = (ts, v)
    return {a: price[a] * latest[a][1] for a in price if a in latest and price[a] is not None}


def test_same_seed_same_tables_other_seed_different():
    a = synthesize_tables(assets=12, years=0.5, seed=3)
    b = synthesize_tables(assets=12, years=0.5, seed=3)
    c = synthesize_tables(assets=12, years=0.5, seed=4)
    for name in INPUTS:
        assert a[name].equals(b[name]), name
    assert not a["prices"].equals(c["prices"])
    assert not a["trades"].equals(c["trades"])


def test_every_table_has_the_spec_columns_and_types(tables):
    assert set(tables) == set(INPUTS)
    ds = DataSet(tables)
    for name in INPUTS:
        assert tables[name].schema == arrow_schema(name), name
        assert tables[name].num_rows > 0, name
        assert ds.table(name).num_rows == tables[name].num_rows  # passes SPEC §6.2 checks


def test_assets_first_are_the_single_asset_tickers(tables):
    assert tables["assets"]["asset"].to_pylist()[:8] == SINGLE
    assert tables["assets"]["asset"].to_pylist()[8:10] == ["A0009", "A0010"]
    assert asset_ids(3) == ["BTC", "ETH", "SOL"]
    assert asset_ids(10)[8:] == ["A0009", "A0010"]
    assert asset_ids(12000)[-1] == "A12000"


def test_sector_codes_cover_every_custom_and_grayscale_code(tables):
    assets = tables["assets"].to_pylist()
    sectors = {r["sector"] for r in assets}
    subsectors = {r["subsector"] for r in assets}
    assert all(len(r["sector"]) == 6 and r["subsector"][:6] == r["sector"] for r in assets)
    assert {"701010", "701020", "702010", "702020", "702030", "702040", "702050", "703010",
            "704010"} <= sectors
    assert {"70102010", "70102015", "70201010", "70201020", "70201025", "70201035",
            "70201040", "70201050", "70201060"} <= subsectors
    by_id = {r["asset"]: r for r in assets}
    assert by_id["BTC"]["sector"] == "701010"
    assert all(by_id[a]["sector"] == "702020" for a in ("ETH", "SOL", "ADA", "DOT"))
    for key, codes in GRAYSCALE_SECTORS.items():  # SPEC §5 sector definitions
        n = sum(r["sector"] in codes or r["subsector"] in codes for r in assets)
        assert n >= 3, key
    for index in ("CUSTOM_INFRA", "CUSTOM_APP"):
        codes = get_index(index).sectors
        assert sum(r["sector"] in codes for r in assets) >= 3, index


def test_prices_hourly_both_windows_with_late_listings_and_gaps(tables):
    p = tables["prices"]
    ts = _ns(p["ts"])
    assert ts.min() == START and ts.max() == END
    assert np.all(ts % NS_PER_HOUR == 0)
    assert set(p["window"].to_pylist()) == {"15m", "1h"}
    keys = p.select(["ts", "asset", "window"]).group_by(["ts", "asset", "window"]).aggregate(
        [([], "count_all")])
    assert keys.num_rows == p.num_rows  # no duplicate (ts, asset, window), SPEC §6.2
    # 30 assets x 2 windows x (24 x 365 + 1) hours if every asset listed at the start with no
    # gap; late listings, missing hours and missing days make it fewer.
    assert p.num_rows < 30 * 2 * 8761
    firsts = p.group_by("asset").aggregate([("ts", "min")])
    assert sum(t > START for t in _ns(firsts["ts_min"])) >= 2  # some list partway
    # Gaps: some asset listed from the start misses hours, and one misses a whole UTC day
    # (24 hours: consecutive rows 25 or more hours apart).
    q = p.filter(pc.equal(p["window"], "15m"))
    longest, short = 0, 0
    for asset in set(q["asset"].to_pylist()):
        t = np.sort(_ns(q.filter(pc.equal(q["asset"], asset))["ts"]))
        if t[0] == START:
            short += t.size < 8761
            longest = max(longest, int(np.diff(t).max() // NS_PER_HOUR))
    assert short >= 1 and longest >= 25
    btc = p.filter(pc.equal(p["asset"], "BTC"))
    # The 1h fix is the smoother one: smaller hour-to-hour changes than the 15m fix.
    sd = {}
    for w in ("15m", "1h"):
        x = btc.filter(pc.and_(pc.equal(btc["window"], w), pc.is_valid(btc["price"])))
        sd[w] = np.std(np.diff(np.log(_np(x["price"]))))
    assert sd["1h"] < sd["15m"]


def test_market_values_span_orders_of_magnitude_btc_first(tables):
    caps = _caps_at(tables, END)
    values = np.array(list(caps.values()))
    assert values.max() / values.min() >= 1e3
    assert 1e6 < values.min() and values.max() < 5e12
    order = sorted(caps, key=caps.get, reverse=True)
    assert order[:2] == ["BTC", "ETH"]


def test_ranks_move_between_reviews(tables):
    """Top-20 membership changes, and market values cross the Grayscale thresholds, between
    quarterly cut-offs."""
    cut = [parse_instant(f"2025-{m:02d}-{d}T22:00:00Z") for m, d in ((2, 28), (5, 31),
                                                                      (8, 31), (11, 30))]
    caps = [_caps_at(tables, t) for t in cut]
    tops = [set(sorted(c, key=c.get, reverse=True)[:20]) for c in caps]
    assert any(tops[i] != tops[i + 1] for i in range(3))
    lines = (40e6, 50e6, 80e6, 100e6, 160e6, 200e6)  # SPEC §4.5: $50M/$40M, X and 0.8 X
    crossed = {(a, x) for i in range(3) for a in caps[i] for x in lines
               if a in caps[i + 1] and (caps[i][a] >= x) != (caps[i + 1][a] >= x)}
    assert len(crossed) >= 2


def test_supply_daily_positive(tables):
    s = tables["supply"]
    assert pc.min(s["circulating_supply"]).as_py() > 0
    assert np.all(_ns(s["ts"]) % NS_PER_DAY == 0)  # 00:00 UTC
    btc = s.filter(pc.equal(s["asset"], "BTC"))
    # Listed from the start: one row per date 2024-12-31 .. 2025-12-31 = 366 rows.
    assert btc.num_rows == 366
    v = _np(btc["circulating_supply"])
    assert np.all(np.diff(v) >= 0) and v[-1] > v[0]


def _first_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7)


def test_volume_has_assets_under_the_adtv_floors(tables):
    v = tables["volume"]
    assert v.schema.field("date").type == pa.date32()
    assert pc.min(v["volume_usd"]).as_py() >= 0
    days = _np(v["date"].cast(pa.int32()))
    assets = v["asset"].to_pylist()
    volume = _np(v["volume_usd"])
    # ADTV over the 28 dates before each quarterly review price date (SPEC §4.5, §8.4).
    below, above, short = 0, 0, 0
    for month in (3, 6, 9, 12):
        wed = _first_friday(2025, month) + dt.timedelta(days=5)
        w = (wed - dt.date(1970, 1, 1)).days
        sel = (days >= w - 28) & (days < w)
        per: dict[str, list[float]] = {}
        for a, x in zip(np.array(assets)[sel], volume[sel], strict=True):
            per.setdefault(a, []).append(x)
        for x in per.values():
            below += np.mean(x) < 250e3
            above += np.mean(x) >= 250e3
            short += len(x) < 21
    assert below >= 1 and above > below  # the $250K floor bites, for a few
    assert short >= 1  # an asset with under 21 days of record at a review


def test_universe_months_classes_and_new_entrants(tables):
    u = tables["universe"]
    months = sorted(set(u["review"].to_pylist()))
    assert months[0] == "2025-01" and months[-1] == "2026-01"  # cut-offs inside the history
    assert set(u["class"].to_pylist()) == {"benchmark", "non-benchmark"}
    rows = u.to_pylist()
    assert not any(r["new_entrant"] for r in rows if r["review"] == months[0])
    new = [r["asset"] for r in rows if r["new_entrant"]]
    assert new and len(new) == len(set(new))  # once, in the first month it appears
    first_month = {}
    for r in rows:
        first_month.setdefault(r["asset"], r["review"])
    assert all(first_month[a] > months[0] for a in new)
    assert sum(r["total_cap"] for r in rows) > 0.8 * len(rows)
    assert sum(r["liquidity_pass"] for r in rows) > 0.8 * len(rows)
    btc = [r for r in rows if r["asset"] == "BTC"]
    assert all(r["class"] == "benchmark" for r in btc)


def test_lists_start_after_the_history_and_cover_every_name(tables):
    lists = tables["lists"].to_pylist()
    assert {r["list"] for r in lists} == set(LIST_NAMES)
    months = sorted({r["review"] for r in lists})
    assert months[0] > "2025-01" and months[0][5:] in ("03", "06", "09", "12")
    first = months[0]
    named = {}
    for r in lists:
        if r["review"] == first:
            named.setdefault(r["list"], set()).add(r["asset"])
    assert "BTC" in named["21shares_inclusion"]
    assert 15 <= len(named["21shares_inclusion"]) <= 20
    assert named["grayscale_exclusion_scp"] & named["grayscale_inclusion_scp"]  # SPEC §8.4
    sectors = {r["asset"]: r["sector"] for r in tables["assets"].to_pylist()}
    scp = {a for a, s in sectors.items() if s == "702020"}
    assert 0 < len(named["grayscale_access"] & scp) < len(scp)
    assert "ETH" in named["grayscale_access"]
    for key in ("top20", "infrastructure", "application"):
        assert 1 <= len(named[f"hashkey_exclusion_{key}"]) <= 3
    incl = named["grayscale_inclusion_currencies"]
    assert any(sectors[a] not in GRAYSCALE_SECTORS["currencies"] for a in incl)


def test_deletions_are_mid_quarter_of_listed_assets(tables):
    d = tables["deletions"]
    assert d.num_rows >= 2
    prices = tables["prices"]
    for ts, asset in zip(_ns(d["ts"]), d["asset"].to_pylist(), strict=True):
        assert START < ts < END
        day = dt.datetime.fromtimestamp(ts / 1e9, dt.timezone.utc)
        assert day.month in (2, 5, 8, 11)  # two months after a quarterly review
        mine = prices.filter(pc.equal(prices["asset"], asset))
        assert pc.min(mine["ts"].cast(pa.int64())).as_py() < ts - 30 * NS_PER_DAY
        later = [r for r in tables["universe"].to_pylist()
                 if r["asset"] == asset and r["review"] > f"{day.year}-{day.month:02d}"]
        assert later == []  # out of the universe after its deletion


def test_fx_rates_and_coverage(tables):
    fx = tables["fx"]
    # Hourly from a day before the start to the end: (24 x 365 + 1 + 24) hours x 3 currencies.
    assert fx.num_rows == (24 * 365 + 1 + 24) * 3
    assert pc.min(fx["ts"].cast(pa.int64())).as_py() == START - NS_PER_DAY
    by = {c: _np(fx.filter(pc.equal(fx["currency"], c))["usd_per_unit"])
          for c in ("EUR", "USDT", "USDC")}
    assert 0.9 < by["EUR"].min() and by["EUR"].max() < 1.35
    assert abs(np.median(by["EUR"]) - 1.1) < 0.1
    assert abs(by["USDT"] - 1).max() < 0.01
    assert by["USDC"].min() < 0.92  # the de-peg episode
    assert np.mean(np.abs(by["USDC"] - 1) < 0.01) > 0.98


def test_exchanges_and_trades(tables):
    ex = tables["exchanges"].to_pylist()
    assert len(ex) == 10
    assert sum(r["valid_to"] is not None for r in ex) == 1
    t = tables["trades"]
    ts = _ns(t["ts"])
    assert ts.min() >= END - 2 * NS_PER_DAY and ts.max() < END
    assert set(t["quote"].to_pylist()) == {"USD", "USDT", "USDC", "EUR"}
    names = {r["exchange"] for r in ex}
    used = set(t["exchange"].to_pylist())
    assert len(used & names) == 10 and used - names == {"EX99"}  # EX99: unknown, SPEC §2.3
    assert pc.sum(pc.equal(t["size"], 0.0)).as_py() >= 1
    # Prices follow the path: a BTC trade in USD lies between the 15m fixes of the whole hours
    # around it (within 1% of noise), except on the outlier exchange EX07, which is sometimes
    # more than 5% outside (SPEC §2.4 screens it).
    p = tables["prices"]
    fix = p.filter(pc.and_(pc.equal(p["asset"], "BTC"), pc.equal(p["window"], "15m")))
    fix_at = dict(zip(_ns(fix["ts"]), fix["price"].to_pylist(), strict=True))
    btc = t.filter(pc.and_(pc.equal(t["asset"], "BTC"), pc.equal(t["quote"], "USD")))
    btc = btc.filter(pc.greater(btc["price"], 0))
    out: dict[bool, list[float]] = {True: [], False: []}
    for ts, e, price in zip(_ns(btc["ts"]), btc["exchange"].to_pylist(),
                            btc["price"].to_pylist(), strict=True):
        h = ts // NS_PER_HOUR * NS_PER_HOUR
        a, b = fix_at.get(h), fix_at.get(h + NS_PER_HOUR)
        if a and b:
            lo, hi = min(a, b), max(a, b)
            out[e == "EX07"].append(max(lo / price - 1, price / hi - 1, 0.0))
    assert len(out[False]) > 100 and max(out[False]) < 0.01
    assert max(out[True]) > 0.05


def test_defects_are_optional():
    dirty = synthesize_tables(assets=10, years=0.3, seed=1)
    clean = synthesize_tables(assets=10, years=0.3, seed=1, defects=False)
    assert dirty["prices"]["price"].null_count >= 3  # SPEC §8.2: counted, not fatal
    assert clean["prices"]["price"].null_count == 0
    assert pc.min(clean["trades"]["size"]).as_py() > 0
    assert "EX99" not in set(clean["trades"]["exchange"].to_pylist())
    # The defects change nothing else: same price rows, only some prices null.
    for name in ("supply", "volume", "universe", "lists", "fx"):
        assert clean[name].equals(dirty[name]), name
    keys = ["ts", "asset", "window"]
    assert clean["prices"].select(keys).equals(dirty["prices"].select(keys))
    valid = pc.is_valid(dirty["prices"]["price"])
    assert pc.filter(clean["prices"]["price"], valid).equals(
        pc.filter(dirty["prices"]["price"], valid))


def test_bad_arguments_are_config_errors():
    for kwargs in ({"assets": 0}, {"years": 0}, {"end": "31/12/2025"}, {"seed": -1},
                   {"years": 0.01, "trades_days": 10}):
        with pytest.raises(ConfigError):
            synthesize_tables(**kwargs)


def test_cli_writes_a_directory_readable_by_pyarrow(tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(main, ["synth", str(out), "--assets", "10", "--years", "0.3",
                                       "--seed", "2", "--trades-days", "1"])
    assert result.exit_code == 0, result.output
    assert "prices" in result.output and "trades" in result.output
    for name in INPUTS:
        table = pq.read_table(out / f"{name}.parquet")
        assert set(arrow_schema(name).names) <= set(table.column_names)
    ds = DataSet(out)
    for name in INPUTS:
        assert ds.table(name).schema == arrow_schema(name)
    expected = synthesize_tables(assets=10, years=0.3, seed=2, trades_days=1, defects=False)
    assert ds.table("prices").equals(expected["prices"])
    assert ds.table("lists").equals(expected["lists"])


def test_cli_csv_and_clashing_format(tmp_path):
    out = tmp_path / "csv"
    args = ["synth", str(out), "--assets", "5", "--years", "0.1", "--format", "csv"]
    assert CliRunner().invoke(main, args).exit_code == 0
    ds = DataSet(out)
    from daix.validation import validate

    assert validate(out).clean
    assert ds.table("universe").num_rows > 0
    # Parquet into the same directory would give every table twice: refused.
    result = CliRunner().invoke(main, ["synth", str(out), "--assets", "5", "--years", "0.1"])
    assert result.exit_code != 0 and "already holds" in result.output
    for kwargs in ({"fmt": "xml"}, {"assets": 0}):
        with pytest.raises(ConfigError):
            synthesize(tmp_path / "x", **{"assets": 5, "years": 0.1, **kwargs})
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_synthetic_trades_counts_quotes_and_outlier():
    out = synthetic_trades(20_000, n_assets=5, n_exchanges=10, days=2, seed=1)
    t = out["trades"]
    assert t.num_rows == 20_000 and t.schema == arrow_schema("trades")
    assert set(t["quote"].to_pylist()) == {"USD", "USDT", "USDC", "EUR"}
    assert out["exchanges"].num_rows == 10
    start = parse_instant("2025-01-01")
    ts = _ns(t["ts"])
    assert ts.min() >= start and ts.max() < start + 2 * NS_PER_DAY
    assert pc.min(out["fx"]["ts"].cast(pa.int64())).as_py() <= start  # SPEC §2.2
    assert pc.min(t["price"]).as_py() > 0 and pc.min(t["size"]).as_py() > 0
    # The outlier EX07: some BTC/USD trade more than 5% from the others of its hour.
    btc = t.filter(pc.and_(pc.equal(t["asset"], "BTC"), pc.equal(t["quote"], "USD")))
    hour = _ns(btc["ts"]) // NS_PER_HOUR
    price = _np(btc["price"])
    is_out = np.array([e == "EX07" for e in btc["exchange"].to_pylist()])
    devs = [abs(price[is_out & (hour == h)] / np.median(price[~is_out & (hour == h)]) - 1).max()
            for h in np.unique(hour[is_out]) if np.any(~is_out & (hour == h))]
    assert max(devs) > 0.05
    few = synthetic_trades(1_000, n_exchanges=2, seed=1)["trades"]
    assert few.num_rows == 1_000
    assert set(few["quote"].to_pylist()) == {"USD", "USDT", "USDC", "EUR"}
    assert set(few["exchange"].to_pylist()) == {"EX01", "EX02"}
