-- Foundation schema: organizations, people, teams, categories, tickets with
-- comments/attachments/activity, the hash-chained audit log, idempotent
-- intake, the outbox, timers, webhook subscriptions and API tokens.
-- Every tenant-owned row carries org_id; every query is scoped by it.

CREATE TABLE organizations (
    id              UUID PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    priority_matrix JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE people (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    email      TEXT,
    roles      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE teams (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    lead_id     UUID REFERENCES people(id),
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX teams_lead ON teams(lead_id);

CREATE TABLE team_members (
    team_id   UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    person_id UUID NOT NULL REFERENCES people(id),
    PRIMARY KEY (team_id, person_id)
);
CREATE INDEX team_members_person ON team_members(person_id);

CREATE TABLE categories (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    team_id    UUID REFERENCES teams(id),
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX categories_team ON categories(team_id);

-- One row per organization and kind; the row lock makes numbers gap-free.
CREATE TABLE ticket_counters (
    org_id     UUID NOT NULL REFERENCES organizations(id),
    kind       TEXT NOT NULL,
    last_value BIGINT NOT NULL,
    PRIMARY KEY (org_id, kind)
);

CREATE TABLE tickets (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES organizations(id),
    number       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    state        TEXT NOT NULL,
    impact       TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    priority     TEXT NOT NULL,
    requester_id UUID REFERENCES people(id),
    assignee_id  UUID REFERENCES people(id),
    team_id      UUID REFERENCES teams(id),
    category_id  UUID REFERENCES categories(id),
    channel      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    resolved_at  TIMESTAMPTZ,
    closed_at    TIMESTAMPTZ,
    UNIQUE (org_id, number)
);
CREATE INDEX tickets_org_created ON tickets(org_id, created_at, id);
CREATE INDEX tickets_org_updated ON tickets(org_id, updated_at, id);
CREATE INDEX tickets_requester ON tickets(requester_id);
CREATE INDEX tickets_assignee ON tickets(assignee_id);
CREATE INDEX tickets_team ON tickets(team_id);
CREATE INDEX tickets_category ON tickets(category_id);

CREATE TABLE comments (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    ticket_id  UUID NOT NULL REFERENCES tickets(id),
    author_id  UUID REFERENCES people(id),
    body       TEXT NOT NULL,
    internal   BOOLEAN NOT NULL,
    channel    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX comments_ticket ON comments(ticket_id, created_at);
CREATE INDEX comments_org ON comments(org_id);
CREATE INDEX comments_author ON comments(author_id);

CREATE TABLE attachments (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES organizations(id),
    ticket_id    UUID NOT NULL REFERENCES tickets(id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    uploaded_by  UUID REFERENCES people(id),
    channel      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachments_ticket ON attachments(ticket_id);
CREATE INDEX attachments_org ON attachments(org_id);
CREATE INDEX attachments_uploader ON attachments(uploaded_by);

-- What changed on a ticket, by whom, through which channel.
CREATE TABLE activity (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    ticket_id  UUID NOT NULL REFERENCES tickets(id),
    actor_id   UUID REFERENCES people(id),
    channel    TEXT NOT NULL,
    action     TEXT NOT NULL,
    field      TEXT,
    old_value  TEXT,
    new_value  TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX activity_ticket ON activity(ticket_id, created_at);
CREATE INDEX activity_org ON activity(org_id);
CREATE INDEX activity_actor ON activity(actor_id);

-- Append-only; hash = sha256(previous hash || content). The head row holds
-- the last link so appends serialize per organization.
CREATE TABLE audit_heads (
    org_id UUID PRIMARY KEY REFERENCES organizations(id),
    seq    BIGINT NOT NULL,
    hash   BYTEA NOT NULL
);
CREATE TABLE audit_log (
    org_id     UUID NOT NULL REFERENCES organizations(id),
    seq        BIGINT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    actor_id   UUID,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    content    TEXT NOT NULL,
    hash       BYTEA NOT NULL,
    PRIMARY KEY (org_id, seq)
);

-- Idempotent intake: one row per input, keyed by where it came from.
CREATE TABLE inbound (
    source      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    response    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE webhook_subscriptions (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     JSONB NOT NULL,
    active     BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions(org_id);

-- Messages to deliver after commit; claimed by leasing next_attempt_at.
CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations(id),
    channel         TEXT NOT NULL,
    target          TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         JSONB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_org ON outbox(org_id, created_at);

CREATE TABLE timers (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    kind       TEXT NOT NULL,
    ticket_id  UUID REFERENCES tickets(id),
    payload    JSONB NOT NULL,
    due_at     TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX timers_due ON timers(due_at);
CREATE INDEX timers_ticket ON timers(ticket_id, kind);
CREATE INDEX timers_org ON timers(org_id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES organizations(id),
    person_id    UUID NOT NULL REFERENCES people(id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_org ON api_tokens(org_id);
CREATE INDEX api_tokens_person ON api_tokens(person_id);
