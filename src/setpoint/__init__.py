"""Setpoint: a self-healing infrastructure engine.

Telemetry arrives on Kafka; the stream stages detect, diagnose and decide; the actuator executes
within the policy envelope and verifies; every step lands in an append-only ClickHouse ledger.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
