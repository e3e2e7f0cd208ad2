-- CMDB: classes with attribute schemas (a default set per organization,
-- extensible), configuration items, typed directed relationships, unique
-- attribute values, links to tickets, and the history of every change.

CREATE TABLE ci_classes (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    label      TEXT NOT NULL,
    schema     JSONB NOT NULL,
    builtin    BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE configuration_items (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL REFERENCES organizations(id),
    class_id      UUID NOT NULL REFERENCES ci_classes(id),
    name          TEXT NOT NULL,
    owner_team_id UUID REFERENCES teams(id),
    lifecycle     TEXT NOT NULL,
    criticality   TEXT NOT NULL,
    attributes    JSONB NOT NULL,
    external_id   TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, external_id)
);
CREATE INDEX configuration_items_class ON configuration_items(class_id);
CREATE INDEX configuration_items_owner ON configuration_items(owner_team_id);
CREATE INDEX configuration_items_org_name ON configuration_items(org_id, name);

-- Values of attributes the class marks unique (hostname, serial…), so the
-- database refuses duplicates on both backends.
CREATE TABLE ci_unique_values (
    org_id    UUID NOT NULL REFERENCES organizations(id),
    class_id  UUID NOT NULL REFERENCES ci_classes(id),
    attribute TEXT NOT NULL,
    value     TEXT NOT NULL,
    ci_id     UUID NOT NULL REFERENCES configuration_items(id),
    PRIMARY KEY (org_id, class_id, attribute, value)
);
CREATE INDEX ci_unique_values_class ON ci_unique_values(class_id);
CREATE INDEX ci_unique_values_ci ON ci_unique_values(ci_id);

-- "source <kind> target", e.g. app runs_on server.
CREATE TABLE ci_relationships (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    source_id  UUID NOT NULL REFERENCES configuration_items(id),
    target_id  UUID NOT NULL REFERENCES configuration_items(id),
    kind       TEXT NOT NULL,
    attributes JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, source_id, target_id, kind)
);
CREATE INDEX ci_relationships_source ON ci_relationships(source_id);
CREATE INDEX ci_relationships_target ON ci_relationships(target_id);

CREATE TABLE ticket_cis (
    ticket_id  UUID NOT NULL REFERENCES tickets(id),
    ci_id      UUID NOT NULL REFERENCES configuration_items(id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticket_id, ci_id)
);
CREATE INDEX ticket_cis_ci ON ticket_cis(ci_id);

CREATE TABLE ci_history (
    id         UUID PRIMARY KEY,
    org_id     UUID NOT NULL REFERENCES organizations(id),
    ci_id      UUID NOT NULL REFERENCES configuration_items(id),
    actor_id   UUID REFERENCES people(id),
    channel    TEXT NOT NULL,
    action     TEXT NOT NULL,
    field      TEXT,
    old_value  TEXT,
    new_value  TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ci_history_ci ON ci_history(ci_id, created_at);
CREATE INDEX ci_history_org ON ci_history(org_id);
CREATE INDEX ci_history_actor ON ci_history(actor_id);
