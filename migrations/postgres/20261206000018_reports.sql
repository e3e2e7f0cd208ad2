-- Reports (issue 17). Reports count events at recorded instants (a ticket's
-- creation, its state changes in the activity log, SLA outcomes), so they
-- need those rows by organization and time, and the organization's time
-- zone to cut days, weeks and months in.

-- Local days of the reports; an IANA name, UTC until an admin sets it.
ALTER TABLE organizations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- State changes by organization and time: resolved and reopened per bucket.
-- Partial, so the activity rows every new ticket writes (created, comments,
-- SLA events) pay nothing for it.
CREATE INDEX activity_state_changes ON activity(org_id, created_at) WHERE action = 'state_changed';

-- The review outcome of changes by organization and time: change success rate.
CREATE INDEX activity_change_reviews ON activity(org_id, created_at) WHERE action = 'change_reviewed';

-- Open tickets (the dashboard, workload) use `tickets_open` of migration 9.
