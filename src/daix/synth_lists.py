"""Synthetic reference tables: the monthly universe, the named lists and intra-review deletions.

All three are drawn from the daily market values of the synthetic history (``caps``: one row per
day at 22:00 UTC, one column per asset), so that they relate to the prices the way the ground
rules expect: large assets are benchmark class and on the 21Shares list, deletions hit
members of indices, lists name assets of the right sectors (SPEC §4.2, §4.5, §3.7, §6.1).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from daix.catalogue import GRAYSCALE_SECTORS, get_index
from daix.synth_assets import Plan
from daix.timeutil import NS_PER_HOUR, NS_PER_MINUTE, month_key

QUARTERLY = (3, 6, 9, 12)
OLD_SELECT = (1, 4, 7, 10)  # Crypto Select review months before March 2022 (SPEC §4.1)
NEW_SCHEDULE = (2022, 3)
PROMOTE_USD = 2e9  # an asset worth this much at a cut-off is benchmark class from then on
SHARES_SIZE = 18  # about this many assets on the 21Shares inclusion list


def _members(plan: Plan, codes) -> np.ndarray:
    """Whether each asset's sector or subsector is one of ``codes`` (SPEC §5)."""
    codes = set(codes)
    return np.array([s in codes or u in codes for s, u in zip(plan.sectors, plan.subsectors,
                                                                strict=True)])


def sector_masks(plan: Plan) -> dict[str, np.ndarray]:
    """Membership by codes of each Grayscale sector and of the two Custom sector indices."""
    out = {key: _members(plan, codes) for key, codes in GRAYSCALE_SECTORS.items()}
    out["infrastructure"] = _members(plan, get_index("CUSTOM_INFRA").sectors)
    out["application"] = _members(plan, get_index("CUSTOM_APP").sectors)
    return out


def list_months(plan: Plan) -> list[tuple[int, int]]:
    """Months with lists: quarterly review months (and the Crypto Select months of the schedule
    before March 2022) from the second quarterly review on, so that the first list starts some
    months after the history (SPEC §4.2: earlier reviews use the first list)."""
    months = plan.months()
    quarters = [m for m in months if m[1] in QUARTERLY]
    if not quarters:
        return []
    first = quarters[min(1, len(quarters) - 1)]
    return [m for m in months
            if m >= first and (m[1] in QUARTERLY or (m[1] in OLD_SELECT and m < NEW_SCHEDULE))]


def _pick(rng: np.random.Generator, candidates, k: int, avoid=()) -> list[int]:
    """``k`` distinct candidates at random, none of ``avoid``."""
    avoid = set(avoid)
    pool = [int(c) for c in candidates if int(c) not in avoid]
    if not pool or k <= 0:
        return []
    return [pool[i] for i in rng.choice(len(pool), size=min(k, len(pool)), replace=False)]


def _churn(rng: np.random.Generator, members: list[int], candidates, p: float) -> list[int]:
    """With probability ``p`` swap one member for another candidate; drop unlisted members."""
    allowed = {int(c) for c in candidates}
    members = [m for m in members if m in allowed]
    if members and rng.random() < p:
        new = _pick(rng, candidates, 1, avoid=members)
        if new:
            members[int(rng.integers(len(members)))] = new[0]
    return members


