//! [`Timestamp`]: an instant as nanoseconds since the Unix epoch, UTC.
//!
//! An `i64` of nanoseconds covers 1677–2262, is `Copy`, orders and hashes for free, and is what
//! the store keeps in its time index. chrono is used only at the edges (parsing, formatting).

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
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
        let mut out = Vec::with_capacity(30);
        self.write_rfc3339(&mut out);
        // only ASCII digits and separators were written
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends [`Timestamp::to_rfc3339`]'s text to `out`: seconds, then no fraction, 3, 6 or
    /// 9 digits (the fewest that hold it), then `Z`. What chrono's `to_rfc3339_opts` writes,
    /// without its formatting machinery: the JSON writer calls this once or twice per event.
    pub(crate) fn write_rfc3339(self, out: &mut Vec<u8>) {
        const NANOS: i64 = 1_000_000_000;
        let secs = self.0.div_euclid(NANOS);
        let frac = self.0.rem_euclid(NANOS);
        let b = date_time(secs);
        out.extend_from_slice(&b);
        let (digits, value) = if frac == 0 {
            (0, 0)
        } else if frac % 1_000_000 == 0 {
            (3, frac / 1_000_000)
        } else if frac % 1_000 == 0 {
            (6, frac / 1_000)
        } else {
            (9, frac)
        };
        if digits == 0 {
            out.push(b'Z');
            return;
        }
        // `.` + digits + `Z`, appended with one fixed-size copy
        let mut f = [b'0'; 11];
        f[0] = b'.';
        let mut v = value;
        for at in (1..=digits).rev() {
            f[at] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        f[digits + 1] = b'Z';
        out.extend_from_slice(&f);
        out.truncate(out.len() - (11 - (digits + 2)));
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

/// `YYYY-MM-DDTHH:MM:SS` of an instant in whole seconds since the epoch. The two most recent
/// answers are kept per thread: an output writes the event's time and its receive time, and
/// both repeat from one event to the next.
fn date_time(secs: i64) -> [u8; 19] {
    use std::cell::Cell;
    type Entry = (i64, [u8; 19]);
    thread_local! {
        static RECENT: Cell<[Entry; 2]> = const { Cell::new([(i64::MIN, [0; 19]); 2]) };
    }
    RECENT.with(|recent| {
        let [a, b] = recent.get();
        if a.0 == secs {
            return a.1;
        }
        if b.0 == secs {
            recent.set([b, a]);
            return b.1;
        }
        let text = format_date_time(secs);
        recent.set([(secs, text), a]);
        text
    })
}

fn format_date_time(secs: i64) -> [u8; 19] {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // i64 nanoseconds span 1677-2262: always a four-digit year
    let (y, m, d) = civil_from_days(days);
    let y = y as u64;
    let mut b = *b"0000-00-00T00:00:00";
    let two = |b: &mut [u8; 19], at: usize, v: u64| {
        b[at] = b'0' + (v / 10 % 10) as u8;
        b[at + 1] = b'0' + (v % 10) as u8;
    };
    two(&mut b, 0, y / 100);
    two(&mut b, 2, y % 100);
    two(&mut b, 5, m as u64);
    two(&mut b, 8, d as u64);
    two(&mut b, 11, (sod / 3600) as u64);
    two(&mut b, 14, (sod / 60 % 60) as u64);
    two(&mut b, 17, (sod % 60) as u64);
    b
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Where the source's own time of an event goes when [`TimePolicy`] finds it implausible.
pub const ORIGINAL_TIMESTAMP_FIELD: &str = "vigil.original_timestamp";
/// The tag of an event whose source time [`TimePolicy`] replaced.
pub const IMPLAUSIBLE_TIMESTAMP_TAG: &str = "implausible_timestamp";

/// What Vigil does with a source timestamp it cannot believe: one policy, applied once where
/// raw records become events (after the normalizer, before filters and enrichment).
///
/// A source time more than [`max_future_skew`](TimePolicy::max_future_skew) after the receive
/// time, or before [`min_timestamp`](TimePolicy::min_timestamp), is not used as `@timestamp`:
/// it would put the event where no search looks (`9999-12-31` saturates to the last
/// representable instant; `1970-01-01` from a device whose clock was reset sorts before every
/// real event). Instead:
///
/// * `@timestamp` becomes the receive time (`event.ingested`);
/// * the source's time is kept in `vigil.original_timestamp` (a timestamp; times outside
///   1677–2262 are saturated to those bounds there, the raw record keeps the exact text);
/// * the event is tagged `implausible_timestamp`.
///
/// The pipeline counts these events (normalizer error reason `implausible_timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// Nanoseconds a source time may be ahead of the receive time (clock skew, a wrong time
    /// zone). Default one day.
    pub max_future_skew: i64,
    /// The earliest believable source time. Default 2000-01-01T00:00:00Z.
    pub min_timestamp: Timestamp,
}

impl TimePolicy {
    /// One day of skew, nothing before 2000-01-01T00:00:00Z.
    pub const DEFAULT: TimePolicy = TimePolicy {
        max_future_skew: 86_400 * 1_000_000_000,
        min_timestamp: Timestamp(946_684_800 * 1_000_000_000),
    };

    /// Whether `t` is believable for an event received at `received`.
    pub fn plausible(&self, t: Timestamp, received: Timestamp) -> bool {
        t >= self.min_timestamp && t.0 <= received.0.saturating_add(self.max_future_skew)
    }

    /// Applies the policy to `ev`; returns whether its `@timestamp` was replaced. The receive
    /// time is `ev.meta.received` (the current time if that is unset).
    pub fn apply(&self, ev: &mut crate::Event) -> bool {
        let received = if ev.meta.received == Timestamp::EPOCH {
            Timestamp::now()
        } else {
            ev.meta.received
        };
        if self.plausible(ev.timestamp, received) {
            return false;
        }
        ev.extra
            .insert(ORIGINAL_TIMESTAMP_FIELD, crate::Value::Time(ev.timestamp.0));
        ev.timestamp = received;
        if !ev.tags.iter().any(|t| t == IMPLAUSIBLE_TIMESTAMP_TAG) {
            ev.tags
                .push(smol_str::SmolStr::new_static(IMPLAUSIBLE_TIMESTAMP_TAG));
        }
        true
    }
}

impl Default for TimePolicy {
    fn default() -> Self {
        TimePolicy::DEFAULT
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

    /// What `to_rfc3339` wrote when chrono formatted it.
    fn chrono_rfc3339(t: Timestamp) -> String {
        use chrono::SecondsFormat;
        let fmt = if t.0 % 1_000_000_000 == 0 {
            SecondsFormat::Secs
        } else if t.0 % 1_000_000 == 0 {
            SecondsFormat::Millis
        } else {
            SecondsFormat::AutoSi
        };
        t.to_datetime().to_rfc3339_opts(fmt, true)
    }

    #[test]
    fn rfc3339_matches_chrono_at_the_edges() {
        for n in [
            0,
            1,
            -1,
            999,
            1_000,
            1_000_000,
            -1_000_000_000,
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
            951_782_400_000_000_000, // 2000-02-29
            1_795_000_000_123_456_789,
            1_795_000_000_123_456_000,
            1_795_000_000_120_000_000,
        ] {
            assert_eq!(
                Timestamp(n).to_rfc3339(),
                chrono_rfc3339(Timestamp(n)),
                "{n}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_matches_chrono(n in proptest::num::i64::ANY, secs in -10_000_000_000i64..10_000_000_000) {
            proptest::prop_assert_eq!(Timestamp(n).to_rfc3339(), chrono_rfc3339(Timestamp(n)));
            let t = Timestamp::from_secs(secs);
            proptest::prop_assert_eq!(t.to_rfc3339(), chrono_rfc3339(t));
        }
    }

    fn received_at(raw_time: &str, received: Timestamp) -> crate::Event {
        let mut ev = crate::Event::new(bytes::Bytes::from_static(b"x"));
        ev.meta.received = received;
        ev.timestamp = Timestamp::parse(raw_time).unwrap_or(Timestamp::MAX);
        ev
    }

    #[test]
    fn implausible_source_times_give_way_to_the_receive_time() {
        let now = Timestamp::parse("2026-11-22T12:00:00Z").unwrap();
        let p = TimePolicy::default();
        for bad in [
            "9999-12-31T23:59:59Z",
            "2262-04-11T23:47:16.854775808Z",
            "2026-11-23T12:00:01Z",
            "1900-01-01T00:00:00Z",
            "1970-01-01T00:00:05Z",
            "1999-12-31T23:59:59Z",
        ] {
            let mut ev = received_at(bad, now);
            let source = ev.timestamp;
            assert!(p.apply(&mut ev), "{bad}");
            assert_eq!(ev.timestamp, now, "{bad}");
            assert_eq!(
                ev.extra.get(ORIGINAL_TIMESTAMP_FIELD),
                Some(&crate::Value::Time(source.0)),
                "{bad}"
            );
            assert_eq!(ev.tags, vec![IMPLAUSIBLE_TIMESTAMP_TAG], "{bad}");
            // applying twice changes nothing more
            assert!(!p.apply(&mut ev));
            assert_eq!(ev.tags.len(), 1);
        }
        for good in [
            "2026-11-23T12:00:00Z",
            "2026-11-22T12:00:00Z",
            "2000-01-01T00:00:00Z",
            "2015-06-01T00:00:00Z",
        ] {
            let mut ev = received_at(good, now);
            let before = ev.clone();
            assert!(!p.apply(&mut ev), "{good}");
            assert_eq!(ev, before, "{good}");
        }
    }

    #[test]
    fn the_policy_bounds_are_configurable() {
        let now = Timestamp::parse("2026-11-22T12:00:00Z").unwrap();
        let p = TimePolicy {
            max_future_skew: 0,
            min_timestamp: Timestamp::EPOCH,
        };
        assert!(p.plausible(Timestamp::parse("1970-01-01T00:00:05Z").unwrap(), now));
        assert!(p.plausible(now, now));
        assert!(!p.plausible(Timestamp(now.0 + 1), now));
        assert!(!p.plausible(Timestamp(-1), now));
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
