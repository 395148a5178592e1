"""What the decide stage learns about its agents: the trust mode each proposal is made under, and
the trust record each proposal, human answer and outcome updates."""

from __future__ import annotations

from collections.abc import Set

from setpoint.policy.envelope import PolicyEnvelope, Proposal
from setpoint.policy.trust import TrustBook, TrustEvent, scope_of
from setpoint.schemas import (
    ActionResult,
    ActionStatus,
    AnyCommand,
    TrustMode,
    TrustRecord,
    Verb,
    Verification,
    VerificationOutcome,
)

Update = tuple[TrustRecord, bool]
"""An updated record, and whether its mode changed."""

_OUTCOME = {VerificationOutcome.RECOVERED: TrustEvent.SUCCEEDED,
            VerificationOutcome.NOT_RECOVERED: TrustEvent.FAILED}  # fmt: skip


class Learner:
    """Trust bookkeeping for the actions one decide stage issues.

    Parameters
    ----------
    book
        Every pair's record.
    envelope
        Where a target's tier comes from (a trust scope may be a tier).
    """

    def __init__(self, book: TrustBook, envelope: PolicyEnvelope) -> None:
        self.book = book
        self.envelope = envelope
        self._issued: dict[str, tuple[str, str, str]] = {}
        """action id -> (agent, verb, scope) of the actions this stage issued."""
        self._failed: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.book.config.enabled

    def scope(self, cmd: AnyCommand) -> str:
        tier = self.envelope.subject(Proposal.of(cmd)).tier
        return scope_of(self.book.config, cmd.target, tier)

    def mode(self, cmd: AnyCommand, now: float) -> TrustMode | None:
        """The mode ``cmd``'s pair holds now (``None`` when trust is off)."""
        if not self.enabled:
            return None
        return self.book.mode(cmd.agent, str(cmd.verb), self.scope(cmd), now)

    def observe(self, event: TrustEvent, cmd: AnyCommand, now: float) -> list[Update]:
        """A proposal, or a human's answer to one."""
        if not self.enabled:
            return []
        return [self.book.observe(event, cmd.agent, str(cmd.verb), self.scope(cmd), now)]

    def issued(self, cmd: AnyCommand) -> None:
        if cmd.verb != Verb.UNDO:
            self._issued[cmd.command_id] = (cmd.agent, str(cmd.verb), self.scope(cmd))

    def verified(self, v: Verification, now: float) -> list[Update]:
        event = _OUTCOME.get(v.outcome)
        if event == TrustEvent.FAILED:
            self._failed.add(v.action_id)
        return self._learn(event, v.action_id, now) if event else []

    def undone(self, res: ActionResult, now: float) -> list[Update]:
        """A rollback of an action this stage issued counts against its pair, once: the automatic
        rollback after a failed verification does not demote again, and one the kill switch
        forced (a revocation, not the action's outcome) does not count."""
        if res.status != ActionStatus.UNDONE or res.undoes is None:
            return []
        if res.reason_code.startswith("security"):
            return []
        first = res.undoes not in self._failed
        return self._learn(TrustEvent.ROLLED_BACK, res.undoes, now, demote=first)

    def _learn(
        self, event: TrustEvent, action_id: str, now: float, demote: bool = True
    ) -> list[Update]:
        pair = self._issued.get(action_id)
        if pair is None or not self.enabled:
            return []
        return [self.book.observe(event, *pair, now, demote=demote)]

    # -- hand-over -------------------------------------------------------------------------
    def take(self, ids: Set[str]) -> tuple[dict[str, tuple[str, str, str]], set[str]]:
        """What is known of the actions ``ids`` (to hand them to another worker)."""
        return {i: p for i, p in self._issued.items() if i in ids}, self._failed & ids

    def put(self, held: tuple[dict[str, tuple[str, str, str]], set[str]]) -> None:
        issued, failed = held
        self._issued.update(issued)
        self._failed |= failed

    def drop(self, ids: Set[str]) -> None:
        for i in ids:
            self._issued.pop(i, None)
        self._failed -= ids
