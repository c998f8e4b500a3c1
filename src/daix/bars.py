"""Exchange bars (OHLCV candles) as a trades table (SPEC §2.1).

A bar covering ``[open, open + length)`` becomes one trade of the SPEC §6.1 ``trades`` table
(``ts, asset, exchange, quote, price, size``), stamped at its **open** time so that a bar aligned
with the fix windows falls in exactly the windows that hold its interval (SPEC §1.3, §2.1):

- ``price`` is the bar's VWAP where the file gives one (a ``vwap`` column; Binance klines, where
  ``quote asset volume / volume`` is the exact VWAP of the bar's trades), else the typical price
  ``(high + low + close) / 3``;
- ``size`` is the bar's base-asset volume.

Formats (detected from the first lines, or forced with ``format=``):

``cdd``
    CryptoDataDownload: an optional banner line (``...CryptoDataDownload.com`` or ``Created
    on ...``), then ``unix,date,symbol,open,high,low,close,Volume <BASE>,Volume <QUOTE>``
    (``[,tradecount]``) or the older ``Date,Symbol,...`` with dates like ``2019-07-29 11-AM``;
    rows newest first.
    The ``date`` label is the bar's open: it equals ``unix`` row by row, and CDD's Binance bars
    equal the Binance klines of the same open hour. ``unix`` (seconds or milliseconds, even mixed
    in one file) is used when every value is an integer; a column mangled by a spreadsheet
    (``1.53619E+12``) is ignored for ``date``. CDD's quote volume is not used: its ratio to the
    base volume falls outside ``[low, high]`` in some hours (rounded volumes), so it is no VWAP.
``ohlcv``
    A plain CSV or tab-separated file with a header naming a time column (``open_time``,
    ``unix``, ``timestamp``, ``time``, ``date``...) and ``open, high, low, close`` and a volume.
    The base volume is ``Volume <ASSET>`` where the file names volumes by currency (then a plain
    ``Volume`` is ambiguous and ignored), else ``volume``. An optional ``vwap`` column is used.
``binance``
    Binance klines: 12 columns, no header (or the kline header), open time in ms (µs since 2025).
``kraken``
    Kraken OHLCVT: ``time (unix s, bar open), open, high, low, close, volume[, trades]``, no header.

Naive timestamps in bar files are read as UTC: exchanges publish bars in UTC. This is an explicit
import step, unlike the SPEC §1.1 input tables, which refuse naive timestamps.

Rows that cannot be a trade are dropped and counted, once each, under the first reason in
:data:`SKIP_REASONS`: an empty time; a duplicate open time (the last row of the file is kept); a
bad price (high, low or close not finite and positive, high below low, or a non-positive VWAP);
a bad size (volume not finite or negative); zero volume (padding bars with no trade, which the fix
engine would reject under SPEC §2.3 anyway). Trades come out in ascending time order.
"""

from __future__ import annotations

import csv
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daix.errors import ConfigError, InputError

FORMATS = ("cdd", "ohlcv", "binance", "kraken")
SKIP_REASONS = ("bad_time", "duplicate", "bad_price", "bad_size", "zero_volume")

BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                   "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore")
KRAKEN_COLUMNS = ("time", "open", "high", "low", "close", "volume", "trades")

#: Quote currencies recognised at the end of a pair in a file name, longest first.
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP", "JPY",
          "KRW", "AUD", "CAD", "CHF", "TRY", "BRL", "BTC", "XBT", "ETH", "BNB")
