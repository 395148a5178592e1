"""The hash chain: any append verifies; any alteration, removal, reordering or insertion is
named precisely."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from setpoint.ledger import GENESIS, row_hash, verify_rows


def chain(payloads: list[str], name: str = "p0") -> list[dict[str, Any]]:
    rows, prev = [], GENESIS
    for i, p in enumerate(payloads, start=1):
        row: dict[str, Any] = {
            "event_id": f"e{i}",
            "incident_id": "inc",
            "ts": datetime(2026, 1, 1, tzinfo=UTC),
            "stage": "detect",
            "event_type": "x",
            "entity_id": "",
            "service": "s",
            "summary": "",
            "payload": p,
            "schema_version": 1,
            "chain": name,
            "seq": i,
        }
        row["prev_hash"], row["hash"] = prev, row_hash(prev, row)
        prev = row["hash"]
        rows.append(row)
    return rows


@given(st.lists(st.text(max_size=20), max_size=30))
def test_any_append_verifies(payloads: list[str]) -> None:
    assert verify_rows(chain(payloads)) == []


def test_altered_row_is_named() -> None:
    rows = chain(["a", "b", "c"])
    rows[1]["payload"] = "B"
    problems = verify_rows(rows)
    assert problems == [
        "chain p0 seq 2 (event e2): content does not match its hash (the row was altered)"
    ]


def test_missing_and_inserted_rows_are_caught() -> None:
    rows = chain(["a", "b", "c", "d"])
    assert any("missing or inserted" in p for p in verify_rows(rows[:1] + rows[2:]))
    forged = dict(rows[1], event_id="evil")
    forged["hash"] = row_hash(forged["prev_hash"], forged)
    assert any("seq 2" in p for p in verify_rows([*rows[:2], forged, *rows[2:]]))


def test_timestamps_hash_the_same_naive_or_aware() -> None:
    row = chain(["a"])[0]
    naive = dict(row, ts=row["ts"].replace(tzinfo=None))
    assert row_hash(GENESIS, naive) == row["hash"]
