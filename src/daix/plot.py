"""Charts of a backfill output directory (SPEC §6.3): levels over time and constituent weights.

:func:`plot_levels` draws one image with two panels:

- the levels of the chosen indices over time, one line each, with a vertical marker at each
  basket change of each index (the distinct ``effective`` instants E of ``constituents``,
  SPEC §3.5), drawn by kind: quarterly review, monthly factor reset (SPEC §4.1) or intra-review
  deletion (SPEC §3.7), told apart with ``reviews.parquet``;
- the constituent weights of one index as a stacked area: each member's ``weight`` as published
  at a basket change (at the review prices, SPEC §8.6) is held until the next change, a step
  function; members beyond the 12 largest (by their largest weight) are summed as ``other``.

matplotlib is an optional extra (``pip install "daix[plot]"``); it is used through its Agg
canvas, so nothing is displayed and no global backend is changed. Times are UTC.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from daix.errors import ConfigError, InputError
from daix.timeutil import NS_PER_DAY, ns_to_iso

#: The files of a backfill output the charts read (SPEC §6.3).
OUTPUT_TABLES = ("levels", "constituents", "reviews")
#: Members shown one by one in the weights panel; the rest are summed as :data:`OTHER`.
TOP_MEMBERS = 12
OTHER = "other"

#: Kinds of basket change (SPEC §3.5, §3.7, §4.1); ``change`` when the reviews cannot tell.
REVIEW, RESET, DELETION, CHANGE = "review", "reset", "deletion", "change"
KIND_LABELS = {
    REVIEW: "quarterly review",
    RESET: "monthly factor reset",
    DELETION: "intra-review deletion",
    CHANGE: "basket change",
}
_KIND_STYLES = {REVIEW: "-", RESET: ":", DELETION: "--", CHANGE: "-."}
#: How an intra-review deletion row of ``reviews`` states the instant u (SPEC §3.7, §6.3).
_DELETED_AT = re.compile(r"left the universe at (\d{4}-\d\d-\d\dT[0-9:.]+Z)")
_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_FIGSIZE = (13.0, 8.5)
_DPI = 100


# --- reading -----------------------------------------------------------------------------------


def read_output(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The levels, constituents and reviews tables of a backfill output directory (SPEC §6.3).

    Each is checked and cast to its SPEC §6.3 schema; a missing directory, file or column is an
    :class:`InputError` naming it.
    """
    from daix.io import conform, read_file
    from daix.schemas import OUTPUTS

    root = Path(out_dir)
    if not root.is_dir():
        raise InputError("output directory does not exist or is not a directory (expected "
                         "the output of daix backfill, SPEC §6.3)", path=str(root))
    paths: dict[str, Path] = {}
    for name in OUTPUT_TABLES:
        for ext in (".parquet", ".csv"):
            if (root / f"{name}{ext}").is_file():
                paths[name] = root / f"{name}{ext}"
                break
    missing = [f"{n}.parquet" for n in OUTPUT_TABLES if n not in paths]
    if missing:
        raise InputError(f"not a daix backfill output: missing {', '.join(missing)} "
                         f"(SPEC §6.3)", path=str(root))
    return {name: conform(read_file(p, OUTPUTS[name]), OUTPUTS[name], str(p))
            for name, p in paths.items()}


def _as_table(table: Any):
    import pyarrow as pa

    return table if isinstance(table, pa.Table) else pa.table(table)


def _for_index(table, index: str):
    import pyarrow.compute as pc

    return table.filter(pc.equal(table.column("index"), index))


def _ns(column) -> np.ndarray:
    """A timestamp (or int64 ns) column as int64 ns UTC."""
    import pyarrow as pa

    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


def _floats(column) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(column.cast("float64"), np.nan).to_numpy(
        zero_copy_only=False), dtype=np.float64)


def indices_present(tables: Mapping[str, Any]) -> list[str]:
    """The index ids an output holds (in ``levels`` or ``constituents``), sorted."""
    import pyarrow.compute as pc

    ids: set[str] = set()
    for name in ("levels", "constituents"):
        if name in tables:
            ids.update(v for v in pc.unique(tables[name].column("index")).to_pylist() if v)
    return sorted(ids)


# --- the data of the charts ----------------------------------------------------------------------


