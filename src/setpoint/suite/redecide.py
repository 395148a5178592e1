"""Shadow mode over the ledger: recorded incidents re-decided under a candidate policy.

The ledger keeps every stage's output (incidents with their ranked hypotheses, policy decisions,
commands, action results, verifications, approvals, control events), but not the raw telemetry: so
detection and diagnosis cannot be replayed from it, only the decide stage. Input: ledger events
(as the ledger stores them, in any order). Output: the recorded decisions as the baseline
:class:`~setpoint.suite.replay.ShadowRun`, and the candidate's, for
:func:`~setpoint.suite.shadow_diff.diff`.

The candidate sees the recorded incidents, control events and trust records. It sees the recorded
outcome of an action (its result, its verification, the approval answer) only where it issued the
same verb on the same target for the same incident: what an action the candidate did differently
would have done is not in the ledger, so from there on its incident shows what the candidate did
first. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from setpoint.causal import Topology
from setpoint.errors import InputError
from setpoint.policy import Decider, Outputs, PolicyEnvelope, ServiceInfo
from setpoint.schemas import (
    ActionResult,
    AnyCommand,
    ApprovalDecision,
    ApprovalRequest,
    ControlEvent,
    Incident,
    LedgerEvent,
    PolicyDecision,
    TrustRecord,
    Verification,
)
from setpoint.schemas.base import seed_ids
from setpoint.suite.replay import (
    DecisionFact,
    IncidentFact,
    ReplayConfig,
    ShadowRun,
    Variant,
    facts,
    next_boundary,
    note_incident,
)

__all__ = ["recorded", "redecide"]

_PAYLOADS: dict[str, type[Any]] = {
    "incident.": Incident,
    "action.": ActionResult,
    "verification.": Verification,
    "approval.requested": ApprovalRequest,
    "approval.decided": ApprovalDecision,
    "control.": ControlEvent,
    "trust.": TrustRecord,
}


def _payload(ev: LedgerEvent) -> Any:
    for prefix, model in _PAYLOADS.items():
        if ev.event_type.startswith(prefix):
            try:
                return model.model_validate(ev.payload)
            except ValidationError as exc:
                msg = f"ledger event {ev.event_id} ({ev.event_type}): payload does not validate"
                raise InputError(msg, context={"event_id": ev.event_id}) from exc
    return None


def recorded(events: Iterable[LedgerEvent], label: str = "recorded") -> ShadowRun:
    """What the ledger says was decided: its incidents, decisions and escalations."""
    evs = sorted(events, key=lambda e: e.ts)
    run = ShadowRun(Variant(label, None, None, "as recorded in the ledger", "-"))
    issued = {
        (e.incident_id, str(e.payload.get("verb", "")), e.service)
        for e in evs
        if e.event_type == "command.issued"
    }
    incidents: dict[str, IncidentFact] = {}
    for e in evs:
        if e.event_type.startswith("incident."):
            note_incident(incidents, _payload(e))
        elif e.event_type == "policy.decision":
            run.decisions.append(_decision(e, issued))
        elif e.event_type == "escalation":
            code = str(e.payload.get("reason_code", ""))
            run.escalations.append((e.ts.timestamp(), e.incident_id, code))
    run.incidents = list(incidents.values())
    run.events = len(evs)
    if evs:
        run.start, run.end = evs[0].ts.timestamp(), evs[-1].ts.timestamp()
    return run


def _decision(e: LedgerEvent, issued: set[tuple[str, str, str]]) -> DecisionFact:
    d = PolicyDecision.model_validate(e.payload)
    verb = e.summary.split(" on ", 1)[0]  # the row names its verb only in its summary
    return DecisionFact(
        t=d.ts.timestamp(),
        incident_id=e.incident_id,
        verb=verb,
        target=e.service,
        outcome=str(d.outcome),
        rule_ids=tuple(d.rule_ids),
        reasons=tuple(d.reasons),
        issued=str(d.outcome) == "allow" and (e.incident_id, verb, e.service) in issued,
    )


@dataclass
class _Shadow:
    """The candidate's decide stage, and what it has in flight per incident."""

    decider: Decider
    run: ShadowRun
    current: dict[str, AnyCommand] = field(default_factory=dict)
    approvals: dict[str, ApprovalRequest] = field(default_factory=dict)
    asked: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Recorded approval id -> the (verb, target) it asked about."""


def redecide(
    events: Iterable[LedgerEvent],
    candidate: Variant,
    topology: Topology,
    config: ReplayConfig | None = None,
) -> ShadowRun:
    """The candidate's decisions on the recorded incidents, in event time."""
    if candidate.policy is None:
        raise ValueError("the candidate needs a policy")
    cfg = config or ReplayConfig()
    services = {s.name: ServiceInfo(tier=s.tier, replicas=s.replicas) for s in topology.services}
    envelope = PolicyEnvelope(candidate.policy, services)
    sh = _Shadow(Decider(envelope, cfg.key), ShadowRun(candidate))
    evs = sorted(events, key=lambda e: e.ts)
    incidents: dict[str, IncidentFact] = {}
    seed_ids(cfg.seed)
    try:
        boundary = evs[0].ts.timestamp() if evs else 0.0
        for e in evs:
            t = e.ts.timestamp()
            while t > boundary:
                boundary = next_boundary(boundary, t, cfg)
                _out(sh, sh.decider.tick(boundary))
            value = _payload(e)
            if isinstance(value, Incident):
                note_incident(incidents, value)
            _feed(sh, e, value, t)
        sh.run.events = len(evs)
    finally:
        seed_ids(None)
    sh.run.incidents = list(incidents.values())
    return sh.run


def _feed(sh: _Shadow, e: LedgerEvent, value: Any, t: float) -> None:
    if isinstance(value, ApprovalRequest):
        sh.asked[value.approval_id] = (str(value.command.verb), value.command.target)
        return
    if isinstance(value, ActionResult | Verification):
        value = _as_candidates(sh, value)
    elif isinstance(value, ApprovalDecision):
        value = _answer(sh, value)
    if value is not None:
        _out(sh, sh.decider.handle(value, t))


def _as_candidates(sh: _Shadow, v: ActionResult | Verification) -> Any:
    """A recorded outcome, told as the outcome of the candidate's own command when the candidate
    issued the same verb on the same target; ``None`` when it did not."""
    cmd = sh.current.get(v.incident_id)
    if cmd is None or (str(cmd.verb), cmd.target) != (str(v.verb), v.target):
        return None
    if isinstance(v, ActionResult):
        return v.model_copy(update={"command_id": cmd.command_id, "action_id": cmd.command_id})
    return v.model_copy(update={"action_id": cmd.command_id})


def _answer(sh: _Shadow, d: ApprovalDecision) -> ApprovalDecision | None:
    req = sh.approvals.get(d.incident_id)
    asked = sh.asked.get(d.approval_id)
    if req is None or asked != (str(req.command.verb), req.command.target):
        return None
    return d.model_copy(update={"approval_id": req.approval_id})


def _out(sh: _Shadow, out: Outputs) -> None:
    for cmd in out.commands:
        sh.current[cmd.incident_id] = cmd
    for req in out.approvals:
        sh.approvals[req.incident_id] = req
    decisions, escalations = facts(out)
    sh.run.decisions += decisions
    sh.run.escalations += escalations
