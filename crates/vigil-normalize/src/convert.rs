//! Value conversions of mappings: timestamps in any common format and time zone, durations,
//! numbers, booleans, IPs.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use smol_str::SmolStr;
use vigil_event::{Timestamp, Value};

/// What a mapping converts its value to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    /// Text.
    Str,
    /// Integer (decimal, `0x` hex, `12.0`).
    Int,
    /// Float.
    Float,
    /// Boolean (`true/false`, `yes/no`, `1/0`, `on/off`).
    Bool,
    /// IP address (`[::1]`, zone ids, IPv4-mapped IPv6 accepted).
    Ip,
    /// Timestamp, any common format (or the mapping's `format`).
    Timestamp,
    /// Duration in nanoseconds.
    Duration,
}

impl Convert {
    /// Parses a conversion name.
    pub fn parse(s: &str) -> Option<Convert> {
        Some(match s {
            "string" | "str" | "text" => Convert::Str,
            "int" | "integer" | "long" => Convert::Int,
            "float" | "double" | "number" => Convert::Float,
            "bool" | "boolean" => Convert::Bool,
            "ip" => Convert::Ip,
            "timestamp" | "time" | "datetime" => Convert::Timestamp,
            "duration" => Convert::Duration,
            _ => return None,
        })
    }
}

/// Unit of bare numbers converted to a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl DurationUnit {
    /// Parses `s`, `ms`, `us`, `ns`.
    pub fn parse(s: &str) -> Option<DurationUnit> {
        Some(match s {
            "s" | "sec" | "seconds" => DurationUnit::S,
            "ms" | "millis" | "milliseconds" => DurationUnit::Ms,
            "us" | "micros" | "microseconds" => DurationUnit::Us,
            "ns" | "nanos" | "nanoseconds" => DurationUnit::Ns,
            _ => return None,
        })
    }

    fn nanos(self) -> f64 {
        match self {
            DurationUnit::S => 1e9,
            DurationUnit::Ms => 1e6,
            DurationUnit::Us => 1e3,
            DurationUnit::Ns => 1.0,
        }
    }
}

/// Converts a value; `None` when it does not fit.
pub fn convert(
    v: Value,
    to: Convert,
    format: Option<&str>,
    tz: Tz,
    reference: Timestamp,
    unit: DurationUnit,
) -> Option<Value> {
    let text = |v: &Value| -> SmolStr {
        match v {
            Value::Str(s) => s.clone(),
            other => SmolStr::new(other.to_string()),
        }
    };
    Some(match to {
        Convert::Str => Value::Str(text(&v)),
        Convert::Int => match v {
            Value::Int(i) => Value::Int(i),
            Value::Float(x) if x.is_finite() => Value::Int(x as i64),
            Value::Bool(b) => Value::Int(i64::from(b)),
            other => Value::Int(parse_int(&text(&other))?),
        },
        Convert::Float => match v {
            Value::Float(x) => Value::Float(x),
            Value::Int(i) => Value::Float(i as f64),
            other => Value::Float(text(&other).trim().parse().ok()?),
        },
        Convert::Bool => match v {
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Bool(i != 0),
            other => Value::Bool(match text(&other).trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "on" | "t" => true,
                "false" | "no" | "n" | "0" | "off" | "f" => false,
                _ => return None,
            }),
        },
        Convert::Ip => match v {
            Value::Ip(ip) => Value::Ip(ip),
            other => Value::Ip(vigil_event::parse_ip(&text(&other))?),
        },
        Convert::Timestamp => match v {
            Value::Time(t) => Value::Time(t),
            Value::Int(i) => Value::Time(epoch_int(i).0),
            Value::Float(x) => Value::Time(epoch(x)?.0),
            other => {
                let s = text(&other);
                let t = match format {
                    Some(f) => parse_time_format(&s, f, tz, reference)?,
                    None => parse_time(&s, tz, reference)?,
                };
                Value::Time(t.0)
            }
        },
        Convert::Duration => match v {
            Value::Int(i) => Value::Int((i as f64 * unit.nanos()) as i64),
            Value::Float(x) => Value::Int((x * unit.nanos()) as i64),
            other => Value::Int(parse_duration(&text(&other), unit)?),
        },
    })
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    t.parse().ok().or_else(|| {
        t.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.fract() == 0.0)
            .map(|x| x as i64)
    })
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, chosen by magnitude, from a
/// float (a JSON number): read through its shortest decimal form, so `1700000000.123` is
/// `.123` exactly and not the binary neighbour `.122999808`.
fn epoch(x: f64) -> Option<Timestamp> {
    if !x.is_finite() {
        return None;
    }
    epoch_decimal(&x.to_string())
}

