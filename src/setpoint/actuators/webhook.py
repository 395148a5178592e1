"""Escalation to a human through a webhook (``SETPOINT_ESCALATION_WEBHOOK``): a JSON document with
the incident, the evidence, what was tried, and the exact commands to roll back or approve,
posted with retries; every attempt is recorded as a ``BackendCall``.

The actions listed come from the actuator's own durable record (what really ran for the
incident, and whether it can still be undone), not from what the decide stage believes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from setpoint.actuators.backend import CallRecorder, Outcome
from setpoint.actuators.records import ExecutionRecord, ExecutionRecords
from setpoint.clock import to_datetime
from setpoint.schemas import ActionResult, ActionStatus, Escalation, Verb
from setpoint.schemas.verbs import spec


def payload(esc: Escalation, actions: list[ExecutionRecord]) -> dict[str, Any]:
    """The document a human receives.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> e = Escalation(escalation_id="esc-1", incident_id="inc-1", ts=datetime(2026, 1, 1,
    ...                tzinfo=UTC), reason_code="inconclusive", reason="no signal")
    >>> r = ExecutionRecord("k", "cmd-1", "inc-1", "rollback_deploy", "api", "executed")
    >>> doc = payload(e, [r])
    >>> doc["commands"]["rollback"], doc["actions"][0]["reversible"]
    (['setpoint rollback cmd-1'], True)
    """
    ctx = esc.context
    top = ctx.get("top_hypothesis") or {}
    done = [_action(r) for r in actions if r.verb != Verb.ESCALATE]
    commands: dict[str, Any] = {
        "rollback": [a["rollback"] for a in done if a["rollback"]],
        "ledger": f"setpoint ledger show {esc.incident_id}",
    }
    if ctx.get("approval_id"):
        commands["approve"] = f"setpoint approvals approve {ctx['approval_id']}"
        commands["deny"] = f"setpoint approvals deny {ctx['approval_id']}"
    return {
        "escalation_id": esc.escalation_id,
        "incident_id": esc.incident_id,
        "domain": esc.domain,
        "ts": esc.ts.isoformat(),
        "reason_code": esc.reason_code,
        "reason": esc.reason,
        "incident": {k: ctx.get(k) for k in ("summary", "services", "confidence")},
        "hypothesis": {k: top.get(k) for k in ("service", "fault_class", "score", "change_id")},
        "evidence": [e.get("summary") for e in top.get("evidence_for", [])][:16],
        "tried": list(esc.tried),
        "actions": done,
        "commands": commands,
    }


def _action(r: ExecutionRecord) -> dict[str, Any]:
    reversible = spec(r.verb).reversible if r.verb in set(Verb) else False
    can_undo = reversible and r.status == ActionStatus.EXECUTED
    return {
        "action_id": r.action_id,
        "verb": r.verb,
        "target": r.target,
        "status": r.status,
        "reversible": reversible,
        "rollback": f"setpoint rollback {r.action_id}" if can_undo else None,
    }


class EscalationWebhook:
    """Posts escalations to ``url``, retrying with exponential back-off.

    Parameters
    ----------
    url
        Where to post.
    attempts
        Tries in all (the first and the retries).
    backoff_s
        Wait before the first retry; doubled for each next one.
    timeout_s
        Per attempt.
    sleep
        How to wait (tests pass one that does not).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        attempts: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.sleep = sleep

    def post(self, esc: Escalation, actions: list[ExecutionRecord]) -> Outcome:
        """Deliver ``esc``; the outcome holds every attempt."""
        body = json.dumps(payload(esc, actions), sort_keys=True).encode()
        rec = CallRecorder(self.name)
        wait = self.backoff_s
        for k in range(self.attempts):
            status, answer = self._attempt(rec, body, esc.escalation_id)
            if 200 <= status < 300:
                return Outcome(True, f"delivered to {self.url} (attempt {k + 1})", rec.calls)
            if 400 <= status < 500 and status not in (408, 429):
                return Outcome(
                    False,
                    f"{self.url} refused it: {status} {answer}",
                    rec.calls,
                    code="actuator.backend",
                )
            if k + 1 < self.attempts:
                self.sleep(wait)
                wait *= 2
        why = f"{self.url} did not take it after {self.attempts} attempts"
        return Outcome(False, why, rec.calls, code="actuator.backend")

    def _attempt(self, rec: CallRecorder, body: bytes, esc_id: str) -> tuple[int, str]:
        req = urllib.request.Request(self.url, data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Idempotency-Key", esc_id)
        started = time.time()
        text = f"POST {self.url} {body.decode()}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status, answer = resp.status, resp.read().decode("utf-8", "replace")[:500]
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read().decode("utf-8", "replace")[:500]
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            rec.record("webhook.post", text, f"error: {exc}", False, started)
            return 0, str(exc)
        rec.record("webhook.post", text, f"{status} {answer}", 200 <= status < 300, started)
        return status, answer


def deliver(
    records: ExecutionRecords, hook: EscalationWebhook, esc: Escalation, now: float
) -> ActionResult | None:
    """Post ``esc`` once (a redelivered escalation already delivered is skipped; one whose
    delivery was interrupted is posted again: a page may repeat, it must not be lost).

    Returns the result to record, or ``None`` when it was delivered before.
    """
    key = f"escalation:{esc.escalation_id}"
    seen = records.get(key)
    if seen is not None and seen.finished:
        return None
    top = esc.context.get("top_hypothesis") or {}
    target = str(top.get("service") or "human")
    if seen is None:
        records.begin(
            ExecutionRecord(
                key,
                esc.escalation_id,
                esc.incident_id,
                Verb.ESCALATE,
                target,
                "started",
                started_at=esc.ts.timestamp(),
            )
        )
    out = hook.post(esc, records.by_incident(esc.incident_id))
    status = ActionStatus.ESCALATED if out.ok else ActionStatus.FAILED
    res = ActionResult(
        action_id=esc.escalation_id,
        command_id=esc.escalation_id,
        incident_id=esc.incident_id,
        verb=str(Verb.ESCALATE),
        target=target,
        domain=esc.domain,
        status=status,
        reason_code=out.code,
        reason=out.detail[:1000],
        calls=out.calls,
        backend=hook.name,
        started_at=esc.ts,
        finished_at=to_datetime(max(now, esc.ts.timestamp())),
    )
    records.finish(key, str(status), res.model_dump_json(), now)
    return res
