-- Every id that names an incident (the incident's own, and the entity ids of its rows: actions,
-- commands, approvals, anomalies, escalations), stored reversed so that `ledger show` finds an
-- id, or a suffix of one, with a primary-key range instead of a scan of the ledger. Filled by a
-- materialized view as rows are inserted, and once from the rows already there.
CREATE TABLE IF NOT EXISTS {db}.ledger_ids
(
    rid         String CODEC(ZSTD(1)),
    incident_id String CODEC(ZSTD(1)),
    recorded_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree
ORDER BY (rid, incident_id)
TTL toDateTime(recorded_at) + INTERVAL {retention_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.ledger_ids_mv TO {db}.ledger_ids AS
SELECT reverse(id) AS rid, incident_id, max(recorded_at) AS recorded_at
FROM {db}.ledger
ARRAY JOIN [incident_id, entity_id] AS id
WHERE incident_id != '' AND id != ''
GROUP BY rid, incident_id;

INSERT INTO {db}.ledger_ids
SELECT reverse(id) AS rid, incident_id, max(recorded_at) AS recorded_at
FROM {db}.ledger
ARRAY JOIN [incident_id, entity_id] AS id
WHERE incident_id != '' AND id != ''
GROUP BY rid, incident_id;
