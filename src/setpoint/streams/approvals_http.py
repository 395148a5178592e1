"""The approval gate over HTTP (stdlib ``http.server``), with the semantics of ``setpoint
approvals``: the same store, the same rules, the approver's identity recorded.

=======  ===================================  =================================================
method   path                                 answer
=======  ===================================  =================================================
GET      ``/health``                          ``{"ok": true}`` (no token needed)
GET      ``/approvals[?all=1]``               pending requests (every request with ``all=1``)
GET      ``/approvals/<id>``                  one request with its status and answer, or 404
POST     ``/approvals/<id>/approve``          ``{"comment"?, "approver"?}`` -> the answer
POST     ``/approvals/<id>/deny``             the same
=======  ===================================  =================================================

Every path but ``/health`` needs ``Authorization: Bearer TOKEN``. A personal token (from the
tokens file) *is* the approver's identity; with the shared token the body must name the approver.
401: no or a wrong token; 403: the requester answering itself, or a personal token claiming
someone else; 404: no such request; 409: already answered.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from setpoint.errors import (
    ApprovalClosedError,
    AuthError,
    ConfigError,
    InputError,
    SelfApprovalError,
)
from setpoint.streams.approvals import ApprovalStore, Row, find_in, listing, respond

MAX_BODY = 64 * 1024


class Tokens:
    """Who a bearer token is: a personal token names its approver; the shared one names nobody.

    Examples
    --------
    >>> t = Tokens(shared="s3cret", named={"tok-alice": "alice"})
    >>> t.identify("tok-alice", None), t.identify("s3cret", "bob")
    ('alice', 'bob')
    >>> t.identify("tok-alice", "bob")
    Traceback (most recent call last):
    ...
    setpoint.errors.AuthError: this token belongs to alice, not bob
    """

    def __init__(self, shared: str | None = None, named: Mapping[str, str] | None = None) -> None:
        self.shared = shared
        self.named = dict(named or {})
        if not self.shared and not self.named:
            msg = "no token: set SETPOINT_APPROVALS_TOKEN or SETPOINT_APPROVALS_TOKENS_PATH"
            raise ConfigError(msg)

    @classmethod
    def from_file(cls, path: Path, shared: str | None = None) -> Tokens:
        """Read ``NAME TOKEN`` lines (``#`` starts a comment)."""
        named: dict[str, str] = {}
        try:
            text = path.read_text()
        except OSError as exc:
            msg = f"cannot read the approvals tokens file {path}: {exc.strerror}"
            raise ConfigError(msg, context={"path": str(path)}) from exc
        for n, line in enumerate(text.splitlines(), 1):
            parts = line.split("#", 1)[0].split()
            if not parts:
                continue
            if len(parts) != 2:
                msg = f"{path}:{n}: expected 'NAME TOKEN'"
                raise ConfigError(msg, context={"path": str(path), "line": n})
            named[parts[1]] = parts[0]
        return cls(shared, named)

    def identify(self, token: str, claimed: str | None) -> str:
        """The approver behind ``token`` (``claimed``: the name the request gives)."""
        for tok, name in self.named.items():
            if hmac.compare_digest(tok.encode(), token.encode()):
                if claimed not in (None, name):
                    msg = f"this token belongs to {name}, not {claimed}"
                    raise AuthError(msg)
                return name
        if self.shared and hmac.compare_digest(self.shared.encode(), token.encode()):
            if not claimed:
                msg = "with the shared token, name the approver in the body: {'approver': NAME}"
                raise InputError(msg)
            return claimed
        raise AuthError("no valid bearer token")


class ApprovalsServer:
    """Serves the approval gate of ``store`` on ``host:port`` in a daemon thread."""

    def __init__(self, store: ApprovalStore, tokens: Tokens, host: str, port: int) -> None:
        self.store = store
        self.tokens = tokens
        handler = type("_Bound", (_Handler,), {"store": store, "tokens": tokens})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            msg = f"the approvals endpoint cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise ConfigError(msg, context={"host": host, "port": port}) from exc
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApprovalsServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def row_json(row: Row) -> dict[str, Any]:
    req, st, ans = row
    return {
        "approval_id": req.approval_id, "incident_id": req.incident_id, "status": str(st),
        "command": f"{req.command.verb} on {req.command.target}", "summary": req.summary,
        "requested_by": req.requested_by, "expires_at": req.expires_at.isoformat(),
        "answer": ans.model_dump(mode="json") if ans else None,
    }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    store: ApprovalStore
    tokens: Tokens
    server_version = "setpoint-approvals/1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        if parts == ["health"]:
            self._send(200, {"ok": True})
            return
        if self._who(None) is None:
            return
        every = parse_qs(url.query).get("all") == ["1"]
        rows = listing(self.store, every=True)
        if parts == ["approvals"]:
            self._send(200, [row_json(r) for r in rows if every or str(r[1]) == "pending"])
        elif len(parts) == 2 and parts[0] == "approvals":
            row = next((r for r in rows if r[0].approval_id == parts[1]), None)
            if row is None:
                self._send(404, {"error": f"no approval request {parts[1]}"})
            else:
                self._send(200, {**row_json(row), "request": row[0].model_dump(mode="json")})
        else:
            self._send(404, {"error": f"no such path {url.path}"})

    def do_POST(self) -> None:
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/") if p]
        if len(parts) != 3 or parts[0] != "approvals" or parts[2] not in ("approve", "deny"):
            self._send(404, {"error": f"no such path {self.path}"})
            return
        body = self._body()
        if body is None:
            return
        who = self._who(body.get("approver"))
        if who is None:
            return
        req = find_in(self.store, parts[1])
        if req is None:
            self._send(404, {"error": f"no approval request {parts[1]}"})
            return
        try:
            d = respond(self.store, req, parts[2] == "approve", who, str(body.get("comment", "")))
        except SelfApprovalError as exc:
            self._send(403, {"error": exc.message, "code": exc.code})
        except ApprovalClosedError as exc:
            self._send(409, {"error": exc.message, "code": exc.code})
        else:
            self._send(200, d.model_dump(mode="json"))

    def _who(self, claimed: Any) -> str | None:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        try:
            return self.tokens.identify(token, str(claimed) if claimed else None)
        except AuthError as exc:
            status = 401 if not token or "no valid" in exc.message else 403
            self._send(status, {"error": exc.message, "code": exc.code})
        except InputError as exc:
            self._send(400, {"error": exc.message, "code": exc.code})
        return None

    def _body(self) -> dict[str, Any] | None:
        try:
            size = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            size = -1
        if not 0 <= size <= MAX_BODY:
            self._send(400, {"error": f"a JSON body of at most {MAX_BODY} bytes"})
            return None
        try:
            data = orjson.loads(self.rfile.read(size)) if size else {}
        except orjson.JSONDecodeError as exc:
            self._send(400, {"error": f"not valid JSON: {exc}"})
            return None
        if not isinstance(data, dict):
            self._send(400, {"error": "the body must be a JSON object"})
            return None
        return data

    def _send(self, status: int, payload: Any) -> None:
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: answers are recorded in the ledger by the decide stage."""
