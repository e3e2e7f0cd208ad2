-- Problem management and incident specifics: incidents linked to problems,
-- each problem's workaround and root-cause analysis, the known-error
-- database (KEDB) with full-text search, known errors linked to incidents;
-- on tickets the major-incident flag, the parent incident and the
-- escalation level.

ALTER TABLE tickets ADD COLUMN major BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN parent_id UUID REFERENCES tickets(id);
ALTER TABLE tickets ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tickets_parent ON tickets(parent_id);

-- An incident belongs to at most one problem (the primary key).
CREATE TABLE problem_incidents (
    incident_id UUID PRIMARY KEY REFERENCES tickets(id),
    problem_id  UUID NOT NULL REFERENCES tickets(id),
    org_id      UUID NOT NULL REFERENCES organizations(id),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX problem_incidents_problem ON problem_incidents(problem_id);
CREATE INDEX problem_incidents_org ON problem_incidents(org_id);

-- What only problems have: the workaround and the root-cause analysis
-- (JSON: timeline, cause, five_whys, analysis).
CREATE TABLE problem_details (
    ticket_id  UUID PRIMARY KEY REFERENCES tickets(id),
    org_id     UUID NOT NULL REFERENCES organizations(id),
    workaround TEXT NOT NULL,
    rca        JSONB,
    updated_by UUID REFERENCES people(id),
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX problem_details_org ON problem_details(org_id);
CREATE INDEX problem_details_updated_by ON problem_details(updated_by);

CREATE TABLE known_errors (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    title      TEXT NOT NULL,
    symptoms   TEXT NOT NULL,
    cause      TEXT NOT NULL,
    workaround TEXT NOT NULL,
    problem_id UUID REFERENCES tickets(id),
    active     BOOLEAN NOT NULL,
    created_by UUID REFERENCES people(id),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX known_errors_org ON known_errors(org_id, updated_at);
CREATE INDEX known_errors_problem ON known_errors(problem_id);
CREATE INDEX known_errors_created_by ON known_errors(created_by);
-- Full-text search; the expression must stay the one in
-- src/store/problems.rs (KE_DOCUMENT) for the planner to use it.
CREATE INDEX known_errors_search ON known_errors USING GIN ((
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', symptoms), 'B') ||
    setweight(to_tsvector('english', cause), 'C') ||
    setweight(to_tsvector('english', workaround), 'D')
));

CREATE TABLE ticket_known_errors (
    ticket_id      UUID NOT NULL REFERENCES tickets(id),
    known_error_id UUID NOT NULL REFERENCES known_errors(id),
    org_id         UUID NOT NULL REFERENCES organizations(id),
    linked_by      UUID REFERENCES people(id),
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticket_id, known_error_id)
);
CREATE INDEX ticket_known_errors_known_error ON ticket_known_errors(known_error_id);
CREATE INDEX ticket_known_errors_org ON ticket_known_errors(org_id);
CREATE INDEX ticket_known_errors_linked_by ON ticket_known_errors(linked_by);
