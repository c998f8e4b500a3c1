"""``daix validate``: check every table of a data directory (SPEC §6.1-§6.2).

Two kinds of problem are reported. *Errors* stop every computation (a missing column, a wrong
type, a naive timestamp, an unknown window or class, a duplicate key, a malformed review month,
an unreadable file). *Row problems* are rows the rules tell the computations to skip and count
(invalid trades, SPEC §2.3; missing or bad prices, SPEC §8.2; non-positive supply, which makes
an asset ineligible, SPEC §3.8 and §8.3). ``validate`` is strict: data is clean only when it has
neither, so it exits non-zero on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daix.errors import InputError
from daix.io import DataSet, example_rows
from daix.schemas import INPUTS


@dataclass
class Problem:
    """One problem found in one table."""

    table: str
    kind: str  # "error" or "rows"
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.table}: {self.message}"


@dataclass
class TableSummary:
    """What a table holds: rows, assets, time range."""

    name: str
    label: str
    rows: int | None = None  # None when the table could not be read
    assets: int | None = None
    start: str | None = None
    end: str | None = None


@dataclass
class ValidationReport:
    """The outcome of :func:`validate`: summaries per table and the problems found."""

    tables: list[TableSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out


def validate(data: Any) -> ValidationReport:
    """Check every table present in ``data`` (a directory or a mapping of tables)."""
    ds = DataSet(data)
    report = ValidationReport()
    names = ds.names()
    if not names:
        where = ds.root if ds.root is not None else "the tables given"
        report.problems.append(Problem("-", "error", f"no SPEC §6.1 table found in {where}"))
        return report
    for name in names:
        summary = TableSummary(name, ds.label(name))
        report.tables.append(summary)
        try:
            table = ds.table(name)
        except InputError as exc:
            report.problems.append(Problem(name, "error", str(exc)))
            continue
        _summarise(table, summary)
        for message in _row_problems(name, table, ds.label(name)):
            report.problems.append(Problem(name, "rows", message))
    report.problems.extend(_cross_checks(ds, names))
    return report


def _summarise(table, summary: TableSummary) -> None:
    import pyarrow.compute as pc

    from daix.timeutil import ns_to_iso

    summary.rows = table.num_rows
    if "asset" in table.column_names:
        summary.assets = pc.count_distinct(table.column("asset")).as_py()
    for col in ("ts", "date", "review", "valid_from"):
        if col in table.column_names and table.num_rows:
            lo, hi = pc.min_max(table.column(col)).values()
            if lo.is_valid:
                if col in ("ts", "valid_from"):
                    lo, hi = ns_to_iso(lo.value), ns_to_iso(hi.value)
                else:
                    lo, hi = str(lo.as_py()), str(hi.as_py())
                summary.start, summary.end = lo, hi
            break


def _bad_positive(table, column: str, zero_ok: bool = False):
    """Mask of rows whose value is null, not finite or not positive (negative, with
    ``zero_ok``)."""
    import pyarrow.compute as pc

    col = table.column(column)
    ok = pc.and_(pc.is_finite(col), (pc.greater_equal if zero_ok else pc.greater)(col, 0))
    return pc.invert(pc.fill_null(ok, False))


#: Per table: (column, why its unusable values are skipped, whether 0 is usable).
_ROW_CHECKS = {
    "trades": [("price", "SPEC §2.3: rejected by `fix`", False),
               ("size", "SPEC §2.3: rejected by `fix`", False)],
    "prices": [("price", "SPEC §8.2: counts as no price", False)],
    "supply": [("circulating_supply",
                "SPEC §3.8/§8.3: the asset is ineligible while this is its latest row", False)],
    "fx": [("usd_per_unit", "not a usable exchange rate", False)],
    "volume": [("volume_usd", "SPEC §4.5: not a day on record for the ADTV", True)],
}


def _row_problems(name: str, table, label: str) -> list[str]:
    import pyarrow.compute as pc

    out = []
    for column, why, zero_ok in _ROW_CHECKS.get(name, []):
        bad = _bad_positive(table, column, zero_ok)
        n = pc.sum(bad).as_py() or 0
        if n:
            rows = "\n".join(f"    {r}" for r in example_rows(table, bad))
            out.append(f"{label}: column '{column}': {n} row(s) null, not finite or "
                       f"{'< 0' if zero_ok else '<= 0'} ({why})\n  example rows:\n{rows}")
    return out


def _cross_checks(ds: DataSet, names: list[str]) -> list[Problem]:
    """Problems between tables: trade quotes with no FX row (fatal for `fix`, SPEC §2.2)."""
    import pyarrow.compute as pc

    out: list[Problem] = []
    if "trades" in names:
        try:
            trades = ds.table("trades")
        except InputError:
            return out
        quotes = set(pc.unique(trades.column("quote")).to_pylist()) - {"USD", None}
        have: set[str] = set()
        if "fx" in names:
            try:
                have = set(pc.unique(ds.table("fx").column("currency")).to_pylist())
            except InputError:
                return out
        missing = sorted(quotes - have)
        if missing:
            out.append(Problem("trades", "error",
                               f"{ds.label('trades')}: column 'quote': no fx rows for "
                               f"{', '.join(missing)} (SPEC §2.2)"))
    return out


__all__ = ["INPUTS", "Problem", "TableSummary", "ValidationReport", "validate"]
