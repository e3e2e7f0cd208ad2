-- SCIM 2.0 provisioning (see the Postgres twin for why each table exists).

CREATE TABLE scim_users (
    person_id     BLOB PRIMARY KEY REFERENCES people(id),
    org_id        BLOB NOT NULL REFERENCES organizations(id),
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id   TEXT,
    attributes    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (org_id, user_name_key)
);
CREATE INDEX scim_users_external ON scim_users(org_id, external_id);

CREATE TABLE scim_groups (
    team_id          BLOB PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    org_id           BLOB NOT NULL REFERENCES organizations(id),
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT,
    version          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (org_id, display_name_key)
);

CREATE TABLE scim_group_roles (
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    group_key  TEXT NOT NULL,
    group_name TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (org_id, group_key)
);
