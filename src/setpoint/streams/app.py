"""Process assembly: which agents run where. ``setpoint worker`` runs detect, diagnose, decide and
verify (``SETPOINT_AGENTS`` picks a subset); scale it out: Kafka's consumer group shares the
partitions, and each stage's keeper hands its state over when they move. ``setpoint actuator``
runs execute, as its own consumer group, with its own copy of the policy."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import faust

from setpoint.actuators import Actuator, Backend, ExecutionRecords, SimFleetBackend, Verifier
from setpoint.actuators.local_backend import LocalProcessBackend
from setpoint.actuators.webhook import EscalationWebhook
from setpoint.causal import Diagnoser
from setpoint.detectors import DetectionConfig, DetectionStage
from setpoint.errors import ConfigError, InputError
from setpoint.policy import Decider, PolicyEnvelope
from setpoint.settings import Settings
from setpoint.streams import agents, status
from setpoint.streams.broadcast import BroadcastReader
from setpoint.streams.codec import dead_letter
from setpoint.streams.handover import Held, Keeper
from setpoint.streams.journal import KafkaJournal
from setpoint.streams.loading import (
    inventory,
    load_policy,
    load_topology,
    signing_key,
    verify_key,
)
from setpoint.streams.runtime import Runtime, build_app
from setpoint.streams.topics import (
    ANOMALIES,
    APPROVAL_DECISIONS,
    CHANGES,
    CONTROL,
    DEADLETTER,
    HEALTH,
    HEALTHCHECKS,
    INCIDENTS,
    LOGS,
    METRICS,
    RESULTS,
    STATE_DETECT,
    STATE_DOMAINS,
    TRACES,
    TRUST,
    VERIFICATIONS,
    TopicSpec,
)

log = logging.getLogger("setpoint.streams")
AGENTS = ("detect", "diagnose", "decide", "verify")


def worker_app(settings: Settings) -> tuple[faust.App, Runtime]:
    wanted = settings.agent_names()
    unknown = sorted(set(wanted) - set(AGENTS))
    if unknown or not wanted:
        msg = f"SETPOINT_AGENTS names unknown stages {unknown}; choose from {', '.join(AGENTS)}"
        raise ConfigError(msg, context={"agents": settings.agents})
    topology = load_topology(settings)
    envelope = PolicyEnvelope(load_policy(settings), inventory(topology))
    app = build_app(settings, settings.app_id)
    rt = Runtime(app, settings)
    keepers: dict[str, Keeper] = {}
    consumed: set[str] = set()
    if "detect" in wanted:
        stage = DetectionStage(
            DetectionConfig.profile(settings.detection_profile), topology.domains()
        )
        keepers["detect"] = _keeper(rt, "detect", [METRICS, LOGS, HEALTHCHECKS, CHANGES], stage)
        agents.add_detect(rt, stage, keepers["detect"])
        consumed |= {METRICS.name, LOGS.name, HEALTHCHECKS.name, CHANGES.name}
    if "diagnose" in wanted:
        diagnoser = Diagnoser(topology.graph())
        keepers["diagnose"] = _keeper(rt, "diagnose", [ANOMALIES, HEALTH], diagnoser)
        agents.add_diagnose(rt, diagnoser, keepers["diagnose"])
        _evidence(app, rt, settings, diagnoser, keepers["diagnose"], consumed)
    if "verify" in wanted:
        verifier = Verifier(callers=topology.callers())
        keepers["verify"] = _keeper(rt, "verify", [HEALTH, RESULTS, INCIDENTS], verifier)
        agents.add_verify(rt, verifier, keepers["verify"])
    if "decide" in wanted:
        decider = Decider(envelope, signing_key(settings), settings.agent_id)
        inputs = [INCIDENTS, RESULTS, VERIFICATIONS, APPROVAL_DECISIONS]
        keepers["decide"] = _keeper(rt, "decide", inputs, decider)
        # The kill switch and the trust scores are read from the beginning (compacted topics),
        # and the decide stage waits for them: a revocation of last week still holds, and a
        # restarted worker does not overwrite earned (or lost) trust with a fresh record.
        context = _broadcast(
            app, rt, settings, [CONTROL, TRUST],
            lambda _s, v: decider.handle(v, rt.clock.now()), None, consumed,
        )  # fmt: skip
        agents.add_decide(rt, decider, keepers["decide"], context.ready)
    _rebalance(app, rt, keepers)
    status.add_status(rt, keepers)
    return app, rt


def _keeper(rt: Runtime, name: str, inputs: list[TopicSpec], stage: Any) -> Keeper:
    keys = stage.services if isinstance(stage, DetectionStage) else stage.domains
    held = Held(keys, stage.snapshot, stage.restore, stage.drop)
    store = STATE_DETECT if name == "detect" else STATE_DOMAINS
    interval = rt.settings.checkpoint_interval_s
    return Keeper(rt, name, inputs, held, store, interval, rt.settings.checkpoint_max_pending)


def _evidence(
    app: faust.App,
    rt: Runtime,
    settings: Settings,
    diagnoser: Diagnoser,
    keeper: Keeper,
    consumed: set[str],
) -> None:
    """Evidence every diagnose worker needs whatever partitions it owns (changes, spans, error
    logs), read by a broadcast reader and handed over on the event loop's thread."""
    changes: asyncio.Queue[Any] = asyncio.Queue()

    @app.task
    async def apply_changes() -> None:
        while True:
            change = await changes.get()
            async with keeper.turn():
                found = rt.call(diagnoser.on_change, change, where="diagnose.change") or []
                if found:
                    keeper.touch_all()
                agents.emit_incidents(keeper, found, None)
                await agents.finish(rt, keeper)

    def on_evidence(spec: TopicSpec, value: Any) -> None:
        if spec is CHANGES:
            changes.put_nowait(value)  # re-ranking may publish incidents: done by the task
        elif spec is TRACES:
            rt.call(diagnoser.on_span, value, where="diagnose.span")
        else:
            rt.call(diagnoser.on_log, value, where="diagnose.log")

    _broadcast(app, rt, settings, [CHANGES, TRACES, LOGS], on_evidence, 6 * 3600, consumed)


