"""Shared benchmark helpers: deterministic synthetic trades and a readable ratio summary.

Benchmarks pass their headline numbers to the ``record`` fixture; the session-finish hook prints
them after pytest-benchmark's table, so every ratio against a same-run baseline is in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

#: Instants of the synthetic data: 30 days from 2024-01-01 00:00 UTC.
START_NS = 1_704_067_200 * 1_000_000_000
NS_PER_HOUR = 3_600_000_000_000
QUOTES = ("USD", "USDT", "USDC", "EUR")

_SUMMARY: list[tuple[str, str]] = []


def add_summary_line(name: str, text: str) -> None:
    """Add a line to the summary printed at the end of the session."""
    _SUMMARY.append((name, text))


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` modules too (``pytest bench``)."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):  # named files are collected anyway
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def record():
    """``record(name, text)``: a line of the summary printed at the end of the session."""
    return add_summary_line


def pytest_terminal_summary(terminalreporter) -> None:
    if not _SUMMARY:
        return
    terminalreporter.section("daix benchmark summary")
    width = max(len(n) for n, _ in _SUMMARY)
    for name, text in _SUMMARY:
        terminalreporter.write_line(f"{name:<{width}}  {text}")


def synthetic_trades(
    n_trades: int, n_assets: int = 50, n_exchanges: int = 10, days: int = 30, seed: int = 0
) -> dict[str, Any]:
    """``{"trades", "fx", "exchanges"}`` pyarrow tables of realistic-looking synthetic trades.

    Trades are in time order, spread over ``days`` from 2024-01-01 UTC, on ``n_assets`` assets
    and ``n_exchanges`` exchanges quoting in USD, USDT, USDC and EUR. Prices follow an hourly
    random walk per asset, quoted in the quote currency at the hourly FX rate; one exchange
    quotes 8% high (screened out by the median rule), about 0.1% of the trades have a bad
    price or size, the last exchange is not in the exchanges table and another one's vetted
    period ends on day 20. The string columns are dictionary encoded, as a Parquet reader
    returns them.
    """
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    hours = days * 24
    span = days * 24 * NS_PER_HOUR
    gaps = rng.random(n_trades)
    ts = START_NS + (np.cumsum(gaps) * (span / gaps.sum())).astype(np.int64)
    np.minimum(ts, START_NS + span - 1, out=ts)
    weights = 1.0 / np.arange(1, n_assets + 1)
    asset = rng.choice(n_assets, size=n_trades, p=weights / weights.sum()).astype(np.int32)
    ex_weights = np.ones(n_exchanges)
    ex_weights[-1] = 0.1
    exchange = rng.choice(n_exchanges, size=n_trades, p=ex_weights / ex_weights.sum())
    exchange = exchange.astype(np.int32)
    quote = rng.integers(0, len(QUOTES), size=n_trades, dtype=np.int32)
    hour = ((ts - START_NS) // NS_PER_HOUR).astype(np.int64)

    base = np.exp(rng.uniform(np.log(0.05), np.log(60_000.0), n_assets))
    walk = np.cumsum(rng.normal(0.0, 0.01, (n_assets, hours + 1)), axis=1)
    usd_path = base[:, None] * np.exp(walk)
    fx_rate = np.ones((len(QUOTES), hours + 2))
    fx_rate[1] = 1.0 + rng.normal(0.0, 0.001, hours + 2)
    fx_rate[2] = 1.0 + rng.normal(0.0, 0.0005, hours + 2)
    fx_rate[3] = 1.08 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, hours + 2)))
    # the fx row at H covers [H, H+1h): rows are stamped on the hour, from one hour before start
    price = usd_path[asset, hour] * (1.0 + rng.normal(0.0, 0.0005, n_trades))
    price /= fx_rate[quote, hour + 1]
    price[exchange == 3] *= 1.08
    size = rng.lognormal(0.0, 1.0, n_trades) / base[asset] * 1000.0
    bad = rng.random(n_trades)
    price[bad < 0.0005] = np.nan
    size[(bad >= 0.0005) & (bad < 0.001)] = 0.0

    tz = pa.timestamp("ns", tz="UTC")
    asset_names = [f"A{i:02d}" for i in range(n_assets)]
    exchange_names = [f"ex{i}" for i in range(n_exchanges)]
    trades = pa.table({
        "ts": pa.array(ts, tz),
        "asset": pa.DictionaryArray.from_arrays(pa.array(asset), pa.array(asset_names)),
        "exchange": pa.DictionaryArray.from_arrays(pa.array(exchange), pa.array(exchange_names)),
        "quote": pa.DictionaryArray.from_arrays(pa.array(quote), pa.array(list(QUOTES))),
        "price": pa.array(price),
        "size": pa.array(size),
    })
    fx_ts = START_NS + (np.arange(hours + 2) - 1) * NS_PER_HOUR
    fx = pa.table({
        "ts": pa.array(np.tile(fx_ts, 3), tz),
        "currency": np.repeat(np.array(QUOTES[1:]), hours + 2),
        "usd_per_unit": np.concatenate([fx_rate[1], fx_rate[2], fx_rate[3]]),
    })
    vetted_to = [None] * (n_exchanges - 1)
    vetted_to[min(5, n_exchanges - 2)] = START_NS + 20 * 24 * NS_PER_HOUR
    exchanges = pa.table({
        "exchange": exchange_names[:-1],
        "valid_from": pa.array([START_NS - 24 * NS_PER_HOUR] * (n_exchanges - 1), tz),
        "valid_to": pa.array(vetted_to, tz),
    })
    return {"trades": trades, "fx": fx, "exchanges": exchanges}


@pytest.fixture(scope="session")
def synth():
    """The synthetic data generator (``daix.synth.synthetic_trades`` when it exists)."""
    try:
        from daix.synth import synthetic_trades as generator
    except ImportError:
        generator = synthetic_trades
    return generator
