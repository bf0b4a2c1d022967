-- Vigil metadata schema, version 2 (SQLite): login sessions, failed logins per source address
-- (the sliding window of the per-IP throttle) and the last TOTP step used per user (a code
-- is accepted once).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    source_ip TEXT,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_source ON login_failures (source, at);
CREATE INDEX login_failures_at ON login_failures (at);

ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
