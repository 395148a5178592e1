"""The fleet's HTTP control API (stdlib ``http.server`` in a thread): an edge, like the runner.

=======  ==================  ===========================================================
method   path                body / answer
=======  ==================  ===========================================================
POST     ``/actions``        ``{action_id, verb, target, params}`` →
                             ``{ok, detail, captured, effect_delay_s, sim_time, ...}``
POST     ``/undo``           ``{action_id, verb, target, captured}`` → the same shape
GET      ``/state``          the whole fleet's state
GET      ``/state/<name>``   one service's state (404 if unknown)
GET      ``/truth``          the scenario's ground truth (for scoring, never for the loop)
GET      ``/health``         ``{ok, sim_time, scenario, ...}``
=======  ==================  ===========================================================

A refused or failed action is an answer (``200`` with ``ok: false``); a malformed request is a
``400``, an unknown path or service a ``404``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from setpoint.errors import ConfigError

MAX_BODY = 1 << 20


class ActionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: str = Field(min_length=1, max_length=128)
    verb: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)


class UndoRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: str = Field(min_length=1, max_length=128)
    verb: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=128)
    captured: dict[str, Any]


class Controlled(Protocol):
    """What the API controls (the :class:`~setpoint.sim.runner.FleetRunner`)."""

    def act(self, req: ActionRequest) -> dict[str, Any]: ...
    def revert(self, req: UndoRequest) -> dict[str, Any]: ...
    def fleet_state(self, service: str | None) -> dict[str, Any] | None: ...
    def truth(self) -> list[dict[str, Any]]: ...
    def health(self) -> dict[str, Any]: ...


class ControlServer:
    """Serves the control API of ``target`` on ``url`` in a daemon thread.

    Examples
    --------
    >>> ControlServer.address("http://127.0.0.1:18600")
    ('127.0.0.1', 18600)
    """

    def __init__(self, target: Controlled, url: str) -> None:
        self.target = target
        self.url = url
        handler = type("_BoundHandler", (_Handler,), {"target": target})
        try:
            self._httpd = ThreadingHTTPServer(self.address(url), handler)
        except OSError as exc:
            msg = f"the fleet's control API cannot listen on {url}: {exc.strerror or exc}"
            raise ConfigError(msg, context={"fleet_url": url}) from exc
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fleet-control", daemon=True
        )

    @staticmethod
    def address(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            msg = f"the fleet URL must look like http://HOST:PORT, not {url!r}"
            raise ConfigError(msg, context={"fleet_url": url})
        return parts.hostname, parts.port

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
    target: Controlled
    server_version = "setpoint-fleet/1"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/health":
            self._send(200, self.target.health())
        elif path == "/truth":
            self._send(200, {"faults": self.target.truth()})
        elif path == "/state" or path.startswith("/state/"):
            name = unquote(path[len("/state/") :]) if path != "/state" else None
            state = self.target.fleet_state(name)
            if state is None:
                self._send(404, {"ok": False, "detail": f"unknown service {name!r}"})
            else:
                self._send(200, state)
        else:
            self._send(404, {"ok": False, "detail": f"no such path {path!r}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path not in ("/actions", "/undo"):
            self._send(404, {"ok": False, "detail": f"no such path {path!r}"})
            return
        body = self._body()
        if body is None:
            return
        try:
            if path == "/actions":
                self._send(200, self.target.act(ActionRequest.model_validate(body)))
            else:
                self._send(200, self.target.revert(UndoRequest.model_validate(body)))
        except ValidationError as exc:
            e = exc.errors(include_url=False)[0]
            where = ".".join(map(str, e["loc"])) or "body"
            self._send(400, {"ok": False, "detail": f"bad request: {where}: {e['msg']}"})

    def _body(self) -> Any:
        try:
            size = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            size = -1
        if not 0 < size <= MAX_BODY:
            self._send(400, {"ok": False, "detail": f"a JSON body of 1..{MAX_BODY} bytes needed"})
            return None
        try:
            return orjson.loads(self.rfile.read(size))
        except orjson.JSONDecodeError as exc:
            self._send(400, {"ok": False, "detail": f"not valid JSON: {exc}"})
            return None

    def _send(self, status: int, payload: Any) -> None:
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the runner reports actions itself."""