#: Exchange names recognised in a file name (lower case, without separators) -> daix name.
EXCHANGES = {
    "bitstamp": "Bitstamp", "kraken": "Kraken", "coinbase": "Coinbase", "coinbasepro": "Coinbase",
    "gdax": "Coinbase", "bitfinex": "Bitfinex", "binance": "Binance", "binanceus": "BinanceUS",
    "gemini": "Gemini", "poloniex": "Poloniex", "bittrex": "Bittrex", "okx": "OKX", "okex": "OKX",
    "huobi": "Huobi", "bybit": "Bybit", "kucoin": "KuCoin", "ftx": "FTX", "bitflyer": "bitFlyer",
    "itbit": "itBit", "cexio": "CEX.IO", "lmax": "LMAX", "bitso": "Bitso", "bithumb": "Bithumb",
    "upbit": "Upbit", "hitbtc": "HitBTC", "gateio": "Gate.io", "bitget": "Bitget",
    "cryptocom": "Crypto.com", "bitmex": "BitMEX", "deribit": "Deribit", "mexc": "MEXC",
}
#: Ticker aliases: Kraken's XBT is BTC.
ALIASES = {"XBT": "BTC"}

#: Header names (lower case, letters and digits only) of the bar's time, by preference.
_TIME_NAMES = ("opentime", "unix", "unixtimestamp", "timestamp", "time", "datetime", "date",
               "ts", "t", "timeopen", "starttime", "start", "timeperiodstart")
_CLOSE_TIME_NAMES = ("closetime", "timeclose", "endtime", "end", "timeperiodend")
_OHLC = {"open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"), "close": ("close", "c")}
_VWAP_NAMES = ("vwap", "vw", "weightedaverage", "weightedprice")
_BASE_VOLUME_NAMES = ("basevolume", "volumebase", "volumefrom")
_QUOTE_VOLUME_NAMES = ("quotevolume", "quoteassetvolume", "volumequote", "volumeto")
_PLAIN_VOLUME_NAMES = ("volume", "vol", "v")
_VOLUME_BY_CURRENCY = re.compile(r"vol(?:ume)?[\s_\-(]+([A-Za-z][A-Za-z0-9]*)\)?", re.IGNORECASE)
#: Formats of textual times tried in turn (ISO 8601 is tried first, with or without offset).
_TIME_FORMATS = ("%Y-%m-%d %I-%p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                 "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                 "%m/%d/%Y %I:%M:%S %p", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%d",
                 "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z")
#: Plausible bar times: 1990-01-01 <= ts < 2100-01-01 (guards against a wrong epoch unit).
_MIN_NS, _MAX_NS = 631_152_000 * 10**9, 4_102_444_800 * 10**9


@dataclass
class BarFile:
    """One bar file read as trades, with what the import did."""

    path: str
    format: str
    asset: str
    exchange: str
    quote: str
    table: Any  #: pyarrow.Table with the SPEC §6.1 trades schema, ascending ``ts``
    bars: int  #: data rows in the file
    skipped: dict[str, int] = field(default_factory=dict)
    time_column: str = ""
    price_basis: str = "typical"  #: ``vwap`` or ``typical`` ((high + low + close) / 3)
    naive_utc: bool = True  #: the file's times had no zone and were read as UTC
    interval_ns: int | None = None  #: the most common spacing of the bars

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def first_ns(self) -> int | None:
        return int(self.table.column("ts")[0].value) if self.rows else None

    @property
    def last_ns(self) -> int | None:
        return int(self.table.column("ts")[-1].value) if self.rows else None


@dataclass
class _Layout:
    format: str
    skip: int  # raw lines before the first data row
    delimiter: str
    names: list[str]


# --- public API --------------------------------------------------------------------------------


def read_bars(path: str | Path, *, asset: str | None = None, exchange: str | None = None,
              quote: str | None = None, format: str | None = None):
    """The trades table (SPEC §6.1) of one bar file: one trade per bar (SPEC §2.1).

    ``asset``, ``exchange`` and ``quote`` default to what the file name says (see
    :func:`infer_names`); ``format`` is one of :data:`FORMATS`, detected when None.
    """
    return read_bar_file(path, asset=asset, exchange=exchange, quote=quote, format=format).table


def bars_to_trades(paths, *, asset: str | None = None, exchange: str | None = None,
                   quote: str | None = None, format: str | None = None):
    """One trades table from several bar files, appended in the order given."""
    import pyarrow as pa

    from daix.schemas import arrow_schema

    tables = [read_bars(p, asset=asset, exchange=exchange, quote=quote, format=format)
              for p in paths]
    if not tables:
        return arrow_schema("trades").empty_table()
    return pa.concat_tables(tables)


