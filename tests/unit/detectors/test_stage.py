"""The detect stage: hygiene, grouping, change leases and silences, eviction, hand-over."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest

from setpoint.clock import to_datetime
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.errors import DecodeError
from setpoint.schemas import Anomaly, ChangeEvent, ChangeType, Silence

CFG = DetectionConfig(warmup=5, lease_s=300.0, detector_params={"warmup": 60})


def quiet(stage: DetectionStage, svc: str, name: str, start: int, stop: int, base: float) -> None:
    for i in range(start, stop):
        stage.observe(svc, name, base + (i % 5), float(i))


def run(
    stage: DetectionStage, svc: str, name: str, start: int, values: list[float]
) -> list[Anomaly]:
    out: list[Anomaly] = []
    for i, x in enumerate(values, start):
        stage.observe(svc, name, x, float(i))
        out += stage.flush(float(i))[0]
    return out


def warm(names: tuple[str, ...] = ("latency_ms",), svc: str = "api") -> DetectionStage:
    stage = DetectionStage(CFG)
    for n in names:
        quiet(stage, svc, n, 0, 200, 100.0)
    assert stage.flush(199.0)[0] == []
    return stage


def change(t: float, svc: str = "api") -> ChangeEvent:
    return ChangeEvent(
        change_id="deploy-1", service=svc, change_type=ChangeType.DEPLOY, ts=to_datetime(t),
        version="v2", previous_version="v1",
    )  # fmt: skip


def test_quiet_series_raise_nothing() -> None:
    stage = warm()
    assert run(stage, "api", "latency_ms", 200, [100.0 + i % 5 for i in range(200)]) == []


def test_sustained_excursion_fires_then_resolves() -> None:
    stage = warm()
    out = run(stage, "api", "latency_ms", 200, [900.0] * 5 + [101.0, 102.0, 100.0])
    assert [a.status for a in out] == ["firing", "resolved"]
    assert out[0].signals[0].name == "latency_ms"
    assert out[0].signals[0].direction == "up"
    assert out[0].anomaly_id == out[1].anomaly_id
    assert not out[0].suppressed


def test_simultaneous_series_group_into_one_anomaly() -> None:
    stage = warm(("latency_ms", "errors"))
    for i in range(200, 205):
        stage.observe("api", "latency_ms", 900.0, float(i))
        stage.observe("api", "errors", 400.0, float(i))
    anomalies, _ = stage.flush(205.0)
    assert len(anomalies) == 1
    assert {g.name for g in anomalies[0].signals} == {"latency_ms", "errors"}


def test_transient_inside_a_change_lease_is_recorded_as_suppressed() -> None:
    stage = warm()
    stage.on_change(change(200.0))
    out = run(stage, "api", "latency_ms", 200, [900.0] * 3 + [100.0 + i % 5 for i in range(50)])
    assert [a.status for a in out] == ["firing", "resolved"]
    assert all(a.suppressed and a.suppressed_by == "deploy-1" for a in out)


def test_degradation_outlasting_the_lease_fires_with_the_change_attached() -> None:
    stage = warm()
    stage.on_change(change(200.0))
    out = run(stage, "api", "latency_ms", 200, [900.0 + i % 5 for i in range(400)])
    assert out[0].suppressed
    assert out[0].suppressed_by == "deploy-1"
    live = [a for a in out if not a.suppressed]
    assert live
    assert live[0].status == "firing"
    assert live[0].ts.timestamp() >= 200.0 + CFG.lease_s
    assert [c.change_id for c in live[0].changes] == ["deploy-1"]
    assert live[0].changes[0].previous_version == "v1"


def test_a_silence_suppresses_its_service_until_it_ends() -> None:
    stage = warm()
    stage.on_silence(
        Silence(silence_id="sil-1", service="api", starts_at=to_datetime(150.0),
                ends_at=to_datetime(260.0))
    )  # fmt: skip
    out = run(stage, "api", "latency_ms", 200, [900.0 + i % 5 for i in range(100)])
    assert out[0].suppressed_by == "sil-1"
    assert any(not a.suppressed for a in out)


def test_silent_series_are_evicted() -> None:
    stage = warm(("latency_ms", "cpu"))
    assert stage.series_count() == 2
    quiet(stage, "api", "cpu", 200, 210, 100.0)
    stage.flush(200.0 + CFG.evict_after_s + 1.0)
    assert stage.series_count() == 1
    stage.flush(300.0 + 2 * CFG.evict_after_s)
    assert stage.series_count() == 0
    assert stage.services() == []


def test_snapshot_restore_hands_a_service_over_mid_incident() -> None:
    a = warm()
    b = DetectionStage(CFG)
    fired = run(a, "api", "latency_ms", 200, [900.0] * 3)
    assert [x.status for x in fired] == ["firing"]
    b.restore(a.snapshot("api"))
    a.drop(["api"])
    assert a.series_count() == 0
    assert b.series_count() == 1
    tail = [101.0, 102.0, 100.0, 103.0]
    out = run(b, "api", "latency_ms", 203, tail)
    assert [x.status for x in out] == ["resolved"]
    assert out[0].anomaly_id == fired[0].anomaly_id


def test_restored_state_scores_exactly_like_the_original() -> None:
    a = warm()
    b = DetectionStage(CFG)
    b.restore(a.snapshot("api"))
    for i in range(200, 260):
        a.observe("api", "latency_ms", 100.0 + (i * 7) % 13, float(i))
        b.observe("api", "latency_ms", 100.0 + (i * 7) % 13, float(i))
    assert a.flush(260.0)[1][0].baselines == b.flush(260.0)[1][0].baselines


@pytest.mark.parametrize("data", [b"", b"garbage", b"SPDS\x09" + b"x" * 8])
def test_restore_rejects_what_is_not_a_snapshot(data: bytes) -> None:
    with pytest.raises(DecodeError):
        DetectionStage(CFG).restore(data)


def test_restore_refuses_to_run_code() -> None:
    evil = b"SPDS\x01" + pickle.dumps(("api", print, None))
    with pytest.raises(DecodeError, match=r"builtins\.print"):
        DetectionStage(CFG).restore(evil)


def test_state_per_series_is_under_two_kilobytes() -> None:
    stage = DetectionStage()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(400):
        for s in range(200):
            stage.observe(f"svc{s % 20}", f"metric{s}", 50.0 + (i * s) % 17, 60.0 * i)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert stage.series_count() == 200
    assert used / 200 <= 2048
    assert len(stage.snapshot("svc3")) / 10 <= 2048
