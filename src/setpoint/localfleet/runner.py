"""The live local fleet: real processes started, measured from outside, their telemetry produced
to Kafka (the same topics and schemas as the simulated fleet), the scenario's faults injected on
time, and the control API served. The I/O edge of ``localfleet``.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from confluent_kafka import Producer

from setpoint.errors import ConfigError
from setpoint.localfleet.control import ControlServer, FleetAPI
from setpoint.localfleet.driver import Processes
from setpoint.localfleet.faults import Injector
from setpoint.localfleet.fleet import LocalFleet
from setpoint.localfleet.logs import LogShipper
from setpoint.localfleet.prober import Prober
from setpoint.localfleet.proxy import Proxy
from setpoint.localfleet.spec import LocalScenario
from setpoint.schemas import ChangeEvent, Event
from setpoint.settings import Settings
from setpoint.streams import topics

ROUTES: dict[str, topics.TopicSpec] = {
    "metric_batch": topics.METRICS,
    "log": topics.LOGS,
    "span": topics.TRACES,
    "change": topics.CHANGES,
    "health": topics.HEALTHCHECKS,
}


def address(url: str) -> tuple[str, int]:
    """Host and port of the control API's URL.

    Examples
    --------
    >>> address("http://127.0.0.1:18620")
    ('127.0.0.1', 18620)
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        msg = f"the fleet URL must look like http://HOST:PORT, not {url!r}"
        raise ConfigError(msg, context={"fleet_url": url})
    return parts.hostname, parts.port


def fresh_state_dir(path: Path) -> Path:
    """``path``, emptied if it holds a previous local fleet (never anything else)."""
    if path.exists() and any(path.iterdir()):
        if not (path / "fleet.json").exists():
            msg = f"{path} is not empty and holds no local fleet: refusing to reuse it"
            raise ConfigError(msg, context={"path": str(path)})
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


class LocalFleetRunner:
    """Runs ``scenario`` on real processes (see the module docstring).

    Parameters
    ----------
    settings
        Broker, topic prefix, ``fleet_url`` (where the control API listens).
    scenario
        The fleet and the faults to play.
    state_dir
        The fleet's files (emptied first if it held a previous fleet).
    publish
        Produce telemetry to Kafka (``False``: measure only, e.g. in tests of the verbs).
    stop_at_end
        Return from :meth:`run` once the scenario is over.
    observer
        Called with a line for each notable thing.
    """

    def __init__(
        self,
        settings: Settings,
        scenario: LocalScenario,
        state_dir: Path,
        *,
        publish: bool = True,
        stop_at_end: bool = True,
        observer: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.scenario = scenario
        self.state_dir = state_dir
        self.publish = publish
        self.stop_at_end = stop_at_end
        self.observer = observer
        self.produced = 0
        self.failed = 0
        self.started_at = 0.0
        self._stopping = threading.Event()
        self._due = list(scenario.timeline)
        self._driver: Processes | None = None
        self._proxy: Proxy | None = None
        self._server: ControlServer | None = None
        self._producer: Producer | None = None
        self.fleet: LocalFleet | None = None
        self.injector: Injector | None = None
        self.prober: Prober | None = None
        self.shipper: LogShipper | None = None

    @property
    def url(self) -> str:
        host, port = address(self.settings.fleet_url)
        return f"http://{host}:{self._server.port if self._server else port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> None:
        """Run until the scenario ends (or :meth:`stop`, or Ctrl-C); always cleans up."""
        try:
            self.open()
            while not self._stopping.is_set():
                if self.tick() and self.stop_at_end:
                    break
                self._stopping.wait(self.scenario.spec.sample_interval_s)
        finally:
            self.close()

    def open(self) -> None:
        """Start every replica, the proxies, the prober, the log shipper and the control API."""
        spec = self.scenario.spec
        self._driver, self._proxy = Processes(), Proxy()
        self._proxy.start()
        self.fleet = LocalFleet(spec, fresh_state_dir(self.state_dir), self._driver, self._proxy)
        self.fleet.setup()
        self.prober = Prober(self.fleet, self._proxy)
        self.injector = Injector(self.fleet, self.prober)
        self.shipper = LogShipper(self.fleet.state_dir)
        self._server = ControlServer(
            FleetAPI(self.fleet, self.injector), *address(self.settings.fleet_url)
        )
        self._server.start()
        if self.publish:
            self._producer = Producer(
                {
                    "bootstrap.servers": self.settings.kafka_bootstrap(),
                    "linger.ms": 20,
                    "client.id": "setpoint-local-fleet",
                }
            )
        self.prober.start()
        self.started_at = time.time()
        n = sum(len(s.replicas) for s in self.fleet.services.values())
        self._say(
            f"{spec.name}: {n} replicas of {len(self.fleet.services)} services up; "
            f"control API on {self.url}; state in {self.fleet.state_dir}"
        )

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        """Stop every process this runner started and deliver what is queued (bounded)."""
        self._stopping.set()
        if self.prober is not None:
            self.prober.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.fleet is not None:
            self.fleet.close()
        if self._proxy is not None:
            self._proxy.stop()
        if self._driver is not None:
            self._driver.close()
            self._driver = None
        if self._producer is not None:
            self.failed += self._producer.flush(10.0)
            self._producer = None

    # -- the loop ----------------------------------------------------------------------------
    def tick(self) -> bool:
        """One sample: inject what is due, measure, produce; ``True`` once past the end."""
        assert self.fleet is not None
        assert self.prober is not None
        assert self.shipper is not None
        elapsed = time.time() - self.started_at - self.scenario.warmup_s
        self._inject_due(elapsed)
        events: list[Event] = [
            *self.prober.sample(),
            *self.shipper.poll(),
            *self.fleet.drain_changes(),
        ]
        for e in events:
            self._produce(e)
        if self._producer is not None:
            self._producer.poll(0)
        return elapsed >= self.scenario.duration_s

    def _inject_due(self, elapsed: float) -> None:
        assert self.injector is not None
        while self._due and self._due[0].at <= elapsed:
            f = self._due.pop(0)
            fid, _ = self.injector.inject(f.fault, f.service, f.params, f.expect)
            self._say(f"fault {fid}: {f.fault} on {f.service} {f.params or ''}")

    def _produce(self, e: Event) -> None:
        if isinstance(e, ChangeEvent):
            self._say(f"change {e.service}: {e.change_type} {e.summary}")
        if self._producer is None:
            return
        spec = ROUTES[str(getattr(e, "kind", ""))]
        key = str(getattr(e, "caller" if spec is topics.TRACES else "service"))
        value = orjson.dumps(e.model_dump(mode="json"))
        for _ in range(50):
            try:
                self._producer.produce(
                    topics.full_name(self.settings.topic_prefix, spec),
                    value,
                    key.encode(),
                    on_delivery=self._delivered,
                )
                return
            except BufferError:
                self._producer.poll(0.1)
        self.failed += 1

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.produced += 1
        else:
            self.failed += 1

    def _say(self, line: str) -> None:
        if self.observer is not None:
            self.observer(line)
