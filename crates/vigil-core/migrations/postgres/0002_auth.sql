-- Vigil metadata schema, version 2 (PostgreSQL): login sessions, failed logins per source
-- address (the sliding window of the per-IP throttle) and the last TOTP step used per user (a
-- code is accepted once).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    source_ip TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_source ON login_failures (source, at);
CREATE INDEX login_failures_at ON login_failures (at);

ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
