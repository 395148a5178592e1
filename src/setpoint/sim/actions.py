"""What each verb does to the fleet, how long it takes, and how it is undone.

Planning an action checks its preconditions against the state now, captures the state it will
change (so it can be undone), and returns the *landings*: state changes that happen after
realistic delays. Nothing changes at once:

=================  ==================================================  ======================
verb               effect when it lands                                delay
=================  ==================================================  ======================
restart            instances restart one by one (memory empties)       15 s + ~5 s/instance,
                                                                       at most 40 s
rollback_deploy    the previous version, by a rolling redeploy         60 s
scale              instances added or removed in batches of 2          30 s per batch
flush_cache        the cache emptied (then cold for 60 s)              5 s
renew_certificate  a new certificate, valid ``valid_days``             15 s
rotate_credential  a new credential                                    15 s
shift_traffic      the traffic split of the service between regions    10 s
escalate           nothing: a human is told                            0 s
=================  ==================================================  ======================

``restart``, ``flush_cache`` and ``escalate`` have no inverse (undoing them fails, saying so);
the others are undone by restoring the captured state, with the same delay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from setpoint.schemas import ChangeEvent, ChangeType, Verb
from setpoint.sim.physics import COLD_CACHE_S
from setpoint.sim.spec import DAY_S
from setpoint.sim.state import ServiceState, World

RESTART_BASE_S = 15.0
RESTART_MAX_S = 40.0
ROLLBACK_S = 60.0
SCALE_BATCH_S = 30.0
SCALE_BATCH = 2
FLUSH_S = 5.0
RENEW_S = 15.0
ROTATE_S = 15.0
SHIFT_S = 10.0
_AUTHOR = "fleet-control"
IRREVERSIBLE = frozenset({Verb.RESTART, Verb.FLUSH_CACHE, Verb.ESCALATE})

Landing = Callable[[float], list[ChangeEvent]]
"""A state change that happens at the given simulated time; returns the change events it makes."""


class ApplyResult(BaseModel):
    """The fleet's answer to an action or an undo.

    Examples
    --------
    >>> r = ApplyResult(ok=True, verb="flush_cache", target="catalog", detail="flushing", at=0.0)
    >>> r.effect_delay_s, r.reversible
    (0.0, False)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    verb: str
    target: str
    detail: str
    captured: dict[str, Any] = Field(default_factory=dict)
    """The state before acting: hand it back to ``undo`` to restore it."""
    effect_delay_s: float = 0.0
    """Seconds after ``at`` when the whole effect has landed."""
    at: float
    reversible: bool = False


@dataclass
class Plan:
    result: ApplyResult
    landings: list[tuple[float, Landing]] = field(default_factory=list)
    """``(delay, change)`` pairs."""
    tag: str | None = None
    """Pending landings of an earlier plan with the same tag are cancelled (last writer wins)."""


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = 1


class _Restart(_Params):
    instances: list[str] | None = None


class _Rollback(_Params):
    to_version: str | None = None
    change_id: str | None = None


class _Scale(_Params):
    replicas: Annotated[int, Field(ge=0, le=10000)] | None = None
    delta: Annotated[int, Field(ge=-1000, le=1000)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> _Scale:
        if (self.replicas is None) == (self.delta is None):
            msg = "give exactly one of 'replicas' and 'delta'"
            raise ValueError(msg)
        return self


class _Flush(_Params):
    cache: str = "default"


class _Rotate(_Params):
    credential: str = "default"


class _Renew(_Params):
    certificate: str = "default"
    valid_days: Annotated[int, Field(ge=1, le=825)] = 90


class _Shift(_Params):
    to: str | None = None
    weight_pct: Annotated[int, Field(ge=0, le=100)] = 100


class _Escalate(_Params):
    reason: str = ""
    severity: str = "page"


def plan_action(world: World, verb: str, target: str, params: Mapping[str, Any], t: float) -> Plan:
    """Check, capture and plan ``verb`` on ``target`` at ``t``.

    Examples
    --------
    >>> from setpoint.sim.spec import FleetSpec
    >>> w = World(FleetSpec(services={"api": {"previous_version": "0.9"}}), 0.0, "t")
    >>> p = plan_action(w, "rollback_deploy", "api", {}, 0.0)
    >>> p.result.ok, p.result.effect_delay_s, p.result.captured
    (True, 60.0, {'version': '1.0.0', 'previous_version': '0.9'})
    >>> plan_action(w, "restart", "nope", {}, 0.0).result.detail
    "unknown service 'nope'"
    """
    v, s, problem = resolve(world, verb, target)
    if problem or v is None or s is None:
        return fail(verb, target, t, problem)
    if v not in _PLANNERS:
        return fail(verb, target, t, f"{v} is not an action on the fleet")
    model, planner = _PLANNERS[v]
    try:
        p = model.model_validate(dict(params))
    except ValidationError as exc:
        return fail(verb, target, t, f"bad params: {_first_error(exc)}")
    return planner(world, s, p, t)


def resolve(world: World, verb: str, target: str) -> tuple[Verb | None, ServiceState | None, str]:
    try:
        v = Verb(verb)
    except ValueError:
        return None, None, f"unknown verb {verb!r}"
    s = world.services.get(target)
    if s is None:
        return v, None, f"unknown service {target!r}"
    return v, s, ""


def fail(verb: str, target: str, t: float, detail: str) -> Plan:
    return Plan(ApplyResult(ok=False, verb=str(verb), target=target, detail=detail, at=t))


def ok_result(
    v: Verb, s: ServiceState, t: float, detail: str, captured: dict[str, Any], delay: float
) -> ApplyResult:
    return ApplyResult(
        ok=True,
        verb=str(v),
        target=s.name,
        detail=detail,
        captured=captured,
        effect_delay_s=delay,
        at=t,
        reversible=v not in IRREVERSIBLE,
    )


def _first_error(exc: ValidationError) -> str:
    e = exc.errors(include_url=False)[0]
    return f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}"


