"""Process assembly: which agents run where. ``setpoint worker`` runs detect, diagnose, decide and
verify (scale it out: Kafka's consumer group shares the partitions); ``setpoint actuator`` runs
execute, as its own consumer group, with its own copy of the policy."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from setpoint.actuators import Actuator, Backend, ExecutionRecords, SimFleetBackend, Verifier
from setpoint.actuators.local_backend import LocalProcessBackend
from setpoint.actuators.webhook import EscalationWebhook
from setpoint.causal import Diagnoser
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.policy import Decider, PolicyEnvelope
from setpoint.settings import Settings
from setpoint.streams import agents
from setpoint.streams.broadcast import BroadcastReader
from setpoint.streams.journal import KafkaJournal
from setpoint.streams.loading import (
    inventory,
    load_policy,
    load_topology,
    signing_key,
    verify_key,
)
from setpoint.streams.runtime import Runtime, build_app
from setpoint.streams.topics import CHANGES, CONTROL, LOGS, TRACES, TRUST, TopicSpec

log = logging.getLogger("setpoint.streams")


def worker_app(settings: Settings) -> tuple[faust.App, Runtime]:
    topology = load_topology(settings)
    envelope = PolicyEnvelope(load_policy(settings), inventory(topology))
    app = build_app(settings, settings.app_id)
    rt = Runtime(app, settings)
    stage = DetectionStage(DetectionConfig.profile(settings.detection_profile), topology.domains())
    diagnoser = Diagnoser(topology.graph())
    decider = Decider(envelope, signing_key(settings), settings.agent_id)
    agents.add_detect(rt, stage)
    agents.add_diagnose(rt, diagnoser)
    agents.add_verify(rt, Verifier(callers=topology.callers()))
    changes: asyncio.Queue[Any] = asyncio.Queue()

    @app.task
    async def apply_changes() -> None:
        while True:
            change = await changes.get()
            await agents.send_incidents(rt, diagnoser.on_change(change), None)

    def on_evidence(spec: TopicSpec, value: Any) -> None:
        # Evidence every worker needs whatever partitions it owns (changes, spans, error logs),
        # handed over by the broadcast thread on the event loop's thread.
        if spec is CHANGES:
            changes.put_nowait(value)  # re-ranking may publish incidents: done by the task
        elif spec is TRACES:
            diagnoser.on_span(value)
        else:
            diagnoser.on_log(value)

    _broadcast(app, settings, [CHANGES, TRACES, LOGS], on_evidence, 6 * 3600)
    # The kill switch and the trust scores are read from the beginning (compacted topics), and
    # the decide stage waits for them: a revocation of last week still holds, and a restarted
    # worker does not overwrite earned (or lost) trust with a fresh record.
    context = _broadcast(
        app, settings, [CONTROL, TRUST], lambda _s, v: decider.handle(v, rt.clock.now()), None
    )
    agents.add_decide(rt, decider, context.ready)
    return app, rt


def backend(settings: Settings) -> Backend:
    """The backend the actuator acts through (``SETPOINT_BACKEND``)."""
    if settings.backend == "local":
        return LocalProcessBackend(settings.fleet_url)
    return SimFleetBackend(settings.fleet_url)


def actuator_app(settings: Settings) -> tuple[faust.App, Runtime]:
    topology = load_topology(settings)
    envelope = PolicyEnvelope(load_policy(settings), inventory(topology))
    owner = settings.worker_id or "a"
    # One record per deployment (app id) and actuator: a demo run does not inherit another's.
    path = settings.data_dir / f"actuator-{settings.app_id}-{owner}.sqlite"
    records = ExecutionRecords(path, owner, KafkaJournal(settings))
    actuator = Actuator(envelope, verify_key(settings), backend(settings), records)
    app = build_app(settings, f"{settings.app_id}-actuator")
    rt = Runtime(app, settings)
    reader = _broadcast(app, settings, [CONTROL], lambda _s, v: actuator.on_control(v), None)
    # Nothing executes before what a previous run left half done is settled.
    agents.add_execute(rt, actuator, reader, agents.add_recovery(rt, actuator, reader.ready))
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
