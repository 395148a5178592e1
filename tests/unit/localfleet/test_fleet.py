"""The local fleet's logic on a fake process driver: its real files (certificates, secret store,
cache), the exact operations it records, its faults and its control API."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from setpoint.errors import ScenarioFileError
from setpoint.localfleet import pki
from setpoint.localfleet.faults import Injector
from setpoint.localfleet.ops import OpLog
from setpoint.localfleet.proxy import Proxy, Upstream
from setpoint.localfleet.spec import load_scenario
from setpoint.localfleet.state import cache_state
from setpoint.schemas import ChangeType
from tests.unit.localfleet.fakes import Fleet


def call(url: str, method: str, path: str, body: Any = None, action: str = "") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("X-Setpoint-Action", action)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_setup_starts_callees_first_with_exact_command_lines(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    argvs = list(fake_fleet.procs.alive_pids.values())
    assert [a[a.index("--service") + 1] for a in argvs] == ["db", "db", "api", "api"]
    assert all(a[1].endswith("localfleet/service.py") for a in argvs)
    assert (f.state_dir / "pki" / "ca.pem").exists()
    cert = pki.cert_info((f.state_dir / "services" / "api" / "tls" / "cert.pem").read_bytes())
    assert cert.not_after > time.time() + 29 * 86400
    ups, weights = fake_fleet.router.routes["db"]
    assert {u.region for u in ups} == {"eu", "us"} and weights == {"eu": 0.5, "us": 0.5}


def test_stopping_a_replica_unroutes_it_then_signals_it(fake_fleet: Fleet) -> None:
    f, log = fake_fleet.fleet, OpLog()
    rep = next(iter(f.service("api").replicas.values()))
    f.stop("api", rep.name, log)
    kinds = [(o.kind, o.request) for o in log.ops]
    assert kinds[0][0] == "route" and rep.name not in kinds[0][1]
    assert ("signal", f"kill -TERM {rep.pid}  # {rep.name}") in kinds
    assert ("wait", f"waitpid {rep.pid}") in kinds
    assert (rep.pid, signal.SIGTERM) in fake_fleet.procs.signals


def test_a_poisoned_cache_shows_in_the_state_and_a_flush_empties_it(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    Injector(f).inject("poisoned_cache", "api", {"fraction": 0.25})
    cache = f.state_dir / "services" / "api" / "cache"
    assert cache_state(cache) == ("poisoned", 5, 5)
    assert f.observe("api")["cache"] == "poisoned"
    log = OpLog()
    assert f.assets.flush_cache("api", log) == 5
    assert f.observe("api")["cache"] == "empty" and f.observe("api")["cache_generation"] == 1
    assert log.ops[0].request.startswith("rm ") and log.ops[0].response == "removed 5"


def test_a_region_outage_kills_its_replicas_and_refuses_new_ones_there(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    inj = Injector(f)
    fid, log = inj.inject("dependency_outage", "db", {"region": "us"})
    state = f.observe("db")
    assert state["down_regions"] == ["us"]
    assert [i["up"] for i in state["instances"] if i["region"] == "us"] == [False]
    assert all(o.request.startswith("kill -KILL") for o in log.ops)
    status, answer = call(fake_fleet.url, "POST", "/services/db/replicas", {"region": "us"})
    assert status == 409 and "region us is down" in answer["detail"]
    inj.clear(fid)
    assert f.observe("db")["down_regions"] == [] and f.observe("db")["replicas"] == 2


def test_a_bad_deploy_rolls_every_replica_and_announces_the_change(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    Injector(f).inject("bad_deploy", "api", {"version": "2.0.0"})
    state = f.observe("api")
    assert (state["version"], state["previous_version"]) == ("2.0.0", "1.4.2")
    assert {i["version"] for i in state["instances"]} == {"2.0.0"} and state["replicas"] == 2
    [change] = f.drain_changes()
    assert change.change_type == ChangeType.DEPLOY and change.previous_version == "1.4.2"


def test_an_expiring_certificate_is_installed_and_reloaded(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    _, log = Injector(f).inject("expired_certificate", "api", {"in_s": 20})
    assert abs(f.observe("api")["cert_expires_at"] - (time.time() + 20)) < 5
    hups = [o.request for o in log.ops if o.request.startswith("kill -HUP")]
    assert len(hups) == 2
    assert {s for _, s in fake_fleet.procs.signals} == {signal.SIGHUP}


def test_a_leaked_credential_is_revoked_and_announced(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    Injector(f).inject("expired_credential", "api", {"mode": "leaked"})
    assert f.observe("api")["credential_revoked"] is True
    [change] = f.drain_changes()
    assert change.change_type == ChangeType.CREDENTIAL_EXPIRY
    new = f.assets.issue_credential("api", OpLog())
    state = f.observe("api")
    assert state["credential_id"] == new and not state["credential_revoked"]


def test_a_novel_fault_is_a_condition_of_the_environment(fake_fleet: Fleet) -> None:
    f = fake_fleet.fleet
    inj = Injector(f)
    fid, _ = inj.inject("novel", "api", {"error_class": "clock_skew"})
    env = f.state_dir / "services" / "api" / "env" / "clock_skew.json"
    assert json.loads(env.read_text())["error_class"] == "clock_skew"
    inj.clear(fid)
    assert not env.exists()


def test_the_control_api_answers_errors_with_their_kind(fake_fleet: Fleet) -> None:
    url = fake_fleet.url
    assert call(url, "GET", "/state/nope")[0] == 404
    assert call(url, "PUT", "/services/api/version", {"version": "9.9"})[0] == 400
    assert call(url, "POST", "/services/api/signal", {"signal": "KILL"})[0] == 400
    assert call(url, "GET", "/elsewhere")[0] == 404
    status, answer = call(url, "POST", "/faults", {"fault": "meteor", "service": "api"})
    assert status == 400 and "unknown fault" in answer["detail"]


def test_the_call_log_keeps_every_request_with_its_action(fake_fleet: Fleet) -> None:
    url = fake_fleet.url
    call(url, "POST", "/services/api/cache/flush", {}, action="cmd-42")
    status, calls = call(url, "GET", "/calls")
    mine = [c for c in calls["calls"] if c["action_id"] == "cmd-42"]
    assert status == 200 and [(c["method"], c["path"], c["status"]) for c in mine] == [
        ("POST", "/services/api/cache/flush", 200)
    ]


def test_the_proxy_sends_connections_by_region_weight() -> None:
    p = Proxy()
    ups = [Upstream("a-1", 1, "eu"), Upstream("a-2", 2, "us"), Upstream("a-3", 3, "us")]
    p.route("a", ups, {"eu": 0.0, "us": 1.0})
    assert {p.pick("a").replica for _ in range(20)} == {"a-2", "a-3"}  # type: ignore[union-attr]
    p.route("a", ups, {"eu": 1.0, "us": 0.0})
    assert {p.pick("a").replica for _ in range(20)} == {"a-1"}  # type: ignore[union-attr]
    assert p.pick("nothing") is None


def test_a_bad_scenario_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfleet:\n  services:\n    api: {replicas: many}\n")
    with pytest.raises(
        ScenarioFileError,
        match=r"bad.yaml:4: fleet.services.api.replicas: Input should be a valid integer",
    ):
        load_scenario(bad)
