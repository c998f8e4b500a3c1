"""Synthetic market data: hourly price paths, price rows, supply, daily volume, FX and trades.

Log prices follow a common market factor plus an idiosyncratic part, each a mean-reverting
(Ornstein-Uhlenbeck) walk with Student-t increments (fat tails), so that market values keep
their log-normal spread over any history length while ranks keep moving. Everything is
vectorised NumPy, generated in chunks of hours so that memory stays bounded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from daix.synth_assets import THIN_USD, Plan
from daix.timeutil import NS_PER_HOUR, NS_PER_MINUTE

HOURS_PER_YEAR = 8766.0
CHUNK_HOURS = 24 * 30
MARKET_VOL = 0.55  # yearly volatility of the common factor
MARKET_TAU_YEARS = 3.0  # mean-reversion time of the common factor
IDIO_TAU_YEARS = 1.5  # mean-reversion time of each asset's own part
T_DF = 3.0  # Student-t degrees of freedom of the increments
NOISE_15M = 0.25  # noise of the 15-minute fix, in hourly idiosyncratic standard deviations
MISSING_HOUR_RATE = 1e-4  # share of (hour, asset, window) price rows missing
NULL_PRICE_RATE = 1e-6  # share of price rows with a null price (SPEC §8.2), plus three
WINDOW_NAMES = ("15m", "1h")
FX_CURRENCIES = ("EUR", "USDT", "USDC")
QUOTES = ("USD", *FX_CURRENCIES)
QUOTE_WEIGHT = {"USD": 1.0, "USDT": 1.3, "USDC": 0.5, "EUR": 0.4}
#: Quote currencies listed by the exchanges, cycled (an exchange trades each asset in these).
QUOTE_SETS = (("USD", "EUR", "USDC"), ("USDT", "USDC"), ("USD", "USDT"), ("USDT",),
              ("USD", "EUR"), ("USDT", "USDC"), ("USD", "USDT"), ("USD", "USDC", "EUR"),
              ("USDT", "USD"), ("USD", "EUR"))
OUTLIER_SHARE = 0.12  # share of (hour, asset) windows in which the outlier exchange is off
UNKNOWN_EXCHANGE = "EX99"  # not in the exchanges table (SPEC §2.3), only with defects


def student_t(rng: np.random.Generator, shape) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(T_DF, size=shape) / np.sqrt(T_DF / (T_DF - 2.0))


def ou_block(x_prev, eps: np.ndarray, a: float) -> np.ndarray:
    """``x_t = a x_(t-1) + eps_t`` along axis 0, started from ``x_prev`` (exact, vectorised).

    ``x_j = a^j (a x_prev + sum_(i<=j) a^-i eps_i)``; keep blocks short enough that ``a^-j``
    stays moderate (:func:`ou_series` does).
    """
    j = np.arange(eps.shape[0], dtype=np.float64).reshape((-1,) + (1,) * (eps.ndim - 1))
    return a ** j * (a * np.asarray(x_prev) + np.cumsum(eps * a ** (-j), axis=0))


def ou_series(eps: np.ndarray, tau: float, x0=0.0) -> np.ndarray:
    """An Ornstein-Uhlenbeck path of any length with reversion time ``tau`` steps."""
    a = float(np.exp(-1.0 / tau))
    block = int(min(4096, max(16, 10 * tau)))
    out = np.empty_like(eps)
    x = np.asarray(x0, dtype=np.float64)
    for i in range(0, eps.shape[0], block):
        out[i:i + block] = ou_block(x, eps[i:i + block], a)
        x = out[min(i + block, eps.shape[0]) - 1]
    return out


def stationary_sd_step(sd: float, tau: float) -> float:
    """The step standard deviation giving an OU path of stationary deviation ``sd``."""
    a = np.exp(-1.0 / tau)
    return float(sd * np.sqrt(1.0 - a * a))


class PricePaths:
    """Hourly log USD price paths, chunk by chunk, the state carried between chunks.

    ``c`` is the path itself; the 15-minute fix is ``c`` plus a little noise and the 1-hour
    fix the mean of ``c`` over the hour's two ends, a slightly smoother version (SPEC §2.5).
    """

    def __init__(self, plan: Plan, rng: np.random.Generator) -> None:
        self.plan, self.rng = plan, rng
        self.base = plan.log_cap0 - plan.ln_supply[0]
        self.sig = plan.vol / np.sqrt(HOURS_PER_YEAR)
        self.a_mkt = float(np.exp(-1.0 / (MARKET_TAU_YEARS * HOURS_PER_YEAR)))
        self.a_idio = float(np.exp(-1.0 / (IDIO_TAU_YEARS * HOURS_PER_YEAR)))

    def chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(first hour, c, log 15m price, log 1h price)``, arrays (hours, assets)."""
        plan, rng = self.plan, self.rng
        n_assets = plan.n_assets
        m, x = np.zeros(1), np.zeros(n_assets)
        prev = self.base.copy()
        for h0 in range(0, plan.n_hours, CHUNK_HOURS):
            n = min(CHUNK_HOURS, plan.n_hours - h0)
            e_m = student_t(rng, (n, 1)) * (MARKET_VOL / np.sqrt(HOURS_PER_YEAR))
            e_x = student_t(rng, (n, n_assets)) * self.sig
            z = rng.standard_normal((n, n_assets))
            mk = ou_block(m, e_m, self.a_mkt)
            xs = ou_block(x, e_x, self.a_idio)
            m, x = mk[-1], xs[-1]
            c = self.base + mk * plan.beta + xs
            lp15 = c + z * (NOISE_15M * self.sig)
            lp1h = np.empty_like(c)
            lp1h[0] = 0.5 * (c[0] + prev)
            lp1h[1:] = 0.5 * (c[1:] + c[:-1])
            prev = c[-1].copy()
            yield h0, c, lp15, lp1h