def _restart(world: World, s: ServiceState, p: _Restart, t: float) -> Plan:
    names = p.instances if p.instances is not None else [i.name for i in s.instances]
    unknown = sorted(set(names) - {i.name for i in s.instances})
    if unknown:
        return fail(Verb.RESTART, s.name, t, f"unknown instances {unknown}")
    step = min(5.0, (RESTART_MAX_S - RESTART_BASE_S) / max(1, len(names)))
    landings = [(RESTART_BASE_S + step * (k + 1), _restart_one(s, n)) for k, n in enumerate(names)]
    delay = landings[-1][0] if landings else 0.0
    detail = f"rolling restart of {len(names)} instance(s) of {s.name}"
    result = ok_result(Verb.RESTART, s, t, detail, {"instances": names}, delay)
    return Plan(result, landings, f"{s.name}:restart")


def _restart_one(s: ServiceState, name: str) -> Landing:
    def land(now: float) -> list[ChangeEvent]:
        for inst in s.instances:
            if inst.name == name:
                inst.started_at = now
        return []

    return land


def _rollback(world: World, s: ServiceState, p: _Rollback, t: float) -> Plan:
    prev, cur = s.previous_version, s.version
    if prev is None:
        return fail(Verb.ROLLBACK_DEPLOY, s.name, t, f"{s.name} has no previous version")
    if p.to_version is not None and p.to_version != prev:
        msg = f"{s.name} can roll back to {prev} only, not {p.to_version}"
        return fail(Verb.ROLLBACK_DEPLOY, s.name, t, msg)

    def land(now: float) -> list[ChangeEvent]:
        s.version, s.previous_version = prev, None
        for inst in s.instances:
            inst.started_at = now
        summary = f"rollback {s.name} {cur} -> {prev}"
        fields = {"version": prev, "previous_version": cur, "summary": summary}
        return [world.change(s.name, ChangeType.ROLLBACK, now, author=_AUTHOR, **fields)]

    captured = {"version": cur, "previous_version": prev}
    detail = f"rolling back {s.name} {cur} -> {prev}"
    return Plan(
        ok_result(Verb.ROLLBACK_DEPLOY, s, t, detail, captured, ROLLBACK_S),
        [(ROLLBACK_S, land)],
        tag=f"{s.name}:version",
    )


def _scale(world: World, s: ServiceState, p: _Scale, t: float) -> Plan:
    cur = len(s.instances)
    want = p.replicas if p.replicas is not None else max(0, cur + (p.delta or 0))
    problem = scale_problem(world, s, want)
    if problem:
        return fail(Verb.SCALE, s.name, t, problem)
    landings = scale_landings(world, s, cur, want)
    delay = landings[-1][0] if landings else 0.0
    detail = f"scaling {s.name} {cur} -> {want} replicas" if want != cur else f"already {cur}"
    return Plan(
        ok_result(Verb.SCALE, s, t, detail, {"replicas": cur}, delay),
        landings,
        f"{s.name}:replicas",
    )


def scale_problem(world: World, s: ServiceState, want: int) -> str:
    if want > s.spec.replica_cap:
        return f"{s.name} may run at most {s.spec.replica_cap} replicas (asked {want})"
    used = world.replicas_total() - len(s.instances) + want
    if used > world.spec.budget():
        return f"the fleet's replica budget is {world.spec.budget()}; this would use {used}"
    return ""


def scale_landings(
    world: World, s: ServiceState, cur: int, want: int
) -> list[tuple[float, Landing]]:
    """Batches of :data:`SCALE_BATCH` instances, one every :data:`SCALE_BATCH_S` seconds."""
    batches = math.ceil(abs(want - cur) / SCALE_BATCH)
    out: list[tuple[float, Landing]] = []
    for k in range(batches):
        step_to = cur + (want - cur) * min(1.0, (k + 1) * SCALE_BATCH / abs(want - cur))
        out.append((SCALE_BATCH_S * (k + 1), _resize(world, s, round(step_to), cur, want)))
    return out


