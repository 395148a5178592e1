-- The ledger: one row per step of an incident's story. Append-only: the application never
-- updates or deletes a row. Each row is chained to the previous row of its chain by hash.
CREATE TABLE IF NOT EXISTS {db}.ledger
(
    event_id       String,
    incident_id    String,
    ts             DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    recorded_at    DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    stage          LowCardinality(String),
    event_type     LowCardinality(String),
    entity_id      String,
    service        LowCardinality(String),
    summary        String CODEC(ZSTD(3)),
    payload        String CODEC(ZSTD(3)),
    schema_version UInt8,
    chain          LowCardinality(String),
    seq            UInt64,
    prev_hash      String,
    hash           String,
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_entity entity_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_service service TYPE set(1000) GRANULARITY 4
)
ENGINE = MergeTree
-- Partitions and retention follow when a row was recorded, not the event time it claims: a
-- producer's clock far in the past or future can neither spray partitions nor expire a row early.
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (incident_id, ts, event_id)
TTL toDateTime(recorded_at) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;
