"""Shadow mode against the real broker: a scenario's telemetry is produced to fresh topics (plus
two records no producer should send), ``setpoint scenarios record --from-kafka`` records it, and
``setpoint scenarios replay`` with a candidate policy that denies rollbacks reports the rollback
the baseline issued as removed, naming the rule; the Kafka round trip changes nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from setpoint.causal import Topology
from setpoint.cli import main
from setpoint.detectors import DetectionConfig
from setpoint.policy import Policy
from setpoint.sim.runner import route
from setpoint.sim.scenario import load_scenario
from setpoint.streams.codec import encode
from setpoint.streams.topics import METRICS
from setpoint.suite.recording import read_recording, record_scenario
from setpoint.suite.replay import Variant, shadow
from setpoint.suite.shadow_diff import diff
from tests.integration.conftest import ROOT, producer, topic

POLICY = ROOT / "config" / "policy.yaml"
TOPOLOGY = ROOT / "config" / "topology.yaml"
DENY_ROLLBACK = POLICY.read_text().replace(
    "rules:\n", "rules:\n  - {id: no-rollback, verbs: [rollback_deploy], effect: deny}\n", 1
)
BAD = [b"not json", b'{"service": "checkout"}']


def test_recorded_from_kafka_and_replayed_under_a_candidate_policy(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    events = record_scenario(load_scenario(ROOT / "scenarios" / "bad-deploy.yaml"), 1, 900.0)
    p = producer(env)
    for e in events:
        name, key = route(env["SETPOINT_TOPIC_PREFIX"], e.value)
        p.produce(name, encode(e.value), key.encode())
        p.poll(0)
    for raw in BAD:
        p.produce(topic(env, METRICS), raw, b"checkout")
    assert p.flush(30) == 0

    rec_path, cand, out = tmp_path / "rec.jsonl", tmp_path / "cand.yaml", tmp_path / "diff.json"
    assert main(["scenarios", "record", "--from-kafka", "--out", str(rec_path)]) == 0
    rec = read_recording(rec_path)
    assert sum(rec.header.counts.values()) == len(events)
    assert sum(rec.header.bad.values()) == len(BAD)
    assert sorted(d.reason_code for d in rec.dead_letters) == ["input.decode", "input.schema"]
    assert rec.header.source.startswith(f"kafka {env['SETPOINT_BROKER']}")

    cand.write_text(DENY_ROLLBACK)
    args = ["scenarios", "replay", str(rec_path), "--policy", str(POLICY)]
    args += ["--topology", str(TOPOLOGY), "--candidate-policy", str(cand), "--json", str(out)]
    assert main(args) == 0
    changes = json.loads(out.read_text())["changes"]
    removed = [c for c in changes if c["kind"] == "command-"]
    assert [(c["service"], c["rule_ids"]) for c in removed] == [("checkout", ["no-rollback"])]
    assert sorted(c["kind"] for c in changes) == ["command-", "effect"]

    # What went through Kafka is replayed exactly as what never left the process.
    topo = Topology.from_text(TOPOLOGY.read_text())
    infra = DetectionConfig.profile("infra")
    b = Variant("baseline", Policy.from_text(POLICY.read_text()), infra, str(POLICY), "infra")
    c = Variant("candidate", Policy.from_text(DENY_ROLLBACK), infra, str(cand), "infra")
    direct = diff(*shadow(events, b, c, topo)).to_json()
    assert changes == direct["changes"]


def test_a_time_range_selects_records_by_when_they_were_produced(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    events = record_scenario(load_scenario(ROOT / "scenarios" / "quiet.yaml"), 1, 0.0)[:200]
    p = producer(env)
    for e in events:
        name, key = route(env["SETPOINT_TOPIC_PREFIX"], e.value)
        p.produce(name, encode(e.value), key.encode())
    assert p.flush(30) == 0
    hour = timedelta(hours=1)
    later = (datetime.now(UTC) + hour).isoformat()
    earlier = (datetime.now(UTC) - hour).isoformat()
    out = tmp_path / "r.jsonl"
    base = ["scenarios", "record", "--from-kafka", "--out", str(out)]
    assert main([*base, "--since", earlier]) == 0
    assert sum(read_recording(out).header.counts.values()) == len(events)
    assert main([*base, "--since", later]) == 0
    assert read_recording(out).header.counts == {}
    assert main([*base, "--until", earlier]) == 0
    assert read_recording(out).header.counts == {}
