-- SCIM 2.0 provisioning (issue 24 item 3): the identity provider's view of
-- the people and teams it manages. A provisioned person stays an ordinary
-- `people` row (tickets, identities and roles work as for anyone); these
-- tables hold only what SCIM adds: the provider's names for them, the
-- attributes it sent (served back as sent), and a version for ETags.

-- A person provisioned by SCIM. `user_name_key` is the lower-cased
-- userName: userName is unique per organization without regard to case
-- (RFC 7643 §4.1.1), and `userName eq "…"` — what Entra ID and Okta ask
-- before every create — is answered from this index. DELETE removes the
-- row (the resource is gone) and disables the person, whose tickets stay.
CREATE TABLE scim_users (
    person_id     UUID PRIMARY KEY REFERENCES people(id),
    org_id        UUID NOT NULL REFERENCES organizations(id),
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id   TEXT,
    attributes    JSONB NOT NULL,
    version       BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, user_name_key)
);
CREATE INDEX scim_users_external ON scim_users(org_id, external_id);

-- A SCIM group is a team: its id is the team's id and its members are the
-- team's members. A group whose displayName names an existing team takes
-- that team over instead of creating a second one.
CREATE TABLE scim_groups (
    team_id          UUID PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    org_id           UUID NOT NULL REFERENCES organizations(id),
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT,
    version          BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, display_name_key)
);

-- Which role membership of a group (by lower-cased displayName) grants,
-- set by an admin (`PUT /api/v1/scim/group-roles`). A role some group
-- maps to follows group membership; other roles are left alone.
CREATE TABLE scim_group_roles (
    org_id     UUID NOT NULL REFERENCES organizations(id),
    group_key  TEXT NOT NULL,
    group_name TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (org_id, group_key)
);
