"""The backend of the local fleet (``setpoint.localfleet``): real processes, files and a proxy,
driven through the fleet's HTTP control API one primitive at a time.

A verb is a sequence of primitives (start one replica, stop one, send SIGHUP, set a version or a
traffic split, flush, issue a certificate or a credential), so restart really gives every
replica a new PID, rollback really replaces each replica by one of the previous version, scale
really starts or stops processes, renewal really issues a certificate and has the replicas
reload it. Every HTTP request is recorded, and with it every operation the fleet performed for it
(the exact command line spawned, the signal and its PID, the file written), as ``BackendCall``s.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from setpoint.actuators import intent
from setpoint.actuators.backend import CallRecorder, Outcome, capture_by_observing
from setpoint.actuators.state import InstanceState, TargetState
from setpoint.errors import ActuatorError, BackendError, PreconditionError, UnknownTargetError
from setpoint.schemas import (
    AnyCommand,
    RestartParams,
    ScaleParams,
    ShiftTrafficParams,
    Verb,
)

_ERRORS: dict[int, type[ActuatorError]] = {404: UnknownTargetError, 409: PreconditionError}


class _Session:
    """The calls of one backend operation: each HTTP request and the fleet's operations."""

    def __init__(self, backend: LocalProcessBackend, action_id: str) -> None:
        self.b = backend
        self.action_id = action_id
        self.rec = CallRecorder(backend.name)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.b.url.rstrip("/") + path
        payload = json.dumps(body, sort_keys=True).encode() if body is not None else None
        req = urllib.request.Request(url, data=payload, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-Setpoint-Action", self.action_id)
        text = f"{method} {url}" + (f" {payload.decode()}" if payload else "")
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=self.b.timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            self.rec.record("http", text, f"error: {exc}", False, started)
            raise BackendError(f"the local fleet at {self.b.url} is unreachable: {exc}") from exc
        answer = _json(raw)
        self.rec.record("http", text, f"{status} {_brief(answer)}", status < 300, started)
        for op in answer.get("ops") or []:
            self.rec.record(
                f"local.{op['kind']}", op["request"], op["response"], op["ok"], float(op["ts"])
            )
        if status >= 300:
            cls = _ERRORS.get(status, BackendError)
            raise cls(str(answer.get("detail", status)), context={"status": status})
        return answer

    def state(self, target: str) -> TargetState:
        return TargetState.model_validate(self.call("GET", f"/state/{target}")["state"])

    def outcome(
        self, ok: bool, detail: str, captured: dict[str, Any] | None = None, code: str = ""
    ) -> Outcome:
        return Outcome(ok, detail, self.rec.calls, dict(captured or {}), code)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return {"detail": raw[:500].decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"detail": str(data)}


def _brief(answer: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in answer.items() if k != "ops"}, sort_keys=True)[:2000]


