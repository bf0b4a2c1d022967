-- Vigil metadata schema, version 3 (SQLite): source status. One row per source
-- (a collector, or a host behind one) with its totals and last event time, and per-minute
-- counts for the last day (EPS over 24 h, sparklines, the per-tenant licensing figure). Both
-- are written by the ingest path's periodic flush, never per event.
CREATE TABLE sources (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    collector TEXT NOT NULL,
    node TEXT NOT NULL,
    host TEXT,
    ip TEXT,
    first_seen_at INTEGER NOT NULL,
    last_event_at INTEGER,
    events_total INTEGER NOT NULL DEFAULT 0,
    parse_errors_total INTEGER NOT NULL DEFAULT 0,
    drops_total INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE source_series (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    parse_errors INTEGER NOT NULL DEFAULT 0,
    drops INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, source_id, minute)
);
CREATE INDEX source_series_minute ON source_series (minute);
