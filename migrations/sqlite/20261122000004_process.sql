-- Process core: approval policies and approvals, delegations, managers,
-- the service catalog with forms and tasks, change management and
-- automation rules.

-- Who a person reports to ("the requester's manager" approves).
CREATE TABLE person_managers (
    person_id  BLOB PRIMARY KEY REFERENCES people(id),
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    manager_id BLOB NOT NULL REFERENCES people(id)
);
CREATE INDEX person_managers_manager ON person_managers(manager_id);
CREATE INDEX person_managers_org ON person_managers(org_id);

CREATE TABLE approval_policies (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    stages      TEXT NOT NULL,
    -- `normal_change` or `emergency_change`: the policy changes of that
    -- type go through unless they name another.
    default_for TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (org_id, name),
    UNIQUE (org_id, default_for)
);

-- One approval run of a policy for a ticket; the stages are copied so a
-- later edit of the policy does not change a running approval.
CREATE TABLE approvals (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES organizations(id),
    ticket_id        BLOB NOT NULL REFERENCES tickets(id),
    policy_id        BLOB REFERENCES approval_policies(id),
    policy_name      TEXT NOT NULL,
    stages           TEXT NOT NULL,
    status           TEXT NOT NULL,
    stage            INTEGER NOT NULL,
    stage_started_at TEXT NOT NULL,
    -- Whether the current stage was already escalated on expiry.
    escalated        INTEGER NOT NULL,
    requester_id     BLOB REFERENCES people(id),
    reason           TEXT,
    created_at       TEXT NOT NULL,
    completed_at     TEXT
);
CREATE INDEX approvals_ticket ON approvals(ticket_id);
CREATE INDEX approvals_org_status ON approvals(org_id, status);
CREATE INDEX approvals_policy ON approvals(policy_id);
CREATE INDEX approvals_requester ON approvals(requester_id);

-- The people who may decide a stage, fixed when the stage starts.
CREATE TABLE approval_approvers (
    approval_id BLOB NOT NULL REFERENCES approvals(id),
    stage       INTEGER NOT NULL,
    person_id   BLOB NOT NULL REFERENCES people(id),
    PRIMARY KEY (approval_id, stage, person_id)
);
CREATE INDEX approval_approvers_person ON approval_approvers(person_id);

-- The key makes a second decision for the same approver impossible, even
-- from two clicks racing.
CREATE TABLE approval_decisions (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    approval_id BLOB NOT NULL REFERENCES approvals(id),
    stage       INTEGER NOT NULL,
    approver_id BLOB NOT NULL REFERENCES people(id),
    decided_by  BLOB REFERENCES people(id),
    decision    TEXT NOT NULL,
    reason      TEXT,
    channel     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (approval_id, stage, approver_id)
);
CREATE INDEX approval_decisions_org ON approval_decisions(org_id);
CREATE INDEX approval_decisions_approver ON approval_decisions(approver_id);
CREATE INDEX approval_decisions_decided_by ON approval_decisions(decided_by);

CREATE TABLE delegations (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    from_id    BLOB NOT NULL REFERENCES people(id),
    to_id      BLOB NOT NULL REFERENCES people(id),
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX delegations_from ON delegations(from_id, ends_at);
CREATE INDEX delegations_to ON delegations(to_id, ends_at);
CREATE INDEX delegations_org ON delegations(org_id);

CREATE TABLE catalog_categories (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    position    INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE catalog_items (
    id                 BLOB PRIMARY KEY,
    org_id             BLOB NOT NULL REFERENCES organizations(id),
    category_id        BLOB REFERENCES catalog_categories(id),
    name               TEXT NOT NULL,
    description        TEXT NOT NULL,
    form               TEXT NOT NULL,
    team_id            BLOB REFERENCES teams(id),
    approval_policy_id BLOB REFERENCES approval_policies(id),
    -- Task titles created with every order.
    tasks              TEXT NOT NULL,
    active             INTEGER NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX catalog_items_category ON catalog_items(category_id);
CREATE INDEX catalog_items_team ON catalog_items(team_id);
CREATE INDEX catalog_items_policy ON catalog_items(approval_policy_id);

-- What was ordered: the item and the validated answers.
CREATE TABLE request_details (
    ticket_id BLOB PRIMARY KEY REFERENCES tickets(id),
    org_id    BLOB NOT NULL REFERENCES organizations(id),
    item_id   BLOB NOT NULL REFERENCES catalog_items(id),
    answers   TEXT NOT NULL
);
CREATE INDEX request_details_item ON request_details(item_id);
CREATE INDEX request_details_org ON request_details(org_id);

-- Fulfilment tasks of requests and implementation tasks of changes.
CREATE TABLE tasks (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    ticket_id   BLOB NOT NULL REFERENCES tickets(id),
    position    INTEGER NOT NULL,
    title       TEXT NOT NULL,
    assignee_id BLOB REFERENCES people(id),
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (ticket_id, position)
);
CREATE INDEX tasks_org ON tasks(org_id);
CREATE INDEX tasks_assignee ON tasks(assignee_id);

CREATE TABLE change_templates (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    tasks       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE change_details (
    ticket_id          BLOB PRIMARY KEY REFERENCES tickets(id),
    org_id             BLOB NOT NULL REFERENCES organizations(id),
    change_type        TEXT NOT NULL,
    template_id        BLOB REFERENCES change_templates(id),
    approval_policy_id BLOB REFERENCES approval_policies(id),
    risk               TEXT,
    planned_start      TEXT,
    planned_end        TEXT,
    review             TEXT
);
CREATE INDEX change_details_org_window ON change_details(org_id, planned_start);
CREATE INDEX change_details_template ON change_details(template_id);
CREATE INDEX change_details_policy ON change_details(approval_policy_id);

-- Periods in which a team (or, without a team, everyone) makes no changes.
CREATE TABLE freeze_windows (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    team_id    BLOB REFERENCES teams(id),
    name       TEXT NOT NULL,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX freeze_windows_org ON freeze_windows(org_id, starts_at);
CREATE INDEX freeze_windows_team ON freeze_windows(team_id);

CREATE TABLE automation_rules (
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    position        INTEGER NOT NULL,
    enabled         INTEGER NOT NULL,
    on_event        TEXT NOT NULL,
    match_all       INTEGER NOT NULL,
    conditions      TEXT NOT NULL,
    actions         TEXT NOT NULL,
    stop_processing INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX automation_rules_org ON automation_rules(org_id, position);
