"""``ledger verify``: recompute every chain and check every signed checkpoint.

``ChainCheck`` is pure and incremental (rows of one chain, in seq order, one at a time), so the
whole ledger is verified as a stream in constant memory. What it names, row by row:

* altered: a row's content no longer gives its hash;
* missing: a gap in the seq numbers (rows deleted);
* inserted: two rows with one seq;
* relinked: a row whose ``prev_hash`` is not the previous row's hash (a row replaced, rows
  reordered);
* rewritten: a signed checkpoint whose head is not the chain's row any more (the chain was
  recomputed after an edit, which only the signature can reveal), or a bad signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from setpoint.ledger.chain import GENESIS, canonical_ts, row_hash
from setpoint.ledger.checkpoint import CHECKPOINT_TYPE, CheckpointVerifier

if TYPE_CHECKING:
    from setpoint.ledger.store import LedgerStore


@dataclass
class ChainCheck:
    """Verifies one chain from an anchor: genesis, or a checkpoint already trusted."""

    chain: str
    verifier: CheckpointVerifier | None = None
    last_seq: int = 0
    last_hash: str = GENESIS
    rows: int = 0
    checkpoints: int = 0
    last_checkpoint_seq: int = 0
    problems: list[str] = field(default_factory=list)

    def feed(self, row: dict[str, Any]) -> None:
        seq = int(row["seq"])
        where = f"chain {self.chain} seq {seq} (event {row['event_id']})"
        self.rows += 1
        if seq <= self.last_seq:
            self.problems.append(f"{where}: another row already has seq {seq} (a row was inserted)")
            return
        if seq > self.last_seq + 1:
            gap = f"seq {self.last_seq + 1}" + (
                f"..{seq - 1}" if seq - 1 > self.last_seq + 1 else ""
            )
            self.problems.append(f"{where}: {gap} missing before it (rows were deleted)")
        elif row["prev_hash"] != self.last_hash:
            self.problems.append(
                f"{where}: prev_hash is not the hash of seq {self.last_seq} (a row before it was "
                "replaced, or rows were reordered)"
            )
        if row_hash(row["prev_hash"], row) != row["hash"]:
            self.problems.append(f"{where}: content does not match its hash (the row was altered)")
        if row["event_type"] == CHECKPOINT_TYPE and row["stage"] == "record":
            self._checkpoint(row, where)
        self.last_seq, self.last_hash = seq, row["hash"]

    def _checkpoint(self, row: dict[str, Any], where: str) -> None:
        self.checkpoints += 1
        try:
            p = orjson.loads(row["payload"])
            signed_seq, head, chain = int(p["seq"]), str(p["head"]), str(p["chain"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.problems.append(f"{where}: checkpoint payload is malformed")
            return
        if chain != self.chain or signed_seq != self.last_seq or head != self.last_hash:
            self.problems.append(
                f"{where}: checkpoint signed {chain} seq {signed_seq} head {head[:16]}, but the "
                f"chain has seq {self.last_seq} head {self.last_hash[:16]} (rows up to seq "
                f"{signed_seq} were rewritten)"
            )
        if self.verifier is not None and (bad := self.verifier.check(row["payload"])):
            self.problems.append(f"{where}: checkpoint {bad}")
            return
        self.last_checkpoint_seq = int(row["seq"])

    def summary(self) -> str:
        tail = self.last_seq - self.last_checkpoint_seq
        signed = "signatures checked" if self.verifier else "signatures unchecked: no key"
        return (f"chain {self.chain}: {self.rows} rows to seq {self.last_seq}, "
                f"{self.checkpoints} checkpoint(s) ({signed}), {tail} row(s) after the last "
                "checkpoint")  # fmt: skip


def verify_rows(
    rows: Iterable[dict[str, Any]], verifier: CheckpointVerifier | None = None
) -> list[str]:
    """Problems in chained rows sorted by (chain, seq), each verified from genesis."""
    checks: dict[str, ChainCheck] = {}
    for row in rows:
        chain = row["chain"]
        if chain not in checks:
            checks[chain] = ChainCheck(chain, verifier)
        checks[chain].feed(row)
    return [p for c in checks.values() for p in c.problems]


@dataclass
class VerifyReport:
    problems: list[str]
    chains: list[ChainCheck]
    anchors: dict[str, int]
    """Per chain, the seq of the signed checkpoint verification started after (0: genesis)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_store(
    store: LedgerStore, verifier: CheckpointVerifier | None, since: datetime | None = None
) -> VerifyReport:
    """Verify every chain of ``store``; with ``since``, start each chain at its last signed
    checkpoint taken at or before ``since`` (its signature checked first), else at genesis."""
    db = store.database
    chains = [r[0] for r in store.query_rows(f"SELECT DISTINCT chain FROM {db}.ledger ORDER BY 1")]
    problems, checks, anchors = [], [], {}
    cols = "event_id, incident_id, ts, stage, event_type, entity_id, service, summary, payload, "
    cols += "schema_version, chain, seq, prev_hash, hash"
    for chain in chains:
        check = ChainCheck(chain, verifier)
        if since is not None:
            problems += _anchor(store, check, since)
        anchors[chain] = check.last_seq
        for row in store.stream(
            f"SELECT {cols} FROM {db}.ledger WHERE chain = %(c)s AND seq > %(s)s ORDER BY seq",
            {"c": chain, "s": check.last_seq},
        ):
            check.feed(row)
        problems += check.problems
        checks.append(check)
    return VerifyReport(problems, checks, anchors)


def _anchor(store: LedgerStore, check: ChainCheck, since: datetime) -> list[str]:
    """Start ``check`` after the newest checkpoint signed at or before ``since``."""
    rows = store.query(
        f"SELECT seq, payload, event_id FROM {store.database}.ledger WHERE chain = %(c)s "
        f"AND event_type = '{CHECKPOINT_TYPE}' "
        "AND ts <= parseDateTime64BestEffort(%(t)s, 3, 'UTC') ORDER BY seq DESC LIMIT 1",
        {"c": check.chain, "t": canonical_ts(since)},  # to the millisecond
    ).rows
    if not rows:
        return []
    seq, payload, event_id = rows[0]
    if check.verifier is None:
        return [f"chain {check.chain}: --since needs the verify key to trust checkpoint {event_id}"]
    if bad := check.verifier.check(payload):
        return [f"chain {check.chain} seq {seq} (event {event_id}): checkpoint {bad}"]
    p = orjson.loads(payload)
    check.last_seq, check.last_hash = int(p["seq"]), str(p["head"])
    check.last_checkpoint_seq = check.last_seq
    return []
