"""An in-memory backend for unit tests: every verb applied at once to a dict of states, every call
recorded, and a way to stop "mid-action" like a killed actuator would."""

from __future__ import annotations

import time
from typing import Any

from setpoint.actuators import CallRecorder, Outcome, TargetState, intent
from setpoint.actuators.backend import capture_by_observing
from setpoint.actuators.state import InstanceState
from setpoint.schemas import AnyCommand, ScaleParams, ShiftTrafficParams, Verb


class Crash(BaseException):
    """What a ``kill -9`` looks like to the code after it: nothing more runs."""


def service(name: str, **kw: Any) -> TargetState:
    base: dict[str, Any] = {
        "service": name,
        "version": "2.0",
        "previous_version": "1.9",
        "replicas": 2,
        "max_replicas": 8,
        "regions": ["eu", "us"],
        "traffic": {"eu": 0.5, "us": 0.5},
        "cache": "healthy",
        "cache_generation": 0,
        "cert_serial": "s1",
        "cert_expires_at": 1e9,
        "credential_id": "c1",
        "credential_expires_at": 1e9,
    }
    base.update(kw)
    regions = base["regions"]
    base.setdefault(
        "instances",
        [
            InstanceState(
                name=f"{name}-{k}",
                region=regions[k % len(regions)],
                version=base["version"],
                pid=100 + k,
            )
            for k in range(base["replicas"])
        ],
    )
    return TargetState(**base)


class MemoryBackend:
    """Applies verbs to in-memory states. ``crash_after`` stops the next ``execute`` after it has
    (``"landed"``) or has not (``"half"``) applied its effect."""

    name = "memory"

    def __init__(self, *states: TargetState) -> None:
        self.states = {s.service: s for s in states}
        self.executed: list[str] = []
        self.undone: list[str] = []
        self.crash_after: str | None = None
        self._pid = 1000

    def observe(self, target: str) -> Outcome:
        rec = CallRecorder(self.name)
        s = self.states.get(target)
        rec.record("observe", f"GET {target}", "ok" if s else "404", s is not None, time.time())
        if s is None:
            return Outcome(False, f"no {target}", rec.calls, code="actuator.unknown_target")
        return Outcome(True, "", rec.calls, s.model_dump(mode="json"))

    def capture(self, verb: str, target: str) -> Outcome:
        return capture_by_observing(self, verb, target)

    def execute(self, cmd: AnyCommand) -> Outcome:
        rec = CallRecorder(self.name)
        s = self.states.get(cmd.target)
        rec.record("execute", f"{cmd.verb} {cmd.target}", "", s is not None, time.time())
        if s is None:
            return Outcome(False, f"no {cmd.target}", rec.calls, code="actuator.unknown_target")
        self.executed.append(cmd.command_id)
        if self.crash_after == "half":
            self.crash_after = None
            raise Crash
        self.states[cmd.target] = self._apply(s, cmd)
        if self.crash_after == "landed":
            self.crash_after = None
            raise Crash
        return Outcome(True, f"{cmd.verb} done", rec.calls)

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        rec = CallRecorder(self.name)
        rec.record("undo", f"{verb} {target} {captured}", "ok", True, time.time())
        self.undone.append(action_id)
        s = self.states[target]
        if verb == Verb.SCALE:
            s = self._resize(s, captured["replicas"])
        elif verb == Verb.ROLLBACK_DEPLOY:
            s = self._version(s, captured["version"], captured["previous_version"])
        else:
            known = TargetState.model_fields
            s = s.model_copy(update={k: v for k, v in captured.items() if k in known})
        self.states[target] = s
        return Outcome(True, "restored", rec.calls)

    # -- effects -----------------------------------------------------------------------------
    def _apply(self, s: TargetState, cmd: AnyCommand) -> TargetState:
        v, p = cmd.verb, cmd.params
        if v == Verb.SCALE and isinstance(p, ScaleParams):
            return self._resize(s, intent.scale_target(p, s.replicas))
        if v == Verb.ROLLBACK_DEPLOY:
            return self._version(s, s.previous_version or "", None)
        if v == Verb.RESTART:
            return s.model_copy(update={"instances": [self._fresh(i) for i in s.instances]})
        if v == Verb.FLUSH_CACHE:
            return s.model_copy(
                update={"cache": "empty", "cache_generation": (s.cache_generation or 0) + 1}
            )
        if v == Verb.RENEW_CERTIFICATE:
            return s.model_copy(update={"cert_serial": f"s{self._next()}"})
        if v == Verb.ROTATE_CREDENTIAL:
            return s.model_copy(update={"credential_id": f"c{self._next()}"})
        if v == Verb.SHIFT_TRAFFIC and isinstance(p, ShiftTrafficParams):
            return s.model_copy(update={"traffic": intent.shift_split(p, s)})
        return s

    def _next(self) -> int:
        self._pid += 1
        return self._pid

    def _fresh(self, i: InstanceState) -> InstanceState:
        return i.model_copy(update={"pid": self._next()})

    def _resize(self, s: TargetState, n: int) -> TargetState:
        inst = list(s.instances[:n])
        while len(inst) < n:
            inst.append(
                InstanceState(
                    name=f"{s.service}-{self._next()}",
                    region="eu",
                    version=s.version,
                    pid=self._pid,
                )
            )
        return s.model_copy(update={"replicas": n, "instances": inst})

    def _version(self, s: TargetState, version: str, previous: str | None) -> TargetState:
        inst = [self._fresh(i).model_copy(update={"version": version}) for i in s.instances]
        return s.model_copy(
            update={"version": version, "previous_version": previous, "instances": inst}
        )
