-- Issue 22 item 10: attachment content in the database, for
-- `[storage] backend = "database"` — replicas then share nothing but the
-- database. One row per SHA-256 of the content (written before the row
-- that names it commits, and never changed).
CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY,
    content    BLOB NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
