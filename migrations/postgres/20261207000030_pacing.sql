-- Issue 20 item 6: the steps a multi-step delivery has done (`{"<step>": {"channel":
-- …, "id": …}}`), so a retried row resumes at the step that failed
-- instead of posting a thread comment again.
ALTER TABLE outbox ADD COLUMN steps JSONB;
