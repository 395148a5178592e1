"""The local fleet's bookkeeping: its services and their replicas (real processes), and what
routes their connections."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Protocol

from setpoint.localfleet.proxy import Upstream
from setpoint.localfleet.spec import ServiceSpec


class Router(Protocol):
    """Where the fleet sets each service's routes (the :class:`~.proxy.Proxy`)."""

    def listen(self, service: str, port: int) -> None: ...

    def route(self, service: str, upstreams: list[Upstream], weights: dict[str, float]) -> None: ...


@dataclass
class Replica:
    name: str
    service: str
    version: str
    region: str
    port: int
    pid: int
    started_at: float
    up: bool = True


@dataclass
class Service:
    name: str
    spec: ServiceSpec
    version: str
    previous_version: str | None
    proxy_port: int
    regions: list[str]
    traffic: dict[str, float]
    replicas: dict[str, Replica] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    cache_generation: int = 0
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def home(self) -> str:
        return f"services/{self.name}"
