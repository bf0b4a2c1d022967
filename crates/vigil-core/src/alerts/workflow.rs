//! The alert status workflow: which changes an analyst may make, checked before the store
//! applies them (the store writes the history).
//!
//! ```text
//!   new ──▶ assigned ──▶ escalated ──▶ closed
//!    │  ◀──    │    ◀──       │            │
//!    └─────────┴──────────────┴──▶ closed  └──▶ new (reopen, with a reason)
//! ```
//!
//! * `new → assigned` needs an assignee (assigning a new alert assigns it implicitly);
//!   `assigned → new` unassigns.
//! * `escalated` is set by linking the alert to an incident (`MetaStore::link_alerts`); an
//!   analyst may also escalate directly. An escalated alert goes back to `assigned` only.
//! * Closing needs a resolution and a non-empty reason, from any open status.
//! * A closed alert only reopens (to `new`), with a reason; its group has ended, so new
//!   detections of the group start a new alert.

use crate::model::{Alert, AlertStatus, AlertUpdate};
use crate::store::MetaError;

/// Longest resolution or reopening reason.
pub const MAX_REASON_LEN: usize = 4096;

/// Whether `from → to` is an allowed status change (a status may always stay the same).
pub fn transition_allowed(from: AlertStatus, to: AlertStatus) -> bool {
    use AlertStatus::*;
    from == to
        || matches!(
            (from, to),
            (New, Assigned | Escalated | Closed)
                | (Assigned, New | Escalated | Closed)
                | (Escalated, Assigned | Closed)
                | (Closed, New)
        )
}

/// Checks an analyst's change against the alert as it is, listing every problem.
pub fn check_update(alert: &Alert, up: &AlertUpdate) -> Result<(), MetaError> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let reason = up.resolution_reason.as_deref().map(str::trim).unwrap_or("");
    if reason.len() > MAX_REASON_LEN {
        problems.push((
            "resolution_reason".into(),
            format!("longer than {MAX_REASON_LEN} bytes"),
        ));
    }
    let assignee_after = match &up.assignee {
        Some(a) => a.clone(),
        None => alert.assignee.clone(),
    };
    if let Some(Some(a)) = &up.assignee
        && a.trim().is_empty()
    {
        problems.push(("assignee".into(), "empty user id".into()));
    }
    if let Some(to) = up.status {
        if !transition_allowed(alert.status, to) {
            problems.push((
                "status".into(),
                format!("{} → {to} is not allowed", alert.status),
            ));
        }
        match to {
            AlertStatus::Assigned if assignee_after.is_none() => problems.push((
                "assignee".into(),
                "an assigned alert needs an assignee".into(),
            )),
            AlertStatus::Closed if alert.status != AlertStatus::Closed => {
                if up.resolution.is_none() {
                    problems.push((
                        "resolution".into(),
                        "closing needs a resolution (true_positive, false_positive, benign, duplicate)"
                            .into(),
                    ));
                }
                if reason.is_empty() {
                    problems.push(("resolution_reason".into(), "closing needs a reason".into()));
                }
            }
            AlertStatus::New if alert.status == AlertStatus::Closed && reason.is_empty() => {
                problems.push((
                    "resolution_reason".into(),
                    "reopening needs a reason".into(),
                ));
            }
            _ => {}
        }
    }
    let closed_after = up.status.unwrap_or(alert.status) == AlertStatus::Closed;
    if up.resolution.is_some() && !closed_after {
        problems.push((
            "resolution".into(),
            "only a closed alert has a resolution".into(),
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let field = problems
        .iter()
        .map(|(f, _)| f.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let reason = problems
        .iter()
        .map(|(f, r)| format!("{f}: {r}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(MetaError::Invalid { field, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Resolution;

    fn alert(status: AlertStatus, assignee: Option<&str>) -> Alert {
        let t = chrono::Utc::now();
        Alert {
            id: "a".into(),
            tenant: crate::TenantId::main(),
            rule_id: "r".into(),
            rule_name: "R".into(),
            rule_version: 1,
            severity: crate::Severity::High,
            risk_score: 60,
            status,
            resolution: None,
            resolution_reason: None,
            assignee: assignee.map(str::to_owned),
            tactics: vec![],
            techniques: vec![],
            entities: vec![],
            group_key: "-".into(),
            filling: true,
            first_seen: t,
            last_seen: t,
            count: 1,
            event_ids_kept: 0,
            event_ids_dropped: 0,
            incident_id: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn to(s: AlertStatus) -> AlertUpdate {
        AlertUpdate {
            status: Some(s),
            ..AlertUpdate::default()
        }
    }

    #[test]
    fn the_transition_table() {
        use AlertStatus::*;
        let allowed = [
            (New, Assigned),
            (New, Escalated),
            (New, Closed),
            (Assigned, New),
            (Assigned, Escalated),
            (Assigned, Closed),
            (Escalated, Assigned),
            (Escalated, Closed),
            (Closed, New),
        ];
        for from in AlertStatus::ALL {
            for t in AlertStatus::ALL {
                let want = from == t || allowed.contains(&(*from, *t));
                assert_eq!(transition_allowed(*from, *t), want, "{from} → {t}");
            }
        }
    }

    #[test]
    fn closing_needs_resolution_and_reason() {
        let a = alert(AlertStatus::Assigned, Some("u1"));
        let err = check_update(&a, &to(AlertStatus::Closed)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("resolution:") && msg.contains("closing needs a reason"),
            "{msg}"
        );
        let ok = AlertUpdate {
            status: Some(AlertStatus::Closed),
            resolution: Some(Resolution::Benign),
            resolution_reason: Some("backup job".into()),
            ..AlertUpdate::default()
        };
        check_update(&a, &ok).unwrap();
    }

    #[test]
    fn assigned_needs_an_assignee_and_closed_only_reopens() {
        let a = alert(AlertStatus::New, None);
        assert!(check_update(&a, &to(AlertStatus::Assigned)).is_err());
        let with = AlertUpdate {
            status: Some(AlertStatus::Assigned),
            assignee: Some(Some("u1".into())),
            ..AlertUpdate::default()
        };
        check_update(&a, &with).unwrap();
        let c = alert(AlertStatus::Closed, Some("u1"));
        assert!(check_update(&c, &to(AlertStatus::Escalated)).is_err());
        assert!(
            check_update(&c, &to(AlertStatus::New)).is_err(),
            "reason needed"
        );
        let reopen = AlertUpdate {
            status: Some(AlertStatus::New),
            resolution_reason: Some("closed by mistake".into()),
            ..AlertUpdate::default()
        };
        check_update(&c, &reopen).unwrap();
        let e = alert(AlertStatus::Escalated, Some("u1"));
        assert!(check_update(&e, &to(AlertStatus::New)).is_err());
        let res_open = AlertUpdate {
            resolution: Some(Resolution::Duplicate),
            ..AlertUpdate::default()
        };
        assert!(check_update(&e, &res_open).is_err());
    }
}
