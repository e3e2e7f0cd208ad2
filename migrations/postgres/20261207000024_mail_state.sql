-- Mail connection state that must outlive a process and be shared by
-- replicas (issue 22 item 8).

-- A refresh token the OAuth provider rotated, sealed with a key derived
-- from the configured credentials (runtime::seal), so a database dump does
-- not hold a usable token. `key`: SHA-256 of the token URL, client id and
-- configured refresh token — changing the configured token starts afresh.
CREATE TABLE oauth_refresh_tokens (
    key          TEXT PRIMARY KEY,
    token_nonce  BYTEA NOT NULL,
    token_sealed BYTEA NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- An account (SMTP sender or mailbox) that cannot sign in and whose
-- organization's admins were told: one alert per failure streak on every
-- replica and across restarts; the row goes when a sign-in succeeds.
CREATE TABLE mail_auth_alerts (
    org_id     UUID NOT NULL REFERENCES organizations(id),
    account    TEXT NOT NULL,
    alerted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, account)
);
