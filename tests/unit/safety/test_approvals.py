"""The approval gate over HTTP has the CLI's semantics: token, identity, no self-approval, one
answer per request."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from setpoint.clock import to_datetime
from setpoint.errors import AuthError, SelfApprovalError
from setpoint.schemas import (
    ApprovalDecision,
    ApprovalRequest,
    PolicyDecision,
    RotateCredentialCommand,
)
from setpoint.streams.approvals import respond
from setpoint.streams.approvals_http import ApprovalsServer, Tokens


class MemoryStore:
    def __init__(self, *reqs: ApprovalRequest) -> None:
        self.reqs = list(reqs)
        self.published: list[ApprovalDecision] = []

    def requests(self) -> list[ApprovalRequest]:
        return self.reqs

    def answers(self) -> dict[str, ApprovalDecision]:
        out: dict[str, ApprovalDecision] = {}
        for d in self.published:
            out.setdefault(d.approval_id, d)
        return out

    def publish(self, decision: ApprovalDecision, domain: str) -> None:
        self.published.append(decision)


def request(aid: str = "apr-1") -> ApprovalRequest:
    t = to_datetime(1000)
    d = PolicyDecision(outcome="approval", policy_hash="p", ts=t)
    cmd = RotateCredentialCommand(command_id="c1", incident_id="inc-1", agent="setpoint.decide",
                                  target="payments", idempotency_key="k", issued_at=t,
                                  expires_at=t, decision=d)  # fmt: skip
    return ApprovalRequest(approval_id=aid, incident_id="inc-1", command=cmd,
                           requested_by="setpoint.decide", ts=t, expires_at=to_datetime(1900),
                           summary="rotate the leaked credential")  # fmt: skip


@pytest.fixture
def server() -> Iterator[tuple[str, MemoryStore]]:
    store = MemoryStore(request())
    tokens = Tokens(shared="shared-tok", named={"alice-tok": "alice"})
    srv = ApprovalsServer(store, tokens, "127.0.0.1", 0).start()
    yield srv.url, store
    srv.stop()


def call(
    url: str, method: str = "GET", token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_no_token_or_a_wrong_one_is_refused(server: tuple[str, MemoryStore]) -> None:
    url, store = server
    assert call(f"{url}/health")[0] == 200
    assert call(f"{url}/approvals")[0] == 401
    assert call(f"{url}/approvals", token="guess")[0] == 401
    assert call(f"{url}/approvals/apr-1/approve", "POST", "guess", {})[0] == 401
    assert store.published == []


def test_a_personal_token_is_the_approvers_identity(server: tuple[str, MemoryStore]) -> None:
    url, store = server
    status, pending = call(f"{url}/approvals", token="alice-tok")
    assert status == 200 and [p["approval_id"] for p in pending] == ["apr-1"]
    assert call(f"{url}/approvals/apr-1/approve", "POST", "alice-tok",
                {"approver": "mallory"})[0] == 403  # fmt: skip
    status, answer = call(f"{url}/approvals/apr-1/approve", "POST", "alice-tok", {"comment": "ok"})
    assert status == 200 and answer["approver"] == "alice" and answer["approved"] is True
    assert [d.approver for d in store.published] == ["alice"]
    status, again = call(f"{url}/approvals/apr-1/deny", "POST", "shared-tok", {"approver": "bob"})
    assert status == 409 and "already approved by alice" in again["error"]
    assert call(f"{url}/approvals", token="alice-tok")[1] == []
    status, one = call(f"{url}/approvals/apr-1", token="alice-tok")
    assert status == 200 and one["status"] == "approved" and one["answer"]["approver"] == "alice"


def test_the_shared_token_needs_a_name_and_the_requester_cannot_answer(
    server: tuple[str, MemoryStore],
) -> None:
    url, store = server
    assert call(f"{url}/approvals/apr-1/deny", "POST", "shared-tok", {})[0] == 400
    status, err = call(f"{url}/approvals/apr-1/approve", "POST", "shared-tok",
                       {"approver": "setpoint.decide"})  # fmt: skip
    assert status == 403 and err["code"] == "security.self_approval"
    assert call(f"{url}/approvals/nope/approve", "POST", "shared-tok", {"approver": "b"})[0] == 404
    assert store.published == []


def test_cli_and_http_share_the_rules() -> None:
    store = MemoryStore(request())
    with pytest.raises(SelfApprovalError):
        respond(store, request(), True, "setpoint.decide")
    with pytest.raises(AuthError):
        Tokens(named={"t": "alice"}).identify("t", "bob")
