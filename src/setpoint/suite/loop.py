"""The whole loop in one process, in event time: a scenario's fleet, then detect → diagnose →
decide → execute → verify, with the very stage objects the stream workers run (only Kafka is
left out: each value goes straight to the stages its topics feed). Deterministic under a seed,
and much faster than real time, so scenarios can be run by the dozen and strategies compared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from setpoint.actuators import Actuator, ExecutionRecords, Verifier
from setpoint.causal import Diagnoser, Topology
from setpoint.clock import to_datetime
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.ledger import events as le
from setpoint.policy import Decider, Outputs, Policy, PolicyEnvelope
from setpoint.schemas import (
    ActionResult,
    AnyCommand,
    ApprovalDecision,
    ApprovalRequest,
    ChangeEvent,
    Incident,
    LedgerEvent,
    LogEvent,
    TraceSpan,
    Verification,
)
from setpoint.schemas.base import seed_ids
from setpoint.sim.fleet import Fleet
from setpoint.sim.scenario import Scenario
from setpoint.streams.loading import inventory
from setpoint.suite.backend import InProcessFleetBackend
from setpoint.suite.trace import FaultTruth, TruthWatcher


@dataclass(frozen=True)
class LoopConfig:
    """How the in-process loop runs a scenario."""

    seed: int | None = None
    step_s: float = 5.0
    """Event-time seconds between two passes through the stages (the streams' batch window)."""
    history_s: float = 3600.0
    """Quiet history played before the scenario's start (its timeline moves back by as much):
    the detectors learn the fleet from it, as the demo's fast-forward does. Not scored."""
    tail_s: float = 0.0
    """Observation after the scenario's end (nothing new happens): time for a slow strategy
    (the modelled human) to finish what it started. Scored."""
    approval_delay_s: float = 120.0
    """How long the modelled human takes to answer an approval request (always approves)."""
    detection: DetectionConfig = field(default_factory=lambda: DetectionConfig.profile("infra"))
    """The stream workers' detection profile (``SETPOINT_DETECTION_PROFILE``, ``infra``)."""
    telemetry: Callable[[float, list[Any]], None] | None = None
    """Called with every step's telemetry (to record it for a replay)."""


@dataclass
class LoopRun:
    """What happened: every ledger event in order, the fleet's ground truth at the end, every
    fault's symptomatic spans, and every action the fleet applied."""

    scenario: str
    events: list[LedgerEvent] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)
    start: float = 0.0
    """When the scenario proper begins (after the history)."""
    end: float = 0.0
    faults: list[FaultTruth] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    """The fleet's log of applied actions and undos (``InProcessFleetBackend.applied``)."""
    commands: dict[str, AnyCommand] = field(default_factory=dict)
    """The command behind each action id."""


