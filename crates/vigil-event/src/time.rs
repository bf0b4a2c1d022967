//! [`Timestamp`]: an instant as nanoseconds since the Unix epoch, UTC.
//!
//! An `i64` of nanoseconds covers 1677–2262, is `Copy`, orders and hashes for free, and is what
//! the store keeps in its time index. chrono is used only at the edges (parsing, formatting).

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// An instant: nanoseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The smallest representable instant.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The largest representable instant.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(&Utc::now())
    }

    /// From a chrono instant (saturating outside 1677–2262).
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Timestamp {
        let utc = dt.with_timezone(&Utc);
        Timestamp(utc.timestamp_nanos_opt().unwrap_or(if utc.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (floor).
    pub fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// As a chrono UTC instant.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// RFC 3339 with millisecond precision when the instant has a fraction, e.g.
    /// `2026-11-22T07:23:36.120Z`.
    pub fn to_rfc3339(self) -> String {
        let fmt = if self.0 % 1_000_000_000 == 0 {
            SecondsFormat::Secs
        } else if self.0 % 1_000_000 == 0 {
            SecondsFormat::Millis
        } else {
            SecondsFormat::AutoSi
        };
        self.to_datetime().to_rfc3339_opts(fmt, true)
    }

    /// Parses RFC 3339 (`2024-01-02T03:04:05Z`, with offset or fraction), a date alone
    /// (`2024-01-02`, midnight UTC), or integer epoch seconds/milliseconds/nanoseconds (chosen by
    /// magnitude).
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp::from_datetime(&dt));
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return d
                .and_hms_opt(0, 0, 0)
                .map(|n| Timestamp::from_datetime(&n.and_utc()));
        }
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Timestamp::from_datetime(&n.and_utc()));
            }
        }
        if let Ok(n) = s.parse::<i64>() {
            let abs = n.unsigned_abs();
            return Some(if abs < 100_000_000_000 {
                Timestamp::from_secs(n)
            } else if abs < 100_000_000_000_000 {
                Timestamp::from_millis(n)
            } else {
                Timestamp(n)
            });
        }
        None
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let t = Timestamp::parse("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(t, Timestamp::from_secs(1_704_164_645));
        assert_eq!(Timestamp::parse("2024-01-02T04:04:05+01:00"), Some(t));
        assert_eq!(Timestamp::parse("1704164645"), Some(t));
        assert_eq!(Timestamp::parse("1704164645000"), Some(t));
        assert_eq!(
            Timestamp::parse("2024-01-02").unwrap().to_rfc3339(),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
    }

    #[test]
    fn rfc3339_precision() {
        assert_eq!(
            Timestamp::from_millis(1_500).to_rfc3339(),
            "1970-01-01T00:00:01.500Z"
        );
        assert_eq!(Timestamp(1).to_rfc3339(), "1970-01-01T00:00:00.000000001Z");
    }
}
