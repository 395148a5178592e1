"""The ClickHouse ledger store: the same client and SQL for the embedded engine (``chdb://``)
and a server (``http://...``). Applies its own migrations (``schema.py``), chains and inserts rows,
and answers the reads (``story``, ``query``). The application only ever inserts."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import clickhouse_connect

from setpoint.errors import LedgerStoreError
from setpoint.ledger import schema
from setpoint.ledger.chain import GENESIS, ChainHead, record_hash, to_millis
from setpoint.ledger.record import Record

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
"""The stored columns of a row, in insert order (the derived columns are computed by ClickHouse)."""

_TS = "DateTime64(3, 'UTC')"
_INSERT_TYPES = ("String", "String", _TS, _TS, "String", "String", "String", "String", "String",
                 "String", "UInt8", "String", "UInt64", "String", "String")  # fmt: skip
"""The types the rows are sent as: plain ``String`` for the ``LowCardinality`` columns, which
ClickHouse converts on insert (building their dictionaries in Python costs a quarter of the
insert)."""

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ID_TEXT = re.compile(r"^[A-Za-z0-9._:/@-]{1,128}$")


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


class LedgerStore:
    """One connection to the ledger database.

    Parameters
    ----------
    dsn
        ``chdb:///abs/path`` (embedded; one process per path) or ``http://user:pw@host:8123``.
    database
        The database the ledger lives in (created if missing).
    retention_days
        The TTL of ledger rows (applied to an existing table by ``migrate``).
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
                msg = f"cannot open the ledger at {self._safe_dsn()}: {_first_line(exc)}"
                if self.dsn.startswith("chdb:"):
                    msg += (
                        " (the embedded engine serves one process at a time: is another using it?)"
                    )
                raise LedgerStoreError(msg, context={"dsn": self._safe_dsn()}) from exc
        return self._client

    @property
    def is_open(self) -> bool:
        return self._client is not None

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    def _safe_dsn(self) -> str:
        return re.sub(r"//[^@/]*@", "//***@", self.dsn)

    def close(self) -> None:
        """Let go of the connection (for the embedded engine: of its data path, so another process
        can open it). The next call opens it again."""
        with self._lock:
            if self._client is not None:
                client, self._client = self._client, None
                client.close()

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the pending migrations (idempotent); return the names applied now."""
        return schema.migrate(self, self.retention_days)

    def command(self, sql: str) -> Any:
        try:
            with self._lock:
                return self.client.command(sql)
        except LedgerStoreError:
            raise
        except Exception as exc:
            msg = f"ledger command failed: {_first_line(exc)}"
            raise LedgerStoreError(msg, context={"sql": sql[:200]}) from exc

    def query_rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.query(sql).rows

    # -- writing -----------------------------------------------------------------------------
    def heads(self) -> dict[str, ChainHead]:
        """The last row of every chain (where the sink continues each chain)."""
        db = self.database
        rows = self.query(
            f"SELECT chain, seq, hash FROM {db}.ledger WHERE (chain, seq) IN "
            f"(SELECT chain, max(seq) FROM {db}.ledger GROUP BY chain)"
        ).rows
        return {r[0]: ChainHead(r[0], int(r[1]), str(r[2])) for r in rows}

    def existing_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` are stored already (the sink's de-duplication)."""
        if not event_ids:
            return set()
        # A batch's ids are sent as one literal list: let the query be as long as it needs.
        res = self.query(
            f"SELECT event_id FROM {self.database}.ledger WHERE event_id IN %(ids)s",
            {"ids": list(event_ids)},
            settings={"max_query_size": 64 * 1024 * 1024},
        )
        return {r[0] for r in res.rows}

    def recent_ids(self, heads: Iterable[ChainHead], rows: int) -> list[str]:
        """The event ids of the newest ``rows`` rows of each chain (oldest first)."""
        where = " OR ".join(
            f"(chain = '{h.chain}' AND seq > {int(h.seq) - int(rows)})"
            for h in heads
            if _DB_NAME.match(h.chain)
        )
        if not where:
            return []
        return [r[0] for r in self.query_rows(
            f"SELECT event_id FROM {self.database}.ledger WHERE {where} ORDER BY chain, seq"
        )]  # fmt: skip

    def append(self, records: Sequence[Record], chain: str, head: ChainHead | None) -> ChainHead:
        """Chain and insert ``records`` (de-duplicated by the caller); return the new head."""
        seq = head.seq if head else 0
        prev = head.hash if head else GENESIS
        now = to_millis(datetime.now(UTC))
        rows = []
        for r in records:
            seq += 1
            ts = to_millis(r.ts)
            h = record_hash(prev, r, chain, seq, ts)
            rows.append((r.event_id, r.incident_id, ts, now, r.stage, r.event_type,
                         r.entity_id, r.service, r.summary, r.payload, r.schema_version, chain,
                         seq, prev, h))  # fmt: skip
            prev = h
        if rows:
            self._insert([list(c) for c in zip(*rows, strict=True)])
        return ChainHead(chain, seq, prev)

    def _insert(self, columns: list[list[Any]]) -> None:
        try:
            with self._lock:
                self.client.insert(f"{self.database}.ledger", columns,
                                   column_names=list(COLUMNS), column_oriented=True,
                                   column_type_names=list(_INSERT_TYPES))  # fmt: skip
        except Exception as exc:
            msg = f"ledger insert of {len(columns[0])} rows failed: {_first_line(exc)}"
            raise LedgerStoreError(msg, context={"rows": len(columns[0])}) from exc

    # -- reading -----------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult:
        try:
            with self._lock:
                res = self.client.query(sql, parameters=parameters, settings=settings)
        except LedgerStoreError:
            raise
        except Exception as exc:
            msg = f"ledger query failed: {_first_line(exc)}"
            raise LedgerStoreError(msg, context={"sql": sql[:200]}) from exc
        return QueryResult(tuple(res.column_names), [tuple(r) for r in res.result_rows])

    def stream(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rows of ``sql`` as dicts, streamed block by block (for scans of the whole ledger)."""
        try:
            with self._lock, self.client.query_row_block_stream(sql, parameters=parameters) as s:
                names = s.source.column_names
                for block in s:
                    for row in block:
                        yield dict(zip(names, row, strict=True))
        except LedgerStoreError:
            raise
        except Exception as exc:
            msg = f"ledger query failed: {_first_line(exc)}"
            raise LedgerStoreError(msg, context={"sql": sql[:200]}) from exc

    def resolve(self, ident: str) -> list[str]:
        """The incidents ``ident`` names: an incident, action, approval, anomaly or event id, or a
        unique suffix of one (``8fab97``, the tag the demo prints), or another unique part of one.
        Several when it is ambiguous; an event that belongs to no incident names itself."""
        if not _ID_TEXT.match(ident):
            return []
        db, rid = self.database, ident[::-1]
        # Exact, then a suffix (a primary-key range each), then any part (a scan of the ids).
        for where in ("rid = %(rid)s", "startsWith(rid, %(rid)s)", "position(rid, %(rid)s) > 0"):
            found = self.query_rows_p(
                f"SELECT DISTINCT incident_id FROM {db}.ledger_ids WHERE {where} LIMIT 50",
                {"rid": rid},
            )
            if found:
                return sorted(r[0] for r in found)
        # Rows of no incident (detection's own anomalies, control events, checkpoints).
        alone = self.query_rows_p(
            f"SELECT event_id FROM {db}.ledger WHERE incident_id = '' AND "
            "(event_id = %(id)s OR entity_id = %(id)s) LIMIT 50",
            {"id": ident},
        )
        return sorted({r[0] for r in alone})

    def query_rows_p(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.query(sql, parameters).rows

    def story(self, ident: str) -> list[dict[str, Any]]:
        """Every row of the incident ``ident`` names (see ``resolve``), in order; an event that
        belongs to no incident is its own story. Empty when nothing (or several) match."""
        found = self.resolve(ident)
        if len(found) != 1:
            return []
        cols = ", ".join([*COLUMNS, "verb", "actor", "ref_id", "onset"])
        rows = self.query(
            f"SELECT {cols} FROM {self.database}.ledger WHERE incident_id = %(id)s "
            "ORDER BY ts, recorded_at, chain, seq",
            {"id": found[0]},
        ).dicts()
        if rows:
            return rows
        return self.query(
            f"SELECT {cols} FROM {self.database}.ledger WHERE event_id = %(id)s",
            {"id": found[0]},
        ).dicts()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__
