"""Faults the local fleet can suffer, injected for real (so scenarios run on real processes).

==========================  =====================================================  =============
fault                       what really happens                                    fixed by
==========================  =====================================================  =============
``bad_deploy``              a rolling deploy of a bad release (``version``)         rollback
``memory_leak``             each replica leaks ``mb_per_s`` (resident memory)       restart
``saturation``              ``extra_rps`` more requests than the replicas can take  scale
``poisoned_cache``          a ``fraction`` of the cache entries corrupted on disk   flush
``expired_certificate``     a certificate that expires ``in_s`` seconds from now    renewal
``expired_credential``      the credential expires ``in_s`` from now, or is         rotation
                            revoked as ``leaked``
``dependency_outage``       every replica in ``region`` killed (the region is down) traffic shift
``novel``                   a share of requests fail for a reason no verb fixes     a human
==========================  =====================================================  =============

Each is begun with :meth:`Injector.inject` and its ground truth (root, fault class, fixing verbs)
kept for scoring (``GET /truth``), never shown to the loop.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import signal
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from setpoint.errors import InputError
from setpoint.localfleet.fleet import LocalFleet
from setpoint.localfleet.ops import OpLog
from setpoint.localfleet.spec import Truth
from setpoint.schemas import ChangeType


class Load(Protocol):
    """The load generator's knob: extra requests per second sent to a service."""

    extra_rps: dict[str, float]


@dataclass
class Active:
    fault_id: str
    fault: str
    service: str
    params: dict[str, Any]
    onset: float
    expect: Truth | None
    end: Callable[[OpLog], None] | None = None
    ended_at: float | None = None
    notes: list[str] = field(default_factory=list)


def item_key(k: int) -> str:
    """The cache file name of item ``k`` (as the service names it)."""
    return hashlib.sha256(str(k).encode()).hexdigest()[:16]


