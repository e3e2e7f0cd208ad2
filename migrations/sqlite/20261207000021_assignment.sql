-- Desk operations (issue 23): ticket tags, team assignment strategies,
-- skills, working hours and absences (see the Postgres twin for the why).

ALTER TABLE tickets ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

ALTER TABLE teams ADD COLUMN assignment TEXT NOT NULL DEFAULT 'none';
ALTER TABLE teams ADD COLUMN max_open_per_agent INTEGER;
ALTER TABLE teams ADD COLUMN assignment_turn INTEGER NOT NULL DEFAULT 0;
ALTER TABLE team_members ADD COLUMN last_turn INTEGER NOT NULL DEFAULT 0;

ALTER TABLE people ADD COLUMN work_calendar_id BLOB REFERENCES sla_calendars(id);

CREATE TABLE agent_skills (
    person_id BLOB NOT NULL REFERENCES people(id),
    org_id    BLOB NOT NULL REFERENCES organizations(id),
    skill     TEXT NOT NULL,
    PRIMARY KEY (person_id, skill)
);

CREATE TABLE skill_rules (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    skill       TEXT NOT NULL,
    category_id BLOB REFERENCES categories(id) ON DELETE CASCADE,
    ci_class    TEXT,
    tag         TEXT,
    created_at  TEXT NOT NULL,
    CHECK ((category_id IS NOT NULL) + (ci_class IS NOT NULL) + (tag IS NOT NULL) = 1)
);
CREATE INDEX skill_rules_org ON skill_rules(org_id);

CREATE TABLE absences (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    person_id    BLOB NOT NULL REFERENCES people(id),
    starts_at    TEXT NOT NULL,
    ends_at      TEXT NOT NULL,
    note         TEXT NOT NULL,
    handover     TEXT NOT NULL,
    delegate_id  BLOB REFERENCES people(id),
    created_by   BLOB REFERENCES people(id),
    created_at   TEXT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX absences_person ON absences(person_id, ends_at);
