"""Event time under skewed producers: one source far ahead does not move it, a quorum of sources
does (a real jump), one source alone still moves on, and a skewed first event does not set it."""

from __future__ import annotations

from setpoint.clock import EventClock


def test_one_producer_far_ahead_is_held_while_the_others_move_time_on() -> None:
    c = EventClock(max_step_s=600.0)
    for i in range(100):
        c.observe(1000.0 + i, "honest")
        c.observe(1000.0 + i + 7200.0, "ahead")
        c.observe(1000.0 + i - 7200.0, "behind")
    assert c.now() == 1099.0 and c.held == 100


def test_a_jump_that_two_sources_agree_on_moves_time_to_the_lower_of_them() -> None:
    c = EventClock(max_step_s=600.0)
    c.observe(1000.0, "a")
    c.observe(1000.0, "b")
    c.observe(90_000.0, "a")
    assert c.now() == 1000.0
    c.observe(50_000.0, "b")  # the fleet resumes after a gap
    assert c.now() == 50_000.0


def test_a_single_source_moves_on_after_a_gap() -> None:
    c = EventClock(max_step_s=600.0)
    c.observe(1000.0, "only")
    c.observe(9000.0, "only")
    assert c.now() == 9000.0


def test_the_first_event_sets_time_only_if_it_is_not_far_ahead_of_the_wall_clock() -> None:
    c = EventClock(max_step_s=600.0, wall=lambda: 10_000.0)
    c.observe(10_000.0 + 7200.0, "ahead")
    assert c.now() == 0.0
    c.observe(9_990.0, "honest")
    c.observe(10_000.0 + 7210.0, "ahead")
    assert c.now() == 9_990.0


def test_a_lone_source_ahead_of_the_wall_clock_sets_time_after_a_grace() -> None:
    wall = [10_000.0]
    c = EventClock(max_step_s=600.0, wall=lambda: wall[0])
    for i in range(100):
        c.observe(20_000.0 + i, "sim")
    assert c.now() == 0.0, "a burst of one source waits for company, however long"
    wall[0] += 6.0
    c.observe(20_100.0, "sim")
    assert c.now() == 20_100.0


def test_a_backlog_of_the_skewed_producer_read_first_does_not_set_time() -> None:
    wall = [10_000.0]
    c = EventClock(max_step_s=900.0, wall=lambda: wall[0])
    for i in range(300):  # a whole partition of the producer two hours ahead comes first
        c.observe(10_000.0 + 7200.0 + 15.0 * i, "ahead")
    wall[0] += 1.0
    for i in range(300):  # then the honest one's partition
        c.observe(10_000.0 - 4500.0 + 15.0 * i, "honest")
    assert c.now() == 10_000.0 - 4500.0 + 15.0 * 299


def test_without_a_bound_it_is_the_latest_time_seen() -> None:
    c = EventClock()
    c.observe(5.0)
    c.observe(1e9)
    c.observe(7.0)
    assert c.now() == 1e9
