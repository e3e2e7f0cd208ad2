-- Ticket links and merges (issue 23, items 3 and 6).
--
-- A link is stored once, in the direction it was declared (`from --kind-->
-- to`, kinds in domain::link); each ticket reads it from its own end, so
-- both ends are indexed. At most one link per (from, to, kind); the desk
-- also refuses the reverse of a directional link.
CREATE TABLE ticket_links (
    id             UUID PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES organizations(id),
    from_ticket_id UUID NOT NULL REFERENCES tickets(id),
    to_ticket_id   UUID NOT NULL REFERENCES tickets(id),
    kind           TEXT NOT NULL,
    created_by     UUID REFERENCES people(id),
    created_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (from_ticket_id, to_ticket_id, kind)
);
CREATE INDEX ticket_links_org ON ticket_links(org_id);
CREATE INDEX ticket_links_to ON ticket_links(to_ticket_id);
CREATE INDEX ticket_links_creator ON ticket_links(created_by);

-- A merged ticket points at the ticket it was merged into; mail that
-- still finds it (its Message-IDs, its number in a subject) is taken to
-- that one.
ALTER TABLE tickets ADD COLUMN merged_into_id UUID REFERENCES tickets(id);
CREATE INDEX tickets_merged_into ON tickets(merged_into_id);

-- Comments and attachments a merge copied onto the surviving ticket name
-- the ticket they came from (which keeps its own, unchanged).
ALTER TABLE comments ADD COLUMN merged_from_id UUID REFERENCES tickets(id);
CREATE INDEX comments_merged_from ON comments(merged_from_id);
ALTER TABLE attachments ADD COLUMN merged_from_id UUID REFERENCES tickets(id);
CREATE INDEX attachments_merged_from ON attachments(merged_from_id);

-- Whether a ticket ever had a link (or was merged): reading one ticket
-- looks its links up only then, so the common read stays one query.
ALTER TABLE tickets ADD COLUMN linked BOOLEAN NOT NULL DEFAULT false;