def _resize(world: World, s: ServiceState, n: int, cur: int, want: int) -> Landing:
    def land(now: float) -> list[ChangeEvent]:
        while len(s.instances) < n:
            s.add_instance(now)
        while len(s.instances) > n:
            s.remove_instance()
        if n != want:
            return []
        return [
            world.change(
                s.name,
                ChangeType.SCALE,
                now,
                author=_AUTHOR,
                summary=f"scaled {s.name} {cur} -> {want} replicas",
            )
        ]

    return land


def _flush(world: World, s: ServiceState, p: _Flush, t: float) -> Plan:
    if not s.spec.cache:
        return fail(Verb.FLUSH_CACHE, s.name, t, f"{s.name} has no cache")

    def land(now: float) -> list[ChangeEvent]:
        s.cache_poisoned, s.cache_cold_until = False, now + COLD_CACHE_S
        return []

    captured = {"cache": "poisoned" if s.cache_poisoned else "healthy"}
    detail = f"flushing the cache of {s.name}"
    result = ok_result(Verb.FLUSH_CACHE, s, t, detail, captured, FLUSH_S)
    return Plan(result, [(FLUSH_S, land)], f"{s.name}:cache")


def _renew(world: World, s: ServiceState, p: _Renew, t: float) -> Plan:
    def land(now: float) -> list[ChangeEvent]:
        s.cert_expires_at = now + p.valid_days * DAY_S
        return []

    detail = f"renewing the certificate of {s.name} for {p.valid_days} days"
    captured = {"cert_expires_at": s.cert_expires_at}
    result = ok_result(Verb.RENEW_CERTIFICATE, s, t, detail, captured, RENEW_S)
    return Plan(result, [(RENEW_S, land)], f"{s.name}:cert")


def _rotate(world: World, s: ServiceState, p: _Rotate, t: float) -> Plan:
    def land(now: float) -> list[ChangeEvent]:
        s.credential_expires_at = now + s.spec.credential_valid_days * DAY_S
        s.credential_revoked = False
        return []

    captured = {
        "credential_expires_at": s.credential_expires_at,
        "credential_revoked": s.credential_revoked,
    }
    detail = f"rotating the credential of {s.name}"
    result = ok_result(Verb.ROTATE_CREDENTIAL, s, t, detail, captured, ROTATE_S)
    return Plan(result, [(ROTATE_S, land)], f"{s.name}:credential")


def _shift(world: World, s: ServiceState, p: _Shift, t: float) -> Plan:
    if len(s.regions) < 2:
        return fail(Verb.SHIFT_TRAFFIC, s.name, t, f"{s.name} runs in one region only")
    to = p.to or healthiest_region(s)
    if to not in s.regions:
        return fail(Verb.SHIFT_TRAFFIC, s.name, t, f"{s.name} does not run in region {to!r}")
    w = p.weight_pct / 100.0
    rest = (1.0 - w) / (len(s.regions) - 1)
    split = {r: (w if r == to else rest) for r in s.regions}

    def land(now: float) -> list[ChangeEvent]:
        s.traffic = dict(split)
        return []

    detail = f"shifting {p.weight_pct}% of {s.name}'s traffic to {to}"
    return Plan(
        ok_result(Verb.SHIFT_TRAFFIC, s, t, detail, {"traffic": dict(s.traffic)}, SHIFT_S),
        [(SHIFT_S, land)],
        f"{s.name}:traffic",
    )


def healthiest_region(s: ServiceState) -> str:
    """The region that is up with the most instances (ties: the first declared)."""
    up = [r for r in s.regions if r not in s.down_regions] or s.regions
    return max(up, key=lambda r: (len(s.in_region(r)), -s.regions.index(r)))


def _escalate(world: World, s: ServiceState, p: _Escalate, t: float) -> Plan:
    return Plan(
        ok_result(Verb.ESCALATE, s, t, "escalated to a human; the fleet is unchanged", {}, 0.0)
    )


_PLANNERS: dict[Verb, tuple[type[_Params], Callable[..., Plan]]] = {
    Verb.RESTART: (_Restart, _restart),
    Verb.ROLLBACK_DEPLOY: (_Rollback, _rollback),
    Verb.SCALE: (_Scale, _scale),
    Verb.FLUSH_CACHE: (_Flush, _flush),
    Verb.RENEW_CERTIFICATE: (_Renew, _renew),
    Verb.ROTATE_CREDENTIAL: (_Rotate, _rotate),
    Verb.SHIFT_TRAFFIC: (_Shift, _shift),
    Verb.ESCALATE: (_Escalate, _escalate),
}