def weight_steps(constituents: Any, index: str, top: int | None = TOP_MEMBERS,
                 label: str = "constituents") -> tuple[np.ndarray, list[str], np.ndarray]:
    """The weights of ``index`` as a step function of time (SPEC §6.3, §8.6).

    Returns ``(times, assets, matrix)``: ``times`` the distinct effective instants E (int64 ns
    UTC, ascending), ``assets`` ordered by largest weight (descending, ties by id), and
    ``matrix[k, j]`` the weight of ``assets[j]`` in the basket effective from ``times[k]`` until
    ``times[k + 1]`` (0 when not a member), so each row sums to the basket's weights (1). With
    ``top``, the assets beyond the first ``top`` are summed into one column :data:`OTHER`.
    ``constituents`` is a ``pyarrow.Table`` or a mapping of columns.
    """
    table = _for_index(_as_table(constituents), index)
    if table.num_rows == 0:
        present = indices_present({"constituents": _as_table(constituents)})
        raise ConfigError(f"no constituents of index {index} in {label}; it holds "
                          f"{', '.join(present) or 'no index'}")
    eff = _ns(table.column("effective"))
    assets = table.column("asset").to_pylist()
    weight = _floats(table.column("weight"))
    bad = np.flatnonzero(~np.isfinite(weight))
    if bad.size:
        raise InputError("weight is null or not finite", path=label, column="weight",
                         rows=[f"{index} {ns_to_iso(eff[i])} {assets[i]}" for i in bad[:5]])
    times = np.unique(eff)
    names = sorted(set(assets))
    col = {a: j for j, a in enumerate(names)}
    matrix = np.zeros((times.size, len(names)), dtype=np.float64)
    seen = np.zeros_like(matrix, dtype=bool)
    rows = np.searchsorted(times, eff)
    dups = []
    for i, (k, a) in enumerate(zip(rows, assets, strict=True)):
        j = col[a]
        if seen[k, j]:
            dups.append(f"{index} {ns_to_iso(eff[i])} {a}")
        seen[k, j] = True
        matrix[k, j] = weight[i]
    if dups:
        raise InputError("an asset appears twice in one basket", path=label, column="asset",
                         rows=dups)
    names, matrix = _group_other(names, matrix, top, drop_unseen=False)
    return times, names, matrix


def basket_changes(constituents: Any, reviews: Any, index: str) -> list[tuple[int, str]]:
    """``(E, kind)`` for every basket change of ``index``, kind one of :data:`KIND_LABELS`.

    The kind comes from ``reviews`` (SPEC §6.3): an intra-review deletion (a ``delete`` row whose
    reason says "intra-review" and names the instant u) takes effect at the first basket change
    at or after u (SPEC §3.7); otherwise a change in a month with ``reset`` rows is a monthly
    factor reset, one in a month with ``add``/``keep``/``delete`` rows a quarterly review
    (SPEC §4.1; E falls in the review month). A change the reviews do not explain is ``change``.
    """
    from daix.timeutil import parse_instant

    times = np.unique(_ns(_for_index(_as_table(constituents), index).column("effective")))
    rev = _for_index(_as_table(reviews), index)
    months: dict[str, set[str]] = {}
    kinds: dict[int, str] = {}
    for month, action, reason in zip(rev.column("review").to_pylist(),
                                     rev.column("action").to_pylist(),
                                     rev.column("reason").to_pylist(), strict=True):
        reason = reason or ""
        if action == "delete" and "intra-review" in reason:
            months.setdefault(month, set()).add(DELETION)
            found = _DELETED_AT.search(reason)
            if found:
                k = int(np.searchsorted(times, parse_instant(found.group(1))))
                if k < times.size:
                    kinds[int(times[k])] = DELETION
        elif action == "reset":
            months.setdefault(month, set()).add(RESET)
        elif action in ("add", "keep", "delete"):
            months.setdefault(month, set()).add(REVIEW)
    out = []
    for e in times.tolist():
        kind = kinds.get(e)
        if kind is None:
            seen = months.get(_month(e), set())
            kind = next((k for k in (RESET, REVIEW, DELETION) if k in seen), CHANGE)
        out.append((e, kind))
    return out


def _month(ns: int) -> str:
    return ns_to_iso(ns)[:7]


def _bounds(start: Any, end: Any) -> tuple[int | None, int | None]:
    """--start/--end as ns UTC; a bare date as --end means the end of that day."""
    from daix.timeutil import parse_instant

    lo = None if start is None else parse_instant(str(start))
    hi = None
    if end is not None:
        hi = parse_instant(str(end))
        if len(str(end).strip()) == 10:
            hi += NS_PER_DAY - 1
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"--start {start} is after --end {end}")
    return lo, hi


