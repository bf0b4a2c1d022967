-- Vigil metadata schema, version 6 (SQLite): dashboards, private to their owner or shared
-- with the tenant; the widgets are a JSON list (docs/core.md, "Dashboards").
CREATE TABLE dashboards (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    shared INTEGER NOT NULL,
    widgets TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, owner, name)
);
CREATE INDEX dashboards_shared ON dashboards (tenant_id, shared);