class Injector:
    """Begins and ends faults on ``fleet`` (``load`` for saturation).

    Examples
    --------
    >>> Injector.FAULTS[:3]
    ('bad_deploy', 'memory_leak', 'saturation')
    """

    FAULTS = (
        "bad_deploy",
        "memory_leak",
        "saturation",
        "poisoned_cache",
        "expired_certificate",
        "expired_credential",
        "dependency_outage",
        "novel",
    )

    def __init__(self, fleet: LocalFleet, load: Load | None = None) -> None:
        self.fleet = fleet
        self.load = load
        self.active: dict[str, Active] = {}

    def inject(
        self, fault: str, service: str, params: dict[str, Any], expect: Truth | None = None
    ) -> tuple[str, OpLog]:
        if fault not in self.FAULTS:
            raise InputError(f"unknown fault {fault!r} (one of {', '.join(self.FAULTS)})")
        self.fleet.service(service)
        log = OpLog()
        a = Active(
            f"{fault}-{uuid.uuid4().hex[:8]}",
            fault,
            service,
            dict(params),
            self.fleet.clock(),
            expect,
        )
        a.end = getattr(self, f"_{fault}")(a, log)
        self.active[a.fault_id] = a
        return a.fault_id, log

    def clear(self, fault_id: str) -> OpLog:
        a = self.active.get(fault_id)
        if a is None:
            raise InputError(f"no fault {fault_id!r}")
        log = OpLog()
        if a.end is not None and a.ended_at is None:
            a.end(log)
        a.ended_at = self.fleet.clock()
        return log

    def truth(self) -> list[dict[str, Any]]:
        """Each fault with its onset and declared truth (for scoring, never for the loop)."""
        return [
            {
                "id": a.fault_id,
                "fault": a.fault,
                "service": a.service,
                "onset": a.onset,
                "ended_at": a.ended_at,
                "params": a.params,
                "expect": a.expect.model_dump(mode="json") if a.expect else None,
            }
            for a in self.active.values()
        ]

    # -- the faults ------------------------------------------------------------------------------
    def _bad_deploy(self, a: Active, log: OpLog) -> None:
        f = self.fleet
        version = str(a.params.get("version", "2.0.0"))
        f.set_version(a.service, version, ChangeType.DEPLOY, "ci", log)
        for rep in list(f.service(a.service).replicas.values()):
            f.spawn(a.service, version, rep.region, log, surge=True)
            f.stop(a.service, rep.name, log)

    def _memory_leak(self, a: Active, log: OpLog) -> None:
        rate = float(a.params.get("mb_per_s", 2.0))
        for rep in list(self.fleet.service(a.service).replicas.values()):
            self._admin(rep.port, "/_admin/leak", {"mb_per_s": rate}, log)

    def _saturation(self, a: Active, log: OpLog) -> Callable[[OpLog], None]:
        if self.load is None:
            raise InputError("saturation needs the load generator (run the whole fleet)")
        load = self.load
        extra = float(a.params.get("extra_rps", 30.0))
        load.extra_rps[a.service] = load.extra_rps.get(a.service, 0.0) + extra
        log.add("http", f"load generator: +{extra:g} rps to {a.service}", "ok", True)

        def end(log: OpLog) -> None:
            load.extra_rps[a.service] = max(0.0, load.extra_rps.get(a.service, 0.0) - extra)
            log.add("http", f"load generator: -{extra:g} rps to {a.service}", "ok", True)

        return end

    def _poisoned_cache(self, a: Active, log: OpLog) -> None:
        s = self.fleet.service(a.service)
        if not s.spec.cache:
            raise InputError(f"{a.service} has no cache")
        keys = self.fleet.spec.load.keys
        n = max(1, round(float(a.params.get("fraction", 0.5)) * keys))
        cache = self.fleet.state_dir / s.home / "cache"
        with log.op("write", f"corrupt {n} of {keys} entries in {cache}") as out:
            for k in range(n):
                (cache / item_key(k)).write_text("0" * 64 + f"\nitem {k} (bit rot)")
            out.append(f"wrote {n}")

    def _expired_certificate(self, a: Active, log: OpLog) -> None:
        in_s = float(a.params.get("in_s", 20.0))
        self.fleet.assets.issue_certificate(a.service, in_s, log)
        self.fleet.signal_all(a.service, signal.SIGHUP, log)

    def _expired_credential(self, a: Active, log: OpLog) -> None:
        f, svc = self.fleet, a.service
        if a.params.get("mode", "expired") == "leaked":
            with log.op("write", f"revoke the credential of {svc} in the secret store") as out:
                cred = f.vault.update(svc, revoked=True)
                out.append(f"revoked {cred.id}")
            f.announce(
                svc,
                ChangeType.CREDENTIAL_EXPIRY,
                f"credential of {svc} revoked: leaked",
                expires_at=f.clock(),
            )
            return
        at = f.clock() + float(a.params.get("in_s", 15.0))
        with log.op("write", f"set the credential of {svc} to expire at {at:.0f}") as out:
            cred = f.vault.update(svc, expires_at=at)
            out.append(f"{cred.id} expires at {at:.0f}")

    def _dependency_outage(self, a: Active, log: OpLog) -> Callable[[OpLog], None]:
        f, region = self.fleet, str(a.params.get("region", "us"))
        s = f.service(a.service)
        if region not in s.regions:
            raise InputError(f"{a.service} does not run in region {region!r}")
        with f.lock:
            s.down.add(region)
            for rep in s.replicas.values():
                if rep.region == region:
                    rep.up = False
                    with log.op("signal", f"kill -KILL {rep.pid}  # {rep.name}: region down"):
                        f.driver.signal(rep.pid, signal.SIGKILL)
                    f.driver.wait(rep.pid, 5.0)

        def end(log: OpLog) -> None:
            with f.lock:
                s.down.discard(region)
                dead = [r for r in s.replicas.values() if r.region == region and not r.up]
                for rep in dead:
                    del s.replicas[rep.name]
                    f.ports.give_back(rep.port)
                for _ in dead:
                    f.spawn(a.service, None, region, log)

        return end

    def _novel(self, a: Active, log: OpLog) -> Callable[[OpLog], None]:
        cls = str(a.params.get("error_class", "clock_skew"))
        spec = {
            "error_class": cls,
            "error_rate": float(a.params.get("error_rate", 0.3)),
            "message": a.params.get(
                "message",
                "ledger reconciliation rejected write: clock drift 4.2s exceeds tolerance",
            ),
        }
        path = self.fleet.state_dir / self.fleet.service(a.service).home / "env" / f"{cls}.json"
        with log.op("write", f"write {path}"):
            path.write_text(json.dumps(spec))

        def end(log: OpLog) -> None:
            with log.op("unlink", f"rm {path}"):
                path.unlink(missing_ok=True)

        return end

    def _admin(self, port: int, path: str, body: dict[str, Any], log: OpLog) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        data = json.dumps(body)
        with log.op("http", f"POST https://127.0.0.1:{port}{path} {data}") as out:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5.0, context=ctx)
            try:
                conn.request(
                    "POST",
                    path,
                    data,
                    {"X-Admin-Token": self.fleet.admin_token, "Content-Type": "application/json"},
                )
                resp = conn.getresponse()
                out.append(f"{resp.status} {resp.read().decode()[:200]}")
            finally:
                conn.close()