def clip_steps(times: np.ndarray, matrix: np.ndarray, lo: int | None, hi: int | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The steps of :func:`weight_steps` shown in [lo, hi] (either may be None).

    The basket in force at lo is kept and starts at lo; baskets effective after hi are dropped.
    """
    k0 = 0 if lo is None else max(int(np.searchsorted(times, lo, side="right")) - 1, 0)
    k1 = times.size if hi is None else int(np.searchsorted(times, hi, side="right"))
    t, m = times[k0:k1].copy(), matrix[k0:k1]
    if t.size and lo is not None and t[0] < lo:
        t[0] = lo
    return t, m


# --- drawing -----------------------------------------------------------------------------------


def _matplotlib():
    """The Figure class and Agg canvas, or a ConfigError saying how to install matplotlib."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError('plotting needs matplotlib, an optional extra: '
                          'pip install "daix[plot]"') from exc
    return Figure, FigureCanvasAgg


def _dates(ns: np.ndarray) -> np.ndarray:
    return np.asarray(ns, dtype=np.int64).view("datetime64[ns]")


def plot_levels(out_dir: str | os.PathLike, indices: str | Iterable[str],
                out_file: str | os.PathLike, weights: str | None = None, start: Any = None,
                end: Any = None, log: bool = False) -> Path:
    """Plot index levels with basket changes, and one index's weights, to an image file.

    ``out_dir`` is a backfill output (SPEC §6.3); ``indices`` the ids whose levels are drawn;
    ``weights`` the id whose constituent weights fill the second panel (default the first of
    ``indices``); ``start``/``end`` (ISO dates or instants, UTC; a bare ``end`` date is the end
    of that day) limit the time shown; ``log`` draws levels on a log scale. ``out_file`` ends
    in ``.png`` (or ``.svg``/``.pdf``) and is written under a temporary name, then renamed into
    place (SPEC §6.2). Returns its path.
    """
    figure_cls, canvas_cls = _matplotlib()
    ids = [indices] if isinstance(indices, str) else list(dict.fromkeys(indices))
    if not ids:
        raise ConfigError("give at least one index id to plot")
    target = Path(out_file)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the image format of '{target}': use .png, .svg or .pdf")
    lo, hi = _bounds(start, end)
    tables = read_output(out_dir)
    wid = weights or ids[0]
    present = indices_present(tables)
    unknown = [i for i in [*ids, wid] if i not in present]
    if unknown:
        raise ConfigError(f"index {', '.join(dict.fromkeys(unknown))} not in {out_dir}; it "
                          f"holds {', '.join(present) or 'no index'}")

    series = {i: _level_series(tables["levels"], i, lo, hi) for i in dict.fromkeys([*ids, wid])}
    if not any(series[i][0].size for i in ids):
        raise ConfigError(f"no levels of {', '.join(ids)} between "
                          f"{ns_to_iso(lo) if lo is not None else 'the start'} and "
                          f"{ns_to_iso(hi) if hi is not None else 'the end'}")
    label = str(Path(out_dir) / "constituents.parquet")
    times, assets, matrix = weight_steps(tables["constituents"], wid, top=None, label=label)
    times, matrix = clip_steps(times, matrix, lo, hi)
    # The last basket holds until the last level shown of its index (both already <= hi).
    ends = [int(times[-1])] if times.size else []
    if series[wid][0].size:
        ends.append(int(series[wid][0][-1]))
    w_end = max(ends, default=0)
    assets, matrix = _group_other(assets, matrix, TOP_MEMBERS)

    fig = figure_cls(figsize=_FIGSIZE, dpi=_DPI)
    canvas_cls(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 2))
    ax_lv = fig.add_subplot(grid[0])
    ax_w = fig.add_subplot(grid[1], sharex=ax_lv)
    _draw_levels(ax_lv, ids, series, tables, lo, hi, log)
    _draw_weights(ax_w, wid, times, assets, matrix, w_end)
    _date_axis(ax_w)
    ax_lv.tick_params(labelbottom=False)
    shown = [t for i in ids for t in (series[i][0][:1], series[i][0][-1:]) if t.size]
    first = lo if lo is not None else int(min(int(t[0]) for t in shown))
    last = hi if hi is not None else int(max(int(t[0]) for t in shown))
    fig.suptitle(f"{', '.join(ids)}: levels and basket changes, "
                 f"{ns_to_iso(first)[:10]} to {ns_to_iso(last)[:10]} (UTC)", fontsize=12)
    fig.tight_layout()
    return _save(fig, target, fmt)


