"""The fleet's HTTP control API, served on a loopback port by a runner that is not connected to
Kafka (no producer is made until it ticks): the shapes the actuator's sim backend relies on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from setpoint.settings import Settings
from setpoint.sim.control import ControlServer
from setpoint.sim.runner import FleetRunner, route
from setpoint.sim.scenario import Scenario


@pytest.fixture
def api(scenario: Callable[[str], Scenario]) -> Iterator[tuple[str, FleetRunner]]:
    runner = FleetRunner(Settings(), scenario("poisoned-cache"), seed=1, speed=1.0)
    server = ControlServer(runner, "http://127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", runner
    finally:
        server.stop()


def _call(url: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_actions_apply_once_and_answer_with_what_undo_needs(api: tuple[str, FleetRunner]) -> None:
    url, runner = api
    body = {"action_id": "c1", "verb": "scale", "target": "catalog",
            "params": {"schema_version": 1, "replicas": 6}}  # fmt: skip
    status, first = _call(url, "/actions", body)
    assert status == 200
    assert first["ok"]
    assert first["captured"] == {"replicas": 4}
    assert first["effect_delay_s"] == 30.0
    assert first["sim_time"] >= runner.fleet.start
    assert first["action_id"] == "c1"
    status, again = _call(url, "/actions", {**body, "params": {"replicas": 9}})
    assert again["duplicate"]
    assert again["captured"] == first["captured"]
    runner.fleet.step(first["sim_time"] + 31.0)
    assert _call(url, "/state/catalog")[1]["replicas"] == 6
    undo = {"action_id": "c1", "verb": "scale", "target": "catalog", "captured": first["captured"]}
    status, undone = _call(url, "/undo", undo)
    assert status == 200
    assert undone["ok"]
    assert undone["captured"] == {"replicas": 6}
    runner.fleet.step(undone["sim_time"] + 31.0)
    assert _call(url, "/state/catalog")[1]["replicas"] == 4


def test_a_refused_action_is_an_answer_not_an_error(api: tuple[str, FleetRunner]) -> None:
    url, _ = api
    status, answer = _call(
        url, "/actions", {"action_id": "c2", "verb": "rollback_deploy", "target": "db"}
    )
    assert status == 200
    assert not answer["ok"]
    assert "no previous version" in answer["detail"]


_RESTART = {"action_id": "x", "verb": "restart", "target": "db"}


@pytest.mark.parametrize(
    ("path", "body", "raw", "status", "words"),
    [
        ("/actions", None, b"{not json", 400, "not valid JSON"),
        ("/actions", {"action_id": "x", "verb": "restart"}, None, 400, "target"),
        ("/actions", {**_RESTART, "colour": 1}, None, 400, "colour"),
        ("/undo", {**_RESTART, "params": {}}, None, 400, "captured"),
        ("/nowhere", {"a": 1}, None, 404, "no such path"),
        ("/state/mainframe", None, None, 404, "unknown service"),
    ],
)  # fmt: skip
def test_malformed_requests(
    api: tuple[str, FleetRunner], path: str, body: Any, raw: bytes | None, status: int, words: str
) -> None:
    url, _ = api
    got, answer = _call(url, path, body, raw)
    assert got == status
    assert not answer["ok"]
    assert words in answer["detail"]


def test_state_health_and_truth(api: tuple[str, FleetRunner]) -> None:
    url, runner = api
    status, snap = _call(url, "/state")
    assert status == 200
    assert set(snap["services"]) == set(runner.scenario.fleet.services)
    _, health = _call(url, "/health")
    assert health["ok"]
    assert health["scenario"] == "poisoned-cache"
    _, truth = _call(url, "/truth")
    assert [f["expect"]["fixed_by"] for f in truth["faults"]] == [["flush_cache"]]


def test_events_are_routed_to_their_topic_keyed_per_the_table(
    scenario: Callable[[str], Scenario],
) -> None:
    fleet = scenario("expired-certificate").build(seed=1)
    routed = {route("p.", e) for e in fleet.step(fleet.start + 10.0)}
    topics = {t for t, _ in routed}
    assert topics == {"p.telemetry.metrics", "p.telemetry.logs", "p.telemetry.traces",
                      "p.telemetry.changes", "p.telemetry.health"}  # fmt: skip
    assert ("p.telemetry.changes", "payments") in routed
    assert {k for t, k in routed if t == "p.telemetry.traces"} <= {
        "frontend",
        "checkout",
        "catalog",
        "payments",
        "inventory",
    }
