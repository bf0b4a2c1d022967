//! Storage spaces as administrators see them (settings in force and usage) and retention
//! changed at run time.
//!
//! A retention set through [`EventStore::set_space_retention`] is written to the space's
//! `retention.override` file (`forever`, or whole seconds) with a rename and a directory
//! sync, and wins over the configuration from then on, across restarts, until it is set back
//! to [`RetentionSetting::Configured`] (which removes the file). Searches hide events past the
//! new age at once; the next retention pass deletes their segments and audits each deletion
//! as usual. A file that cannot be read is taken as *forever*: a damaged setting never
//! deletes more than an administrator asked for.
//!
//! [`EventStore::set_space_retention`]: crate::EventStore::set_space_retention

use std::path::Path;
use std::time::Duration;

use tracing::{info, warn};
use vigil_event::Timestamp;

use super::retention::humanize;
use super::segment::{Tier, sync_dir};
use super::{EmbeddedStore, Partition};
use crate::audit::AuditRecord;
use crate::{RetentionSetting, SpaceInfo, StoreError, TenantId};

/// The file, in a partition's directory, that holds a retention set at run time.
pub const OVERRIDE_FILE: &str = "retention.override";

/// The audit action of a retention change.
pub const ACTION_RETENTION_SET: &str = "storage.retention.set";

/// The run-time retention of the partition in `dir`: `None` when none is set.
pub(crate) fn read_override(dir: &Path) -> Option<Option<Duration>> {
    let path = dir.join(OVERRIDE_FILE);
    // `forever` or a number of seconds: a few bytes; anything longer is damaged.
    let text = match super::integrity::read_file(&path, 64) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(file = %path.display(), error = %e,
                  "retention override unreadable: keeping this space's events forever until it is set again");
            return Some(None);
        }
    };
    match text.trim() {
        "forever" => Some(None),
        n => match n.parse::<u64>() {
            Ok(secs) if secs > 0 => Some(Some(Duration::from_secs(secs))),
            _ => {
                warn!(file = %path.display(), content = %n.chars().take(40).collect::<String>(),
                      "retention override malformed: keeping this space's events forever until it is set again");
                Some(None)
            }
        },
    }
}

impl Partition {
    /// The retention in force: the one set at run time, else the configured one.
    pub(crate) fn retention(&self) -> Option<Duration> {
        (*self.retention_set.read()).unwrap_or(self.space.retention)
    }

    fn dir(&self) -> &Path {
        self.wal_dir.parent().unwrap_or(&self.wal_dir)
    }

    /// Writes (or removes) the override file, then puts the setting in force.
    fn set_retention(&self, setting: RetentionSetting) -> Result<(), StoreError> {
        let dir = self.dir().to_path_buf();
        let path = dir.join(OVERRIDE_FILE);
        let value = match setting {
            RetentionSetting::Configured => {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", &path, e)),
                }
                sync_dir(&dir)?;
                None
            }
            RetentionSetting::Forever | RetentionSetting::For(_) => {
                let (text, value) = match setting {
                    RetentionSetting::For(d) => (format!("{}\n", d.as_secs()), Some(Some(d))),
                    _ => ("forever\n".to_owned(), Some(None)),
                };
                let tmp = dir.join(format!("{OVERRIDE_FILE}.tmp"));
                {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&tmp)
                        .map_err(|e| StoreError::io("create", &tmp, e))?;
                    f.write_all(text.as_bytes())
                        .and_then(|()| f.sync_all())
                        .map_err(|e| StoreError::io("write", &tmp, e))?;
                }
                std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
                sync_dir(&dir)?;
                value
            }
        };
        *self.retention_set.write() = value;
        Ok(())
    }

    /// Settings and usage.
    pub(crate) fn info(&self) -> SpaceInfo {
        let st = self.stats();
        let (oldest, newest) = {
            let v = self.view.read();
            let with = || v.segments.iter().filter(|s| s.events > 0);
            (
                with().map(|s| s.min_ts).min().map(Timestamp),
                with().map(|s| s.max_ts).max().map(Timestamp),
            )
        };
        let cold_events = {
            let v = self.view.read();
            v.segments
                .iter()
                .filter(|s| s.tier == Tier::Cold)
                .map(|s| s.events)
                .sum()
        };
        SpaceInfo {
            name: self.space.name.to_string(),
            condition: self.space.condition.clone(),
            retention: self.retention(),
            configured_retention: self.space.retention,
            retention_overridden: self.retention_set.read().is_some(),
            hot_age: self.space.hot_age,
            events: st.events,
            segments: st.segments,
            bytes: st.bytes_on_disk,
            cold_bytes: st.cold_bytes,
            cold_events,
            oldest,
            newest,
        }
    }
}

impl EmbeddedStore {
    /// The spaces of a tenant with settings and usage (a tenant without events: its
    /// configured spaces, empty).
    pub fn space_info(&self, tenant: &TenantId) -> Vec<SpaceInfo> {
        match self.inner.tenant_opt(tenant) {
            Some(t) => t.parts.iter().map(|p| p.info()).collect(),
            None => self
                .inner
                .cfg
                .spaces
                .settings(tenant.as_str())
                .into_iter()
                .map(|s| SpaceInfo {
                    name: s.name.to_string(),
                    condition: s.condition,
                    retention: s.retention,
                    configured_retention: s.retention,
                    retention_overridden: false,
                    hot_age: s.hot_age,
                    events: 0,
                    segments: 0,
                    bytes: 0,
                    cold_bytes: 0,
                    cold_events: 0,
                    oldest: None,
                    newest: None,
                })
                .collect(),
        }
    }

    /// Sets a space's retention (see the module documentation).
    pub fn set_retention(
        &self,
        tenant: &TenantId,
        space: &str,
        setting: RetentionSetting,
        actor: &str,
    ) -> Result<SpaceInfo, StoreError> {
        self.check_open()?;
        if let RetentionSetting::For(d) = setting
            && d.as_secs() == 0
        {
            return Err(StoreError::Invalid("retention: at least one second".into()));
        }
        // A tenant without events yet gets its directories, so the setting has a place.
        self.inner.check_space(tenant, Some(space))?;
        let t = self.inner.tenant(tenant, true)?;
        let p = t
            .parts_for(Some(space))?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Invalid(format!("no storage space '{space}'")))?;
        let before = p.retention();
        p.set_retention(setting)?;
        let after = p.retention();
        info!(tenant = %tenant, space, actor, from = %humanize(before), to = %humanize(after),
              "storage space retention set");
        let mut r = AuditRecord::new(self.inner.cfg.clock.now(), actor, ACTION_RETENTION_SET);
        r.tenant = Some(tenant.to_string());
        r.space = Some(space.to_owned());
        r.detail = Some(format!(
            "retention {} -> {}{}",
            humanize(before),
            humanize(after),
            if matches!(setting, RetentionSetting::Configured) {
                " (the configured one)"
            } else {
                ""
            }
        ));
        // The store's own audit log; the caller records the change in the tenant's trail.
        self.inner.audit(None, r);
        Ok(p.info())
    }
}