def make_lists(plan: Plan, caps: np.ndarray, rng: np.random.Generator
               ) -> list[tuple[str, str, int]]:
    """Rows ``(review, list, asset index)`` of every named list of SPEC §6.1.

    - HashKey exclusions: three of the assets ranked 3-25 (Top 20), two infrastructure and two
      application assets, one of them swapped now and then;
    - 21Shares inclusion: about the 18 largest, with a buffer, always BTC, but never one
      asset ranked 3-10 at the first list (so the list matters);
    - Grayscale exclusion per sector: one member of the sector (not BTC, ETH, SOL); inclusion:
      one asset of no Grayscale sector or of another one; for Smart Contract Platforms one
      sector member is on both lists (SPEC §8.4: it is in);
    - Access List: the Smart Contract Platform assets (and the inclusions) except about a
      quarter of them, never ETH.
    """
    months = list_months(plan)
    if not months:
        return []
    n = plan.n_assets
    masks = sector_masks(plan)
    in_any = np.zeros(n, dtype=bool)
    for key in GRAYSCALE_SECTORS:
        in_any |= masks[key]
    big = {i for i, a in enumerate(plan.ids) if a in ("BTC", "ETH", "SOL")}
    scp_all = np.flatnonzero(masks["scp"])
    skip_access = {int(a) for a in scp_all if plan.ids[a] != "ETH" and rng.random() < 0.25}
    if not skip_access and len(scp_all) > 1:
        skip_access = {int(scp_all[-1])}
    state: dict[str, list[int]] = {}
    shares: set[int] = set()
    shares_skip: int | None = None
    rows: list[tuple[str, str, int]] = []
    for i, (y, m) in enumerate(months):
        d = plan.cutoff_day(y, m)
        listed = np.flatnonzero(plan.list_hour <= 24 * d)
        order = listed[np.argsort(-caps[d, listed], kind="stable")]
        rank = {int(a): r for r, a in enumerate(order.tolist())}
        top = [a for a in order[2:25].tolist() if a not in big]

        def cands(mask, listed=listed):
            return [int(a) for a in listed if mask[a]]

        groups = {
            "hashkey_exclusion_top20": (top, 3, 0.35),
            "hashkey_exclusion_infrastructure": (
                [a for a in cands(masks["infrastructure"]) if a not in big], 2, 0.25),
            "hashkey_exclusion_application": (cands(masks["application"]), 2, 0.25),
        }
        for key in GRAYSCALE_SECTORS:
            own = [a for a in cands(masks[key]) if a not in big]
            groups[f"grayscale_exclusion_{key}"] = (own, 1, 0.2)
            other = cands(~in_any) or cands(~masks[key])
            groups[f"grayscale_inclusion_{key}"] = ([a for a in other if a not in big], 1, 0.2)
        for name, (pool, k, p) in groups.items():
            state[name] = (_pick(rng, pool, k) if i == 0 or not state.get(name)
                           else _churn(rng, state[name], pool, p))
        if i == 0:
            scp_own = [a for a in cands(masks["scp"])
                       if a not in big and a not in state["grayscale_exclusion_scp"]]
            state["both_scp"] = _pick(rng, scp_own, 1)
            if len(order) >= 12:
                shares_skip = int(rng.choice([a for a in order[2:10].tolist() if a not in big]))
        both = [a for a in state["both_scp"] if a in rank]
        # 21Shares: the SHARES_SIZE largest, keeping members still ranked in the top 25.
        keep = {a for a in shares if rank.get(a, n) < 25}
        shares = (set(order[:SHARES_SIZE].tolist()) | keep) - {shares_skip}
        btc = [a for a in listed.tolist() if plan.ids[a] == "BTC"]
        shares |= set(btc)
        incl_scp = set(state["grayscale_inclusion_scp"]) | set(both)
        access = (set(cands(masks["scp"])) | incl_scp) - skip_access
        named = dict(state)
        named["grayscale_exclusion_scp"] = sorted(set(state["grayscale_exclusion_scp"]) | set(both))
        named["grayscale_inclusion_scp"] = sorted(incl_scp)
        named["21shares_inclusion"] = sorted(shares)
        named["grayscale_access"] = sorted(access)
        named.pop("both_scp")
        review = month_key(y, m)
        rows.extend((review, name, a) for name in sorted(named) for a in sorted(set(named[name])))
    return rows


