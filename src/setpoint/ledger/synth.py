"""Synthetic incident stories, built with the stages' own schemas and ledger builders
(``events.py``), for the ingest benchmark and the ledger's tests: the rows look exactly like the
ones the pipeline records, with a known mix of outcomes.

Outcomes, by ``random.Random`` draw: 70 % resolved by the first action, 10 % resolved by a second
action after the first was verified not to work and rolled back, 10 % escalated after a failed
action and its rollback, 10 % recovered by themselves (no action).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from setpoint.ledger import events as le
from setpoint.schemas import (
    ActionResult,
    AnomalousSignal,
    Anomaly,
    BackendCall,
    Escalation,
    Evidence,
    Hypothesis,
    Incident,
    IncidentStatus,
    LedgerEvent,
    PolicyDecision,
    RestartCommand,
    RollbackCommand,
    UndoCommand,
    UndoParams,
    Verification,
)

SERVICES = ("frontend", "checkout", "catalog", "inventory", "auth", "db", "payments", "search")
_FAULTS = (("bad_deploy", RollbackCommand), ("memory_leak", RestartCommand))


def story(n: int, start: datetime, rng: random.Random) -> list[LedgerEvent]:
    """The ledger events of synthetic incident number ``n``, opening at ``start``."""
    svc = SERVICES[rng.randrange(len(SERVICES))]
    fault, cmd_cls = _FAULTS[rng.randrange(len(_FAULTS))]
    inc_id = f"inc-synth{n:012d}"
    onset = start
    detected = onset + timedelta(seconds=rng.uniform(10, 120))
    a = _anomaly(n, svc, onset, detected, rng)
    inc = _incident(inc_id, svc, fault, a, onset, detected)
    out = [le.anomaly(a), le.anomaly(a, inc_id), le.incident(inc)]
    draw = rng.random()
    if draw < 0.1:
        return [*out, le.incident(_recovered(inc, detected + timedelta(seconds=60)))]
    t = detected + timedelta(seconds=rng.uniform(1, 20))
    first_works = draw < 0.8
    out += _act(cmd_cls, inc_id, svc, f"{n}a", t, first_works, rng)
    if first_works:
        return out
    t += timedelta(seconds=400)
    out += _undo(inc_id, svc, f"{n}a", t)
    if draw < 0.9:
        return [*out, *_act(RestartCommand, inc_id, svc, f"{n}b", t, True, rng)]
    esc = Escalation(escalation_id=f"esc-{n}", incident_id=inc_id, ts=t,
                     reason_code="exhausted", reason="no action restored the SLOs",
                     tried=[f"{fault} on {svc}"])  # fmt: skip
    return [*out, le.escalation(esc)]


def _anomaly(n: int, svc: str, onset: datetime, ts: datetime, rng: random.Random) -> Anomaly:
    value = rng.uniform(0.05, 0.4)
    sig = AnomalousSignal(name="error_rate", value=value, baseline=0.01, score=0.8,
                          direction="up", onset=onset)  # fmt: skip
    return Anomaly(anomaly_id=f"anom-synth{n:012d}", service=svc, ts=ts, onset=onset,
                   score=0.8, signals=[sig], summary=f"{svc}: firing (error_rate)")  # fmt: skip


def _incident(
    inc_id: str, svc: str, fault: str, a: Anomaly, onset: datetime, ts: datetime
) -> Incident:
    ev = Evidence(kind="anomaly", service=svc, summary=f"error_rate up ({a.signals[0].value:.3g} "
                  "vs 0.01)", weight=0.8, ts=onset, ref=a.anomaly_id)  # fmt: skip
    verb = "rollback_deploy" if fault == "bad_deploy" else "restart"
    hyp = Hypothesis(rank=1, service=svc, fault_class=fault, score=0.8, evidence_for=[ev],
                     actions=[verb])  # fmt: skip
    return Incident(incident_id=inc_id, status="open", opened_at=onset, ts=ts, services=[svc],
                    anomaly_ids=[a.anomaly_id], hypotheses=[hyp], confidence=0.8,
                    summary=f"{fault} on {svc} (0.80); 1 anomalous service(s)")  # fmt: skip


def _recovered(inc: Incident, ts: datetime) -> Incident:
    return inc.model_copy(update={"status": IncidentStatus.RECOVERED, "ts": ts})


def _act(
    cmd_cls: type[RollbackCommand] | type[RestartCommand],
    inc_id: str,
    svc: str,
    suffix: str,
    t: datetime,
    works: bool,
    rng: random.Random,
) -> list[LedgerEvent]:
    d = PolicyDecision(outcome="allow", policy_hash="synthetic0000000", ts=t,
                       rule_ids=["routine-autonomous"], reasons=["routine"])  # fmt: skip
    cmd = cmd_cls(command_id=f"cmd-synth{suffix}", incident_id=inc_id, agent="setpoint.decide",
                  target=svc, idempotency_key=f"{inc_id}:{suffix}", decision=d, issued_at=t,
                  expires_at=t + timedelta(minutes=5))  # fmt: skip
    verb = str(cmd.verb)
    done = t + timedelta(seconds=rng.uniform(0.1, 2))
    call = BackendCall(backend="sim", operation="execute", ok=True, ts=t, duration_ms=5.0,
                       request=f"POST /actions {verb} {svc}", response="200 ok")  # fmt: skip
    res = ActionResult(action_id=cmd.command_id, command_id=cmd.command_id, incident_id=inc_id,
                       verb=verb, target=svc, status="executed", calls=[call], backend="sim",
                       started_at=t, finished_at=done)  # fmt: skip
    v_at = done + timedelta(seconds=rng.uniform(60, 390))
    ver = Verification(verification_id=f"ver-{suffix}", action_id=cmd.command_id,
                       incident_id=inc_id, target=svc, verb=verb, started_at=done, ts=v_at,
                       outcome="recovered" if works else "not_recovered", window_s=390,
                       observed={f"{svc}.error_rate": 0.01 if works else 0.2},
                       baseline={f"{svc}.error_rate": 0.01})  # fmt: skip
    return [le.decision(inc_id, verb, svc, d), le.command(cmd, verb), le.action(res),
            le.verification(ver)]  # fmt: skip


def _undo(inc_id: str, svc: str, suffix: str, t: datetime) -> list[LedgerEvent]:
    d = PolicyDecision(outcome="allow", policy_hash="synthetic0000000", ts=t,
                       rule_ids=["builtin.undo"])  # fmt: skip
    cmd = UndoCommand(command_id=f"cmd-undo{suffix}", incident_id=inc_id, agent="setpoint.decide",
                      target=svc, idempotency_key=f"{inc_id}:undo:{suffix}", decision=d,
                      issued_at=t, expires_at=t + timedelta(minutes=5),
                      params=UndoParams(action_id=f"cmd-synth{suffix}"))  # fmt: skip
    res = ActionResult(action_id=cmd.command_id, command_id=cmd.command_id, incident_id=inc_id,
                       verb="undo", target=svc, status="undone", started_at=t, finished_at=t,
                       undoes=f"cmd-synth{suffix}")  # fmt: skip
    return [le.decision(inc_id, "undo", svc, d), le.command(cmd, "undo"), le.action(res)]
