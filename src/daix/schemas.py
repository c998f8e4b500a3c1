"""The input tables of SPEC §6.1 and output tables of SPEC §6.3, defined in one place.

Columns are described by a small logical type so this module imports nothing heavy; call
:func:`arrow_schema` for the ``pyarrow.Schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Logical column types and their Arrow types (built lazily in :func:`arrow_type`).
TIMESTAMP = "timestamp"  # timestamp[ns, tz=UTC] (SPEC §1.1)
STRING = "string"
FLOAT = "float64"
INT = "int64"
BOOL = "bool"
DATE = "date"  # date32, a calendar date
MONTH = "month"  # string YYYY-MM (SPEC §6.1 review months)

#: Allowed values of enumerated columns (SPEC §6.1, §2.5). ``15s`` is the real-time stream.
WINDOWS = ("15m", "1h", "15s")
CLASSES = ("benchmark", "non-benchmark")


#: Named lists of SPEC §6.1.
SECTOR_KEYS = ("currencies", "scp", "financials", "consumer", "utilities")
LIST_NAMES = (
    "hashkey_exclusion_top20",
    "hashkey_exclusion_infrastructure",
    "hashkey_exclusion_application",
    "21shares_inclusion",
    *(f"grayscale_exclusion_{s}" for s in SECTOR_KEYS),
    *(f"grayscale_inclusion_{s}" for s in SECTOR_KEYS),
    "grayscale_access",
)


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns, unique key and the columns with enumerated values."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ()
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    needed_for: str = ""
    #: Columns that need a value in every row: the key and what names a row's thing (SPEC
    #: §6.2); a null there is an error, not a row problem.
    not_null: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def kind(self, column: str) -> str:
        return dict(self.columns)[column]


INPUTS: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "trades",
            (("ts", TIMESTAMP), ("asset", STRING), ("exchange", STRING), ("quote", STRING),
             ("price", FLOAT), ("size", FLOAT)),
            needed_for="fixes",
            not_null=("ts", "asset", "exchange", "quote"),
        ),
        TableSpec(
            "fx",
            (("ts", TIMESTAMP), ("currency", STRING), ("usd_per_unit", FLOAT)),
            key=("ts", "currency"),
            needed_for="non-USD quotes, EUR indices",
            not_null=("ts", "currency"),
        ),
        TableSpec(
            "prices",
            (("ts", TIMESTAMP), ("asset", STRING), ("window", STRING), ("price", FLOAT)),
            key=("ts", "asset", "window"),
            enums={"window": WINDOWS},
            needed_for="every index level",
            not_null=("ts", "asset", "window"),
        ),
        TableSpec(
            "supply",
            (("ts", TIMESTAMP), ("asset", STRING), ("circulating_supply", FLOAT)),
            key=("ts", "asset"),
            needed_for="reviews",
            not_null=("ts", "asset"),
        ),
        TableSpec(
            "assets",
            (("asset", STRING), ("name", STRING), ("sector", STRING), ("subsector", STRING)),
            key=("asset",),
            needed_for="sector indices",
            not_null=("asset",),
        ),
        TableSpec(
            "universe",
            (("review", MONTH), ("asset", STRING), ("total_cap", BOOL), ("class", STRING),
             ("liquidity_pass", BOOL), ("new_entrant", BOOL)),
            key=("review", "asset"),
            enums={"class": CLASSES},
            needed_for="reviews",
            not_null=("review", "asset", "class"),
        ),
        TableSpec(
            "lists",
            (("review", MONTH), ("list", STRING), ("asset", STRING)),
            key=("review", "list", "asset"),
            enums={"list": LIST_NAMES},
            needed_for="exclusion, inclusion, access lists",
            not_null=("review", "list", "asset"),
        ),
        TableSpec(
            "volume",
            (("date", DATE), ("asset", STRING), ("volume_usd", FLOAT)),
            key=("date", "asset"),
            needed_for="Grayscale ADTV",
            not_null=("date", "asset"),
        ),
        TableSpec(
            "deletions",
            (("ts", TIMESTAMP), ("asset", STRING)),
            key=("ts", "asset"),
            needed_for="intra-review deletions (optional)",
            not_null=("ts", "asset"),
        ),
        TableSpec(
            "exchanges",
            (("exchange", STRING), ("valid_from", TIMESTAMP), ("valid_to", TIMESTAMP)),
            needed_for="vetted exchanges and periods (optional)",
            not_null=("exchange",),
        ),
    )
}


#: Output tables of SPEC §6.3 (and the fixes table of SPEC §2.6).
OUTPUTS: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "fixes",
            (("ts", TIMESTAMP), ("asset", STRING), ("window", STRING), ("price", FLOAT),
             ("volume", FLOAT), ("n_trades", INT), ("n_markets", INT), ("n_excluded", INT),
             ("stale", BOOL)),
        ),
        TableSpec(
            "levels",
            (("index", STRING), ("ts", TIMESTAMP), ("level", FLOAT), ("divisor", FLOAT),
             ("status", STRING)),
        ),
        TableSpec(
            "constituents",
            (("index", STRING), ("effective", TIMESTAMP), ("asset", STRING), ("rank", INT),
             ("market_value", FLOAT), ("supply", FLOAT), ("factor", FLOAT), ("weight", FLOAT)),
        ),
        TableSpec(
            "reviews",
            (("index", STRING), ("review", STRING), ("asset", STRING), ("action", STRING),
             ("reason", STRING)),
        ),
    )
}


def arrow_type(kind: str):
    """The Arrow type of a logical column type."""
    import pyarrow as pa

    return {
        TIMESTAMP: pa.timestamp("ns", tz="UTC"),
        STRING: pa.string(),
        FLOAT: pa.float64(),
        INT: pa.int64(),
        BOOL: pa.bool_(),
        DATE: pa.date32(),
        MONTH: pa.string(),
    }[kind]


def arrow_schema(spec: TableSpec | str, *, outputs: bool = False):
    """The ``pyarrow.Schema`` of a table of SPEC §6.1 (or §6.3 with ``outputs=True``)."""
    import pyarrow as pa

    if isinstance(spec, str):
        spec = (OUTPUTS if outputs else INPUTS)[spec]
    return pa.schema([(name, arrow_type(kind)) for name, kind in spec.columns])
