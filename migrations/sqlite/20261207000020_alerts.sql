-- Alert intake (Alertmanager, Events v2, generic JSON): integrations are
-- the senders, each with a hashed secret; a group (Alertmanager groupKey,
-- Events v2 dedup_key, the generic dedup key) has at most one incident at a
-- time, and each of its alerts (by fingerprint) is one row of that incident.
CREATE TABLE integrations (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- Hash of the secret (Events v2: of the routing key, which is the secret).
    token_hash  TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX integrations_org ON integrations(org_id);

CREATE TABLE alert_groups (
    id             BLOB PRIMARY KEY,
    org_id         BLOB NOT NULL REFERENCES organizations(id),
    integration_id BLOB NOT NULL REFERENCES integrations(id),
    group_key      TEXT NOT NULL,
    -- The group's incident now (open, or resolved and reopenable).
    ticket_id      BLOB REFERENCES tickets(id),
    firing         INTEGER NOT NULL,
    -- When the group last opened or reopened its incident, and how many
    -- times it did since flap_since (flapping detection).
    opened_at      TEXT NOT NULL,
    flap_since     TEXT NOT NULL,
    flap_opens     INTEGER NOT NULL,
    last_event_at  TEXT NOT NULL,
    resolved_at    TEXT,
    -- Silenced from chat: until then a firing neither reopens nor opens
    -- an incident (it is recorded on the current one).
    silenced_until TEXT,
    -- Someone (or the sender) acknowledged the incident since it last opened.
    acknowledged_at TEXT,
    UNIQUE (integration_id, group_key)
);
CREATE INDEX alert_groups_ticket ON alert_groups(ticket_id);

CREATE TABLE alerts (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES organizations(id),
    group_id      BLOB NOT NULL REFERENCES alert_groups(id),
    ticket_id     BLOB NOT NULL REFERENCES tickets(id),
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    severity      TEXT,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    starts_at     TEXT,
    ends_at       TEXT,
    generator_url TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (ticket_id, fingerprint)
);
CREATE INDEX alert_groups_org ON alert_groups(org_id);
CREATE INDEX alerts_org ON alerts(org_id);
CREATE INDEX alerts_group ON alerts(group_id);
