"""One series watched: its detector, its alert decision and the little the stage needs besides.

``SeriesMonitor`` is the unit both the detect stage (one per series) and ``setpoint detect`` (one
per file) run, built from the same ``DetectionConfig``, so the CLI measures the stream path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from setpoint.detectors.alerting import Alerter
from setpoint.detectors.base import Detector, make


class DetectionConfig(BaseModel):
    """Hyper-parameters of the detect stage (all in event-time seconds or sample counts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detector: str = "context_ensemble"
    detector_params: dict[str, Any] = {}
    threshold: float = 0.6
    """Lowest score of an abnormal sample (the alerter raises it for series that run high)."""
    page: float = 0.6
    """A sample scoring this high fires at once; below it, ``min_duration`` samples must agree."""
    clear: float = 0.9
    """A firing series is still abnormal above ``clear`` times its threshold (hysteresis)."""
    spread: float = 6.0
    """The threshold is at least this many standard deviations above the series' usual scores."""
    hold: float = 12.0
    """A firing series stays firing while its value is this many robust scales from normal."""
    sustain: float | None = None
    """A quiet series' sample this many robust scales from normal is abnormal whatever its
    score (``None``: scores alone decide); see :class:`~setpoint.detectors.alerting.Alerter`."""
    evidence_threshold: float = 0.6
    """Other series of a firing service scoring above this are attached as evidence."""
    min_duration: int = 2
    """Consecutive abnormal samples before a moderate excursion fires (one blip does not page)."""
    recovery: int = 1
    """Consecutive normal samples before a firing series clears."""
    warmup: int = 20
    """Samples a series must have before it may fire."""
    lease_s: float = 300.0
    """How long a change (deploy, config...) quiets its service's transients."""
    change_memory_s: float = 3600.0
    """How long a change is kept as context for the anomalies that follow it."""
    evict_after_s: float = 6 * 3600.0
    """A series silent this long is forgotten."""
    health_interval_s: float = 15.0
    log_interval_s: float = 15.0

    count_prefix: str = "log_errors"
    """Series named with this prefix are small counts per window (the stage's error-log counts)
    ..."""
    count_scale: float = 1.0
    """...whose robust scale is at least this (``min_scale`` of the ensemble detectors): a
    change of one line is not an excursion."""

    def new_detector(self, count: bool = False) -> Detector:
        if count and self.detector in _SCALED:
            return make(self.detector, **{"min_scale": self.count_scale, **self.detector_params})
        return make(self.detector, **self.detector_params)

    def new_alerter(self) -> Alerter:
        return Alerter(
            threshold=self.threshold,
            page=self.page,
            min_duration=self.min_duration,
            recovery=self.recovery,
            clear=self.clear,
            warmup=self.warmup,
            spread=self.spread,
            hold=self.hold,
            sustain=self.sustain,
        )

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> DetectionConfig:
        """A named alerting profile (see :data:`PROFILES`), with ``overrides`` on top.

        Examples
        --------
        >>> DetectionConfig.profile("nab") == DetectionConfig()
        True
        >>> infra = DetectionConfig.profile("infra")
        >>> infra.min_duration, infra.page > 1.0, infra.sustain
        (3, True, 8.0)
        """
        if name not in PROFILES:
            msg = f"unknown detection profile {name!r}; known: {sorted(PROFILES)}"
            raise ValueError(msg)
        return cls(**{**PROFILES[name], **overrides})

    def new_monitor(self, name: str = "") -> SeriesMonitor:
        """A monitor for the series ``name`` (a count series gets its scale floor)."""
        count = bool(name) and name.startswith(self.count_prefix)
        return SeriesMonitor(self.new_detector(count), self.new_alerter())


_SCALED = {"ensemble", "context_ensemble"}
"""Detectors that take ``min_scale``."""

PROFILES: dict[str, dict[str, Any]] = {
    "nab": {},
    "infra": {"page": 1.01, "min_duration": 3, "sustain": 8.0},
}
"""Alerting profiles. ``nab``: the defaults, picked on the NAB benchmark (a sample scoring 0.6
fires at once: NAB rewards the earliest alert, and its files are 5-minute series). ``infra``:
what the stream workers run on 10-second infrastructure metrics (``SETPOINT_DETECTION_PROFILE``):
nothing fires on one sample; an excursion fires once three samples in a row are abnormal (a
novel score, or a value at least 8 robust scales from normal), so a single odd sample never opens
an incident, at the price of about 20 s of detection time. Same detector, same thresholds."""


class SeriesMonitor:
    """A detector and its alert decision for one series, with the last value seen.

    Parameters
    ----------
    detector
        Scores each value (``update``: score, then learn).
    alerter
        Turns the scores into a firing / quiet decision.

    Examples
    --------
    >>> from setpoint.detectors.ewma_z import EwmaZ
    >>> m = SeriesMonitor(EwmaZ(), Alerter(warmup=5))
    >>> for i in range(50):
    ...     _ = m.observe(100.0 + i % 3, float(i))
    >>> m.firing, m.observe(500.0, 50.0) > 0.9, m.firing
    (False, True, True)
    """

    __slots__ = ("alerter", "detector", "last_t", "last_value", "n", "score")

    def __init__(self, detector: Detector, alerter: Alerter) -> None:
        self.detector = detector
        self.alerter = alerter
        self.n = 0
        self.last_t = 0.0
        self.last_value = 0.0
        self.score = 0.0

    def observe(self, x: float, t: float) -> float:
        """Score ``x`` seen at ``t``, learn it, update the alert state; return the score."""
        # While firing, how far the value still is from normal keeps a persisting degradation
        # firing after its score has stopped rising (the score measures novelty, not distance).
        a = self.alerter
        watch = a.firing or a.sustain is not None
        dev = self.detector.deviation(x, t) if watch else None
        self.score = self.detector.update(x, t)
        self.alerter.step(self.score, t, dev)
        self.n += 1
        self.last_t, self.last_value = t, x
        return self.score

    @property
    def firing(self) -> bool:
        return self.alerter.firing

    @property
    def onset(self) -> float | None:
        return self.alerter.onset
