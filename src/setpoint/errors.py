"""The one error tree of Setpoint.

Every error the project raises on purpose is a ``SetpointError``; each class carries a stable
``code`` string that the ledger and the dead-letter records store and the README explains::

    SetpointError                       setpoint
    ├── ConfigError                     config          settings, policy or topology files
    │   ├── PolicyFileError             config.policy   names file, line and field
    │   ├── TopologyFileError           config.topology names file, line and field
    │   └── ScenarioFileError           config.scenario names file, line and field
    ├── InputError                      input           bad input; never crashes a worker
    │   ├── DecodeError                 input.decode    not JSON / too large / too deep
    │   ├── SchemaError                 input.schema    JSON of the wrong shape for its topic
    │   ├── ClockSkewError              input.clock_skew  an event time implausibly far from now
    │   ├── CaseFormatError             input.case      a benchmark case folder or CSV is malformed
    │   ├── RecordingError              input.recording a recording (scenarios record) is unreadable
    │   └── ApprovalClosedError         input.approval_closed  already answered, or expired
    ├── InfraError                      infra           a service we depend on misbehaved
    │   ├── BrokerError                 infra.broker    Kafka unreachable, topic missing
    │   └── LedgerStoreError            infra.ledger    ClickHouse unreachable or refused a write
    ├── SecurityError                   security        a command failed verification
    │   ├── SignatureError              security.signature  forged or tampered
    │   ├── ExpiredCommandError         security.expired    past its expiry
    │   ├── ReplayError                 security.replay     idempotency key seen before
    │   ├── RevokedError                security.revoked    covered by a freeze or a revocation
    │   ├── ControlStateError           security.control_state  kill switch state unconfirmed
    │   ├── SelfApprovalError           security.self_approval  a requester answering itself
    │   └── AuthError                   security.auth       no or a wrong token (HTTP endpoints)
    ├── ActuatorError                   actuator        a backend call failed
    │   ├── PreconditionError           actuator.precondition  the verb's precondition does not hold
    │   │   └── UnknownTargetError      actuator.unknown_target  the backend has no such target
    │   ├── BackendError                actuator.backend       the backend refused or is unreachable
    │   └── RepeatLimitError            actuator.repeat        the same verb on the same target
    │                                                          too often (a remediation loop)
    └── InternalError                   internal        a stage raised something unexpected (a bug)

``InternalError`` is never raised by a stage: the one boundary in ``streams/runtime.py`` wraps
what a stage raised by surprise in it, dead-letters the input that caused it, and carries on.

Policy refusals, failed verifications and rollbacks are *outcomes* (values in the schemas), not
errors.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SetpointError(Exception):
    """Base of every deliberate Setpoint error.

    Parameters
    ----------
    message
        A sentence a human can act on.
    context
        Objects that explain the error (the offending value, the file, the topic...). Kept on the
        exception so a handler can record them without parsing the message.

    Examples
    --------
    >>> err = SchemaError("field 'value' is not a number", context={"topic": "telemetry.metrics"})
    >>> err.code, err.context["topic"]
    ('input.schema', 'telemetry.metrics')
    """

    code: ClassVar[str] = "setpoint"

    def __init__(self, message: str, *, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = dict(context or {})


class ConfigError(SetpointError):
    code = "config"


class _FileLocatedError(ConfigError):
    """A configuration file error that names the file, the line and the field."""

    def __init__(
        self, message: str, *, path: str, line: int | None = None, field: str | None = None
    ) -> None:
        where = path if line is None else f"{path}:{line}"
        full = f"{where}: {field + ': ' if field else ''}{message}"
        super().__init__(full, context={"path": path, "line": line, "field": field})
        self.path = path
        self.line = line
        self.field = field


class PolicyFileError(_FileLocatedError):
    code = "config.policy"


class TopologyFileError(_FileLocatedError):
    code = "config.topology"


class ScenarioFileError(_FileLocatedError):
    code = "config.scenario"


class InputError(SetpointError):
    code = "input"


class DecodeError(InputError):
    code = "input.decode"


class SchemaError(InputError):
    code = "input.schema"


class ClockSkewError(InputError):
    code = "input.clock_skew"


class CaseFormatError(InputError):
    code = "input.case"


class RecordingError(InputError):
    """A telemetry recording (``setpoint scenarios record``) that cannot be read: the message
    names the file and the line."""

    code = "input.recording"


class ApprovalClosedError(InputError):
    code = "input.approval_closed"


class InfraError(SetpointError):
    code = "infra"


class BrokerError(InfraError):
    code = "infra.broker"


class LedgerStoreError(InfraError):
    code = "infra.ledger"


class SecurityError(SetpointError):
    code = "security"


class SignatureError(SecurityError):
    code = "security.signature"


class ExpiredCommandError(SecurityError):
    code = "security.expired"


class ReplayError(SecurityError):
    code = "security.replay"


class RevokedError(SecurityError):
    code = "security.revoked"


class ControlStateError(SecurityError):
    code = "security.control_state"


class SelfApprovalError(SecurityError):
    code = "security.self_approval"


class AuthError(SecurityError):
    code = "security.auth"


class ActuatorError(SetpointError):
    code = "actuator"


class PreconditionError(ActuatorError):
    code = "actuator.precondition"


class UnknownTargetError(PreconditionError):
    code = "actuator.unknown_target"


class BackendError(ActuatorError):
    code = "actuator.backend"


class RepeatLimitError(ActuatorError):
    code = "actuator.repeat"


class InternalError(SetpointError):
    code = "internal"


def all_error_classes() -> list[type[SetpointError]]:
    """Every class of the tree, root first (for docs and for the code-uniqueness test)."""
    out: list[type[SetpointError]] = []
    stack: list[type[SetpointError]] = [SetpointError]
    while stack:
        cls = stack.pop(0)
        out.append(cls)
        stack.extend(c for c in cls.__subclasses__() if not c.__name__.startswith("_"))
        stack.extend(
            g
            for c in cls.__subclasses__()
            if c.__name__.startswith("_")
            for g in c.__subclasses__()
        )
    return out
