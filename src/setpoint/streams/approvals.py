"""Approvals as a human sees them: requests read from the approvals topic, their answers from the
approval-decisions topic, and a new answer published for the decide stage. The CLI, the HTTP
endpoint and the demo share this, so they share its rules (``setpoint.policy.approvals``)."""

from __future__ import annotations

import time
from typing import Protocol

from confluent_kafka import Producer

from setpoint.errors import BrokerError
from setpoint.policy.approvals import ApprovalStatus, answer, answers, status
from setpoint.schemas import ApprovalDecision, ApprovalRequest
from setpoint.settings import Settings
from setpoint.streams.codec import encode
from setpoint.streams.topicread import read_all
from setpoint.streams.topics import APPROVAL_DECISIONS, APPROVALS, full_name


class ApprovalStore(Protocol):
    """Where requests and answers live (Kafka; a dictionary in tests)."""

    def requests(self) -> list[ApprovalRequest]: ...
    def answers(self) -> dict[str, ApprovalDecision]: ...
    def publish(self, decision: ApprovalDecision, domain: str) -> None: ...


class KafkaApprovals:
    """The approvals and approval-decisions topics of one deployment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def requests(self) -> list[ApprovalRequest]:
        return [r for r in read_all(self.settings, APPROVALS) if isinstance(r, ApprovalRequest)]

    def answers(self) -> dict[str, ApprovalDecision]:
        return answers(read_all(self.settings, APPROVAL_DECISIONS))

    def publish(self, decision: ApprovalDecision, domain: str) -> None:
        failed: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                failed.append(str(err))

        p = Producer({"bootstrap.servers": self.settings.kafka_bootstrap(),
                      "partitioner": "murmur2_random"})  # fmt: skip
        p.produce(full_name(self.settings.topic_prefix, APPROVAL_DECISIONS), key=domain.encode(),
                  value=encode(decision), on_delivery=delivered)  # fmt: skip
        if p.flush(10) or failed:
            msg = f"the answer to {decision.approval_id} was not delivered: {failed or 'timeout'}"
            raise BrokerError(msg, context={"approval_id": decision.approval_id})


Row = tuple[ApprovalRequest, ApprovalStatus, ApprovalDecision | None]


def listing(store: ApprovalStore, every: bool = False) -> list[Row]:
    """Requests with their status and answer, oldest first (only pending ones unless ``every``)."""
    got = store.answers()
    rows = [(r, status(got.get(r.approval_id)), got.get(r.approval_id)) for r in store.requests()]
    return [row for row in rows if every or row[1] == ApprovalStatus.PENDING]


def find_in(store: ApprovalStore, approval_id: str) -> ApprovalRequest | None:
    return next((r for r in store.requests() if r.approval_id == approval_id), None)


def respond(
    store: ApprovalStore,
    request: ApprovalRequest,
    approved: bool,
    approver: str,
    comment: str = "",
    now: float | None = None,
) -> ApprovalDecision:
    """Publish a human's answer (raises if the gate's rules refuse it)."""
    previous = store.answers().get(request.approval_id)
    t = time.time() if now is None else now
    decision = answer(request, approved, approver, previous, t, comment)
    store.publish(decision, request.command.domain)
    return decision


# The functions the demo and older callers use, on the deployment's topics.
def pending(settings: Settings) -> list[ApprovalRequest]:
    """Requests with no answer yet, oldest first."""
    return [r for r, _, _ in listing(KafkaApprovals(settings))]


def find(settings: Settings, approval_id: str) -> ApprovalRequest | None:
    return find_in(KafkaApprovals(settings), approval_id)


def decide(
    settings: Settings, request: ApprovalRequest, approved: bool, approver: str, comment: str = ""
) -> ApprovalDecision:
    """Publish a human's decision. The requester may not approve its own request."""
    return respond(KafkaApprovals(settings), request, approved, approver, comment)
