"""Rules match on verb, service, tier, region, labels, agent and time; bad files say where."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from setpoint.errors import PolicyFileError
from setpoint.policy import LiveState, Policy, Proposal
from setpoint.schemas import DecisionOutcome
from tests.unit.safety.conftest import env

MONDAY_10H = datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp()
MONDAY_20H = datetime(2026, 1, 5, 20, 0, tzinfo=UTC).timestamp()
SUNDAY_10H = datetime(2026, 1, 4, 10, 0, tzinfo=UTC).timestamp()

POLICY = """
trust: {enabled: false}
inventory:
  payments: {regions: [eu], labels: {pci: "true"}}
  db: {regions: [us]}
rules:
  - id: pci-approval
    labels: {pci: "true"}
    effect: approval
  - id: us-deny
    regions: [us]
    effect: deny
  - id: canary-agent-shadow
    agents: ["canary-*"]
    effect: shadow
  - id: business-hours
    verbs: [restart]
    when: {days: [mon, tue, wed, thu, fri], hours: "09:00-18:00", tz: UTC}
    effect: autonomous
  - id: restart-otherwise
    verbs: [restart]
    effect: approval
"""


def outcome(verb: str, target: str, t: float = MONDAY_10H, agent: str = "bot") -> str:
    p = Proposal(verb, target, "d", "inc", agent)
    return str(env(POLICY).evaluate(p, LiveState(), t).outcome)


def test_labels_regions_and_agents_select_services_and_agents() -> None:
    assert outcome("restart", "payments") == DecisionOutcome.APPROVAL
    assert outcome("flush_cache", "db") == DecisionOutcome.DENY
    assert outcome("restart", "auth", agent="canary-7") == DecisionOutcome.SHADOW
    assert outcome("restart", "auth") == DecisionOutcome.ALLOW


def test_business_hours_only_falls_through_to_the_next_rule_outside_them() -> None:
    assert outcome("restart", "auth", MONDAY_10H) == DecisionOutcome.ALLOW
    assert outcome("restart", "auth", MONDAY_20H) == DecisionOutcome.APPROVAL
    assert outcome("restart", "auth", SUNDAY_10H) == DecisionOutcome.APPROVAL


def test_a_window_in_another_time_zone_and_one_across_midnight() -> None:
    text = """
trust: {enabled: false}
rules:
  - {id: paris-day, verbs: [scale], when: {hours: "09:00-18:00", tz: Europe/Paris},
     effect: autonomous}
  - {id: night, verbs: [restart], when: {hours: "22:00-06:00"}, effect: autonomous}
"""
    e = env(text)
    at = datetime(2026, 1, 5, 8, 30, tzinfo=UTC).timestamp()  # 09:30 in Paris
    scale = Proposal("scale", "auth", "d", "i", "a", params={"delta": 1})
    assert e.evaluate(scale, LiveState(), at).outcome == DecisionOutcome.ALLOW
    night = datetime(2026, 1, 5, 23, 0, tzinfo=UTC).timestamp()
    restart = Proposal("restart", "auth", "d", "i", "a")
    assert e.evaluate(restart, LiveState(), night).outcome == DecisionOutcome.ALLOW
    assert e.evaluate(restart, LiveState(), MONDAY_10H).outcome == DecisionOutcome.ADVISORY


def test_a_change_freeze_caps_the_effect_between_its_start_and_end() -> None:
    text = """
trust: {enabled: false}
freezes:
  - {id: peak, start: "2026-01-05T00:00:00Z", end: "2026-01-06T00:00:00Z", tiers: [1],
     effect: approval, reason: peak trading}
rules:
  - {id: all, verbs: ["*"], effect: autonomous}
"""
    e = env(text)
    p = Proposal("scale", "auth", "d", "i", "a", params={"delta": 1})
    during = e.evaluate(p, LiveState(), MONDAY_10H)
    assert during.outcome == DecisionOutcome.APPROVAL and "peak" in during.rule_ids
    assert "peak trading" in during.reasons[-1]
    assert e.evaluate(p, LiveState(), SUNDAY_10H).outcome == DecisionOutcome.ALLOW
    tier2 = Proposal("scale", "catalog", "d", "i", "a", params={"delta": 1})
    assert e.evaluate(tier2, LiveState(), MONDAY_10H).outcome == DecisionOutcome.ALLOW


def test_safe_defaults_irreversible_unnamed_is_denied_and_unknown_target_too() -> None:
    e = env("trust: {enabled: false}\nrules: [{id: all, verbs: [restart], effect: autonomous}]")
    rot = e.evaluate(Proposal("rotate_credential", "auth", "d", "i", "a"), LiveState(), 0.0)
    assert rot.outcome == DecisionOutcome.DENY
    assert rot.rule_ids == ["builtin.irreversible-default"]
    ghost = e.evaluate(Proposal("restart", "ghost", "d", "i", "a"), LiveState(), 0.0)
    assert ghost.outcome == DecisionOutcome.DENY and ghost.rule_ids[-1] == "builtin.unknown-target"


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("rules:\n  - id: r\n    when: {hours: '9-5'}\n    effect: deny\n", 3,
         "rules.0.when.hours"),
        ("rules:\n  - id: r\n    when: {tz: Mars/Olympus, days: [mon]}\n    effect: deny\n", 3,
         "rules.0.when.tz"),
        ("rules:\n  - id: r\n    verbs: [restart]\n", 2, "rules.0"),
        ("limits:\n  max_fleet_share: 1.5\n", 2, "limits.max_fleet_share"),
        ("rules:\n  - {id: a, effect: deny}\n  - {id: a, effect: deny}\n", 2, "rules"),
        ("freezes:\n  - {id: f, start: '2026-01-02T00:00:00Z', end: '2026-01-01T00:00:00Z'}\n",
         2, "freezes.0"),
        ("trust:\n  scope: region\n", 2, "trust"),
    ],
)  # fmt: skip
def test_policy_errors_name_the_file_the_line_and_the_field(
    text: str, line: int, field: str
) -> None:
    with pytest.raises(PolicyFileError) as err:
        Policy.from_text(text, "p.yaml")
    assert (err.value.line, err.value.field) == (line, field), str(err.value)
    assert str(err.value).startswith(f"p.yaml:{line}: {field}: ")
