"""Monotonic counters (requests_total, bytes_sent): score their rate, survive their resets."""

from __future__ import annotations

from setpoint.detectors.base import Detector, register
from setpoint.detectors.ewma_z import EwmaZ


@register("counter_rate")
class CounterRate(Detector):
    """Turns a cumulative counter into a per-second rate and scores the rate with ``EwmaZ``.

    A counter that goes down was reset (the process restarted): like Prometheus' ``rate``, the
    new value is taken as the increase since the reset, so a restart is neither a negative rate
    nor a spike. Samples with no time step (repeated or out-of-order timestamps) score the last
    rate and teach nothing.

    Parameters
    ----------
    alpha
        Weight of the newest rate in the inner ``EwmaZ``.
    scale
        The inner ``EwmaZ``'s ``scale``.

    Examples
    --------
    >>> d = CounterRate()
    >>> total = 0.0
    >>> for i in range(300):
    ...     total += 100.0 + (i % 3)
    ...     _ = d.update(total, t=float(i))
    >>> after_reset = d.update(101.0, t=300.0)  # the process restarted
    >>> burst = d.score_one(101.0 + 2000.0, t=301.0)
    >>> after_reset < 0.1 < 0.9 < burst
    True
    """

    __slots__ = ("_inner", "_last", "_last_t", "_rate", "alpha", "scale")

    def __init__(self, alpha: float = 0.02, scale: float = 4.0) -> None:
        self.alpha = alpha
        self.scale = scale
        self._inner = EwmaZ(alpha=alpha, scale=scale)
        self._last: float | None = None
        self._last_t: float | None = None
        self._rate: float | None = None

    def _rate_of(self, x: float, t: float | None) -> float | None:
        if self._last is None:
            return None
        inc = x - self._last if x >= self._last else x  # a decrease is a reset to zero
        if t is None:
            return inc
        if self._last_t is None or t <= self._last_t:
            return None
        return inc / (t - self._last_t)

    def score_one(self, x: float, t: float | None = None) -> float:
        r = self._rate_of(x, t)
        if r is None:
            r = self._rate
        return 0.0 if r is None else self._inner.score_one(r)

    def deviation(self, x: float, t: float | None = None) -> float | None:
        r = self._rate_of(x, t)
        return None if r is None else self._inner.deviation(r)

    def learn_one(self, x: float, t: float | None = None) -> None:
        r = self._rate_of(x, t)
        if r is not None:
            self._inner.learn_one(r)
            self._rate = r
        if r is not None or self._last is None or t is None:
            self._last, self._last_t = x, t

    def baseline(self) -> float | None:
        return self._inner.baseline()
