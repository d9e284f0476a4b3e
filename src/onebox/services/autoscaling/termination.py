"""Which instances a scale-in terminates: AZ balance first, then the group's termination policies.

AWS's default policy, within the AZ with the most unprotected instances: oldest launch configuration or
template first (launch-configuration instances before launch-template ones), then the instance closest
to the next billing hour, then random. onebox breaks the last tie by launch time (oldest first) instead
of at random, so a scale-in is reproducible (docs/autoscaling.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    instance_id: str
    zone: str
    launched_at: float
    uses_launch_configuration: bool
    outdated: bool  # not the group's current launch template version / launch configuration
    source_version: int  # launch template version number (0 for launch configurations)


def _oldest_configuration(items: list[Candidate]) -> list[Candidate]:
    with_lc = [c for c in items if c.uses_launch_configuration]
    if with_lc:
        items = with_lc
    outdated = [c for c in items if c.outdated]
    if outdated:
        items = outdated
    lowest = min(c.source_version for c in items)
    return [c for c in items if c.source_version == lowest]


def _closest_to_hour(items: list[Candidate], now: float) -> list[Candidate]:
    best = max((now - c.launched_at) % 3600 for c in items)
    return [c for c in items if (now - c.launched_at) % 3600 >= best - 1e-6]


def _apply(policy: str, items: list[Candidate], now: float) -> list[Candidate]:
    if policy == "OldestInstance":
        first = min(c.launched_at for c in items)
        return [c for c in items if c.launched_at == first]
    if policy == "NewestInstance":
        last = max(c.launched_at for c in items)
        return [c for c in items if c.launched_at == last]
    if policy in ("OldestLaunchConfiguration", "OldestLaunchTemplate"):
        return _oldest_configuration(items)
    if policy == "ClosestToNextInstanceHour":
        return _closest_to_hour(items, now)
    if policy == "Default":
        return _closest_to_hour(_oldest_configuration(items), now)
    return items  # AllocationStrategy and Lambda policies: nothing to align in one-type groups


def choose(candidates: list[Candidate], count: int, policies: list[str], now: float) -> list[str]:
    """Ids of `count` instances to terminate, one at a time from the AZ with the most candidates."""
    remaining = list(candidates)
    chosen: list[str] = []
    for _ in range(min(count, len(remaining))):
        by_zone: dict[str, list[Candidate]] = {}
        for candidate in remaining:
            by_zone.setdefault(candidate.zone, []).append(candidate)
        zone = max(sorted(by_zone), key=lambda z: len(by_zone[z]))
        items = by_zone[zone]
        for policy in policies or ["Default"]:
            if len(items) <= 1:
                break
            items = _apply(policy, items, now)
        victim = min(items, key=lambda c: (c.launched_at, c.instance_id))
        chosen.append(victim.instance_id)
        remaining.remove(victim)
    return chosen


def zone_for_launch(zones: list[str], counts: dict[str, int]) -> str:
    """The enabled AZ with the fewest instances (the group's AZ order breaks ties)."""
    return min(zones, key=lambda z: (counts.get(z, 0), zones.index(z)))


def imbalanced(zones: list[str], counts: dict[str, int]) -> bool:
    if len(zones) < 2:
        return False
    values = [counts.get(z, 0) for z in zones]
    return max(values) - min(values) > 1
