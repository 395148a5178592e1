"""The intent layer's rules, pure: what must hold before a verb acts, what it captures, what it
aims at, and how to tell from an observation that it landed (or that an undo restored).

Every backend reports a :class:`~setpoint.actuators.state.TargetState`; these rules judge it, so
a verb means the same thing on the simulated fleet and on real processes. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from setpoint.actuators.state import TargetState
from setpoint.errors import PreconditionError
from setpoint.schemas import (
    RenewCertificateParams,
    RestartParams,
    RollbackParams,
    ScaleParams,
    ShiftTrafficParams,
    Verb,
)
from setpoint.schemas.verbs import spec

_TOLERANCE = 0.01
"""Traffic shares closer than this are the same split."""


def _fail(verb: str, state: TargetState, why: str) -> PreconditionError:
    msg = f"{verb} on {state.service}: {why}"
    return PreconditionError(msg, context={"verb": verb, "target": state.service})


def _restart(p: RestartParams, s: TargetState) -> None:
    if not s.instances and s.replicas < 1:
        raise _fail(Verb.RESTART, s, "it runs no instance")
    unknown = sorted(set(p.instances or []) - {i.name for i in s.instances})
    if unknown:
        raise _fail(Verb.RESTART, s, f"unknown instances {unknown}")


def _rollback(p: RollbackParams, s: TargetState) -> None:
    if s.previous_version is None:
        raise _fail(Verb.ROLLBACK_DEPLOY, s, "no previous version to roll back to")
    if p.to_version is not None and p.to_version != s.previous_version:
        why = f"can roll back to {s.previous_version} only, not {p.to_version}"
        raise _fail(Verb.ROLLBACK_DEPLOY, s, why)


def _scale(p: ScaleParams, s: TargetState) -> None:
    want = scale_target(p, s.replicas)
    if want < 1:
        raise _fail(Verb.SCALE, s, f"{want} replicas would stop the service (use a human)")
    if s.max_replicas is not None and want > s.max_replicas:
        raise _fail(Verb.SCALE, s, f"at most {s.max_replicas} replicas (asked {want})")


def _flush(_p: BaseModel, s: TargetState) -> None:
    if not s.has_cache:
        raise _fail(Verb.FLUSH_CACHE, s, "it has no cache")


def _rotate(_p: BaseModel, s: TargetState) -> None:
    if not s.has_credential:
        raise _fail(Verb.ROTATE_CREDENTIAL, s, "it has no credential in the secret store")


def _renew(_p: RenewCertificateParams, s: TargetState) -> None:
    if not s.has_certificate:
        raise _fail(Verb.RENEW_CERTIFICATE, s, "it has no certificate")


def _shift(p: ShiftTrafficParams, s: TargetState) -> None:
    if len(s.regions) < 2:
        raise _fail(Verb.SHIFT_TRAFFIC, s, "it runs in one region only")
    to = shift_destination(p, s)
    if to not in s.regions:
        raise _fail(Verb.SHIFT_TRAFFIC, s, f"it does not run in region {to!r}")
    if to not in s.up_regions():
        raise _fail(Verb.SHIFT_TRAFFIC, s, f"no instance is up in region {to!r}")


def _none(_p: BaseModel, _s: TargetState) -> None:
    return None


_CHECKS: dict[Verb, Callable[[Any, TargetState], None]] = {
    Verb.RESTART: _restart,
    Verb.ROLLBACK_DEPLOY: _rollback,
    Verb.SCALE: _scale,
    Verb.FLUSH_CACHE: _flush,
    Verb.ROTATE_CREDENTIAL: _rotate,
    Verb.RENEW_CERTIFICATE: _renew,
    Verb.SHIFT_TRAFFIC: _shift,
    Verb.ESCALATE: _none,
    Verb.UNDO: _none,
}


def check(verb: str, params: BaseModel, state: TargetState) -> None:
    """Raise ``PreconditionError`` unless ``verb`` with ``params`` may act on ``state`` now.

    Examples
    --------
    >>> s = TargetState(service="api", version="2", replicas=2)
    >>> check("rollback_deploy", RollbackParams(), s)
    Traceback (most recent call last):
    ...
    setpoint.errors.PreconditionError: rollback_deploy on api: no previous version to roll back to
    >>> check("scale", ScaleParams(delta=1), s)
    """
    _CHECKS[Verb(verb)](params, state)


def capture(verb: str, state: TargetState) -> dict[str, Any]:
    """What ``verb`` captures before acting (its catalog's ``captures``), from ``state``.

    Examples
    --------
    >>> capture("scale", TargetState(service="api", replicas=3))
    {'replicas': 3}
    """
    return state.project(spec(verb).captures)


def scale_target(p: ScaleParams, current: int) -> int:
    """The replica count a scale command asks for.

    Examples
    --------
    >>> scale_target(ScaleParams(delta=2), 3), scale_target(ScaleParams(replicas=1), 3)
    (5, 1)
    """
    return p.replicas if p.replicas is not None else max(0, current + (p.delta or 0))


def shift_destination(p: ShiftTrafficParams, s: TargetState) -> str:
    """Where a shift sends traffic: the named region, else the region with the most instances
    up (ties: the first declared)."""
    if p.to is not None:
        return p.to
    up = s.up_regions() or s.regions
    return max(
        up,
        key=lambda r: (sum(1 for i in s.instances if i.region == r and i.up), -s.regions.index(r)),
    )


def shift_split(p: ShiftTrafficParams, s: TargetState) -> dict[str, float]:
    """The split a shift aims at: ``weight_pct`` to the destination, the rest shared evenly.

    Examples
    --------
    >>> s = TargetState(service="db", regions=["eu", "us"], traffic={"eu": 0.5, "us": 0.5})
    >>> shift_split(ShiftTrafficParams(to="eu"), s)
    {'eu': 1.0, 'us': 0.0}
    """
    to = shift_destination(p, s)
    w = p.weight_pct / 100.0
    rest = (1.0 - w) / max(1, len(s.regions) - 1)
    return {r: round(w if r == to else rest, 6) for r in s.regions}


def expect(verb: str, params: BaseModel, state: TargetState) -> dict[str, Any]:
    """What the action aims at, fixed before acting (recovery compares it with what it finds).

    Examples
    --------
    >>> s = TargetState(service="api", version="2", previous_version="1", replicas=2)
    >>> expect("rollback_deploy", RollbackParams(), s), expect("scale", ScaleParams(delta=1), s)
    ({'version': '1'}, {'replicas': 3})
    """
    v = Verb(verb)
    if v == Verb.ROLLBACK_DEPLOY:
        return {"version": state.previous_version}
    if v == Verb.SCALE and isinstance(params, ScaleParams):
        return {"replicas": scale_target(params, state.replicas)}
    if v == Verb.SHIFT_TRAFFIC and isinstance(params, ShiftTrafficParams):
        return {"traffic": shift_split(params, state)}
    if v == Verb.RESTART and isinstance(params, RestartParams):
        return {"instances": params.instances}
    return {}


def _same_split(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    keys = set(a) | set(b)
    return all(abs(a.get(k, 0.0) - b.get(k, 0.0)) <= _TOLERANCE for k in keys)


def _restarted(c: Mapping[str, Any], e: Mapping[str, Any], s: TargetState) -> bool:
    names = e.get("instances")
    before = [i for i in c.get("instances") or [] if names is None or i["name"] in names]
    now = {i.incarnation() for i in s.instances}
    old = {(i["name"], i.get("pid"), i.get("started_at")) for i in before}
    return bool(s.instances) and not (old & now)


def _versioned(e: Mapping[str, Any], s: TargetState) -> bool:
    want = e.get("version")
    return bool(s.version == want and all(i.version in (None, want) for i in s.instances))


def _flushed(c: Mapping[str, Any], s: TargetState) -> bool:
    gen = c.get("cache_generation")
    if gen is not None and s.cache_generation is not None:
        return bool(s.cache_generation != gen)
    return s.cache in ("cold", "empty") or (c.get("cache") == "poisoned" != s.cache)


def _renewed(c: Mapping[str, Any], s: TargetState) -> bool:
    if c.get("cert_serial") is not None and s.cert_serial is not None:
        return bool(s.cert_serial != c["cert_serial"])
    return (s.cert_expires_at or 0.0) > (c.get("cert_expires_at") or 0.0)


def _rotated(c: Mapping[str, Any], s: TargetState) -> bool:
    if c.get("credential_id") is not None and s.credential_id is not None:
        return bool(s.credential_id != c["credential_id"]) and not s.credential_revoked
    later = (s.credential_expires_at or 0.0) > (c.get("credential_expires_at") or 0.0)
    return not s.credential_revoked and (later or bool(c.get("credential_revoked")))


def landed(
    verb: str, captured: Mapping[str, Any], expected: Mapping[str, Any], state: TargetState
) -> bool:
    """Whether the effect of ``verb`` shows in ``state`` (captured before, expected from
    :func:`expect`): what an actuator restarted mid-action needs to know.

    Examples
    --------
    >>> before = TargetState(service="api", replicas=2)
    >>> after = TargetState(service="api", replicas=4)
    >>> landed("scale", capture("scale", before), {"replicas": 4}, after)
    True
    >>> landed("scale", capture("scale", before), {"replicas": 4}, before)
    False
    """
    v = Verb(verb)
    rules: dict[Verb, Callable[[], bool]] = {
        Verb.RESTART: lambda: _restarted(captured, expected, state),
        Verb.ROLLBACK_DEPLOY: lambda: _versioned(expected, state),
        Verb.SCALE: lambda: bool(state.replicas == expected.get("replicas")),
        Verb.FLUSH_CACHE: lambda: _flushed(captured, state),
        Verb.ROTATE_CREDENTIAL: lambda: _rotated(captured, state),
        Verb.RENEW_CERTIFICATE: lambda: _renewed(captured, state),
        Verb.SHIFT_TRAFFIC: lambda: _same_split(expected.get("traffic") or {}, state.traffic),
    }
    rule = rules.get(v)
    return True if rule is None else rule()


def restored(verb: str, captured: Mapping[str, Any], state: TargetState) -> bool:
    """Whether ``state`` is back to what ``verb`` captured (an undo worked).

    Examples
    --------
    >>> restored("shift_traffic", {"traffic": {"eu": 0.5, "us": 0.5}},
    ...          TargetState(service="db", traffic={"eu": 0.5, "us": 0.5}))
    True
    """
    v = Verb(verb)
    if v == Verb.ROLLBACK_DEPLOY:
        return _versioned({"version": captured.get("version")}, state)
    if v == Verb.SCALE:
        return bool(state.replicas == captured.get("replicas"))
    if v == Verb.SHIFT_TRAFFIC:
        return _same_split(captured.get("traffic") or {}, state.traffic)
    if v == Verb.RENEW_CERTIFICATE:
        if captured.get("cert_serial") is not None:
            return bool(state.cert_serial == captured["cert_serial"])
        return bool(state.cert_expires_at == captured.get("cert_expires_at"))
    return False
