//! The storage audit trail: what the store did on its own (retention deletions, full-disk
//! stops and resumes, key rotation), as JSON lines in an append-only file, and as events in
//! the tenant's store so analysts find them with a search (`vigil.type:audit`).
//!
//! # File
//! `<data_dir>/audit/audit.log`, one JSON object per line, appended and fsynced per record
//! (`O_APPEND`; the store never rewrites or truncates it):
//! ```text
//! {"time":"2026-11-22T10:00:00.000000000Z","actor":"system:retention",
//!  "action":"storage.retention.delete","outcome":"success","tenant":"main","space":"fw",
//!  "file":"00000000000000000001-00000000000000000100.vseg","events":100,
//!  "from":"2026-11-22T08:00:00Z","to":"2026-11-22T08:59:59Z","detail":"..."}
//! ```
//! Fields other than `time`, `actor`, `action` and `outcome` are left out when they do not
//! apply.
//!
//! # As an event
//! [`AuditRecord::to_event`] maps a record to ECS: `vigil.type: audit`, `event.kind: event`,
//! `event.category: [configuration]`, `event.type: [deletion]` (or `change`, `info`),
//! `event.action`, `event.outcome`, `event.provider: vigil-store`, `user.name` = the actor,
//! `file.name`, `message`; the counts and time range go to `extra` (`vigil.audit.events`,
//! `vigil.audit.from`, `vigil.audit.to`, `vigil.audit.space`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::Serialize;
use smol_str::SmolStr;
use vigil_event::{Bytes, Event, EventType, Timestamp};

use crate::StoreError;

/// Directory of the audit log under the data directory.
pub const AUDIT_DIR: &str = "audit";
/// The audit log file name.
pub const AUDIT_FILE: &str = "audit.log";

/// Actor of deletions by age.
pub const ACTOR_RETENTION: &str = "system:retention";
/// Actor of full-disk stops and resumes.
pub const ACTOR_DISK_GUARD: &str = "system:disk-guard";
/// Actor of key rotation and re-encryption.
pub const ACTOR_KEYS: &str = "system:encryption";
/// Actor of background merges and tier moves.
pub const ACTOR_TIERING: &str = "system:tiering";

/// A segment deleted by age.
pub const ACTION_RETENTION_DELETE: &str = "storage.retention.delete";
/// Events dropped by age before they were sealed.
pub const ACTION_RETENTION_EXPIRE: &str = "storage.retention.expire";
/// Appends refused: free space fell below the reserve.
pub const ACTION_DISK_FULL: &str = "storage.disk_full";
/// Appends accepted again: free space is back above the reserve.
pub const ACTION_DISK_RESUMED: &str = "storage.disk_resumed";
/// A new current encryption key.
pub const ACTION_KEY_ROTATED: &str = "storage.key.rotated";
/// A file re-encrypted under the current key.
pub const ACTION_REENCRYPT: &str = "storage.reencrypt";
/// Every file is under the current key: older keys may be removed.
pub const ACTION_REENCRYPT_DONE: &str = "storage.reencrypt.done";
/// Hot segments rewritten into one cold segment (audit log only: routine housekeeping).
pub const ACTION_TIER_MOVE: &str = "storage.tier.move";
/// Small segments of one tier merged into one (audit log only: routine housekeeping).
pub const ACTION_MERGE: &str = "storage.merge";
/// A file failed authentication (tampered or corrupt) and was quarantined.
pub const ACTION_QUARANTINE: &str = "storage.quarantine";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// When (RFC 3339, UTC, nanoseconds).
    pub time: String,
    /// Who: `system:retention`, `system:disk-guard`, `system:encryption`.
    pub actor: String,
    /// What: `storage.retention.delete`, ...
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The tenant, when the action concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The storage space.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// The file (name or path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Events concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// Oldest `@timestamp` concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Newest `@timestamp` concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Details for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditRecord {
    /// A successful action at `time`.
    pub fn new(time: Timestamp, actor: &str, action: &str) -> AuditRecord {
        AuditRecord {
            time: time.to_rfc3339(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            outcome: "success".to_owned(),
            tenant: None,
            space: None,
            file: None,
            events: None,
            from: None,
            to: None,
            detail: None,
        }
    }

    /// The record as an event of `tenant` at `time` (see the module documentation).
    pub fn to_event(&self, tenant: &str, time: Timestamp) -> Event {
        let line = serde_json_line(self);
        let mut ev = Event::new(Bytes::from(line));
        ev.meta.tenant = SmolStr::new(tenant);
        ev.meta.kind = EventType::Audit;
        ev.meta.received = time;
        ev.meta.source_id = SmolStr::new_static("vigil-store");
        ev.timestamp = time;
        ev.event.kind = Some(SmolStr::new_static("event"));
        ev.event.category = vec![SmolStr::new_static("configuration")];
        let ty = if self.action.starts_with("storage.retention") {
            "deletion"
        } else if self.action.starts_with("storage.disk") {
            "info"
        } else {
            "change"
        };
        ev.event.r#type = vec![SmolStr::new_static(ty)];
        ev.event.action = Some(SmolStr::new(&self.action));
        ev.event.outcome = Some(SmolStr::new(&self.outcome));
        ev.event.provider = Some(SmolStr::new_static("vigil-store"));
        ev.user.name = Some(SmolStr::new(&self.actor));
        let mut msg = format!("{} by {}", self.action, self.actor);
        if let Some(s) = &self.space {
            msg.push_str(&format!(" in space {s}"));
        }
        if let Some(f) = &self.file {
            msg.push_str(&format!(": {f}"));
        }
        if let Some(n) = self.events {
            msg.push_str(&format!(", {n} events"));
        }
        if let (Some(a), Some(b)) = (&self.from, &self.to) {
            msg.push_str(&format!(" from {a} to {b}"));
        }
        ev.message = Some(SmolStr::new(msg));
        let strings = [
            ("file.name", &self.file),
            ("vigil.audit.space", &self.space),
            ("vigil.audit.from", &self.from),
            ("vigil.audit.to", &self.to),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                let _ = ev.set(k, v.as_str());
            }
        }
        if let Some(n) = self.events {
            let _ = ev.set("vigil.audit.events", n.min(i64::MAX as u64) as i64);
        }
        ev
    }
}

