"""An exponentially weighted z-score detector: cheap, robust enough, a baseline for the others."""

from __future__ import annotations

import math

from setpoint.detectors.base import Detector, register, squash


@register("ewma_z")
class EwmaZ(Detector):
    """Distance of a value from an exponentially weighted mean, in weighted standard deviations.

    The score maps ``|z| / scale`` through :func:`~setpoint.detectors.base.squash`, so it is in
    [0, 1) and large deviations keep their order instead of tying at 1.0.

    Parameters
    ----------
    alpha
        Weight of the newest value in the running mean and variance.
    scale
        The ``|z|`` at which the score reaches 0.5.
    min_std
        Floor of the standard deviation, relative to the mean's magnitude (flat series).
    clip
        An update moves the mean by at most this many standard deviations.

    Examples
    --------
    >>> d = EwmaZ()
    >>> for i in range(200):
    ...     _ = d.update(10.0 + (i % 5) * 0.1)
    >>> d.score_one(10.2) < 0.2 < 0.9 < d.score_one(30.0)
    True
    """

    def __init__(
        self, alpha: float = 0.02, scale: float = 4.0, min_std: float = 1e-3, clip: float = 3.0
    ) -> None:
        self.alpha = alpha
        self.clip = clip
        self.scale = scale
        self.min_std = min_std
        self._mean = 0.0
        self._var = 0.0
        self._n = 0

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._n == 0:
            self._mean = x
        else:
            d = x - self._mean
            if self._n > 10:
                # Winsorised update: an outlier moves the baseline by at most `clip` deviations,
                # so a sustained shift is learned gradually instead of masking itself at once.
                lim = self.clip * max(
                    math.sqrt(self._var), self.min_std * max(abs(self._mean), 1.0)
                )
                d = max(-lim, min(lim, d))
            self._mean += self.alpha * d
            self._var = (1 - self.alpha) * (self._var + self.alpha * d * d)
        self._n += 1

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < 2:
            return 0.0
        return squash(abs(x - self._mean) / self._std() / self.scale)

    def baseline(self) -> float | None:
        return self._mean if self._n else None

    def deviation(self, x: float, t: float | None = None) -> float | None:
        if self._n < 2:
            return None
        return abs(x - self._mean) / self._std()

    def _std(self) -> float:
        return max(math.sqrt(self._var), self.min_std * max(abs(self._mean), 1.0))