def _level_series(levels, index: str, lo: int | None, hi: int | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    table = _for_index(levels, index)
    ts, lv = _ns(table.column("ts")), _floats(table.column("level"))
    order = np.argsort(ts, kind="stable")
    ts, lv = ts[order], lv[order]
    keep = np.ones(ts.size, dtype=bool)
    if lo is not None:
        keep &= ts >= lo
    if hi is not None:
        keep &= ts <= hi
    return ts[keep], lv[keep]


def _group_other(assets: list[str], matrix: np.ndarray, top: int | None,
                 drop_unseen: bool = True) -> tuple[list[str], np.ndarray]:
    """Order assets by largest weight (ties by id), keep ``top`` and sum the rest as OTHER.

    With ``drop_unseen``, assets with no positive weight in ``matrix`` are left out.
    """
    if matrix.shape[0] == 0:
        return ([], matrix[:, :0]) if drop_unseen else (list(assets), matrix)
    largest = matrix.max(axis=0)
    order = [j for j in sorted(range(len(assets)), key=lambda j: (-largest[j], assets[j]))
             if largest[j] > 0 or not drop_unseen]
    names = [assets[j] for j in order]
    kept = matrix[:, order]
    if top is not None and len(names) > top:
        other = kept[:, top:].sum(axis=1, keepdims=True)
        names = [*names[:top], OTHER]
        kept = np.hstack([kept[:, :top], other])
    return names, kept


def _draw_levels(ax, ids: list[str], series: dict, tables: dict, lo: int | None,
                 hi: int | None, log: bool) -> None:
    from matplotlib.lines import Line2D

    colors = [f"C{k % 10}" for k in range(len(ids))]
    kinds_seen: set[str] = set()
    for index, color in zip(ids, colors, strict=True):
        ts, lv = series[index]
        ax.plot(_dates(ts), lv, color=color, linewidth=1.2, label=index)
        for e, kind in basket_changes(tables["constituents"], tables["reviews"], index):
            if (lo is not None and e < lo) or (hi is not None and e > hi):
                continue
            kinds_seen.add(kind)
            ax.axvline(_dates(np.array([e]))[0], color=color, linestyle=_KIND_STYLES[kind],
                       linewidth=0.9, alpha=0.5, zorder=0)
    handles, labels = ax.get_legend_handles_labels()
    for kind in (REVIEW, RESET, DELETION, CHANGE):
        if kind in kinds_seen:
            handles.append(Line2D([], [], color="0.4", linestyle=_KIND_STYLES[kind],
                                  linewidth=0.9))
            labels.append(KIND_LABELS[kind])
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              fontsize=8, frameon=False)
    if log:
        _log_axis(ax, [series[i][1] for i in ids])
    ax.set_ylabel("level (log scale)" if log else "level")
    ax.set_title("Index levels; vertical lines mark basket changes (SPEC §3.5)",
                 fontsize=10, loc="left")
    ax.grid(True, alpha=0.3)


def _log_axis(ax, values: list[np.ndarray]) -> None:
    """A log scale labelled with plain numbers; 1-1.5-2-3-...-9 steps over a narrow range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.6g}"))
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values] or [np.empty(0)])
    if finite.size and np.log10(finite.max() / finite.min()) < 1.5:
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9),
                                              numticks=40))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _draw_weights(ax, index: str, times: np.ndarray, assets: list[str], matrix: np.ndarray,
                  end: int) -> None:
    """Stacked step areas: row k of ``matrix`` holds from ``times[k]`` to the next change."""
    if times.size:
        x = _dates(np.append(times, max(int(end), int(times[-1]))))
        steps = np.vstack([matrix, matrix[-1:]])
        base = np.zeros(x.size)
        palette = [f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown",
                                         "pink", "olive", "cyan")]
        palette += ["#1f3b73", "#b8860b", "#2e8b57"]
        for j, asset in enumerate(assets):
            color = "0.75" if asset == OTHER else palette[j % len(palette)]
            ax.fill_between(x, base, base + steps[:, j], step="post", color=color,
                            linewidth=0, label=asset)
            base = base + steps[:, j]
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0, fontsize=8, frameon=False, title="member", title_fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("weight")
    ax.set_xlabel("date (UTC)")
    ax.set_title(f"{index}: constituent weights as of each basket change "
                 f"(top {TOP_MEMBERS} by largest weight, the rest as '{OTHER}')",
                 fontsize=10, loc="left")
    ax.grid(True, alpha=0.3)


def _date_axis(ax) -> None:
    import datetime as dt

    import matplotlib.dates as mdates

    utc = dt.timezone.utc
    locator = mdates.AutoDateLocator(tz=utc, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=utc))


def _save(fig, target: Path, fmt: str) -> Path:
    """Write the image under a temporary name in the target's directory, then rename it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=_DPI)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
