"""Handing a failure domain's decide state over to another worker (its partition moved): the
cases of its incidents, its actions and what was learned of them. Trust and the kill switch are
every worker's (broadcast), so they stay."""

from __future__ import annotations

from collections.abc import Iterable

from setpoint import snapshot
from setpoint.errors import DecodeError
from setpoint.policy.cases import Case
from setpoint.policy.learning import Learner
from setpoint.policy.state import LiveState

__all__ = ["HandOver"]

_STATE_MODULES = ("setpoint.policy", "setpoint.schemas")


class HandOver:
    """The decider's hand-over methods (a mixin: the state lives on the decider)."""

    _cases: dict[str, Case]
    state: LiveState
    learner: Learner

    def domains(self) -> list[str]:
        """The failure domains this stage holds cases or actions for."""
        return sorted({c.incident.domain for c in self._cases.values()} | self.state.domains())

    def snapshot(self, domain: str) -> bytes:
        """The cases of ``domain``'s incidents, its actions (in flight, recent, last per target)
        and what was learned of them; trust and the kill switch are every worker's (broadcast)."""
        cases = {i: c for i, c in self._cases.items() if c.incident.domain == domain}
        live = self.state.take(domain, set(cases))
        ids = {a.action_id for a in live[1]} | {
            c.current.command_id for c in cases.values() if c.current
        }
        return snapshot.dump((domain, cases, live, self.learner.take(ids)))

    def restore(self, data: bytes) -> str:
        """Take over a domain from a :meth:`snapshot`; ``DecodeError`` for anything else."""
        state = snapshot.load(data, _STATE_MODULES)
        if not (isinstance(state, tuple) and len(state) == 4 and isinstance(state[0], str)):
            msg = "decide snapshot has an unexpected shape"
            raise DecodeError(msg)
        domain, cases, live, learned = state
        self.drop([domain])
        self._cases.update(cases)
        self.state.put(live)
        self.learner.put(learned)
        return str(domain)

    def drop(self, domains: Iterable[str]) -> None:
        """Forget ``domains`` (their partition moved to another worker)."""
        for domain in set(domains):
            cases = {i for i, c in self._cases.items() if c.incident.domain == domain}
            live = self.state.take(domain, cases)
            self.learner.drop({a.action_id for a in live[1]})
            self.learner.drop(
                {c.current.command_id for i in cases if (c := self._cases[i]).current}
            )
            self.state.drop(domain, cases)
            for i in cases:
                del self._cases[i]
