"""Shadow mode: recorded telemetry through the pure stages, under a baseline and a candidate
configuration, and what would have changed.

Input: decoded telemetry values with their event times (:class:`Recorded`, read from a recording
file by :mod:`setpoint.suite.recording`), a topology, and two :class:`Variant` (a policy and a
detection profile each). Output: one :class:`ShadowRun` per variant (the alerts, incidents,
policy decisions, commands and escalations it produced) and a :class:`~setpoint.suite.shadow_diff.
ShadowDiff` of the two. Invariants: nothing is executed (no actuator, no fleet: a command is only
recorded as issued); events are played in event-time order with the loop's batch window; ids are
seeded, so the same recording and configuration give the same report. This module does no I/O.

What a replay cannot tell: how the fleet would have reacted to the candidate's *different*
actions. The recording holds what the fleet really did (under whatever acted on it then), so a
replay compares the decisions each configuration takes on the same observations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from setpoint.causal import Diagnoser, Topology
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.policy import Decider, Outputs, Policy, PolicyEnvelope, ServiceInfo
from setpoint.schemas import (
    Anomaly,
    ChangeEvent,
    Incident,
    IncidentStatus,
    LogEvent,
    MetricBatch,
    Silence,
    TraceSpan,
)
from setpoint.schemas.base import seed_ids

__all__ = [
    "AlertEpisode",
    "DecisionFact",
    "IncidentFact",
    "Recorded",
    "ReplayConfig",
    "ShadowLoop",
    "ShadowRun",
    "Variant",
    "event_time",
    "facts",
    "next_boundary",
    "note_incident",
    "shadow",
]


@dataclass(frozen=True)
class Recorded:
    """One telemetry value as recorded: its event time, its topic (unprefixed) and the value."""

    t: float
    topic: str
    value: Any


def event_time(value: object) -> float | None:
    """The event time of a telemetry value (``None`` for a value without one).

    Examples
    --------
    >>> from setpoint.schemas import HealthCheck
    >>> event_time(HealthCheck(service="db", ts=12.5, ok=True))
    12.5
    """
    if isinstance(value, MetricBatch):
        return max(p.ts.timestamp() for p in value.points)
    if isinstance(value, Silence):
        return value.starts_at.timestamp()
    ts = getattr(value, "ts", None)
    return ts.timestamp() if ts is not None else None


@dataclass(frozen=True)
class Variant:
    """One configuration under test: a policy and a detection profile, with their labels."""

    name: str
    policy: Policy | None
    """``None``: decisions as recorded in the ledger (nothing to re-decide with)."""
    detection: DetectionConfig | None
    """``None``: no telemetry to detect on (a replay of the ledger)."""
    policy_label: str = ""
    profile_label: str = ""

    @property
    def policy_hash(self) -> str:
        return self.policy.hash if self.policy is not None else ""


@dataclass(frozen=True)
class ReplayConfig:
    seed: int = 1
    """Seed of every id the stages draw (so reports are reproducible)."""
    step_s: float = 5.0
    """Event-time seconds between two passes through the stages (the streams' batch window)."""
    max_gap_s: float = 600.0
    """A silence longer than this in the recording is jumped over in one pass, not stepped
    through (a producer's wrong clock must not make a replay step through years)."""
    key: bytes = b"setpoint-shadow"
    """What the shadow decide stage signs with (its commands go nowhere)."""


@dataclass(frozen=True)
class AlertEpisode:
    """An anomaly of one service from firing to resolved (``end`` ``None``: still firing)."""

    anomaly_id: str
    service: str
    start: float
    end: float | None
    signals: tuple[str, ...]
    suppressed: bool


@dataclass(frozen=True)
class IncidentFact:
    incident_id: str
    opened: float
    closed: float | None
    services: tuple[str, ...]
    root: str
    """The top hypothesis' service when the incident opened ('' when it had none)."""
    fault_class: str
    novel: bool


@dataclass(frozen=True)
class DecisionFact:
    """One policy decision, and what came of it (``issued`` for an allowed command)."""

    t: float
    incident_id: str
    verb: str
    target: str
    outcome: str
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    issued: bool = False


@dataclass
class ShadowRun:
    variant: Variant
    alerts: list[AlertEpisode] = field(default_factory=list)
    incidents: list[IncidentFact] = field(default_factory=list)
    decisions: list[DecisionFact] = field(default_factory=list)
    escalations: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, incident id, reason code)."""
    events: int = 0
    start: float | None = None
    end: float | None = None

    def commands(self) -> list[DecisionFact]:
        return [d for d in self.decisions if d.issued]


class ShadowLoop:
    """detect -> diagnose -> decide over recorded telemetry, in event time, acting on nothing.

    Parameters
    ----------
    variant
        The policy and the detection profile.
    topology
        The declared topology (the graph diagnosis walks, the envelope's inventory).
    config
        Seed and step.
    """

    def __init__(
        self, variant: Variant, topology: Topology, config: ReplayConfig | None = None
    ) -> None:
        self.variant = variant
        self.topology = topology
        self.config = config or ReplayConfig()
        if variant.policy is None or variant.detection is None:
            msg = f"variant {variant.name!r} needs a policy and a detection profile to replay"
            raise ValueError(msg)
        services = {
            s.name: ServiceInfo(tier=s.tier, replicas=s.replicas) for s in topology.services
        }
        envelope = PolicyEnvelope(variant.policy, services)
        self.detect = DetectionStage(variant.detection, topology.domains())
        self.diagnose = Diagnoser(topology.graph())
        self.decide = Decider(envelope, self.config.key)
        self.run_ = ShadowRun(variant)
        self._alerts: dict[str, AlertEpisode] = {}
        self._incidents: dict[str, IncidentFact] = {}
        self._now = 0.0

    def play(self, events: Iterable[Recorded]) -> ShadowRun:
        """Play ``events`` (sorted here by event time, ties kept in their given order)."""
        seed_ids(self.config.seed)
        try:
            return self._play(sorted(events, key=lambda e: e.t))
        finally:
            seed_ids(None)

    def _play(self, events: list[Recorded]) -> ShadowRun:
        if not events:
            return self.run_
        boundary = events[0].t
        for ev in events:
            while ev.t > boundary:
                boundary = next_boundary(boundary, ev.t, self.config)
                self.step(boundary)
            self._ingest(ev.value)
            self.run_.events += 1
        self.step(boundary)
        self.run_.start, self.run_.end = events[0].t, boundary
        self.run_.alerts = list(self._alerts.values())
        self.run_.incidents = list(self._incidents.values())
        return self.run_

    def _ingest(self, value: object) -> None:
        if isinstance(value, TraceSpan):
            self.diagnose.on_span(value)
            return
        self.detect.ingest(value)
        if isinstance(value, LogEvent):
            self.diagnose.on_log(value)
        elif isinstance(value, ChangeEvent):
            for inc in self.diagnose.on_change(value):
                self._incident(inc)

    def step(self, t: float) -> None:
        """One pass at event time ``t``, as :meth:`setpoint.suite.loop.ClosedLoop.step` does."""
        self._now = t
        anomalies, health = self.detect.flush(t)
        for h in health:
            self.diagnose.on_health(h)
        for a in anomalies:
            self._anomaly(a)
            for inc in self.diagnose.on_anomaly(a, t):
                self._incident(inc)
        for inc in self.diagnose.tick(t):
            self._incident(inc)
        self._decided(self.decide.tick(t))

    def _anomaly(self, a: Anomaly) -> None:
        old = self._alerts.get(a.anomaly_id)
        if a.status == "resolved":
            if old is not None:
                self._alerts[a.anomaly_id] = replace(old, end=a.ts.timestamp())
            return
        signals = tuple(s.name for s in a.signals[:4])
        if old is None:
            self._alerts[a.anomaly_id] = AlertEpisode(
                a.anomaly_id, a.service, a.onset.timestamp(), None, signals, a.suppressed
            )
        elif old.suppressed and not a.suppressed:
            self._alerts[a.anomaly_id] = replace(old, suppressed=False)

    def _incident(self, inc: Incident) -> None:
        note_incident(self._incidents, inc)
        self._decided(self.decide.handle(inc, self._now))

    def _decided(self, out: Outputs) -> None:
        decisions, escalations = facts(out)
        self.run_.decisions += decisions
        self.run_.escalations += escalations


def next_boundary(boundary: float, t: float, config: ReplayConfig) -> float:
    """The next pass after ``boundary`` on the way to event time ``t``.

    Examples
    --------
    >>> next_boundary(100.0, 112.0, ReplayConfig()), next_boundary(0.0, 1e9, ReplayConfig())
    (105.0, 1000000000.0)
    """
    return t if t - boundary > config.max_gap_s else boundary + config.step_s


def note_incident(facts: dict[str, IncidentFact], inc: Incident) -> None:
    """Keep what matters of ``inc`` in ``facts`` (its opening, and its closing when it recovers)."""
    fact = facts.get(inc.incident_id)
    if fact is None:
        top = inc.hypotheses[0] if inc.hypotheses else None
        fact = IncidentFact(
            incident_id=inc.incident_id,
            opened=inc.opened_at.timestamp(),
            closed=None,
            services=tuple(inc.services),
            root=top.service if top else "",
            fault_class=str(top.fault_class) if top else "",
            novel=inc.novel,
        )
    if inc.status == IncidentStatus.RECOVERED and fact.closed is None:
        fact = replace(fact, closed=inc.ts.timestamp())
    facts[inc.incident_id] = fact


def facts(out: Outputs) -> tuple[list[DecisionFact], list[tuple[float, str, str]]]:
    """The decisions (each marked issued when its command went out) and escalations of ``out``."""
    issued = {(c.incident_id, str(c.verb), c.target) for c in out.commands}
    decisions = [
        DecisionFact(
            t=d.decision.ts.timestamp(),
            incident_id=d.incident_id,
            verb=str(d.verb),
            target=d.target,
            outcome=str(d.decision.outcome),
            rule_ids=tuple(d.decision.rule_ids),
            reasons=tuple(d.decision.reasons),
            issued=(d.incident_id, str(d.verb), d.target) in issued,
        )
        for d in out.decisions
    ]
    escalations = [(e.ts.timestamp(), e.incident_id, e.reason_code) for e in out.escalations]
    return decisions, escalations


def shadow(
    events: Iterable[Recorded],
    baseline: Variant,
    candidate: Variant,
    topology: Topology,
    config: ReplayConfig | None = None,
) -> tuple[ShadowRun, ShadowRun]:
    """Play ``events`` under ``baseline`` and under ``candidate`` (same seed, same step)."""
    values = list(events)
    return (
        ShadowLoop(baseline, topology, config).play(values),
        ShadowLoop(candidate, topology, config).play(values),
    )
