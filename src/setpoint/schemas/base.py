"""Shared pieces of every schema: the frozen base model, ids, names and bounded text."""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION: Final = 1

ServiceName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", strict=True)
]
"""A service, host or other node name: 1-128 characters of letters, digits and ``._:/-``."""

MetricName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$", strict=True)
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, strict=True)]
ShortText = Annotated[str, StringConstraints(max_length=1024)]
LongText = Annotated[str, StringConstraints(max_length=16384)]
Timestamp = AwareDatetime
"""Event time. Accepts an ISO-8601 string with a zone, or unix seconds (read as UTC)."""


def _finite(v: float) -> float:
    if not math.isfinite(v):
        msg = "must be a finite number (NaN and infinity are not measurements)"
        raise ValueError(msg)
    return v


FiniteFloat = Annotated[float, AfterValidator(_finite)]
Labels = Annotated[dict[str, str], Field(max_length=32)]


_ids: random.Random | None = None


def new_id(prefix: str) -> str:
    """A fresh unique id with a readable prefix (random; reproducible after ``seed_ids``).

    Examples
    --------
    >>> new_id("inc").startswith("inc-")
    True
    """
    if _ids is not None:
        return f"{prefix}-{_ids.getrandbits(80):020x}"
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def seed_ids(seed: int | None) -> None:
    """Make ``new_id`` reproducible (a simulation run under a seed), or random again (``None``).

    Examples
    --------
    >>> seed_ids(7); a = new_id("x"); seed_ids(7); b = new_id("x"); seed_ids(None)
    >>> a == b
    True
    """
    global _ids  # one switch for the whole process, set by the simulation runner
    _ids = random.Random(seed) if seed is not None else None


class Event(BaseModel):
    """Base of every payload on a topic: frozen, strict about unknown fields, versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=65536)

    schema_version: Literal[1] = SCHEMA_VERSION


def epoch(ts: datetime) -> float:
    """Unix seconds of an aware timestamp (the detectors and clocks work in floats)."""
    return ts.timestamp()
