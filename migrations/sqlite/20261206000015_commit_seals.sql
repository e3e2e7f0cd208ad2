-- Postgres stages the serial end of a use case here and applies it inside
-- COMMIT (migrations/postgres, same version). SQLite has one writer at a
-- time and no SHA-256 in SQL: the daemon chains the audit and moves the
-- counter itself, and this table stays empty. Kept so both schemas match.
CREATE TABLE commit_seals (
    id             TEXT PRIMARY KEY,
    audit_org      TEXT,
    entries        TEXT NOT NULL,
    counter_org    TEXT,
    counter_kind   TEXT,
    counter_number INTEGER
);
