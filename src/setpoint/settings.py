"""The one Settings object: read once at start-up from ``SETPOINT_*`` variables, passed down.

Core modules never read the environment; edges get a ``Settings`` from the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_CONFIG = Path("config")


class Settings(BaseSettings):
    """Every knob Setpoint reads. Each field is the variable ``SETPOINT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SETPOINT_", frozen=True, extra="ignore")

    broker: str = "127.0.0.1:19092"
    """Kafka bootstrap servers, ``host:port[,host:port]``."""
    topic_prefix: str = "setpoint."
    """Prefix of every topic name (tests use a fresh one each)."""
    partitions: Annotated[int, Field(ge=1, le=1024)] = 4
    """Default partition count of keyed topics when the project creates them."""
    data_dir: Path = Path(".setpoint")
    """Local state: the embedded ledger, the actuator's execution record, trust scores."""
    ledger_dsn: str = ""
    """ClickHouse DSN. Empty means the embedded engine: ``chdb://<data_dir>/ledger``."""
    ledger_database: str = "setpoint"
    ledger_retention_days: Annotated[int, Field(ge=1)] = 400
    """How long ledger rows are kept (a TTL on when they were recorded); applied on start."""
    ledger_checkpoint_key: SecretStr | None = None
    """The Ed25519 key (64 hex digits) the ledger sink signs checkpoints with; falls back to
    ``ledger_checkpoint_key_path``, then to ``<data_dir>/ledger-checkpoint.key`` (created)."""
    ledger_checkpoint_key_path: Path | None = None
    ledger_verify_key: str = ""
    """The public key (64 hex digits) ``ledger verify`` trusts; empty: derived from the signing
    key when this machine has it."""
    ledger_checkpoint_every: Annotated[int, Field(ge=1)] = 10000
    """A chain is checkpointed after this many new rows..."""
    ledger_checkpoint_interval_s: Annotated[float, Field(gt=0)] = 60.0
    """...or once its newest rows are this old, whichever comes first."""
    ledger_release_idle_s: Annotated[float, Field(ge=0)] = 0.0
    """Embedded engine only: the sink lets go of the ledger's data path after this many idle
    seconds, so another process (``setpoint ledger query``) can open it; 0 holds it."""
    clock_speed: Annotated[float, Field(gt=0, le=10000)] = 1.0
    """How much faster than real time the simulated fleet runs."""
    policy_path: Path = _REPO_CONFIG / "policy.yaml"
    topology_path: Path = _REPO_CONFIG / "topology.yaml"
    signing_key: SecretStr | None = None
    """The key the decide stage signs commands with; falls back to ``signing_key_path``."""
    signing_key_path: Path | None = None
    """An Ed25519 PEM private key (or an HMAC secret in hex); default ``data_dir/signing.key``,
    created as Ed25519 when missing."""
    verify_key_path: Path | None = None
    """The actuator's Ed25519 PEM public key; unset: it verifies with the signing key."""
    agent_id: str = "setpoint.decide"
    worker_id: str = ""
    app_id: str = "setpoint"
    """The Kafka consumer-group id of the stream workers (one per deployment)."""
    fleet_url: str = "http://127.0.0.1:18600"
    """Where the fleet's control API listens (the actuator's backend calls it)."""
    backend: Literal["sim", "local"] = "sim"
    """What the actuator acts on: the simulated fleet, or the local fleet of real processes."""
    escalation_webhook: str = ""
    approvals_token: SecretStr | None = None
    """A shared token for ``setpoint approvals serve``; the request names the approver."""
    approvals_tokens_path: Path | None = None
    """A file of ``NAME TOKEN`` lines: each approver's own token (the identity comes from it)."""
    log_level: str = "warn"
    agents: str = "detect,diagnose,decide,verify"
    """The stages ``setpoint worker`` runs (comma-separated; e.g. ``detect`` alone for a
    detection-only tier, or for the throughput benchmark)."""
    checkpoint_interval_s: Annotated[float, Field(gt=0)] = 10.0
    """How often the detect stage checkpoints its per-service state (and so how much telemetry a
    worker that dies unannounced leaves to be replayed). Incident stages checkpoint every second
    and before every output."""
    checkpoint_max_pending: Annotated[int, Field(ge=1)] = 100_000
    """A checkpoint is also taken once this many input messages wait for one (bounds memory)."""
    clock_max_step_s: Annotated[float, Field(ge=0)] = 900.0
    """One event more than this far ahead of a stage's event time does not move it unless a
    second source agrees (a skewed producer cannot drag the stages into its future); 0: off."""
    max_future_s: Annotated[float, Field(ge=0)] = 7 * 86400.0
    """Input whose event time is further ahead of this worker's wall clock is dead-lettered
    (``input.clock_skew``); simulations that run ahead of real time stay well inside. 0: off."""
    max_past_s: Annotated[float, Field(ge=0)] = 30 * 86400.0
    """Input whose event time is further behind the wall clock is dead-lettered; 0: off."""
    session_timeout_s: Annotated[float, Field(ge=6, le=300)] = 10.0
    """How long the group waits for a silent worker before its partitions move (a worker killed
    unannounced is taken over after this long)."""
    status_interval_s: Annotated[float, Field(gt=0)] = 1.0
    """How often a worker writes its status file (``data_dir/status/<worker>.json``)."""
    detection_profile: Literal["infra", "nab"] = "infra"
    """The detect stage's alerting profile (``detectors.PROFILES``): ``infra`` pages on
    degradations that last three samples; ``nab`` is the benchmark's fire-at-once setting."""

    def resolved_ledger_dsn(self) -> str:
        """The ledger DSN to use: the setting, or the embedded engine under ``data_dir``."""
        if self.ledger_dsn:
            return self.ledger_dsn
        return f"chdb://{(self.data_dir / 'ledger').resolve()}"

    def kafka_bootstrap(self) -> str:
        return self.broker.removeprefix("kafka://")

    def agent_names(self) -> list[str]:
        return [a.strip() for a in self.agents.split(",") if a.strip()]

    def faust_broker(self) -> str:
        return ";".join(f"kafka://{h}" for h in self.kafka_bootstrap().split(","))
