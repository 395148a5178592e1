"""Long-running processes: ``setpoint worker``, ``setpoint actuator``, ``setpoint sink``, and
``setpoint topics create``."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import Any

from setpoint.settings import Settings


def register(sub: Any) -> None:
    w = sub.add_parser("worker", help="run the stream stages: detect, diagnose, decide, verify")
    w.set_defaults(func=_worker)
    a = sub.add_parser("actuator", help="run the actuator: verify, re-check policy, execute")
    a.set_defaults(func=_actuator)
    s = sub.add_parser("sink", help="run the ledger sink: Kafka -> ClickHouse")
    s.set_defaults(func=_sink)
    t = sub.add_parser("topics", help="manage the project's Kafka topics")
    ts = t.add_subparsers(dest="topics_command", required=True)
    ts.add_parser("create", help="create every topic of the topic table").set_defaults(func=_topics)


def _run_faust(app: Any, settings: Settings) -> int:
    import faust

    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0


def _worker(_args: argparse.Namespace) -> int:
    from setpoint.streams.app import worker_app

    settings = Settings()
    app, _ = worker_app(settings)
    return _run_faust(app, settings)


def _actuator(_args: argparse.Namespace) -> int:
    from setpoint.streams.app import actuator_app

    settings = Settings()
    app, _ = actuator_app(settings)
    return _run_faust(app, settings)


def _sink(_args: argparse.Namespace) -> int:
    from setpoint.ledger import LedgerStore
    from setpoint.streams.sink import LedgerSink

    settings = Settings()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    store = LedgerStore(
        settings.resolved_ledger_dsn(), settings.ledger_database, settings.ledger_retention_days
    )
    store.migrate()
    sink = LedgerSink(settings, store)
    signal.signal(signal.SIGTERM, lambda *_: sink.stop())
    try:
        sink.run()
    except KeyboardInterrupt:
        sink.stop()
    print(f"sink: inserted {sink.stats.inserted}, duplicates skipped {sink.stats.duplicates}")
    return 0


def _topics(_args: argparse.Namespace) -> int:
    from setpoint.streams.admin import ensure_topics

    created = ensure_topics(Settings())
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0
