-- Vigil metadata schema, version 3 (PostgreSQL): source status. One row per source
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
    first_seen_at BIGINT NOT NULL,
    last_event_at BIGINT,
    events_total BIGINT NOT NULL DEFAULT 0,
    parse_errors_total BIGINT NOT NULL DEFAULT 0,
    drops_total BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE source_series (
    tenant_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    events BIGINT NOT NULL DEFAULT 0,
    parse_errors BIGINT NOT NULL DEFAULT 0,
    drops BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, source_id, minute)
);
CREATE INDEX source_series_minute ON source_series (minute);
