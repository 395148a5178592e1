"""The agents: one short coroutine per stage. Each decodes, calls its stage, sends the result and
records it. The logic lives in the stage packages; nothing here decides anything."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from setpoint.actuators import Actuator, ExecutionRecords, Verifier
from setpoint.actuators.webhook import EscalationWebhook, deliver
from setpoint.causal import Diagnoser
from setpoint.detectors import DetectionStage
from setpoint.ledger import events as le
from setpoint.policy import Decider, Outputs
from setpoint.schemas import ActionStatus, Anomaly, Incident, ServiceHealth, Verification
from setpoint.streams.broadcast import BroadcastReader
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
    LOGS,
    METRICS,
    RESULTS,
    TRUST,
    VERIFICATIONS,
)

BATCH = 2000
WITHIN_S = 0.2


def add_detect(rt: Runtime, stage: DetectionStage) -> None:
    @rt.app.agent(rt.topic(METRICS, LOGS, HEALTHCHECKS, CHANGES), name="detect")
    async def detect(stream: Any) -> None:
        async for batch in stream.take_events(BATCH, within=WITHIN_S):
            for event in batch:
                got = await rt.accept(event)
                if got is not None and (t := stage.ingest(got[1])) is not None:
                    rt.clock.observe(t)
            anomalies, health = stage.flush(rt.clock.now())
            for a in anomalies:
                await rt.send(ANOMALIES, a.domain, a)
                await rt.record([le.anomaly(a)])
            for h in health:
                await rt.send(HEALTH, h.domain, h)


async def send_incidents(rt: Runtime, incidents: list[Incident], anomaly: Anomaly | None) -> None:
    for inc in incidents:
        await rt.send(INCIDENTS, inc.domain, inc)
        attached = [le.anomaly(anomaly, inc.incident_id)] if anomaly is not None else []
        await rt.record([*attached, le.incident(inc)])


def add_diagnose(rt: Runtime, diagnoser: Diagnoser) -> None:
    @rt.app.agent(rt.topic(ANOMALIES, HEALTH), name="diagnose")
    async def diagnose(stream: Any) -> None:
        async for event in stream.events():
            got = await rt.accept(event)
            if got is None:
                continue
            value = got[1]
            rt.clock.observe(value.ts.timestamp())
            if isinstance(value, ServiceHealth):
                diagnoser.on_health(value)
                continue
            await send_incidents(rt, diagnoser.on_anomaly(value, rt.clock.now()), value)

    @rt.app.timer(1.0, name="diagnose-tick")
    async def diagnose_tick() -> None:
        await send_incidents(rt, diagnoser.tick(rt.clock.now()), None)


async def _send_decisions(rt: Runtime, out: Outputs) -> None:
    await rt.record(le.decision(d.incident_id, d.verb, d.target, d.decision) for d in out.decisions)
    for cmd in out.commands:
        await rt.send(COMMANDS, cmd.domain, cmd)
        await rt.record([le.command(cmd, str(cmd.verb))])
    for req in out.approvals:
        await rt.send(APPROVALS, req.command.domain, req)
        await rt.record([le.approval_request(req)])
    for esc in out.escalations:
        await rt.send(ESCALATIONS, esc.domain, esc)
        await rt.record([le.escalation(esc)])
    for ans in out.answers:  # recorded in the ledger when the decide agent reads it back
        await rt.send(APPROVAL_DECISIONS, "default", ans)
    for rec, changed in out.trust:
        await rt.send(TRUST, rec.key, rec)
        if changed:
            await rt.record([le.trust(rec)])


def add_decide(rt: Runtime, decider: Decider, ready: Any) -> None:
    @rt.app.agent(rt.topic(INCIDENTS, RESULTS, VERIFICATIONS, APPROVAL_DECISIONS), name="decide")
    async def decide(stream: Any) -> None:
        async for event in stream.events():
            while not ready.is_set():
                await asyncio.sleep(0.05)
            got = await rt.accept(event)
            if got is None:
                continue
            spec, value = got
            if spec is APPROVAL_DECISIONS:
                await rt.record([le.approval_decision(value)])
            await _send_decisions(rt, decider.handle(value, rt.clock.now()))

    @rt.app.timer(0.5, name="decide-tick")
    async def decide_tick() -> None:
        if ready.is_set():
            await _send_decisions(rt, decider.tick(rt.clock.now()))


def add_verify(rt: Runtime, verifier: Verifier) -> None:
    @rt.app.agent(rt.topic(HEALTH, RESULTS, INCIDENTS), name="verify")
    async def verify(stream: Any) -> None:
        async for event in stream.events():
            got = await rt.accept(event)
            if got is not None:
                verifier.handle(got[1], rt.clock.now())

    @rt.app.timer(0.5, name="verify-tick")
    async def verify_tick() -> None:
        for v in verifier.tick(rt.clock.now()):
            await rt.send(VERIFICATIONS, v.domain, v)
            await rt.record([le.verification(v)])


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
