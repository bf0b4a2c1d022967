-- Vigil metadata schema, version 1 (SQLite). Times are Unix milliseconds (INTEGER), flags
-- 0/1 (INTEGER), lists JSON text: the same shapes as the PostgreSQL schema, so one code path
-- serves both.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    eps_limit INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT,
    totp_secret TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    last_login_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, tenant_id, role)
);
CREATE INDEX user_roles_tenant ON user_roles (tenant_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    endpoints TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER,
    last_used_at INTEGER,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE token_roles (
    token_id TEXT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    PRIMARY KEY (token_id, tenant_id, role)
);
CREATE INDEX token_roles_tenant ON token_roles (tenant_id);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    risk_score INTEGER NOT NULL,
    status TEXT NOT NULL,
    resolution TEXT,
    resolution_reason TEXT,
    assignee TEXT,
    tactics TEXT NOT NULL,
    techniques TEXT NOT NULL,
    group_key TEXT NOT NULL,
    filling INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    event_ids_kept INTEGER NOT NULL DEFAULT 0,
    event_ids_dropped INTEGER NOT NULL DEFAULT 0,
    incident_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- At most one filling alert per group: the fold's upsert target.
CREATE UNIQUE INDEX alerts_filling_group ON alerts (tenant_id, rule_id, group_key) WHERE filling = 1;
CREATE INDEX alerts_last_seen ON alerts (tenant_id, last_seen, id);
CREATE INDEX alerts_status ON alerts (tenant_id, status, last_seen);
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE alert_entities (
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (alert_id, kind, value)
);
CREATE INDEX alert_entities_value ON alert_entities (kind, value);

CREATE TABLE alert_events (
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (alert_id, event_id)
);

CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, id);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    resolution TEXT,
    assignee TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX incidents_created ON incidents (tenant_id, created_at, id);

CREATE TABLE incident_links (
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (incident_id, kind, value)
);

CREATE TABLE incident_timeline (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    event_id TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, at);

CREATE TABLE incident_attachments (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX incident_attachments_incident ON incident_attachments (incident_id);

CREATE TABLE comments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX comments_target ON comments (target_kind, target_id, created_at);

CREATE TABLE assets (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    ips TEXT NOT NULL,
    owner TEXT,
    criticality INTEGER NOT NULL,
    categories TEXT NOT NULL,
    os TEXT,
    description TEXT NOT NULL,
    sources TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE asset_ips (
    asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    PRIMARY KEY (asset_id, ip)
);
CREATE INDEX asset_ips_ip ON asset_ips (tenant_id, ip);

CREATE TABLE suppression_rules (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    rule_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    suppressed_count INTEGER NOT NULL DEFAULT 0,
    last_hit_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX suppression_rules_rule ON suppression_rules (tenant_id, rule_id);

CREATE TABLE monitoring_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    lower_bound REAL NOT NULL,
    upper_bound REAL,
    interval_secs INTEGER NOT NULL,
    silent_after_secs INTEGER,
    sources TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE saved_searches (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    time_range TEXT NOT NULL,
    shared INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, owner, name)
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source_ip TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (tenant_id, at, id);
