"""The local fleet: real processes, files and a proxy, and the primitive operations on them.

:class:`LocalFleet` owns the state directory, the CA, the secret store, the proxy and every
replica process. Its primitives are small and exact (start one replica, stop one, signal a
service's replicas, set a version, set a traffic split, flush a cache, issue or reinstall a
certificate, issue a credential), each returning the :class:`~setpoint.localfleet.ops.Op` list of
what it did. Verbs are sequences of primitives, driven by the local backend from the actuator
(``actuators.local_backend``), so an actuator stopped mid-verb really leaves it half done.
Thread-safe: one lock around every primitive.
"""

from __future__ import annotations

import json
import secrets
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from setpoint.clock import to_datetime
from setpoint.errors import BackendError, InputError, PreconditionError, UnknownTargetError
from setpoint.localfleet import pki
from setpoint.localfleet.assets import Assets
from setpoint.localfleet.driver import Driver, PortPool
from setpoint.localfleet.model import Replica, Router, Service
from setpoint.localfleet.ops import OpLog
from setpoint.localfleet.proxy import Upstream
from setpoint.localfleet.spec import LocalFleetSpec, ServiceSpec
from setpoint.localfleet.state import observe_service
from setpoint.localfleet.vault import Vault
from setpoint.schemas import ChangeEvent, ChangeType

SERVICE_SCRIPT = Path(__file__).with_name("service.py")
DAY_S = 86400.0
_READY_S = 15.0
_GRACE_S = 0.2


