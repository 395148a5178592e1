"""The hash chain and its checkpoints: any append verifies; any alteration, removal, reordering,
insertion or recomputed rewrite is named precisely."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from setpoint.ledger import (
    GENESIS,
    ChainHead,
    CheckpointSigner,
    CheckpointVerifier,
    Record,
    record_hash,
    row_hash,
    verify_rows,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SIGNER = CheckpointSigner(bytes(range(32)))
TRUSTED = CheckpointVerifier(SIGNER.public_key)


def record(i: int, payload: str) -> Record:
    return Record(event_id=f"e{i}", incident_id="inc", ts=T0, stage="detect", event_type="x",
                  entity_id="", service="s", summary="", payload=payload)  # fmt: skip


def as_row(r: Record, chain: str, seq: int, prev: str) -> dict[str, Any]:
    row = {f: getattr(r, f) for f in r.__struct_fields__}
    row.update(chain=chain, seq=seq, prev_hash=prev, hash=record_hash(prev, r, chain, seq))
    return row


def chain(payloads: list[str], name: str = "p0", checkpoint_every: int = 0) -> list[dict[str, Any]]:
    """Rows as the writer makes them, with a signed checkpoint after every N rows."""
    rows: list[dict[str, Any]] = []
    prev = GENESIS
    for i, p in enumerate(payloads, start=1):
        rows.append(as_row(record(i, p), name, len(rows) + 1, prev))
        prev = rows[-1]["hash"]
        if checkpoint_every and i % checkpoint_every == 0:
            cp = SIGNER.record(ChainHead(name, len(rows), prev), T0)
            rows.append(as_row(cp, name, len(rows) + 1, prev))
            prev = rows[-1]["hash"]
    return rows


def rechain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an attacker with write access does after an edit: renumber and recompute every hash
    (they cannot re-sign checkpoints)."""
    out, prev = [], GENESIS
    for seq, row in enumerate(rows, start=1):
        new = dict(row, seq=seq, prev_hash=prev)
        new["hash"] = row_hash(prev, new)
        out.append(new)
        prev = new["hash"]
    return out


@given(st.lists(st.text(max_size=20), max_size=30), st.integers(0, 5))
def test_any_append_verifies(payloads: list[str], every: int) -> None:
    assert verify_rows(chain(payloads, checkpoint_every=every), TRUSTED) == []


def test_the_writer_and_the_verifier_hash_alike() -> None:
    r = record(1, '{"a":1}')
    row = as_row(r, "p0", 1, GENESIS)
    assert row_hash(GENESIS, row) == record_hash(GENESIS, r, "p0", 1)
    naive = dict(row, ts=T0.replace(tzinfo=None))  # what the embedded engine hands back
    assert row_hash(GENESIS, naive) == row["hash"]


def test_altered_row_is_named() -> None:
    rows = chain(["a", "b", "c"])
    rows[1]["payload"] = "B"
    assert verify_rows(rows) == [
        "chain p0 seq 2 (event e2): content does not match its hash (the row was altered)"
    ]


def test_deleted_rows_are_named_with_the_gap() -> None:
    rows = chain(["a", "b", "c", "d", "e"])
    problems = verify_rows(rows[:1] + rows[3:])
    assert problems == ["chain p0 seq 4 (event e4): seq 2..3 missing before it (rows were deleted)"]


def test_inserted_row_with_a_taken_seq_is_named() -> None:
    rows = chain(["a", "b", "c"])
    forged = dict(rows[1], event_id="evil", payload="forged")
    forged["hash"] = row_hash(forged["prev_hash"], forged)
    problems = verify_rows([*rows[:2], forged, *rows[2:]])
    assert problems == [
        "chain p0 seq 2 (event evil): another row already has seq 2 (a row was inserted)"
    ]


def test_reordered_rows_break_the_links() -> None:
    rows = chain(["a", "b", "c", "d"])
    swapped = [rows[0], dict(rows[2], seq=2), dict(rows[1], seq=3), rows[3]]
    problems = verify_rows(swapped)
    assert any("seq 2 (event e3): prev_hash is not the hash of seq 1" in p for p in problems)
    assert any("seq 3 (event e2): content does not match" in p for p in problems)


def test_a_recomputed_rewrite_is_caught_only_by_the_signed_checkpoint() -> None:
    rows = chain(["a", "b", "c", "d", "e", "f"], checkpoint_every=3)
    tampered = [dict(r) for r in rows]
    tampered[1]["payload"] = "rewritten"
    forged = rechain(tampered)
    # The rewrite leaves a chain that links and hashes perfectly...
    assert all(row_hash(r["prev_hash"], r) == r["hash"] for r in forged)
    problems = verify_rows(forged, TRUSTED)
    # ...but the head signed at seq 3 is not the chain's any more.
    assert len(problems) == 2
    assert problems[0].startswith("chain p0 seq 4 (event ckpt-p0-3): checkpoint signed p0 seq 3")
    assert "rows up to seq 3 were rewritten" in problems[0]


def test_a_forged_checkpoint_signature_is_caught() -> None:
    rows = chain(["a", "b"], checkpoint_every=2)
    other = CheckpointSigner(bytes(32)).record(ChainHead("p0", 2, rows[1]["hash"]), T0)
    rows[2] = as_row(other, "p0", 3, rows[1]["hash"])
    problems = verify_rows(rows, TRUSTED)
    assert problems == [
        f"chain p0 seq 3 (event ckpt-p0-2): checkpoint signed by key {other_key_id()!r}, not the "
        f"trusted key {TRUSTED.key_id}"
    ]


def other_key_id() -> str:
    return CheckpointSigner(bytes(32)).key_id


def test_an_edited_checkpoint_fails_its_signature() -> None:
    rows = chain(["a", "b"], checkpoint_every=2)
    cp = rows[2]
    edited = cp["payload"].replace('"count":2', '"count":9')
    assert edited != cp["payload"]
    assert TRUSTED.check(edited) == (
        "signature does not match what it signs (the checkpoint was altered)"
    )