def read_bar_file(path: str | Path, *, asset: str | None = None, exchange: str | None = None,
                  quote: str | None = None, format: str | None = None) -> BarFile:
    """Read one bar file as trades, with the counts and choices of the import."""
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown bar format '{format}'; formats are {', '.join(FORMATS)}")
    path = Path(path)
    label = str(path)
    names = infer_names(path)
    asset = asset or names["asset"]
    exchange = exchange or names["exchange"]
    quote = quote or names["quote"]
    data = _load(path)
    layout = _layout(data, format, label)
    if layout.format in ("binance", "kraken"):
        roles = _positional_roles(layout)
    else:
        roles, asset, quote = _header_roles(layout.names, asset, quote, label)
    for what, value in (("asset", asset), ("exchange", exchange), ("quote", quote)):
        if not value:
            raise ConfigError(f"{label}: cannot tell the {what} from the file name; "
                              f"pass --{what} (or {what}=...)")
    raw = _read_csv(data, layout, roles, label)
    return _to_trades(raw, roles, layout.format, label, str(asset), str(exchange), str(quote))


def detect_format(path: str | Path) -> str:
    """The format of a bar file (one of :data:`FORMATS`); InputError when unrecognised."""
    return _layout(_load(Path(path)), None, str(path)).format


def infer_names(path: str | Path) -> dict[str, str | None]:
    """Asset, exchange and quote from a file name, where unambiguous (else None).

    ``Bitstamp_BTCUSD_1h.csv.gz`` -> BTC, Bitstamp, USD; ``kraken_XBTUSDT_5.csv`` -> BTC,
    Kraken, USDT (XBT is BTC); ``ETHUSDT_H1.csv`` -> ETH, no exchange, USDT.
    """
    stem = Path(path).name
    while True:
        head, dot, ext = stem.rpartition(".")
        if not dot or ext.lower() not in ("gz", "bz2", "zip", "csv", "txt", "tsv"):
            break
        stem = head
    tokens = [t for t in re.split(r"[_\-.\s]+", stem) if t]
    exchanges = {EXCHANGES[t.lower()] for t in tokens if t.lower() in EXCHANGES}
    pairs = {p for t in tokens if t.lower() not in EXCHANGES and (p := _split_pair(t))}
    if not pairs:  # a pair written with a separator: BTC-USD, BTC_USD
        for a, b in itertools.pairwise(tokens):
            if (a.lower() not in EXCHANGES and a.isalpha() and 2 <= len(a) <= 10
                    and b.upper() in QUOTES):
                pairs.add((_alias(a), _alias(b)))
    base, quote = next(iter(pairs)) if len(pairs) == 1 else (None, None)
    return {"asset": base, "exchange": next(iter(exchanges)) if len(exchanges) == 1 else None,
            "quote": quote}


# --- file reading ------------------------------------------------------------------------------


def _alias(ticker: str) -> str:
    up = ticker.upper()
    return ALIASES.get(up, up)


def _split_pair(token: str) -> tuple[str, str] | None:
    if not re.fullmatch(r"[A-Za-z0-9]{4,20}", token) or token.isdigit():
        return None
    up = token.upper()
    splits = [(up[: -len(q)], q) for q in QUOTES
              if up.endswith(q) and len(up) - len(q) >= 2 and re.search(r"[A-Z]", up[: -len(q)])]
    if not splits:
        return None
    # XBTUSD is XBT/USD, not XB/TUSD: prefer a base of 3+ letters, then the longest quote.
    base, quote = max(splits, key=lambda s: (len(s[0]) >= 3, len(s[1])))
    return _alias(base), _alias(quote)


