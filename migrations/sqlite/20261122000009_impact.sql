-- Impact analysis from memory, cheaper bulk imports.
--
-- A counter per organization that every CMDB write (CIs, relationships)
-- increments in its transaction. Impact analysis keeps the relationship
-- graph in memory; a read compares the generation it was built from with
-- this row (one primary-key lookup) and rebuilds it when they differ, so
-- every replica sees writes made through any other. No row means 0.
CREATE TABLE cmdb_generations (
    org_id     BLOB PRIMARY KEY REFERENCES organizations(id),
    generation BIGINT NOT NULL
);

-- Impact answers that cover thousands of CIs read the open tickets linked
-- to any CI and keep those on the answer's CIs: this index holds only the
-- open tickets, however many closed ones pile up.
CREATE INDEX tickets_open ON tickets(org_id) WHERE state NOT IN ('resolved', 'closed', 'cancelled', 'rejected');

-- Bulk imports write two history rows per relationship with no actor (the
-- system imports); the actor index only needs the rows that have one.
DROP INDEX ci_history_actor;
CREATE INDEX ci_history_actor ON ci_history(actor_id) WHERE actor_id IS NOT NULL;
