"""The conformance suite every backend must pass (river's ``check_estimator``, for backends).

A :class:`Harness` wraps a backend with what the checks need to know about the fleet behind it:
which target each verb can act on, the parameters to use, and how to let an effect land (the
simulated fleet lands actions after delays; real processes are done when the call returns).
:func:`checks` lists the named checks; the unit and integration suites parametrize over them::

    for name, check in checks(harness):
        check()  # raises AssertionError naming what broke

What they hold a backend to: each verb's effect is observable through ``observe`` (judged by the
intent layer's ``landed``, the same rule for every backend); each reversible verb's ``undo``
restores the captured state; every outcome carries the calls made, each named by the backend;
an unknown target is a clean failure (an ``Outcome``, never an exception); ``escalate`` changes
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from setpoint.actuators import intent
from setpoint.actuators.backend import Backend, Outcome, observed_state
from setpoint.actuators.state import TargetState
from setpoint.schemas import AnyCommand, Command, Verb
from setpoint.schemas.verbs import spec

_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(Command)
ACTING_VERBS = (
    Verb.RESTART,
    Verb.ROLLBACK_DEPLOY,
    Verb.SCALE,
    Verb.FLUSH_CACHE,
    Verb.ROTATE_CREDENTIAL,
    Verb.RENEW_CERTIFICATE,
    Verb.SHIFT_TRAFFIC,
    Verb.ESCALATE,
)
"""Every verb a backend applies (``undo`` is the actuator's, through ``Backend.undo``)."""
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    Verb.SCALE: {"delta": 1},
    Verb.ESCALATE: {"reason": "conformance"},
    Verb.SHIFT_TRAFFIC: {"weight_pct": 100},
}


@dataclass
class Harness:
    """A backend and what the checks need to drive it.

    Parameters
    ----------
    backend
        The backend under test.
    targets
        For each verb, a target it can act on (a service with a cache for ``flush_cache``...).
    settle
        Lets an effect land (advance a simulated clock); a no-op where effects are synchronous.
    params
        Parameters per verb (defaults: :data:`DEFAULT_PARAMS`).
    unknown
        A target name the backend does not know.
    """

    backend: Backend
    targets: Mapping[str, str]
    settle: Callable[[], None] = lambda: None
    params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    unknown: str = "no-such-service"

    def command(self, verb: str, target: str) -> AnyCommand:
        """An (unsigned) command: backends act on what the actuator already checked."""
        now = datetime.now(UTC)
        cid = f"conf-{uuid.uuid4().hex[:12]}"
        return _COMMAND.validate_python(
            {
                "verb": verb,
                "command_id": cid,
                "incident_id": "inc-conformance",
                "agent": "conformance",
                "target": target,
                "idempotency_key": cid,
                "decision": {"outcome": "allow", "policy_hash": "conformance", "ts": now},
                "issued_at": now,
                "expires_at": now,
                "params": {**DEFAULT_PARAMS.get(verb, {}), **self.params.get(verb, {})},
            }
        )

    def observe(self, target: str) -> TargetState:
        state, _ = observed_state(self.backend, target)
        return state


def _calls_named(h: Harness, out: Outcome, what: str) -> None:
    assert out.calls, f"{what}: no call was recorded"
    for c in out.calls:
        assert c.backend == h.backend.name, f"{what}: call recorded as {c.backend!r}"
        assert c.request, f"{what}: a call with an empty request"


def _act(h: Harness, verb: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Execute ``verb`` like the actuator does; return target, capture and expectation."""
    target = h.targets[verb]
    cmd = h.command(verb, target)
    before = h.observe(target)
    intent.check(verb, cmd.params, before)
    cap = h.backend.capture(verb, target)
    assert cap.ok, f"capture {verb} on {target}: {cap.detail}"
    expected = intent.expect(verb, cmd.params, before)
    out = h.backend.execute(cmd)
    assert out.ok, f"{verb} on {target} failed: {out.detail}"
    _calls_named(h, out, f"{verb} on {target}")
    h.settle()
    return target, cap.captured, expected


def check_effect(h: Harness, verb: str) -> None:
    """``verb`` acts, and its effect shows in ``observe`` (and an undo restores it)."""
    target, captured, expected = _act(h, verb)
    after = h.observe(target)
    assert intent.landed(verb, captured, expected, after), (
        f"{verb} on {target}: the effect does not show; captured {captured}, "
        f"expected {expected}, observed {after.model_dump(mode='json')}"
    )
    if not spec(verb).reversible:
        return
    back = h.backend.undo(verb, target, captured, "conformance-undo")
    assert back.ok, f"undo of {verb} on {target} failed: {back.detail}"
    _calls_named(h, back, f"undo of {verb}")
    h.settle()
    now = h.observe(target)
    assert intent.restored(verb, captured, now), (
        f"undo of {verb} on {target} did not restore {captured}: {now.model_dump(mode='json')}"
    )


def check_escalate_changes_nothing(h: Harness) -> None:
    target = h.targets[Verb.ESCALATE]
    before = h.observe(target).model_dump(exclude={"instances"})
    _act(h, Verb.ESCALATE)
    after = h.observe(target).model_dump(exclude={"instances"})
    assert before == after, f"escalate changed {target}: {before} -> {after}"


def check_unknown_target(h: Harness) -> None:
    seen = h.backend.observe(h.unknown)
    assert not seen.ok, f"observe of an unknown target succeeded: {seen.detail}"
    assert seen.code == "actuator.unknown_target", (seen.code, seen.detail)
    _calls_named(h, seen, "observe of an unknown target")
    for verb in (Verb.RESTART, Verb.SCALE):
        out = h.backend.execute(h.command(verb, h.unknown))
        assert not out.ok, f"{verb} on an unknown target succeeded"
        _calls_named(h, out, f"{verb} on an unknown target")
    cap = h.backend.capture(Verb.SCALE, h.unknown)
    assert not cap.ok, "capture on an unknown target succeeded"


def check_observe_is_a_target_state(h: Harness) -> None:
    for verb, target in h.targets.items():
        out = h.backend.observe(target)
        assert out.ok, f"observe {target}: {out.detail}"
        _calls_named(h, out, f"observe {target}")
        state = TargetState.model_validate(out.captured)
        assert state.service == target, (verb, state.service)


def checks(h: Harness) -> list[tuple[str, Callable[[], None]]]:
    """Every check of the suite, named, bound to ``h``."""
    out: list[tuple[str, Callable[[], None]]] = [
        ("observe_is_a_target_state", lambda: check_observe_is_a_target_state(h)),
        ("unknown_target", lambda: check_unknown_target(h)),
        ("escalate_changes_nothing", lambda: check_escalate_changes_nothing(h)),
    ]
    for verb in ACTING_VERBS:
        if verb != Verb.ESCALATE:
            out.append((f"effect:{verb}", lambda v=verb: check_effect(h, v)))  # type: ignore[misc]
    return out


CHECK_NAMES = [name for name, _ in checks(Harness(backend=None, targets={}))]  # type: ignore[arg-type]
"""The names of the checks, for ``pytest.mark.parametrize``."""
