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
-- The queue's "Unassigned" view: open tickets nobody holds, newest first,
-- without reading every assigned one.
CREATE INDEX tickets_unassigned_open ON tickets(org_id, updated_at)
    WHERE assignee_id IS NULL AND state NOT IN ('resolved', 'closed', 'cancelled', 'rejected');

-- The admin console's connector view: when each mailbox was last checked,
-- and the last failure if the check fails now.
CREATE TABLE mail_polls (
    mailbox   TEXT PRIMARY KEY,
    org_id    BLOB NOT NULL REFERENCES organizations(id),
    polled_at TEXT,
    failed_at TEXT,
    error     TEXT
);
CREATE INDEX mail_polls_org ON mail_polls(org_id);
