-- Desk operations (issue 23): ticket tags, how a team spreads its work over
-- its agents (strategy, rotation turn, a cap on open tickets per agent),
-- agents' skills and which tickets need them, working hours and absences.

ALTER TABLE tickets ADD COLUMN tags JSONB NOT NULL DEFAULT '[]';

-- `none`, `round_robin`, `least_loaded` or `skills` (domain::assignment).
ALTER TABLE teams ADD COLUMN assignment TEXT NOT NULL DEFAULT 'none';
ALTER TABLE teams ADD COLUMN max_open_per_agent INTEGER;
-- The team's rotation: each automatic assignment takes the next turn and
-- stamps it on the member who got it, so the member with the oldest turn
-- is next (a counter, not a clock: two assignments in one microsecond
-- still rotate).
ALTER TABLE teams ADD COLUMN assignment_turn BIGINT NOT NULL DEFAULT 0;
ALTER TABLE team_members ADD COLUMN last_turn BIGINT NOT NULL DEFAULT 0;

-- An agent's working hours: a business calendar (off shift outside it).
ALTER TABLE people ADD COLUMN work_calendar_id UUID REFERENCES sla_calendars(id);
CREATE INDEX people_work_calendar ON people(work_calendar_id);

CREATE TABLE agent_skills (
    person_id UUID NOT NULL REFERENCES people(id),
    org_id    UUID NOT NULL REFERENCES organizations(id),
    skill     TEXT NOT NULL,
    PRIMARY KEY (person_id, skill)
);
CREATE INDEX agent_skills_org ON agent_skills(org_id);

-- A ticket of this category, with a CI of this class or carrying this tag
-- needs the skill (exactly one of the three is set).
CREATE TABLE skill_rules (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations(id),
    skill       TEXT NOT NULL,
    category_id UUID REFERENCES categories(id) ON DELETE CASCADE,
    ci_class    TEXT,
    tag         TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK ((category_id IS NOT NULL)::int + (ci_class IS NOT NULL)::int + (tag IS NOT NULL)::int = 1)
);
CREATE INDEX skill_rules_org ON skill_rules(org_id);
CREATE INDEX skill_rules_category ON skill_rules(category_id);

-- Out of office. `handover`: `keep` (tickets stay), `queue` (back to the
-- team, which assigns them again by its strategy) or `delegate`.
CREATE TABLE absences (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES organizations(id),
    person_id    UUID NOT NULL REFERENCES people(id),
    starts_at    TIMESTAMPTZ NOT NULL,
    ends_at      TIMESTAMPTZ NOT NULL,
    note         TEXT NOT NULL,
    handover     TEXT NOT NULL,
    delegate_id  UUID REFERENCES people(id),
    created_by   UUID REFERENCES people(id),
    created_at   TIMESTAMPTZ NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX absences_person ON absences(person_id, ends_at);
CREATE INDEX absences_org ON absences(org_id);
CREATE INDEX absences_delegate ON absences(delegate_id);
CREATE INDEX absences_created_by ON absences(created_by);