fn serde_json_line(r: &AuditRecord) -> String {
    // Serializing plain strings and integers cannot fail.
    serde_json::to_string(r).unwrap_or_default()
}

/// The append-only audit log of a data directory.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl AuditLog {
    /// Opens (creating) `<data_dir>/audit/audit.log` for appending.
    pub fn open(data_dir: &Path) -> Result<AuditLog, StoreError> {
        let dir = data_dir.join(AUDIT_DIR);
        vigil_fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        let path = dir.join(AUDIT_FILE);
        let file = Self::open_file(&path)?;
        Ok(AuditLog {
            path,
            file: Mutex::new(Some(file)),
        })
    }

    fn open_file(path: &Path) -> Result<File, StoreError> {
        vigil_fs::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StoreError::io("open audit log", path, e))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (one line) and fsyncs it.
    pub fn append(&self, r: &AuditRecord) -> Result<(), StoreError> {
        let mut line = serde_json_line(r);
        line.push('\n');
        let mut g = self.file.lock();
        if g.is_none() {
            *g = Some(Self::open_file(&self.path)?);
        }
        let Some(f) = g.as_mut() else {
            return Err(StoreError::Invalid("audit log is not open".into()));
        };
        let res = f.write_all(line.as_bytes()).and_then(|()| f.sync_data());
        if let Err(e) = res {
            // A partial line may have reached the file: the next record starts on a new
            // line so that readers skip only the torn one.
            let _ = f.write_all(b"\n");
            return Err(StoreError::io("append audit log", &self.path, e));
        }
        Ok(())
    }

    /// Reads every record line of an audit log (for tests and `vigil storage audit`); torn
    /// or unparsable lines are skipped.
    pub fn read(path: &Path, limit: u64) -> Result<Vec<serde_json::Value>, StoreError> {
        let bytes =
            read_capped(path, limit).map_err(|e| StoreError::io("read audit log", path, e))?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    #[allow(clippy::disallowed_methods)] // bounded by take()
    File::open(path)?.take(limit).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_maps_to_an_ecs_audit_event() {
        let mut r = AuditRecord::new(
            Timestamp(1_000_000_000),
            ACTOR_RETENTION,
            ACTION_RETENTION_DELETE,
        );
        r.tenant = Some("main".into());
        r.space = Some("fw".into());
        r.file = Some("a.vseg".into());
        r.events = Some(42);
        let ev = r.to_event("main", Timestamp(2_000_000_000));
        assert_eq!(ev.meta.kind, EventType::Audit);
        assert_eq!(ev.event.category, vec![SmolStr::new("configuration")]);
        assert_eq!(ev.event.action.as_deref(), Some(ACTION_RETENTION_DELETE));
        assert_eq!(ev.event.outcome.as_deref(), Some("success"));
        assert_eq!(ev.user.name.as_deref(), Some(ACTOR_RETENTION));
        let line = String::from_utf8_lossy(&ev.raw).into_owned();
        assert!(line.contains("\"events\":42"), "{line}");
        assert!(!line.contains("\"from\""), "{line}");
    }
}
