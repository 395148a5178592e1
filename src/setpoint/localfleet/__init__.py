"""The local fleet: real processes on this machine that Setpoint manages and heals.

Input: a fleet file and a scenario (``scenarios/local/*.yaml``), and primitive operations from
the local backend (``actuators.local_backend``) through the control API. Output: telemetry measured
from outside the services (the simulated fleet's schemas, on the same topics) and the exact
operations performed (command lines, signals, files). Invariants: every replica is a real
process that dies with the fleet (``PR_SET_PDEATHSIG``); certificates, credentials and caches
are real files; every operation is recorded; a replica (:mod:`service`, run as a script) imports
nothing but the standard library.
"""

from setpoint.localfleet.faults import Injector
from setpoint.localfleet.fleet import LocalFleet
from setpoint.localfleet.runner import LocalFleetRunner
from setpoint.localfleet.spec import LocalFleetSpec, LocalScenario, load_fleet, load_scenario

__all__ = [
    "Injector",
    "LocalFleet",
    "LocalFleetRunner",
    "LocalFleetSpec",
    "LocalScenario",
    "load_fleet",
    "load_scenario",
]
