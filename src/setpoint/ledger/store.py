"""The ClickHouse ledger store: the same client and SQL for the embedded engine (``chdb://``)
and a server (``http://...``). Applies its own migrations, idempotently."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import clickhouse_connect
import orjson

from setpoint.errors import LedgerStoreError
from setpoint.ledger.chain import GENESIS, ChainHead, row_hash, to_millis
from setpoint.schemas import LedgerEvent

COLUMNS = (
    "event_id",
    "incident_id",
    "ts",
    "recorded_at",
    "stage",
    "event_type",
    "entity_id",
    "service",
    "summary",
    "payload",
    "schema_version",
    "chain",
    "seq",
    "prev_hash",
    "hash",
)
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


class LedgerStore:
    """One connection to the ledger database.

    Parameters
    ----------
    dsn
        ``chdb:///abs/path`` (embedded; one process per path) or ``http://user:pw@host:8123``.
    database
        The database the ledger lives in (created if missing).
    retention_days
        The TTL of ledger rows.
    """

    def __init__(self, dsn: str, database: str = "setpoint", retention_days: int = 400) -> None:
        if not _DB_NAME.match(database):
            msg = f"invalid ledger database name {database!r}"
            raise LedgerStoreError(msg, context={"database": database})
        self.dsn = dsn
        self.database = database
        self.retention_days = retention_days
        self._client: Any = None
        # One client may be shared by threads (the sink and a reader); the embedded engine
        # serves one query at a time.
        self._lock = threading.RLock()

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = clickhouse_connect.get_client(dsn=self.dsn)
            except Exception as exc:
                msg = f"cannot open the ledger at {self._safe_dsn()}: {exc}"
                raise LedgerStoreError(msg, context={"dsn": self._safe_dsn()}) from exc
        return self._client

    def _safe_dsn(self) -> str:
        return re.sub(r"//[^@/]*@", "//***@", self.dsn)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply every migration file in order (each is idempotent); return their names."""
        self._command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        applied = []
        files = sorted(
            (f for f in resources.files("setpoint.ledger.migrations").iterdir()),
            key=lambda f: f.name,
        )
        for f in files:
            if not f.name.endswith(".sql"):
                continue
            sql = f.read_text().replace("{db}", self.database)
            sql = sql.replace("{retention_days}", str(int(self.retention_days)))
            for stmt in (s.strip() for s in sql.split(";")):
                if stmt and not all(line.startswith("--") for line in stmt.splitlines()):
                    self._command(stmt)
            applied.append(f.name)
        return applied

    def _command(self, sql: str) -> Any:
        try:
            with self._lock:
                return self.client.command(sql)
        except LedgerStoreError:
            raise
        except Exception as exc:
            msg = f"ledger command failed: {exc}"
            raise LedgerStoreError(msg, context={"sql": sql[:200]}) from exc

    # -- writing -----------------------------------------------------------------------------
    def heads(self) -> dict[str, ChainHead]:
        rows = self.query(
            f"SELECT chain, argMax(seq, seq), argMax(hash, seq) FROM {self.database}.ledger "
            "GROUP BY chain"
        ).rows
        return {r[0]: ChainHead(r[0], int(r[1]), str(r[2])) for r in rows}

    def existing_ids(self, event_ids: list[str]) -> set[str]:
        if not event_ids:
            return set()
        res = self.query(
            f"SELECT event_id FROM {self.database}.ledger WHERE event_id IN %(ids)s",
            {"ids": event_ids},
        )
        return {r[0] for r in res.rows}

    def append(self, events: list[LedgerEvent], chain: str, head: ChainHead | None) -> ChainHead:
        """Chain and insert ``events`` (de-duplicated by the caller); return the new head."""
        seq = head.seq if head else 0
        prev = head.hash if head else GENESIS
        now = to_millis(datetime.now(UTC))
        rows = []
        for ev in events:
            seq += 1
            fields: dict[str, Any] = {
                "event_id": ev.event_id,
                "incident_id": ev.incident_id,
                "ts": to_millis(ev.ts),
                "stage": str(ev.stage),
                "event_type": ev.event_type,
                "entity_id": ev.entity_id,
                "service": ev.service,
                "summary": ev.summary,
                "payload": orjson.dumps(ev.payload, option=orjson.OPT_SORT_KEYS).decode(),
                "schema_version": ev.schema_version,
                "chain": chain,
                "seq": seq,
            }
            h = row_hash(prev, fields)
            rows.append(
                [
                    *(fields[c] for c in COLUMNS[:3]),
                    now,
                    *(fields[c] for c in COLUMNS[4:13]),
                    prev,
                    h,
                ]
            )
            prev = h
        if rows:
            self._insert(rows)
        return ChainHead(chain, seq, prev)

    def _insert(self, rows: list[list[Any]]) -> None:
        try:
            with self._lock:
                self.client.insert(f"{self.database}.ledger", rows, column_names=list(COLUMNS))
        except Exception as exc:
            msg = f"ledger insert of {len(rows)} rows failed: {exc}"
            raise LedgerStoreError(msg, context={"rows": len(rows)}) from exc

    # -- reading -----------------------------------------------------------------------------
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        try:
            with self._lock:
                res = self.client.query(sql, parameters=parameters)
        except Exception as exc:
            msg = f"ledger query failed: {exc}"
            raise LedgerStoreError(msg, context={"sql": sql[:200]}) from exc
        return QueryResult(tuple(res.column_names), [tuple(r) for r in res.result_rows])

    def story(self, ident: str) -> list[dict[str, Any]]:
        """Every row of an incident (or of the incident an action / entity belongs to), in order."""
        db = self.database
        res = self.query(
            f"SELECT {', '.join(COLUMNS)} FROM {db}.ledger WHERE incident_id IN ("
            f"SELECT incident_id FROM {db}.ledger WHERE incident_id = %(id)s OR entity_id = %(id)s "
            "OR event_id = %(id)s"
            ") ORDER BY ts, recorded_at, seq",
            {"id": ident},
        )
        return [dict(zip(res.columns, r, strict=True)) for r in res.rows]

    def verify(self) -> list[str]:
        """Recompute every chain; return one line per problem (empty when the ledger is intact)."""
        res = self.query(
            f"SELECT {', '.join(COLUMNS)} FROM {self.database}.ledger ORDER BY chain, seq"
        )
        return verify_rows([dict(zip(res.columns, r, strict=True)) for r in res.rows])


def verify_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Problems in chained rows sorted by (chain, seq): altered, missing, reordered, inserted."""
    problems: list[str] = []
    prev_by_chain: dict[str, tuple[int, str]] = {}
    for row in rows:
        chain, seq = row["chain"], int(row["seq"])
        last_seq, last_hash = prev_by_chain.get(chain, (0, GENESIS))
        where = f"chain {chain} seq {seq} (event {row['event_id']})"
        if seq != last_seq + 1:
            problems.append(f"{where}: expected seq {last_seq + 1} (a row is missing or inserted)")
        if row["prev_hash"] != last_hash:
            problems.append(f"{where}: prev_hash does not match the previous row's hash")
        if row_hash(row["prev_hash"], row) != row["hash"]:
            problems.append(f"{where}: content does not match its hash (the row was altered)")
        prev_by_chain[chain] = (seq, row["hash"])
    return problems
