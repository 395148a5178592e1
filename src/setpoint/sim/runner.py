"""The live fleet: a scenario's :class:`~setpoint.sim.Fleet` run against the wall clock, its
telemetry produced to Kafka, and its HTTP control API served. The I/O edge of ``sim``.

Simulated time is the wall-clock start plus the elapsed wall time times ``speed``
(:class:`~setpoint.clock.WallClock`). Every event goes to its topic of the topic table, keyed as
the table says, as the JSON of ``model_dump(mode="json")``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # typed here; confluent_kafka.admin re-exports it

from setpoint.clock import WallClock
from setpoint.errors import BrokerError
from setpoint.schemas import ChangeEvent, Event
from setpoint.settings import Settings
from setpoint.sim.actions import ApplyResult
from setpoint.sim.control import ActionRequest, ControlServer, UndoRequest
from setpoint.sim.scenario import Scenario
from setpoint.streams import topics

ROUTES: dict[str, topics.TopicSpec] = {
    "metric": topics.METRICS,
    "metric_batch": topics.METRICS,
    "log": topics.LOGS,
    "span": topics.TRACES,
    "change": topics.CHANGES,
    "health": topics.HEALTHCHECKS,
}
"""The topic of each telemetry kind the fleet emits."""


def route(prefix: str, event: Event) -> tuple[str, str]:
    """The topic name and the key of ``event``.

    Examples
    --------
    >>> from setpoint.schemas import HealthCheck
    >>> route("t.", HealthCheck(service="db", ts=0, ok=True))
    ('t.telemetry.health', 'db')
    """
    spec = ROUTES[str(getattr(event, "kind", ""))]
    return topics.full_name(prefix, spec), str(getattr(event, spec.key))


def ensure_telemetry_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the telemetry topics the fleet produces to, if missing; return those created."""
    client = AdminClient({"bootstrap.servers": settings.kafka_bootstrap()})
    try:
        existing = set(client.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        msg = f"Kafka at {settings.kafka_bootstrap()} did not answer (deploy/local/kafka.sh start)"
        raise BrokerError(msg, context={"broker": settings.kafka_bootstrap()}) from exc
    names = sorted({topics.full_name(settings.topic_prefix, s) for s in ROUTES.values()} - existing)
    new = [NewTopic(n, settings.partitions, 1) for n in names]
    for name, fut in (
        client.create_topics(new, operation_timeout=timeout_s) if new else {}
    ).items():
        try:
            fut.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"could not create topic {name}: {exc}") from exc
    return names


