"""The local backend on real processes: the conformance suite, and each verb's effect and undo
checked from outside the way a user would (new PIDs, the version a request is served by, live
processes, files on disk, the certificate a TLS handshake gets, where requests land).

The fleet runs in this process (``publish=False``: nothing goes to Kafka); its replicas are real
processes, stopped at the end of the module (and killed by the kernel if this process dies)."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from setpoint.actuators.conformance import CHECK_NAMES, Harness, checks
from setpoint.actuators.local_backend import LocalProcessBackend
from setpoint.localfleet.runner import LocalFleetRunner
from tests.integration.localfleet_helpers import local_fleet

ROOT = Path(__file__).resolve().parents[2]
FLEET = {
    "name": "it-local",
    "ports": [18640, 18699],
    "load": {"entry": "web", "rps": 2, "probe_rps": 0.5},
    "releases": {"1.0": {}, "1.1": {}},
    "services": {
        "web": {"replicas": 2, "version": "1.1", "previous_version": "1.0", "cache": True,
                "depends_on": ["db"]},
        "db": {"replicas": 2, "version": "1.0", "auth": True},
    },
}  # fmt: skip
TARGETS = {
    "restart": "web", "rollback_deploy": "web", "scale": "web", "flush_cache": "web",
    "rotate_credential": "web", "renew_certificate": "web", "shift_traffic": "db",
    "escalate": "web",
}  # fmt: skip


class Live:
    """The running fleet and ways to look at it from outside."""

    def __init__(self, runner: LocalFleetRunner) -> None:
        self.runner = runner
        assert runner.fleet is not None
        self.fleet = runner.fleet
        self.backend = LocalProcessBackend(runner.url)
        self.tls = ssl.create_default_context(cafile=str(self.fleet.state_dir / "pki" / "ca.pem"))

    def get(self, service: str, path: str = "/item/1") -> tuple[int, dict[str, Any]]:
        port = self.fleet.services[service].proxy_port
        cred = json.loads((self.fleet.state_dir / "services/prober/credential.json").read_text())
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=self.tls)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {cred['id']}:"
                                                                f"{cred['secret']}"})  # fmt: skip
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    def served_serial(self, service: str) -> str:
        """The serial of the certificate a verifying TLS handshake with ``service`` gets."""
        port = self.fleet.services[service].proxy_port
        import socket

        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            self.tls.wrap_socket(raw, server_hostname="127.0.0.1") as s,
        ):
            cert = s.getpeercert() or {}
            return f"{int(str(cert['serialNumber']), 16):x}"

    def command(self, verb: str, target: str, **params: Any) -> Any:
        h = Harness(self.backend, TARGETS, params={verb: params})
        return h.command(verb, target)

    def state(self, service: str) -> dict[str, Any]:
        return self.fleet.observe(service)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with local_fleet(FLEET, tmp_path_factory.mktemp("fleet")) as runner:
        live = Live(runner)
        yield live
        running = [i["pid"] for s in ("web", "db") for i in live.state(s)["instances"]]
    assert running, "the fleet was running"
    assert not [p for p in running if alive(p)], "every replica stopped with the fleet"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive: it was stopped and not reaped yet.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_the_local_backend_conforms_on_real_processes(live: Live, name: str) -> None:
    dict(checks(Harness(live.backend, TARGETS)))[name]()


def test_restart_really_restarts_every_replica(live: Live) -> None:
    before = {i["pid"] for i in live.state("web")["instances"]}
    out = live.backend.execute(live.command("restart", "web"))
    assert out.ok, out.detail
    after = {i["pid"] for i in live.state("web")["instances"]}
    assert before.isdisjoint(after) and len(after) == len(before)
    assert not [p for p in before if alive(p)], "the old processes are gone"
    assert all(alive(p) for p in after)
    signals = [c.request for c in out.calls if c.operation == "local.signal"]
    assert len(signals) == len(before) and all(s.startswith("kill -TERM") for s in signals)
    spawned = [c.request for c in out.calls if c.operation == "local.spawn"]
    assert len(spawned) == len(before) and all("service.py" in s for s in spawned)


def test_rollback_switches_the_version_requests_are_served_by_and_undo_restores(
    live: Live,
) -> None:
    assert live.get("web")[1]["version"] == "1.1"
    cap = live.backend.capture("rollback_deploy", "web").captured
    out = live.backend.execute(live.command("rollback_deploy", "web"))
    assert out.ok, out.detail
    assert {live.get("web")[1]["version"] for _ in range(6)} == {"1.0"}
    assert live.backend.undo("rollback_deploy", "web", cap, "a1").ok
    assert {live.get("web")[1]["version"] for _ in range(6)} == {"1.1"}
    assert live.state("web")["previous_version"] == "1.0"


def test_scale_starts_and_stops_real_processes(live: Live) -> None:
    before = [i["pid"] for i in live.state("web")["instances"]]
    out = live.backend.execute(live.command("scale", "web", delta=2))
    assert out.ok, out.detail
    grown = [i["pid"] for i in live.state("web")["instances"]]
    assert len(grown) == len(before) + 2 and all(alive(p) for p in grown)
    assert live.backend.undo("scale", "web", {"replicas": len(before)}, "a2").ok
    shrunk = [i["pid"] for i in live.state("web")["instances"]]
    assert len(shrunk) == len(before)
    assert not [p for p in set(grown) - set(shrunk) if alive(p)]


def test_flush_empties_a_poisoned_cache_and_requests_succeed_again(live: Live) -> None:
    assert live.runner.injector is not None
    live.runner.injector.inject("poisoned_cache", "web", {"fraction": 1.0})
    assert live.get("web", "/item/0")[0] == 500
    out = live.backend.execute(live.command("flush_cache", "web"))
    assert out.ok, out.detail
    assert [live.get("web", f"/item/{k}")[0] for k in range(5)] == [200] * 5
    assert live.state("web")["cache"] == "healthy"


def test_renewal_issues_a_certificate_the_service_really_serves_and_undo_reinstalls(
    live: Live,
) -> None:
    old = live.served_serial("web")
    cap = live.backend.capture("renew_certificate", "web").captured
    out = live.backend.execute(live.command("renew_certificate", "web", valid_days=30))
    assert out.ok, out.detail
    new = live.served_serial("web")
    assert new != old and new == live.state("web")["cert_serial"]
    assert live.backend.undo("renew_certificate", "web", cap, "a3").ok
    assert live.served_serial("web") == old


def test_rotation_replaces_the_credential_the_service_presents(live: Live) -> None:
    # db checks what its callers present: web's requests work only with a valid credential.
    assert live.runner.injector is not None
    live.runner.injector.inject("expired_credential", "web", {"mode": "leaked"})
    time.sleep(0.3)
    assert live.get("web", "/item/2")[0] == 502
    old = live.state("web")["credential_id"]
    out = live.backend.execute(live.command("rotate_credential", "web"))
    assert out.ok, out.detail
    assert live.state("web")["credential_id"] != old
    assert [live.get("web", f"/item/{k}")[0] for k in range(4)] == [200] * 4
    assert old in live.fleet.vault.burned()


def test_a_traffic_shift_really_moves_requests_and_undo_moves_them_back(live: Live) -> None:
    regions = {i["name"]: i["region"] for i in live.state("db")["instances"]}
    cap = live.backend.capture("shift_traffic", "db").captured
    out = live.backend.execute(live.command("shift_traffic", "db", to="us"))
    assert out.ok, out.detail
    landed = Counter(regions[live.get("db")[1]["replica"]] for _ in range(12))
    assert landed == Counter({"us": 12})
    assert live.backend.undo("shift_traffic", "db", cap, "a4").ok
    landed = Counter(regions[live.get("db")[1]["replica"]] for _ in range(30))
    assert set(landed) == {"eu", "us"}


def test_an_unknown_target_is_a_clean_failure(live: Live) -> None:
    out = live.backend.execute(live.command("restart", "nope"))
    assert not out.ok and out.code == "actuator.unknown_target" and out.calls
