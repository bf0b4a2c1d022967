//! The slice of CPython's `datetime` the generator uses, on integer microseconds.
//!
//! Event times are `t0 + timedelta(seconds=t)` for a float `t`. CPython's C `timedelta`
//! constructor (`delta_new`/`accum` in `Modules/_datetimemodule.c`) splits `t` into its integer
//! part (exact), then `frac * 1e6` (one float multiplication) into whole microseconds (exact)
//! and a leftover fraction, which is rounded to the nearest microsecond with ties going to the
//! even total. [`timedelta_us`] does the same steps. Datetimes are kept as microseconds since
//! 1970-01-01 and broken into calendar fields only to print them.

/// Microseconds per second.
pub const US_PER_SECOND: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SECOND;

/// 0001-01-01T00:00:00 in microseconds since the Unix epoch (`datetime.min`).
const MIN_US: i64 = days_from_civil(1, 1, 1) * US_PER_DAY;
/// 9999-12-31T23:59:59.999999 in microseconds since the Unix epoch (`datetime.max`).
const MAX_US: i64 = days_from_civil(10000, 1, 1) * US_PER_DAY - 1;

/// A naive datetime broken into the fields the formats print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
}

/// `timedelta(seconds=t)` in whole microseconds, rounded as CPython rounds it; `None` when `t`
/// is not finite or too large for any datetime.
pub fn timedelta_us(t: f64) -> Option<i64> {
    if !t.is_finite() || t.abs() > 1e12 {
        return None;
    }
    let int_part = t.trunc();
    let frac = t - int_part;
    let mut total = int_part as i64 * US_PER_SECOND;
    if frac == 0.0 {
        return Some(total);
    }
    let us = frac * 1e6;
    let us_int = us.trunc();
    let leftover = us - us_int;
    total += us_int as i64;
    if leftover != 0.0 {
        // C's round(): half away from zero; exact halves go to the even total instead.
        let mut whole = leftover.round();
        if (whole - leftover).abs() == 0.5 {
            let odd = f64::from((total & 1) as u8);
            whole = 2.0 * ((leftover + odd) * 0.5).round() - odd;
        }
        total += whole as i64;
    }
    Some(total)
}

/// Adds microseconds to a datetime; `None` outside `datetime.min..=datetime.max` (CPython's
/// `OverflowError: date value out of range`).
pub fn add_us(base: i64, delta: i64) -> Option<i64> {
    base.checked_add(delta)
        .filter(|v| (MIN_US..=MAX_US).contains(v))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
const fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = y as i64 - if m <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

/// Calendar fields of microseconds since the epoch.
pub fn fields(us: i64) -> Fields {
    let days = us.div_euclid(US_PER_DAY);
    let in_day = us.rem_euclid(US_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = (in_day / US_PER_SECOND) as u32;
    Fields {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        microsecond: (in_day % US_PER_SECOND) as u32,
    }
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Why a `--start` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid isoformat string {0:?} (expected YYYY-MM-DD or YYYYMMDD, optionally followed by one \
     separator character and HH[:MM[:SS[.ffffff]]] and an ignored UTC offset)"
)]
pub struct IsoError(pub String);

fn digits(s: &str, at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// `datetime.fromisoformat(s).replace(tzinfo=timezone.utc)` as microseconds since the epoch,
/// for the forms of Python 3.11 that name a calendar date: `YYYY-MM-DD` or `YYYYMMDD`, then
/// optionally any one separator character and a time `HH`, `HH:MM`, `HH:MM:SS`, `HHMM`,
/// `HHMMSS`, the seconds optionally followed by `.` or `,` and 1 or more fraction digits
/// (the first six count), then optionally `Z` or a `±HH[:MM…]` offset. The offset is
/// replaced, not applied, exactly as the Python script does. ISO week dates are refused.
pub fn parse_isoformat(s: &str) -> Result<i64, IsoError> {
    let err = || IsoError(s.to_owned());
    let extended = s.as_bytes().get(4) == Some(&b'-');
    let (year, month, day, date_len) = if extended {
        if s.as_bytes().get(7) != Some(&b'-') {
            return Err(err());
        }
        (digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2), 10)
    } else {
        (digits(s, 0, 4), digits(s, 4, 2), digits(s, 6, 2), 8)
    };
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return Err(err());
    };
    let year = year as i32;
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(err());
    }
    let rest = s.get(date_len..).ok_or_else(err)?;
    let mut time_us = 0i64;
    if let Some(sep) = rest.chars().next() {
        time_us = parse_time(&rest[sep.len_utf8()..]).ok_or_else(err)?;
    }
    let us = days_from_civil(year, month, day) * US_PER_DAY + time_us;
    add_us(us, 0).ok_or_else(err)
}

