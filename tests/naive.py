"""Plain-Python references of every kernel, written for clarity, not speed.

Each section mirrors one kernel module and cites the SPEC rule it implements. Tests compare the
Numba kernels against these on parametrized edge cases and hypothesis-generated inputs.
"""

from __future__ import annotations

import math  # noqa: F401  (used by the sections below)

# --- reference prices (SPEC §2), for kernels/fixes.py -------------------------------------
# (section: fixes)

# --- capping (SPEC §3.4), for kernels/capping.py ------------------------------------------
# (section: capping)

# --- index levels (SPEC §3.1, §3.5-§3.8), for kernels/levels.py ----------------------------
# (section: levels)
