-- Single sign-on with OpenID Connect (see the Postgres twin for why each table is there).

-- An organization's identity providers. The client secret is sealed
-- (AES-256-GCM, desk::auth::oidc) with the provider's id as associated
-- data, so it is never stored or answered in the clear. `allowed_domains`
-- and `role_mapping` (group → role) are JSON: a list and an object.
CREATE TABLE sso_providers (
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    secret_nonce    BLOB NOT NULL,
    secret_sealed   BLOB NOT NULL,
    allowed_domains TEXT NOT NULL,
    role_mapping    TEXT NOT NULL,
    groups_claim    TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, name)
);

-- A sign-in under way: the `state` (stored hashed) names the row; nonce
-- and PKCE verifier go with it to the callback; `browser_hash` binds it
-- to the browser that started it (a cookie), so a callback link sent to
-- someone else signs nobody in. Single use: the callback marks it used
-- before it exchanges the code, so a replayed callback is refused.
CREATE TABLE sso_logins (
    state_hash    TEXT PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES organizations(id),
    provider_id   BLOB NOT NULL REFERENCES sso_providers(id) ON DELETE CASCADE,
    browser_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX sso_logins_org ON sso_logins(org_id);
CREATE INDEX sso_logins_provider ON sso_logins(provider_id);
CREATE INDEX sso_logins_expires ON sso_logins(expires_at);

-- Who a provider's subject (`sub`) is here: linked at the first sign-in
-- (just-in-time), by verified email to an existing person or to a new one.
CREATE TABLE sso_identities (
    provider_id BLOB NOT NULL REFERENCES sso_providers(id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    person_id   BLOB NOT NULL REFERENCES people(id),
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    last_login  TEXT NOT NULL,
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX sso_identities_org ON sso_identities(org_id);
CREATE INDEX sso_identities_person ON sso_identities(person_id);

-- Whether local passwords still sign in, per organization (no row: they
-- do). `break_glass`: ids of the people who keep password sign-in when
-- they are off (each such sign-in is audited).
CREATE TABLE sso_settings (
    org_id          BLOB PRIMARY KEY REFERENCES organizations(id),
    local_passwords INTEGER NOT NULL,
    break_glass     TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