class PriceRows:
    """Price rows from path chunks: only listed assets, a few gaps, rare nulls (SPEC §6.1).

    Rows come ordered by ``ts, asset, window``; ``asset`` and ``window`` are
    dictionary-encoded strings.
    """

    def __init__(self, plan: Plan, rng: np.random.Generator,
                 null_rng: np.random.Generator) -> None:
        import pyarrow as pa

        self.plan, self.rng = plan, rng
        self.spans = [(a, 24 * d - 22, 24 * (d + n) - 22) for a, d, n in plan.missing_days]
        self.assets = pa.array(plan.ids, pa.string())
        self.windows = pa.array(WINDOW_NAMES, pa.string())
        empty = np.empty(0, dtype=np.int64)
        self.null_h, self.null_flat = empty, empty
        if plan.defects:
            rows = 2 * float(np.sum(plan.n_hours - plan.list_hour))
            k = 3 + int(null_rng.poisson(rows * NULL_PRICE_RATE))
            a = null_rng.integers(0, plan.n_assets, k)
            span = plan.n_hours - plan.list_hour[a]
            h = plan.list_hour[a] + (null_rng.random(k) * span).astype(np.int64)
            w = null_rng.integers(0, 2, k)
            self.null_h = h
            self.null_flat = (h * plan.n_assets + a) * 2 + w

    def schema(self):
        import pyarrow as pa

        return pa.schema([("ts", pa.timestamp("ns", tz="UTC")),
                          ("asset", pa.dictionary(pa.int32(), pa.string())),
                          ("window", pa.dictionary(pa.int8(), pa.string())),
                          ("price", pa.float64())])

    def table(self, h0: int, lp15: np.ndarray, lp1h: np.ndarray):
        """The price rows of one chunk of hours."""
        import pyarrow as pa

        plan = self.plan
        n, n_assets = lp15.shape
        hours = np.arange(h0, h0 + n, dtype=np.int64)
        present = np.empty((n, n_assets, 2), dtype=bool)
        present[:] = (hours[:, None] >= plan.list_hour[None, :])[:, :, None]
        for a, lo, hi in self.spans:
            lo, hi = max(lo, h0) - h0, min(hi, h0 + n) - h0
            if lo < hi:
                present[lo:hi, a, :] = False
        flat = present.reshape(-1)
        k = int(self.rng.poisson(MISSING_HOUR_RATE * flat.size))
        flat[self.rng.integers(0, flat.size, k)] = False
        price = np.empty((n, n_assets, 2))
        np.exp(lp15, out=price[:, :, 0])
        np.exp(lp1h, out=price[:, :, 1])
        idx = np.flatnonzero(flat)
        mask = None
        sel = (self.null_h >= h0) & (self.null_h < h0 + n)
        if sel.any():
            null = np.zeros(flat.size, dtype=bool)
            null[self.null_flat[sel] - h0 * n_assets * 2] = True
            mask = null[idx]
        ts = plan.start_ns + (h0 + idx // (2 * n_assets)) * NS_PER_HOUR
        asset = pa.DictionaryArray.from_arrays(
            pa.array(((idx >> 1) % n_assets).astype(np.int32)), self.assets)
        window = pa.DictionaryArray.from_arrays(pa.array((idx & 1).astype(np.int8)),
                                                self.windows)
        return pa.Table.from_arrays(
            [pa.array(ts, pa.timestamp("ns", tz="UTC")), asset, window,
             pa.array(price.reshape(-1)[idx], pa.float64(), mask=mask)],
            schema=self.schema())


def strings(values: list[str], idx: np.ndarray):
    """A plain string array of ``values[idx]``."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(idx, dtype=np.int32)), pa.array(values, pa.string())
    ).dictionary_decode()


def supply_table(plan: Plan):
    """Daily circulating supply at 00:00 UTC from each asset's listing date, all positive."""
    import pyarrow as pa

    days = np.arange(plan.n_days + 1)
    d, a = np.nonzero(days[:, None] >= plan.list_day[None, :])
    return pa.table({
        "ts": pa.array(plan.midnight_ns(d), pa.timestamp("ns", tz="UTC")),
        "asset": strings(plan.ids, a),
        "circulating_supply": np.round(np.exp(plan.ln_supply[d, a])),
    })


def volume_table(plan: Plan, caps: np.ndarray, rng: np.random.Generator):
    """Daily USD volume: market value x a slowly wandering turnover x daily noise.

    Thin assets (``Plan.thin``) trade around the Grayscale ADTV floors (SPEC §4.5); assets
    listing late have few days of record; days without prices have no volume either.
    """
    import pyarrow as pa

    n_days = plan.n_days + 1
    tau = 90.0
    drift = ou_series(rng.standard_normal((n_days, plan.n_assets))
                      * stationary_sd_step(0.35, tau), tau)
    noise = rng.standard_normal((n_days, plan.n_assets))
    typical = np.where(plan.thin, THIN_USD, caps * plan.turnover)
    volume = typical * np.exp(drift + 0.5 * noise - 0.125)
    keep = np.arange(n_days)[:, None] >= plan.list_day[None, :]
    for a, first, n in plan.missing_days:
        keep[first:first + n, a] = False
    d, a = np.nonzero(keep)
    epoch_day = (plan.date0 - dt.date(1970, 1, 1)).days
    return pa.table({
        "date": pa.array((epoch_day + d).astype(np.int32), pa.date32()),
        "asset": strings(plan.ids, a),
        "volume_usd": np.round(volume[d, a], 2),
    })


def fx_rates(rng: np.random.Generator, n_hours: int, depeg_hour: int | None
             ) -> dict[str, np.ndarray]:
    """Hourly USD per unit of EUR (around 1.10), USDT and USDC (around 1.00, USDC with a
    three-day de-peg to about 0.88 starting at ``depeg_hour``)."""
    day_tau = 12.0
    eur_tau = 2 * HOURS_PER_YEAR
    eur = 1.10 * np.exp(ou_series(rng.standard_normal(n_hours)
                                  * stationary_sd_step(0.05, eur_tau), eur_tau))
    usdt = 1.0 + ou_series(rng.standard_normal(n_hours)
                           * stationary_sd_step(0.0006, day_tau), day_tau)
    usdc = 1.0 + ou_series(rng.standard_normal(n_hours)
                           * stationary_sd_step(0.0004, day_tau), day_tau)
    if depeg_hour is not None and 0 <= depeg_hour < n_hours:
        t = np.arange(72.0)
        shape = np.minimum(np.minimum(t / 10.0, 1.0), np.clip((72.0 - t) / 42.0, 0.0, 1.0))
        seg = usdc[depeg_hour:depeg_hour + 72]
        seg -= 0.12 * shape[:seg.size]
    return {"EUR": np.round(eur, 6), "USDT": np.round(usdt, 6), "USDC": np.round(usdc, 6)}


def fx_table(first_ns: int, rates: dict[str, np.ndarray]):
    """FX rows, one per hour and currency (SPEC §2.2)."""
    import pyarrow as pa

    n = len(next(iter(rates.values())))
    k = len(FX_CURRENCIES)
    ts = first_ns + np.repeat(np.arange(n, dtype=np.int64), k) * NS_PER_HOUR
    values = np.stack([rates[c] for c in FX_CURRENCIES], axis=1).reshape(-1)
    return pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "currency": strings(list(FX_CURRENCIES), np.tile(np.arange(k), n)),
        "usd_per_unit": values,
    })


