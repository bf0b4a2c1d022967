//! The risk score of an alert: severity and the criticality of the assets it touches.
//!
//! ```text
//! risk = min(100, base(severity) + weight(criticality of the most critical asset))
//!
//! base:   low 20   medium 40   high 60   critical 75
//! weight: no known asset 0   low 0   medium 5   high 15   critical 25
//! ```
//!
//! Additive rather than multiplicative so that the asset always counts, even for low
//! severities, and the ordering is easy to reason about: a detection on a critical asset
//! scores 25 above the same detection on an unknown or low-value host, a high-severity alert
//! on a critical asset (85) ranks above a critical one on an ordinary workstation (75), and
//! only a critical detection on a critical asset reaches 100. The asset is the most critical
//! one matched by the detection's host names and IP addresses (see `docs/core.md`).

use crate::model::{Criticality, Severity};

/// The part of the score that comes from the detection's severity.
pub fn severity_base(s: Severity) -> i64 {
    match s {
        Severity::Low => 20,
        Severity::Medium => 40,
        Severity::High => 60,
        Severity::Critical => 75,
    }
}

/// The part that comes from the most critical asset involved (none known: 0).
pub fn criticality_weight(c: Option<Criticality>) -> i64 {
    match c {
        None | Some(Criticality::Low) => 0,
        Some(Criticality::Medium) => 5,
        Some(Criticality::High) => 15,
        Some(Criticality::Critical) => 25,
    }
}

/// The risk score, 0–100.
pub fn risk_score(severity: Severity, asset: Option<Criticality>) -> i64 {
    (severity_base(severity) + criticality_weight(asset)).min(100)
}

/// The core's severity of a Sigma level (`informational` and unknown levels are low).
pub fn severity_of_level(level: &str) -> Severity {
    match level.trim().to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        _ => Severity::Low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_table() {
        assert_eq!(risk_score(Severity::Low, None), 20);
        assert_eq!(risk_score(Severity::Medium, None), 40);
        assert_eq!(risk_score(Severity::High, None), 60);
        assert_eq!(risk_score(Severity::Critical, None), 75);
        assert_eq!(risk_score(Severity::Medium, Some(Criticality::Low)), 40);
        assert_eq!(risk_score(Severity::Medium, Some(Criticality::Medium)), 45);
        assert_eq!(risk_score(Severity::Medium, Some(Criticality::High)), 55);
        assert_eq!(
            risk_score(Severity::Medium, Some(Criticality::Critical)),
            65
        );
        assert_eq!(risk_score(Severity::High, Some(Criticality::Critical)), 85);
        assert_eq!(
            risk_score(Severity::Critical, Some(Criticality::Critical)),
            100
        );
    }

    #[test]
    fn a_more_critical_asset_never_lowers_the_score() {
        for s in Severity::ALL {
            let mut last = risk_score(*s, None);
            for c in Criticality::ALL {
                let r = risk_score(*s, Some(*c));
                assert!(r >= last, "{s} {c}");
                assert!((0..=100).contains(&r));
                last = r;
            }
            assert!(risk_score(*s, Some(Criticality::Critical)) > risk_score(*s, None));
        }
    }

    #[test]
    fn sigma_levels() {
        assert_eq!(severity_of_level("informational"), Severity::Low);
        assert_eq!(severity_of_level("High"), Severity::High);
        assert_eq!(severity_of_level("critical"), Severity::Critical);
        assert_eq!(severity_of_level("bogus"), Severity::Low);
    }
}
