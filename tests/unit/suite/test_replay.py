"""Shadow mode (``suite.replay``, ``suite.shadow_diff``, ``suite.recording``): a recorded
scenario replayed under a baseline and a candidate, without a broker, a fleet or an actuator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from setpoint.causal import Topology
from setpoint.cli import main
from setpoint.detectors import DetectionConfig
from setpoint.errors import DecodeError, RecordingError
from setpoint.policy import Policy
from setpoint.sim.scenario import load_scenario
from setpoint.streams.codec import dead_letter
from setpoint.suite.recording import build, read_recording, record_scenario, write_recording
from setpoint.suite.replay import Recorded, Variant, shadow
from setpoint.suite.shadow_diff import ShadowDiff, diff

ROOT = Path(__file__).resolve().parents[3]
POLICY_TEXT = (ROOT / "config" / "policy.yaml").read_text()
DENY_ROLLBACK = POLICY_TEXT.replace(
    "rules:\n",
    "rules:\n  - {id: no-rollback, verbs: [rollback_deploy], effect: deny}\n",
    1,
)


@pytest.fixture(scope="module")
def events() -> list[Recorded]:
    """bad-deploy under seed 1 with a short history: checkout's 4.2.0 is rolled back."""
    return record_scenario(load_scenario(ROOT / "scenarios" / "bad-deploy.yaml"), 1, 900.0)


@pytest.fixture(scope="module")
def topology() -> Topology:
    return Topology.from_text((ROOT / "config" / "topology.yaml").read_text())


def variant(name: str, policy: str = POLICY_TEXT, **detection: float) -> Variant:
    return Variant(name, Policy.from_text(policy), DetectionConfig.profile("infra", **detection))


def replay(events: list[Recorded], topology: Topology, b: Variant, c: Variant) -> ShadowDiff:
    return diff(*shadow(events, b, c, topology))


def test_a_candidate_that_denies_a_verb_loses_its_commands_and_names_the_rule(
    events: list[Recorded], topology: Topology
) -> None:
    d = replay(events, topology, variant("baseline"), variant("candidate", DENY_ROLLBACK))
    removed = [c for c in d.changes if c.kind == "command-"]
    assert [(c.service, c.rule_ids) for c in removed] == [("checkout", ("no-rollback",))]
    assert "rollback_deploy checkout" in removed[0].detail
    effect = next(c for c in d.changes if c.kind == "effect")
    assert effect.detail.startswith("rollback_deploy checkout: allow [rollback-autonomous] -> deny")
    assert effect.t == removed[0].t
    assert not [c for c in d.changes if c.kind.startswith(("alert", "incident", "command+"))]
    # ...so nothing is done, and the incident goes to a human instead.
    escalated = [(c.service, c.detail) for c in d.changes if c.kind == "escalation+"]
    assert escalated == [("checkout", "no_action (a human is paged)")]
    assert d.counts(d.baseline)["commands issued"] == 1
    assert d.counts(d.candidate)["commands issued"] == 0


def test_a_more_sensitive_detection_config_shows_extra_alerts(
    events: list[Recorded], topology: Topology
) -> None:
    d = replay(events, topology, variant("baseline"), variant("candidate", min_duration=1))
    extra = [c for c in d.changes if c.kind == "alert+"]
    assert extra
    assert not [c for c in d.changes if c.kind == "alert-"]
    assert d.counts(d.candidate)["alerts"] > d.counts(d.baseline)["alerts"]
    assert all(c.service and c.detail for c in extra)


def test_identical_configurations_show_no_difference(
    events: list[Recorded], topology: Topology
) -> None:
    d = replay(events, topology, variant("baseline"), variant("candidate"))
    assert d.changes == []
    assert d.counts(d.baseline) == d.counts(d.candidate)
    assert d.counts(d.baseline)["incidents"] >= 1


def test_a_replay_is_deterministic(events: list[Recorded], topology: Topology) -> None:
    b, c = variant("baseline"), variant("candidate", DENY_ROLLBACK)
    first = replay(events, topology, b, c).to_json()
    again = replay(list(reversed(events)), topology, b, c).to_json()
    assert first == again


def test_a_recording_round_trips(events: list[Recorded], tmp_path: Path) -> None:
    rec = build("scenario bad-deploy seed 1", events[:2000])
    path = tmp_path / "rec.jsonl"
    write_recording(path, rec)
    back = read_recording(path)
    assert back.header == rec.header
    assert sum(back.header.counts.values()) == 2000
    assert [(e.t, e.topic, e.value) for e in back.events] == [
        (e.t, e.topic, e.value) for e in rec.events
    ]


def test_a_corrupt_line_is_named_with_its_file_and_line(
    events: list[Recorded], tmp_path: Path
) -> None:
    path = tmp_path / "rec.jsonl"
    write_recording(path, build("test", events[:5]))
    lines = path.read_text().splitlines()
    lines[3] = lines[3][:40]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=r"rec\.jsonl:4: not valid JSON"):
        read_recording(path)
    lines[3] = json.dumps({"t": 1.0, "topic": "telemetry.nope", "value": {}})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=r"rec\.jsonl:4: unknown topic 'telemetry\.nope'"):
        read_recording(path)
    lines[3] = json.dumps({"t": 1.0, "topic": "telemetry.metrics", "value": {"service": "x"}})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=r"rec\.jsonl:4: telemetry\.metrics: "):
        read_recording(path)


def test_a_missing_recording_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read recording"):
        read_recording(tmp_path / "nope.jsonl")


def test_the_cli_records_and_replays_and_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec, cand, out = tmp_path / "rec.jsonl", tmp_path / "cand.yaml", tmp_path / "diff.json"
    cand.write_text(DENY_ROLLBACK)
    scenario = str(ROOT / "scenarios" / "bad-deploy.yaml")
    args = ["scenarios", "record", "--scenario", scenario, "--seed", "1", "--history", "900"]
    assert main([*args, "--out", str(rec)]) == 0
    policy = str(ROOT / "config" / "policy.yaml")
    topo = str(ROOT / "config" / "topology.yaml")
    replay_args = ["scenarios", "replay", str(rec), "--policy", policy, "--topology", topo]
    assert main([*replay_args, "--candidate-policy", str(cand), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "command removed" in printed
    assert "no-rollback" in printed
    kinds = [c["kind"] for c in json.loads(out.read_text())["changes"]]
    assert sorted(kinds) == ["command-", "effect", "escalation+"]
    assert main([*replay_args, "--candidate-policy", str(tmp_path / "missing.yaml")]) == 2
    assert "[config]" in capsys.readouterr().err
    assert main([*replay_args, "--candidate-profile", "loud"]) == 2
    assert "unknown detection profile 'loud'" in capsys.readouterr().err


def test_bad_records_are_kept_as_dead_letters_and_skipped_by_the_replay(
    events: list[Recorded], tmp_path: Path
) -> None:
    bad = DecodeError("not valid JSON: expected value at line 1 column 1")
    dl = dead_letter("p.telemetry.metrics", b"nope", bad, now=events[0].t, partition=1, offset=7)
    path = tmp_path / "rec.jsonl"
    write_recording(path, build("test", events[:50], [dl]))
    back = read_recording(path)
    assert back.header.bad == {"p.telemetry.metrics": 1}
    assert back.dead_letters == [dl]
    assert len(back.events) == 50
    assert all(e.topic != "deadletter" for e in back.events)
