"""Time as the stages see it: event time, given to them, never ``time.time()`` inside a stage.

A stage is handed a :class:`Clock`. In the stream workers it is an :class:`EventClock` that
advances with the timestamps of the telemetry it processes; in tests it is a :class:`ManualClock`.
"""

from __future__ import annotations

import time
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

    Examples
    --------
    >>> c = EventClock()
    >>> c.observe(10.0); c.observe(7.0); c.now()
    10.0
    """

    def __init__(self, start: float = 0.0) -> None:
        self.start = start
        self._now = start

    def now(self) -> float:
        return self._now

    def observe(self, t: float) -> None:
        if t > self._now:
            self._now = t


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
