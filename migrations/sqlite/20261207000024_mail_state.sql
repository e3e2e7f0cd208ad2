-- Mail connection state that outlives a process (see the Postgres twin).

CREATE TABLE oauth_refresh_tokens (
    key          TEXT PRIMARY KEY,
    token_nonce  BLOB NOT NULL,
    token_sealed BLOB NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE mail_auth_alerts (
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    account    TEXT NOT NULL,
    alerted_at TEXT NOT NULL,
    PRIMARY KEY (org_id, account)
);
