-- Identity and access: linked identities, local accounts (passwords, MFA),
-- invitations, password resets, login sessions (refresh-token families),
-- one-time link codes, login throttling, watchers, and profile fields.

ALTER TABLE organizations ADD COLUMN mfa_required INTEGER NOT NULL DEFAULT 0;

ALTER TABLE people ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE people ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE people ADD COLUMN notification_prefs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE people ADD COLUMN password_hash TEXT;
ALTER TABLE people ADD COLUMN mfa_secret TEXT;
ALTER TABLE people ADD COLUMN mfa_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN mfa_last_step BIGINT;
ALTER TABLE people ADD COLUMN disabled_at TEXT;

ALTER TABLE teams ADD COLUMN default_channel TEXT;
ALTER TABLE teams ADD COLUMN escalation_contact BLOB REFERENCES people(id);
CREATE INDEX teams_escalation_contact ON teams(escalation_contact);

ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
-- `read` tokens may only read; `read_write` may do what their role allows.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read_write';

-- Ways a person is known: a Slack user (namespace = team id), a Discord user
-- (namespace = guild id), an email address (namespace = '').
CREATE TABLE identities (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    person_id   BLOB NOT NULL REFERENCES people(id),
    kind        TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    external_id TEXT NOT NULL,
    verified    INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (org_id, kind, namespace, external_id)
);
CREATE INDEX identities_person ON identities(person_id);

-- Short-lived codes a person shows in chat (`/link 483920`) to join that
-- chat identity to their account; stored hashed.
CREATE TABLE link_codes (
    code_hash  TEXT PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    person_id  BLOB NOT NULL REFERENCES people(id),
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX link_codes_org ON link_codes(org_id);
CREATE INDEX link_codes_person ON link_codes(person_id);

CREATE TABLE invitations (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    roles       TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  BLOB REFERENCES people(id),
    expires_at  TEXT NOT NULL,
    accepted_at TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX invitations_org ON invitations(org_id);
CREATE INDEX invitations_invited_by ON invitations(invited_by);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    person_id  BLOB NOT NULL REFERENCES people(id),
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX password_resets_org ON password_resets(org_id);
CREATE INDEX password_resets_person ON password_resets(person_id);

-- One row per refresh token; a login starts a family. Presenting a token
-- that was already rotated revokes the whole family (theft detection).
CREATE TABLE refresh_tokens (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    person_id  BLOB NOT NULL REFERENCES people(id),
    family_id  BLOB NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_person ON refresh_tokens(person_id);
CREATE INDEX refresh_tokens_org ON refresh_tokens(org_id);

-- Pending second login step (password accepted, TOTP still due).
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    person_id  BLOB NOT NULL REFERENCES people(id),
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX mfa_challenges_org ON mfa_challenges(org_id);
CREATE INDEX mfa_challenges_person ON mfa_challenges(person_id);

CREATE TABLE recovery_codes (
    person_id BLOB NOT NULL REFERENCES people(id),
    code_hash TEXT NOT NULL,
    used_at   TEXT,
    PRIMARY KEY (person_id, code_hash)
);

-- Failed-login counters per account and per client address.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT
);

CREATE TABLE watchers (
    ticket_id BLOB NOT NULL REFERENCES tickets(id),
    person_id BLOB NOT NULL REFERENCES people(id),
    PRIMARY KEY (ticket_id, person_id)
);
CREATE INDEX watchers_person ON watchers(person_id);

-- Secrets the replicas must share (the JWT signing key), created on first start.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
