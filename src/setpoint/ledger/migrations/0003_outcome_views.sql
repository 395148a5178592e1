-- Outcome views: one row per incident, one row per action, and the outcome metrics per week,
-- service and verb. Plain views over the ledger (always current; nothing to backfill). Their
-- columns are documented in docs/ledger.md.

-- One row per incident. Times are the first of their kind; durations in seconds.
--   onset_at     when the trouble began (the incident's earliest anomaly onset)
--   detected_at  first anomaly of the incident fired      ttd_s     = detected_at - onset_at
--   diagnosed_at the incident opened (first diagnosis)   tdiag_s   = diagnosed_at - detected_at
--   acted_at     first executed action (not an undo)     tact_s    = acted_at - diagnosed_at
--   recovered_at first sign of recovery: a verification
--                that the action worked, or the incident  trec_s    = recovered_at - acted_at
--                recovering                               ttr_s     = recovered_at - onset_at
CREATE OR REPLACE VIEW {db}.incident_facts AS
SELECT
    incident_id,
    toMonday(diagnosed_at) AS week,
    root_service AS service,
    first_verb AS verb,
    outcome,
    outcome = 'resolved' AND approvals = 0 AND escalations = 0 AS auto_resolved,
    onset_at, detected_at, diagnosed_at, acted_at, recovered_at,
    dateDiff('millisecond', onset_at, detected_at) / 1000 AS ttd_s,
    dateDiff('millisecond', detected_at, diagnosed_at) / 1000 AS tdiag_s,
    dateDiff('millisecond', diagnosed_at, acted_at) / 1000 AS tact_s,
    dateDiff('millisecond', acted_at, recovered_at) / 1000 AS trec_s,
    dateDiff('millisecond', onset_at, recovered_at) / 1000 AS ttr_s,
    anomalies, actions, failed_actions, rolled_back, false_actions, approvals, approvers,
    escalations
FROM
(
    SELECT
        incident_id,
        argMaxIf(service, ts, startsWith(event_type, 'incident.')) AS root_service,
        argMinIf(verb, ts, event_type = 'action.executed' AND verb != 'undo') AS first_verb,
        minIfOrNull(ts, event_type = 'incident.opened') AS opened_ts,
        ifNull(minIfOrNull(onset, event_type = 'incident.opened'),
               minIfOrNull(ts, startsWith(event_type, 'anomaly.'))) AS onset_raw,
        ifNull(minIfOrNull(ts, event_type = 'anomaly.firing'), opened_ts) AS detected_at,
        ifNull(opened_ts, min(ts)) AS diagnosed_at,
        minIfOrNull(ts, event_type = 'action.executed' AND verb != 'undo') AS acted_at,
        minIfOrNull(ts, event_type = 'verification.recovered') AS verified_at,
        minIfOrNull(ts, event_type = 'incident.recovered') AS self_at,
        least(ifNull(onset_raw, detected_at), detected_at) AS onset_at,
        if(isNull(verified_at), self_at, if(isNull(self_at), verified_at,
           least(verified_at, self_at))) AS recovered_at,
        uniqExactIf(entity_id, event_type = 'anomaly.firing') AS anomalies,
        countIf(event_type = 'action.executed' AND verb != 'undo') AS actions,
        countIf(event_type = 'action.failed') AS failed_actions,
        countIf(event_type = 'action.undone') AS rolled_back,
        countIf(event_type = 'verification.not_recovered') AS false_actions,
        countIf(event_type = 'approval.decided') AS approvals,
        groupUniqArrayIf(actor, event_type = 'approval.decided') AS approvers,
        countIf(event_type = 'escalation') AS escalations,
        multiIf(isNotNull(verified_at), 'resolved',
                escalations > 0, 'escalated',
                isNotNull(self_at), 'self_recovered',
                'open') AS outcome
    FROM {db}.ledger
    WHERE incident_id != ''
    GROUP BY incident_id
);

-- One row per action Setpoint took (undos are folded into the action they reversed).
CREATE OR REPLACE VIEW {db}.action_facts AS
SELECT
    action_id,
    any(incident_id) AS incident_id,
    anyIf(service, event_type = 'command.issued') AS target,
    anyIf(verb, event_type = 'command.issued') AS action_verb,
    toMonday(minIfOrNull(ts, event_type = 'command.issued')) AS week,
    minIfOrNull(ts, event_type = 'command.issued') AS issued_at,
    anyIf(actor, event_type = 'command.issued') AS approved_by,
    argMinIf(event_type, ts, startsWith(event_type, 'action.')
             AND event_type != 'action.undone') AS status,
    minIfOrNull(ts, event_type = 'action.executed') AS executed_at,
    argMaxIf(replaceOne(event_type, 'verification.', ''), ts,
             startsWith(event_type, 'verification.')) AS verification,
    maxIfOrNull(ts, startsWith(event_type, 'verification.')) AS verified_at,
    countIf(event_type = 'action.undone') > 0 AS rolled_back,
    minIfOrNull(ts, event_type = 'action.undone') AS rolled_back_at
FROM {db}.ledger
ARRAY JOIN [if(event_type = 'action.undone', ref_id, entity_id)] AS action_id
WHERE event_type IN ('command.issued', 'action.executed', 'action.failed', 'action.rejected',
                     'action.duplicate', 'action.undone', 'action.escalated',
                     'verification.recovered', 'verification.not_recovered',
                     'verification.inconclusive')
GROUP BY action_id
HAVING action_verb != 'undo';

-- The outcome metrics, per week, per service, per (first) verb, and in total: filter on
-- `dimension` ('total', 'week', 'service', 'verb'); `key` is the week, service or verb.
-- Assumptions of the last two columns (docs/ledger.md): every incident Setpoint resolved with no
-- human in the loop would otherwise have paged one on-call engineer, for 45 minutes of work.
CREATE OR REPLACE VIEW {db}.outcomes AS
SELECT
    multiIf(grouping(week) = 0, 'week', grouping(service) = 0, 'service',
            grouping(verb) = 0, 'verb', 'total') AS dimension,
    multiIf(grouping(week) = 0, toString(week), grouping(service) = 0, service,
            grouping(verb) = 0, if(verb = '', '(none)', verb), '') AS key,
    count() AS incidents,
    countIf(outcome = 'resolved') AS resolved,
    countIf(auto_resolved) AS auto_resolved,
    round(auto_resolved / incidents, 4) AS auto_resolution_rate,
    countIf(outcome = 'escalated') AS escalated,
    round(escalated / incidents, 4) AS escalation_rate,
    countIf(outcome = 'self_recovered') AS self_recovered,
    sum(actions) AS actions_taken,
    sum(rolled_back) AS rollbacks,
    round(if(actions_taken = 0, 0, rollbacks / actions_taken), 4) AS rollback_rate,
    sum(false_actions) AS false_actions_n,
    round(if(actions_taken = 0, 0, false_actions_n / actions_taken), 4) AS false_action_rate,
    round(avgIf(ttd_s, isNotNull(ttd_s)), 1) AS mttd_s,
    round(avgIf(tdiag_s, isNotNull(tdiag_s)), 1) AS mean_diagnose_s,
    round(avgIf(tact_s, isNotNull(tact_s)), 1) AS mean_act_s,
    round(avgIf(trec_s, isNotNull(trec_s)), 1) AS mean_recover_s,
    round(avgIf(ttr_s, isNotNull(ttr_s) AND outcome = 'resolved'), 1) AS mttr_s,
    auto_resolved AS pages_avoided,
    round(pages_avoided * 45 / 60, 2) AS toil_hours_returned
FROM {db}.incident_facts
GROUP BY GROUPING SETS ((week), (service), (verb), ())
ORDER BY dimension, key;

-- Signed checkpoints (see `setpoint ledger verify`).
CREATE OR REPLACE VIEW {db}.checkpoints AS
SELECT
    chain,
    seq AS row_seq,
    ts,
    JSONExtractUInt(payload, 'seq') AS signed_seq,
    JSONExtractString(payload, 'head') AS signed_head,
    JSONExtractUInt(payload, 'count') AS signed_count,
    JSONExtractString(payload, 'key_id') AS key_id,
    JSONExtractString(payload, 'signature') AS signature
FROM {db}.ledger
WHERE event_type = 'ledger.checkpoint';
