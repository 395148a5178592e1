"""What a verified action taught the decide stage beyond its own incident.

Two lessons outlive the case that learned them, for ``hold_s`` of event time:

* **A configuration change verified to work stands** (a renewed certificate, a scale-out, a
  rollback): another incident applying it again would change nothing but add risk.
* **A rollback verified not to help refutes what it rolled back.** Rolling a deploy back and
  seeing the symptoms stay says that version of the service is not their cause (a harmless
  deploy shortly before an unrelated fault). The lesson holds for the version, not only for the
  change that brought it: undoing the rollback deploys the same version again, a new change that
  another incident of the same fault would otherwise blame and roll back once more. A diagnosis
  that still leads with it is a guess for a human to look at.

Pure: values in, values out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from setpoint.schemas import AnyCommand, Hypothesis, Verb
from setpoint.schemas.verbs import Reversibility, spec

__all__ = ["Standing"]


@dataclass
class Standing:
    """The lessons of verified actions, by when they were learned.

    Examples
    --------
    >>> s = Standing()
    >>> h = Hypothesis(rank=1, service="api", fault_class="bad_deploy", score=0.9,
    ...                change_id="chg-1", change_version="2.0", actions=["rollback_deploy"])
    >>> s.issued(h, Verb.ROLLBACK_DEPLOY, "cmd-1")
    >>> s.refuted(h, Verb.ROLLBACK_DEPLOY, now=10.0)
    False
    >>> s.rolled_back_in_vain("cmd-1", now=10.0)
    >>> again = h.model_copy(update={"change_id": "chg-2"})
    >>> s.refuted(again, Verb.ROLLBACK_DEPLOY, now=20.0)
    True
    """

    hold_s: float = 3600.0
    stood: dict[tuple[str, str], float] = field(default_factory=dict)
    """(service, verb) -> when a configuration change there was verified to work."""
    refuted_at: dict[tuple[str, str], float] = field(default_factory=dict)
    """(service, version or change id) -> when rolling it back was verified not to help."""
    _rollbacks: dict[str, tuple[str, str]] = field(default_factory=dict)
    """command id of a rollback -> the (service, version or change id) it rolls back."""

    def issued(self, hyp: Hypothesis, verb: str, command_id: str) -> None:
        """``verb`` for ``hyp`` was proposed as ``command_id`` (only a rollback is kept)."""
        key = _suspect(hyp) if verb == Verb.ROLLBACK_DEPLOY else None
        if key is not None:
            self._rollbacks[command_id] = key

    def recovered(self, cmd: AnyCommand, now: float) -> None:
        self._rollbacks.pop(cmd.command_id, None)
        if spec(cmd.verb).reversibility != Reversibility.STATELESS:
            self.stood[(cmd.target, str(cmd.verb))] = now

    def rolled_back_in_vain(self, command_id: str, now: float) -> None:
        """The action ``command_id`` was verified not to help."""
        key = self._rollbacks.pop(command_id, None)
        if key is not None:
            self.refuted_at[key] = now

    def stands(self, service: str, verb: str, now: float) -> bool:
        """A configuration change on ``service`` with ``verb`` worked within the hold."""
        return now - self.stood.get((service, str(verb)), -math.inf) < self.hold_s

    def refuted(self, hyp: Hypothesis, verb: str, now: float) -> bool:
        """``verb`` for ``hyp`` would roll back what a rollback was verified not to help."""
        key = _suspect(hyp) if verb == Verb.ROLLBACK_DEPLOY else None
        return key is not None and now - self.refuted_at.get(key, -math.inf) < self.hold_s


def _suspect(hyp: Hypothesis) -> tuple[str, str] | None:
    """What a rollback for ``hyp`` undoes: its service at the change's version (or the change)."""
    what = hyp.change_version or hyp.change_id
    return (hyp.service, what) if what else None
