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

from setpoint.actuators import Actuator, ExecutionRecords, SimFleetBackend, Verifier
from setpoint.causal import Diagnoser, Topology
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.errors import ConfigError
from setpoint.policy import Decider, Policy, PolicyEnvelope, ServiceInfo
from setpoint.settings import Settings
from setpoint.streams import agents
from setpoint.streams.broadcast import BroadcastReader
from setpoint.streams.runtime import Runtime, build_app
from setpoint.streams.topics import CHANGES, CONTROL, LOGS, TRACES, TopicSpec

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
    changes: asyncio.Queue[Any] = asyncio.Queue()

    @app.task
    async def apply_changes() -> None:
        while True:
            change = await changes.get()
            await agents.send_incidents(rt, diagnoser.on_change(change), None)

    def on_context(spec: TopicSpec, value: Any) -> None:
        # Context every worker needs whatever partitions it owns (changes, spans, error logs,
        # the control epoch), handed over by the broadcast thread on the event loop's thread.
        if spec is CHANGES:
            changes.put_nowait(value)  # re-ranking may publish incidents: done by the task
        elif spec is TRACES:
            diagnoser.on_span(value)
        elif spec is LOGS:
            diagnoser.on_log(value)
        else:
            decider.on_control(value)

    _broadcast(app, settings, [CHANGES, TRACES, LOGS, CONTROL], on_context, lookback_s=6 * 3600)
    return app, rt


def actuator_app(settings: Settings) -> tuple[faust.App, Runtime]:
    topology = load_topology(settings)
    envelope = PolicyEnvelope(load_policy(settings), _services(topology))
    records = ExecutionRecords(settings.data_dir / f"actuator-{settings.worker_id or 'a'}.sqlite")
    actuator = Actuator(
        envelope, signing_key(settings), SimFleetBackend(settings.fleet_url), records
    )
    app = build_app(settings, f"{settings.app_id}-actuator")
    rt = Runtime(app, settings)
    reader = _broadcast(app, settings, [CONTROL], lambda _s, v: actuator.on_control(v), None)
    agents.add_execute(rt, actuator, reader.ready)
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
