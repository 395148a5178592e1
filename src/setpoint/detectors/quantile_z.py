"""Distance from the running median in inter-quartile ranges: heavy tails, skew, outliers."""

from __future__ import annotations

from river import stats

from setpoint.detectors.base import Detector, register, squash


@register("quantile_z")
class QuantileZ(Detector):
    """``|x - median| / IQR`` with river's streaming (P²) quantiles, which need O(1) memory.

    Quantiles ignore how far outliers go, so one huge spike does not blind the detector to the
    next one, and a skewed series (latencies, counts) is judged by its own spread.

    Parameters
    ----------
    scale
        The distance, in inter-quartile ranges, at which the score reaches 0.5.
    warmup
        Samples scored 0 while the quantiles settle.

    Examples
    --------
    >>> d = QuantileZ()
    >>> for i in range(300):
    ...     _ = d.update(20.0 + (i * 7) % 11)
    >>> d.score_one(25.0) < 0.1 < 0.9 < d.score_one(150.0) < 1.0
    True
    """

    __slots__ = ("_hi", "_lo", "_med", "_n", "scale", "warmup")

    def __init__(self, scale: float = 3.0, warmup: int = 30) -> None:
        self.scale = scale
        self.warmup = warmup
        self._n = 0
        self._lo = stats.Quantile(0.25)
        self._med = stats.Quantile(0.5)
        self._hi = stats.Quantile(0.75)

    def deviation(self, x: float, t: float | None = None) -> float | None:
        if self._n < self.warmup:
            return None
        med, hi, lo = self._med.get() or 0.0, self._hi.get() or 0.0, self._lo.get() or 0.0
        iqr = hi - lo
        return abs(x - med) / max(iqr, 1e-3 * abs(med) + 1e-12)

    def score_one(self, x: float, t: float | None = None) -> float:
        z = self.deviation(x, t)
        return 0.0 if z is None else squash(z / self.scale)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._lo.update(x)
        self._med.update(x)
        self._hi.update(x)
        self._n += 1

    def baseline(self) -> float | None:
        return self._med.get() if self._n else None
