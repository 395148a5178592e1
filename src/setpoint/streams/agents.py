"""The agents: one short coroutine per stage. Each decodes, calls its stage through the runtime's
boundary, and hands the results to its keeper (which checkpoints, then sends them). The logic
lives in the stage packages; nothing here decides anything."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from setpoint.actuators import Actuator, ExecutionRecords, Verifier
from setpoint.actuators.webhook import EscalationWebhook, deliver
from setpoint.causal import Diagnoser
from setpoint.detectors import DetectionStage
from setpoint.ledger import events as le
from setpoint.policy import Decider, Outputs
from setpoint.schemas import ActionStatus, Anomaly, Incident, ServiceHealth, Verification
from setpoint.streams.broadcast import BroadcastReader
from setpoint.streams.codec import Points
from setpoint.streams.handover import Keeper
from setpoint.streams.runtime import Runtime
from setpoint.streams.topics import (
    ANOMALIES,
    APPROVAL_DECISIONS,
    APPROVALS,
    CHANGES,
    COMMANDS,
    ESCALATIONS,
    HEALTH,
    HEALTHCHECKS,
    INCIDENTS,
    LEDGER,
    LOGS,
    METRICS,
    RESULTS,
    TRUST,
    VERIFICATIONS,
)

BATCH = 2000
WITHIN_S = 0.2


async def admit(rt: Runtime, keeper: Keeper, event: Any, key_of: Any) -> Any:
    """The value of ``event`` if this worker should apply it now: on a partition it owns, valid
    (else dead-lettered), and not already reflected in the state of its key."""
    if not keeper.take(event):
        return None
    got = await rt.accept(event)
    if got is None or not keeper.fresh(key_of(got[1], event), event):
        return None
    return got[1]


def add_tick(
    rt: Runtime,
    keeper: Keeper,
    name: str,
    every_s: float,
    step: Callable[[float], Any],
    emit: Callable[[Any], bool],
    ready: Any = None,
) -> None:
    """A stage's time-driven step: ``step(now)`` through the boundary, once the keeper (and
    ``ready``, if given) is; ``emit`` hands its outputs to the keeper and says whether any state
    may have changed (then the next checkpoint writes every key)."""

    @rt.app.timer(every_s, name=f"{name}-tick")
    async def tick() -> None:
        if not (keeper.ready.is_set() and (ready is None or ready.is_set())):
            return  # a rebalance (or the context) is under way
        async with keeper.turn():
            if emit(rt.call(step, rt.clock.now(), where=f"{name}.tick")):
                keeper.touch_all()
            await finish(rt, keeper)


async def finish(rt: Runtime, keeper: Keeper) -> None:
    """End of a step: dead-letter what the stage choked on, publish outputs, checkpoint if due."""
    await rt.settle()
    await keeper.publish()
    await keeper.checkpoint()


def _domain(value: Any, event: Any) -> str:
    return str(
        getattr(value, "domain", None) or (event.key or b"default").decode("utf-8", "replace")
    )


def _ingest(stage: DetectionStage, value: Any) -> float | None:
    if isinstance(value, Points):
        return stage.observe_points(value.service, value.points)
    return stage.ingest(value)


def add_detect(rt: Runtime, stage: DetectionStage, keeper: Keeper) -> None:
    @rt.app.agent(rt.topic(METRICS, LOGS, HEALTHCHECKS, CHANGES), name="detect")
    async def detect(stream: Any) -> None:
        async for batch in stream.noack_take(BATCH, within=WITHIN_S):
            async with keeper.turn():
                for event in batch:
                    value = await admit(rt, keeper, event, lambda v, _e: v.service)
                    if value is not None:
                        t = rt.call(_ingest, stage, value, source=event, where="detect")
                        if t is not None:
                            rt.clock.observe(t, value.service)
                flushed = rt.call(stage.flush, rt.clock.now(), where="detect.flush")
                anomalies, health = flushed or ([], [])
                for a in anomalies:
                    keeper.emit(a.service, ANOMALIES, a.domain, a)
                    keeper.emit(a.service, LEDGER, "", le.anomaly(a))
                for h in health:
                    await rt.send(HEALTH, h.domain, h)
                await finish(rt, keeper)


def emit_incidents(keeper: Keeper, incidents: Iterable[Incident], anomaly: Anomaly | None) -> None:
    for inc in incidents:
        keeper.emit(inc.domain, INCIDENTS, inc.domain, inc)
        if anomaly is not None:
            keeper.emit(inc.domain, LEDGER, inc.incident_id, le.anomaly(anomaly, inc.incident_id))
        keeper.emit(inc.domain, LEDGER, inc.incident_id, le.incident(inc))


def _diagnose(diagnoser: Diagnoser, value: Any, now: float) -> list[Incident]:
    if isinstance(value, ServiceHealth):
        diagnoser.on_health(value)
        return []
    return diagnoser.on_anomaly(value, now)


def add_diagnose(rt: Runtime, diagnoser: Diagnoser, keeper: Keeper) -> None:
    @rt.app.agent(rt.topic(ANOMALIES, HEALTH), name="diagnose")
    async def diagnose(stream: Any) -> None:
        async for event in stream.noack().events():
            async with keeper.turn():
                value = await admit(rt, keeper, event, _domain)
                if value is not None:
                    rt.clock.observe(value.ts.timestamp(), value.service)
                    found = rt.call(_diagnose, diagnoser, value, rt.clock.now(), source=event)
                    emit_incidents(
                        keeper, found or [], value if isinstance(value, Anomaly) else None
                    )
                await finish(rt, keeper)

    def emit(found: list[Incident] | None) -> bool:
        emit_incidents(keeper, found or [], None)
        return bool(found)

    add_tick(rt, keeper, "diagnose", 1.0, diagnoser.tick, emit)


def emit_decisions(keeper: Keeper, decider: Decider, out: Outputs, fallback: str) -> None:
    def home(incident_id: str) -> str:
        return decider.domain_of(incident_id) or fallback

    for d in out.decisions:
        ev = le.decision(d.incident_id, d.verb, d.target, d.decision)
        keeper.emit(home(d.incident_id), LEDGER, ev.incident_id, ev)
    for cmd in out.commands:
        keeper.emit(cmd.domain, COMMANDS, cmd.domain, cmd)
        keeper.emit(cmd.domain, LEDGER, cmd.incident_id, le.command(cmd, str(cmd.verb)))
    for req in out.approvals:
        keeper.emit(req.command.domain, APPROVALS, req.command.domain, req)
        keeper.emit(req.command.domain, LEDGER, req.incident_id, le.approval_request(req))
    for esc in out.escalations:
        keeper.emit(esc.domain, ESCALATIONS, esc.domain, esc)
        keeper.emit(esc.domain, LEDGER, esc.incident_id, le.escalation(esc))
    for ans in out.answers:  # recorded in the ledger when the decide agent reads it back
        keeper.emit(home(ans.incident_id), APPROVAL_DECISIONS, home(ans.incident_id), ans)
    for rec, changed in out.trust:
        keeper.emit(fallback, TRUST, rec.key, rec)
        if changed:
            keeper.emit(fallback, LEDGER, "", le.trust(rec))


def add_decide(rt: Runtime, decider: Decider, keeper: Keeper, ready: Any) -> None:
    @rt.app.agent(rt.topic(INCIDENTS, RESULTS, VERIFICATIONS, APPROVAL_DECISIONS), name="decide")
    async def decide(stream: Any) -> None:
        async for event in stream.noack().events():
            while not ready.is_set():
                await asyncio.sleep(0.05)
            async with keeper.turn():
                value = await admit(rt, keeper, event, _domain)
                if value is not None:
                    domain = _domain(value, event)
                    if rt.spec_of(event.message.topic) is APPROVAL_DECISIONS:
                        keeper.emit(domain, LEDGER, value.incident_id, le.approval_decision(value))
                    out = rt.call(decider.handle, value, rt.clock.now(), source=event)
                    emit_decisions(keeper, decider, out or Outputs(), domain)
                await finish(rt, keeper)

    def emit(out: Outputs | None) -> bool:
        out = out or Outputs()
        emit_decisions(keeper, decider, out, "default")
        return bool(out.commands or out.escalations or out.answers or out.decisions)

    add_tick(rt, keeper, "decide", 0.5, decider.tick, emit, ready)


def emit_verdicts(keeper: Keeper, verdicts: Iterable[Verification]) -> None:
    for v in verdicts:
        keeper.emit(v.domain, VERIFICATIONS, v.domain, v)
        keeper.emit(v.domain, LEDGER, v.incident_id, le.verification(v))


def add_verify(rt: Runtime, verifier: Verifier, keeper: Keeper) -> None:
    @rt.app.agent(rt.topic(HEALTH, RESULTS, INCIDENTS), name="verify")
    async def verify(stream: Any) -> None:
        async for event in stream.noack().events():
            async with keeper.turn():
                value = await admit(rt, keeper, event, _domain)
                if value is not None:
                    rt.call(verifier.handle, value, rt.clock.now(), source=event)
                await finish(rt, keeper)

    def emit(verdicts: list[Verification] | None) -> bool:
        emit_verdicts(keeper, verdicts or [])
        return bool(verdicts)

    add_tick(rt, keeper, "verify", 0.5, verifier.tick, emit)


def add_execute(
    rt: Runtime, actuator: Actuator, control: BroadcastReader, recovered: threading.Event
) -> None:
    @rt.app.agent(rt.topic(COMMANDS, VERIFICATIONS), name="execute")
    async def execute(stream: Any) -> None:
        async for event in stream.events():
            while not (control.ready.is_set() and recovered.is_set()):
                await asyncio.sleep(0.05)
            got = await rt.accept(event)
            if got is None:
                continue
            value = got[1]
            if isinstance(value, Verification):
                actuator.finished(value.action_id)
                continue
            if await control.barrier():
                result = await asyncio.to_thread(actuator.execute, value)
            else:
                result = actuator.unconfirmed(value)
            await rt.send(RESULTS, result.domain, result)
            await rt.record([le.action(result)])
            if result.status == ActionStatus.REJECTED:
                rt.count("rejected")


def add_recovery(rt: Runtime, actuator: Actuator, ready: Any) -> threading.Event:
    """Once the context is read, settle what a previous run left half done (results sent);
    the returned event is set when it is, and gates execution."""
    gate = threading.Event()

    @rt.app.task
    async def recover() -> None:
        while not ready.is_set():
            await asyncio.sleep(0.05)
        for result in await asyncio.to_thread(actuator.recover):
            await rt.send(RESULTS, result.domain, result)
            await rt.record([le.action(result)])
            rt.count("recovered")
        gate.set()

    return gate


def add_escalate(rt: Runtime, records: ExecutionRecords, hook: EscalationWebhook) -> None:
    @rt.app.agent(rt.topic(ESCALATIONS), name="escalate")
    async def escalate(stream: Any) -> None:
        async for event in stream.events():
            got = await rt.accept(event)
            if got is None:
                continue
            result = await asyncio.to_thread(deliver, records, hook, got[1], time.time())
            if result is not None:
                await rt.record([le.action(result)])
