-- Fewer index entries per new ticket (migrations/postgres, same version,
-- also streamlines the commit-time trigger SQLite does not have).

-- Index entries of the rows every new ticket writes, trimmed: a NULL in a
-- nullable reference column is no longer indexed (reads and foreign-key
-- checks look these up by value, never for NULL).
DROP INDEX chat_messages_person;
CREATE INDEX chat_messages_person ON chat_messages(person_id) WHERE person_id IS NOT NULL;
DROP INDEX chat_messages_approval;
CREATE INDEX chat_messages_approval ON chat_messages(approval_id) WHERE approval_id IS NOT NULL;
DROP INDEX tickets_assignee;
CREATE INDEX tickets_assignee ON tickets(assignee_id) WHERE assignee_id IS NOT NULL;
DROP INDEX tickets_team;
CREATE INDEX tickets_team ON tickets(team_id) WHERE team_id IS NOT NULL;
DROP INDEX tickets_category;
CREATE INDEX tickets_category ON tickets(category_id) WHERE category_id IS NOT NULL;
DROP INDEX tickets_parent;
CREATE INDEX tickets_parent ON tickets(parent_id) WHERE parent_id IS NOT NULL;