class ClosedLoop:
    """Runs one scenario through the stages.

    Parameters
    ----------
    scenario
        The scenario (its fleet and timeline).
    policy, topology
        The policy and the declared topology, as the workers load them.
    records
        The actuator's durable record (a throwaway file per run).
    config
        Seed, step, history and the modelled approver.
    """

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        topology: Topology,
        records: ExecutionRecords,
        config: LoopConfig | None = None,
        key: bytes = b"suite-signing-key",
    ) -> None:
        self.scenario = scenario
        self.policy = policy
        self.topology = topology
        self.records = records
        self.config = config or LoopConfig()
        self.key = key
        self.now = 0.0
        self.fleet: Fleet = scenario.build(self.config.seed, history_s=self.config.history_s)
        self.truth = TruthWatcher(self.fleet)
        # The workers' inventory (callers included): without them a blast radius is only the
        # target's own instances, and the envelope lets past the fleet-share cap what the
        # fleet then feels in every caller.
        envelope = PolicyEnvelope(policy, inventory(topology))
        self.detect = DetectionStage(self.config.detection, topology.domains())
        self.diagnose = Diagnoser(topology.graph())
        self.decide = Decider(envelope, key)
        self.verify = Verifier(callers=topology.callers())
        self.backend = InProcessFleetBackend(self.fleet, lambda: self.now)
        self.actuator = Actuator(envelope, key, self.backend, records)
        self.run_ = LoopRun(scenario.name)
        self._approvals: list[tuple[float, ApprovalRequest]] = []

    def run(self) -> LoopRun:
        seed_ids(self.config.seed if self.config.seed is not None else self.scenario.seed)
        try:
            return self._run()
        finally:
            seed_ids(None)

    def _run(self) -> LoopRun:
        start = self.fleet.start + self.config.history_s
        end = start + self.scenario.duration_s + self.config.tail_s
        self.run_.start, self.run_.end = start, end
        t = self.fleet.start
        while t < end:
            t = min(end, t + self.config.step_s)
            self.step(t)
            self.truth.watch(t)
        self.run_.truth = self.fleet.ground_truth()
        self.run_.faults = self.truth.faults
        self.run_.applied = self.backend.applied
        return self.run_

    # -- one pass ----------------------------------------------------------------------------
    def step(self, t: float) -> None:
        self.now = t
        events = self.fleet.step(t)
        if self.config.telemetry is not None:
            self.config.telemetry(t, events)
        for ev in events:
            self._telemetry(ev)
        anomalies, health = self.detect.flush(t)
        for h in health:
            self.diagnose.on_health(h)
            self.verify.on_health(h)
        for a in anomalies:
            self._record(le.anomaly(a))
            for inc in self.diagnose.on_anomaly(a, t):
                self._record(le.anomaly(a, inc.incident_id))
                self._incident(inc)
        for inc in self.diagnose.tick(t):
            self._incident(inc)
        self._answer_approvals(t)
        self._decided(self.decide.tick(t))
        for v in self.verify.tick(t):
            self._record(le.verification(v))
            self._verification(v)

    def _telemetry(self, ev: Any) -> None:
        if isinstance(ev, TraceSpan):
            self.diagnose.on_span(ev)
            return
        self.detect.ingest(ev)
        if isinstance(ev, LogEvent):
            self.diagnose.on_log(ev)
        elif isinstance(ev, ChangeEvent):
            for inc in self.diagnose.on_change(ev):
                self._incident(inc)

    def _incident(self, inc: Incident) -> None:
        self._record(le.incident(inc))
        self.verify.on_incident(inc)
        self._decided(self.decide.handle(inc, self.now))

    def _decided(self, out: Outputs) -> None:
        for d in out.decisions:
            self._record(le.decision(d.incident_id, d.verb, d.target, d.decision))
        for req in out.approvals:
            self._record(le.approval_request(req))
            self._approvals.append((self.now + self.config.approval_delay_s, req))
        for esc in out.escalations:
            self._record(le.escalation(esc))
        for cmd in out.commands:
            self._record(le.command(cmd, str(cmd.verb)))
            res = self.actuator.execute(cmd)
            self.run_.commands[res.action_id] = cmd
            self._result(res)

    def _result(self, res: ActionResult) -> None:
        self._record(le.action(res))
        self.verify.on_result(res, self.now)
        self._decided(self.decide.handle(res, self.now))

    def _verification(self, v: Verification) -> None:
        self.actuator.finished(v.action_id)
        self._decided(self.decide.handle(v, self.now))

    def _answer_approvals(self, t: float) -> None:
        due = [r for when, r in self._approvals if when <= t]
        self._approvals = [(w, r) for w, r in self._approvals if w > t]
        for req in due:
            d = ApprovalDecision(
                approval_id=req.approval_id,
                incident_id=req.incident_id,
                approved=True,
                approver="modelled-human",
                ts=to_datetime(t),
            )
            self._record(le.approval_decision(d))
            self._decided(self.decide.handle(d, t))

    def _record(self, ev: LedgerEvent) -> None:
        self.run_.events.append(ev)


Runner = Callable[[Scenario], LoopRun]
