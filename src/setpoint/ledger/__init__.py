"""Stage 6, record: the append-only, hash-chained, checkpointed audit ledger in ClickHouse.

Input: ledger events from every stage (through the ``ledger`` topic). Output: rows in
``<db>.ledger``, each chained to the previous row of its chain, with signed checkpoints in the
chains, and the outcome views over them (``migrations/``). Invariants: rows are never updated or
deleted by the application; an event id is stored at most once; ``verify`` recomputes every
chain and checks every checkpoint.
"""

from setpoint.ledger.chain import GENESIS, ChainHead, canonical_ts, record_hash, row_hash
from setpoint.ledger.checkpoint import (
    CHECKPOINT_TYPE,
    CheckpointSigner,
    CheckpointVerifier,
)
from setpoint.ledger.record import Record, decode_record
from setpoint.ledger.store import COLUMNS, LedgerStore, QueryResult
from setpoint.ledger.verify import ChainCheck, VerifyReport, verify_rows, verify_store

__all__ = [
    "CHECKPOINT_TYPE",
    "COLUMNS",
    "GENESIS",
    "ChainCheck",
    "ChainHead",
    "CheckpointSigner",
    "CheckpointVerifier",
    "LedgerStore",
    "QueryResult",
    "Record",
    "VerifyReport",
    "canonical_ts",
    "decode_record",
    "record_hash",
    "row_hash",
    "verify_rows",
    "verify_store",
]
