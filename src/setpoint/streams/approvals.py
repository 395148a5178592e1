"""Approvals as a human sees them: pending requests read from the approvals topic, and a
decision published for the decide stage (the CLI, the HTTP endpoint and the demo share this)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from setpoint.clock import to_datetime
from setpoint.errors import InputError, SecurityError
from setpoint.schemas import ApprovalDecision, ApprovalRequest
from setpoint.settings import Settings
from setpoint.streams.codec import decode, encode
from setpoint.streams.topics import APPROVAL_DECISIONS, APPROVALS, TopicSpec, full_name


def _read_all(settings: Settings, spec: TopicSpec, timeout_s: float = 5.0) -> list[object]:
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap(), "group.id": uuid.uuid4().hex,
                  "enable.auto.commit": False})  # fmt: skip
    name = full_name(settings.topic_prefix, spec)
    try:
        meta = c.list_topics(name, timeout=timeout_s).topics[name]
        parts = [TopicPartition(name, p, 0) for p in meta.partitions]
        ends = {p.partition: c.get_watermark_offsets(p, timeout=timeout_s)[1] for p in parts}
        c.assign(parts)
        out: list[object] = []
        deadline = time.monotonic() + timeout_s
        while any(ends.values()) and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            p, off = m.partition() or 0, m.offset() or 0
            if off + 1 >= ends.get(p, 0):
                ends[p] = 0
            try:
                out.append(decode(spec, m.value()))
            except InputError:
                continue
        return out
    finally:
        c.close()


def pending(settings: Settings) -> list[ApprovalRequest]:
    """Requests with no decision yet, oldest first."""
    decided = {d.approval_id for d in _read_all(settings, APPROVAL_DECISIONS)
               if isinstance(d, ApprovalDecision)}  # fmt: skip
    reqs = [r for r in _read_all(settings, APPROVALS) if isinstance(r, ApprovalRequest)]
    return [r for r in reqs if r.approval_id not in decided]


def find(settings: Settings, approval_id: str) -> ApprovalRequest | None:
    reqs = _read_all(settings, APPROVALS)
    return next((r for r in reqs if isinstance(r, ApprovalRequest)
                 and r.approval_id == approval_id), None)  # fmt: skip


def decide(
    settings: Settings, request: ApprovalRequest, approved: bool, approver: str, comment: str = ""
) -> ApprovalDecision:
    """Publish a human's decision. The requester may not approve its own request."""
    if approver == request.requested_by:
        msg = f"{approver} requested {request.approval_id} and cannot also approve it"
        raise SecurityError(msg, context={"approval_id": request.approval_id})
    decision = ApprovalDecision(
        approval_id=request.approval_id, incident_id=request.incident_id, approved=approved,
        approver=approver, ts=to_datetime(max(time.time(), request.ts.timestamp())),
        comment=comment,
    )  # fmt: skip
    p = Producer({"bootstrap.servers": settings.kafka_bootstrap(), "partitioner": "murmur2_random"})
    p.produce(full_name(settings.topic_prefix, APPROVAL_DECISIONS),
              key=request.command.domain.encode(), value=encode(decision))  # fmt: skip
    p.flush(10)
    return decision
