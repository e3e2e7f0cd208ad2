-- SLA engine (issue 6): business calendars, SLA policies, the SLA state of
-- each ticket and the outcomes that compliance reports count.

-- A business calendar: time zone, weekly hours and holidays, kept as the
-- specification an administrator wrote (validated by domain::calendar).
CREATE TABLE sla_calendars (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    spec       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

-- Ordered policies; the first whose selector matches a ticket applies.
CREATE TABLE sla_policies (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    position        BIGINT NOT NULL,
    selector        JSONB NOT NULL,
    targets         JSONB NOT NULL,
    warn_at_percent JSONB NOT NULL,
    pause_states    JSONB NOT NULL,
    on_reopen       TEXT NOT NULL,
    calendar_id     UUID REFERENCES sla_calendars(id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX sla_policies_calendar ON sla_policies(calendar_id);

-- The live SLA of a ticket (domain::sla::SlaState as JSON): its terms and
-- one clock per target. `generation` grows with every change so a timer
-- scheduled for an older state does nothing.
CREATE TABLE sla_states (
    ticket_id  UUID PRIMARY KEY REFERENCES tickets(id),
    org_id     UUID NOT NULL REFERENCES organizations(id),
    policy_id  UUID REFERENCES sla_policies(id),
    state      JSONB NOT NULL,
    generation BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sla_states_org ON sla_states(org_id);
CREATE INDEX sla_states_policy ON sla_states(policy_id);

-- One row per clock round that ended met or breached, with the dimensions
-- reports group by copied in: compliance over a period is one query.
CREATE TABLE sla_outcomes (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations(id),
    ticket_id   UUID NOT NULL REFERENCES tickets(id),
    target      TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    policy_id   UUID REFERENCES sla_policies(id),
    policy_name TEXT NOT NULL,
    team_id     UUID REFERENCES teams(id),
    priority    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- `met` or `breached`; a breach is final for its round.
    outcome     TEXT NOT NULL,
    due_at      TIMESTAMPTZ,
    decided_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (ticket_id, target, started_at)
);
CREATE INDEX sla_outcomes_org_decided ON sla_outcomes(org_id, decided_at);
CREATE INDEX sla_outcomes_policy ON sla_outcomes(policy_id);
CREATE INDEX sla_outcomes_team ON sla_outcomes(team_id);

-- Escalation policies: ordered steps (after N minutes / on SLA warning or
-- breach → notify, reassign, raise priority, mark major); the first whose
-- selector matches a new ticket applies.
CREATE TABLE escalation_policies (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    position   BIGINT NOT NULL,
    selector   JSONB NOT NULL,
    steps      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

-- A ticket's escalation: the steps copied from the policy when it started,
-- stopped by acknowledgement or resolution. `generation` grows when it
-- stops so pending step timers do nothing.
CREATE TABLE ticket_escalations (
    ticket_id       UUID PRIMARY KEY REFERENCES tickets(id),
    org_id          UUID NOT NULL REFERENCES organizations(id),
    policy_id       UUID REFERENCES escalation_policies(id),
    policy_name     TEXT NOT NULL,
    steps           JSONB NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    generation      BIGINT NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by UUID REFERENCES people(id),
    stopped_at      TIMESTAMPTZ
);
CREATE INDEX ticket_escalations_org ON ticket_escalations(org_id);
CREATE INDEX ticket_escalations_policy ON ticket_escalations(policy_id);
CREATE INDEX ticket_escalations_acknowledged_by ON ticket_escalations(acknowledged_by);

-- One weekly on-call rotation per team (domain::escalation::RotationSpec).
CREATE TABLE on_call_rotations (
    team_id    UUID PRIMARY KEY REFERENCES teams(id),
    org_id     UUID NOT NULL REFERENCES organizations(id),
    spec       JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX on_call_rotations_org ON on_call_rotations(org_id);

-- Scheduled work (cron expressions in a time zone): recurring tickets from
-- a template, and digests of a team's open and at-risk tickets to a channel.
-- The next run is a timer; `generation` grows with every change or run so a
-- stale timer does nothing, and a missed run happens once.
CREATE TABLE schedules (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    cron        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    -- `ticket` or `digest`
    action      TEXT NOT NULL,
    template    JSONB NOT NULL,
    enabled     BOOLEAN NOT NULL,
    next_run_at TIMESTAMPTZ,
    last_run_at TIMESTAMPTZ,
    generation  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
