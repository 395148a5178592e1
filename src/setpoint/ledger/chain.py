"""The hash chain: each ledger row carries the hash of the previous row of its chain.

Pure functions, shared by the writer (which extends chains) and ``ledger verify`` (which
recomputes them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from setpoint.ledger.record import Record

GENESIS = "0" * 64

CHAINED_FIELDS = (
    "event_id",
    "incident_id",
    "ts",
    "stage",
    "event_type",
    "entity_id",
    "service",
    "summary",
    "payload",
    "schema_version",
    "chain",
    "seq",
)
"""The columns a row's hash covers (``recorded_at`` is the store's, not the event's)."""


@dataclass(frozen=True)
class ChainHead:
    chain: str
    seq: int
    hash: str


def row_hash(prev_hash: str, fields: dict[str, object]) -> str:
    """The hash of one row given the previous row's hash.

    ``sha256(prev_hash + "\\x1f" + name + "=" + value + ...)`` over :data:`CHAINED_FIELDS` in
    order, values in canonical text (timestamps as ``YYYY-MM-DDTHH:MM:SS.mmmZ``).

    Examples
    --------
    >>> f = {k: "" for k in CHAINED_FIELDS}
    >>> len(row_hash(GENESIS, f)), row_hash(GENESIS, f) == row_hash(GENESIS, dict(f))
    (64, True)
    """
    parts = [prev_hash]
    for name in CHAINED_FIELDS:
        parts.append(f"\x1f{name}={_canonical(fields[name])}")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def record_hash(prev_hash: str, r: Record, chain: str, seq: int, ts: datetime | None = None) -> str:
    """:func:`row_hash` of a record about to become row ``seq`` of ``chain`` (the writer's fast
    path: the same bytes, without building a dict). ``ts``: ``r.ts`` already truncated."""
    text = (
        f"{prev_hash}\x1fevent_id={r.event_id}\x1fincident_id={r.incident_id}"
        f"\x1fts={canonical_ts(ts or r.ts)}\x1fstage={r.stage}\x1fevent_type={r.event_type}"
        f"\x1fentity_id={r.entity_id}\x1fservice={r.service}\x1fsummary={r.summary}"
        f"\x1fpayload={r.payload}\x1fschema_version={r.schema_version}\x1fchain={chain}"
        f"\x1fseq={seq}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def to_millis(ts: datetime) -> datetime:
    """``ts`` in UTC, truncated to the millisecond (what ``DateTime64(3)`` stores)."""
    if ts.tzinfo is UTC and ts.microsecond % 1000 == 0:
        return ts  # the common case, and the writer's hot path
    aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def canonical_ts(ts: datetime) -> str:
    """A timestamp as the chain hashes it: UTC, milliseconds, ``Z``.

    Examples
    --------
    >>> canonical_ts(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    '2026-01-02T03:04:05.678Z'
    """
    t = to_millis(ts)
    if t.year < 1000:  # strftime does not pad the year; isoformat does
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _canonical(value: object) -> str:
    if isinstance(value, datetime):
        return canonical_ts(value)
    return str(value)
