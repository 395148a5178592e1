"""The one boundary (``Runtime.call``): a stage that raises by surprise does not take its agent
down; the input that caused it is dead-lettered with code ``internal``, naming where it failed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from setpoint.settings import Settings
from setpoint.streams.runtime import Runtime, build_app


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int


@dataclass
class _Event:
    message: _Message
    key: bytes
    value: bytes


def _runtime(tmp_path: Path) -> Runtime:
    settings = Settings(data_dir=tmp_path, app_id="boundary-test")
    return Runtime(build_app(settings, "boundary-test"), settings)


def _broken_stage(value: int) -> int:
    return {1: 2}[value]


def test_a_surprise_in_a_stage_is_dead_lettered_with_its_input_and_the_call_returns_none(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path)
    raw = orjson.dumps({"service": "api"})
    event = _Event(_Message("setpoint.telemetry.metrics", 3, 41), b"api", raw)
    assert rt.call(_broken_stage, 1) == 2
    assert rt.call(_broken_stage, 7, source=event, where="detect") is None
    [letter] = rt._failed
    assert letter.reason_code == "internal"
    assert "detect: KeyError: 7" in letter.reason
    assert (letter.topic, letter.partition, letter.offset, letter.key) == (
        "setpoint.telemetry.metrics",
        3,
        41,
        "api",
    )
    assert letter.raw == raw.decode(), "the input is kept whole"
    assert rt.counters == {"internal.detect": 1}


def test_a_surprise_in_a_timer_is_dead_lettered_under_the_timer_name(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    assert rt.call(_broken_stage, 5, where="verify.tick") is None
    [letter] = rt._failed
    assert letter.reason_code == "internal"
    assert letter.topic == "timer:verify.tick"