/// The time part of [`parse_isoformat`] in microseconds since midnight.
fn parse_time(s: &str) -> Option<i64> {
    let (time, offset) = match s.find(['Z', '+', '-']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    if !(offset.is_empty() || offset == "Z" || valid_offset(offset)) {
        return None;
    }
    let (hms, frac) = match time.find(['.', ',']) {
        Some(i) => (&time[..i], Some(&time[i + 1..])),
        None => (time, None),
    };
    let (h, m, sec, fields) = match (hms.len(), hms.contains(':')) {
        (2, false) => (digits(hms, 0, 2)?, 0, 0, 1),
        (4, false) => (digits(hms, 0, 2)?, digits(hms, 2, 2)?, 0, 2),
        (6, false) => (
            digits(hms, 0, 2)?,
            digits(hms, 2, 2)?,
            digits(hms, 4, 2)?,
            3,
        ),
        (5, true) if &hms[2..3] == ":" => (digits(hms, 0, 2)?, digits(hms, 3, 2)?, 0, 2),
        (8, true) if &hms[2..3] == ":" && &hms[5..6] == ":" => (
            digits(hms, 0, 2)?,
            digits(hms, 3, 2)?,
            digits(hms, 6, 2)?,
            3,
        ),
        _ => return None,
    };
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut micro = 0i64;
    if let Some(frac) = frac {
        if fields != 3 || frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        for i in 0..6 {
            let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            micro = micro * 10 + d;
        }
    }
    Some((i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec)) * US_PER_SECOND + micro)
}

/// `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS[.ffffff]` (checked for shape only: it is discarded).
fn valid_offset(s: &str) -> bool {
    let body = &s[1..];
    let b = body.as_bytes();
    let shape_ok = match b.len() {
        2 | 4 => b.iter().all(u8::is_ascii_digit),
        5 | 8 => {
            b[2] == b':'
                && (b.len() == 5 || b[5] == b':')
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i % 3 == 2 || c.is_ascii_digit())
        }
        n if n > 9 => {
            b[8] == b'.' && valid_offset(&s[..9]) && b[9..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    shape_ok && digits(body, 0, 2).is_some_and(|h| h < 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Fields {
        fields(parse_isoformat(s).unwrap_or(i64::MIN))
    }

    #[test]
    fn parses_the_forms_python_311_accepts() {
        let may1 = Fields {
            year: 2024,
            month: 5,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            microsecond: 0,
        };
        for s in [
            "2024-05-01",
            "2024-05-01T00",
            "2024-05-01 00:00",
            "20240501T0000",
            "20240501T000000",
            "2024-05-01T00:00:00Z",
            "2024-05-01T00:00:00+02:00",
            "2024-05-01x00:00",
        ] {
            assert_eq!(iso(s), may1, "{s}");
        }
        assert_eq!(iso("2024-05-01T00:00:00,5").microsecond, 500_000);
        assert_eq!(iso("2024-05-01T12:00:00.1234567").microsecond, 123_456);
        assert_eq!(iso("2024-05-01T1200").hour, 12);
        assert_eq!(iso("0999-05-01").year, 999);
        for bad in [
            "2024-05-01T24:00",
            "2024-05-01T12:0",
            "2024-05",
            "2024-05-01T12:00:00.",
            " 2024-05-01",
            "2023-02-29",
            "0000-01-01",
        ] {
            assert!(parse_isoformat(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn calendar_round_trips_and_bounds() {
        assert_eq!(parse_isoformat("1970-01-01"), Ok(0));
        assert_eq!(MIN_US, -719_162 * US_PER_DAY);
        assert_eq!(MAX_US, 2_932_897 * US_PER_DAY - 1);
        assert_eq!(parse_isoformat("0001-01-01"), Ok(MIN_US));
        assert_eq!(parse_isoformat("9999-12-31T23:59:59.999999"), Ok(MAX_US));
        let f = fields(parse_isoformat("2024-02-29T23:59:59.000001").unwrap_or(0));
        assert_eq!(
            (f.year, f.month, f.day, f.hour, f.minute, f.second),
            (2024, 2, 29, 23, 59, 59)
        );
        assert_eq!(add_us(MAX_US, 1), None);
    }

    #[test]
    fn timedelta_rounds_like_cpython() {
        // Values from CPython 3.11: timedelta(seconds=x) // timedelta(microseconds=1).
        assert_eq!(timedelta_us(0.0), Some(0));
        assert_eq!(timedelta_us(-0.0), Some(0));
        assert_eq!(timedelta_us(1.5), Some(1_500_000));
        assert_eq!(timedelta_us(0.0000005), Some(0));
        assert_eq!(timedelta_us(0.0000015), Some(2));
        assert_eq!(timedelta_us(0.0000025), Some(2));
        assert_eq!(timedelta_us(12345.6789012345), Some(12_345_678_901));
        assert_eq!(timedelta_us(1234.0000005), Some(1_234_000_000));
        assert_eq!(timedelta_us(f64::NAN), None);
    }
}