class LocalFleet:
    """Real replicas of the services of ``spec``, under ``state_dir``.

    Parameters
    ----------
    spec
        The fleet.
    state_dir
        Where its files live (created).
    driver
        Starts and signals processes.
    router
        Routes each service's connections to its replicas.
    clock
        Wall time (unix seconds); a test may pass its own.
    """

    def __init__(
        self,
        spec: LocalFleetSpec,
        state_dir: Path,
        driver: Driver,
        router: Router,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.state_dir = state_dir.resolve()
        self.driver = driver
        self.router = router
        self.clock = clock
        self.lock = threading.RLock()
        self.ports = PortPool(*spec.ports)
        self.services: dict[str, Service] = {}
        self.changes: list[ChangeEvent] = []
        self.vault = Vault(self.state_dir)
        self.ca = pki.CertificateAuthority(self.state_dir / "pki")
        self.admin_token = secrets.token_hex(16)
        self.assets = Assets(self)

    # -- set-up and tear-down ------------------------------------------------------------------
    def setup(self) -> OpLog:
        """Write the fleet's files, open the proxies and start every replica (callees first)."""
        log = OpLog()
        with self.lock:
            for d in ("logs", "pki", "secrets"):
                (self.state_dir / d).mkdir(parents=True, exist_ok=True)
            (self.state_dir / "admin.token").write_text(self.admin_token)
            for name, svc in self.spec.services.items():
                self.services[name] = self._declare(name, svc, log)
            self.vault.issue("prober", 3650 * DAY_S, self.clock())
            self._write_fleet_file()
            for name in reversed(self.spec.call_order()):
                s = self.services[name]
                for k in range(s.spec.replicas):
                    self.spawn(name, s.version, s.regions[k % len(s.regions)], log)
        return log

    def _declare(self, name: str, svc: ServiceSpec, log: OpLog) -> Service:
        home = self.state_dir / "services" / name
        for d in ("tls", "cache", "env"):
            (home / d).mkdir(parents=True, exist_ok=True)
        config = {
            "depends_on": svc.depends_on,
            "cache": svc.cache,
            "auth": svc.auth,
            "concurrency": svc.concurrency,
            "work_ms": svc.work_ms,
        }
        (home / "config.json").write_text(json.dumps(config, indent=1))
        now = self.clock()
        cert, key = self.ca.issue(name, now - 60.0, now + svc.cert_valid_days * DAY_S)
        pki.install(home / "tls", cert, key)
        self.vault.issue(name, svc.credential_valid_days * DAY_S, now)
        port = self.ports.take()
        with log.op("route", f"listen {name} on 127.0.0.1:{port}") as out:
            self.router.listen(name, port)
            out.append("listening")
        regions = self.spec.regions_of(name)
        return Service(
            name,
            svc,
            svc.version,
            svc.previous_version,
            port,
            regions,
            {r: round(1.0 / len(regions), 6) for r in regions},
        )

    def _write_fleet_file(self) -> None:
        data = {
            "releases": {v: r.model_dump() for v, r in self.spec.releases.items()},
            "services": {n: {"port": s.proxy_port} for n, s in self.services.items()},
        }
        tmp = self.state_dir / "fleet.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.state_dir / "fleet.json")

    def close(self) -> OpLog:
        """Stop every replica (SIGTERM, then SIGKILL after 5 s)."""
        log = OpLog()
        with self.lock:
            for s in self.services.values():
                for name in list(s.replicas):
                    self._terminate(s, s.replicas.pop(name), log)
        return log

    # -- lookups -------------------------------------------------------------------------------
    def service(self, name: str) -> Service:
        s = self.services.get(name)
        if s is None:
            msg = f"the local fleet has no service {name!r}"
            raise UnknownTargetError(msg, context={"service": name})
        return s

    def observe(self, name: str) -> dict[str, Any]:
        """``name`` in the intent layer's terms (a ``TargetState`` dict)."""
        with self.lock:
            return observe_service(self, self.service(name))

    # -- replicas ------------------------------------------------------------------------------
    def spawn(
        self, name: str, version: str | None, region: str | None, log: OpLog, surge: bool = False
    ) -> Replica:
        """Start one replica and route to it once it answers its health check (``surge``: one
        above the cap is allowed, for a rolling replacement that stops one right after)."""
        with self.lock:
            s = self.service(name)
            version = version or s.version
            region = region or self._emptiest_region(s)
            if version not in self.spec.releases:
                raise InputError(f"unknown version {version!r} of {name}")
            if region in s.down:
                raise PreconditionError(f"region {region} is down: cannot start {name} there")
            if region not in s.regions:
                raise InputError(f"{name} does not run in region {region!r}")
            if len(s.replicas) >= s.spec.max_replicas + (1 if surge else 0):
                raise PreconditionError(f"{name} may run at most {s.spec.max_replicas} replicas")
            rep = self._start(s, version, region, log)
            s.replicas[rep.name] = rep
            self._route(s, log)
            return rep

    def _start(self, s: Service, version: str, region: str, log: OpLog) -> Replica:
        port = self.ports.take()
        rname = f"{s.name}-{next(s.seq)}"
        argv = [
            sys.executable,
            str(SERVICE_SCRIPT),
            "--state-dir",
            str(self.state_dir),
            "--service",
            s.name,
            "--replica",
            rname,
            "--version",
            version,
            "--region",
            region,
            "--port",
            str(port),
        ]
        with log.op("spawn", shlex.join(argv)) as out:
            pid = self.driver.spawn(argv, self.state_dir / "logs" / f"{rname}.out")
            out.append(f"pid {pid}")
        ready = self.driver.ready(port, _READY_S)
        log.add(
            "probe",
            f"GET https://127.0.0.1:{port}/health",
            "ready" if ready else "no answer",
            ready,
        )
        if not ready:
            self._kill(pid, log)
            self.ports.give_back(port)
            raise BackendError(f"{rname} did not answer its health check in {_READY_S:g}s")
        return Replica(rname, s.name, version, region, port, pid, self.clock())

    def stop(self, name: str, replica: str, log: OpLog) -> None:
        """Stop routing to ``replica``, let in-flight requests finish, then stop it."""
        with self.lock:
            s = self.service(name)
            rep = s.replicas.get(replica)
            if rep is None:
                raise UnknownTargetError(f"{name} has no replica {replica!r}")
            del s.replicas[replica]
            self._route(s, log)
        time.sleep(_GRACE_S)
        self._terminate(s, rep, log)

    def _terminate(self, s: Service, rep: Replica, log: OpLog) -> None:
        try:
            with log.op("signal", f"kill -TERM {rep.pid}  # {rep.name}") as out:
                self.driver.signal(rep.pid, signal.SIGTERM)
                out.append("delivered")
        except ProcessLookupError:
            pass  # it was already gone (killed by a fault): nothing to stop
        code = self.driver.wait(rep.pid, 5.0)
        log.add(
            "wait",
            f"waitpid {rep.pid}",
            f"exit {code}" if code is not None else "running",
            code is not None,
        )
        if code is None:
            self._kill(rep.pid, log)
        self.ports.give_back(rep.port)

    def _kill(self, pid: int, log: OpLog) -> None:
        try:
            with log.op("signal", f"kill -KILL {pid}") as out:
                self.driver.signal(pid, signal.SIGKILL)
                out.append("delivered")
        except ProcessLookupError:
            return
        self.driver.wait(pid, 5.0)

    def signal_all(self, name: str, sig: int, log: OpLog) -> int:
        """Send ``sig`` to every live replica of ``name``; return how many got it."""
        with self.lock:
            s = self.service(name)
            n = 0
            for rep in s.replicas.values():
                if not rep.up:
                    continue
                try:
                    with log.op(
                        "signal", f"kill -{signal.Signals(sig).name[3:]} {rep.pid}  # {rep.name}"
                    ) as out:
                        self.driver.signal(rep.pid, sig)
                        out.append("delivered")
                    n += 1
                except ProcessLookupError:
                    continue
            return n

    def _emptiest_region(self, s: Service) -> str:
        up = [r for r in s.regions if r not in s.down] or s.regions
        count = {r: sum(1 for x in s.replicas.values() if x.region == r) for r in up}
        return min(up, key=lambda r: (count[r], s.regions.index(r)))

    def _route(self, s: Service, log: OpLog) -> None:
        ups = [Upstream(r.name, r.port, r.region) for r in s.replicas.values()]
        text = ", ".join(f"{u.replica}@{u.port}({u.region})" for u in ups)
        with log.op("route", f"route {s.name}: [{text}] weights {s.traffic}") as out:
            self.router.route(s.name, ups, dict(s.traffic))
            out.append("routed")

    # -- versions, traffic, cache --------------------------------------------------------------
    def set_version(
        self,
        name: str,
        version: str,
        kind: ChangeType,
        author: str,
        log: OpLog,
        previous: str | Literal["auto"] | None = "auto",
    ) -> ChangeEvent:
        """Declare the version new replicas run (the caller rolls the replicas over).

        ``previous``: what to remember as the previous version; ``"auto"``: the current one
        for a deploy, none for a rollback (like a deploy tool's history).
        """
        with self.lock:
            s = self.service(name)
            if version not in self.spec.releases:
                raise InputError(f"unknown version {version!r} of {name}")
            before = s.version
            if previous == "auto":
                previous = None if kind == ChangeType.ROLLBACK else before
            s.version, s.previous_version = version, previous
            log.add(
                "write",
                f"set {name} version {before} -> {version} (previous {previous})",
                f"{kind} recorded",
                True,
            )
            return self._change(
                name,
                kind,
                author,
                f"{kind} {name} {before} -> {version}",
                version=version,
                previous_version=before,
            )

    def set_traffic(self, name: str, weights: dict[str, float], log: OpLog) -> None:
        with self.lock:
            s = self.service(name)
            unknown = sorted(set(weights) - set(s.regions))
            if unknown or not weights or sum(weights.values()) <= 0:
                raise InputError(f"a split of {name} over {s.regions}, not {weights}")
            total = sum(max(0.0, w) for w in weights.values())
            s.traffic = {r: round(max(0.0, weights.get(r, 0.0)) / total, 6) for r in s.regions}
            self._route(s, log)

    # -- change events -------------------------------------------------------------------------
    def _change(
        self, name: str, kind: ChangeType, author: str, summary: str, **fields: Any
    ) -> ChangeEvent:
        ev = ChangeEvent(
            change_id=f"chg-{uuid.uuid4().hex[:16]}",
            service=name,
            change_type=kind,
            ts=to_datetime(self.clock()),
            author=author,
            summary=summary,
            **fields,
        )
        self.changes.append(ev)
        return ev

    def announce(self, name: str, kind: ChangeType, summary: str, **fields: Any) -> ChangeEvent:
        """A change event that is not a primitive's (an expiry the prober saw, a fault)."""
        with self.lock:
            return self._change(name, kind, "local-fleet", summary, **fields)

    def drain_changes(self) -> list[ChangeEvent]:
        with self.lock:
            out, self.changes = self.changes, []
            return out
