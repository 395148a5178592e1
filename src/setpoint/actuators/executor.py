"""The execute stage: the actuator enforces the envelope again at execution time, then applies.

A command runs only if its signature verifies, it has not expired, it was issued at or after the
current revocation epoch, its idempotency key was never executed, and the policy - evaluated now,
against the actuator's own live state - still allows it. Nothing in the decide stage can make the
actuator skip these checks.
"""

from __future__ import annotations

from datetime import datetime

from setpoint.actuators.apply import apply_command, recover_unfinished, undo_command
from setpoint.actuators.backend import Backend, Outcome
from setpoint.actuators.records import ExecutionRecords
from setpoint.actuators.results import action_result
from setpoint.clock import EventClock, to_datetime
from setpoint.errors import (
    ExpiredCommandError,
    ReplayError,
    RevokedError,
    SecurityError,
)
from setpoint.policy import LiveState, PolicyEnvelope, Proposal, verify
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    AnyCommand,
    ControlAction,
    ControlEvent,
    DecisionOutcome,
    UndoCommand,
)


class Actuator:
    """Checks and executes commands through one backend.

    Parameters
    ----------
    envelope
        The policy envelope, re-evaluated against ``state`` before every execution.
    key
        The HMAC key commands must be signed with.
    backend
        Where verbs are applied.
    records
        The durable execution record (idempotency keys, captured state).
    max_repeats, repeat_window_s
        The remediation loop's bound: the same verb on the same target runs at most
        ``max_repeats`` times per ``repeat_window_s`` event-time seconds; past that it fails
        (``actuator.repeat``) and the decide stage moves on to a human.
    settle_wait_s
        On recovery, wall seconds to wait for a backend still landing an earlier action.
    """

    def __init__(
        self,
        envelope: PolicyEnvelope,
        key: bytes,
        backend: Backend,
        records: ExecutionRecords,
        max_repeats: int = 3,
        repeat_window_s: float = 3600.0,
        settle_wait_s: float = 30.0,
    ) -> None:
        self.envelope = envelope
        self.key = key
        self.backend = backend
        self.records = records
        self.max_repeats = max_repeats
        self.repeat_window_s = repeat_window_s
        self.settle_wait_s = settle_wait_s
        self.state = LiveState()
        self.clock = EventClock()
        self.epoch = 0
        self._revoked: dict[tuple[str, str, str], int] = {}

    # -- control -----------------------------------------------------------------------------
    def on_control(self, ev: ControlEvent) -> None:
        """Apply a freeze, unfreeze, revoke or restore (they take effect on the next check)."""
        self.epoch = max(self.epoch, ev.epoch)
        if ev.action == ControlAction.FREEZE:
            self.state.frozen = True
        elif ev.action == ControlAction.UNFREEZE:
            self.state.frozen = False
        elif ev.action == ControlAction.REVOKE:
            self._revoked[(ev.agent, ev.verb, ev.scope)] = ev.epoch
        else:
            self._revoked.pop((ev.agent, ev.verb, ev.scope), None)

    def _check_epoch(self, cmd: AnyCommand) -> None:
        for (agent, verb, scope), epoch in self._revoked.items():
            if (
                agent in ("*", cmd.agent)
                and verb in ("*", str(cmd.verb))
                and scope in ("*", cmd.target)
                and cmd.epoch < epoch
            ):
                msg = f"command {cmd.command_id} was issued before revocation epoch {epoch}"
                raise RevokedError(msg, context={"epoch": epoch})

    # -- execution ---------------------------------------------------------------------------
    def check(self, cmd: AnyCommand) -> float:
        """Raise a ``SecurityError`` unless ``cmd`` may be considered at all; return the time.

        The actuator's clock is event time as carried by *authentic* commands only: a forged
        command cannot move it (and so cannot make genuine commands look expired).
        """
        verify(cmd, self.key)
        self.clock.observe(cmd.issued_at.timestamp())
        now = self.clock.now()
        if now > cmd.expires_at.timestamp():
            msg = f"command {cmd.command_id} expired at {cmd.expires_at.isoformat()}"
            raise ExpiredCommandError(msg, context={"expires_at": cmd.expires_at.isoformat()})
        self._check_epoch(cmd)
        seen = self.records.get(cmd.idempotency_key)
        if seen is not None and seen.action_id != cmd.command_id:
            msg = f"idempotency key {cmd.idempotency_key} was used by action {seen.action_id}"
            raise ReplayError(msg, context={"action_id": seen.action_id})
        return now

    def execute(self, cmd: AnyCommand) -> ActionResult:
        """Check, re-evaluate and apply ``cmd``; the result says what happened, whatever it was."""
        try:
            now = self.check(cmd)
        except SecurityError as exc:
            started = to_datetime(self.clock.now())
            return self._result(cmd, ActionStatus.REJECTED, exc.code, exc.message, started)
        started = to_datetime(now)
        seen = self.records.get(cmd.idempotency_key)
        if seen is not None:
            return self._result(
                cmd,
                ActionStatus.DUPLICATE,
                "duplicate",
                f"already {seen.status}; not executed again",
                started,
            )
        if isinstance(cmd, UndoCommand):
            return self._undo(cmd, now, started)
        proposal = Proposal(
            str(cmd.verb),
            cmd.target,
            cmd.domain,
            cmd.incident_id,
            cmd.agent,
            cmd.attempt,
            cmd.approved_by,
        )
        decision = self.envelope.evaluate(proposal, self.state, now)
        if decision.outcome != DecisionOutcome.ALLOW:
            why = "; ".join(decision.reasons)
            return self._result(
                cmd,
                ActionStatus.REJECTED,
                "policy",
                f"policy now says {decision.outcome}: {why}",
                started,
            )
        return self._apply(cmd, now, started)

    def _apply(self, cmd: AnyCommand, now: float, started: datetime) -> ActionResult:
        # Once allowed: observe, check the verb's preconditions, capture (all before acting),
        # write the record with the capture, then act. See ``actuators.apply``.
        return apply_command(self, cmd, now, started)

    def _undo(self, cmd: UndoCommand, now: float, started: datetime) -> ActionResult:
        return undo_command(self, cmd, now, started)

    def recover(self) -> list[ActionResult]:
        """Settle what a previous run of this actuator left ``started`` (it stopped mid-action):
        resume verification where the effect landed, roll back where it did not."""
        return recover_unfinished(self)

    def finished(self, action_id: str) -> None:
        """Verification ended for ``action_id``: it no longer counts as in flight."""
        self.state.finished(action_id)

    def _result(
        self,
        cmd: AnyCommand,
        status: ActionStatus,
        code: str,
        reason: str,
        started: datetime,
        out: Outcome | None = None,
        undoes: str | None = None,
    ) -> ActionResult:
        return action_result(cmd, status, code, reason, started, self.backend.name, out, undoes)
