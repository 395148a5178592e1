"""Every registered detector honours the contract of ``setpoint.detectors.base.Detector``.

Parametrised over ``registered()``, so a new detector is checked the moment it registers.
"""

from __future__ import annotations

import math
import pickle
import random
import sys
from collections.abc import Callable

import pytest

from setpoint.detectors import DetectionConfig, Detector, make, registered

NAMES = sorted(registered())
STEP = 300.0  # five-minute samples: the profile-based detectors see a day every 288 values


def spiky(n: int, seed: int = 7) -> list[tuple[float, float]]:
    """A daily rhythm, noise, a level shift, a flat stretch and spikes of growing height."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = 1_700_000_000.0 + STEP * i
        x = 50.0 + 10.0 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0.0, 1.0)
        if i > n // 2:
            x += 15.0
        if n // 3 < i < n // 3 + 40:
            x = 42.0
        if i % 97 == 0 and i > 300:
            x += 30.0 + i / 10.0
        rows.append((t, x))
    return rows


def run(d: Detector, rows: list[tuple[float, float]]) -> list[float]:
    return [d.update(x, t) for t, x in rows]


def state_bytes(d: Detector) -> int:
    return len(pickle.dumps(d, protocol=pickle.HIGHEST_PROTOCOL))


@pytest.fixture(params=NAMES)
def factory(request: pytest.FixtureRequest) -> Callable[[], Detector]:
    name: str = request.param
    return lambda: make(name)


def test_registry_holds_the_family() -> None:
    assert {
        "context_ensemble",
        "transition",
        "ensemble",
        "ewma_z",
        "seasonal_z",
        "level_shift",
        "flatline",
    } <= set(NAMES)


def test_clone_is_fresh_with_same_params(factory: Callable[[], Detector]) -> None:
    d = factory()
    run(d, spiky(400))
    c = d.clone()
    assert type(c) is type(d)
    assert repr(c) == repr(d)
    assert run(c, spiky(400)) == run(factory(), spiky(400))


def test_pickle_round_trip_scores_the_same(factory: Callable[[], Detector]) -> None:
    d = factory()
    rows = spiky(1200)
    run(d, rows[:800])
    back = pickle.loads(pickle.dumps(d))
    assert run(back, rows[800:]) == run(d, rows[800:])


def test_no_lookahead(factory: Callable[[], Detector]) -> None:
    rows = spiky(900)
    full = run(factory(), rows)
    prefix = run(factory(), rows[:600])
    assert full[:600] == prefix


def test_score_one_does_not_change_state(factory: Callable[[], Detector]) -> None:
    d, twin = factory(), factory()
    rows = spiky(700)
    run(d, rows[:500])
    run(twin, rows[:500])
    for t, x in rows[500:]:
        d.score_one(x * 3.0, t)
    assert run(d, rows[500:]) == run(twin, rows[500:])


def test_scores_in_unit_interval_and_not_tied_at_one(factory: Callable[[], Detector]) -> None:
    scores = run(factory(), spiky(3000))
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert not any(s == 1.0 for s in scores)
    top = sorted(scores, reverse=True)[:20]
    assert top[0] > 0.5, "a spiky series must produce some high scores"
    assert len(set(top)) >= 10, f"the top scores tie: {top}"


def test_bounded_memory(factory: Callable[[], Detector]) -> None:
    short, long = factory(), factory()
    run(short, spiky(2000))
    run(long, spiky(8000))
    assert state_bytes(long) <= state_bytes(short) * 1.1 + 256


def test_deterministic(factory: Callable[[], Detector]) -> None:
    assert run(factory(), spiky(1500, seed=3)) == run(factory(), spiky(1500, seed=3))


def test_survives_time_going_backwards_and_repeating(factory: Callable[[], Detector]) -> None:
    rows = spiky(600)
    rows[400] = (rows[390][0], rows[400][1])
    rows[401] = rows[400]
    scores = run(factory(), rows)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_default_detector_state_is_small() -> None:
    d = DetectionConfig().new_detector()
    run(d, spiky(5000))
    assert state_bytes(d) <= 2048


def test_ensemble_state_is_small() -> None:
    d = make("ensemble")
    run(d, spiky(5000))
    assert state_bytes(d) <= 2048
    assert sys.getsizeof(d) + sys.getsizeof(d._prof) <= 2048


def test_ensemble_ranks_a_novel_spike_above_the_usual_ones() -> None:
    d = make("ensemble")
    rows = spiky(3000)
    scores = run(d, rows)
    usual = max(s for i, s in enumerate(scores[2100:2900], 2100) if i % 97)
    big = d.score_one(rows[-1][1] + 1000.0, rows[-1][0] + STEP)
    assert big > 0.8 > 0.6 > usual


def test_transition_surprise_flags_an_ordinary_value_reached_the_wrong_way() -> None:
    d = make("transition")
    for i in range(2000):
        d.update(float(i % 10), 60.0 * i)  # a saw-tooth: up one step at a time, then back to 0
    # 5.0 is a value the series visits every ten samples, but never straight after 9.0.
    assert d.score_one(0.0) < 0.3 < 0.7 < d.score_one(5.0)


def test_default_rests_after_an_onset_but_keeps_the_deviation() -> None:
    d = DetectionConfig().new_detector()
    rng = random.Random(5)
    t = 1_700_000_000.0
    for i in range(2000):
        d.update(50.0 + 5.0 * math.sin(i / 20.0) + rng.gauss(0.0, 1.0), t + STEP * i)
    t += STEP * 2000
    onset, after = d.update(500.0, t), d.update(500.0, t + STEP)
    deviation = d.deviation(500.0, t + 2 * STEP)
    # The onset scores high; its aftermath rests at 0, but the value is still far from normal,
    # which is what keeps an alert on a persisting degradation up (the alerter's hold).
    assert onset > 0.8 and after == 0.0
    assert deviation is not None and deviation > 10.0
