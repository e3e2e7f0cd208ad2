-- The web console's queue views "SLA at risk" and "breached": the worst
-- clock status of a ticket's SLA, kept beside the JSON state so a view is
-- an indexed filter (domain::sla::SlaState::standing).
ALTER TABLE sla_states ADD COLUMN standing TEXT NOT NULL DEFAULT 'ok';
UPDATE sla_states SET standing = CASE
    WHEN EXISTS (SELECT 1 FROM json_each(sla_states.state, '$.clocks') c
                 WHERE json_extract(c.value, '$.breached_at') IS NOT NULL) THEN 'breached'
    WHEN EXISTS (SELECT 1 FROM json_each(sla_states.state, '$.clocks') c
                 WHERE json_extract(c.value, '$.met_at') IS NULL
                   AND (json_extract(c.value, '$.running_since') IS NOT NULL
                        OR json_extract(c.value, '$.paused') = 1)
                   AND COALESCE(json_extract(c.value, '$.warned_pct'), 0) > 0) THEN 'warned'
    ELSE 'ok' END;
CREATE INDEX sla_states_standing ON sla_states(org_id, standing) WHERE standing <> 'ok';
