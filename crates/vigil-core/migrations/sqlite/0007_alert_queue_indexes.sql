-- Indexes for the alert queue and the incident list at 100,000 rows (issue 13). A listing is
-- `tenant_id IN (scope) AND filters ORDER BY key, id LIMIT n` with a keyset cursor
-- `(key, id) < (k, i)`: an index that starts with the tenant, then an equality filter, then
-- the sort key and id reads one page in order and stops, with no sort of every match.
-- Which query each index serves is in docs/core.md ("Alert queue indexes").

-- Status (the queue's open/assigned/closed views), newest first; replaces the index of
-- schema 1, which lacked the id tie-break of the keyset cursor.
DROP INDEX alerts_status;
CREATE INDEX alerts_status_seen ON alerts (tenant_id, status, last_seen, id);
-- One rule's alerts (the alerts of a rule in the queue grouped by rule, `rule_id=`).
CREATE INDEX alerts_rule_seen ON alerts (tenant_id, rule_id, last_seen, id);
-- "Assigned to me" and "unassigned" (`assignee IS NULL` is an equality in both planners).
CREATE INDEX alerts_assignee_seen ON alerts (tenant_id, assignee, last_seen, id);
-- The queue of a caller who sees several tenants: `tenant_id IN (a, b, ...)` cannot read
-- (tenant_id, last_seen) in one order, so the planner reads this one and checks the tenant.
CREATE INDEX alerts_seen ON alerts (last_seen, id);
-- Triage by risk score.
CREATE INDEX alerts_risk ON alerts (tenant_id, risk_score, id);

-- Incidents: by status (open ones), by last change, by priority, and across tenants.
CREATE INDEX incidents_status_created ON incidents (tenant_id, status, created_at, id);
CREATE INDEX incidents_updated ON incidents (tenant_id, updated_at, id);
CREATE INDEX incidents_priority ON incidents (tenant_id, priority, id);
CREATE INDEX incidents_created_all ON incidents (created_at, id);
