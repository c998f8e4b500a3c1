"""Selection rules: ranking with buffers (SPEC §4.3), the Crypto Select turnover rule (SPEC
§4.4) and the Grayscale market value and ADTV screens (SPEC §4.5, §8.4).

Pure functions over plain dicts and lists: the review driver feeds them the data in force.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Crypto Select turnover thresholds (SPEC §4.4): two-way total and per constituent.
TURNOVER_TOTAL = 0.0106
TURNOVER_SINGLE = 0.0020


def rank(values: dict[str, float]) -> list[str]:
    """Assets by value descending, ties by asset id (SPEC §4.3)."""
    return sorted(values, key=lambda a: (-values[a], a))


@dataclass
class Selection:
    """The outcome of a ranked selection: members in rank order and why each moved."""

    members: list[str]
    ranks: dict[str, int]  # 1-based rank in the eligible universe
    actions: dict[str, tuple[str, str]]  # asset -> (add|keep|delete, reason)


def buffer_select(ranked: list[str], previous: set[str] | None, n: int, in_rank: int,
                  out_rank: int, ineligible_reason: dict[str, str] | None = None) -> Selection:
    """Ranked selection with buffers (SPEC §4.3).

    First review (``previous`` None): the top ``n``. Later: delete constituents no longer
    eligible or ranked >= ``out_rank``; insert non-constituents ranked <= ``in_rank``; with
    more than ``n``, delete the lowest-ranked previous constituents; with fewer, insert the
    highest-ranked non-constituents; with fewer than ``n`` eligible, take them all.
    """
    ranks = {a: i + 1 for i, a in enumerate(ranked)}
    actions: dict[str, tuple[str, str]] = {}
    if previous is None:
        members = ranked[:n]
        for a in members:
            actions[a] = ("add", f"ranked {ranks[a]} of the eligible universe at the first "
                                 f"review: top {n} (SPEC §4.3)")
        return Selection(members, ranks, actions)
    why_out = ineligible_reason or {}
    kept = []
    for a in sorted(previous):
        if a not in ranks:
            why = why_out.get(a, "not in the eligible universe")
            actions[a] = ("delete", f"no longer eligible: {why} (SPEC §4.3)")
        elif ranks[a] >= out_rank:
            actions[a] = ("delete", f"ranked {ranks[a]}, at or below the deletion buffer "
                                    f"{out_rank} (SPEC §4.3)")
        else:
            kept.append(a)
    inserted = [a for a in ranked if a not in previous and ranks[a] <= in_rank]
    for a in inserted:
        actions[a] = ("add", f"ranked {ranks[a]}, at or above the insertion buffer {in_rank} "
                             f"(SPEC §4.3)")
    kept.sort(key=lambda a: ranks[a])
    while len(kept) + len(inserted) > n and kept:
        a = kept.pop()  # the lowest-ranked previous constituent
        actions[a] = ("delete", f"ranked {ranks[a]}: lowest-ranked constituent deleted to keep "
                                f"{n} constituents (SPEC §4.3)")
    members = set(kept) | set(inserted)
    if len(members) < n:
        for a in ranked:
            if len(members) >= n:
                break
            if a not in members and a not in previous:
                members.add(a)
                actions[a] = ("add", f"ranked {ranks[a]}: highest-ranked non-constituent "
                                     f"inserted to keep {n} constituents (SPEC §4.3)")
    for a in kept:
        actions.setdefault(a, ("keep", f"ranked {ranks[a]}, inside the buffer "
                                       f"(< {out_rank}) (SPEC §4.3)"))
    ordered = sorted(members, key=lambda a: ranks[a])
    return Selection(ordered, ranks, actions)


def turnover_keeps_factors(prices: dict[str, float], old_units: dict[str, float],
                           new_supply: dict[str, float]) -> tuple[bool, float, float]:
    """Crypto Select turnover rule (SPEC §4.4), for a review with no adds or deletes.

    Weights at review prices with the old ``s*f`` against the new supply with ``f = 1``;
    returns (keep old s*f, two-way turnover, largest single change). Kept when the two-way
    turnover is below 106 bp and every single change below 20 bp.
    """
    assets = sorted(prices)
    old = {a: prices[a] * old_units[a] for a in assets}
    new = {a: prices[a] * new_supply[a] for a in assets}
    so, sn = sum(old.values()), sum(new.values())
    diffs = [abs(new[a] / sn - old[a] / so) for a in assets]
    total = sum(diffs)
    largest = max(diffs) if diffs else 0.0
    return (total < TURNOVER_TOTAL and largest < TURNOVER_SINGLE), total, largest


@dataclass(frozen=True)
class GrayscaleThresholds:
    """Market value and ADTV thresholds of one Grayscale sector (SPEC §4.5)."""

    x: float  # $200M for Currencies and Smart Contract Platforms, $100M for the others
    bench_enter: float = 50e6
    bench_stay: float = 40e6
    adtv_enter: float = 250e3
    adtv_stay: float = 200e3
    adtv_new_entrant: float = 500e3
    min_days: int = 21

    def mv_ok(self, mv: float, klass: str, constituent: bool) -> tuple[bool, str]:
        """Market value screen: enter at >= $50M / X, stay unless < $40M / 0.8 X."""
        bench = klass == "benchmark"
        if constituent:
            floor = self.bench_stay if bench else 0.8 * self.x
            ok = not (mv < floor)
            word = "stays" if ok else "below the staying threshold"
        else:
            floor = self.bench_enter if bench else self.x
            ok = mv >= floor
            word = "enters" if ok else "below the entry threshold"
        return ok, (f"market value ${mv / 1e6:,.1f}M {word} ${floor / 1e6:,.0f}M "
                    f"({klass}{', constituent' if constituent else ''}) (SPEC §4.5)")

    def adtv_ok(self, adtv: float, days: int, constituent: bool,
                new_entrant: bool) -> tuple[bool, str]:
        """ADTV screen (SPEC §4.5, §8.4): under 21 days of record is ineligible."""
        if days < self.min_days:
            return False, (f"{days} days of volume on record, under {self.min_days} "
                           f"(SPEC §4.5)")
        if new_entrant:
            floor, span = self.adtv_new_entrant, "84-day (new entrant)"
        elif constituent:
            floor, span = self.adtv_stay, "28-day"
        else:
            floor, span = self.adtv_enter, "28-day"
        ok = adtv >= floor
        return ok, (f"{span} ADTV ${adtv / 1e3:,.0f}K {'meets' if ok else 'is under'} "
                    f"${floor / 1e3:,.0f}K (SPEC §4.5)")
