"""The built-in index catalogue (SPEC §5): 50 indices as data.

Each :class:`IndexDef` says which family's rules build the index, the fix window it reads, its
calculation calendar, selection, weighting, cap, currency and scale. Nothing here computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from daix.errors import ConfigError

FAMILIES = ("custom", "select", "single", "grayscale")

#: Calendar kinds (SPEC §5).
DAILY = "daily"  # once a day at a local time, Sunday to Friday in that zone
HOURLY = "hourly"  # every whole UTC hour, Sunday 22:00 UTC to Friday 22:00 UTC
REALTIME = "realtime"  # every 15 s except Sunday 17:00-17:15 New York time

#: Weighting schemes (SPEC §3.3).
MARKET_CAP = "market_cap"
EQUAL = "equal"
SQRT = "sqrt"
SINGLE = "single"

#: Grayscale sector definitions (SPEC §5): sector (6-digit) and subsector (8-digit) codes.
GRAYSCALE_SECTORS: dict[str, tuple[str, ...]] = {
    "currencies": ("701010", "70102010"),
    "scp": ("702020",),
    "financials": ("70102015", "70201025"),
    "consumer": ("70201010", "70201020", "70201040"),
    "utilities": ("702030", "702040", "702050", "70201035", "70201050", "70201060"),
}

#: Grayscale market value threshold X in USD per sector (SPEC §4.5).
GRAYSCALE_X = {
    "currencies": 200e6,
    "scp": 200e6,
    "financials": 100e6,
    "consumer": 100e6,
    "utilities": 100e6,
}


@dataclass(frozen=True)
class IndexDef:
    """One built-in index (SPEC §5)."""

    id: str
    name: str
    family: str
    window: str  # "15m" (plain), "1h" (1HR lookback) or "15s" (real-time)
    calendar: str  # DAILY, HOURLY or REALTIME
    zone: str = "UTC"  # IANA zone of the calendar's local time (SPEC §1.2)
    hour: int = 0  # local calculation time of a DAILY calendar
    minute: int = 0
    selection: str = ""  # how members are chosen (a key the engine understands)
    weighting: str = MARKET_CAP
    cap: float | None = None  # weight cap (SPEC §3.4)
    cap_frequency: str = ""  # "monthly" or "quarterly" factor resets
    currency: str = "USD"
    scale: float = 1.0  # 0.1 for the reduced-value (1/10th) single asset indices
    base_value: float = 1000.0
    chain_linked: bool = False  # SPEC §3.6 (Crypto Select)
    asset: str | None = None  # the one asset of a single asset index
    sectors: tuple[str, ...] = field(default_factory=tuple)  # Custom sector codes
    grayscale: tuple[str, ...] = field(default_factory=tuple)  # Grayscale sector keys
    exclusion_list: str | None = None
    ranked: tuple[int, int, int] | None = None  # (N, in <=, out >=) of SPEC §4.3

    @property
    def divisor_scale(self) -> float:
        """The divisor of a single asset index: 1, or 10 for the 1/10th ones (SPEC §8.6)."""
        return 1.0 / self.scale


def _custom() -> list[IndexDef]:
    common = dict(family="custom", window="15m", calendar=DAILY, zone="UTC", hour=10,
                  cap_frequency="monthly")
    return [
        IndexDef("CUSTOM_TOP20", "FTSE Custom Digital Asset Top 20 Index",
                 selection="top20", weighting=MARKET_CAP, cap=0.40,
                 exclusion_list="hashkey_exclusion_top20", ranked=(20, 18, 22), **common),
        IndexDef("CUSTOM_INFRA", "FTSE Custom Digital Asset Infrastructure Index",
                 selection="sectors", weighting=EQUAL,
                 sectors=("702020", "702030", "702040", "702050"),
                 exclusion_list="hashkey_exclusion_infrastructure", **common),
        IndexDef("CUSTOM_APP", "FTSE Custom Digital Asset Application Index",
                 selection="sectors", weighting=EQUAL, sectors=("702010", "703010"),
                 exclusion_list="hashkey_exclusion_application", **common),
    ]


def _select() -> list[IndexDef]:
    common = dict(family="select", window="1h", calendar=DAILY, zone="America/New_York",
                  hour=16, selection="select", weighting=MARKET_CAP, chain_linked=True,
                  ranked=(10, 8, 13))
    return [
        IndexDef("SELECT10", "FTSE Crypto 10 Select Index", **common),
        IndexDef("SELECT10_EXBTC", "FTSE Crypto 10 ex Bitcoin Select Index", **common),
    ]


def _grayscale() -> list[IndexDef]:
    common = dict(family="grayscale", window="15m", calendar=DAILY, zone="America/New_York",
                  hour=16, cap_frequency="quarterly")
    names = {
        "currencies": ("GS_CURRENCIES", "FTSE Grayscale Currencies Crypto Sector Index"),
        "scp": ("GS_SCP", "FTSE Grayscale Smart Contract Platforms Crypto Sector Index"),
        "financials": ("GS_FINANCIALS", "FTSE Grayscale Financials Crypto Sector Index"),
        "consumer": ("GS_CONSUMER", "FTSE Grayscale Consumer and Culture Crypto Sector Index"),
        "utilities": ("GS_UTILITIES",
                      "FTSE Grayscale Utilities and Services Crypto Sector Index"),
    }
    out = [
        IndexDef(iid, name, selection="grayscale", weighting=SQRT, grayscale=(key,), **common)
        for key, (iid, name) in names.items()
    ]
    allkeys = tuple(names)
    out += [
        IndexDef("GS_TOTAL", "FTSE Grayscale Crypto Sectors Total Market Index",
                 selection="grayscale", weighting=SQRT, grayscale=allkeys, **common),
        IndexDef("GS_TOTAL_CAP", "FTSE Grayscale Crypto Sectors Total Market Cap Index",
                 selection="grayscale", weighting=MARKET_CAP, grayscale=allkeys, **common),
        IndexDef("GS_SCP_INVESTIBLE",
                 "FTSE Grayscale Smart Contract Platforms Crypto Sector Investible Index",
                 selection="grayscale_investible", weighting=MARKET_CAP, cap=0.30,
                 grayscale=("scp",), **common),
    ]
    return out


#: Single asset indices of ground rules §5.2.2: (asset, full asset name, variants).
_SINGLE_ASSETS = {
    "BTC": ("Bitcoin", ["UTC", "1500_UK", "1700_CET", "1H_1700_CET", "1PM_ET", "4PM_ET",
                        "TENTH_1H_1PM_ET", "TENTH_1H_4PM_ET", "1H_4PM_ET", "1H_4PM_HKT"]),
    "ADA": ("Cardano", ["UTC", "1700_CET", "1H_1700_CET"]),
    "ETH": ("Ethereum", ["UTC", "1700_CET", "1H_1700_CET", "4PM_ET", "1H_4PM_HKT",
                         "1H_4PM_ET"]),
    "DOT": ("Polkadot", ["1700_CET"]),
    "SOL": ("Solana", ["1700_CET", "1H_1700_CET", "1H_4PM_ET"]),
    "TON": ("Toncoin", ["1700_CET", "1H_1700_CET", "1H_4PM_HKT", "1H_4PM_ET"]),
    "XDC": ("XDC", ["1H_1700_CET", "1H_4PM_HKT", "1H_4PM_ET"]),
    "XRP": ("XRP", ["1700_CET"]),
}

#: Local closing times in single asset ids: token -> (hour, minute, name text).
_TIMES = {"1500": (15, 0, "1500"), "1700": (17, 0, "1700"), "1PM": (13, 0, "1pm"),
          "4PM": (16, 0, "4pm")}
_ZONE_TEXT = {"UK": "UK", "CET": "CET", "ET": "EST", "HKT": "HKT"}


def _single_def(asset: str, asset_name: str, variant: str) -> IndexDef:
    parts = variant.split("_")
    tenth = parts[0] == "TENTH"
    if tenth:
        parts = parts[1:]
    lookback = parts[0] == "1H"
    if lookback:
        parts = parts[1:]
    window = "1h" if lookback else "15m"
    iid = f"{asset}_{variant}"
    base = (f"FTSE {asset_name} Reduced Value (1/10th) Index" if tenth
            else f"FTSE {asset_name} Index")
    common = dict(family="single", window=window, selection="single", weighting=SINGLE,
                  asset=asset, scale=0.1 if tenth else 1.0)
    if parts == ["UTC"]:
        return IndexDef(iid, base, calendar=HOURLY, zone="UTC", **common)
    time_token, zone_token = parts
    hour, minute, time_text = _TIMES[time_token]
    label = f"{'1HR ' if lookback else ''}{time_text} {_ZONE_TEXT[zone_token]}"
    from daix.timeutil import ZONES

    return IndexDef(iid, f"{base} ({label})", calendar=DAILY, zone=ZONES[zone_token],
                    hour=hour, minute=minute, **common)


def _single() -> list[IndexDef]:
    out = [
        _single_def(asset, asset_name, variant)
        for asset, (asset_name, variants) in _SINGLE_ASSETS.items()
        for variant in variants
    ]
    rt_names = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana"}
    for asset, asset_name in rt_names.items():
        for cur in ("USD", "EUR"):
            out.append(IndexDef(
                f"{asset}_RT_{cur}", f"FTSE {asset_name} Real-Time Index {cur}",
                family="single", window="15s", calendar=REALTIME, zone="America/New_York",
                selection="single", weighting=SINGLE, asset=asset, currency=cur,
            ))
    return out


def _build() -> dict[str, IndexDef]:
    defs = _custom() + _select() + _single() + _grayscale()
    return {d.id: d for d in defs}


CATALOGUE: dict[str, IndexDef] = _build()


def catalogue(family: str | None = None) -> list[IndexDef]:
    """Every built-in index, or those of one family, in catalogue order."""
    if family is not None and family not in FAMILIES:
        raise ConfigError(f"unknown family '{family}'; choose one of {', '.join(FAMILIES)}")
    return [d for d in CATALOGUE.values() if family is None or d.family == family]


def get_index(index_id: str) -> IndexDef:
    """The definition of a built-in index, by id (case-insensitive)."""
    key = index_id.strip().upper()
    if key not in CATALOGUE:
        raise ConfigError(f"unknown index id '{index_id}'; `daix indices` lists them")
    return CATALOGUE[key]
