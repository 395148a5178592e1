"""The execute stage: the actuator enforces the envelope again at execution time, then applies.

A command runs only if its signature verifies, it has not expired, no freeze or revocation covers
it (by its epoch and its agent, verb and scope), its idempotency key was never executed, and the
policy - evaluated now, against the actuator's own live state, with the blast footprint the
actuator counts itself - still allows it. Nothing in the decide stage can make the actuator skip
these checks. A revocation or freeze that lands while a command is executing rolls it back
through its inverse (a half-applied action does not stay).
"""

from __future__ import annotations

import threading
from datetime import datetime

from setpoint.actuators.apply import apply_command, recover_unfinished, undo_command
from setpoint.actuators.backend import Backend, Outcome
from setpoint.actuators.records import ExecutionRecords
from setpoint.actuators.results import action_result
from setpoint.clock import EventClock, to_datetime
from setpoint.errors import (
    ControlStateError,
    ExpiredCommandError,
    ReplayError,
    RevokedError,
    SecurityError,
)
from setpoint.policy import PolicyEnvelope, Proposal, VerifyKey, verify
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    AnyCommand,
    ControlEvent,
    DecisionOutcome,
    UndoCommand,
    Verb,
)
from setpoint.schemas.verbs import spec


class Actuator:
    """Checks and executes commands through one backend.

    Parameters
    ----------
    envelope
        The policy envelope, re-evaluated against ``state`` before every execution.
    key
        The key commands are verified with (an Ed25519 public key, or the shared HMAC secret).
    backend
        Where verbs are applied.
    records
        The durable execution record (idempotency keys, captured state).
    max_repeats, repeat_window_s
        The loop bound: a verb runs at most ``max_repeats`` times on one target per window.
    settle_wait_s
        How long recovery after a restart waits for a half-applied effect to land.
    """

    def __init__(
        self,
        envelope: PolicyEnvelope,
        key: VerifyKey,
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
        self.state = envelope.new_state()
        self.clock = EventClock()
        self._lock = threading.Lock()

    @property
    def epoch(self) -> int:
        return self.state.control.epoch

    # -- control -----------------------------------------------------------------------------
    def on_control(self, ev: ControlEvent) -> None:
        """Apply a freeze, unfreeze, revoke or restore: it takes effect on the next check, and on
        a command executing right now (which is then rolled back)."""
        with self._lock:
            self.state.control.apply(ev)

    def revoked(self, cmd: AnyCommand) -> str | None:
        """Why a freeze or revocation covers ``cmd``, or ``None``."""
        tier = self.envelope.subject(Proposal.of(cmd)).tier
        with self._lock:
            return self.state.control.blocking(
                cmd.agent, str(cmd.verb), cmd.target, tier, cmd.epoch
            )

    def _check_epoch(self, cmd: AnyCommand) -> None:
        why = self.revoked(cmd)
        if why is not None:
            msg = f"command {cmd.command_id} (epoch {cmd.epoch}): {why}"
            raise RevokedError(msg, context={"epoch": self.epoch})

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
        proposal = Proposal.of(cmd)
        with self._lock:
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
        return self._apply(cmd, proposal, now, started)

    def _apply(self, cmd: AnyCommand, p: Proposal, now: float, started: datetime) -> ActionResult:
        # Once allowed: observe, check the verb's preconditions, capture (all before acting),
        # write the record with the capture, then act. See ``actuators.apply``.
        return apply_command(self, cmd, p, now, started)

    def mark_started(self, cmd: AnyCommand, p: Proposal, now: float) -> None:
        """``cmd`` is about to act: it counts as in flight (caps, blast radius) from now on."""
        with self._lock:
            self.state.started(self.envelope.action(p, cmd.command_id, now))

    def landed_meanwhile(self, cmd: AnyCommand) -> str | None:
        """A freeze or revocation that covers ``cmd`` and arrived while it was executing."""
        with self._lock:
            frozen = self.state.frozen
        if frozen and cmd.verb != Verb.UNDO:
            return "a freeze"
        return self.revoked(cmd)

    def roll_back_half_applied(
        self, cmd: AnyCommand, out: Outcome, why: str, started: datetime
    ) -> tuple[ActionResult, str]:
        """A freeze or revocation landed while ``cmd`` was executing: undo it if it can be.

        ``out`` carries the calls made so far and the state captured before acting. Returns the
        result and the status to record for ``cmd``.
        """
        verb = str(cmd.verb)
        if not spec(verb).reversible:
            text = f"{why} while executing; {verb} has no inverse, so it stands"
            res = self._result(cmd, ActionStatus.EXECUTED, RevokedError.code, text, started, out)
            return res, str(ActionStatus.EXECUTED)
        back = self.backend.undo(verb, cmd.target, out.captured, cmd.command_id)
        self.finished(cmd.command_id)
        both = Outcome(back.ok, back.detail, [*out.calls, *back.calls], out.captured)
        status = ActionStatus.UNDONE if back.ok else ActionStatus.FAILED
        text = f"{why} while executing: rolled back" if back.ok else f"{why}; rollback failed"
        res = self._result(cmd, status, RevokedError.code, f"{text} ({back.detail})", started,
                           both, undoes=cmd.command_id)  # fmt: skip
        return res, str(status)

    def _undo(self, cmd: UndoCommand, now: float, started: datetime) -> ActionResult:
        return undo_command(self, cmd, now, started)

    def recover(self) -> list[ActionResult]:
        """Settle what a previous run of this actuator left ``started`` (it stopped mid-action):
        resume verification where the effect landed, roll back where it did not."""
        return recover_unfinished(self)

    def unconfirmed(self, cmd: AnyCommand) -> ActionResult:
        """Refuse ``cmd`` because the kill switch's state could not be confirmed (fail closed)."""
        why = "could not confirm the control topic was read up to date; not executed"
        return self._result(
            cmd, ActionStatus.REJECTED, ControlStateError.code, why, to_datetime(self.clock.now())
        )

    def finished(self, action_id: str) -> None:
        """Verification ended for ``action_id``: it no longer counts as in flight."""
        with self._lock:
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