@dataclass
class Venues:
    """Exchanges, the quote currencies each lists, their activity and the outlier exchange."""

    names: list[str]
    quotes: list[tuple[str, ...]]
    weights: np.ndarray
    outlier: int | None

    def markets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (exchange, quote) market: exchange index, quote index (into QUOTES), weight."""
        ex, qu, w = [], [], []
        for e, quotes in enumerate(self.quotes):
            for q in quotes:
                ex.append(e)
                qu.append(QUOTES.index(q))
                w.append(self.weights[e] * QUOTE_WEIGHT[q])
        w = np.asarray(w)
        return np.asarray(ex), np.asarray(qu), w / w.sum()


def make_venues(n: int, rng: np.random.Generator) -> Venues:
    """``n`` exchanges ``EX01``...; every quote currency is listed somewhere; the seventh (or
    the last, with 3 to 6) is sometimes more than 5% off the others (SPEC §2.4)."""
    names = [f"EX{i + 1:02d}" for i in range(n)]
    quotes = [QUOTE_SETS[i % len(QUOTE_SETS)] if n >= 4 else QUOTES for i in range(n)]
    weights = np.exp(rng.normal(0.0, 0.6, n))
    outlier = 6 if n >= 7 else (n - 1 if n >= 3 else None)
    if outlier is not None:
        weights[outlier] *= 0.5
    return Venues(names, quotes, weights, outlier)


def exchanges_table(venues: Venues, valid_from: np.ndarray, valid_to: list[int | None]):
    """The vetted exchanges and their periods (SPEC §6.1)."""
    import pyarrow as pa

    ts = pa.timestamp("ns", tz="UTC")
    return pa.table({
        "exchange": pa.array(venues.names, pa.string()),
        "valid_from": pa.array(np.asarray(valid_from, dtype=np.int64), ts),
        "valid_to": pa.array(valid_to, ts),
    })


def make_trades(rng: np.random.Generator, *, ids: list[str], counts: np.ndarray,
                lo_ns: np.ndarray, hi_ns: int, hour0_ns: int, log_price: np.ndarray,
                fx_first_ns: int, rates: dict[str, np.ndarray], venues: Venues,
                defects: bool, sort: bool):
    """Trades around the hourly log USD price path ``log_price`` (hours from ``hour0_ns``).

    Asset ``a`` gets ``counts[a]`` trades, uniform in ``[lo_ns[a], hi_ns)``; each trades on a
    market (exchange, quote) drawn by weight, at the path interpolated in time with 8 bp of
    noise and a small exchange bias, converted to the quote currency with the latest hourly FX
    row at or before it (SPEC §2.2). Sizes are log-normal in USD. The outlier exchange is 5.5%
    to 9% off in some (hour, asset) windows. With ``defects``: a few zero sizes, zero prices
    and trades on an exchange missing from the exchanges table (rejected, SPEC §2.3).
    """
    import pyarrow as pa

    n_assets = len(ids)
    a = np.repeat(np.arange(n_assets, dtype=np.int32), counts)
    n = a.size
    lo = np.asarray(lo_ns, dtype=np.int64)[a]
    ts = lo + (rng.random(n) * (hi_ns - lo)).astype(np.int64)
    rel = ts - hour0_ns
    k = rel // NS_PER_HOUR
    frac = (rel - k * NS_PER_HOUR) / NS_PER_HOUR
    lp = log_price[k, a]
    lp += (log_price[k + 1, a] - lp) * frac
    del lo, rel, frac
    m_ex, m_q, m_w = venues.markets()
    # Markets drawn by weight through a lookup table of 4096 slots (faster than choice(p)).
    slots = np.repeat(np.arange(m_w.size), np.maximum(1, np.round(m_w * 4096).astype(int)))
    m = slots[rng.integers(0, slots.size, n)]
    ex, qu = m_ex[m], m_q[m]
    del m
    bias = rng.normal(0.0, 0.0005, len(venues.names))
    lp += rng.normal(0.0, 0.0008, n) + bias[ex]
    if venues.outlier is not None:
        shape = (log_price.shape[0], n_assets)
        off = (rng.random(shape) < OUTLIER_SHARE) * rng.choice([-1.0, 1.0], shape)
        off *= rng.uniform(np.log(1.055), np.log(1.09), shape)
        sel = np.flatnonzero(ex == venues.outlier)
        lp[sel] += off[k[sel], a[sel]]
    price_usd = np.exp(lp)
    size = np.exp(rng.normal(np.log(1500.0), 1.6, n) - lp)
    table = np.ones((len(QUOTES), len(next(iter(rates.values())))))
    for i, q in enumerate(QUOTES[1:], start=1):
        table[i] = rates[q]
    del lp, k
    price_usd /= table[qu, (ts - fx_first_ns) // NS_PER_HOUR]
    price = price_usd
    names = list(venues.names)
    if defects and n:
        names.append(UNKNOWN_EXCHANGE)
        bad = rng.choice(n, size=min(n, 3 * max(3, n // 200_000)), replace=False)
        third = bad.size // 3
        size[bad[:third]] = 0.0
        price[bad[third:2 * third]] = 0.0
        ex[bad[2 * third:]] = len(names) - 1
    order = np.argsort(ts, kind="stable") if sort else slice(None)
    return pa.table({
        "ts": pa.array(ts[order], pa.timestamp("ns", tz="UTC")),
        "asset": strings(ids, a[order]),
        "exchange": strings(names, ex[order]),
        "quote": strings(list(QUOTES), qu[order]),
        "price": price[order],
        "size": size[order],
    })


def minute_floor(ns: int) -> int:
    """An instant rounded down to the whole minute."""
    return int(ns) // NS_PER_MINUTE * NS_PER_MINUTE

