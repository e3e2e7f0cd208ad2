-- One-click approval links in approval request mails are single use: the
-- SHA-256 of each link used is recorded in the transaction that decided,
-- so a second click (or a replayed link) is refused and says who decided.
-- Numbered 13, not 12, to leave 12 to a migration on another branch.
CREATE TABLE approval_link_uses (
    token_hash  TEXT PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations(id),
    approval_id UUID NOT NULL REFERENCES approvals(id),
    person_id   UUID NOT NULL REFERENCES people(id),
    decision    TEXT NOT NULL,
    used_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX approval_link_uses_org ON approval_link_uses(org_id);
CREATE INDEX approval_link_uses_approval ON approval_link_uses(approval_id);
CREATE INDEX approval_link_uses_person ON approval_link_uses(person_id);
