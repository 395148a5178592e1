"""Process assembly: which agents run where. ``setpoint worker`` runs detect, diagnose, decide and
verify (scale it out: Kafka's consumer group shares the partitions); ``setpoint actuator`` runs
execute, as its own consumer group, with its own copy of the policy."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import faust

from setpoint.actuators import Actuator, Backend, ExecutionRecords, SimFleetBackend, Verifier
from setpoint.actuators.local_backend import LocalProcessBackend
from setpoint.actuators.webhook import EscalationWebhook
from setpoint.causal import Diagnoser, Topology
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.errors import ConfigError
from setpoint.policy import Decider, Policy, PolicyEnvelope, ServiceInfo
from setpoint.settings import Settings
from setpoint.streams import agents
from setpoint.streams.broadcast import BroadcastReader
from setpoint.streams.journal import KafkaJournal
from setpoint.streams.runtime import Runtime, build_app
from setpoint.streams.topics import CHANGES, CONTROL, TopicSpec

log = logging.getLogger("setpoint.streams")


def signing_key(settings: Settings) -> bytes:
    """The command-signing key: the setting, the key file, or a fresh key file under data_dir."""
    if settings.signing_key is not None:
        return settings.signing_key.get_secret_value().encode()
    path = settings.signing_key_path or settings.data_dir / "signing.key"
    if not path.exists():
        if settings.signing_key_path is not None:
            msg = f"signing key file {path} does not exist"
            raise ConfigError(msg, context={"path": str(path)})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        log.warning("generated a new command-signing key at %s", path)
    return path.read_text().strip().encode()


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        msg = f"cannot read the {what} file {path}: {exc.strerror}"
        raise ConfigError(msg, context={"path": str(path)}) from exc


def load_policy(settings: Settings) -> Policy:
    return Policy.from_text(_read(settings.policy_path, "policy"), str(settings.policy_path))


def load_topology(settings: Settings) -> Topology:
    return Topology.from_text(
        _read(settings.topology_path, "topology"), str(settings.topology_path)
    )


def _services(topology: Topology) -> dict[str, ServiceInfo]:
    return {s.name: ServiceInfo(tier=s.tier, replicas=s.replicas) for s in topology.services}


def worker_app(settings: Settings) -> tuple[faust.App, Runtime]:
    topology = load_topology(settings)
    envelope = PolicyEnvelope(load_policy(settings), _services(topology))
    app = build_app(settings, settings.app_id)
    rt = Runtime(app, settings)
    stage = DetectionStage(DetectionConfig(), topology.domains())
    diagnoser = Diagnoser(topology.graph())
    decider = Decider(envelope, signing_key(settings), settings.agent_id)
    agents.add_detect(rt, stage)
    agents.add_diagnose(rt, diagnoser)
    agents.add_decide(rt, decider)
    agents.add_verify(rt, Verifier())

    def on_context(spec: TopicSpec, value: Any) -> None:
        if spec is CHANGES:
            diagnoser.on_change(value)
        else:
            decider.on_control(value)

    _broadcast(app, settings, [CHANGES, CONTROL], on_context, lookback_s=6 * 3600)
    return app, rt


def backend(settings: Settings) -> Backend:
    """The backend the actuator acts through (``SETPOINT_BACKEND``)."""
    if settings.backend == "local":
        return LocalProcessBackend(settings.fleet_url)
    return SimFleetBackend(settings.fleet_url)


def actuator_app(settings: Settings) -> tuple[faust.App, Runtime]:
    topology = load_topology(settings)
    envelope = PolicyEnvelope(load_policy(settings), _services(topology))
    owner = settings.worker_id or "a"
    # One record per deployment (app id) and actuator: a demo run does not inherit another's.
    path = settings.data_dir / f"actuator-{settings.app_id}-{owner}.sqlite"
    records = ExecutionRecords(path, owner, KafkaJournal(settings))
    actuator = Actuator(envelope, signing_key(settings), backend(settings), records)
    app = build_app(settings, f"{settings.app_id}-actuator")
    rt = Runtime(app, settings)
    reader = _broadcast(app, settings, [CONTROL], lambda _s, v: actuator.on_control(v), None)
    # Nothing executes before what a previous run left half done is settled.
    agents.add_execute(rt, actuator, agents.add_recovery(rt, actuator, reader.ready))
    if settings.escalation_webhook:
        agents.add_escalate(rt, records, EscalationWebhook(settings.escalation_webhook))
    return app, rt


def _broadcast(
    app: faust.App,
    settings: Settings,
    specs: list[TopicSpec],
    handler: Any,
    lookback_s: float | None,
) -> BroadcastReader:
    reader = BroadcastReader(settings, specs, handler, lookback_s)

    @app.task
    async def start_broadcast() -> None:
        reader.start(asyncio.get_running_loop())

    return reader
