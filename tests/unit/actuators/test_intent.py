"""The intent layer's pure rules: preconditions per verb, what is captured and aimed at, and how
an observation says an effect landed or an undo restored."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.actuators import TargetState, intent
from setpoint.actuators.state import InstanceState
from setpoint.errors import PreconditionError
from setpoint.schemas import (
    FlushCacheParams,
    RenewCertificateParams,
    RestartParams,
    RollbackParams,
    RotateCredentialParams,
    ScaleParams,
    ShiftTrafficParams,
)
from setpoint.schemas.verbs import CATALOG
from tests.unit.actuators.memory import service


def test_every_verb_of_the_catalog_has_a_precondition_check() -> None:
    assert set(intent._CHECKS) == set(CATALOG)


@pytest.mark.parametrize(
    ("verb", "params", "state", "why"),
    [
        ("restart", RestartParams(), {"replicas": 0, "instances": []}, "runs no instance"),
        ("restart", RestartParams(instances=["x-9"]), {}, "unknown instances ['x-9']"),
        ("rollback_deploy", RollbackParams(), {"previous_version": None}, "no previous version"),
        ("rollback_deploy", RollbackParams(to_version="0.1"), {}, "to 1.9 only, not 0.1"),
        ("scale", ScaleParams(replicas=0), {}, "would stop the service"),
        ("scale", ScaleParams(delta=7), {}, "at most 8 replicas (asked 9)"),
        ("flush_cache", FlushCacheParams(), {"cache": None}, "has no cache"),
        (
            "rotate_credential",
            RotateCredentialParams(),
            {"credential_id": None, "credential_expires_at": None},
            "no credential",
        ),
        (
            "renew_certificate",
            RenewCertificateParams(),
            {"cert_serial": None, "cert_expires_at": None},
            "no certificate",
        ),
        ("shift_traffic", ShiftTrafficParams(), {"regions": ["eu"]}, "one region only"),
        ("shift_traffic", ShiftTrafficParams(to="ap"), {}, "does not run in region 'ap'"),
        (
            "shift_traffic",
            ShiftTrafficParams(to="us"),
            {"down_regions": ["us"]},
            "no instance is up in region 'us'",
        ),
    ],
)
def test_a_precondition_that_does_not_hold_says_why(verb, params, state, why) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PreconditionError, match=re.escape(why)):
        intent.check(verb, params, service("x", **state))


@pytest.mark.parametrize(
    ("verb", "params"),
    [
        ("restart", RestartParams()),
        ("rollback_deploy", RollbackParams(to_version="1.9")),
        ("scale", ScaleParams(delta=2)),
        ("flush_cache", FlushCacheParams()),
        ("rotate_credential", RotateCredentialParams()),
        ("renew_certificate", RenewCertificateParams()),
        ("shift_traffic", ShiftTrafficParams()),
    ],
)
def test_a_healthy_service_meets_every_precondition(verb, params) -> None:  # type: ignore[no-untyped-def]
    intent.check(verb, params, service("x"))


def test_shift_goes_to_the_region_with_the_most_instances_up() -> None:
    inst = [
        InstanceState(name=f"i{k}", region=r, up=up)
        for k, (r, up) in enumerate([("eu", True), ("us", True), ("us", True), ("eu", False)])
    ]
    s = TargetState(
        service="db", regions=["eu", "us"], instances=inst, traffic={"eu": 0.5, "us": 0.5}
    )
    assert intent.shift_split(ShiftTrafficParams(weight_pct=80), s) == {"eu": 0.2, "us": 0.8}


def test_restart_landed_only_when_every_instance_has_a_new_incarnation() -> None:
    before = service("api")
    cap = intent.capture("restart", before)
    half = before.model_copy(
        update={
            "instances": [before.instances[0].model_copy(update={"pid": 999}), before.instances[1]]
        }
    )
    full = before.model_copy(
        update={
            "instances": [
                i.model_copy(update={"pid": 900 + k}) for k, i in enumerate(before.instances)
            ]
        }
    )
    assert not intent.landed("restart", cap, {}, before)
    assert not intent.landed("restart", cap, {}, half)
    assert intent.landed("restart", cap, {}, full)


def test_rollback_landed_needs_every_instance_on_the_version() -> None:
    before = service("api")
    exp = intent.expect("rollback_deploy", RollbackParams(), before)
    mixed = before.model_copy(update={"version": "1.9"})
    done = mixed.model_copy(
        update={"instances": [i.model_copy(update={"version": "1.9"}) for i in before.instances]}
    )
    assert not intent.landed("rollback_deploy", {}, exp, mixed)
    assert intent.landed("rollback_deploy", {}, exp, done)


def test_flush_landed_by_generation_or_by_the_cache_state() -> None:
    s = service("api")
    assert intent.landed(
        "flush_cache", {"cache_generation": 0}, {}, s.model_copy(update={"cache_generation": 1})
    )
    assert not intent.landed("flush_cache", {"cache_generation": 0}, {}, s)
    sim = s.model_copy(update={"cache_generation": None})
    assert intent.landed("flush_cache", {"cache": "poisoned"}, {}, sim)
    assert not intent.landed("flush_cache", {"cache": "healthy"}, {}, sim)


def test_rotation_does_not_count_while_the_new_credential_is_revoked() -> None:
    s = service("api")
    cap = intent.capture("rotate_credential", s)
    assert not intent.landed(
        "rotate_credential",
        cap,
        {},
        s.model_copy(update={"credential_id": "c2", "credential_revoked": True}),
    )
    assert intent.landed("rotate_credential", cap, {}, s.model_copy(update={"credential_id": "c2"}))


@given(before=st.integers(1, 8), delta=st.integers(-7, 7))
def test_scale_capture_restores_what_it_was(before: int, delta: int) -> None:
    s = service("api", replicas=before)
    cap = intent.capture("scale", s)
    want = intent.scale_target(ScaleParams(delta=delta), before)
    after = s.model_copy(update={"replicas": want})
    assert intent.landed("scale", cap, {"replicas": want}, after)
    assert intent.restored("scale", cap, s)
    assert intent.restored("scale", cap, after) == (want == before)


def test_irreversible_and_stateless_verbs_are_never_restored() -> None:
    s = service("api")
    for verb in ("restart", "flush_cache", "rotate_credential", "escalate"):
        assert not intent.restored(verb, intent.capture(verb, s), s)