/// Epoch time written as a decimal (`1700000000.123`, `-5.5`), chosen by magnitude like
/// [`epoch_int`], computed in integers: the whole part scaled, plus the fraction's digits.
fn epoch_decimal(s: &str) -> Option<Timestamp> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // digits of the fraction that still fall at or above a nanosecond
    let scale: u32 = if w < 100_000_000_000 {
        9
    } else if w < 100_000_000_000_000 {
        6
    } else if w < 100_000_000_000_000_000 {
        3
    } else {
        0
    };
    let mut f: i64 = 0;
    for i in 0..scale as usize {
        let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        f = f * 10 + d;
    }
    let nanos = w.checked_mul(10i64.pow(scale))?.checked_add(f)?;
    Some(Timestamp(if neg { -nanos } else { nanos }))
}

fn epoch_int(i: i64) -> Timestamp {
    let a = i.unsigned_abs();
    if a < 100_000_000_000 {
        Timestamp::from_secs(i)
    } else if a < 100_000_000_000_000 {
        Timestamp::from_millis(i)
    } else if a < 100_000_000_000_000_000 {
        Timestamp(i.saturating_mul(1_000))
    } else {
        Timestamp(i)
    }
}

/// Durations: a bare number in `unit`, `1h2m3.5s`, `150ms`, `00:01:02.5`.
pub fn parse_duration(s: &str, unit: DurationUnit) -> Option<i64> {
    let t = s.trim();
    if let Ok(x) = t.parse::<f64>() {
        return Some((x * unit.nanos()) as i64);
    }
    if t.contains(':') {
        let mut total = 0f64;
        for part in t.split(':') {
            total = total * 60.0 + part.parse::<f64>().ok()?;
        }
        return Some((total * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut rest = t;
    let mut any = false;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match rest[..unit_end].trim() {
            "h" => 3600e9,
            "m" | "min" => 60e9,
            "s" | "" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            "d" => 86400e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * mult;
        any = true;
    }
    any.then_some(total as i64)
}

/// Formats with an offset or zone, tried first.
const WITH_OFFSET: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%d/%b/%Y:%H:%M:%S %z",
    "%d/%b/%Y:%H:%M:%S%.f %z",
    "%a %b %d %H:%M:%S%.f %z %Y",
    "%Y-%m-%d %H:%M:%S%.f %z",
];

/// Formats without an offset, read in the time zone.
const NAIVE: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y-%m-%d-%H.%M.%S%.f",
    "%a %b %d %H:%M:%S%.f %Y",
    "%a %b %e %H:%M:%S%.f %Y",
    "%b %d %Y %H:%M:%S%.f",
    "%b %e %Y %H:%M:%S%.f",
    "%b %d %H:%M:%S%.f %Y",
    "%d/%b/%Y:%H:%M:%S%.f",
    "%d-%b-%Y %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S%.f",
    "%m/%d/%Y %I:%M:%S %p",
    "%y%m%d %H%M%S",
    "%Y%m%d-%H:%M:%S%.f",
    "%Y%m%d %H:%M:%S%.f",
    "%Y%m%dT%H%M%S%.fZ",
];

/// Formats without a year: the year is the latest that puts the instant at most 31 days after
/// the reference (the receive time), as for RFC 3164.
const NO_YEAR: &[&str] = &[
    "%b %d %H:%M:%S%.f",
    "%b %e %H:%M:%S%.f",
    "%m-%d %H:%M:%S%.f",
    "%m.%d %H:%M:%S%.f",
];

/// Parses a timestamp in any common format: RFC 3339 / ISO 8601, RFC 2822, Apache/nginx
/// (`10/Oct/2000:13:55:36 -0700`), Apache error (`Sun Dec 04 04:47:44 2005`), syslog
/// (`Nov  2 06:59:58`), Cisco (`Nov 22 2026 06:59:58`), compact (`081109 203615`), epoch
/// seconds/ms/µs/ns with or without a fraction. Times without an offset are read in `tz`.
pub fn parse_time(s: &str, tz: Tz, reference: Timestamp) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(Timestamp::from_datetime(&dt));
    }
    // all digits (with one optional dot): epoch
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|b| *b == b'.').count() <= 1
    {
        if s.len() < 9 {
            return None;
        }
        if let Ok(i) = s.parse::<i64>() {
            return Some(epoch_int(i));
        }
        return epoch_decimal(s);
    }
    // `2015-10-18 18:01:47,978`: comma fraction
    let owned;
    let s = if let Some(i) = s.rfind(',').filter(|i| {
        s[..*i].ends_with(|c: char| c.is_ascii_digit())
            && s[i + 1..].bytes().all(|b| b.is_ascii_digit())
            && s.len() - i <= 10
    }) {
        owned = format!("{}.{}", &s[..i], &s[i + 1..]);
        owned.as_str()
    } else {
        s
    };
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .map_or(s, |x| x);
    for f in WITH_OFFSET {
        if let Ok(dt) = DateTime::parse_from_str(s, f) {
            return Some(Timestamp::from_datetime(&dt));
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Some(Timestamp::from_datetime(&dt));
    }
    for f in NAIVE {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return local(n, tz);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).and_then(|n| local(n, tz));
    }
    for f in NO_YEAR {
        if let Some(t) = no_year(s, f, tz, reference) {
            return Some(t);
        }
    }
    None
}

