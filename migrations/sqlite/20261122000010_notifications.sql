-- Notifications: routing, preferences, in-app inbox, SMS.
--
-- The in-app channel: one row per message to a person, written in the
-- same transaction as the change it tells of; read through
-- /api/v1/me/inbox and marked read there.
CREATE TABLE inbox (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    person_id  BLOB NOT NULL REFERENCES people(id),
    event      TEXT NOT NULL,
    ticket     TEXT,
    subject    TEXT NOT NULL,
    text       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at    TEXT
);
CREATE INDEX inbox_person ON inbox(person_id, created_at);
CREATE INDEX inbox_org ON inbox(org_id);

-- Per-organization notification defaults (channels, events, quiet hours,
-- recipient routes), under people's own preferences. No row: built-in.
CREATE TABLE notification_defaults (
    org_id     BLOB PRIMARY KEY REFERENCES organizations(id),
    settings   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- SMS needs a number: E.164, validated when the profile is saved.
ALTER TABLE people ADD COLUMN phone TEXT;

