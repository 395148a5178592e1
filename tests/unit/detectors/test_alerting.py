"""The per-series alert decision: thresholds, minimum duration, hysteresis, hold, warm-up."""

from __future__ import annotations

from setpoint.detectors import Alerter


def steps(a: Alerter, scores: list[float], deviation: float | None = None) -> list[bool]:
    return [a.step(s, float(i), deviation) for i, s in enumerate(scores)]


def test_one_moderate_blip_does_not_fire() -> None:
    a = Alerter(threshold=0.6, page=0.9, min_duration=2, warmup=0)
    assert steps(a, [0.1, 0.7, 0.1, 0.7, 0.1]) == [False] * 5


def test_moderate_excursion_fires_after_min_duration() -> None:
    a = Alerter(threshold=0.6, page=0.9, min_duration=3, warmup=0)
    assert steps(a, [0.1, 0.7, 0.7, 0.7]) == [False, False, False, True]
    assert a.onset == 1.0


def test_severe_value_pages_at_once() -> None:
    a = Alerter(threshold=0.6, page=0.9, min_duration=5, warmup=0)
    assert steps(a, [0.1, 0.95]) == [False, True]


def test_hysteresis_keeps_firing_between_clear_and_threshold() -> None:
    a = Alerter(threshold=0.6, page=0.9, clear=0.5, recovery=2, warmup=0)
    out = steps(a, [0.95, 0.4, 0.4, 0.2, 0.2])
    assert out == [True, True, True, True, False]


def test_persisting_deviation_holds_the_alert() -> None:
    a = Alerter(threshold=0.6, page=0.9, recovery=1, hold=5.0, warmup=0)
    a.step(0.95, 0.0)
    assert steps(a, [0.1, 0.1, 0.1], deviation=8.0) == [True, True, True]
    assert a.step(0.1, 9.0, deviation=1.0) is False


def test_warmup_never_fires() -> None:
    a = Alerter(warmup=10)
    assert steps(a, [0.99] * 10) == [False] * 10
    assert a.step(0.99) is True


def test_threshold_adapts_to_a_series_whose_scores_run_high() -> None:
    noisy, quiet = Alerter(warmup=0), Alerter(warmup=0)
    for i in range(500):
        noisy.step(0.3 + 0.25 * (i % 2))
        quiet.step(0.05)
    assert quiet.level() == quiet.threshold
    assert noisy.level() > quiet.level()
    assert noisy.level() <= noisy.page
