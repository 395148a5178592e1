"""Level, daily profile and sustained shift, each judged against its own past (the default's core).

Three views of one series, all robust and O(1):

* a *point* residual: the distance of ``x`` from the long-run level, or from the time-of-day
  profile when that profile explains the series better (daily seasonality);
* a *shift* residual: how far a winsorised fast mean has moved from the long-run level (one spike
  cannot move it far; a level shift after a deploy or a slow leak moves it steadily);
* both in units of a robust scale (an exponentially weighted mean absolute deviation).

Each residual is then compared with the largest residual of the same kind that the series has
produced recently (a maximum that decays by ``memory`` per sample). A value that beats the
series' own recent record is novel and scores above 0.5; a value like the ones the series often
shows scores low however large it is in absolute terms. This makes scores comparable across
series of any scale and noise, which is what a single alert threshold needs.
"""

from __future__ import annotations

import math
from array import array

from setpoint.detectors.base import Detector, register

_DAY = 86400.0
_RECORDS_FROM = 50
"""The records start once the scale has settled (before, every residual would be a record)."""


@register("ensemble")
class Ensemble(Detector):
    """Novelty of the point and shift residuals of a series, relative to its own recent record.

    Parameters
    ----------
    level_alpha
        Weight of a new value in the long-run level (small: the level is a slow baseline).
    scale_alpha
        Weight of a new absolute residual in the robust scale.
    shift_alpha
        Weight of a new value in the winsorised fast mean (the shift view).
    shift_clip
        A value moves the fast mean by at most this many scales (one spike does not shift it).
    bins
        Time-of-day bins of the daily profile (0 disables the profile).
    bin_alpha
        Weight of a new value in its time-of-day bin.
    clip
        Residuals are winsorised at this many scales when learning (outliers do not teach).
    memory
        Per-sample decay of the recent record of each residual (0.9995: about 1,400 samples).
    sharpness
        Steepness of the score around the record (score 0.5 = equals the record).
    warmup
        Samples scored 0 while the baselines settle.
    select
        The daily profile is used once its residual scale is below ``select`` times the level's.
    outlier_weight
        Relative weight of a winsorised residual in the scale: below 1, a persisting shift
        widens the scale slowly, so it stays visible (and an alert on it stays up) for about
        ``1 / (3 * scale_alpha * outlier_weight)`` samples before it is the new normal.
    min_scale
        Smallest robust scale, in the series' own unit (0: none). A series of small counts
        (error-log lines per window: mostly 0, now and then 1) has a tiny scale, so one line
        would be twenty scales from normal; with ``min_scale=1`` a change of one is one scale.

    Examples
    --------
    >>> d = Ensemble(warmup=50)
    >>> for i in range(400):
    ...     _ = d.update(10.0 + (i % 7) * 0.1, t=60.0 * i)
    >>> d.score_one(10.3, t=24000.0) < 0.5 < 0.9 < d.score_one(30.0, t=24000.0) < 1.0
    True
    """

    __slots__ = (
        "_dev",
        "_fast",
        "_level",
        "_n",
        "_nprof",
        "_prof",
        "_prof_dev",
        "_rec_point",
        "_rec_shift",
        "bin_alpha",
        "bins",
        "clip",
        "level_alpha",
        "memory",
        "min_scale",
        "outlier_weight",
        "scale_alpha",
        "select",
        "sharpness",
        "shift_alpha",
        "shift_clip",
        "warmup",
    )

    def __init__(
        self,
        level_alpha: float = 0.001,
        scale_alpha: float = 0.01,
        shift_alpha: float = 0.1,
        shift_clip: float = 3.0,
        bins: int = 24,
        bin_alpha: float = 0.1,
        clip: float = 4.0,
        memory: float = 0.9995,
        sharpness: float = 4.0,
        warmup: int = 200,
        select: float = 0.8,
        outlier_weight: float = 0.25,
        min_scale: float = 0.0,
    ) -> None:
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.shift_alpha = shift_alpha
        self.shift_clip = shift_clip
        self.bins = bins
        self.bin_alpha = bin_alpha
        self.clip = clip
        self.memory = memory
        self.sharpness = sharpness
        self.warmup = warmup
        self.select = select
        self.outlier_weight = outlier_weight
        self.min_scale = min_scale
        self._n = 0
        self._level = self._dev = self._fast = self._prof_dev = 0.0
        self._rec_point = self._rec_shift = 0.0
        self._nprof = 0
        # NaN marks a bin not seen yet; an array of doubles keeps the state a few hundred bytes.
        self._prof = array("d", [math.nan]) * bins

    # -- the residuals -----------------------------------------------------------------------
    def _floor(self) -> float:
        return max(self.min_scale, 1e-3 * abs(self._level) + 1e-12)

    def _bin(self, t: float | None) -> int:
        if t is None or not self.bins:
            return -1
        return int((t % _DAY) / _DAY * self.bins) % self.bins

    def _point(self, x: float, b: int) -> tuple[float, float]:
        """(residual, scale) under the better of the level and the daily profile."""
        scale = max(self._dev, self._floor())
        if b >= 0 and self._nprof > 2 * self.bins and self._prof_dev < self.select * scale:
            p = self._prof[b]
            if p == p:  # not NaN: the bin has been seen
                return x - p, max(self._prof_dev, self._floor())
        return x - self._level, scale

    def _next_fast(self, x: float, scale: float) -> float:
        lim = self.shift_clip * scale
        return self._fast + self.shift_alpha * max(-lim, min(lim, x - self._fast))

    def _residuals(self, x: float, t: float | None) -> tuple[float, float]:
        e, s = self._point(x, self._bin(t))
        scale = max(self._dev, self._floor())
        return abs(e) / s, abs(self._next_fast(x, scale) - self._level) / scale

    # -- the river API -----------------------------------------------------------------------
    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < max(self.warmup, _RECORDS_FROM):
            return 0.0
        point, shift = self._residuals(x, t)
        q = max(point / max(self._rec_point, 1.0), shift / max(self._rec_shift, 1.0))
        return self._squash(q)

    def _squash(self, q: float) -> float:
        # Below the record: q^k. Above it: 1 + k*ln(q), which grows without bound but slowly, so
        # the score approaches 1 without ever rounding to it (no ties at 1.0, ranking preserved).
        u = q**self.sharpness if q <= 1.0 else 1.0 + self.sharpness * math.log(q)
        return u / (1.0 + u)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._learn(x, t, self._residuals(x, t) if self._n >= _RECORDS_FROM else (0.0, 0.0))

    def update(self, x: float, t: float | None = None) -> float:
        # The fused per-event path: the residuals are computed once for the score and the records.
        if self._n < _RECORDS_FROM:
            self._learn(x, t, (0.0, 0.0))
            return 0.0
        point, shift = res = self._residuals(x, t)
        score = 0.0
        if self._n >= self.warmup:
            q = max(point / max(self._rec_point, 1.0), shift / max(self._rec_shift, 1.0))
            score = self._squash(q)
        self._learn(x, t, res)
        return score

    def _learn(self, x: float, t: float | None, residuals: tuple[float, float]) -> None:
        if self._n == 0:
            self._level = self._fast = x
            self._n = 1
            return
        if self._n >= _RECORDS_FROM:
            self._rec_point = max(self._rec_point * self.memory, residuals[0])
            self._rec_shift = max(self._rec_shift * self.memory, residuals[1])
        self._learn_level(x)
        self._learn_profile(x, self._bin(t))
        self._n += 1

    def _learn_level(self, x: float) -> None:
        early = self._n <= 20
        scale = max(self._dev, self._floor())
        self._fast = self._next_fast(x, scale)
        e = x - self._level
        lim = abs(e) if early else self.clip * scale
        a = 1.0 / (self._n + 1) if early else self.level_alpha
        ad = 1.0 / (self._n + 1) if early else self.scale_alpha
        self._level += a * max(-lim, min(lim, e))
        if abs(e) > lim:  # an outlier widens the scale slowly: a persisting shift stays visible
            ad *= self.outlier_weight
        self._dev += ad * (min(abs(e), lim) - self._dev)

    def _learn_profile(self, x: float, b: int) -> None:
        if b < 0:
            return
        p = self._prof[b]
        if p != p:  # first value of this bin
            self._prof[b] = x
            return
        e = x - p
        trained = self._nprof > 2 * self.bins
        lim = self.clip * max(self._prof_dev, self._floor()) if trained else abs(e)
        self._prof[b] = p + self.bin_alpha * max(-lim, min(lim, e))
        a = self.scale_alpha if self._n > 20 else 1.0 / (self._n + 1)
        self._prof_dev += a * (min(abs(e), lim) - self._prof_dev)
        self._nprof += 1

    def baseline(self) -> float | None:
        return self._level if self._n else None

    def deviation(self, x: float, t: float | None = None) -> float | None:
        if self._n < max(self.warmup, _RECORDS_FROM):  # the scale settles over the warm-up
            return None
        e, s = self._point(x, self._bin(t))
        return abs(e) / s
