"""Ledger figures: sustained ingest through Kafka into the embedded ClickHouse, the same-run
baseline of chaining and inserting without Kafka, and the latency of ``ledger show`` and of the
outcome views on a ledger of 10 million entries.

    .venv/bin/python bench/ledger_ingest.py [--events 300000] [--rows 10000000]

Everything is made fresh under ``--workdir`` (default ``/tmp/setpoint-ledger-bench``) and on
fresh topics (``bench.<run>.``) of the broker at ``SETPOINT_BROKER``, and deleted at the end.

Events are synthetic incident stories built with the stages' own builders
(``setpoint.ledger.synth``). The 10 M ledger is made in ClickHouse, not through Python: one
``INSERT ... SELECT FROM numbers(N)`` turns each number into one row of one story (the stories'
real payloads as templates, ids and times rewritten per incident); those bulk rows are not
chained (chain ``bulk``). Then a few thousand stories are chained and inserted by the store
itself, the ones ``ledger show`` is timed on.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from setpoint.ledger import CheckpointVerifier, LedgerStore, Record, verify_store
from setpoint.ledger.checkpoint import CheckpointSigner
from setpoint.ledger.story import render
from setpoint.ledger.synth import story
from setpoint.settings import Settings
from setpoint.streams.admin import delete_topics, ensure_topics
from setpoint.streams.sink import LedgerSink
from setpoint.streams.topics import LEDGER, full_name

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def events(n: int, seed: int = 1) -> list[Record]:
    rng, out, i = random.Random(seed), [], 0
    while len(out) < n:
        out += [Record.from_event(e) for e in story(i, T0 + timedelta(minutes=i), rng)]
        i += 1
    return out[:n]


def baseline(store: LedgerStore, recs: list[Record], batch: int) -> float:
    """Chain + insert without Kafka (the store's own append), entries/s."""
    t, head = time.perf_counter(), None
    for k in range(0, len(recs), batch):
        head = store.append(recs[k : k + batch], "p0", head)
    return len(recs) / (time.perf_counter() - t)


def kafka_ingest(settings: Settings, store: LedgerStore, recs: list[Record]) -> dict[str, Any]:
    """Fill the ledger topic, then time the sink draining it into ClickHouse."""
    p = Producer({"bootstrap.servers": settings.kafka_bootstrap(), "linger.ms": 50,
                  "batch.size": 1 << 20, "compression.type": "lz4"})  # fmt: skip
    name = full_name(settings.topic_prefix, LEDGER)
    t = time.perf_counter()
    size = 0
    for r in recs:
        value = _wire(r)
        size += len(value)
        while True:
            try:
                p.produce(name, key=r.incident_id.encode(), value=value)
                break
            except BufferError:
                p.poll(0.05)
    p.flush()
    produce_s = time.perf_counter() - t
    sink = LedgerSink(settings, store, signer=CheckpointSigner(bytes(32)))
    th = threading.Thread(target=sink.run, daemon=True)
    t = time.perf_counter()
    th.start()
    first = None
    while sink.stats.inserted < len(recs):
        if first is None and sink.stats.inserted:
            first = (time.perf_counter(), sink.stats.inserted)
        time.sleep(0.05)
    end = time.perf_counter()
    sink.stop()
    th.join()
    f_t, f_n = first or (t, 0)
    return {"produce_s": produce_s, "bytes_per_event": size / len(recs),
            "total_eps": len(recs) / (end - t),
            "steady_eps": (len(recs) - f_n) / max(end - f_t, 1e-9),
            "batches": sink.stats.batches, "checkpoints": sink.stats.checkpoints,
            "split": dict(sink.stats.seconds)}  # fmt: skip


def _wire(r: Record) -> bytes:
    """The JSON a stage publishes for ``r`` (what the ``ledger`` topic carries)."""
    ts = r.ts.isoformat().replace("+00:00", "Z")
    head = (f'{{"schema_version":1,"kind":"ledger_event","event_id":"{r.event_id}",'
            f'"incident_id":"{r.incident_id}","ts":"{ts}","stage":"{r.stage}",'
            f'"event_type":"{r.event_type}","entity_id":"{r.entity_id}",'
            f'"service":"{r.service}","summary":')  # fmt: skip
    import orjson

    return head.encode() + orjson.dumps(r.summary) + b',"payload":' + r.payload.encode() + b"}"


def bulk(store: LedgerStore, rows: int) -> float:
    """``rows`` unchained rows shaped like stories (one INSERT ... SELECT); seconds taken."""
    template = [r for r in events(40, seed=9) if r.incident_id == "inc-synth000000000000"]
    if len(template) < 6:
        template = events(8, seed=9)[:8]
    k = len(template)
    arr = lambda f: "[" + ",".join(_q(str(getattr(r, f))) for r in template) + "]"  # noqa: E731
    offs = "[" + ",".join(str(int((r.ts - template[0].ts).total_seconds() * 1000))
                          for r in template) + "]"  # fmt: skip
    inc = f"concat('inc-bulk', leftPad(toString(intDiv(number, {k})), 12, '0'))"
    idx = f"(number % {k}) + 1"
    sql = f"""
    INSERT INTO {store.database}.ledger (event_id, incident_id, ts, recorded_at, stage,
        event_type, entity_id, service, summary, payload, schema_version, chain, seq,
        prev_hash, hash)
    SELECT concat('ev-bulk', toString(number)),
        if({arr("incident_id")}[{idx}] = '', '', {inc}),
        toDateTime64('2025-06-02 00:00:00', 3, 'UTC') + toIntervalMillisecond(
            intDiv(number, {k}) * 20000 + {offs}[{idx}]),
        now64(3), {arr("stage")}[{idx}], {arr("event_type")}[{idx}],
        replaceAll({arr("entity_id")}[{idx}], 'synth', concat('bulk', toString(intDiv(number, {k})), '-')),
        ['frontend','checkout','catalog','inventory','auth','db','payments','search'][intDiv(number, {k}) % 8 + 1],
        {arr("summary")}[{idx}],
        replaceAll({arr("payload")}[{idx}], 'inc-synth000000000000', {inc}),
        1, 'bulk', number + 1, '', ''
    FROM numbers({rows})
    """  # noqa: E501
    t = time.perf_counter()
    store.command(sql + " SETTINGS max_insert_threads = 2")
    return time.perf_counter() - t


def _q(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def timed(fn: object, n: int) -> tuple[float, float]:
    """Median and max latency (ms) of ``n`` calls."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/setpoint-ledger-bench"))
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    run = uuid.uuid4().hex[:8]
    base = Settings()
    settings = base.model_copy(update={"topic_prefix": f"bench.{run}.", "app_id": f"bench-{run}",
                                       "data_dir": args.workdir, "ledger_dsn": ""})  # fmt: skip
    ensure_topics(settings)
    store = LedgerStore(f"chdb://{args.workdir / 'ledger'}", "bench")
    try:
        store.migrate()
        recs = events(args.events)
        print(f"{len(recs)} events, {sum(len(_wire(r)) for r in recs[:5000]) / 5000:.0f} B each "
              "on the wire (mean of the first 5000)")  # fmt: skip
        store2 = LedgerStore(f"chdb://{args.workdir / 'ledger'}", "baseline")
        store2.migrate()
        base_eps = baseline(store2, events(args.events, seed=2), 20000)
        print(f"baseline, chain + insert without Kafka: {base_eps:,.0f} entries/s")
        k = kafka_ingest(settings, store, recs)
        print(f"through Kafka (sink draining {len(recs)} events, {k['batches']:.0f} batches, "
              f"{k['checkpoints']:.0f} checkpoints): {k['total_eps']:,.0f} entries/s from start, "
              f"{k['steady_eps']:,.0f} entries/s after the first insert; producing took "
              f"{k['produce_s']:.1f} s")  # fmt: skip
        split = ", ".join(f"{n} {v / len(recs) * 1e6:.1f}" for n, v in k["split"].items())
        print(f"  sink time per entry, microseconds: {split}")
        t = time.perf_counter()
        report = verify_store(store, CheckpointVerifier(CheckpointSigner(bytes(32)).public_key))
        secs = time.perf_counter() - t
        rows = sum(c.rows for c in report.chains)
        print(f"verify of the {rows:,} chained rows: {rows / secs:,.0f} rows/s, "
              f"{'clean' if report.ok else report.problems[:3]}")  # fmt: skip
        at_scale(store, args.rows)
    finally:
        store.close()
        delete_topics(settings)
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


def at_scale(store: LedgerStore, rows: int) -> None:
    have = store.query_rows(f"SELECT count() FROM {store.database}.ledger")[0][0]
    secs = bulk(store, max(0, rows - have))
    total = store.query_rows(f"SELECT count() FROM {store.database}.ledger")[0][0]
    print(f"bulk rows: {total - have:,} in {secs:.1f} s; ledger now {total:,} entries")
    store.command(f"OPTIMIZE TABLE {store.database}.ledger FINAL")
    ids = [r[0] for r in store.query_rows(
        f"SELECT DISTINCT incident_id FROM {store.database}.ledger WHERE chain = 'p0' "
        "AND incident_id != '' LIMIT 200")]  # fmt: skip
    rng = random.Random(5)
    pick = lambda: rng.choice(ids)  # noqa: E731
    full = timed(lambda: render(store.story(pick())), 20)
    suffix = timed(lambda: render(store.story(pick()[-7:])), 20)
    print(
        f"ledger show at {total:,}: full id median {full[0]:.0f} ms (max {full[1]:.0f}); "
        f"id suffix median {suffix[0]:.0f} ms (max {suffix[1]:.0f})"
    )
    db = store.database
    for name, sql in [
        ("outcomes (all dimensions)", f"SELECT * FROM {db}.outcomes"),
        ("outcomes per service", f"SELECT * FROM {db}.outcomes WHERE dimension = 'service'"),
        ("action_facts count", f"SELECT count() FROM {db}.action_facts"),
    ]:
        med, mx = timed(lambda sql=sql: store.query(sql), 3)
        print(f"{name} at {total:,}: median {med:.0f} ms (max {mx:.0f})")


if __name__ == "__main__":
    raise SystemExit(main())
