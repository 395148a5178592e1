"""The simulated fleet: state, faults on a timeline, actions with delays, telemetry out.

Pure: no I/O and no wall clock. Time is simulated unix seconds handed in by the caller; all the
randomness comes from one ``random.Random(seed)``, so the same seed, timeline and calls give the
same events.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from setpoint.clock import to_datetime
from setpoint.schemas import ChangeEvent, ChangeType, Event
from setpoint.sim.actions import ApplyResult, Plan, plan_action
from setpoint.sim.emit import Emitter, event_time
from setpoint.sim.faults import Fault, TimelineItem, TrafficShift
from setpoint.sim.physics import Effect, Reading, evaluate
from setpoint.sim.spec import FleetSpec, LoadProfile
from setpoint.sim.state import World
from setpoint.sim.undo import plan_undo

_SAMPLE, _STATE = 0, 1
"""A sample at ``t`` describes the interval that ends at ``t``: at equal times it is taken before
a state change at ``t``, which the next sample shows."""


@dataclass(order=True)
class _Item:
    time: float
    prio: int
    seq: int
    fn: Callable[[float], Sequence[Event]] = field(compare=False)
    tag: str | None = field(default=None, compare=False)
    cancelled: bool = field(default=False, compare=False)


class Fleet:
    """A fleet of services that emits telemetry, suffers faults and answers actions.

    Parameters
    ----------
    spec
        The services, their dependencies, regions and capacity.
    start
        Simulated unix time of the start; timeline offsets count from it.
    seed
        Seed of the one random generator (noise, sampling, ids are deterministic under it).
    load
        Background load shape; the default profile if ``None``.
    timeline
        Faults and planned changes, each with its offset from ``start``.
    id_prefix
        Put into every event id; ``None``: ``s<seed>-``. Give each live run its own.

    Examples
    --------
    >>> from setpoint.sim.faults import PoisonedCache
    >>> spec = FleetSpec(services={"web": {"entry_rps": 80, "depends_on": ["shop"]},
    ...                            "shop": {"cache": True}})
    >>> fault = PoisonedCache(service="shop", at=60, expect={"root": "shop",
    ...                       "fault_class": "poisoned_cache", "fixed_by": ["flush_cache"]})
    >>> fleet = Fleet(spec, start=0.0, seed=7, timeline=[fault])
    >>> kinds = {e.kind for e in fleet.step(50.0)}
    >>> sorted(kinds)
    ['health', 'log', 'metric_batch', 'span']
    >>> _ = fleet.step(120.0); fleet.reading("shop").error_rate > 0.25
    True
    >>> fleet.apply("flush_cache", "shop", {}, 120.0).effect_delay_s
    5.0
    >>> _ = fleet.step(130.0); fleet.reading("shop").error_rate < 0.01
    True
    """

    def __init__(
        self,
        spec: FleetSpec,
        *,
        start: float,
        seed: int = 0,
        load: LoadProfile | None = None,
        timeline: Sequence[TimelineItem] = (),
        id_prefix: str | None = None,
    ) -> None:
        self.spec = spec
        self.start = start
        self.seed = seed
        self.load = load
        self.timeline = tuple(timeline)
        self.id_prefix = id_prefix
        _check(spec, self.timeline)
        self._world = World(spec, start, f"s{seed}-" if id_prefix is None else id_prefix)
        self._rng = random.Random(seed)
        self._profile = load or LoadProfile()
        self._emitter = Emitter(self._world, self._rng)
        self._noise = dict.fromkeys(spec.services, 0.0)
        self._agenda: list[_Item] = []
        self._seq = itertools.count()
        self._now = start
        self._readings: dict[str, Reading] = {}
        self._read_at = -math.inf
        self._warned: set[tuple[str, ChangeType, float]] = set()
        self._begun: set[int] = set()
        self._schedule_timeline()
        self._schedule_samples()

    # -- time ------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """The simulated time the fleet has advanced to."""
        return self._now

    def step(self, t: float) -> list[Event]:
        """Advance to ``t``; return every event emitted on the way, in time order."""
        out: list[Event] = []
        while self._agenda and self._agenda[0].time <= t:
            item = heapq.heappop(self._agenda)
            if item.cancelled:
                continue
            self._now = max(self._now, item.time)
            out.extend(item.fn(item.time))
        self._now = max(self._now, t)
        return out

    # -- actions ---------------------------------------------------------------------------
    def apply(
        self, verb: str, target: str, params: Mapping[str, Any] | None, t: float
    ) -> ApplyResult:
        """Act on ``target`` at ``t`` (not before :attr:`now`); the effect lands later."""
        t = max(t, self._now)
        plan = plan_action(self._world, str(verb), target, params or {}, t)
        return self._schedule_plan(plan, t)

    def undo(self, verb: str, target: str, captured: Mapping[str, Any], t: float) -> ApplyResult:
        """Restore the ``captured`` state of an earlier action of ``verb`` on ``target``."""
        t = max(t, self._now)
        return self._schedule_plan(plan_undo(self._world, str(verb), target, captured, t), t)

    # -- inspection ------------------------------------------------------------------------
    def reading(self, service: str) -> Reading | None:
        """The latest noise-free reading of ``service`` (``None`` before the first sample)."""
        return self._readings.get(service)

    def state(self, target: str) -> dict[str, Any]:
        """The JSON-ready state of one service. Raises ``KeyError`` for an unknown one."""
        s = self._world.services[target]
        out = s.to_dict(self._now)
        r = self._readings.get(target)
        out["slis"] = {k: round(v, 6) for k, v in r.metrics().items()} if r else {}
        out["pending"] = sorted(
            {i.tag.split(":")[1] for i in self._agenda if i.tag and i.tag.startswith(f"{target}:")}
        )
        out["detail"] = (
            f"{target} {s.version}, {len(s.instances)} replicas, traffic {out['traffic']}"
        )
        return out

    def snapshot(self) -> dict[str, Any]:
        """The JSON-ready state of the whole fleet (no ground truth: see :meth:`ground_truth`)."""
        return {
            "sim_time": self._now,
            "start": self.start,
            "replicas_total": self._world.replicas_total(),
            "replica_budget": self.spec.budget(),
            "services": {name: self.state(name) for name in self.spec.services},
        }

    def ground_truth(self) -> list[dict[str, Any]]:
        """Each fault, its declared truth and whether it hurts now. For scoring, never for
        the loop under test."""
        out = []
        for k, fid, f in self._faults():
            begun = k in self._begun
            r = self._readings.get(f.service)
            out.append(
                {
                    "id": fid,
                    "fault": f.fault,
                    "service": f.service,
                    "onset": f.onset(self._world),
                    "begun": begun,
                    "symptomatic": begun and f.symptomatic(self._world, self._now, r),
                    "expect": f.expect.model_dump(mode="json"),
                }
            )
        return out

    # -- internals -------------------------------------------------------------------------
    def _faults(self) -> list[tuple[int, str, Fault]]:
        """``(timeline index, id, fault)`` of every fault."""
        faults = [(k, i) for k, i in enumerate(self.timeline) if isinstance(i, Fault)]
        return [(k, f.id or f"{f.fault}-{k}", f) for k, f in faults]

    def _push(
        self, t: float, prio: int, fn: Callable[[float], Sequence[Event]], tag: str | None = None
    ) -> None:
        heapq.heappush(self._agenda, _Item(t, prio, next(self._seq), fn, tag))

    def _schedule_timeline(self) -> None:
        for k, item in enumerate(self.timeline):
            item.prepare(self._world)
            onset = item.onset(self._world)
            self._push(onset, _STATE, self._beginner(k, item))
            if item.duration_s is not None:
                self._push(onset + item.duration_s, _STATE, self._ender(item))

    def _beginner(self, k: int, item: TimelineItem) -> Callable[[float], list[ChangeEvent]]:
        def begin(t: float) -> list[ChangeEvent]:
            self._begun.add(k)
            return item.begin(self._world, t)

        return begin

    def _ender(self, item: TimelineItem) -> Callable[[float], list[ChangeEvent]]:
        return lambda t: item.end(self._world, t)

    def _schedule_samples(self) -> None:
        groups: dict[float, list[str]] = {}
        for name, svc in self.spec.services.items():
            groups.setdefault(svc.sample_interval_s or self.spec.sample_interval_s, []).append(name)
        for interval, names in groups.items():
            self._push(self.start, _SAMPLE, self._sampler(interval, names))

    def _sampler(self, interval: float, names: list[str]) -> Callable[[float], list[Event]]:
        def sample(t: float) -> list[Event]:
            readings = self._evaluate(t)
            out: list[Event] = []
            for name in names:
                s = self._world.services[name]
                out += self._expiry_warnings(name, t)
                out += self._emitter.sample(s, readings[name], t, interval)
            self._push(t + interval, _SAMPLE, sample)
            return sorted(out, key=event_time)

        return sample

    def _evaluate(self, t: float) -> dict[str, Reading]:
        if t == self._read_at:
            return self._readings
        effects: dict[str, list[Effect]] = {}
        for k, item in enumerate(self.timeline):
            if k in self._begun and isinstance(item, Fault | TrafficShift):
                e = item.effect(self._world, t)
                if e is not None:
                    effects.setdefault(item.service, []).append(e)
        self._readings = evaluate(self._world, effects, self._entry_load(t), t)
        self._read_at = t
        return self._readings

    def _entry_load(self, t: float) -> dict[str, float]:
        """External requests/s per service: the daily shape times AR(1) noise."""
        p = self._profile
        shape = p.shape(t)
        out: dict[str, float] = {}
        for name, svc in self.spec.services.items():
            innovation = self._rng.gauss(0.0, p.noise * math.sqrt(1.0 - p.correlation**2))
            self._noise[name] = p.correlation * self._noise[name] + innovation
            out[name] = svc.entry_rps * shape * max(0.0, 1.0 + self._noise[name])
        return out

    def _expiry_warnings(self, name: str, t: float) -> list[Event]:
        s = self._world.services[name]
        out: list[Event] = []
        for kind, expires in (
            (ChangeType.CERTIFICATE_EXPIRY, s.cert_expires_at),
            (ChangeType.CREDENTIAL_EXPIRY, s.credential_expires_at),
        ):
            key = (name, kind, expires)
            if expires - t <= self.spec.expiry_warning_s and key not in self._warned:
                self._warned.add(key)
                what = "certificate" if kind == ChangeType.CERTIFICATE_EXPIRY else "credential"
                summary = f"{what} of {name} expires at {to_datetime(expires).isoformat()}"
                fields = {"expires_at": to_datetime(expires), "summary": summary}
                out.append(self._world.change(name, kind, t, author="expiry-monitor", **fields))
        return out

    def _schedule_plan(self, plan: Plan, t: float) -> ApplyResult:
        if plan.result.ok:
            if plan.tag is not None:
                for item in self._agenda:
                    if item.tag == plan.tag:
                        item.cancelled = True
            for delay, fn in plan.landings:
                self._push(t + delay, _STATE, fn, plan.tag)
        return plan.result


def _check(spec: FleetSpec, timeline: Sequence[TimelineItem]) -> None:
    problems = [f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in spec.problems()]
    problems += [
        f"timeline[{k}]: unknown service {i.service!r}"
        for k, i in enumerate(timeline)
        if i.service not in spec.services
    ]
    if problems:
        msg = "; ".join(problems)
        raise ValueError(msg)
