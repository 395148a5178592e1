"""A series that stops moving or stops reporting: stuck gauges, dead exporters, frozen queues."""

from __future__ import annotations

from setpoint.detectors.base import Detector, register, squash


@register("flatline")
class Flatline(Detector):
    """Runs of unchanged values in a series that usually moves, and gaps in its reporting.

    The detector learns how much the series usually changes from one sample to the next and how
    often it reports. A run of near-identical values longer than ``patience`` samples, in a series
    that normally moves, scores high; so does a value that arrives after a silence of more than
    ``gap`` usual intervals (the exporter was down).

    Parameters
    ----------
    patience
        Length of a flat run (in samples) at which the score reaches 0.5.
    tolerance
        A step smaller than this fraction of the usual step counts as "no change".
    gap
        A silence this many usual intervals long scores as much as a run of ``2 * patience``.
    alpha
        Weight of a new step (and a new interval) in the usual ones.

    Examples
    --------
    >>> d = Flatline()
    >>> for i in range(200):
    ...     _ = d.update(float(i % 7), t=10.0 * i)
    >>> moving = d.score_one(3.0, t=2000.0)
    >>> for i in range(200, 270):
    ...     stuck = d.update(6.0, t=10.0 * i)
    >>> late = d.score_one(6.5, t=2690.0 + 3600.0)
    >>> moving < 0.1 < 0.9 < stuck < 1.0 and late > 0.9
    True
    """

    __slots__ = (
        "_dt",
        "_last",
        "_last_t",
        "_n",
        "_run",
        "_step",
        "alpha",
        "gap",
        "patience",
        "tolerance",
    )

    def __init__(
        self, patience: int = 20, tolerance: float = 0.01, gap: float = 10.0, alpha: float = 0.02
    ) -> None:
        self.patience = patience
        self.tolerance = tolerance
        self.gap = gap
        self.alpha = alpha
        self._n = self._run = 0
        self._last = self._step = self._dt = 0.0
        self._last_t: float | None = None

    def _run_if(self, x: float) -> int:
        flat = abs(x - self._last) <= self.tolerance * self._step
        return self._run + 1 if flat else 0

    def _silence(self, t: float | None) -> float:
        if t is None or self._last_t is None or self._dt <= 0.0:
            return 0.0
        return max(0.0, t - self._last_t) / self._dt

    def score_one(self, x: float, t: float | None = None) -> float:
        if self._n < 30 or self._step <= 0.0:
            return 0.0
        run = self._run_if(x) / self.patience
        late = 2.0 * self._silence(t) / self.gap if self._silence(t) > self.gap else 0.0
        return squash(max(run, late))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._n > 0:
            run = self._run_if(x)
            step = abs(x - self._last)
            a = 1.0 / self._n if self._n < 30 else self.alpha
            if run == 0:  # a stuck stretch must not teach the detector that stuck is usual
                self._step += a * (step - self._step)
            if t is not None and self._last_t is not None and t > self._last_t:
                dt = t - self._last_t
                self._dt += a * (min(dt, 10.0 * self._dt if self._dt else dt) - self._dt)
            self._run = run
        self._last = x
        if t is not None:
            self._last_t = t if self._last_t is None else max(self._last_t, t)
        self._n += 1

    def baseline(self) -> float | None:
        return self._last if self._n else None
