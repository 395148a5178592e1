"""What the policy knows about the fleet: each service's tier, replicas, regions, labels and
callers (from the topology and the policy's ``inventory``), and the blast radius of an action.

The blast radius of an action is its *footprint*: the instances of the target it touches, plus,
for each caller up to ``depth`` levels up the dependency graph, the same share of that caller's
instances (a restart of half of ``db`` disturbs about half of the requests of every service that
calls ``db``). A restart of a service with many callers is therefore bigger than its own replica
count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from setpoint.policy.model import ServiceFacts
from setpoint.policy.rules import Subject
from setpoint.schemas import Verb


@dataclass(frozen=True)
class ServiceInfo:
    tier: int | None = None
    replicas: int | None = None
    depends_on: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class Inventory:
    """Services by name, with their callers indexed.

    Examples
    --------
    >>> inv = Inventory({"web": ServiceInfo(replicas=4, depends_on=("db",)),
    ...                  "db": ServiceInfo(tier=0, replicas=2)})
    >>> inv.footprint("restart", {}, "db", depth=1)
    {'db': 2, 'web': 4}
    >>> inv.footprint("restart", {"instances": ["db-0"]}, "db", depth=1)
    {'db': 1, 'web': 2}
    >>> inv.fleet_instances
    6
    """

    def __init__(self, services: Mapping[str, ServiceInfo] | None = None) -> None:
        self.services = dict(services or {})
        self._callers: dict[str, list[str]] = {n: [] for n in self.services}
        for name, info in self.services.items():
            for callee in info.depends_on:
                self._callers.setdefault(callee, []).append(name)
        self.fleet_instances = sum(s.replicas or 0 for s in self.services.values())

    def with_facts(self, facts: Mapping[str, ServiceFacts]) -> Inventory:
        """This inventory with the policy's regions and labels added to the services it names."""
        out = dict(self.services)
        for name, f in facts.items():
            base = out.get(name, ServiceInfo())
            out[name] = ServiceInfo(base.tier, base.replicas, base.depends_on,
                                    tuple(f.regions), dict(f.labels))  # fmt: skip
        return Inventory(out)

    def known(self, name: str) -> bool:
        return name in self.services

    def subject(self, verb: str, service: str, agent: str) -> Subject:
        s = self.services.get(service, ServiceInfo())
        return Subject(verb, service, agent, s.tier, s.regions, s.labels)

    def dependents(self, name: str, depth: int) -> list[str]:
        """Callers of ``name`` up to ``depth`` levels, nearest first, each once."""
        out: list[str] = []
        frontier, seen = [name], {name}
        for _ in range(depth):
            nxt = [c for n in frontier for c in self._callers.get(n, []) if c not in seen]
            nxt = list(dict.fromkeys(nxt))
            seen.update(nxt)
            out += nxt
            frontier = nxt
        return out

    def footprint(
        self, verb: str, params: Mapping[str, Any], target: str, depth: int, claimed: int = 0
    ) -> dict[str, int]:
        """Instances an action touches, per service: the target's, then its dependents'."""
        replicas = self.services.get(target, ServiceInfo()).replicas
        n = max(touched(verb, params, replicas), claimed)
        if n == 0:
            return {}
        out = {target: n}
        share = min(1.0, n / replicas) if replicas else 1.0
        for dep in self.dependents(target, depth):
            k = math.ceil((self.services[dep].replicas or 0) * share)
            if k:
                out[dep] = k
        return out


def touched(verb: str, params: Mapping[str, Any], replicas: int | None) -> int:
    """Instances of the target a verb touches, from its parameters and the replica count.

    Examples
    --------
    >>> touched("scale", {"delta": -3}, 8), touched("shift_traffic", {"weight_pct": 50}, 4)
    (3, 2)
    >>> touched("undo", {}, 4), touched("flush_cache", {}, None)
    (0, 1)
    """
    r = replicas if replicas is not None else 1
    if verb in (Verb.UNDO, Verb.ESCALATE):
        return 0
    if verb == Verb.RESTART and params.get("instances"):
        return len(params["instances"])
    if verb == Verb.SCALE:
        if params.get("delta") is not None:
            return abs(int(params["delta"]))
        return abs(int(params.get("replicas") or 0) - r)
    if verb == Verb.SHIFT_TRAFFIC:
        return math.ceil(r * int(params.get("weight_pct", 100)) / 100)
    return r
