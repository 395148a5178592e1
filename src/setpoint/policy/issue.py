"""Building the commands the decide stage issues (unsigned; the decider signs them)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from setpoint.clock import to_datetime
from setpoint.schemas import AnyCommand, Command, Hypothesis, Incident, PolicyDecision, Verb

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(Command)


def new_command(
    inc: Incident, hyp: Hypothesis, verb: str, agent: str, attempt: int, epoch: int,
    now: float, ttl_s: float, command_id: str, replicas: int | None = None,
) -> AnyCommand:  # fmt: skip
    """Attempt ``attempt`` of ``inc``: ``verb`` on the service of ``hyp`` (decision pending).

    ``replicas`` is the target's declared replica count: a scale-out doubles it (as a horizontal
    autoscaler would for a load twice its target), so a surge is absorbed in one step.
    """
    return _COMMAND.validate_python(
        {
            "verb": verb,
            "command_id": command_id,
            "incident_id": inc.incident_id,
            "agent": agent,
            "target": hyp.service,
            "domain": inc.domain,
            "idempotency_key": f"{inc.incident_id}:{attempt}:{verb}:{hyp.service}",
            "attempt": attempt,
            "hypothesis_rank": hyp.rank,
            "decision": PolicyDecision(outcome="shadow", policy_hash="", ts=to_datetime(now)),
            "issued_at": to_datetime(now),
            "expires_at": to_datetime(now + ttl_s),
            "epoch": epoch,
            "params": _params(verb, hyp, replicas),
        }
    )


def undo_command(
    inc: Incident, target: str, action_id: str, agent: str, decision: PolicyDecision,
    epoch: int, now: float, ttl_s: float, command_id: str,
) -> AnyCommand:  # fmt: skip
    """The undo of ``action_id`` (its verification said it did not work)."""
    return _COMMAND.validate_python(
        {
            "verb": Verb.UNDO,
            "command_id": command_id,
            "incident_id": inc.incident_id,
            "agent": agent,
            "target": target,
            "domain": inc.domain,
            "idempotency_key": f"{inc.incident_id}:undo:{action_id}",
            "decision": decision,
            "issued_at": to_datetime(now),
            "expires_at": to_datetime(now + ttl_s),
            "epoch": epoch,
            "params": {"action_id": action_id, "reason": "not recovered"},
        }
    )


def _params(verb: str, hyp: Hypothesis, replicas: int | None) -> dict[str, Any]:
    if verb == Verb.SCALE:
        return {"delta": max(2, replicas or 0)}
    if verb == Verb.ROLLBACK_DEPLOY:
        return {"change_id": hyp.change_id}
    if verb == Verb.ESCALATE:
        return {"reason": hyp.fault_class}
    return {}
