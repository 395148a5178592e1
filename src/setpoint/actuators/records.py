"""The actuator's durable record of what it executed: a redelivered command never acts twice,
and a restarted actuator knows what it was doing."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class ExecutionRecord:
    idempotency_key: str
    action_id: str
    incident_id: str
    verb: str
    target: str
    status: str
    captured: dict[str, Any]
    result_json: str


class ExecutionRecords:
    """A small SQLite file under the data dir (one per actuator), written before a result is sent.

    ``begin`` is written *before* the backend is called, ``finish`` after: a record left in
    ``started`` state on restart is an action that may have been half-applied.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS executions (idempotency_key TEXT PRIMARY KEY, "
            "action_id TEXT UNIQUE, incident_id TEXT, verb TEXT, target TEXT, status TEXT, "
            "captured TEXT, result_json TEXT)"
        )

    def get(self, idempotency_key: str) -> ExecutionRecord | None:
        row = self._db.execute(
            "SELECT * FROM executions WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        return _record(row)

    def by_action(self, action_id: str) -> ExecutionRecord | None:
        row = self._db.execute(
            "SELECT * FROM executions WHERE action_id = ?", (action_id,)
        ).fetchone()
        return _record(row)

    def begin(self, key: str, action_id: str, incident_id: str, verb: str, target: str) -> None:
        self._db.execute(
            "INSERT INTO executions VALUES (?, ?, ?, ?, ?, 'started', '{}', '')",
            (key, action_id, incident_id, verb, target),
        )

    def finish(self, key: str, status: str, captured: dict[str, Any], result_json: str) -> None:
        self._db.execute(
            "UPDATE executions SET status = ?, captured = ?, result_json = ? "
            "WHERE idempotency_key = ?",
            (status, orjson.dumps(captured).decode(), result_json, key),
        )

    def unfinished(self) -> list[ExecutionRecord]:
        rows = self._db.execute("SELECT * FROM executions WHERE status = 'started'").fetchall()
        return [r for r in map(_record, rows) if r is not None]

    def close(self) -> None:
        self._db.close()


def _record(row: tuple[Any, ...] | None) -> ExecutionRecord | None:
    if row is None:
        return None
    key, action_id, incident_id, verb, target, status, captured, result_json = row
    return ExecutionRecord(
        key,
        action_id,
        incident_id,
        verb,
        target,
        status,
        orjson.loads(captured or "{}"),
        result_json,
    )
