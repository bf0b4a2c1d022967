//! Incidents as analysts run them: created from alerts, merged, changed, exported.
//!
//! The store keeps incidents, their links, timeline, comments and attachments
//! ([`MetaStore::create_incident`] and the methods after it); this service adds what spans
//! several store calls and what the API and reports need:
//!
//! * [`IncidentService::create`]: an incident from zero or more alerts of its tenant (the
//!   alerts become escalated, the timeline says so), audited `incident.create`;
//! * [`IncidentService::update`]: a change (one timeline entry per field), audited
//!   `incident.update`;
//! * [`IncidentService::merge`]: incidents of the same tenant folded into one: their alerts,
//!   events, assets and accounts are linked to the target, both timelines record the merge,
//!   and each merged incident is closed as `duplicate`; audited `incident.merge`;
//! * [`IncidentService::export`] and [`render_html`]: the whole case as JSON, and as a
//!   self-contained printable HTML report (no script, no external resource, every value
//!   escaped).

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::*;
use crate::scope::{TenantId, TenantScope};
use crate::store::*;

/// Most alerts one incident is created with or linked in one call.
pub const MAX_ALERTS_PER_CALL: usize = 1000;

/// Most incidents merged in one call.
pub const MAX_MERGE: usize = 100;

/// An incident with everything that belongs to it, as exported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentExport {
    /// Export format version (1).
    pub format: u32,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// Who made it.
    pub exported_by: String,
    /// The incident and its links.
    pub incident: Incident,
    /// The linked alerts (those still readable in the caller's scope).
    pub alerts: Vec<Alert>,
    /// The timeline, by event time.
    pub timeline: Vec<TimelineEntry>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Attachments (metadata only).
    pub attachments: Vec<Attachment>,
}

/// Creates, changes, merges and exports incidents.
#[derive(Debug, Clone)]
pub struct IncidentService {
    store: Arc<dyn MetaStore>,
}

