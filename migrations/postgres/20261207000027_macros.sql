-- Issue 23 item 4: a macro posts its reply publicly (the default) or as
-- an internal note.
ALTER TABLE macros ADD COLUMN internal BOOLEAN NOT NULL DEFAULT FALSE;
