"""What is really in flight, as the evaluating stage knows it: the actions started and not yet
finished, the recent ones (for per-window caps), the last action per target (for cooldowns) and
the kill switch. Event time throughout."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field

from setpoint.policy.revocation import Revocations
from setpoint.policy.rules import Subject

Held = tuple[dict[str, "Action"], list["Action"], dict[str, tuple[float, str, str]]]
"""One domain's part of a :class:`LiveState`: in flight, recent, last action per target."""


@dataclass(frozen=True)
class Action:
    """An action that started: who did what to which service, and its blast footprint."""

    action_id: str
    subject: Subject
    domain: str
    incident_id: str
    started: float
    footprint: Mapping[str, int] = field(default_factory=dict)
    """Instances touched per service (the target and its dependents)."""

    @property
    def target(self) -> str:
        return self.subject.service


@dataclass
class LiveState:
    """In-flight and recent actions, cooldowns and the kill switch of one evaluating stage.

    Examples
    --------
    >>> s = LiveState()
    >>> s.started(Action("a1", Subject("restart", "api"), "d", "inc-1", 10.0, {"api": 2}))
    >>> [a.action_id for a in s.in_window(100.0, 60.0)], len(s.in_flight)
    (['a1'], 1)
    >>> s.finished("a1"); [a.action_id for a in s.in_window(100.0, 60.0)]
    []
    """

    in_flight: dict[str, Action] = field(default_factory=dict)
    recent: deque[Action] = field(default_factory=deque)
    """Actions by start time, oldest first (pruned to ``keep_s``)."""
    last_action: dict[str, tuple[float, str, str]] = field(default_factory=dict)
    """target -> (start time, incident id, verb) of its last action (for the cooldown)."""
    control: Revocations = field(default_factory=Revocations)
    keep_s: float = 3600.0

    @property
    def frozen(self) -> bool:
        return self.control.frozen

    def started(self, action: Action) -> None:
        self.in_flight[action.action_id] = action
        self.recent.append(action)
        self.last_action[action.target] = (action.started, action.incident_id, action.subject.verb)

    def finished(self, action_id: str) -> None:
        self.in_flight.pop(action_id, None)

    def expire(self, now: float, after_s: float) -> None:
        """Forget history older than ``keep_s`` and in-flight actions never finished in
        ``after_s`` (a lost verification must not block every later action forever)."""
        while self.recent and self.recent[0].started < now - self.keep_s:
            self.recent.popleft()
        for a in [a for a in self.in_flight.values() if a.started < now - after_s]:
            del self.in_flight[a.action_id]

    def in_window(self, now: float, window_s: float) -> Iterator[Action]:
        """Actions in flight, and those started within ``window_s`` of ``now``, each once."""
        seen = set(self.in_flight)
        yield from self.in_flight.values()
        for a in reversed(self.recent):
            if a.started <= now - window_s:
                break
            if a.action_id not in seen:
                yield a

    # -- hand-over -------------------------------------------------------------------------
    def domains(self) -> set[str]:
        return {a.domain for a in self.in_flight.values()} | {a.domain for a in self.recent}

    def take(self, domain: str, incidents: Set[str]) -> Held:
        """``domain``'s actions (``incidents``: the ids of its incidents, for the cooldowns).

        Examples
        --------
        >>> s, t = LiveState(), LiveState()
        >>> s.started(Action("a1", Subject("restart", "api"), "d", "inc-1", 10.0))
        >>> t.put(s.take("d", {"inc-1"})); s.drop("d", {"inc-1"})
        >>> list(t.in_flight), t.last_action["api"][1], len(s.recent)
        (['a1'], 'inc-1', 0)
        """
        recent = [a for a in self.recent if a.domain == domain]
        targets = {a.target for a in recent}
        return (
            {k: a for k, a in self.in_flight.items() if a.domain == domain},
            recent,
            {
                t: v
                for t, v in self.last_action.items()
                if v[1] in incidents or (t in targets and v[0] >= recent[0].started)
            },
        )

    def put(self, held: Held) -> None:
        """Take over what :meth:`take` gave (actions already known are kept once)."""
        in_flight, recent, last = held
        self.in_flight.update(in_flight)
        known = {a.action_id for a in self.recent}
        merged = sorted([*self.recent, *(a for a in recent if a.action_id not in known)],
                        key=lambda a: a.started)  # fmt: skip
        self.recent = deque(merged)
        for target, v in last.items():
            if target not in self.last_action or self.last_action[target][0] < v[0]:
                self.last_action[target] = v

    def drop(self, domain: str, incidents: Set[str]) -> None:
        """Forget ``domain``'s actions (its partition moved to another worker)."""
        _, _, last = self.take(domain, incidents)
        self.in_flight = {k: a for k, a in self.in_flight.items() if a.domain != domain}
        self.recent = deque(a for a in self.recent if a.domain != domain)
        for target in last:
            del self.last_action[target]
