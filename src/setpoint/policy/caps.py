"""Cap checks: would starting this action break a cap, counting what is really in flight?

Each check takes the proposed action, the live state and one :class:`Caps`, restricted to the
actions of a scope (every action for the global limits, the actions a rule matches for its
caps), and returns ``(cap, reason)`` for the first cap it would break, else ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from setpoint.policy.inventory import Inventory
from setpoint.policy.rules import Caps
from setpoint.policy.state import Action, LiveState

Scope = Callable[[Action], bool]
Breach = tuple[str, str]


def _everything(_a: Action) -> bool:
    return True


def check(
    caps: Caps,
    this: Action,
    attempt: int,
    state: LiveState,
    inv: Inventory,
    scope: Scope = _everything,
) -> Breach | None:
    """The first of ``caps`` that starting ``this`` (attempt ``attempt`` of its incident) would
    break, as ``(cap name, reason)``.

    Examples
    --------
    >>> from setpoint.policy.inventory import ServiceInfo
    >>> from setpoint.policy.rules import Subject
    >>> inv = Inventory({"web": ServiceInfo(replicas=4, depends_on=("db",)),
    ...                  "db": ServiceInfo(replicas=4)})
    >>> state = LiveState()
    >>> restart = Action("a1", Subject("restart", "db"), "d", "i1", 0.0, {"db": 4, "web": 4})
    >>> state.started(restart)
    >>> flush = Action("a2", Subject("flush_cache", "web"), "d", "i2", 10.0, {"web": 4})
    >>> check(Caps(max_fleet_share=0.5), flush, 1, state, inv)[0]
    'max_fleet_share'
    >>> check(Caps(max_service_share=1.0), flush, 1, state, inv)[1]
    'blast radius: 8 of 4 web instances acted on at once (200%; cap 100%)'
    """
    if caps.max_attempts is not None and attempt > caps.max_attempts:
        return "max_attempts", f"attempt {attempt} exceeds {caps.max_attempts} per incident"
    now = this.started
    flying = [a for a in state.in_flight.values() if scope(a)]
    if caps.max_concurrent is not None and len(flying) >= caps.max_concurrent:
        return "max_concurrent", f"{len(flying)} in flight (cap {caps.max_concurrent})"
    window = [a for a in state.in_window(now, caps.window_s) if scope(a)]
    if caps.max_per_window is not None:
        started = sum(1 for a in window if a.started > now - caps.window_s)
        if started >= caps.max_per_window:
            cap = caps.max_per_window
            return "max_per_window", f"{started} started in {caps.window_s:.0f}s (cap {cap})"
    return _blast(caps, this, flying, window, inv) or _cooldown(caps, this, state)


def _blast(
    caps: Caps, this: Action, flying: list[Action], window: list[Action], inv: Inventory
) -> Breach | None:
    if caps.max_service_share is not None:
        busy = _sum([*flying, this])
        for svc in this.footprint:
            replicas = inv.services[svc].replicas if inv.known(svc) else None
            if replicas and busy[svc] > caps.max_service_share * replicas:
                share = busy[svc] / replicas
                return "max_service_share", (
                    f"blast radius: {busy[svc]} of {replicas} {svc} instances acted on at once "
                    f"({share:.0%}; cap {caps.max_service_share:.0%})"
                )
    total = sum(_sum([*window, this]).values())
    if caps.max_instances is not None and total > caps.max_instances:
        return "max_instances", (
            f"blast radius: {total} instances touched in {caps.window_s:.0f}s, targets and "
            f"dependents (cap {caps.max_instances})"
        )
    fleet = inv.fleet_instances
    if caps.max_fleet_share is not None and fleet and total > caps.max_fleet_share * fleet:
        return "max_fleet_share", (
            f"blast radius: {total} of {fleet} fleet instances touched in {caps.window_s:.0f}s "
            f"({total / fleet:.0%}; cap {caps.max_fleet_share:.0%})"
        )
    return None


def _sum(actions: Iterable[Action]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in actions:
        for svc, n in a.footprint.items():
            out[svc] = out.get(svc, 0) + n
    return out


def _cooldown(caps: Caps, this: Action, state: LiveState) -> Breach | None:
    # Any action on a target its cooldown covers is refused, whichever incident or verb: the
    # policy promises `cooldown_s` between actions on the same target, and a second verb right
    # after a failed first one (and its undo) is the flap it exists to stop. Only ``undo``, the
    # brake, is exempt (the envelope allows it before any cap).
    last = state.last_action.get(this.target)
    if caps.cooldown_s is None or last is None:
        return None
    t, _incident, verb = last
    ago = this.started - t
    if ago >= caps.cooldown_s:
        return None
    return (
        "cooldown_s",
        f"{this.target} was acted on {ago:.0f}s ago ({verb}; cooldown {caps.cooldown_s:.0f}s)",
    )


def per_domain(this: Action, state: LiveState, cap: int) -> Breach | None:
    n = sum(1 for a in state.in_flight.values() if a.domain == this.domain)
    if n >= cap:
        return "max_concurrent_per_domain", f"{n} in flight in {this.domain} (cap {cap})"
    return None


def describe(caps: Caps) -> str:
    """The caps in words (``setpoint policy check``)."""
    w = f"{caps.window_s:g}s"
    words: Mapping[str, str] = {
        "max_concurrent": "at most {} in flight at once",
        "max_per_window": "at most {} started per " + w,
        "max_instances": "at most {} instances touched per " + w + " (targets and dependents)",
        "max_service_share": "at most {:.0%} of any service's instances acted on at once",
        "max_fleet_share": "at most {:.0%} of the fleet's instances touched per " + w,
        "cooldown_s": "{:g}s between actions on the same target",
        "max_attempts": "at most {} actions per incident",
    }
    vals = caps.model_dump()
    return "; ".join(t.format(vals[k]) for k, t in words.items() if vals[k] is not None)
