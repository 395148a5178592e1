"""No loss, no duplicates: the ledger becomes unavailable mid-run (another process takes the
embedded engine's data path, which chDB grants to one process at a time), the sink is killed
and restarted, some events are published twice; every event ends up in the ledger exactly once
and the chains verify."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from setpoint.errors import LedgerStoreError
from setpoint.ledger import LedgerStore
from setpoint.ledger.synth import story
from setpoint.streams.codec import encode
from setpoint.streams.topics import LEDGER
from tests.integration.conftest import (
    ROOT,
    Processes,
    SinkThread,
    producer,
    settings_from,
    topic,
    wait_for,
)

KEY = "11" * 32
HOLD_S = 5.0
HOLDER = """
import sys, time, clickhouse_connect
path, hold = sys.argv[1], float(sys.argv[2])
while True:  # take the path as soon as the sink lets go of it between two batches
    try:
        c = clickhouse_connect.get_client(dsn="chdb://" + path)
        break
    except Exception:
        time.sleep(0.02)
count = lambda: c.query("SELECT count() FROM setpoint.ledger").result_rows[0][0]
print("held", count(), flush=True)
time.sleep(hold)
print("releasing", count(), flush=True)
c.close()
"""


def publish(
    env: dict[str, str],
    events: list[bytes],
    keys: list[bytes],
    per_s: float,
    paused: threading.Event,
) -> None:
    """Publish at ``per_s``, with one 2 s lull half-way (the sink goes idle and lets go of the
    data path: the moment another process takes it)."""
    p = producer(env)
    for i, (k, v) in enumerate(zip(keys, events, strict=True)):
        if i == len(events) // 2:
            p.flush()
            paused.set()
            time.sleep(2.0)
        p.produce(topic(env, LEDGER), key=k, value=v)
        if i % 50 == 0:
            p.poll(0)
            time.sleep(50 / per_s)
    p.flush()


def ledger_counts(dsn: str) -> tuple[int, int] | None:
    """(rows, distinct event ids) without checkpoints; ``None`` while the sink holds the path."""
    store = LedgerStore(dsn)
    try:
        return tuple(store.query_rows(  # type: ignore[return-value]
            "SELECT count(), uniqExact(event_id) FROM setpoint.ledger "
            "WHERE event_type != 'ledger.checkpoint'")[0])  # fmt: skip
    except LedgerStoreError:
        return None
    finally:
        store.close()


def test_an_outage_and_a_crash_lose_nothing_and_double_nothing(
    env: dict[str, str], procs: Processes, tmp_path: Path
) -> None:
    settings = settings_from(env)
    dsn = settings.resolved_ledger_dsn()
    rng = random.Random(3)
    t0 = datetime(2026, 5, 4, tzinfo=UTC)
    evs = [ev for i in range(500) for ev in story(i, t0 + timedelta(minutes=i), rng)]
    raw = [encode(e) for e in evs]
    keys = [e.incident_id.encode() for e in evs]
    again = rng.sample(range(len(raw)), 200)  # a producer that retried: same event ids
    raw += [raw[i] for i in again]
    keys += [keys[i] for i in again]
    sink_env = {
        "SETPOINT_LEDGER_RELEASE_IDLE_S": "0.1",
        "SETPOINT_LEDGER_CHECKPOINT_KEY": KEY,
        "SETPOINT_LEDGER_CHECKPOINT_INTERVAL_S": "1",
    }
    procs.start("sink", "sink", **sink_env)
    paused = threading.Event()
    writer = threading.Thread(target=publish, args=(env, raw, keys, 200.0, paused))
    writer.start()
    assert paused.wait(timeout=120)
    holder = subprocess.run(
        [sys.executable, "-c", HOLDER, dsn.removeprefix("chdb://"), str(HOLD_S)],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    held = [int(line.split()[1]) for line in holder.stdout.splitlines()]
    assert writer.is_alive(), "the outage must happen while events are being published"
    assert held[0] == held[1] > 0, "nothing reached the ledger while another process held it"
    time.sleep(2)
    procs.kill("sink")  # a crash: whatever it had read but not committed is delivered again
    procs.start("sink", "sink", **sink_env)
    writer.join(timeout=120)
    # Read only when the sink lets go of the path; stop once every row is there (or time out).
    wait_for(lambda: ledger_counts(dsn) == (len(evs), len(evs)), 90,
             f"{len(evs)} distinct events in the ledger")  # fmt: skip
    procs.procs["sink"].terminate()
    procs.procs["sink"].wait(timeout=60)
    assert ledger_counts(dsn) == (len(evs), len(evs))  # and no more after the sink's last word
    log = procs.log("sink")
    assert "ledger insert failed" in log or "ledger unavailable" in log, log[-2000:]
    verify = subprocess.run(
        [sys.executable, "-m", "setpoint.cli", "ledger", "verify"], cwd=ROOT, text=True,
        capture_output=True, timeout=120, check=False,
        env={**procs.env, "SETPOINT_LEDGER_CHECKPOINT_KEY": KEY},
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "0 row(s) after the last checkpoint" in verify.stdout, procs.log("sink")[-3000:]


def test_a_replayed_topic_adds_nothing(env: dict[str, str]) -> None:
    """Everything delivered again (a new consumer group reads the topic from the start, what a
    crash before every commit would do): each event is recognised as stored."""
    settings = settings_from(env)
    rng = random.Random(4)
    evs = [ev for i in range(150) for ev in story(i, datetime(2026, 5, 5, tzinfo=UTC), rng)]
    publish(env, [encode(e) for e in evs], [e.incident_id.encode() for e in evs], 5000.0,
            threading.Event())  # fmt: skip
    first = SinkThread(settings).start()
    wait_for(lambda: first.sink.stats.inserted == len(evs), 60, "the first delivery")
    first.stop()
    replay = SinkThread(settings.model_copy(update={"app_id": settings.app_id + "-replay"}))
    replay.start()
    wait_for(lambda: replay.sink.stats.duplicates == len(evs), 60, "the replay to be recognised")
    replay.stop()
    assert replay.sink.stats.inserted == 0
    rows = replay.rows("event_type != 'ledger.checkpoint'")
    assert len(rows) == len({r["event_id"] for r in rows}) == len(evs)
    replay.store.close()
    first.store.close()
