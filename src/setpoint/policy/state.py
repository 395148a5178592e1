"""What is really in flight, as the evaluating stage knows it: the actions started and not yet
finished, the recent ones (for per-window caps), the last action per target (for cooldowns) and
the kill switch. Event time throughout."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from setpoint.policy.revocation import Revocations
from setpoint.policy.rules import Subject


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
