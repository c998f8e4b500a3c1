"""daix: fast calculator for FTSE Russell / DAR digital asset indices.

The public API is imported lazily so that ``import daix`` (and ``daix --help``) stays fast:
numba and pyarrow load only when a function that needs them is called.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_API = {
    "read_table": "daix.io",
    "DataSet": "daix.io",
    "validate": "daix.validation",
    "catalogue": "daix.catalogue",
    "get_index": "daix.catalogue",
    "calculation_times": "daix.calendars",
    "review_events": "daix.calendars",
    "synthesize": "daix.synth",
    "compute_fixes": "daix.fixes",
    "cap_weights": "daix.engine.weighting",
    "backfill": "daix.engine.backfill",
    "plot_levels": "daix.plot",
    "recalc": "daix.engine.recalc",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'daix' has no attribute {name!r}")
