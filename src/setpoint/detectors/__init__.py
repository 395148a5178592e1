"""Stage 1, detect. Pure: no I/O, no wall clock.

Input: telemetry values with their event times, change events and silences. Output: anomalies
(firing / resolved, grouped per service, suppressed or not, with the changes in flight attached)
and periodic per-service health summaries. Invariants: a score is in [0, 1]; a row's score uses
only that row and the rows before it; per-series state is bounded.
"""

from setpoint.detectors.alerting import Alerter
from setpoint.detectors.base import Detector, make, register, registered, squash
from setpoint.detectors.context_ensemble import ContextEnsemble
from setpoint.detectors.counter_rate import CounterRate
from setpoint.detectors.ensemble import Ensemble
from setpoint.detectors.ewma_z import EwmaZ
from setpoint.detectors.flatline import Flatline
from setpoint.detectors.half_space import HalfSpace
from setpoint.detectors.level_shift import LevelShift
from setpoint.detectors.monitor import PROFILES, DetectionConfig, SeriesMonitor
from setpoint.detectors.quantile_z import QuantileZ
from setpoint.detectors.seasonal_z import SeasonalZ
from setpoint.detectors.stage import DetectionStage
from setpoint.detectors.transition import TransitionSurprise

__all__ = [
    "PROFILES",
    "Alerter",
    "ContextEnsemble",
    "CounterRate",
    "DetectionConfig",
    "DetectionStage",
    "Detector",
    "Ensemble",
    "EwmaZ",
    "Flatline",
    "HalfSpace",
    "LevelShift",
    "QuantileZ",
    "SeasonalZ",
    "SeriesMonitor",
    "TransitionSurprise",
    "make",
    "register",
    "registered",
    "squash",
]
