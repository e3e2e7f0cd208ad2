-- Alert intake (Alertmanager, Events v2, generic JSON): integrations are
-- the senders, each with a hashed secret; a group (Alertmanager groupKey,
-- Events v2 dedup_key, the generic dedup key) has at most one incident at a
-- time, and each of its alerts (by fingerprint) is one row of that incident.
CREATE TABLE integrations (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- Hash of the secret (Events v2: of the routing key, which is the secret).
    token_hash  TEXT NOT NULL UNIQUE,
    settings    JSONB NOT NULL,
    enabled     BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX integrations_org ON integrations(org_id);

CREATE TABLE alert_groups (
    id             UUID PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES organizations(id),
    integration_id UUID NOT NULL REFERENCES integrations(id),
    group_key      TEXT NOT NULL,
    -- The group's incident now (open, or resolved and reopenable).
    ticket_id      UUID REFERENCES tickets(id),
    firing         BOOLEAN NOT NULL,
    -- When the group last opened or reopened its incident, and how many
    -- times it did since flap_since (flapping detection).
    opened_at      TIMESTAMPTZ NOT NULL,
    flap_since     TIMESTAMPTZ NOT NULL,
    flap_opens     INTEGER NOT NULL,
    last_event_at  TIMESTAMPTZ NOT NULL,
    resolved_at    TIMESTAMPTZ,
    -- Silenced from chat: until then a firing neither reopens nor opens
    -- an incident (it is recorded on the current one).
    silenced_until TIMESTAMPTZ,
    -- Someone (or the sender) acknowledged the incident since it last opened.
    acknowledged_at TIMESTAMPTZ,
    UNIQUE (integration_id, group_key)
);
CREATE INDEX alert_groups_ticket ON alert_groups(ticket_id);

CREATE TABLE alerts (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL REFERENCES organizations(id),
    group_id      UUID NOT NULL REFERENCES alert_groups(id),
    ticket_id     UUID NOT NULL REFERENCES tickets(id),
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    severity      TEXT,
    labels        JSONB NOT NULL,
    annotations   JSONB NOT NULL,
    starts_at     TIMESTAMPTZ,
    ends_at       TIMESTAMPTZ,
    generator_url TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (ticket_id, fingerprint)
);
CREATE INDEX alert_groups_org ON alert_groups(org_id);
CREATE INDEX alerts_org ON alerts(org_id);
CREATE INDEX alerts_group ON alerts(group_id);
