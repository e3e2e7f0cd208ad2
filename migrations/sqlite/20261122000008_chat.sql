-- Chat messages the daemon posted or took in, per platform: the requester's
-- thread and the team's triage card of a ticket, approval requests sent to
-- approvers. Thread replies find their ticket here; updates in place find
-- the message to edit.
CREATE TABLE chat_messages (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations(id),
    platform    TEXT NOT NULL,
    -- `requester_thread`, `triage_card`, `approval`, `resolution_check`
    purpose     TEXT NOT NULL,
    ticket_id   BLOB REFERENCES tickets(id),
    approval_id BLOB REFERENCES approvals(id),
    person_id   BLOB REFERENCES people(id),
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    -- The outbox row that posted it: a retried delivery edits instead of
    -- posting again.
    outbox_id   BLOB UNIQUE,
    created_at  TEXT NOT NULL,
    UNIQUE (platform, channel, ts)
);
CREATE INDEX chat_messages_ticket ON chat_messages(ticket_id, purpose);
CREATE INDEX chat_messages_approval ON chat_messages(approval_id);
CREATE INDEX chat_messages_person ON chat_messages(person_id);
CREATE INDEX chat_messages_org ON chat_messages(org_id);
