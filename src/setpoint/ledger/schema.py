"""Versioned migrations: the ledger applies its own DDL, in order, to the embedded engine and to a
server alike, and records what it applied in ``<db>.schema_migrations``.

Each file ``migrations/NNNN_name.sql`` is a list of ``;``-separated statements (comments are
whole lines starting with ``--``) with two placeholders: ``{db}`` (the database) and
``{retention_days}``. Every statement is idempotent
(``IF NOT EXISTS``, ``OR REPLACE``), so a run interrupted between a statement and its bookkeeping
row, or two processes migrating at once, leave the same schema. A file already applied is
skipped; a file whose text changed after it was applied is refused (write a new migration).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from setpoint.errors import LedgerStoreError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_TTL_DAYS = re.compile(r"TTL toDateTime\(recorded_at\) \+ toIntervalDay\((\d+)\)")


class _Runner(Protocol):
    database: str

    def command(self, sql: str) -> Any: ...

    def query_rows(self, sql: str) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def statements(self, database: str, retention_days: int) -> list[str]:
        """The statements of this file for ``database``, comments dropped.

        Examples
        --------
        >>> m = Migration(1, "0001_x.sql", "-- a table\\nCREATE TABLE {db}.t (a UInt8);\\n")
        >>> m.statements("ledger", 30)
        ['CREATE TABLE ledger.t (a UInt8)']
        """
        sql = text_for(self.text, database, retention_days)
        lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def text_for(text: str, database: str, retention_days: int) -> str:
    return text.replace("{db}", database).replace("{retention_days}", str(int(retention_days)))


def migrations() -> list[Migration]:
    """The migration files shipped with the package, in version order."""
    out = []
    for f in resources.files("setpoint.ledger.migrations").iterdir():
        m = _NAME.match(f.name)
        if m:
            out.append(Migration(int(m.group(1)), f.name, f.read_text()))
    return sorted(out, key=lambda m: m.version)


def migrate(db: _Runner, retention_days: int) -> list[str]:
    """Apply every pending migration; return the names applied now (empty when up to date)."""
    db.command(f"CREATE DATABASE IF NOT EXISTS {db.database}")
    db.command(
        f"CREATE TABLE IF NOT EXISTS {db.database}.schema_migrations (version UInt32, "
        "name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )
    done = {int(v): c for v, c in db.query_rows(
        f"SELECT version, any(checksum) FROM {db.database}.schema_migrations GROUP BY version"
    )}  # fmt: skip
    applied = []
    for m in migrations():
        if m.version in done:
            if done[m.version] != m.checksum:
                msg = f"migration {m.name} changed after it was applied; add a new migration"
                raise LedgerStoreError(msg, context={"migration": m.name})
            continue
        for stmt in m.statements(db.database, retention_days):
            db.command(stmt)
        db.command(
            f"INSERT INTO {db.database}.schema_migrations (version, name, checksum) "
            f"VALUES ({m.version}, '{m.name}', '{m.checksum}')"
        )
        applied.append(m.name)
    _ensure_retention(db, retention_days)
    return applied


def _ensure_retention(db: _Runner, retention_days: int) -> None:
    """Make the ledger's TTL the configured retention (a metadata change; rows are untouched
    unless they are older than the new retention)."""
    rows = db.query_rows(
        "SELECT engine_full FROM system.tables "
        f"WHERE database = '{db.database}' AND name = 'ledger'"
    )
    m = _TTL_DAYS.search(rows[0][0]) if rows else None
    if m is None or int(m.group(1)) == int(retention_days):
        return
    for table in ("ledger", "ledger_ids"):
        db.command(
            f"ALTER TABLE {db.database}.{table} MODIFY TTL toDateTime(recorded_at) + "
            f"INTERVAL {int(retention_days)} DAY"
        )