class FleetRunner:
    """Runs ``scenario`` live: steps the fleet, produces its telemetry, serves its control API.

    Parameters
    ----------
    settings
        Broker, topic prefix and ``fleet_url`` (where the control API listens).
    scenario
        What to run.
    seed
        ``None``: the scenario's seed.
    speed
        Simulated seconds per wall second; ``None``: ``settings.clock_speed``.
    tick_s
        Wall seconds between steps.
    stop_at_end
        Return from :meth:`run` once the scenario's duration has passed.
    observer
        Called with a line for each notable thing (changes, actions); ``None``: silent.
    fast_forward_s
        Play the scenario's first seconds at once, as history, then run live: the fleet has been
        running for that long when the loop starts watching it (its detectors have learned).

    Examples
    --------
    >>> from setpoint.sim.scenario import load_scenario
    >>> runner = FleetRunner(Settings(), load_scenario("scenarios/quiet.yaml"), seed=1, speed=60)
    >>> runner.act(ActionRequest(action_id="a1", verb="restart", target="db"))["effect_delay_s"]
    35.0
    >>> runner.fleet_state("nope") is None
    True
    """

    def __init__(
        self,
        settings: Settings,
        scenario: Scenario,
        seed: int | None = None,
        speed: float | None = None,
        *,
        tick_s: float = 0.2,
        stop_at_end: bool = True,
        observer: Callable[[str], None] | None = None,
        fast_forward_s: float = 0.0,
    ) -> None:
        self.settings = settings
        self.scenario = scenario
        self.seed = seed
        self.speed = speed
        self.tick_s = tick_s
        self.stop_at_end = stop_at_end
        self.observer = observer
        self.fast_forward_s = fast_forward_s
        self.clock = WallClock(speed if speed is not None else settings.clock_speed)
        start = self.clock.now() - fast_forward_s
        self.fleet = scenario.build(seed, start=start, id_prefix=uuid.uuid4().hex[:8])
        self.end = self.fleet.start + scenario.duration_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._answers: dict[tuple[str, str], dict[str, Any]] = {}
        self._producer: Producer | None = None
        self._server: ControlServer | None = None
        self.produced = 0
        self.failed = 0

    @property
    def url(self) -> str:
        """Where the control API listens (the real port once open, if the setting said 0)."""
        if self._server is None:
            return self.settings.fleet_url
        host, _ = ControlServer.address(self.settings.fleet_url)
        return f"http://{host}:{self._server.port}"

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Run until the scenario ends (or :meth:`stop`, or Ctrl-C); always cleans up."""
        try:
            self.open()
            while not self._stopping.is_set():
                if self.tick() and self.stop_at_end:
                    break
                self._stopping.wait(self.tick_s)
        finally:
            self.close()

    def open(self) -> None:
        """Connect the producer and start serving the control API."""
        self._connect()
        if self._server is None:
            self._server = ControlServer(self, self.settings.fleet_url)
            self._server.start()

    def stop(self) -> None:
        """Ask :meth:`run` to return (thread-safe)."""
        self._stopping.set()

    def close(self, flush_timeout_s: float = 10.0) -> None:
        """Stop serving, deliver what is queued (bounded), release the producer."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._producer is not None:
            left = self._producer.flush(flush_timeout_s)
            self.failed += left
            self._producer = None

    def tick(self) -> bool:
        """Step the fleet to now and produce what it emitted; ``True`` once past the end."""
        producer = self._connect()
        now = self.clock.now()
        with self._lock:
            events = self.fleet.step(min(now, self.end) if self.stop_at_end else now)
        for e in events:
            self._produce(producer, e)
        producer.poll(0)
        return now >= self.end

    # -- control (called from the HTTP threads) --------------------------------------------
    def act(self, req: ActionRequest) -> dict[str, Any]:
        """Apply an action once per ``action_id`` (a repeat gets the first answer)."""

        def do(t: float) -> ApplyResult:
            return self.fleet.apply(req.verb, req.target, req.params, t)

        return self._once(("act", req.action_id), req.verb, req.target, do)

    def revert(self, req: UndoRequest) -> dict[str, Any]:
        """Undo an action once per ``action_id``."""

        def do(t: float) -> ApplyResult:
            return self.fleet.undo(req.verb, req.target, req.captured, t)

        return self._once(("undo", req.action_id), req.verb, req.target, do)

    def fleet_state(self, service: str | None) -> dict[str, Any] | None:
        with self._lock:
            if service is None:
                return self.fleet.snapshot()
            if service not in self.fleet.spec.services:
                return None
            return self.fleet.state(service)

    def truth(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.fleet.ground_truth()

    def health(self) -> dict[str, Any]:
        return {
            "ok": True, "scenario": self.scenario.name, "sim_time": self.clock.now(),
            "start": self.fleet.start, "end": self.end, "produced": self.produced,
            "failed": self.failed,
        }  # fmt: skip

    # -- internals -------------------------------------------------------------------------
    def _once(
        self, key: tuple[str, str], verb: str, target: str, do: Callable[[float], ApplyResult]
    ) -> dict[str, Any]:
        """Apply once per action id: a repeated request gets the first answer again."""
        with self._lock:
            if key in self._answers:
                return {**self._answers[key], "duplicate": True}
            t = max(self.clock.now(), self.fleet.now)
            result = do(t)
            answer = {**result.model_dump(mode="json"), "sim_time": t, "action_id": key[1]}
            self._answers[key] = answer
        self._say(f"{key[0]} {verb} {target}: {'ok' if result.ok else 'refused'}: {result.detail}")
        return answer

    def _connect(self) -> Producer:
        if self._producer is None:
            conf = {"bootstrap.servers": self.settings.kafka_bootstrap(), "linger.ms": 20,
                    "client.id": "setpoint-fleet"}  # fmt: skip
            self._producer = Producer(conf)
        return self._producer

    def _produce(self, producer: Producer, e: Event) -> None:
        topic, key = route(self.settings.topic_prefix, e)
        value = orjson.dumps(e.model_dump(mode="json"))
        if isinstance(e, ChangeEvent):
            self._say(f"change {e.service}: {e.change_type} {e.summary}")
        for _ in range(50):
            try:
                producer.produce(topic, value, key.encode(), on_delivery=self._delivered)
                return
            except BufferError:
                producer.poll(0.1)  # the local queue is full: let deliveries drain it
        self.failed += 1

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.produced += 1
        else:
            self.failed += 1

    def _say(self, line: str) -> None:
        if self.observer is not None:
            self.observer(line)
