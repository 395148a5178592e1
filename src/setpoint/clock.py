"""Time as the stages see it: event time, given to them, never ``time.time()`` inside a stage.

A stage is handed a :class:`Clock`. In the stream workers it is an :class:`EventClock` that
advances with the timestamps of the telemetry it processes; in tests it is a :class:`ManualClock`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time in unix seconds."""
        ...


class ManualClock:
    """A clock a test moves by hand.

    Examples
    --------
    >>> c = ManualClock(100.0)
    >>> c.advance(5); c.now()
    105.0
    """

    def __init__(self, start: float = 0.0) -> None:
        self.start = start
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, t: float) -> None:
        self._now = t


class EventClock:
    """Event time: the largest event timestamp seen so far (it never goes backwards).

    One producer with a skewed clock must not drag every stage into its future (evicting every
    series, expiring every command): with ``max_step_s`` set, an event more than that far ahead
    of the clock does not move it on its own word. It moves there once ``quorum`` distinct
    sources (services, domains...) have said so, which is what a real jump looks like (the fleet
    resumes after a gap): the clock then goes to the ``quorum``-th latest of their times, so one
    liar among them cannot pull it further. Until ``quorum`` distinct sources have been seen at
    all, each one counts as a quorum (a one-service test still moves on). With ``wall`` given,
    the first event sets the clock only if it is not more than ``max_step_s`` ahead of it (a
    fresh worker whose first message comes from the skewed producer is not fooled either).

    Examples
    --------
    >>> c = EventClock()
    >>> c.observe(10.0); c.observe(7.0); c.now()
    10.0
    >>> c = EventClock(max_step_s=60.0)
    >>> c.observe(1000.0, "a"); c.observe(1030.0, "b"); c.now()
    1030.0
    >>> c.observe(9e9, "a"); c.now(), c.held    # one producer far in the future: held
    (1030.0, 1)
    >>> c.observe(5000.0, "b"); c.now()         # a second source agrees on a jump
    5000.0
    """

    _MAX_AHEAD = 64
    _GRACE = 64
    _GRACE_S = 5.0
    """A lone source far ahead of the wall clock sets the time only after this many events *and*
    this many wall seconds without company (a worker reading a backlog gets a whole partition of
    one producer before it sees another partition)."""

    def __init__(
        self,
        start: float = 0.0,
        max_step_s: float | None = None,
        quorum: int = 2,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.start = start
        self.max_step_s = max_step_s
        self.quorum = quorum
        self.wall = wall
        self.held = 0
        """Events that were too far ahead to move the clock on their own."""
        self._now = start
        self._sources: set[str] = set()
        self._ahead: dict[str, float] = {}
        self._first_held: float | None = None

    def now(self) -> float:
        return self._now

    def observe(self, t: float, source: str = "") -> None:
        if len(self._sources) < self.quorum:
            self._sources.add(source)
        if t <= self._now:
            return
        step = self.max_step_s
        if self._now == self.start:
            ref = self.wall() if self.wall is not None and step is not None else math.inf
        else:
            ref = self._now
        if step is None or t - ref <= step:
            self._now = t
            return
        self.held += 1
        self._ahead[source] = max(t, self._ahead.get(source, t))
        if len(self._ahead) > self._MAX_AHEAD:
            del self._ahead[min(self._ahead, key=self._ahead.__getitem__)]
        live = sorted((v for v in self._ahead.values() if v > self._now), reverse=True)
        need = min(self.quorum, len(self._sources))
        if self._now == self.start and not self._graced():
            need = self.quorum  # a first event far ahead of real time waits a little for company
        if len(live) >= need:
            self._now = live[need - 1]
            self._ahead.clear()

    def _graced(self) -> bool:
        """Whether a first event far ahead has waited long enough for company."""
        if self.held < self._GRACE:
            return False
        if self.wall is None:
            return True
        if self._first_held is None:
            self._first_held = self.wall()
        return self.wall() - self._first_held >= self._GRACE_S


class WallClock:
    """Real time, optionally sped up from an origin (the simulated fleet's clock)."""

    def __init__(self, speed: float = 1.0, origin: float | None = None) -> None:
        self.speed = speed
        self.origin = origin
        self._real0 = time.time()
        self._origin = self._real0 if origin is None else origin

    def now(self) -> float:
        return self._origin + (time.time() - self._real0) * self.speed


def to_datetime(t: float) -> datetime:
    """Unix seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(t, UTC)