/// Parses with one chrono format (with `%z` for an offset; else read in `tz`; without `%Y`/`%y`
/// the year is resolved against the reference).
pub fn parse_time_format(s: &str, format: &str, tz: Tz, reference: Timestamp) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_str(s, format) {
        return Some(Timestamp::from_datetime(&dt));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(s, format) {
        return local(n, tz);
    }
    if !format.contains("%Y") && !format.contains("%y") {
        return no_year(s, format, tz, reference);
    }
    None
}

fn local(n: NaiveDateTime, tz: Tz) -> Option<Timestamp> {
    tz.from_local_datetime(&n)
        .earliest()
        .map(|dt| Timestamp::from_datetime(&dt))
}

fn no_year(s: &str, format: &str, tz: Tz, reference: Timestamp) -> Option<Timestamp> {
    let ref_year = reference.to_datetime().year();
    let with_year = format!("{ref_year} {s}");
    let fmt = format!("%Y {format}");
    let n = NaiveDateTime::parse_from_str(&with_year, &fmt).ok()?;
    let mut t = local(n, tz)?;
    // more than 31 days in the future: last year's
    if t.0 > reference.0.saturating_add(31 * 86_400 * 1_000_000_000) {
        let n = NaiveDateTime::parse_from_str(&format!("{} {s}", ref_year - 1), &fmt).ok()?;
        t = local(n, tz)?;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        let r = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
        parse_time(s, chrono_tz::UTC, r)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "NONE".into())
    }

    #[test]
    fn common_timestamp_forms() {
        assert_eq!(p("2026-11-22T06:59:58Z"), "2026-11-22T06:59:58Z");
        assert_eq!(
            p("2026-11-22T06:59:58.120+01:00"),
            "2026-11-22T05:59:58.120Z"
        );
        assert_eq!(p("22/Nov/2026:06:59:58 +0100"), "2026-11-22T05:59:58Z");
        assert_eq!(p("Sun Dec 04 04:47:44 2005"), "2005-12-04T04:47:44Z");
        assert_eq!(p("Nov 22 2026 06:59:58"), "2026-11-22T06:59:58Z");
        assert_eq!(p("Nov  2 06:59:58"), "2026-11-02T06:59:58Z");
        assert_eq!(p("Dec 31 23:59:59"), "2025-12-31T23:59:59Z");
        assert_eq!(p("2015-10-18 18:01:47,978"), "2015-10-18T18:01:47.978Z");
        assert_eq!(p("081109 203615"), "2008-11-09T20:36:15Z");
        assert_eq!(p("1131566461"), "2005-11-09T20:01:01Z");
        assert_eq!(p("1700000000.5"), "2023-11-14T22:13:20.500Z");
        assert_eq!(p("1700000000123"), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            p("2005-06-03-15.42.50.675872"),
            "2005-06-03T15:42:50.675872Z"
        );
        assert_eq!(p("2026/11/22 06:59:58"), "2026-11-22T06:59:58Z");
        assert_eq!(p("Tue, 1 Jul 2003 10:52:37 +0200"), "2003-07-01T08:52:37Z");
        assert_eq!(p("yesterday"), "NONE");
        let berlin: Tz = "Europe/Berlin".parse().unwrap_or(chrono_tz::UTC);
        let t = parse_time("2026-07-01 12:00:00", berlin, Timestamp::EPOCH).map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("2026-07-01T10:00:00Z"));
    }

    #[test]
    fn auditd_fractional_epoch_has_no_float_noise() {
        assert_eq!(p("1700000000.123"), "2023-11-14T22:13:20.123Z");
        assert_eq!(p("1700000012.501"), "2023-11-14T22:13:32.501Z");
        assert_eq!(
            p("1700000000.123456789123"),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(p("1700000000123.456"), "2023-11-14T22:13:20.123456Z");
        let r = Timestamp::EPOCH;
        let f = |x: f64| {
            convert(
                Value::Float(x),
                Convert::Timestamp,
                None,
                chrono_tz::UTC,
                r,
                DurationUnit::S,
            )
        };
        assert_eq!(
            f(1_700_000_000.123),
            Some(Value::Time(1_700_000_000_123_000_000))
        );
        assert_eq!(f(f64::NAN), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5", DurationUnit::S), Some(1_500_000_000));
        assert_eq!(parse_duration("250", DurationUnit::Ms), Some(250_000_000));
        assert_eq!(
            parse_duration("1h2m3s", DurationUnit::S),
            Some(3_723_000_000_000)
        );
        assert_eq!(parse_duration("150ms", DurationUnit::S), Some(150_000_000));
        assert_eq!(
            parse_duration("00:01:02.5", DurationUnit::S),
            Some(62_500_000_000)
        );
        assert_eq!(parse_duration("soon", DurationUnit::S), None);
    }
}
