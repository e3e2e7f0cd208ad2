-- Issue 23, items 4 and 5: time logged on tickets, and macros (canned
-- responses with field changes).
--
-- A time entry is who worked how long on which ticket, from when; the
-- agents report sums them per agent (the entry's) and per team (the
-- ticket's). Minutes are bounded per entry (1 to 24 h, domain::worklog).
CREATE TABLE time_entries (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    ticket_id  UUID NOT NULL REFERENCES tickets(id),
    agent_id   UUID NOT NULL REFERENCES people(id),
    minutes    INTEGER NOT NULL CHECK (minutes > 0 AND minutes <= 1440),
    note       TEXT NOT NULL,
    billable   BOOLEAN NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    channel    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX time_entries_ticket ON time_entries(ticket_id, started_at);
-- The agents report reads one organization's entries of a period.
CREATE INDEX time_entries_org ON time_entries(org_id, started_at);
CREATE INDEX time_entries_agent ON time_entries(agent_id);

-- A macro belongs to its organization (team_id NULL) or to one team; its
-- name is unique within that scope, whatever the case. `changes` is the
-- JSON of domain::macros::MacroChanges, checked when saved.
CREATE TABLE macros (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    team_id    UUID REFERENCES teams(id),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    changes    JSONB NOT NULL,
    created_by UUID REFERENCES people(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX macros_org ON macros(org_id, name);
CREATE INDEX macros_team ON macros(team_id);
CREATE INDEX macros_created_by ON macros(created_by);
CREATE UNIQUE INDEX macros_org_name ON macros(org_id, LOWER(name)) WHERE team_id IS NULL;
CREATE UNIQUE INDEX macros_team_name ON macros(team_id, LOWER(name)) WHERE team_id IS NOT NULL;
