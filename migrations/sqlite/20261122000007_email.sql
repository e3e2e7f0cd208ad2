-- Email as a channel: which Message-IDs belong to which ticket (threading
-- replies by In-Reply-To/References), each mailbox's IMAP position
-- (UIDVALIDITY + last UID, so a restart neither skips nor repeats), the
-- quarantine of messages that could not become a ticket change, and the
-- bounces (DSNs) recorded against the outbox message they refer to.

-- Every message we sent (`out`, one per email outbox row) or received
-- (`in`), with the ticket it belongs to; `sender` feeds the per-sender rate
-- limit.
CREATE TABLE mail_messages (
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    message_id TEXT NOT NULL,
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    ticket_id  BLOB REFERENCES tickets(id),
    sender     TEXT NOT NULL DEFAULT '',
    outbox_id  BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, message_id, direction)
);
CREATE INDEX mail_messages_ticket ON mail_messages(ticket_id);
CREATE INDEX mail_messages_sender ON mail_messages(org_id, sender, created_at);
CREATE INDEX mail_messages_outbox ON mail_messages(outbox_id);

-- One row per mailbox (its URL without credentials).
CREATE TABLE mail_cursors (
    mailbox      TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);

-- Messages kept aside with the reason; the raw bytes are stored by content
-- hash like attachments.
CREATE TABLE mail_quarantine (
    id         BLOB PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES organizations(id),
    mailbox    TEXT NOT NULL,
    uid        INTEGER NOT NULL,
    message_id TEXT,
    sender     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX mail_quarantine_org ON mail_quarantine(org_id, created_at);

CREATE TABLE mail_bounces (
    id                  BLOB PRIMARY KEY,
    org_id              BLOB NOT NULL REFERENCES organizations(id),
    outbox_id           BLOB REFERENCES outbox(id),
    original_message_id TEXT,
    recipient           TEXT NOT NULL,
    status              TEXT NOT NULL,
    diagnostic          TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX mail_bounces_org ON mail_bounces(org_id, created_at);
CREATE INDEX mail_bounces_outbox ON mail_bounces(outbox_id);
