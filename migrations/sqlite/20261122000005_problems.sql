-- Problem management and incident specifics: incidents linked to problems,
-- each problem's workaround and root-cause analysis, the known-error
-- database (KEDB) with full-text search, known errors linked to incidents;
-- on tickets the major-incident flag, the parent incident and the
-- escalation level.

ALTER TABLE tickets ADD COLUMN major INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN parent_id BLOB REFERENCES tickets(id);
ALTER TABLE tickets ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tickets_parent ON tickets(parent_id);

-- An incident belongs to at most one problem (the primary key).
CREATE TABLE problem_incidents (
    incident_id BLOB PRIMARY KEY REFERENCES tickets(id),
    problem_id  BLOB NOT NULL REFERENCES tickets(id),
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    created_at  TEXT NOT NULL
);
CREATE INDEX problem_incidents_problem ON problem_incidents(problem_id);
CREATE INDEX problem_incidents_org ON problem_incidents(org_id);

-- What only problems have: the workaround and the root-cause analysis
-- (JSON: timeline, cause, five_whys, analysis).
CREATE TABLE problem_details (
    ticket_id  BLOB PRIMARY KEY REFERENCES tickets(id),
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    workaround TEXT NOT NULL,
    rca        TEXT,
    updated_by BLOB REFERENCES people(id),
    updated_at TEXT NOT NULL
);
CREATE INDEX problem_details_org ON problem_details(org_id);
CREATE INDEX problem_details_updated_by ON problem_details(updated_by);

CREATE TABLE known_errors (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    title      TEXT NOT NULL,
    symptoms   TEXT NOT NULL,
    cause      TEXT NOT NULL,
    workaround TEXT NOT NULL,
    problem_id BLOB REFERENCES tickets(id),
    active     INTEGER NOT NULL,
    created_by BLOB REFERENCES people(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX known_errors_org ON known_errors(org_id, updated_at);
CREATE INDEX known_errors_problem ON known_errors(problem_id);
CREATE INDEX known_errors_created_by ON known_errors(created_by);
-- No full-text index on SQLite: the store ranks known errors by matched
-- terms there (domain::problem::term_score).

CREATE TABLE ticket_known_errors (
    ticket_id      BLOB NOT NULL REFERENCES tickets(id),
    known_error_id BLOB NOT NULL REFERENCES known_errors(id),
    org_id         BLOB NOT NULL REFERENCES organizations(id),
    linked_by      BLOB REFERENCES people(id),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (ticket_id, known_error_id)
);
CREATE INDEX ticket_known_errors_known_error ON ticket_known_errors(known_error_id);
CREATE INDEX ticket_known_errors_org ON ticket_known_errors(org_id);
CREATE INDEX ticket_known_errors_linked_by ON ticket_known_errors(linked_by);
