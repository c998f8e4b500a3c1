"""Resident memory of this process, for the benchmarks' peak-memory figures (Linux /proc)."""

from __future__ import annotations


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs``); False if not
    possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss() -> float:
    """Peak resident set size of this process in bytes (since the last reset where possible)."""
    peak = _status("VmHWM")
    if peak is not None:
        return peak
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def current_rss() -> float:
    """Resident set size of this process in bytes now (NaN where unknown)."""
    rss = _status("VmRSS")
    return rss if rss is not None else float("nan")
