-- Issue 20 item 3: the Discord gateway session, so that a reconnect — or a
-- new leader after a failover — RESUMEs where the last one stopped and
-- Discord replays what was missed. `sequence` is the last dispatch whose
-- use case committed, never merely one that was received. An event that
-- keeps failing is counted here (`failing_*`) and, after a few attempts,
-- recorded in `gateway_failed_events` and skipped.
CREATE TABLE gateway_sessions (
    name             TEXT PRIMARY KEY,
    session_id       TEXT,
    resume_url       TEXT,
    sequence         INTEGER NOT NULL DEFAULT 0,
    failing_sequence INTEGER,
    failing_attempts INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL
);

CREATE TABLE gateway_failed_events (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL,
    sequence   INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    error      TEXT NOT NULL,
    failed_at  TEXT NOT NULL
);
