"""How each stage's output becomes a ledger event: the one-line summary and the full payload."""

from __future__ import annotations

from typing import Any

from setpoint.clock import to_datetime
from setpoint.schemas import (
    ActionResult,
    Anomaly,
    ApprovalDecision,
    ApprovalRequest,
    ControlEvent,
    DeadLetter,
    Escalation,
    Incident,
    LedgerEvent,
    PolicyDecision,
    Stage,
    TrustRecord,
    Verification,
    new_id,
)
from setpoint.schemas.commands import _CommandBase


def _event(
    stage: Stage,
    event_type: str,
    value: Any,
    ts: Any,
    *,
    incident_id: str = "",
    entity_id: str = "",
    service: str = "",
    summary: str = "",
) -> LedgerEvent:
    return LedgerEvent(
        event_id=new_id("ev"),
        incident_id=incident_id,
        ts=ts,
        stage=stage,
        event_type=event_type,
        entity_id=entity_id,
        service=service,
        summary=summary[:1000],
        payload=value.model_dump(mode="json"),
    )


def anomaly(a: Anomaly, incident_id: str = "") -> LedgerEvent:
    kind = "anomaly.suppressed" if a.suppressed else f"anomaly.{a.status}"
    why = f" (suppressed by {a.suppressed_by})" if a.suppressed else ""
    return _event(
        Stage.DETECT if not incident_id else Stage.DIAGNOSE,
        kind,
        a,
        a.ts,
        incident_id=incident_id,
        entity_id=a.anomaly_id,
        service=a.service,
        summary=a.summary + why,
    )


def incident(inc: Incident) -> LedgerEvent:
    kind = {"open": "incident.opened", "updated": "incident.updated"}.get(
        inc.status, "incident.recovered"
    )
    top = inc.hypotheses[0] if inc.hypotheses else None
    novel = " NOVEL" if inc.novel else ""
    text = f"{inc.summary}{novel}; confidence {inc.confidence:.2f}"
    return _event(
        Stage.DIAGNOSE,
        kind,
        inc,
        inc.ts,
        incident_id=inc.incident_id,
        entity_id=inc.incident_id,
        service=top.service if top else "",
        summary=text,
    )


def decision(incident_id: str, verb: str, target: str, d: PolicyDecision) -> LedgerEvent:
    text = f"{verb} on {target}: {d.outcome} by {', '.join(d.rule_ids)} (policy {d.policy_hash})"
    return _event(
        Stage.DECIDE,
        "policy.decision",
        d,
        d.ts,
        incident_id=incident_id,
        service=target,
        summary=text,
    )


def command(cmd: _CommandBase, verb: str) -> LedgerEvent:
    by = f", approved by {cmd.approved_by}" if cmd.approved_by else ""
    text = f"{verb} on {cmd.target} (attempt {cmd.attempt}, hypothesis {cmd.hypothesis_rank}{by})"
    return _event(
        Stage.DECIDE,
        "command.issued",
        cmd,
        cmd.issued_at,
        incident_id=cmd.incident_id,
        entity_id=cmd.command_id,
        service=cmd.target,
        summary=text,
    )


def approval_request(r: ApprovalRequest) -> LedgerEvent:
    return _event(
        Stage.DECIDE,
        "approval.requested",
        r,
        r.ts,
        incident_id=r.incident_id,
        entity_id=r.approval_id,
        service=r.command.target,
        summary=r.summary,
    )


def approval_decision(d: ApprovalDecision) -> LedgerEvent:
    text = f"{'approved' if d.approved else 'denied'} by {d.approver}"
    return _event(
        Stage.DECIDE,
        "approval.decided",
        d,
        d.ts,
        incident_id=d.incident_id,
        entity_id=d.approval_id,
        summary=text,
    )


def action(r: ActionResult) -> LedgerEvent:
    calls = f"; {len(r.calls)} call(s)" if r.calls else ""
    text = f"{r.verb} on {r.target}: {r.status}{' - ' + r.reason if r.reason else ''}{calls}"
    return _event(
        Stage.EXECUTE,
        f"action.{r.status}",
        r,
        r.started_at,
        incident_id=r.incident_id,
        entity_id=r.action_id,
        service=r.target,
        summary=text,
    )


def verification(v: Verification) -> LedgerEvent:
    text = f"{v.verb} on {v.target}: {v.outcome} ({v.detail})"
    return _event(
        Stage.VERIFY,
        f"verification.{v.outcome}",
        v,
        v.ts,
        incident_id=v.incident_id,
        entity_id=v.action_id,
        service=v.target,
        summary=text,
    )


def escalation(e: Escalation) -> LedgerEvent:
    return _event(
        Stage.DECIDE,
        "escalation",
        e,
        e.ts,
        incident_id=e.incident_id,
        entity_id=e.escalation_id,
        summary=f"{e.reason_code}: {e.reason}",
    )


def control(c: ControlEvent) -> LedgerEvent:
    text = (
        f"{c.action} agent={c.agent} verb={c.verb} scope={c.scope} epoch={c.epoch} by {c.issued_by}"
    )
    return _event(
        Stage.CONTROL, f"control.{c.action}", c, c.ts, entity_id=c.control_id, summary=text
    )


def trust(r: TrustRecord) -> LedgerEvent:
    text = f"{r.agent} {r.verb} {r.scope} is now {r.mode}: {r.reason} (score {r.score:.2f})"
    return _event(Stage.DECIDE, "trust.mode", r, r.updated_at, entity_id=r.key[:128], summary=text)


def dead_letter(d: DeadLetter) -> LedgerEvent:
    return _event(
        Stage.INTAKE,
        "dead_letter",
        d,
        d.ts,
        entity_id=d.dead_letter_id,
        summary=f"{d.topic}: [{d.reason_code}] {d.reason}",
    )


def now_ts(t: float) -> Any:
    return to_datetime(t)
