"""The synthetic asset set: ids, taxonomy codes, listing dates and market parameters.

A :class:`Plan` fixes everything about the synthetic history that does not depend on the random
price path: the time frame (SPEC §1.1), the assets with their sector and subsector codes
(SPEC §5), when each asset lists, its circulating supply on every date, its starting market
value, volatility, class and trading turnover, and the deliberate gaps in the price data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from daix.errors import ConfigError
from daix.timeutil import NS_PER_DAY, NS_PER_HOUR, datetime_to_ns

DAYS_PER_YEAR = 365.25

#: The assets of the single asset indices (ground rules §5.2.2), first in every synthetic set:
#: id, name, sector, subsector, log10 market value at the start, supply at the end, yearly
#: supply growth, idiosyncratic yearly volatility, market beta, benchmark class.
REAL_ASSETS = (
    ("BTC", "Bitcoin", "701010", "70101010", 11.95, 19.95e6, 0.016, 0.12, 0.85, True),
    ("ETH", "Ethereum", "702020", "70202010", 11.45, 120.5e6, 0.004, 0.22, 1.05, True),
    ("SOL", "Solana", "702020", "70202010", 10.75, 5.4e8, 0.05, 0.50, 1.20, True),
    ("XRP", "XRP", "701020", "70102010", 10.80, 5.9e10, 0.03, 0.45, 0.90, True),
    ("ADA", "Cardano", "702020", "70202010", 10.35, 3.6e10, 0.01, 0.45, 1.00, True),
    ("DOT", "Polkadot", "702020", "70202010", 9.95, 1.6e9, 0.06, 0.50, 1.05, True),
    ("TON", "Toncoin", "702020", "70202010", 10.05, 2.5e9, 0.04, 0.55, 0.95, True),
    ("XDC", "XDC Network", "702030", "70203010", 9.05, 1.5e10, 0.02, 0.60, 0.95, False),
)

#: (sector, subsector) of the other assets, cycled. Each 17 assets cover every code the Custom
#: and Grayscale indices select by (SPEC §5) and one sector no index takes (704010); the order
#: gives every Grayscale sector and both Custom sector sets 3 members within 22 extra assets.
EXTRA_CODES = (
    ("702010", "70201025"),  # Grayscale financials, Custom application
    ("702010", "70201010"),  # consumer and culture
    ("702030", "70203010"),  # utilities and services, Custom infrastructure
    ("701010", "70101010"),  # currencies
    ("702020", "70202010"),  # smart contract platforms, Custom infrastructure
    ("701020", "70102015"),  # financials
    ("703010", "70301010"),  # Custom application only
    ("702010", "70201020"),  # consumer and culture
    ("702040", "70204010"),  # utilities and services, Custom infrastructure
    ("702010", "70201035"),  # utilities and services
    ("704010", "70401010"),  # no index takes it
    ("701020", "70102010"),  # currencies (by subsector)
    ("702010", "70201040"),  # consumer and culture
    ("702050", "70205010"),  # utilities and services, Custom infrastructure
    ("702010", "70201050"),  # utilities and services
    ("702020", "70202020"),  # smart contract platforms, Custom infrastructure
    ("702010", "70201060"),  # utilities and services
)

#: Other assets (positions in the cycle above) made benchmark class and worth about $50M at
#: the start, so that the $50M / $40M benchmark thresholds of SPEC §4.5 bite.
SMALL_BENCHMARK = {1: 7.72, 5: 7.75}

#: Share of the other assets that list partway through the history.
LATE_SHARE = 0.18
#: Every ``THIN_EVERY``-th other asset trades thinly: about ``THIN_USD`` a day whatever its
#: market value, around the Grayscale ADTV floors ($200K to stay, $250K to enter, SPEC §4.5).
THIN_EVERY = 9
THIN_USD = 2e5


@dataclass
class Plan:
    """The fixed part of a synthetic history; day ``d`` is the UTC date ``date0 + d``.

    Hour ``h`` is ``start_ns + h`` hours; the history starts and ends at 22:00 UTC, so hour
    ``24 d`` is 22:00 UTC on day ``d`` and hour ``24 d - 22`` is 00:00 UTC on day ``d``.
    """

    seed: int
    start_ns: int
    end_ns: int
    n_days: int
    date0: dt.date
    ids: list[str]
    names: list[str]
    sectors: list[str]
    subsectors: list[str]
    list_day: np.ndarray  # day of the first supply and volume row
    list_hour: np.ndarray  # hour of the first price
    log_cap0: np.ndarray  # natural log of the market value at the start
    ln_supply: np.ndarray  # (n_days + 1, assets): ln circulating supply at 00:00 UTC of each day
    vol: np.ndarray  # yearly idiosyncratic volatility
    beta: np.ndarray  # exposure to the common market factor
    benchmark: np.ndarray  # class at the start (SPEC §4.5)
    turnover: np.ndarray  # typical daily USD volume / market value
    thin: np.ndarray  # trades about THIN_USD a day instead
    missing_days: list[tuple[int, int, int]]  # (asset, first day, days) with no prices at all
    defects: bool  # add the rare row defects the rules count (SPEC §2.3, §8.2)

    @property
    def n_assets(self) -> int:
        return len(self.ids)

    @property
    def n_hours(self) -> int:
        return 24 * self.n_days + 1

    def day(self, date: dt.date) -> int:
        """The day index of a UTC date."""
        return (date - self.date0).days

    def date(self, day: int) -> dt.date:
        return self.date0 + dt.timedelta(days=int(day))

    def midnight_ns(self, day: int | np.ndarray):
        """00:00 UTC of day ``day``."""
        return self.start_ns - 22 * NS_PER_HOUR + np.asarray(day, dtype=np.int64) * NS_PER_DAY

    def cutoff_day(self, year: int, month: int) -> int:
        """The day index of the last day of the month before ``year-month``."""
        return self.day(dt.date(year, month, 1) - dt.timedelta(days=1))

    def months(self) -> list[tuple[int, int]]:
        """Months whose prior month-end (22:00 UTC) lies in the history: the universe months."""
        out = []
        y, m = self.date0.year, self.date0.month
        while True:
            d = self.cutoff_day(y, m)
            if d > self.n_days:
                return out
            if d >= 0:
                out.append((y, m))
            y, m = (y, m + 1) if m < 12 else (y + 1, 1)


def end_date(end: str | dt.date) -> dt.date:
    """The last date of the history, from ``YYYY-MM-DD``."""
    if isinstance(end, dt.date):
        return end
    try:
        return dt.date.fromisoformat(str(end).strip())
    except ValueError as exc:
        raise ConfigError(f"end '{end}' is not a date YYYY-MM-DD") from exc


def end_instant(end: str | dt.date) -> int:
    """22:00 UTC of the date ``end``, the last hour of the history."""
    day = end_date(end)
    return datetime_to_ns(dt.datetime(day.year, day.month, day.day, 22, tzinfo=dt.timezone.utc))


def asset_ids(n: int) -> list[str]:
    """The first ``n`` synthetic asset ids: the single asset tickers, then ``A0009``..."""
    width = max(4, len(str(n)))
    real = [r[0] for r in REAL_ASSETS]
    return real[:n] + [f"A{i + 1:0{width}d}" for i in range(len(real), n)]


def make_plan(assets: int, years: float, seed: int, end: str | dt.date, defects: bool,
              rng: np.random.Generator) -> Plan:
    """Draw the fixed part of a synthetic history (see :class:`Plan`)."""
    if assets < 1:
        raise ConfigError(f"assets must be at least 1, got {assets}")
    n_days = round(years * DAYS_PER_YEAR)
    if n_days < 1:
        raise ConfigError(f"years must cover at least one day, got {years}")
    end_ns = end_instant(end)
    start_ns = end_ns - n_days * NS_PER_DAY
    date0 = end_date(end) - dt.timedelta(days=n_days)
    n_real = min(assets, len(REAL_ASSETS))
    n_extra = assets - n_real
    ids = asset_ids(assets)
    real = REAL_ASSETS[:n_real]
    codes = [EXTRA_CODES[k % len(EXTRA_CODES)] for k in range(n_extra)]

    names = [r[1] for r in real] + [f"Synthetic Asset {i[1:]}" for i in ids[n_real:]]
    sectors = [r[2] for r in real] + [c[0] for c in codes]
    subsectors = [r[3] for r in real] + [c[1] for c in codes]

    # Market values spread log-normally from about $10M to $1T, BTC largest, ETH second.
    log10_cap = np.concatenate([[r[4] for r in real],
                                np.clip(rng.normal(8.6, 0.75, n_extra), 7.0, 10.6)])
    supply_end = np.concatenate([[r[5] for r in real], 10 ** rng.uniform(7.0, 10.7, n_extra)])
    growth = np.concatenate([[r[6] for r in real], rng.uniform(0.0, 0.08, n_extra)])
    vol = np.concatenate([[r[7] for r in real], rng.uniform(0.45, 1.0, n_extra)])
    beta = np.concatenate([[r[8] for r in real], rng.uniform(0.7, 1.3, n_extra)])
    benchmark = np.concatenate([[r[9] for r in real],
                                (log10_cap[n_real:] >= 9.6) | (rng.random(n_extra) < 0.15)])
    for k, value in SMALL_BENCHMARK.items():
        if k < n_extra:
            log10_cap[n_real + k] = value
            benchmark[n_real + k] = True
    turnover = np.concatenate([np.full(n_real, 0.035),
                               np.exp(rng.normal(np.log(0.02), 1.2, n_extra))])
    thin = np.zeros(assets, dtype=bool)
    thin[n_real + THIN_EVERY - 1::THIN_EVERY] = True

    ln_supply = _supply_paths(n_days, supply_end, growth, n_real, rng)
    list_day = np.zeros(assets, dtype=np.int64)
    plan = Plan(
        seed=seed, start_ns=start_ns, end_ns=end_ns, n_days=n_days, date0=date0, ids=ids,
        names=names, sectors=sectors, subsectors=subsectors, list_day=list_day,
        list_hour=np.zeros(assets, dtype=np.int64), log_cap0=log10_cap * np.log(10.0),
        ln_supply=ln_supply, vol=vol, beta=beta, benchmark=benchmark, turnover=turnover, thin=thin,
        missing_days=[], defects=defects,
    )
    _late_listings(plan, n_real, rng)
    plan.list_hour = np.where(plan.list_day > 0, 24 * plan.list_day - 22, 0).astype(np.int64)
    plan.missing_days = _missing_days(plan, rng)
    return plan


def _supply_paths(n_days: int, supply_end: np.ndarray, growth: np.ndarray, n_real: int,
                  rng: np.random.Generator) -> np.ndarray:
    """ln circulating supply per day: slow growth and, for some assets, a few token unlocks."""
    n = supply_end.size
    days = np.arange(n_days + 1, dtype=np.float64)[:, None]
    ln_s = np.log(supply_end)[None, :] - growth[None, :] * (n_days - days) / DAYS_PER_YEAR
    unlock = np.flatnonzero(rng.random(n) < 0.2)
    unlock = unlock[unlock >= n_real]
    for a in unlock.tolist():
        for day in rng.integers(0, n_days + 1, 3).tolist():
            ln_s[day:, a] += rng.uniform(0.02, 0.10)
    return ln_s


def _quarter_cutoffs(plan: Plan) -> list[int]:
    """Day indices of the cut-off dates (prior month-ends) of the quarterly review months."""
    return [plan.cutoff_day(y, m) for y, m in plan.months() if m in (3, 6, 9, 12)]


def _late_listings(plan: Plan, n_real: int, rng: np.random.Generator) -> None:
    """Some other assets list partway: one 8 days before a quarterly cut-off (so 14 to 20 days
    of volume before its first review price date: under the 21 of SPEC §4.5), one 60 days
    before (a new entrant with enough record), the rest anywhere."""
    n_extra = plan.n_assets - n_real
    n_late = round(LATE_SHARE * n_extra)
    if n_late == 0 or plan.n_days < 60:
        return
    late = n_real + rng.choice(n_extra, size=n_late, replace=False)
    lo, hi = max(1, int(0.05 * plan.n_days)), max(2, int(0.92 * plan.n_days))
    days = rng.integers(lo, hi, n_late)
    cutoffs = [d for d in _quarter_cutoffs(plan) if 0.2 * plan.n_days <= d <= 0.85 * plan.n_days]
    if cutoffs:
        mid = cutoffs[len(cutoffs) // 2]
        days[0] = max(1, mid - 8)
        if n_late > 1:
            days[1] = max(1, cutoffs[0] - 60)
    plan.list_day[late] = days


def _missing_days(plan: Plan, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """A handful of whole UTC days without prices for a few assets listed from the start
    (never BTC or ETH), and one more on a Grayscale review price date (Wednesday after the
    first Friday, SPEC §4.1, §3.8)."""
    others = np.arange(min(2, plan.n_assets), plan.n_assets)
    if others.size == 0 or plan.n_days < 10:
        return []
    early = others[plan.list_day[others] == 0]
    pool = early if early.size else others
    out = []
    n = 1 + plan.n_assets // 100
    for a in rng.choice(pool, size=min(n, pool.size), replace=False).tolist():
        first = int(plan.list_day[a]) + 1
        if first + 4 < plan.n_days:
            out.append((a, int(rng.integers(first, plan.n_days - 3)), int(rng.integers(1, 4))))
    months = [(y, m) for y, m in plan.months() if m in (3, 6, 9, 12)]
    if months:
        y, m = months[len(months) // 2]
        first = dt.date(y, m, 1)
        friday = first + dt.timedelta(days=(4 - first.weekday()) % 7)
        day = plan.day(friday + dt.timedelta(days=5))
        listed = others[plan.list_day[others] < day - 1]
        if listed.size and day < plan.n_days:
            out.append((int(listed[listed.size // 2]), day, 1))
    return out
