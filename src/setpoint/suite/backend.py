"""The simulated fleet as an actuator backend, in process: the same verbs the HTTP backend sends,
applied directly to a :class:`~setpoint.sim.fleet.Fleet` at the loop's event time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from setpoint.actuators import Outcome
from setpoint.clock import to_datetime
from setpoint.schemas import AnyCommand, BackendCall
from setpoint.sim.actions import ApplyResult
from setpoint.sim.fleet import Fleet


class InProcessFleetBackend:
    """Applies commands to ``fleet`` at ``clock()`` (simulated seconds)."""

    name = "sim-inprocess"

    def __init__(self, fleet: Fleet, clock: Callable[[], float]) -> None:
        self.fleet = fleet
        self.clock = clock

    def execute(self, cmd: AnyCommand) -> Outcome:
        params = cmd.params.model_dump(mode="json")
        t = self.clock()
        res = self.fleet.apply(str(cmd.verb), cmd.target, params, t)
        return self._outcome(
            "execute", {"verb": str(cmd.verb), "target": cmd.target, "params": params}, res, t
        )

    def undo(self, verb: str, target: str, captured: dict[str, Any], action_id: str) -> Outcome:
        t = self.clock()
        res = self.fleet.undo(verb, target, captured, t)
        return self._outcome("undo", {"verb": verb, "target": target, "captured": captured}, res, t)

    def observe(self, target: str) -> Outcome:
        state = self.fleet.state(target)
        return Outcome(True, str(state.get("detail", "")), [], dict(state))

    def _outcome(self, op: str, request: dict[str, Any], res: ApplyResult, t: float) -> Outcome:
        call = BackendCall(
            backend=self.name,
            operation=op,
            request=json.dumps(request, sort_keys=True),
            response=res.model_dump_json(),
            ok=res.ok,
            ts=to_datetime(t),
        )
        return Outcome(res.ok, res.detail, [call], dict(res.captured))
