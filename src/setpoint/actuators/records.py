"""The actuator's durable record of what it executed: a redelivered command never acts twice,
and a restarted actuator knows what it was doing.

``begin`` is written (with the state captured before acting and the command itself) *before* the
backend is called, ``finish`` after: a record left in ``started`` state on restart is an action
that may have been half-applied, and its capture is what rolls it back. Each write bumps the
record's ``rev``; a :class:`Journal` (a compacted Kafka topic, see ``streams.journal``) gets every
write, and :meth:`ExecutionRecords.merge` takes entries written by another actuator (the highest
``rev`` wins), so a partition moving to another actuator carries its history along.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

STARTED = "started"
_COLUMNS = (
    ("idempotency_key", "TEXT PRIMARY KEY"),
    ("action_id", "TEXT UNIQUE"),
    ("incident_id", "TEXT"),
    ("verb", "TEXT"),
    ("target", "TEXT"),
    ("status", "TEXT"),
    ("captured", "TEXT"),
    ("result_json", "TEXT"),
    ("expected", "TEXT DEFAULT '{}'"),
    ("command_json", "TEXT DEFAULT ''"),
    ("owner", "TEXT DEFAULT ''"),
    ("started_at", "REAL DEFAULT 0"),
    ("finished_at", "REAL DEFAULT 0"),
    ("rev", "INTEGER DEFAULT 0"),
)
_NAMES = tuple(n for n, _ in _COLUMNS)
_JSON = {"captured", "expected"}


@dataclass(frozen=True)
class ExecutionRecord:
    """One command the actuator began, and how it ended (``status`` is ``started`` until then).

    Examples
    --------
    >>> r = ExecutionRecord("k", "cmd-1", "inc-1", "scale", "api", "started", {"replicas": 2})
    >>> r.finished, r.rev
    (False, 0)
    """

    idempotency_key: str
    action_id: str
    incident_id: str
    verb: str
    target: str
    status: str
    captured: dict[str, Any] = field(default_factory=dict)
    result_json: str = ""
    expected: dict[str, Any] = field(default_factory=dict)
    command_json: str = ""
    owner: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    rev: int = 0

    @property
    def finished(self) -> bool:
        return self.status != STARTED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal(Protocol):
    """Where every write of the record is also published (durably) before it counts, and where
    the writes of other actuators are read back from."""

    def publish(self, record: ExecutionRecord) -> None: ...

    def replay(self, merge: Callable[[ExecutionRecord], object]) -> int: ...


class ExecutionRecords:
    """A small SQLite file under the data dir (one per actuator), written before a result is sent.

    Parameters
    ----------
    path
        The SQLite file (created with its directory).
    owner
        This actuator's identity, stamped on the records it begins (recovery takes its own).
    journal
        Every write is published there too (``None``: local only).

    Examples
    --------
    >>> import tempfile
    >>> r = ExecutionRecords(Path(tempfile.mkdtemp()) / "a.sqlite", owner="a")
    >>> _ = r.begin(ExecutionRecord("k1", "cmd-1", "inc-1", "scale", "api", "started",
    ...                             {"replicas": 2}, command_json="{}"))
    >>> [x.action_id for x in r.unfinished("a")]
    ['cmd-1']
    >>> r.finish("k1", "executed", "{}", 10.0).status, r.unfinished("a")
    ('executed', [])
    """

    def __init__(self, path: Path, owner: str = "", journal: Journal | None = None) -> None:
        self.path = path
        self.owner = owner
        self.journal = journal
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._migrate()

    def _migrate(self) -> None:
        cols = ", ".join(f"{n} {t}" for n, t in _COLUMNS[:8])
        self._db.execute(f"CREATE TABLE IF NOT EXISTS executions ({cols})")
        have = {row[1] for row in self._db.execute("PRAGMA table_info(executions)")}
        for name, typ in _COLUMNS:
            if name not in have:  # a record file from an older version: add what it lacks
                self._db.execute(f"ALTER TABLE executions ADD COLUMN {name} {typ}")

    # -- reads -------------------------------------------------------------------------------
    def get(self, idempotency_key: str) -> ExecutionRecord | None:
        """The record of ``idempotency_key``, after catching up with the journal."""
        self.refresh()
        return self._one("idempotency_key = ?", (idempotency_key,))

    def by_action(self, action_id: str) -> ExecutionRecord | None:
        self.refresh()
        return self._one("action_id = ?", (action_id,))

    def refresh(self) -> int:
        """Merge what other actuators journalled since the last look; return how many."""
        return self.journal.replay(self.merge) if self.journal is not None else 0

    def by_incident(self, incident_id: str) -> list[ExecutionRecord]:
        return self._many("incident_id = ? ORDER BY started_at, rev", (incident_id,))

    def unfinished(self, owner: str | None = None) -> list[ExecutionRecord]:
        """Records still ``started`` (of ``owner``, if given), oldest first."""
        self.refresh()
        if owner is None:
            return self._many("status = ? ORDER BY started_at", (STARTED,))
        return self._many("status = ? AND owner = ? ORDER BY started_at", (STARTED, owner))

    def recent(self, verb: str, target: str, since: float) -> int:
        """How many times ``verb`` began on ``target`` at or after ``since`` (event time), failed
        and refused attempts aside."""
        row = self._db.execute(
            "SELECT count(*) FROM executions WHERE verb = ? AND target = ? AND started_at >= ? "
            "AND status NOT IN ('failed', 'rejected')",
            (verb, target, since),
        ).fetchone()
        return int(row[0]) if row else 0

    # -- writes ------------------------------------------------------------------------------
    def begin(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new ``started`` record (an idempotency key is begun at most once)."""
        rec = ExecutionRecord(
            **{**record.to_json(), "status": STARTED, "rev": 1, "owner": record.owner or self.owner}
        )
        with self._lock:
            self._db.execute(
                f"INSERT INTO executions ({', '.join(_NAMES)}) VALUES "
                f"({', '.join('?' for _ in _NAMES)})",
                _row(rec),
            )
        self._publish(rec)
        return rec

    def finish(
        self,
        key: str,
        status: str,
        result_json: str,
        finished_at: float,
        captured: dict[str, Any] | None = None,
    ) -> ExecutionRecord | None:
        """Set the final status of ``key`` (and its result; its capture, if given)."""
        with self._lock:
            self._db.execute(
                "UPDATE executions SET status = ?, result_json = ?, finished_at = ?, "
                "rev = rev + 1"
                + (", captured = ?" if captured is not None else "")
                + " WHERE idempotency_key = ?",
                (
                    status,
                    result_json,
                    finished_at,
                    *((orjson.dumps(captured).decode(),) if captured is not None else ()),
                    key,
                ),
            )
        rec = self.get(key)
        if rec is not None:
            self._publish(rec)
        return rec

    def merge(self, record: ExecutionRecord) -> bool:
        """Take a record written elsewhere if it is newer than ours; return whether it was."""
        with self._lock:
            row = self._db.execute(
                "SELECT rev FROM executions WHERE idempotency_key = ?", (record.idempotency_key,)
            ).fetchone()
            if row is not None and int(row[0]) >= record.rev:
                return False
            self._db.execute(
                f"INSERT OR REPLACE INTO executions ({', '.join(_NAMES)}) VALUES "
                f"({', '.join('?' for _ in _NAMES)})",
                _row(record),
            )
        return True

    def close(self) -> None:
        self._db.close()

    # -- internals ---------------------------------------------------------------------------
    def _publish(self, rec: ExecutionRecord) -> None:
        if self.journal is not None:
            self.journal.publish(rec)

    def _one(self, where: str, args: tuple[Any, ...]) -> ExecutionRecord | None:
        found = self._many(where, args)
        return found[0] if found else None

    def _many(self, where: str, args: tuple[Any, ...]) -> list[ExecutionRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_NAMES)} FROM executions WHERE {where}", args
            ).fetchall()
        return [_record(r) for r in rows]


def _row(rec: ExecutionRecord) -> tuple[Any, ...]:
    data = rec.to_json()
    return tuple(orjson.dumps(data[n]).decode() if n in _JSON else data[n] for n in _NAMES)


def _record(row: tuple[Any, ...]) -> ExecutionRecord:
    data = dict(zip(_NAMES, row, strict=True))
    for name in _JSON:
        data[name] = orjson.loads(data[name] or "{}")
    for name in ("result_json", "command_json", "owner"):
        data[name] = data[name] or ""
    for name in ("started_at", "finished_at"):
        data[name] = float(data[name] or 0.0)
    data["rev"] = int(data["rev"] or 0)
    return ExecutionRecord(**data)