class LocalProcessBackend:
    """Applies verbs to the local fleet of real processes through its control API.

    Parameters
    ----------
    url
        The fleet's control API, e.g. ``http://127.0.0.1:18620``.
    timeout_s
        Per-request timeout (starting a replica waits for its health check).

    Examples
    --------
    >>> LocalProcessBackend("http://127.0.0.1:9").observe("api").code  # nothing listens there
    'actuator.backend'
    """

    name = "local"

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    # -- the protocol ----------------------------------------------------------------------------
    def observe(self, target: str) -> Outcome:
        s = _Session(self, "")
        try:
            state = s.state(target)
        except ActuatorError as exc:
            return s.outcome(False, exc.message, code=exc.code)
        return s.outcome(
            True,
            f"{target} {state.version}, {state.replicas} replicas",
            state.model_dump(mode="json"),
        )

    def capture(self, verb: str, target: str) -> Outcome:
        return capture_by_observing(self, verb, target)

    def execute(self, cmd: AnyCommand) -> Outcome:
        s = _Session(self, cmd.command_id)
        try:
            state = s.state(cmd.target)
            detail = self._apply(s, cmd, state)
        except ActuatorError as exc:
            return s.outcome(False, exc.message, code=exc.code)
        return s.outcome(True, detail)

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        s = _Session(self, f"undo:{action_id}")
        try:
            state = s.state(target)
            detail = self._restore(s, verb, target, captured, state)
        except ActuatorError as exc:
            return s.outcome(False, exc.message, code=exc.code)
        return s.outcome(True, detail)

    # -- verbs -----------------------------------------------------------------------------------
    def _apply(self, s: _Session, cmd: AnyCommand, state: TargetState) -> str:
        v, p, t = cmd.verb, cmd.params, cmd.target
        if v == Verb.RESTART and isinstance(p, RestartParams):
            names = p.instances or [i.name for i in state.instances]
            picked = [i for i in state.instances if i.name in names]
            return self._replace(s, t, picked, None, "restarted")
        if v == Verb.ROLLBACK_DEPLOY:
            to = state.previous_version or ""
            s.call(
                "PUT",
                f"/services/{t}/version",
                {"version": to, "kind": "rollback", "author": "setpoint"},
            )
            return self._roll_to(s, t, state, to)
        if v == Verb.SCALE and isinstance(p, ScaleParams):
            return self._resize(s, t, state, intent.scale_target(p, state.replicas))
        if v == Verb.FLUSH_CACHE:
            got = s.call("POST", f"/services/{t}/cache/flush")
            return f"flushed the cache of {t} ({got['removed']} entries)"
        if v == Verb.RENEW_CERTIFICATE:
            days = getattr(p, "valid_days", 90)
            got = s.call("POST", f"/services/{t}/certificate", {"valid_days": days})
            n = s.call("POST", f"/services/{t}/signal", {"signal": "HUP"})["delivered"]
            return f"issued certificate {got['serial']} of {t}; {n} replicas reloaded it"
        if v == Verb.ROTATE_CREDENTIAL:
            got = s.call("POST", f"/services/{t}/credential")
            n = s.call("POST", f"/services/{t}/signal", {"signal": "HUP"})["delivered"]
            return f"rotated the credential of {t} to {got['id']}; {n} replicas reloaded it"
        if v == Verb.SHIFT_TRAFFIC and isinstance(p, ShiftTrafficParams):
            split = intent.shift_split(p, state)
            s.call("PUT", f"/services/{t}/traffic", {"weights": split})
            return f"traffic of {t} now {split}"
        if v == Verb.ESCALATE:
            return "escalated to a human; the fleet is unchanged"
        raise ActuatorError(f"{v} is not a verb the local fleet applies")

    def _restore(
        self, s: _Session, verb: str, t: str, cap: dict[str, Any], state: TargetState
    ) -> str:
        if verb == Verb.ROLLBACK_DEPLOY:
            s.call(
                "PUT",
                f"/services/{t}/version",
                {
                    "version": cap["version"],
                    "kind": "deploy",
                    "author": "setpoint",
                    "previous_version": cap.get("previous_version"),
                },
            )
            done = self._roll_to(s, t, state, str(cap["version"]))
            want = cap.get("replicas")
            if isinstance(want, int) and want != len(s.state(t).instances):
                # An interrupted rolling replacement leaves a surge replica behind.
                done += "; " + self._resize(s, t, s.state(t), want)
            return done
        if verb == Verb.SCALE:
            return self._resize(s, t, state, int(cap["replicas"]))
        if verb == Verb.RENEW_CERTIFICATE:
            s.call("PUT", f"/services/{t}/certificate", {"serial": cap["cert_serial"]})
            n = s.call("POST", f"/services/{t}/signal", {"signal": "HUP"})["delivered"]
            return f"reinstalled certificate {cap['cert_serial']} of {t}; {n} replicas reloaded"
        if verb == Verb.SHIFT_TRAFFIC:
            s.call("PUT", f"/services/{t}/traffic", {"weights": cap["traffic"]})
            return f"traffic of {t} back to {cap['traffic']}"
        raise ActuatorError(f"{verb} has no inverse: nothing can be restored")

    # -- building blocks -------------------------------------------------------------------------
    def _replace(
        self, s: _Session, t: str, old: list[InstanceState], version: str | None, what: str
    ) -> str:
        """Rolling replacement: a new replica up (and routed) before each old one stops."""
        done = []
        for inst in old:
            if not inst.up:
                continue  # its region is down: nothing can start there
            body = {"region": inst.region, "surge": True, "version": version or inst.version}
            new = s.call("POST", f"/services/{t}/replicas", body)["replica"]
            s.call("DELETE", f"/services/{t}/replicas/{inst.name}")
            done.append(f"{inst.name} (pid {inst.pid}) -> {new['name']} (pid {new['pid']})")
        if not done:
            raise ActuatorError(f"no running replica of {t} to replace")
        return f"{what} {len(done)} replica(s) of {t}: " + ", ".join(done)

    def _roll_to(self, s: _Session, t: str, state: TargetState, version: str) -> str:
        stale = [i for i in state.instances if i.version != version]
        if not stale:
            return f"{t} already runs {version} everywhere"
        return self._replace(s, t, stale, version, f"rolled to {version}:")

    def _resize(self, s: _Session, t: str, state: TargetState, want: int) -> str:
        cur = state.replicas
        for _ in range(want - cur):
            s.call("POST", f"/services/{t}/replicas", {})
        # Down replicas go first, then the newest.
        extra = sorted(state.instances, key=lambda i: (i.up, -(i.started_at or 0.0)))
        for inst in extra[: max(0, cur - want)]:
            s.call("DELETE", f"/services/{t}/replicas/{inst.name}")
        return f"scaled {t} {cur} -> {want} replicas"
