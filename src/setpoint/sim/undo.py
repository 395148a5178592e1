"""Undoing an action: restore the state it captured, with the delay of the verb itself.

Undo is honest: it puts back exactly what was captured, including what was broken (undoing the
renewal of an expired certificate brings the expired one back, and its failures with it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from setpoint.schemas import ChangeEvent, ChangeType, Verb
from setpoint.sim.actions import (
    IRREVERSIBLE,
    RENEW_S,
    ROLLBACK_S,
    ROTATE_S,
    SHIFT_S,
    Plan,
    fail,
    ok_result,
    resolve,
    scale_landings,
    scale_problem,
)
from setpoint.sim.state import ServiceState, World


class _Captured(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Version(_Captured):
    version: Annotated[str, Field(min_length=1)]
    previous_version: str | None


class _Replicas(_Captured):
    replicas: Annotated[int, Field(ge=0)]


class _Cert(_Captured):
    cert_expires_at: float


class _Credential(_Captured):
    credential_expires_at: float
    credential_revoked: bool


class _Traffic(_Captured):
    traffic: dict[str, Annotated[float, Field(ge=0.0)]]


def plan_undo(world: World, verb: str, target: str, captured: Mapping[str, Any], t: float) -> Plan:
    """Plan restoring ``captured``, the state an earlier action of ``verb`` saved.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"replicas": 2}}), 0.0, "t")
    >>> plan_undo(w, "scale", "api", {"replicas": 4}, 0.0).result.effect_delay_s
    30.0
    >>> plan_undo(w, "restart", "api", {}, 0.0).result.detail
    'restart has no inverse: nothing can be restored'
    """
    v, s, problem = resolve(world, verb, target)
    if problem or v is None or s is None:
        return fail(verb, target, t, problem)
    if v in IRREVERSIBLE or v not in _UNDOERS:
        return fail(verb, target, t, f"{v} has no inverse: nothing can be restored")
    model, planner = _UNDOERS[v]
    try:
        c = model.model_validate(dict(captured))
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        where = ".".join(map(str, e["loc"])) or "captured"
        return fail(verb, target, t, f"captured state is not usable: {where}: {e['msg']}")
    return planner(world, s, c, t)


def _version(world: World, s: ServiceState, c: _Version, t: float) -> Plan:
    def land(now: float) -> list[ChangeEvent]:
        current = s.version
        s.version, s.previous_version = c.version, c.previous_version
        for inst in s.instances:
            inst.started_at = now
        summary = f"redeploy {s.name} {current} -> {c.version} (undo of a rollback)"
        fields = {"version": c.version, "previous_version": current, "summary": summary}
        return [world.change(s.name, ChangeType.DEPLOY, now, author="fleet-control", **fields)]

    now = {"version": s.version, "previous_version": s.previous_version}
    detail = f"restoring {s.name} {c.version} (previous {c.previous_version})"
    result = ok_result(Verb.ROLLBACK_DEPLOY, s, t, detail, now, ROLLBACK_S)
    return Plan(result, [(ROLLBACK_S, land)], f"{s.name}:version")


def _replicas(world: World, s: ServiceState, c: _Replicas, t: float) -> Plan:
    cur = len(s.instances)
    problem = scale_problem(world, s, c.replicas)
    if problem:
        return fail(Verb.SCALE, s.name, t, problem)
    landings = scale_landings(world, s, cur, c.replicas)
    delay = landings[-1][0] if landings else 0.0
    detail = f"restoring {s.name} to {c.replicas} replicas (from {cur})"
    return Plan(
        ok_result(Verb.SCALE, s, t, detail, {"replicas": cur}, delay),
        landings,
        f"{s.name}:replicas",
    )


def _cert(world: World, s: ServiceState, c: _Cert, t: float) -> Plan:
    def land(now: float) -> list[ChangeEvent]:
        s.cert_expires_at = c.cert_expires_at
        return []

    detail = f"restoring the previous certificate of {s.name}"
    result = ok_result(
        Verb.RENEW_CERTIFICATE, s, t, detail, {"cert_expires_at": s.cert_expires_at}, RENEW_S
    )
    return Plan(result, [(RENEW_S, land)], f"{s.name}:cert")


def _credential(world: World, s: ServiceState, c: _Credential, t: float) -> Plan:
    def land(now: float) -> list[ChangeEvent]:
        s.credential_expires_at, s.credential_revoked = (
            c.credential_expires_at,
            c.credential_revoked,
        )
        return []

    now = {
        "credential_expires_at": s.credential_expires_at,
        "credential_revoked": s.credential_revoked,
    }
    detail = f"restoring the previous credential of {s.name}"
    result = ok_result(Verb.ROTATE_CREDENTIAL, s, t, detail, now, ROTATE_S)
    return Plan(result, [(ROTATE_S, land)], f"{s.name}:credential")


def _traffic(world: World, s: ServiceState, c: _Traffic, t: float) -> Plan:
    unknown = sorted(set(c.traffic) - set(s.regions))
    if unknown or not c.traffic:
        return fail(
            Verb.SHIFT_TRAFFIC, s.name, t, f"captured split names unknown regions {unknown}"
        )

    def land(now: float) -> list[ChangeEvent]:
        s.traffic = dict(c.traffic)
        return []

    detail = f"restoring the traffic split of {s.name} to {c.traffic}"
    result = ok_result(Verb.SHIFT_TRAFFIC, s, t, detail, {"traffic": dict(s.traffic)}, SHIFT_S)
    return Plan(result, [(SHIFT_S, land)], f"{s.name}:traffic")


_UNDOERS: dict[Verb, tuple[type[_Captured], Callable[..., Plan]]] = {
    Verb.ROLLBACK_DEPLOY: (_Version, _version),
    Verb.SCALE: (_Replicas, _replicas),
    Verb.RENEW_CERTIFICATE: (_Cert, _cert),
    Verb.ROTATE_CREDENTIAL: (_Credential, _credential),
    Verb.SHIFT_TRAFFIC: (_Traffic, _traffic),
}
