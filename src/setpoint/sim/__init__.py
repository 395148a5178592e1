"""The simulated fleet and its fault scenarios.

Input: a scenario (``scenarios/*.yaml``: services, dependencies, load, a timeline of faults and
changes), a seed, and actions (verbs on targets). Output: telemetry events (metrics, logs, trace
spans, change events, health checks) in simulated time, and the fleet's answers to actions.
Invariants: the model (:mod:`spec`, :mod:`state`, :mod:`physics`, :mod:`emit`, :mod:`faults`,
:mod:`actions`, :mod:`undo`, :mod:`fleet`, :mod:`scenario`) does no I/O and reads no clock, and is
deterministic under its seed; effects are causal (an action repairs a fault only by changing the
state the fault broke) and land after realistic delays. Only :mod:`runner` talks to Kafka and
serves the HTTP control API.
"""

from setpoint.sim.actions import ApplyResult
from setpoint.sim.faults import (
    FAULTS,
    BadDeploy,
    DependencyOutage,
    ExpiredCertificate,
    ExpiredCredential,
    Fault,
    GroundTruth,
    MemoryLeak,
    Novel,
    PlannedChange,
    PoisonedCache,
    Saturation,
)
from setpoint.sim.fleet import Fleet
from setpoint.sim.physics import Reading
from setpoint.sim.spec import Dependency, FleetSpec, LoadProfile, ServiceSpec

__all__ = [
    "FAULTS",
    "ApplyResult",
    "BadDeploy",
    "Dependency",
    "DependencyOutage",
    "ExpiredCertificate",
    "ExpiredCredential",
    "Fault",
    "Fleet",
    "FleetSpec",
    "GroundTruth",
    "LoadProfile",
    "MemoryLeak",
    "Novel",
    "PlannedChange",
    "PoisonedCache",
    "Reading",
    "Saturation",
    "ServiceSpec",
]