def _load(path: Path) -> bytes:
    """The file's bytes, decompressed (gzip, bz2 or a zip holding one file)."""
    import bz2
    import gzip
    import io
    import zipfile
    import zlib

    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:3] == b"BZh":
            raw = bz2.decompress(raw)
        elif raw[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise InputError(f"zip archive holds {len(members)} files; expected one",
                                     path=str(path))
                raw = zf.read(members[0])
    except (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read bar file: {exc}", path=str(path)) from exc
    return raw[3:] if raw[:3] == b"\xef\xbb\xbf" else raw


def _head(data: bytes, n: int = 6) -> list[str]:
    text = data[:16384].decode("utf-8", errors="replace")
    return text.splitlines()[:n]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _unrecognised(label: str, head: list[str], why: str) -> InputError:
    shown = "\n".join(f"    {line[:160]}" for line in head) or "    (empty file)"
    return InputError(
        f"{why}. Known bar formats: {', '.join(FORMATS)} (use --format to force one). "
        f"First lines:\n{shown}", path=label)


def _layout(data: bytes, forced: str | None, label: str) -> _Layout:
    """Where the header and data start, the delimiter, the columns and the format."""
    head = _head(data)
    if not head:
        raise _unrecognised(label, head, "the file is empty")
    first = head[0].lower()
    banner = int("cryptodatadownload" in first or first.startswith("created on"))
    if banner >= len(head):
        raise _unrecognised(label, head, "no header or data after the banner line")
    line = head[banner]
    delimiter = max(("\t", ",", ";"), key=line.count)
    fields = [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
    if _is_number(fields[0]):  # no header: positional formats
        n = len(fields)
        fmt = forced or ("binance" if n == 12 else "kraken" if n in (6, 7) else None)
        if fmt == "binance" and n == 12:
            return _Layout(fmt, banner, delimiter, list(BINANCE_COLUMNS))
        if fmt == "kraken" and n in (6, 7):
            return _Layout(fmt, banner, delimiter, list(KRAKEN_COLUMNS[:n]))
        why = (f"no header and {n} columns" if fmt is None else
               f"cannot read as '{fmt}': the file has no header and {n} columns")
        raise _unrecognised(label, head, why)
    names = _unique([f or f"column{i}" for i, f in enumerate(fields)])
    norm = {_norm(n) for n in names}
    if {"opentime", "closetime"} <= norm and norm & set(_QUOTE_VOLUME_NAMES):
        detected = "binance"
    elif banner or "symbol" in norm:
        detected = "cdd"
    elif norm & set(_TIME_NAMES) and all(norm & set(v) for v in _OHLC.values()):
        detected = "ohlcv"
    else:
        detected = None
    fmt = forced or detected
    if fmt is None or (fmt == "binance" and detected != "binance") or fmt == "kraken":
        why = ("header not recognised" if fmt is None else
               f"cannot read as '{fmt}': the file has a header ({', '.join(names)})")
        raise _unrecognised(label, head, why)
    if fmt == "binance":  # the kline header: fixed column order, names vary
        if len(names) != 12:
            raise _unrecognised(label, head, f"a kline header has 12 columns, not {len(names)}")
        names = list(BINANCE_COLUMNS)
    return _Layout(fmt, banner + 1, delimiter, names)


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        out.append(n if n not in out else f"{n}_{len(out)}")
    return out


def _positional_roles(layout: _Layout) -> dict[str, Any]:
    roles: dict[str, Any] = {k: k for k in ("open", "high", "low", "close", "volume")}
    if layout.format == "binance":
        roles.update(times=["open_time"], quote_volume="quote_volume")
    else:
        roles.update(times=["time"])
    return roles


def _header_roles(names: list[str], asset: str | None, quote: str | None,
                  label: str) -> tuple[dict[str, Any], str | None, str | None]:
    """Columns of a headed file by role; asset and quote from ``Volume <X>`` names if unknown."""
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    roles: dict[str, Any] = {}
    roles["times"] = [by_norm[t] for t in _TIME_NAMES if t in by_norm]
    if not roles["times"]:
        closes = [by_norm[t] for t in _CLOSE_TIME_NAMES if t in by_norm]
        why = (f"only the bar's close time ({closes[0]}) is given; bars are stamped at their open"
               if closes else "no time column")
        raise InputError(f"{why} (SPEC §2.1); columns: {', '.join(names)}", path=label)
    for role, options in _OHLC.items():
        found = [by_norm[o] for o in options if o in by_norm]
        if not found:
            raise InputError(f"no '{role}' column; columns: {', '.join(names)}", path=label)
        roles[role] = found[0]
    vwap = [by_norm[v] for v in _VWAP_NAMES if v in by_norm]
    if vwap:
        roles["vwap"] = vwap[0]
    if quote_volume := [by_norm[v] for v in _QUOTE_VOLUME_NAMES if v in by_norm]:
        roles["quote_volume_column"] = quote_volume[0]  # recorded, not used as a VWAP
    by_currency: dict[str, str] = {}
    for n in names:
        m = _VOLUME_BY_CURRENCY.fullmatch(n.strip())
        if m and _norm(n) not in _BASE_VOLUME_NAMES + _QUOTE_VOLUME_NAMES:
            by_currency.setdefault(_alias(m.group(1)), n)
    if asset is None and len(by_currency) == 2:  # CDD: Volume <BASE>, Volume <QUOTE>
        asset, implied_quote = list(by_currency)
        quote = quote or implied_quote
    base = [by_norm[v] for v in _BASE_VOLUME_NAMES if v in by_norm]
    if {"weightedaverage", "quotevolume"} <= set(by_norm):
        # Poloniex chart data: `volume` is in the quote currency and `quoteVolume` in the
        # asset (weightedAverage = volume / quoteVolume): the asset's is the base volume.
        base = [by_norm["quotevolume"]]
        roles.pop("quote_volume_column", None)
    if asset and _alias(asset) in by_currency:
        roles["volume"] = by_currency[_alias(asset)]
    elif base:
        roles["volume"] = base[0]
    elif by_currency:
        raise InputError(
            f"no base volume column for {asset or 'the asset'}: the file gives volumes in "
            f"{', '.join(by_currency)} ({', '.join(by_currency.values())})", path=label)
    elif plain := [by_norm[v] for v in _PLAIN_VOLUME_NAMES if v in by_norm]:
        roles["volume"] = plain[0]
    else:
        raise InputError(f"no volume column; columns: {', '.join(names)}", path=label)
    return roles, asset, quote


def _read_csv(data: bytes, layout: _Layout, roles: dict[str, Any], label: str):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = {c: pa.string() for c in roles["times"]}
    for role in ("open", "high", "low", "close", "volume", "vwap", "quote_volume"):
        if role in roles:
            types[roles[role]] = pa.float64()
    try:
        return pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(column_names=layout.names, skip_rows=layout.skip),
            parse_options=pcsv.ParseOptions(delimiter=layout.delimiter),
            convert_options=pcsv.ConvertOptions(column_types=types, include_columns=list(types),
                                                strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, ValueError) as exc:
        raise InputError(f"cannot read as '{layout.format}' bars: {exc}", path=label) from exc


# --- conversion --------------------------------------------------------------------------------


def _epoch_to_ns(values):
    """Unix times in s, ms, µs or ns (told apart per value by magnitude) as ns."""
    import numpy as np

    mag = np.abs(values)
    mult = np.select([mag < 10**11, mag < 10**14, mag < 10**17], [10**9, 10**6, 10**3], 1)
    return values * mult.astype(np.int64)


def _parse_times(col):
    """Times of a text column as (int64 ns array with nulls, naive) or None if some fail."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = pc.utf8_trim_whitespace(col.combine_chunks() if hasattr(col, "combine_chunks") else col)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    if col.null_count == len(col):
        return None
    try:
        ints = pc.cast(col, pa.int64())
    except pa.ArrowInvalid:
        ints = None
    if ints is not None:
        values = _epoch_to_ns(ints.fill_null(0).to_numpy())
        mask = ints.is_null().to_numpy(zero_copy_only=False)
        return pa.array(values, pa.int64(), mask=mask), False  # unix times are UTC
    for target, naive in ((pa.timestamp("ns"), True), (pa.timestamp("ns", tz="UTC"), False)):
        try:
            return pc.cast(col, target).cast(pa.int64()), naive
        except pa.ArrowInvalid:
            pass
    for fmt in _TIME_FORMATS:
        parsed = pc.strptime(col, format=fmt, unit="ns", error_is_null=True)
        if parsed.null_count == col.null_count:
            return parsed.cast(pa.int64()), "%z" not in fmt
    return None


def _to_trades(raw, roles: dict[str, Any], fmt: str, label: str, asset: str, exchange: str,
               quote: str) -> BarFile:
    import numpy as np
    import pyarrow as pa

    from daix.schemas import arrow_schema

    n = raw.num_rows
    parsed, time_column = None, ""
    for column in roles["times"]:
        parsed = _parse_times(raw.column(column)) if n else (pa.array([], pa.int64()), True)
        if parsed is not None:
            time_column = column
            break
    if parsed is None:
        col = raw.column(roles["times"][0])
        rows = [f"row {i + 1}: {v}" for i, v in enumerate(col.slice(0, 5).to_pylist())]
        raise InputError(f"cannot read the bar times (tried {', '.join(roles['times'])})",
                         path=label, column=roles["times"][0], rows=rows)
    times, naive = parsed
    ts = times.fill_null(0).to_numpy()
    valid = ~times.is_null().to_numpy(zero_copy_only=False)
    bad = valid & ((ts < _MIN_NS) | (ts >= _MAX_NS))
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        vals = raw.column(time_column).take(idx).to_pylist()
        raise InputError("bar times outside 1990-2100: wrong unit or format?", path=label,
                         column=time_column,
                         rows=[f"row {i + 1}: {v}" for i, v in zip(idx, vals, strict=True)])
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    skipped["bad_time"] = int((~valid).sum())
    rows = np.flatnonzero(valid)
    order = rows[np.lexsort((rows, ts[rows]))]  # ascending time, file order within a time
    last = np.ones(len(order), dtype=bool)
    last[:-1] = ts[order][1:] != ts[order][:-1]
    keep = order[last]
    skipped["duplicate"] = int(len(order) - len(keep))

    def column(role: str):
        return raw.column(roles[role]).to_numpy().astype(np.float64)[keep]

    high, low, close, volume = (column(r) for r in ("high", "low", "close", "volume"))
    price = (high + low + close) / 3.0
    basis = "typical"
    vwap = None
    if "vwap" in roles:
        vwap = column("vwap")
    elif "quote_volume" in roles:
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = column("quote_volume") / volume
    if vwap is not None:
        basis = "vwap"
        usable = np.isfinite(vwap) & (volume > 0)
        price = np.where(usable, vwap, price)
    with np.errstate(invalid="ignore"):
        ok_ohlc = np.isfinite(high) & np.isfinite(low) & np.isfinite(close) & (low > 0)
        ok_ohlc &= (high >= low) & (close > 0) & np.isfinite(price) & (price > 0)
        ok_size = np.isfinite(volume) & (volume >= 0)
    reasons = (("bad_price", ~ok_ohlc), ("bad_size", ok_ohlc & ~ok_size),
               ("zero_volume", ok_ohlc & ok_size & (volume == 0)))
    for name, mask in reasons:
        skipped[name] = int(mask.sum())
    good = ok_ohlc & ok_size & (volume > 0)
    out_ts = ts[keep][good]
    m = len(out_ts)
    schema = arrow_schema("trades")
    table = pa.Table.from_arrays(
        [pa.array(out_ts, pa.int64()).cast(schema.field("ts").type),
         pa.repeat(asset, m), pa.repeat(exchange, m), pa.repeat(quote, m),
         pa.array(price[good], pa.float64()), pa.array(volume[good], pa.float64())],
        schema=schema,
    )
    steps, counts = np.unique(np.diff(out_ts), return_counts=True)
    return BarFile(path=label, format=fmt, asset=asset, exchange=exchange, quote=quote,
                   table=table, bars=n, skipped=skipped, time_column=time_column,
                   price_basis=basis, naive_utc=bool(naive),
                   interval_ns=int(steps[np.argmax(counts)]) if len(steps) else None)
