"""The ledger on a real embedded ClickHouse: migrations apply once and are booked, a tampered,
deleted or rewritten row is caught by ``setpoint ledger verify``, ``ledger show`` tells a whole
story from an id suffix, and the outcome views count what happened."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from setpoint.ledger import COLUMNS, CheckpointSigner, LedgerStore, Record
from setpoint.ledger.schema import migrations
from setpoint.ledger.synth import story
from tests.integration.conftest import ROOT

KEY = bytes(range(32))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LedgerStore]:
    store = LedgerStore(f"chdb://{tmp_path / 'ledger'}", "setpoint", retention_days=400)
    store.migrate()
    yield store
    store.close()


def fill(store: LedgerStore, incidents: int, checkpoint_every: int = 25) -> list[Record]:
    """Chain ``incidents`` synthetic stories into chain p0, with a checkpoint every N rows."""
    rng, signer, head = random.Random(7), CheckpointSigner(KEY), None
    records = [Record.from_event(ev) for i in range(incidents)
               for ev in story(i, T0 + timedelta(hours=i), rng)]  # fmt: skip
    for k in range(0, len(records), checkpoint_every):
        head = store.append(records[k : k + checkpoint_every], "p0", head)
        head = store.append([signer.record(head, T0 + timedelta(hours=k))], "p0", head)
    return records


def cli(store: LedgerStore, *args: str) -> subprocess.CompletedProcess[str]:
    """``setpoint ARGS`` in its own process (the embedded engine is let go of first)."""
    store.close()
    env = {
        **os.environ,
        "SETPOINT_LEDGER_DSN": store.dsn,
        "SETPOINT_LEDGER_CHECKPOINT_KEY": KEY.hex(),
    }
    return subprocess.run([sys.executable, "-m", "setpoint.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def mutate(store: LedgerStore, sql: str) -> None:
    """What an attacker with write access does (the application itself never does this)."""
    store.command(f"ALTER TABLE setpoint.ledger {sql} SETTINGS mutations_sync = 1")


def test_migrations_apply_once_and_are_booked(ledger: LedgerStore) -> None:
    assert ledger.migrate() == []
    booked = ledger.query_rows("SELECT version, name FROM setpoint.schema_migrations ORDER BY 1")
    assert [(b[0], b[1]) for b in booked] == [(m.version, m.name) for m in migrations()]
    assert len(booked) >= 4
    ledger.retention_days = 120
    ledger.migrate()
    ttl = ledger.query_rows("SELECT engine_full FROM system.tables WHERE name = 'ledger'")[0][0]
    assert "toIntervalDay(120)" in ttl


def test_the_ledger_verifies_clean(ledger: LedgerStore) -> None:
    fill(ledger, 6)
    out = cli(ledger, "ledger", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ledger verifies clean" in out.stdout
    assert "0 row(s) after the last checkpoint" in out.stdout


def test_a_tampered_row_is_caught(ledger: LedgerStore) -> None:
    records = fill(ledger, 6)
    victim = next(r for r in records if r.event_type == "action.executed")
    seq = ledger.query_rows(f"SELECT seq FROM setpoint.ledger WHERE event_id = '{victim.event_id}'")
    mutate(ledger, f"UPDATE summary = 'nothing happened' WHERE event_id = '{victim.event_id}'")
    out = cli(ledger, "ledger", "verify")
    assert out.returncode == 1
    assert (f"chain p0 seq {seq[0][0]} (event {victim.event_id}): content does not match its "
            "hash (the row was altered)") in out.stdout  # fmt: skip
    assert "1 problem(s)" in out.stdout


def test_a_deleted_row_is_caught(ledger: LedgerStore) -> None:
    fill(ledger, 6)
    mutate(ledger, "DELETE WHERE chain = 'p0' AND seq = 10")
    out = cli(ledger, "ledger", "verify")
    assert out.returncode == 1
    assert "seq 10 missing before it (rows were deleted)" in out.stdout


def test_a_recomputed_rewrite_is_caught_by_the_signed_checkpoints(ledger: LedgerStore) -> None:
    """The attacker edits a row and recomputes every hash after it: the chain links again, but
    the heads signed before the edit do not match any more."""
    from setpoint.ledger import row_hash

    fill(ledger, 6)
    rows = ledger.query("SELECT * FROM setpoint.ledger WHERE chain = 'p0' ORDER BY seq").dicts()
    rows[4]["summary"] = "rewritten"
    prev = rows[3]["hash"]
    for r in rows[4:]:
        r["prev_hash"] = prev
        r["hash"] = prev = row_hash(prev, r)
    mutate(ledger, "DELETE WHERE seq >= 5")
    cols = list(COLUMNS)
    ledger.client.insert("setpoint.ledger", [[r[c] for c in cols] for r in rows[4:]],
                         column_names=cols)  # fmt: skip
    out = cli(ledger, "ledger", "verify")
    assert out.returncode == 1, out.stdout
    assert "content does not match" not in out.stdout  # the chain itself is consistent
    assert "checkpoint signed p0 seq 25" in out.stdout
    assert "rows up to seq 25 were rewritten" in out.stdout


def test_verify_since_starts_at_a_trusted_checkpoint(ledger: LedgerStore) -> None:
    fill(ledger, 6)
    mutate(ledger, "UPDATE summary = 'old edit' WHERE chain = 'p0' AND seq = 3")
    assert cli(ledger, "ledger", "verify").returncode == 1
    since = (T0 + timedelta(hours=30)).isoformat()
    out = cli(ledger, "ledger", "verify", "--since", since)
    assert out.returncode == 0, out.stdout
    assert "verified from the checkpoint of seq" in out.stdout


def test_show_tells_the_whole_story_from_a_suffix(ledger: LedgerStore) -> None:
    records = fill(ledger, 40)
    escalated = next(r.incident_id for r in records if r.event_type == "escalation")
    undone = next(
        r for r in records if r.incident_id == escalated and r.event_type == "action.undone"
    )
    out = cli(ledger, "ledger", "show", escalated[-6:])
    assert out.returncode == 0, out.stderr
    text = out.stdout
    order = ["anomaly.firing", "signal error_rate", "incident.opened", "#1 ", "policy.decision",
             "by rules [routine-autonomous]", "command.issued", "action.executed", "call sim.",
             "verification.not_recovered", "action.undone", "escalation",
             "outcome: escalated"]  # fmt: skip
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions), text
    by_action = cli(ledger, "ledger", "show", undone.entity_id)
    assert f"incident {escalated}" in by_action.stdout
    nothing = cli(ledger, "ledger", "show", "zzzzzz")
    assert nothing.returncode == 1 and "nothing in the ledger for zzzzzz" in nothing.stdout
    ambiguous = cli(ledger, "ledger", "show", "3")
    assert ambiguous.returncode == 1 and "3 matches 4 incidents" in ambiguous.stdout
    part = cli(ledger, "ledger", "show", "synth00000000001")  # inside ids, not at their end
    assert "synth00000000001 matches 10 incidents" in part.stdout


def test_outcome_views_count_what_happened(ledger: LedgerStore) -> None:
    records = fill(ledger, 40)
    by_inc: dict[str, set[str]] = {}
    for r in records:
        by_inc.setdefault(r.incident_id, set()).add(r.event_type)
    escalated = sum("escalation" in k for k in by_inc.values())
    resolved = sum("verification.recovered" in k for k in by_inc.values())
    undone = sum(r.event_type == "action.undone" for r in records)
    executed = sum(r.event_type == "action.executed" and '"verb":"undo"' not in r.payload
                   for r in records)  # fmt: skip
    res = ledger.query("SELECT * FROM setpoint.outcomes WHERE dimension = 'total'").dicts()[0]
    assert res["incidents"] == 40
    assert res["escalated"] == escalated and res["resolved"] == resolved
    assert res["auto_resolved"] == resolved  # nobody approved anything here
    assert res["rollbacks"] == undone and res["actions_taken"] == executed
    assert res["pages_avoided"] == resolved
    assert res["toil_hours_returned"] == pytest.approx(resolved * 0.75)
    weeks = ledger.query_rows(
        "SELECT sum(incidents) FROM setpoint.outcomes WHERE dimension = 'week'"
    )
    assert weeks[0][0] == 40
