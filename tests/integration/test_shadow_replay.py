"""Shadow mode against the real broker: a scenario's telemetry is produced to fresh topics (plus
two records no producer should send), ``setpoint scenarios record --from-kafka`` records it, and
``setpoint scenarios replay`` with a candidate policy that denies rollbacks reports the rollback
the baseline issued as removed, naming the rule; the Kafka round trip changes nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from setpoint.actuators import ExecutionRecords
from setpoint.causal import Topology
from setpoint.cli import main
from setpoint.detectors import DetectionConfig
from setpoint.ledger import LedgerStore, Record
from setpoint.policy import Policy
from setpoint.schemas import Silence
from setpoint.sim.runner import route
from setpoint.sim.scenario import load_scenario
from setpoint.streams.codec import encode
from setpoint.streams.topics import METRICS, SILENCES
from setpoint.suite.loop import ClosedLoop, LoopConfig
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
    assert sorted(c["kind"] for c in changes) == ["command-", "effect", "escalation+"]

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
    now = datetime.now(UTC)
    # A silence set long ago that is still in force: context for any range that it covers.
    old = Silence(
        silence_id="sil-1",
        service="*",
        starts_at=now - timedelta(days=3),
        ends_at=now + timedelta(days=3),
        reason="maintenance",
    )
    p.produce(topic(env, SILENCES), encode(old), b"*")
    assert p.flush(30) == 0
    hour = timedelta(hours=1)
    later = (datetime.now(UTC) + hour).isoformat()
    earlier = (datetime.now(UTC) - hour).isoformat()
    out = tmp_path / "r.jsonl"
    base = ["scenarios", "record", "--from-kafka", "--out", str(out)]
    assert main([*base, "--since", earlier]) == 0
    rec = read_recording(out)
    assert sum(rec.header.counts.values()) == len(events) + 1
    assert rec.header.counts["control.silences"] == 1
    assert main([*base, "--since", later]) == 0
    assert read_recording(out).header.counts == {"control.silences": 1}
    assert main([*base, "--until", earlier]) == 0
    assert read_recording(out).header.counts == {}


def test_the_ledger_s_incidents_re_decided_under_a_candidate_policy(tmp_path: Path) -> None:
    """A loop run's ledger in a real embedded ClickHouse; ``replay --from-ledger`` reads it back
    and re-decides its incidents: the candidate refuses the rollback the ledger says was run."""
    scenario = load_scenario(ROOT / "scenarios" / "bad-deploy.yaml")
    records = ExecutionRecords(tmp_path / "actuator.sqlite")
    topo = Topology.from_text(TOPOLOGY.read_text())
    config = LoopConfig(seed=1, history_s=900.0, tail_s=600.0)
    policy = Policy.from_text(POLICY.read_text())
    try:
        events = ClosedLoop(scenario, policy, topo, records, config).run().events
    finally:
        records.close()
    store = LedgerStore(f"chdb://{tmp_path / 'ledger'}", "setpoint")
    store.migrate()
    store.append([Record.from_event(ev) for ev in events], "p0", None)
    store.close()

    cand, out = tmp_path / "cand.yaml", tmp_path / "diff.json"
    cand.write_text(DENY_ROLLBACK)
    env = {**os.environ, "SETPOINT_LEDGER_DSN": store.dsn}
    args = ["scenarios", "replay", "--from-ledger", "--candidate-policy", str(cand)]
    args += ["--topology", str(TOPOLOGY), "--json", str(out)]
    cmd = [sys.executable, "-m", "setpoint.cli", *args]
    proc = subprocess.run(
        cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "command removed" in proc.stdout
    report = json.loads(out.read_text())
    assert report["bad"] == 0
    kinds = [(c["kind"], c["service"], c["rule_ids"]) for c in report["changes"]]
    assert ("command-", "checkout", ["no-rollback"]) in kinds
    assert report["baseline"]["counts"]["commands issued"] == 1
    assert report["candidate"]["counts"]["commands issued"] == 0
