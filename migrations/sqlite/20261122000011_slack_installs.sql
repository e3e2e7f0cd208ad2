-- Slack workspaces installed through the OAuth v2 flow: each workspace's
-- bot token, sealed with AES-256-GCM under `slack.token_key` (the team id
-- is the associated data, so a sealed token cannot be moved to another
-- row), and the organization the workspace belongs to.
CREATE TABLE slack_installs (
    team_id      TEXT PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES organizations(id),
    team_name    TEXT NOT NULL,
    bot_user_id  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    token_nonce  BLOB NOT NULL,
    token_sealed BLOB NOT NULL,
    installed_at TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX slack_installs_org ON slack_installs(org_id, updated_at);
