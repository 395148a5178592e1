"""``setpoint policy check`` explains a policy in words and lints it; ``setpoint policy explain``
shows which rules allow or block a command and why; errors name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from setpoint.cli import main

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = str(ROOT / "config" / "topology.yaml")


def test_check_explains_the_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(ROOT / "config/policy.yaml"), "--topology", TOPOLOGY]) == 0
    out = capsys.readouterr().out
    assert "rule tier0-no-restart: verb restart, any service, tier 0 -> deny" in out
    assert "rule credentials-need-approval: verb rotate_credential, any service -> approval" in out
    assert "0 warning(s)" in out


def test_check_warns_about_rules_that_never_decide(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "p.yaml"
    p.write_text("rules:\n  - {id: all, verbs: ['*'], effect: approval}\n"
                 "  - {id: later, verbs: [restart], services: [dbx], effect: deny}\n"
                 "  - {id: burn, verbs: [rotate_credential], effect: autonomous}\n")  # fmt: skip
    assert main(["policy", "check", str(p), "--topology", TOPOLOGY, "--strict"]) == 1
    out = capsys.readouterr().out
    assert "rule later never decides: rule all above matches all it does" in out
    assert "names service(s) ['dbx'] the topology does not have" in out
    assert "rule burn: ['rotate_credential'] irreversible: they go to approval anyway" in out


def test_check_names_the_file_line_and_field_of_an_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "p.yaml"
    p.write_text("limits:\n  cooldown_s: 60\nrules:\n  - id: r\n    effect: sometimes\n")
    assert main(["policy", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:5: rules.0.effect: Input should be" in err


def test_explain_shows_each_rule_and_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["policy", "explain", '{"verb": "restart", "target": "db"}',
            "--policy", str(ROOT / "config/policy.yaml"), "--topology", TOPOLOGY]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "blast radius: {'db': 4, 'payments': 4, 'inventory': 4}" in out
    assert "rule tier0-no-restart: yes - DECIDES: deny" in out
    assert "rule restart-autonomous: no - db is tier 0, not in [1, 2]" in out
    assert out.rstrip().splitlines()[-1].startswith("outcome: deny")


def test_explain_a_full_command_file_at_its_issue_time_under_a_trust_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cmd = {"verb": "scale", "command_id": "c1", "incident_id": "i", "agent": "bot",
           "target": "catalog", "idempotency_key": "k", "issued_at": "2026-01-05T10:00:00Z",
           "expires_at": "2026-01-05T10:05:00Z", "params": {"delta": 2},
           "decision": {"outcome": "allow", "policy_hash": "x",
                        "ts": "2026-01-05T10:00:00Z"}}  # fmt: skip
    f = tmp_path / "cmd.json"
    f.write_text(json.dumps(cmd))
    pol = tmp_path / "p.yaml"
    pol.write_text("rules:\n  - {id: scale-earned, verbs: [scale], effect: autonomous}\n")
    args = ["policy", "explain", str(f), "--policy", str(pol), "--topology", TOPOLOGY,
            "--trust", "advisory"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "at 2026-01-05T10:00:00+00:00" in out and "trust: bot is in advisory mode" in out
    assert out.rstrip().splitlines()[-1].startswith("outcome: approval")


def test_keys_generate_writes_a_pair_the_loaders_read_and_never_overwrites(tmp_path: Path) -> None:
    from setpoint.policy import sign, verify
    from setpoint.settings import Settings
    from setpoint.streams.loading import signing_key, verify_key
    from tests.unit.test_actuator import command

    key = tmp_path / "signing.key"
    assert main(["keys", "generate", str(key)]) == 0
    assert oct(key.stat().st_mode)[-3:] == "600"
    assert main(["keys", "generate", str(key)]) == 2
    signer = signing_key(Settings(signing_key=None, signing_key_path=key))
    checker = verify_key(Settings(verify_key_path=key.with_suffix(".pub")))
    verify(sign(command(b"unused"), signer), checker)
