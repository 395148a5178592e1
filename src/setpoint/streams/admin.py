"""Topic administration: the project creates its topics explicitly (never broker auto-create)."""

from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from setpoint.errors import BrokerError
from setpoint.settings import Settings
from setpoint.streams.topics import TOPICS, full_name

_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap(), "socket.timeout.ms": 5000})


def wait_for_broker(settings: Settings, timeout_s: float = 30.0) -> None:
    """Return once the broker answers a metadata request, else raise ``BrokerError``."""
    deadline = time.monotonic() + timeout_s
    client = admin_client(settings)
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client.list_topics(timeout=2.0)
            return
        except KafkaException as exc:
            last = exc
            time.sleep(0.5)
    msg = f"Kafka at {settings.kafka_bootstrap()} did not answer within {timeout_s:.0f}s"
    msg += " (start it with: deploy/local/kafka.sh start)"
    raise BrokerError(msg, context={"broker": settings.kafka_bootstrap()}) from last


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create every topic of the table that does not exist yet; return the names created."""
    wait_for_broker(settings, timeout_s)
    client = admin_client(settings)
    existing = set(client.list_topics(timeout=10.0).topics)
    wanted = []
    for spec in TOPICS:
        name = full_name(settings.topic_prefix, spec)
        if name in existing:
            continue
        config = dict(_COMPACT) if spec.compacted else {}
        if spec.retention_ms is not None:
            config["retention.ms"] = str(spec.retention_ms)
        if spec.max_message_bytes is not None:
            config["max.message.bytes"] = str(spec.max_message_bytes)
        wanted.append(NewTopic(name, spec.partitions or settings.partitions, 1, config=config))
    if not wanted:  # the client refuses an empty request
        return []
    created = []
    for name, fut in client.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                msg = f"could not create topic {name}: {exc}"
                raise BrokerError(msg, context={"topic": name}) from exc
    _wait_visible(client, [t.topic for t in wanted], timeout_s)
    return created


def _wait_visible(client: AdminClient, names: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while names and time.monotonic() < deadline:
        meta = client.list_topics(timeout=5.0).topics
        if all(n in meta and not meta[n].error and meta[n].partitions for n in names):
            return
        time.sleep(0.2)


def delete_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Delete every topic with this prefix (tests clean up after themselves)."""
    client = admin_client(settings)
    names = [
        n for n in client.list_topics(timeout=10.0).topics if n.startswith(settings.topic_prefix)
    ]
    if not names:
        return
    for fut in client.delete_topics(names, operation_timeout=timeout_s).values():
        try:
            fut.result()
        except KafkaException:
            continue