def _rebalance(app: faust.App, rt: Runtime, keepers: dict[str, Keeper]) -> None:
    async def revoked(_app: Any, *_args: Any, **_kw: Any) -> None:
        for k in keepers.values():
            await k.on_revoked()

    async def assigned(_app: Any, *args: Any, **_kw: Any) -> None:
        for k in keepers.values():
            await k.on_assigned(args[0])

    async def stopping(_app: Any, *_args: Any, **_kw: Any) -> None:
        for k in keepers.values():
            await k.on_stopping()
        status.write(status.path_of(rt), {**status.snapshot(rt, keepers), "stopped": True})

    @app.timer(0.5, name="checkpoints")
    async def checkpoints() -> None:
        # Input that stopped arriving is still acked (and so committed) once its checkpoint is due.
        for k in keepers.values():
            if k.ready.is_set():
                async with k.turn():
                    await k.checkpoint()

    # Faust's signal types want a ``signal`` keyword its own receivers never declare.
    app.on_partitions_revoked.connect(cast(Any, revoked))
    app.on_partitions_assigned.connect(cast(Any, assigned))
    app.on_before_shutdown.connect(cast(Any, stopping))


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
    reader = _broadcast(
        app, rt, settings, [CONTROL], lambda _s, v: actuator.on_control(v), None, set()
    )
    # Nothing executes before what a previous run left half done is settled.
    agents.add_execute(rt, actuator, reader, agents.add_recovery(rt, actuator, reader.ready))
    if settings.escalation_webhook:
        agents.add_escalate(rt, records, EscalationWebhook(settings.escalation_webhook))
    return app, rt


def _broadcast(
    app: faust.App,
    rt: Runtime,
    settings: Settings,
    specs: list[TopicSpec],
    handler: Any,
    lookback_s: float | None,
    consumed: set[str],
) -> BroadcastReader:
    """A reader of ``specs`` on every partition. Bad messages on a topic no agent of this process
    reads in its group are dead-lettered here (their id is the message's coordinates, so the
    copies every worker makes are one row in the ledger)."""
    unread = {s.name for s in specs} - consumed

    def on_bad(
        spec: TopicSpec, raw: bytes | None, tp: tuple[str, int], off: int, exc: InputError
    ) -> None:
        if spec.name in unread:
            rt.count(f"dead.{spec.name}")
            dl = dead_letter(tp[0], raw, exc, now=time.time(), partition=tp[1], offset=off)
            app.loop.create_task(rt.send(DEADLETTER, spec.name, dl))

    reader = BroadcastReader(settings, specs, handler, lookback_s, on_bad)

    @app.task
    async def start_broadcast() -> None:
        reader.start(asyncio.get_running_loop())

    return reader
