-- Foundation schema: organizations, people, teams, categories, tickets with
-- comments/attachments/activity, the hash-chained audit log, idempotent
-- intake, the outbox, timers, webhook subscriptions and API tokens.
-- Every tenant-owned row carries org_id; every query is scoped by it.

CREATE TABLE organizations (
    id              BLOB PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    priority_matrix TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE people (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    email      TEXT,
    roles      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE teams (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    lead_id     BLOB REFERENCES people(id),
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX teams_lead ON teams(lead_id);

CREATE TABLE team_members (
    team_id   BLOB NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    person_id BLOB NOT NULL REFERENCES people(id),
    PRIMARY KEY (team_id, person_id)
);
CREATE INDEX team_members_person ON team_members(person_id);

CREATE TABLE categories (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    team_id    BLOB REFERENCES teams(id),
    created_at TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX categories_team ON categories(team_id);

-- One row per organization and kind; the row lock makes numbers gap-free.
CREATE TABLE ticket_counters (
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    kind       TEXT NOT NULL,
    last_value BIGINT NOT NULL,
    PRIMARY KEY (org_id, kind)
);

CREATE TABLE tickets (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    number       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    state        TEXT NOT NULL,
    impact       TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    priority     TEXT NOT NULL,
    requester_id BLOB REFERENCES people(id),
    assignee_id  BLOB REFERENCES people(id),
    team_id      BLOB REFERENCES teams(id),
    category_id  BLOB REFERENCES categories(id),
    channel      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    resolved_at  TEXT,
    closed_at    TEXT,
    UNIQUE (org_id, number)
);
CREATE INDEX tickets_org_created ON tickets(org_id, created_at, id);
CREATE INDEX tickets_org_updated ON tickets(org_id, updated_at, id);
CREATE INDEX tickets_requester ON tickets(requester_id);
CREATE INDEX tickets_assignee ON tickets(assignee_id);
CREATE INDEX tickets_team ON tickets(team_id);
CREATE INDEX tickets_category ON tickets(category_id);

CREATE TABLE comments (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    ticket_id  BLOB NOT NULL REFERENCES tickets(id),
    author_id  BLOB REFERENCES people(id),
    body       TEXT NOT NULL,
    internal   INTEGER NOT NULL,
    channel    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX comments_ticket ON comments(ticket_id, created_at);
CREATE INDEX comments_author ON comments(author_id);

CREATE TABLE attachments (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    ticket_id    BLOB NOT NULL REFERENCES tickets(id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    uploaded_by  BLOB REFERENCES people(id),
    channel      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX attachments_ticket ON attachments(ticket_id);
CREATE INDEX attachments_uploader ON attachments(uploaded_by);

-- What changed on a ticket, by whom, through which channel.
CREATE TABLE activity (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    ticket_id  BLOB NOT NULL REFERENCES tickets(id),
    actor_id   BLOB REFERENCES people(id),
    channel    TEXT NOT NULL,
    action     TEXT NOT NULL,
    field      TEXT,
    old_value  TEXT,
    new_value  TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX activity_ticket ON activity(ticket_id, created_at);
CREATE INDEX activity_actor ON activity(actor_id);

-- Append-only; hash = sha256(previous hash || content). The head row holds
-- the last link so appends serialize per organization.
CREATE TABLE audit_heads (
    org_id BLOB PRIMARY KEY REFERENCES organizations(id),
    seq    BIGINT NOT NULL,
    hash   BLOB NOT NULL
);
CREATE TABLE audit_log (
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    seq        BIGINT NOT NULL,
    at         TEXT NOT NULL,
    actor_id   BLOB,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    content    TEXT NOT NULL,
    hash       BLOB NOT NULL,
    PRIMARY KEY (org_id, seq)
);

-- Idempotent intake: one row per input, keyed by where it came from.
CREATE TABLE inbound (
    source      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE webhook_subscriptions (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL,
    active     INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions(org_id);

-- Messages to deliver after commit; claimed by leasing next_attempt_at.
CREATE TABLE outbox (
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL REFERENCES organizations(id),
    channel         TEXT NOT NULL,
    target          TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_org ON outbox(org_id, created_at);

CREATE TABLE timers (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    kind       TEXT NOT NULL,
    ticket_id  BLOB REFERENCES tickets(id),
    payload    TEXT NOT NULL,
    due_at     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX timers_due ON timers(due_at);
CREATE INDEX timers_ticket ON timers(ticket_id, kind);
CREATE INDEX timers_org ON timers(org_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    person_id    BLOB NOT NULL REFERENCES people(id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_org ON api_tokens(org_id);
CREATE INDEX api_tokens_person ON api_tokens(person_id);
