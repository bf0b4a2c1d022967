//! Suppression rules in memory: which detections make no alert.
//!
//! A suppression names a detection rule, field values that must all match the detection's
//! event, why, who and until when. The matcher compares ECS field values exactly, ignoring
//! ASCII case (host and account names are case-insensitive on the platforms that produce
//! most detections); a multi-valued field matches when any value does; an empty field set
//! suppresses every detection of the rule. Expired rules never match. Matching detections
//! are counted per suppression rule (`suppressed_count`, `last_hit_at` in the store), never
//! silently dropped.

use std::collections::HashMap;

use super::entities::EventFields;
use crate::model::{SuppressionRule, Time};
use crate::scope::TenantId;

#[derive(Debug, Clone)]
struct Compiled {
    id: String,
    fields: Vec<(String, String)>,
    expires_at: Option<Time>,
}

/// The suppression rules in force, by `(tenant, rule id)`.
#[derive(Debug, Default)]
pub struct Suppressions {
    by_rule: HashMap<(TenantId, String), Vec<Compiled>>,
    len: usize,
}

impl Suppressions {
    /// Builds the set from the store's rules (expired ones are skipped at match time).
    pub fn new(rules: &[SuppressionRule]) -> Suppressions {
        let mut by_rule: HashMap<(TenantId, String), Vec<Compiled>> = HashMap::new();
        for r in rules {
            by_rule
                .entry((r.tenant.clone(), r.rule_id.clone()))
                .or_default()
                .push(Compiled {
                    id: r.id.clone(),
                    fields: r
                        .fields
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    expires_at: r.expires_at,
                });
        }
        Suppressions {
            by_rule,
            len: rules.len(),
        }
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of the first suppression rule in force at `now` that matches the detection.
    pub fn matching(
        &self,
        tenant: &TenantId,
        rule_id: &str,
        event: &dyn EventFields,
        now: Time,
    ) -> Option<&str> {
        if self.by_rule.is_empty() {
            return None;
        }
        let rules = self.by_rule.get(&(tenant.clone(), rule_id.to_owned()))?;
        rules
            .iter()
            .find(|c| {
                c.expires_at.is_none_or(|e| e > now)
                    && c.fields.iter().all(|(f, want)| {
                        let mut hit = false;
                        event.field(f, &mut |v| {
                            hit = hit || v.trim().eq_ignore_ascii_case(want.trim());
                        });
                        hit
                    })
            })
            .map(|c| c.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;

    fn rule(id: &str, fields: &[(&str, &str)], expires: Option<i64>) -> SuppressionRule {
        let t = |s| chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        SuppressionRule {
            id: id.into(),
            tenant: TenantId::main(),
            rule_id: "r1".into(),
            fields: fields
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            reason: "x".into(),
            created_by: "u".into(),
            expires_at: expires.map(t),
            suppressed_count: 0,
            last_hit_at: None,
            created_at: t(0),
        }
    }

    #[test]
    fn all_fields_must_match_case_insensitively_until_expiry() {
        let now = chrono::Utc.timestamp_opt(1_700_000_100, 0).unwrap();
        let s = Suppressions::new(&[
            rule("s1", &[("host.name", "WEB1"), ("user.name", "svc")], None),
            rule("s2", &[("source.ip", "10.0.0.9")], Some(50)),
        ]);
        let t = TenantId::main();
        let ev: &[(&str, &str)] = &[("host.name", "web1"), ("user.name", "svc")];
        assert_eq!(s.matching(&t, "r1", &ev, now), Some("s1"));
        let ev: &[(&str, &str)] = &[("host.name", "web1"), ("user.name", "bob")];
        assert_eq!(s.matching(&t, "r1", &ev, now), None);
        let ev: &[(&str, &str)] = &[("host.name", "web1"), ("user.name", "svc")];
        assert_eq!(s.matching(&t, "r2", &ev, now), None);
        // s2 expired at +50
        let ev: &[(&str, &str)] = &[("source.ip", "10.0.0.9")];
        assert_eq!(s.matching(&t, "r1", &ev, now), None);
        let before = chrono::Utc.timestamp_opt(1_700_000_010, 0).unwrap();
        assert_eq!(s.matching(&t, "r1", &ev, before), Some("s2"));
        // another tenant
        assert_eq!(s.matching(&TenantId::shared(), "r1", &ev, before), None);
    }

    #[test]
    fn an_empty_field_set_suppresses_the_whole_rule() {
        let s = Suppressions::new(&[rule("s", &[], None)]);
        let ev: &[(&str, &str)] = &[];
        assert_eq!(
            s.matching(&TenantId::main(), "r1", &ev, chrono::Utc::now()),
            Some("s")
        );
    }
}
