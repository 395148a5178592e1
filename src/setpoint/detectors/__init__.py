"""Stage 1, detect. Pure: no I/O, no wall clock.

Input: telemetry values with their event times, change events and silences. Output: anomalies
(firing / resolved, grouped per service, suppressed or not, with the changes in flight attached)
and periodic per-service health summaries. Invariants: a score is in [0, 1]; a row's score uses
only that row and the rows before it; per-series state is bounded.
"""

from setpoint.detectors import ewma_z as _ewma_z  # noqa: F401  (registers the detector)
from setpoint.detectors.base import Detector, make, register, registered
from setpoint.detectors.ewma_z import EwmaZ
from setpoint.detectors.stage import DetectionConfig, DetectionStage

__all__ = [
    "DetectionConfig",
    "DetectionStage",
    "Detector",
    "EwmaZ",
    "make",
    "register",
    "registered",
]
