-- Vigil metadata schema, version 5 (SQLite): a storage quota per tenant (bytes in the event
-- store; NULL: unlimited), enforced by `vigil up` (docs/core.md, "Tenant quotas"), and the
-- MAC addresses learned for an asset (JSON list).
ALTER TABLE tenants ADD COLUMN storage_limit_bytes INTEGER;
ALTER TABLE assets ADD COLUMN macs TEXT NOT NULL DEFAULT '[]';
