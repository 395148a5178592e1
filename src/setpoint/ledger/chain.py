"""The hash chain: each ledger row carries the hash of the previous row of its chain.

Pure functions, shared by the writer (which extends chains) and ``ledger verify`` (which
recomputes them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

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

    Examples
    --------
    >>> f = {k: "" for k in CHAINED_FIELDS}
    >>> len(row_hash(GENESIS, f)), row_hash(GENESIS, f) == row_hash(GENESIS, dict(f))
    (64, True)
    """
    h = hashlib.sha256(prev_hash.encode())
    for name in CHAINED_FIELDS:
        value = fields[name]
        h.update(b"\x1f")
        h.update(name.encode())
        h.update(b"=")
        h.update(_canonical(value).encode())
    return h.hexdigest()


def to_millis(ts: datetime) -> datetime:
    """``ts`` in UTC, truncated to the millisecond (what ``DateTime64(3)`` stores)."""
    aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def _canonical(value: object) -> str:
    if isinstance(value, datetime):
        return to_millis(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(value)
