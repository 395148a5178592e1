"""Distance from a time-of-day profile: for series with a daily rhythm (traffic, batch jobs)."""

from __future__ import annotations

import math
from array import array

from setpoint.detectors.base import Detector, register, squash

_DAY = 86400.0


@register("seasonal_z")
class SeasonalZ(Detector):
    """Residual from the usual value at this time of day, in robust scale units.

    The day is cut into ``bins``; each keeps an exponentially weighted mean of its values
    (winsorised, so an incident does not teach the profile). The scale is the weighted mean
    absolute residual over all bins. Without timestamps the detector has one bin (a level).

    Parameters
    ----------
    bins
        Bins per day (24: hourly).
    alpha
        Weight of a new value in its bin.
    scale_alpha
        Weight of a new absolute residual in the scale.
    clip
        Residuals are winsorised at this many scales when learning.
    scale
        The residual, in scales, at which the score reaches 0.5.

    Examples
    --------
    >>> d = SeasonalZ()
    >>> for i in range(24 * 12 * 4):  # four days, every 5 minutes, high by day, low by night
    ...     t = 300.0 * i
    ...     _ = d.update(100.0 if 8 <= (t % 86400) / 3600 < 20 else 10.0, t)
    >>> noon, night = 12 * 3600.0 + 4 * 86400, 2 * 3600.0 + 4 * 86400
    >>> d.score_one(100.0, noon) < 0.1 < 0.9 < d.score_one(100.0, night)
    True
    """

    __slots__ = ("_dev", "_n", "_prof", "alpha", "bins", "clip", "scale", "scale_alpha")

    def __init__(
        self,
        bins: int = 24,
        alpha: float = 0.1,
        scale_alpha: float = 0.01,
        clip: float = 4.0,
        scale: float = 6.0,
    ) -> None:
        self.bins = bins
        self.alpha = alpha
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.scale = scale
        self._n = 0
        self._dev = 0.0
        self._prof = array("d", [math.nan]) * max(bins, 1)

    def _bin(self, t: float | None) -> int:
        if t is None or self.bins <= 1:
            return 0
        return int((t % _DAY) / _DAY * self.bins) % self.bins

    def _resid(self, x: float, t: float | None) -> tuple[int, float, float]:
        b = self._bin(t)
        p = self._prof[b]
        floor = 1e-3 * abs(p) + 1e-12 if p == p else 1e-12
        return b, (x - p if p == p else 0.0), max(self._dev, floor)

    def deviation(self, x: float, t: float | None = None) -> float | None:
        if self._n < 2 * self.bins:
            return None
        _, e, s = self._resid(x, t)
        return abs(e) / s

    def score_one(self, x: float, t: float | None = None) -> float:
        z = self.deviation(x, t)
        if z is None:
            return 0.0
        return squash(z / self.scale)

    def learn_one(self, x: float, t: float | None = None) -> None:
        b, e, s = self._resid(x, t)
        if self._prof[b] != self._prof[b]:
            self._prof[b] = x
        else:
            lim = self.clip * s if self._n > 2 * self.bins else abs(e)
            ec = max(-lim, min(lim, e))
            self._prof[b] += self.alpha * ec
            a = self.scale_alpha if self._n > 2 * self.bins else 1.0 / (self._n + 1)
            self._dev += a * (abs(ec) - self._dev)
        self._n += 1

    def baseline(self) -> float | None:
        p = [v for v in self._prof if v == v]
        return sum(p) / len(p) if p else None
