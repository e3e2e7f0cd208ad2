-- Issue 20 items 5 and 6.
-- Item 6: the steps a multi-step delivery has done (`{"<step>": {"channel":
-- …, "id": …}}`), so a retried row resumes at the step that failed
-- instead of posting a thread comment again.
ALTER TABLE outbox ADD COLUMN steps JSONB;
-- Item 5: a platform's rate limit closed by a 429, shared by replicas:
-- `scope` is what the limit covers (a Slack workspace's method, a Discord
-- bucket, Discord's global limit) and `key` names it. Rows past
-- `closed_until` mean nothing and are swept when written.
CREATE TABLE rate_limits (
    platform     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    closed_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform, scope, key)
);
CREATE INDEX rate_limits_until ON rate_limits(closed_until);
