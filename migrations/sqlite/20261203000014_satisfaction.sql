-- The requester's answer to "how did we do?" (1–5), asked in chat right
-- after they confirm that a resolved ticket is solved; NULL until rated.
ALTER TABLE tickets ADD COLUMN satisfaction INTEGER;