fn invalid(field: &str, reason: impl Into<String>) -> MetaError {
    MetaError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl IncidentService {
    /// The service over `store`.
    pub fn new(store: Arc<dyn MetaStore>) -> IncidentService {
        IncidentService { store }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn MetaStore> {
        &self.store
    }

    async fn audit(
        &self,
        tenant: &TenantId,
        actor: &str,
        action: &str,
        id: &str,
        source_ip: Option<&str>,
        details: serde_json::Value,
    ) {
        let record = NewAuditRecord {
            tenant: tenant.clone(),
            at: chrono::Utc::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_kind: "incident".into(),
            target_id: id.to_owned(),
            outcome: AuditOutcome::Success,
            source_ip: source_ip.map(str::to_owned),
            details,
        };
        if let Err(e) = self.store.append_audit(record).await {
            tracing::warn!(action, target = id, error = %e, "audit record could not be written");
        }
    }

    /// Creates an incident and links `alert_ids` (each must be an alert of the incident's
    /// tenant in `scope`). A title is required.
    pub async fn create(
        &self,
        scope: &TenantScope,
        new: NewIncident,
        alert_ids: &[String],
        source_ip: Option<&str>,
    ) -> Result<Incident, MetaError> {
        scope.check(&new.tenant)?;
        let mut problems = Vec::new();
        if new.title.trim().is_empty() {
            problems.push("title: empty".to_owned());
        }
        if new.title.len() > 1000 {
            problems.push("title: longer than 1000 bytes".to_owned());
        }
        if alert_ids.len() > MAX_ALERTS_PER_CALL {
            problems.push(format!("alerts: at most {MAX_ALERTS_PER_CALL}"));
        }
        if !problems.is_empty() {
            return Err(invalid("incident", problems.join("; ")));
        }
        let tenant_scope = TenantScope::single(new.tenant.clone());
        for id in alert_ids {
            // An alert of another tenant (or outside the scope) is not found here.
            self.store.get_alert(&tenant_scope, id).await?;
        }
        let actor = new.created_by.clone();
        let mut incident = self.store.create_incident(&tenant_scope, new).await?;
        if !alert_ids.is_empty() {
            incident = self
                .store
                .link_alerts(&tenant_scope, &incident.id, &actor, alert_ids)
                .await?;
        }
        self.audit(
            &incident.tenant,
            &actor,
            "incident.create",
            &incident.id,
            source_ip,
            serde_json::json!({ "title": incident.title, "priority": incident.priority, "alerts": incident.alerts }),
        )
        .await;
        Ok(incident)
    }

    /// Changes an incident (closing needs a resolution).
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        update: IncidentUpdate,
        source_ip: Option<&str>,
    ) -> Result<Incident, MetaError> {
        let details = serde_json::to_value(&update).unwrap_or_default();
        let incident = self.store.update_incident(scope, id, actor, update).await?;
        self.audit(
            &incident.tenant,
            actor,
            "incident.update",
            id,
            source_ip,
            details,
        )
        .await;
        Ok(incident)
    }

    /// Links more alerts of the incident's tenant.
    pub async fn link_alerts(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
        alert_ids: &[String],
        source_ip: Option<&str>,
    ) -> Result<Incident, MetaError> {
        if alert_ids.is_empty() || alert_ids.len() > MAX_ALERTS_PER_CALL {
            return Err(invalid(
                "alert_ids",
                format!("1 to {MAX_ALERTS_PER_CALL} alert ids"),
            ));
        }
        let incident = self.store.link_alerts(scope, id, actor, alert_ids).await?;
        self.audit(
            &incident.tenant,
            actor,
            "incident.link_alerts",
            id,
            source_ip,
            serde_json::json!({ "alerts": alert_ids }),
        )
        .await;
        Ok(incident)
    }

    /// Merges the incidents `from` into `into` (all of one tenant): their alerts, events,
    /// assets and accounts are linked to `into`, both timelines record it, and each merged
    /// incident is closed as a duplicate.
    pub async fn merge(
        &self,
        scope: &TenantScope,
        into: &str,
        from: &[String],
        actor: &str,
        source_ip: Option<&str>,
    ) -> Result<Incident, MetaError> {
        if from.is_empty() || from.len() > MAX_MERGE {
            return Err(invalid("from", format!("1 to {MAX_MERGE} incident ids")));
        }
        if from.iter().any(|f| f == into) {
            return Err(invalid("from", "an incident cannot be merged into itself"));
        }
        let target = self.store.get_incident(scope, into).await?;
        let tenant_scope = TenantScope::single(target.tenant.clone());
        let mut sources = Vec::with_capacity(from.len());
        for id in from {
            // Incidents of another tenant are not found in the target's tenant.
            let src = self.store.get_incident(&tenant_scope, id).await?;
            if src.status == IncidentStatus::Closed {
                return Err(invalid("from", format!("incident {id} is closed")));
            }
            sources.push(src);
        }
        let now = chrono::Utc::now();
        for src in &sources {
            if !src.alerts.is_empty() {
                self.store
                    .link_alerts(&tenant_scope, into, actor, &src.alerts)
                    .await?;
            }
            for (kind, values) in [
                (LinkKind::Event, &src.events),
                (LinkKind::Asset, &src.assets),
                (LinkKind::Account, &src.accounts),
            ] {
                if !values.is_empty() {
                    self.store
                        .link(&tenant_scope, into, actor, kind, values)
                        .await?;
                }
            }
            self.store
                .add_timeline_entry(
                    &tenant_scope,
                    into,
                    NewTimelineEntry {
                        at: now,
                        author: actor.to_owned(),
                        kind: "merge".into(),
                        text: format!("Merged incident {} ({})", src.id, src.title),
                        event_id: None,
                    },
                )
                .await?;
            self.store
                .add_timeline_entry(
                    &tenant_scope,
                    &src.id,
                    NewTimelineEntry {
                        at: now,
                        author: actor.to_owned(),
                        kind: "merge".into(),
                        text: format!("Merged into incident {} ({})", target.id, target.title),
                        event_id: None,
                    },
                )
                .await?;
            self.store
                .update_incident(
                    &tenant_scope,
                    &src.id,
                    actor,
                    IncidentUpdate {
                        status: Some(IncidentStatus::Closed),
                        resolution: Some(Resolution::Duplicate),
                        ..IncidentUpdate::default()
                    },
                )
                .await?;
        }
        let merged = self.store.get_incident(&tenant_scope, into).await?;
        self.audit(
            &merged.tenant,
            actor,
            "incident.merge",
            into,
            source_ip,
            serde_json::json!({ "merged": from }),
        )
        .await;
        Ok(merged)
    }

    /// The whole incident for export.
    pub async fn export(
        &self,
        scope: &TenantScope,
        id: &str,
        actor: &str,
    ) -> Result<IncidentExport, MetaError> {
        let incident = self.store.get_incident(scope, id).await?;
        let mut alerts = Vec::with_capacity(incident.alerts.len());
        for a in &incident.alerts {
            match self.store.get_alert(scope, a).await {
                Ok(alert) => alerts.push(alert),
                Err(MetaError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let timeline = self.store.timeline(scope, id).await?;
        let comments = self
            .store
            .list_comments(scope, &CommentTarget::Incident(id.to_owned()))
            .await?;
        let attachments = self.store.list_attachments(scope, id).await?;
        Ok(IncidentExport {
            format: 1,
            exported_at: chrono::Utc::now(),
            exported_by: actor.to_owned(),
            incident,
            alerts,
            timeline,
            comments,
            attachments,
        })
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(t: &Time) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A printable, self-contained HTML report of an exported incident: no script, no external
/// resource, every value escaped.
pub fn render_html(x: &IncidentExport) -> String {
    let e = html_escape;
    let i = &x.incident;
    let mut h = String::with_capacity(8192);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Incident {} — {}</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;color:#111}}table{{border-collapse:collapse;width:100%;margin-bottom:1.5em}}\
         th,td{{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top;font-size:0.9em}}\
         th{{background:#eee}}h1{{font-size:1.5em}}h2{{font-size:1.2em;margin-top:1.5em}}\
         pre{{white-space:pre-wrap;margin:0}}@media print{{body{{margin:0}}}}\
         </style></head><body>\n",
        e(&i.id),
        e(&i.title)
    );
    let _ = write!(h, "<h1>Incident: {}</h1>\n<table>\n", e(&i.title));
    let rows: Vec<(&str, String)> = vec![
        ("Id", i.id.clone()),
        ("Tenant", i.tenant.as_str().to_owned()),
        ("Status", i.status.as_str().to_owned()),
        (
            "Resolution",
            i.resolution
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
        ),
        ("Priority", i.priority.as_str().to_owned()),
        ("Category", i.category.clone()),
        ("Assignee", i.assignee.clone().unwrap_or_default()),
        (
            "Created",
            format!("{} by {}", time(&i.created_at), i.created_by),
        ),
        ("Updated", time(&i.updated_at)),
        ("Closed", i.closed_at.as_ref().map(time).unwrap_or_default()),
        ("Events", i.events.join(", ")),
        ("Assets", i.assets.join(", ")),
        ("Accounts", i.accounts.join(", ")),
    ];
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", e(k), e(&v));
    }
    let _ = write!(
        h,
        "</table>\n<h2>Description</h2>\n<pre>{}</pre>\n",
        e(&i.description)
    );
    let _ = write!(
        h,
        "<h2>Alerts ({})</h2>\n<table><tr><th>Id</th><th>Rule</th><th>Severity</th><th>Risk</th>\
         <th>Status</th><th>Count</th><th>First seen</th><th>Last seen</th><th>Entities</th></tr>\n",
        x.alerts.len()
    );
    for a in &x.alerts {
        let entities: Vec<String> = a
            .entities
            .iter()
            .map(|en| format!("{}={}", en.kind, en.value))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&a.id),
            e(&a.rule_name),
            a.severity,
            a.risk_score,
            a.status,
            a.count,
            time(&a.first_seen),
            time(&a.last_seen),
            e(&entities.join(", "))
        );
    }
    h.push_str("</table>\n<h2>Timeline</h2>\n<table><tr><th>When</th><th>Who</th><th>Kind</th><th>What</th></tr>\n");
    for t in &x.timeline {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            time(&t.at),
            e(&t.author),
            e(&t.kind),
            e(&t.text)
        );
    }
    h.push_str(
        "</table>\n<h2>Comments</h2>\n<table><tr><th>When</th><th>Who</th><th>Comment</th></tr>\n",
    );
    for c in &x.comments {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            time(&c.created_at),
            e(&c.author),
            e(&c.body)
        );
    }
    h.push_str("</table>\n<h2>Attachments</h2>\n<table><tr><th>Name</th><th>Type</th><th>Bytes</th><th>By</th><th>When</th></tr>\n");
    for a in &x.attachments {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&a.name),
            e(&a.media_type),
            a.size,
            e(&a.uploaded_by),
            time(&a.created_at)
        );
    }
    let _ = write!(
        h,
        "</table>\n<p><small>Exported {} by {} from Vigil.</small></p>\n</body></html>\n",
        time(&x.exported_at),
        e(&x.exported_by)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html_escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
