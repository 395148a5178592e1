"""Scenario files: every shipped one loads and is demo-shaped; a bad one names file, line, field."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from setpoint.errors import ScenarioFileError
from setpoint.schemas import FaultClass
from setpoint.sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))
SINGLE = [p for p in FILES if p.stem != "demo"]


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: p.stem)
def test_shipped_scenarios_load_and_fit_a_demo(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert 25 * 60 <= sc.duration_s <= 30 * 60
    assert 6 <= len(sc.fleet.services) <= 8
    for f in sc.faults():
        assert 8 * 60 <= f.at <= 13 * 60, "a quiet warm-up first, the fault a few minutes later"


def test_the_demo_plays_every_runbook_spaced_apart_after_an_hour_of_history() -> None:
    sc = load_scenario(SCENARIOS / "demo.yaml")
    starts = sorted(f.at for f in sc.faults())
    assert starts[0] >= 3600, "the demo fast-forwards most of the first hour"
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 15 * 60
    classes = {f.expect.fault_class for f in sc.faults()}
    assert len(classes) >= 6 and FaultClass.UNKNOWN in classes


def test_every_fault_class_has_a_scenario() -> None:
    classes = {f.expect.fault_class for p in FILES for f in load_scenario(p).faults()}
    assert classes >= set(FaultClass) - {FaultClass.BAD_CONFIG}


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


_FLEET = """\
fleet:
  services:
    api:
      entry_rps: 10
      previous_version: "0.9"
      depends_on: [db]
    db: {}
"""
_FAULT = """\
timeline:
  - fault: bad_deploy
    service: api
    at: 60
    version: "2.0"
    expect: {root: api, fault_class: bad_deploy, fixed_by: [rollback_deploy]}
"""


_HEAD = "name: x\nduration_s: 600\n"
_GOOD = _HEAD + _FLEET + _FAULT


def _fault(old: str, new: str) -> str:
    return _HEAD + _FLEET + _FAULT.replace(old, new)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (_GOOD, None, None, None),
        ("name: x\nduration_s: [600\n", 3, None, "not valid YAML"),
        ("name: x\nduration_s: soon\n" + _FLEET, 2, "duration_s", "valid number"),
        (_HEAD + "colour: red\n" + _FLEET, 3, "colour", "Extra inputs"),
        ("name: x\n" + _FLEET, 1, "duration_s", "Field required"),
        (
            _HEAD + _FLEET.replace("[db]", "[dbx]"), 8,
            "fleet.services.api.depends_on[0].service", "unknown service 'dbx'",
        ),
        (
            _fault("rollback_deploy]", "restart]"), 15,
            "timeline[0].expect.fixed_by", "do not fix a bad_deploy",
        ),
        (
            _fault("fault_class: bad_deploy", "fault_class: saturation"), 15,
            "timeline[0].expect.fault_class", "of class bad_deploy",
        ),
        (_fault("bad_deploy\n", "bad_dep\n"), 11, "timeline[0]", "'fault: <class>'"),
        (_fault('"2.0"', "[2]"), 14, "timeline[0].version", "valid string"),
        (_fault("at: 60", "at: 900"), 13, "timeline[0].at", "past the end"),
        (_fault("service: api", "service: web"), 12, "timeline[0].service", "unknown service"),
        (
            _HEAD + _FLEET + "timeline:\n  - {change: deploy, service: db, at: 5, colour: red}\n",
            11, "timeline[0].colour", "Extra inputs",
        ),
    ],
)  # fmt: skip
def test_errors_name_the_line_and_the_field(
    tmp_path: Path, text: str, line: int | None, field: str | None, words: str | None
) -> None:
    path = _write(tmp_path, text)
    if words is None:
        assert load_scenario(path).name == "x"
        return
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(path)
    err = info.value
    assert err.code == "config.scenario"
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert words in err.message
    assert err.message.startswith(f"{path}:{line}" if line else str(path))


def test_errors_in_a_shared_fleet_file_name_that_file(tmp_path: Path) -> None:
    fleet = _write(tmp_path, "services:\n  api:\n    replicas: many\n", "fleet.yaml")
    path = _write(tmp_path, "name: x\nduration_s: 600\nfleet: fleet.yaml\n")
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(path)
    assert (info.value.path, info.value.line, info.value.field) == (
        str(fleet.resolve()),
        3,
        "services.api.replicas",
    )


def test_a_missing_fleet_file_is_named_at_the_line_that_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nduration_s: 600\nfleet: nowhere.yaml\n")
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(path)
    assert (info.value.line, info.value.field) == (3, "fleet")
    assert "nowhere.yaml" in info.value.message


def test_a_dependency_cycle_is_refused(tmp_path: Path) -> None:
    services = "  services:\n    a: {depends_on: [b]}\n    b: {depends_on: [a]}\n"
    text = _HEAD + "fleet:\n" + services
    with pytest.raises(ScenarioFileError, match="dependency cycle"):
        load_scenario(_write(tmp_path, text))
