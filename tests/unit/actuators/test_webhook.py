"""Escalation to a webhook: what a human receives, retries with back-off, every attempt
recorded, and one delivery per escalation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from setpoint.actuators import ExecutionRecord, ExecutionRecords
from setpoint.actuators.webhook import EscalationWebhook, deliver
from setpoint.schemas import Escalation
from tests.unit.conftest import hypothesis, ts


class Hook:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[str] = []


@pytest.fixture
def hook() -> Iterator[tuple[str, Hook]]:
    state = Hook([])

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers["Content-Length"])
            state.bodies.append(json.loads(self.rfile.read(size)))
            state.headers.append(self.headers.get("Idempotency-Key", ""))
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a: Any) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/page", state
    finally:
        srv.shutdown()
        srv.server_close()


def escalation() -> Escalation:
    top = hypothesis("checkout", "bad_deploy", ["rollback_deploy"], change_id="chg-1")
    return Escalation(
        escalation_id="esc-1",
        incident_id="inc-1",
        ts=ts(1000),
        reason_code="inconclusive",
        reason="no health data after the action",
        tried=["rollback_deploy on checkout: ..."],
        context={
            "summary": "checkout errors",
            "services": ["checkout", "frontend"],
            "confidence": 0.8,
            "top_hypothesis": top.model_dump(mode="json"),
        },
    )


def test_the_page_carries_the_incident_evidence_and_the_commands(hook) -> None:  # type: ignore[no-untyped-def]
    url, state = hook
    done = ExecutionRecord("k", "cmd-9", "inc-1", "rollback_deploy", "checkout", "executed")
    out = EscalationWebhook(url).post(escalation(), [done])
    assert out.ok and len(out.calls) == 1 and out.calls[0].operation == "webhook.post"
    body = state.bodies[0]
    assert body["incident"]["services"] == ["checkout", "frontend"]
    assert body["hypothesis"]["fault_class"] == "bad_deploy" and body["evidence"] == ["it moved"]
    assert body["tried"] == ["rollback_deploy on checkout: ..."]
    assert body["commands"]["rollback"] == ["setpoint rollback cmd-9"]
    assert body["commands"]["ledger"] == "setpoint ledger show inc-1"
    assert state.headers == ["esc-1"]


def test_failures_are_retried_with_back_off_and_every_attempt_recorded(hook) -> None:  # type: ignore[no-untyped-def]
    url, state = hook
    state.answers = [503, 502]
    waits: list[float] = []
    out = EscalationWebhook(url, attempts=4, backoff_s=0.5, sleep=waits.append).post(
        escalation(), []
    )
    assert out.ok and "attempt 3" in out.detail
    assert [c.ok for c in out.calls] == [False, False, True] and waits == [0.5, 1.0]


def test_a_refusal_is_not_retried(hook) -> None:  # type: ignore[no-untyped-def]
    url, state = hook
    state.answers = [400]
    out = EscalationWebhook(url, sleep=lambda _: None).post(escalation(), [])
    assert not out.ok and len(out.calls) == 1 and "refused" in out.detail


def test_an_unreachable_hook_fails_after_every_attempt() -> None:
    out = EscalationWebhook("http://127.0.0.1:9/x", attempts=3, sleep=lambda _: None).post(
        escalation(), []
    )
    assert not out.ok and len(out.calls) == 3 and "after 3 attempts" in out.detail


def test_an_escalation_is_delivered_once(hook, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, state = hook
    records = ExecutionRecords(tmp_path / "r.sqlite")
    first = deliver(records, EscalationWebhook(url), escalation(), 1001.0)
    assert first is not None and first.status == "escalated" and first.backend == "webhook"
    assert deliver(records, EscalationWebhook(url), escalation(), 1002.0) is None
    assert len(state.bodies) == 1
