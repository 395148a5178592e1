"""The backend of the simulated fleet: real HTTP calls to the fleet's control API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from setpoint.actuators.backend import CallRecorder, Outcome
from setpoint.schemas import AnyCommand


class SimFleetBackend:
    """Applies verbs to the simulated fleet of ``setpoint.sim`` through its HTTP control API.

    Parameters
    ----------
    url
        The fleet's control API, e.g. ``http://127.0.0.1:18600``.
    timeout_s
        Per-request timeout.
    """

    name = "sim"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def execute(self, cmd: AnyCommand) -> Outcome:
        body = {
            "action_id": cmd.command_id,
            "verb": str(cmd.verb),
            "target": cmd.target,
            "params": cmd.params.model_dump(mode="json"),
        }
        return self._post("/actions", body, "execute")

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        body = {"action_id": action_id, "verb": verb, "target": target, "captured": captured}
        return self._post("/undo", body, "undo")

    def observe(self, target: str) -> Outcome:
        rec = CallRecorder(self.name)
        ok, data = self._call(rec, "observe", "GET", f"/state/{target}", None)
        return Outcome(ok, str(data.get("detail", "")), rec.calls, data if ok else {})

    def _post(self, path: str, body: dict[str, Any], op: str) -> Outcome:
        rec = CallRecorder(self.name)
        ok, data = self._call(rec, op, "POST", path, body)
        ok = ok and bool(data.get("ok"))
        captured = data.get("captured") or {}
        return Outcome(ok, str(data.get("detail", "")), rec.calls, dict(captured))

    def _call(
        self, rec: CallRecorder, op: str, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[bool, dict[str, Any]]:
        payload = json.dumps(body, sort_keys=True).encode() if body is not None else None
        url = self.url.rstrip("/") + path
        req = urllib.request.Request(url, data=payload, method=method)
        req.add_header("Content-Type", "application/json")
        request_text = f"{method} {url}" + (f" {payload.decode()}" if payload else "")
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                text = resp.read().decode("utf-8", "replace")
                status = resp.status
        except urllib.error.HTTPError as exc:
            text, status = exc.read().decode("utf-8", "replace"), exc.code
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            rec.record(op, request_text, f"error: {exc}", False, started)
            return False, {"detail": f"fleet unreachable: {exc}"}
        rec.record(op, request_text, f"{status} {text}", 200 <= status < 300, started)
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            data = {"detail": text[:500]}
        return 200 <= status < 300, data if isinstance(data, dict) else {"detail": str(data)}
