-- Vigil metadata schema, version 4 (PostgreSQL): the audit trail becomes a hash chain per tenant.
-- Each record appended from now on carries its sequence number in the tenant's chain, the
-- previous record's hash and its own (SHA-256 over the previous hash and the record's
-- fields); audit_chain holds each chain's head, updated in the same transaction, so a
-- changed, removed or reordered record, or a cut tail, no longer verifies. Records written
-- before this migration have no sequence number and are reported as unchained.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (tenant_id, seq);

CREATE TABLE audit_chain (
    tenant_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
