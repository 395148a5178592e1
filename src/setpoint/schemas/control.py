"""Control data: silences (maintenance windows) and the revocation / freeze epoch."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from setpoint.schemas.base import Event, Id, ServiceName, ShortText, Timestamp


class Silence(Event):
    """Quiet alerts of ``service`` (``*`` for all) between ``starts_at`` and ``ends_at``.

    Suppressed alerts are still recorded, marked as suppressed, with this silence's id.
    """

    kind: Literal["silence"] = "silence"
    silence_id: Id
    service: ServiceName | Literal["*"]
    starts_at: Timestamp
    ends_at: Timestamp
    reason: ShortText = ""
    created_by: Annotated[str, Field(max_length=128)] = ""

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            msg = "ends_at must be after starts_at"
            raise ValueError(msg)
        return self


class ControlAction(StrEnum):
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    REVOKE = "revoke"
    RESTORE = "restore"


class ControlEvent(Event):
    """A kill-switch event. Each one bumps the epoch; the actuator checks it on every command."""

    kind: Literal["control"] = "control"
    control_id: Id
    action: ControlAction
    epoch: Annotated[int, Field(ge=0)]
    ts: Timestamp
    agent: Annotated[str, Field(max_length=128)] = "*"
    verb: Annotated[str, Field(max_length=64)] = "*"
    scope: Annotated[str, Field(max_length=128)] = "*"
    issued_by: Annotated[str, Field(max_length=128)] = ""
    reason: ShortText = ""
