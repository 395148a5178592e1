"""The simulated fleet as an actuator backend, in process: the HTTP backend of the simulated
fleet with its transport replaced by direct calls to a :class:`~setpoint.sim.fleet.Fleet` at the
loop's event time (same requests, same answers, same mapping; no socket)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from setpoint.actuators import CallRecorder, SimFleetBackend
from setpoint.sim.fleet import Fleet


class InProcessFleetBackend(SimFleetBackend):
    """Applies commands to ``fleet`` at ``clock()`` (simulated seconds).

    Examples
    --------
    >>> from setpoint.sim.scenario import load_scenario
    >>> fleet = load_scenario("scenarios/quiet.yaml").build(1)
    >>> b = InProcessFleetBackend(fleet, lambda: fleet.start)
    >>> b.observe("db").captured["replicas"]
    4
    """

    name = "sim-inprocess"

    def __init__(self, fleet: Fleet, clock: Callable[[], float]) -> None:
        super().__init__("inprocess://fleet")
        self.fleet = fleet
        self.clock = clock
        self.applied: list[dict[str, Any]] = []
        """Every action and undo the fleet was asked to apply, with its answer (for scoring)."""

    def _call(
        self, rec: CallRecorder, op: str, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        started = time.time()
        status, data = self._answer(method, path, body or {})
        request = f"{method} {self.url}{path}" + (
            f" {json.dumps(body, sort_keys=True)}" if body else ""
        )
        rec.record(op, request, f"{status} {json.dumps(data, sort_keys=True, default=str)}",
                   status == 200, started)  # fmt: skip
        return status, data

    def _answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        t = self.clock()
        if method == "GET" and path.startswith("/state/"):
            name = path.removeprefix("/state/")
            if name not in self.fleet.spec.services:
                return 404, {"detail": f"unknown service {name!r}"}
            return 200, self.fleet.state(name)
        if method == "POST" and path == "/actions":
            res = self.fleet.apply(body["verb"], body["target"], body.get("params", {}), t)
        elif method == "POST" and path == "/undo":
            res = self.fleet.undo(body["verb"], body["target"], body.get("captured", {}), t)
        else:
            return 404, {"detail": f"no route {method} {path}"}
        params = dict(body.get("params") or {})
        self.applied.append(
            {"t": t, "undo": path == "/undo", "action_id": body["action_id"], "params": params,
             **res.model_dump()}
        )  # fmt: skip
        return 200, {**res.model_dump(mode="json"), "sim_time": t, "action_id": body["action_id"]}
