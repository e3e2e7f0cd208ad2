-- Issue 23 item 4: a macro posts its reply publicly (the default) or as
-- an internal note.
ALTER TABLE macros ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;
