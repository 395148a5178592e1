"""The durable execution record: what a restarted actuator (or another one) needs to know."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from setpoint.actuators import ExecutionRecord, ExecutionRecords
from setpoint.streams.journal import to_entry, to_record


class ListJournal:
    def __init__(self) -> None:
        self.published: list[ExecutionRecord] = []
        self.incoming: list[ExecutionRecord] = []

    def publish(self, record: ExecutionRecord) -> None:
        self.published.append(record)

    def replay(self, merge) -> int:  # type: ignore[no-untyped-def]
        n = len(self.incoming)
        for r in self.incoming:
            merge(r)
        self.incoming = []
        return n


def rec(key: str = "k1", **kw: object) -> ExecutionRecord:
    base: dict[str, object] = {
        "idempotency_key": key,
        "action_id": f"a-{key}",
        "incident_id": "inc-1",
        "verb": "scale",
        "target": "api",
        "status": "started",
        "captured": {"replicas": 2},
        "command_json": "{}",
        "started_at": 100.0,
    }
    base.update(kw)
    return ExecutionRecord(**base)  # type: ignore[arg-type]


def test_every_write_is_journalled_with_a_growing_revision(tmp_path: Path) -> None:
    j = ListJournal()
    r = ExecutionRecords(tmp_path / "r.sqlite", owner="a", journal=j)
    r.begin(rec())
    r.finish("k1", "executed", "{}", 101.0)
    assert [(x.status, x.rev, x.owner) for x in j.published] == [
        ("started", 1, "a"),
        ("executed", 2, "a"),
    ]


def test_a_record_from_another_actuator_is_merged_before_a_lookup(tmp_path: Path) -> None:
    j = ListJournal()
    mine = ExecutionRecords(tmp_path / "b.sqlite", owner="b", journal=j)
    j.incoming = [rec(status="executed", rev=2, owner="a")]
    got = mine.get("k1")
    assert got is not None and got.status == "executed" and got.owner == "a"
    assert not mine.merge(rec(status="started", rev=1, owner="a"))  # older: ignored
    assert mine.get("k1").status == "executed"  # type: ignore[union-attr]
    assert mine.unfinished("b") == []


def test_a_record_file_of_an_older_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE executions (idempotency_key TEXT PRIMARY KEY, action_id TEXT UNIQUE,"
        " incident_id TEXT, verb TEXT, target TEXT, status TEXT, captured TEXT,"
        " result_json TEXT)"
    )
    db.execute(
        "INSERT INTO executions VALUES ('k0', 'a0', 'i', 'scale', 'api', 'executed', "
        "'{\"replicas\": 3}', '')"
    )
    db.commit()
    db.close()
    r = ExecutionRecords(path)
    old = r.get("k0")
    assert old is not None and old.captured == {"replicas": 3} and old.expected == {}
    r.begin(rec("k1"))
    assert r.get("k1").command_json == "{}"  # type: ignore[union-attr]


def test_recent_counts_what_ran_not_what_failed(tmp_path: Path) -> None:
    r = ExecutionRecords(tmp_path / "r.sqlite")
    r.begin(rec("k1", started_at=100.0))
    r.begin(rec("k2", started_at=200.0))
    r.finish("k2", "failed", "{}", 200.0)
    r.begin(rec("k3", started_at=300.0, target="db"))
    assert r.recent("scale", "api", 0.0) == 1
    assert r.recent("scale", "api", 150.0) == 0


def test_the_journal_entry_round_trips(tmp_path: Path) -> None:
    r = rec(result_json='{"big": "result"}', rev=3)
    back = to_record(to_entry(r))
    assert back.result_json == "" and back.rev == 3 and back.captured == r.captured
