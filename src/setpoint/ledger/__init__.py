"""Stage 6, record: the append-only, hash-chained audit ledger in ClickHouse.

Input: ledger events from every stage (through the ``ledger`` topic). Output: rows in
``<db>.ledger``, each chained to the previous row of its chain. Invariants: rows are never
updated or deleted by the application; an event id is stored at most once; ``verify`` recomputes
every chain.
"""

from setpoint.ledger.chain import GENESIS, ChainHead, row_hash
from setpoint.ledger.store import LedgerStore, QueryResult, verify_rows

__all__ = ["GENESIS", "ChainHead", "LedgerStore", "QueryResult", "row_hash", "verify_rows"]
