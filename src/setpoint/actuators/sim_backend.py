"""The backend of the simulated fleet: real HTTP calls to the fleet's control API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from setpoint.actuators.backend import CallRecorder, Outcome, capture_by_observing
from setpoint.actuators.state import InstanceState, TargetState
from setpoint.schemas import AnyCommand, Verb

_UNDO_FIELDS: dict[str, tuple[str, ...]] = {
    Verb.ROLLBACK_DEPLOY: ("version", "previous_version"),
    Verb.SCALE: ("replicas",),
    Verb.RENEW_CERTIFICATE: ("cert_expires_at",),
    Verb.ROTATE_CREDENTIAL: ("credential_expires_at", "credential_revoked"),
    Verb.SHIFT_TRAFFIC: ("traffic",),
}
"""What the fleet's ``/undo`` takes back for each reversible verb (a subset of the capture)."""


class SimFleetBackend:
    """Applies verbs to the simulated fleet of ``setpoint.sim`` through its HTTP control API.

    Parameters
    ----------
    url
        The fleet's control API, e.g. ``http://127.0.0.1:18600``.
    timeout_s
        Per-request timeout.

    Examples
    --------
    >>> SimFleetBackend("http://127.0.0.1:9").observe("api").code  # nothing listens there
    'actuator.backend'
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

    def capture(self, verb: str, target: str) -> Outcome:
        return capture_by_observing(self, verb, target)

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        fields = _UNDO_FIELDS.get(verb, tuple(captured))
        body = {
            "action_id": action_id,
            "verb": verb,
            "target": target,
            "captured": {k: captured[k] for k in fields if k in captured},
        }
        return self._post("/undo", body, "undo")

    def observe(self, target: str) -> Outcome:
        rec = CallRecorder(self.name)
        status, data = self._call(rec, "observe", "GET", f"/state/{target}", None)
        if status == 404:
            detail = f"the simulated fleet has no service {target!r}"
            return Outcome(False, detail, rec.calls, code="actuator.unknown_target")
        if status != 200:
            return Outcome(False, str(data.get("detail", "")), rec.calls, code="actuator.backend")
        state = _target_state(data).model_dump(mode="json")
        return Outcome(True, str(data.get("detail", "")), rec.calls, state)

    def _post(self, path: str, body: dict[str, Any], op: str) -> Outcome:
        rec = CallRecorder(self.name)
        status, data = self._call(rec, op, "POST", path, body)
        ok = status == 200 and bool(data.get("ok"))
        captured = data.get("captured") or {}
        code = "" if ok else ("actuator.backend" if status != 200 else "actuator.refused")
        return Outcome(ok, str(data.get("detail", "")), rec.calls, dict(captured), code)

    def _call(
        self, rec: CallRecorder, op: str, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, JSON answer)``; status 0 when the fleet cannot be reached."""
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
            return 0, {"detail": f"fleet unreachable: {exc}"}
        rec.record(op, request_text, f"{status} {text}", 200 <= status < 300, started)
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            data = {"detail": text[:500]}
        return status, data if isinstance(data, dict) else {"detail": str(data)}


def _target_state(d: dict[str, Any]) -> TargetState:
    """The fleet's view of one service (``GET /state/<name>``) in the intent layer's terms."""
    cache = d.get("cache")
    return TargetState(
        service=str(d["service"]),
        version=d.get("version"),
        previous_version=d.get("previous_version"),
        replicas=int(d.get("replicas", 0)),
        max_replicas=d.get("max_replicas"),
        regions=list(d.get("regions") or []),
        down_regions=list(d.get("down_regions") or []),
        traffic={k: float(v) for k, v in (d.get("traffic") or {}).items()},
        cache=None if cache is None else str(cache),
        cert_expires_at=d.get("cert_expires_at"),
        credential_expires_at=d.get("credential_expires_at"),
        credential_revoked=bool(d.get("credential_revoked")),
        instances=[_instance(i, d.get("version")) for i in d.get("instances") or []],
        busy=bool(d.get("pending")),
    )


def _instance(i: dict[str, Any], version: str | None) -> InstanceState:
    return InstanceState(
        name=i["name"],
        region=i.get("region", ""),
        version=version,
        started_at=i.get("started_at"),
        up=bool(i.get("up", True)),
    )
