"""Two-sided CUSUM: sustained shifts of the level (a bad deploy, a slow leak), not one spike."""

from __future__ import annotations

from setpoint.detectors.base import Detector, register, squash


@register("level_shift")
class LevelShift(Detector):
    """Cumulative sum of standardised residuals beyond a slack, in both directions (Page's CUSUM).

    Each value's residual from a slow, winsorised baseline is expressed in robust scale units;
    residuals beyond ``slack`` accumulate, residuals within it drain the sums. One spike adds at
    most ``clip - slack``; a shift of a few scales that persists grows the sum steadily. The sums
    are capped so the detector forgets an old shift once the baseline has absorbed it.

    Parameters
    ----------
    alpha
        Weight of a new value in the baseline.
    scale_alpha
        Weight of a new absolute residual in the scale.
    slack
        Residuals (in scales) below this drain the sums instead of feeding them.
    clip
        A residual adds at most this many scales.
    horizon
        The summed excess at which the score reaches 0.5.

    Examples
    --------
    >>> d = LevelShift()
    >>> for i in range(300):
    ...     _ = d.update(50.0 + (i % 5))
    >>> spike = d.score_one(90.0)
    >>> for i in range(40):
    ...     shifted = d.update(65.0 + (i % 5))
    >>> spike < 0.5 < 0.9 < shifted < 1.0
    True
    """

    __slots__ = (
        "_dev",
        "_level",
        "_n",
        "_neg",
        "_pos",
        "alpha",
        "clip",
        "horizon",
        "scale_alpha",
        "slack",
    )

    def __init__(
        self,
        alpha: float = 0.005,
        scale_alpha: float = 0.01,
        slack: float = 1.5,
        clip: float = 4.0,
        horizon: float = 20.0,
    ) -> None:
        self.alpha = alpha
        self.scale_alpha = scale_alpha
        self.slack = slack
        self.clip = clip
        self.horizon = horizon
        self._n = 0
        self._level = self._dev = self._pos = self._neg = 0.0

    def _z(self, x: float) -> float:
        s = max(self._dev, 1e-3 * abs(self._level) + 1e-12)
        return max(-self.clip, min(self.clip, (x - self._level) / s))

    def _sums(self, x: float) -> tuple[float, float]:
        z = self._z(x)
        cap = 5.0 * self.horizon
        pos = min(cap, max(0.0, self._pos + z - self.slack))
        neg = min(cap, max(0.0, self._neg - z - self.slack))
        return pos, neg

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < 30:
            return 0.0
        s = max(self._sums(x))
        return squash(s / self.horizon)

    def deviation(self, x: float, t: float | None = None) -> float | None:
        return abs(self._z(x)) if self._n >= 30 else None

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._n == 0:
            self._level = x
        else:
            if self._n >= 30:
                self._pos, self._neg = self._sums(x)
            early = self._n < 30
            s = max(self._dev, 1e-3 * abs(self._level) + 1e-12)
            e = x - self._level
            lim = abs(e) if early else self.clip * s
            ec = max(-lim, min(lim, e))
            self._level += (1.0 / (self._n + 1) if early else self.alpha) * ec
            self._dev += (1.0 / (self._n + 1) if early else self.scale_alpha) * (
                abs(ec) - self._dev
            )
        self._n += 1

    def baseline(self) -> float | None:
        return self._level if self._n else None