def make_deletions(plan: Plan, caps: np.ndarray, rng: np.random.Generator,
                   lists: list[tuple[str, str, int]] = ()) -> list[tuple[int, int]]:
    """Intra-review deletions ``(ts, asset index)`` (SPEC §3.7): mid-quarter instants, about
    two months after a quarterly review, of assets that are index members then: a mid-ranked
    Smart Contract Platform worth over $300M (Grayscale SCP, Custom Infrastructure), an asset
    ranked 8-16 (Custom Top 20, with 20 or more assets) and an application asset worth over
    $150M (with 60 or more assets). Assets of the single asset indices and assets on an
    exclusion list are avoided while others qualify."""
    masks = sector_masks(plan)
    quarters = [m for m in plan.months() if m[1] in QUARTERLY]
    kinds = ["scp"] + (["top20"] if plan.n_assets >= 20 else []) + (
        ["application"] if plan.n_assets >= 60 else [])
    taken: set[int] = {i for i, a in enumerate(plan.ids) if a in ("BTC", "ETH")}
    avoid = {i for i, a in enumerate(plan.ids) if not a.startswith("A")}
    avoid |= {a for _, name, a in lists if "exclusion" in name}
    out: list[tuple[int, int]] = []
    for j, kind in enumerate(kinds):
        if len(quarters) < j + 2:
            break
        y, m = quarters[-2 - j]
        y2, m2 = (y, m + 2) if m + 2 <= 12 else (y + 1, m + 2 - 12)
        day = plan.day(dt.date(y2, m2, 1)) + int(rng.integers(0, 20))
        ts = int(plan.midnight_ns(day)) + int(rng.integers(8 * 60, 20 * 60)) * NS_PER_MINUTE
        if ts >= plan.end_ns - 2 * 24 * NS_PER_HOUR:
            continue
        hour = (ts - plan.start_ns) // NS_PER_HOUR
        cap = caps[min(day, plan.n_days)]
        listed = plan.list_hour <= hour - 24 * 40
        if kind == "top20":
            order = np.flatnonzero(listed)[np.argsort(-cap[listed], kind="stable")]
            ranked = [int(a) for a in order[7:16]]
        else:
            floor = 3e8 if kind == "scp" else 1.5e8
            ok = np.flatnonzero(listed & masks[kind] & (cap >= floor))
            ranked = [int(a) for a in ok[np.argsort(-cap[ok], kind="stable")]]
        pool = [a for a in ranked if a not in taken | avoid] or [
            a for a in ranked if a not in taken]
        if pool:
            pick = pool[len(pool) // 2]
            taken.add(pick)
            out.append((ts, pick))
    return sorted(out)


def make_universe(plan: Plan, caps: np.ndarray, deletions: list[tuple[int, int]],
                  rng: np.random.Generator):
    """The monthly universe (SPEC §4.2): every asset listed by the prior month-end, except
    those deleted before it.

    ``total_cap`` is false for a few assets always and for 1% of rows; ``class`` is benchmark
    for the large assets (and some small ones), an asset worth $2B at a cut-off being promoted
    for good; ``liquidity_pass`` is false for a few assets always and for 3% of rows;
    ``new_entrant`` is true in an asset's first month, except in the first month of the
    history (those assets joined the FTSE universe before it).
    """
    import pyarrow as pa

    n = plan.n_assets
    never_total = rng.random(n) < 0.04
    illiquid = rng.random(n) < 0.05
    never_total[:8] = False
    illiquid[:8] = False
    benchmark = plan.benchmark.copy()
    seen = np.zeros(n, dtype=bool)
    gone = {a: ts for ts, a in deletions}
    cols: dict[str, list] = {k: [] for k in ("review", "asset", "total_cap", "class",
                                             "liquidity_pass", "new_entrant")}
    for i, (y, m) in enumerate(plan.months()):
        d = plan.cutoff_day(y, m)
        cut_ns = plan.start_ns + 24 * d * NS_PER_HOUR
        listed = plan.list_hour <= 24 * d
        for a, ts in gone.items():
            if ts < cut_ns:
                listed[a] = False
        benchmark |= listed & (caps[d] >= PROMOTE_USD)
        total = ~never_total & (rng.random(n) >= 0.01)
        liquid = ~illiquid & (rng.random(n) >= 0.03)
        liquid[:2] = True
        new = listed & ~seen & (i > 0)
        seen |= listed
        idx = np.flatnonzero(listed)
        cols["review"].extend([month_key(y, m)] * idx.size)
        cols["asset"].extend(plan.ids[a] for a in idx.tolist())
        cols["total_cap"].extend(total[idx].tolist())
        cols["class"].extend(np.where(benchmark[idx], "benchmark", "non-benchmark").tolist())
        cols["liquidity_pass"].extend(liquid[idx].tolist())
        cols["new_entrant"].extend(new[idx].tolist())
    from daix.schemas import arrow_schema

    return pa.table(cols, schema=arrow_schema("universe"))
