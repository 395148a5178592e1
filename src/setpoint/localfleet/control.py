"""The local fleet's HTTP control API (stdlib ``http.server`` in a thread), what the local backend
of the actuator calls. Every answer carries ``ops``: the exact operations the fleet performed.

========  ===================================  ==============================================
method    path                                 body → answer
========  ===================================  ==============================================
GET       ``/health``                          ``{ok, fleet, services}``
GET       ``/state``, ``/state/<svc>``         ``{services}`` / ``{state}`` (``TargetState``)
GET       ``/truth``, ``/faults``              faults with a declared truth / every fault
GET       ``/calls``                           every request received (method, path, action)
POST      ``/services/<svc>/replicas``         ``{version?, region?, surge?}`` → ``{replica}``
DELETE    ``/services/<svc>/replicas/<name>``  stop one replica
POST      ``/services/<svc>/signal``           ``{signal: "HUP"}`` → ``{delivered}``
PUT       ``/services/<svc>/version``          ``{version, kind, previous_version?}``
PUT       ``/services/<svc>/traffic``          ``{weights: {region: share}}``
POST      ``/services/<svc>/cache/flush``      → ``{removed}``
POST      ``/services/<svc>/certificate``      ``{valid_days}`` → ``{serial, not_after}``
PUT       ``/services/<svc>/certificate``      ``{serial}``: reinstall a backed-up one
POST      ``/services/<svc>/credential``       → ``{id}`` (the old one is burned)
POST      ``/faults``                          ``{fault, service, params, expect?}``
DELETE    ``/faults/<id>``                     end a fault
========  ===================================  ==============================================

Errors: ``404`` unknown service or path, ``400`` a bad request, ``409`` a refusal (a down region,
a cap), ``502`` a process that would not start; each ``{ok: false, detail, code, ops}``. The
``X-Setpoint-Action`` header (the action id) is kept in the call log.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from setpoint.errors import (
    BackendError,
    ConfigError,
    InputError,
    PreconditionError,
    SetpointError,
    UnknownTargetError,
)
from setpoint.localfleet.faults import Injector
from setpoint.localfleet.fleet import LocalFleet
from setpoint.localfleet.ops import OpLog
from setpoint.localfleet.spec import Truth
from setpoint.schemas import ChangeType

_STATUS = {UnknownTargetError: 404, InputError: 400, PreconditionError: 409, BackendError: 502}
Handler = Callable[[LocalFleet, str, dict[str, Any], OpLog], dict[str, Any]]


def _replicas(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    rep = f.spawn(svc, body.get("version"), body.get("region"), log, bool(body.get("surge")))
    return {
        "replica": {
            "name": rep.name,
            "pid": rep.pid,
            "port": rep.port,
            "region": rep.region,
            "version": rep.version,
        }
    }


def _signal(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    name = str(body.get("signal", "HUP")).upper().removeprefix("SIG")
    if name not in ("HUP", "TERM", "USR1"):
        raise InputError(f"signal {name} is not one the fleet sends")
    return {"delivered": f.signal_all(svc, signal.Signals[f"SIG{name}"], log)}


def _version(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    try:
        kind = ChangeType(body.get("kind", "deploy"))
    except ValueError as exc:
        raise InputError(f"kind must be deploy or rollback, not {body.get('kind')!r}") from exc
    prev = body.get("previous_version", "auto")
    ev = f.set_version(
        svc, str(body.get("version")), kind, str(body.get("author", "api")), log, prev
    )
    return {"change": ev.model_dump(mode="json")}


def _traffic(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    weights = body.get("weights")
    if not isinstance(weights, dict):
        raise InputError("weights: a map of region to share is needed")
    f.set_traffic(svc, {str(k): float(v) for k, v in weights.items()}, log)
    return {"traffic": f.service(svc).traffic}


def _flush(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    return {"removed": f.assets.flush_cache(svc, log)}


def _certificate(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    info = f.assets.issue_certificate(svc, float(body.get("valid_days", 90)) * 86400.0, log)
    return {"serial": info.serial, "not_after": info.not_after}


def _reinstall(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    info = f.assets.reinstall_certificate(svc, str(body.get("serial", "")), log)
    return {"serial": info.serial, "not_after": info.not_after}


def _credential(f: LocalFleet, svc: str, body: dict[str, Any], log: OpLog) -> dict[str, Any]:
    return {"id": f.assets.issue_credential(svc, log)}


_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "replicas"): _replicas,
    ("POST", "signal"): _signal,
    ("PUT", "version"): _version,
    ("PUT", "traffic"): _traffic,
    ("POST", "cache/flush"): _flush,
    ("POST", "certificate"): _certificate,
    ("PUT", "certificate"): _reinstall,
    ("POST", "credential"): _credential,
}


class FleetAPI:
    """What the HTTP handler calls: the fleet, its injector, and the log of calls received."""

    def __init__(self, fleet: LocalFleet, injector: Injector) -> None:
        self.fleet = fleet
        self.injector = injector
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def dispatch(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        log = OpLog()
        try:
            status, answer = self._route(method, path.strip("/").split("/"), body, log)
        except SetpointError as exc:
            code = next((c for t, c in _STATUS.items() if isinstance(exc, t)), 500)
            return code, {
                "ok": False,
                "detail": exc.message,
                "code": exc.code,
                "ops": log.to_json(),
            }
        if isinstance(answer, dict):
            answer = {"ok": True, **answer, "ops": log.to_json()}
        return status, answer

    def _route(
        self, method: str, parts: list[str], body: dict[str, Any], log: OpLog
    ) -> tuple[int, Any]:
        f = self.fleet
        head = parts[0] if parts else ""
        if method == "GET":
            return self._get(parts)
        if head == "faults":
            return self._faults(method, parts, body, log)
        if head != "services" or len(parts) < 3:
            raise UnknownTargetError(f"no such path /{'/'.join(parts)}")
        svc, rest = parts[1], "/".join(parts[2:])
        if method == "DELETE" and parts[2] == "replicas" and len(parts) == 4:
            f.stop(svc, parts[3], log)
            return 200, {"stopped": parts[3]}
        handler = _ROUTES.get((method, rest))
        if handler is None:
            raise UnknownTargetError(f"no such path {method} /{'/'.join(parts)}")
        return 200, handler(f, svc, body, log)

    def _get(self, parts: list[str]) -> tuple[int, Any]:
        f = self.fleet
        head = parts[0] if parts else ""
        if head == "health":
            return 200, {"fleet": f.spec.name, "services": sorted(f.services)}
        if head == "state" and len(parts) == 1:
            return 200, {"services": {n: f.observe(n) for n in sorted(f.services)}}
        if head == "state" and len(parts) == 2:
            return 200, {"state": f.observe(parts[1])}
        if head == "truth":  # the declared ground truth only (what a run is scored against)
            return 200, {"faults": [f for f in self.injector.truth() if f["expect"]]}
        if head == "faults":
            return 200, {"faults": self.injector.truth()}
        if head == "calls":
            with self._lock:
                return 200, {"calls": list(self.calls)}
        raise UnknownTargetError(f"no such path /{'/'.join(parts)}")

    def _faults(
        self, method: str, parts: list[str], body: dict[str, Any], log: OpLog
    ) -> tuple[int, Any]:
        if method == "POST" and len(parts) == 1:
            expect = Truth.model_validate(body["expect"]) if body.get("expect") else None
            fid, flog = self.injector.inject(
                str(body.get("fault")),
                str(body.get("service")),
                dict(body.get("params") or {}),
                expect,
            )
            log.ops += flog.ops
            return 200, {"fault_id": fid}
        if method == "DELETE" and len(parts) == 2:
            log.ops += self.injector.clear(parts[1]).ops
            return 200, {"cleared": parts[1]}
        raise UnknownTargetError(f"no such path {method} /{'/'.join(parts)}")

    def received(self, method: str, path: str, action: str) -> dict[str, Any]:
        """Log a request as it arrives (its status is filled in once answered)."""
        entry: dict[str, Any] = {
            "ts": time.time(),
            "method": method,
            "path": path,
            "action_id": action,
            "status": None,
        }
        with self._lock:
            self.calls.append(entry)
        return entry


class ControlServer:
    """Serves ``api`` on ``host:port`` in a daemon thread (port 0: any free port)."""

    def __init__(self, api: FleetAPI, host: str, port: int) -> None:
        handler = type("_Bound", (_Handler,), {"api": api})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            msg = f"the local fleet's control API cannot listen on {host}:{port}: {exc.strerror}"
            raise ConfigError(msg, context={"port": port}) from exc
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fleet-api", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)


class _Handler(BaseHTTPRequestHandler):
    api: FleetAPI
    server_version = "setpoint-local-fleet/1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        size = int(self.headers.get("Content-Length", "0") or 0)
        try:
            body = orjson.loads(self.rfile.read(size)) if size else {}
        except orjson.JSONDecodeError as exc:
            self._send(400, {"ok": False, "detail": f"not valid JSON: {exc}"})
            return
        if not isinstance(body, dict):
            self._send(400, {"ok": False, "detail": "a JSON object is needed"})
            return
        entry = self.api.received(method, path, self.headers.get("X-Setpoint-Action", ""))
        status, answer = self.api.dispatch(method, path, body)
        entry["status"] = status
        self._send(status, answer)

    def _send(self, status: int, payload: Any) -> None:
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the call log keeps every request."""
