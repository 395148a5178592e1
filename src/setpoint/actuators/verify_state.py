"""The verify stage's state (what it holds per pending action and per service) and handing a
failure domain's share of it over to another worker (its partition moved)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from setpoint import snapshot
from setpoint.errors import DecodeError
from setpoint.schemas import ActionResult, Incident, ServiceHealth

__all__ = ["HandOver", "HealthLog", "Pending"]

_STATE_MODULES = ("setpoint.actuators", "setpoint.schemas")


@dataclass
class Pending:
    """An executed action awaiting its verdict: what it is judged on, and against what."""

    result: ActionResult
    start: float
    settle_until: float
    deadline: float
    services: list[str]
    baseline: dict[str, dict[str, float]]
    opened_at: float
    peak: dict[str, dict[str, float]] = field(default_factory=dict)
    """The worst value of each signal between the incident's opening and the action."""
    own: tuple[dict[str, float], dict[str, float]] = ({}, {})
    """The target's baseline and peak on its own errors (``overlap.own_slis``)."""
    good_streak: int = 0
    last_round: tuple[float, ...] = ()
    why: str = ""


@dataclass
class HealthLog:
    """A service's recent health summaries (an hour of them)."""

    points: deque[ServiceHealth] = field(default_factory=deque)


class HandOver:
    """The verifier's hand-over methods (a mixin: the state lives on the verifier)."""

    _incidents: dict[str, Incident]
    _health: dict[str, HealthLog]
    _pending: dict[str, Pending]
    _done: dict[str, str]

    def domains(self) -> list[str]:
        """The failure domains this stage holds incidents, health or pending actions for."""
        held = {i.domain for i in self._incidents.values()}
        held |= {h.points[-1].domain for h in self._health.values() if h.points}
        return sorted(held | {p.result.domain for p in self._pending.values()})

    def snapshot(self, domain: str) -> bytes:
        """``domain``'s incidents, health history, pending verifications and recent verdicts."""
        state = (
            domain,
            {i: inc for i, inc in self._incidents.items() if inc.domain == domain},
            {s: h for s, h in self._health.items() if h.points and h.points[-1].domain == domain},
            {a: p for a, p in self._pending.items() if p.result.domain == domain},
            {a: d for a, d in self._done.items() if d == domain},
        )
        return snapshot.dump(state)

    def restore(self, data: bytes) -> str:
        """Take over a domain from a :meth:`snapshot`; ``DecodeError`` for anything else.

        Examples
        --------
        >>> from setpoint.actuators import Verifier
        >>> from setpoint.clock import to_datetime
        >>> from setpoint.schemas import ServiceHealth
        >>> a, b = Verifier(), Verifier()
        >>> a.on_health(ServiceHealth(service="api", domain="shop", ts=to_datetime(5),
        ...                           anomalous=False, slis={"error_rate": 0.01}))
        >>> b.restore(a.snapshot("shop")), b.domains()
        ('shop', ['shop'])
        """
        state = snapshot.load(data, _STATE_MODULES)
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[0], str)):
            msg = "verify snapshot has an unexpected shape"
            raise DecodeError(msg)
        domain, incidents, health, pending, done = state
        self.drop([domain])
        self._incidents.update(incidents)
        self._health.update(health)
        self._pending.update(pending)
        self._done.update(done)
        return str(domain)

    def drop(self, domains: Iterable[str]) -> None:
        """Forget ``domains`` (their partition moved to another worker)."""
        gone = set(domains)
        self._incidents = {i: x for i, x in self._incidents.items() if x.domain not in gone}
        self._health = {
            s: h for s, h in self._health.items() if not h.points or h.points[-1].domain not in gone
        }
        self._pending = {a: p for a, p in self._pending.items() if p.result.domain not in gone}
        self._done = {a: d for a, d in self._done.items() if d not in gone}
