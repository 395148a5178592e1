-- Columns an analyst filters and groups by, derived from the (hashed) payload when a row is
-- inserted, so outcome queries never parse payloads. They are not part of a row's hash: each is
-- a pure function of columns that are.

-- The verb of an action, command, verification or approval; for a policy decision, the verb its
-- one-line summary starts with ("<verb> on <target>: ...").
ALTER TABLE {db}.ledger ADD COLUMN IF NOT EXISTS verb LowCardinality(String) MATERIALIZED multiIf(
    event_type IN ('command.issued', 'action.executed', 'action.failed', 'action.rejected',
                   'action.duplicate', 'action.undone', 'action.escalated')
        OR startsWith(event_type, 'verification.'),
    JSONExtractString(payload, 'verb'),
    event_type = 'approval.requested', JSONExtractString(payload, 'command', 'verb'),
    event_type = 'policy.decision', splitByString(' on ', summary)[1],
    '');

-- Who: the approver of an approval decision, the human who approved a command, the issuer of a
-- control event.
ALTER TABLE {db}.ledger ADD COLUMN IF NOT EXISTS actor LowCardinality(String) MATERIALIZED multiIf(
    event_type = 'approval.decided', JSONExtractString(payload, 'approver'),
    event_type = 'command.issued', JSONExtractString(payload, 'approved_by'),
    stage = 'control', JSONExtractString(payload, 'issued_by'),
    '');

-- The id this row points at: the action an undo reverses, the command an approval carries.
ALTER TABLE {db}.ledger ADD COLUMN IF NOT EXISTS ref_id String MATERIALIZED multiIf(
    event_type = 'action.undone', JSONExtractString(payload, 'undoes'),
    event_type = 'approval.requested', JSONExtractString(payload, 'command', 'command_id'),
    '');

-- When the trouble began: an anomaly's onset, an incident's opening (its earliest onset).
ALTER TABLE {db}.ledger ADD COLUMN IF NOT EXISTS onset Nullable(DateTime64(3, 'UTC')) MATERIALIZED
    multiIf(startsWith(event_type, 'incident.'),
            parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'opened_at'), 3, 'UTC'),
            startsWith(event_type, 'anomaly.'),
            parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'onset'), 3, 'UTC'),
            NULL);

-- Time-range queries on event time skip granules (partitions follow recorded_at).
ALTER TABLE {db}.ledger ADD INDEX IF NOT EXISTS idx_ts ts TYPE minmax GRANULARITY 1;
ALTER TABLE {db}.ledger ADD INDEX IF NOT EXISTS idx_verb verb TYPE set(256) GRANULARITY 4;
