//! Syslog message parsing: RFC 3164 (BSD) and RFC 5424, auto-detected per message.
//!
//! [`parse_lenient`] is the workhorse: it always returns a [`SyslogMessage`] and, if the input
//! was not well formed, the *first* [`SyslogError`] it met. Whatever could not be parsed is left
//! in [`SyslogMessage::msg`], so no bytes are dropped. [`parse`] is the same parser that turns any
//! such error into `Err`.
//!
//! Detection: `<PRI>1 ` starts an RFC 5424 message; anything else is read as RFC 3164, following
//! rsyslog's `pmrfc3164` heuristics (optional PRI, several timestamp shapes, a hostname only
//! after a timestamp and only if it looks like one, then a TAG ending at `:` or a blank).

use std::borrow::Cow;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use memchr::{memchr, memchr2, memchr3};

/// The wire format a message was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// BSD syslog (RFC 3164) and its many real-world variants.
    Rfc3164,
    /// The IETF syslog protocol (RFC 5424).
    Rfc5424,
}

/// Parser settings that cannot be read from the message itself.
#[derive(Debug, Clone, Copy)]
pub struct SyslogOptions {
    /// Time zone for timestamps without a UTC offset (all RFC 3164 ones, some RFC 5424 ones).
    pub default_timezone: Tz,
    /// Reference instant for guessing the year of RFC 3164 timestamps, normally the receive
    /// time: the guess is the latest year that puts the message at most 31 days after `now`.
    pub now: DateTime<Utc>,
}

impl Default for SyslogOptions {
    /// UTC and the current time.
    fn default() -> Self {
        SyslogOptions {
            default_timezone: chrono_tz::UTC,
            now: Utc::now(),
        }
    }
}

/// One parsed syslog message, borrowing from the input frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage<'a> {
    /// Which syntax the message was read with.
    pub format: Format,
    /// The PRI value (facility * 8 + severity), `None` if the message had none.
    pub pri: Option<u8>,
    /// The RFC 5424 VERSION (always 1 today); `None` for RFC 3164.
    pub version: Option<u8>,
    /// The message time as a UTC instant; `None` if absent, NILVALUE or unparsable.
    pub timestamp: Option<DateTime<Utc>>,
    /// The UTC offset written in the timestamp (`Z` is +00:00); `None` when the message had
    /// none and [`SyslogOptions::default_timezone`] was assumed.
    pub timestamp_offset: Option<FixedOffset>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME (RFC 5424) or the TAG up to `[` (RFC 3164).
    pub app_name: Option<&'a str>,
    /// PROCID (RFC 5424) or the `[pid]` of the TAG (RFC 3164).
    pub procid: Option<&'a str>,
    /// MSGID (RFC 5424 only).
    pub msgid: Option<&'a str>,
    /// STRUCTURED-DATA elements in message order (RFC 5424 only).
    pub structured_data: Vec<SdElement<'a>>,
    /// The free-form message, UTF-8 BOM stripped. Not necessarily UTF-8: see [`Self::msg_lossy`].
    pub msg: &'a [u8],
}

/// One RFC 5424 SD-ELEMENT: `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// The SD-ID, e.g. `timeQuality` or `exampleSDID@32473`.
    pub id: &'a str,
    /// The SD-PARAMs in message order (names may repeat).
    pub params: Vec<SdParam<'a>>,
}

/// One SD-PARAM. The value is unescaped (`\"`, `\\`, `\]`); it borrows unless it had escapes
/// or invalid UTF-8 (replaced by U+FFFD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdParam<'a> {
    /// PARAM-NAME.
    pub name: &'a str,
    /// PARAM-VALUE, unescaped.
    pub value: Cow<'a, str>,
}

/// What was wrong with a message. Offsets are byte offsets into the (trimmed) input frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyslogError {
    /// The frame was empty (after trimming trailing CR, LF and NUL).
    #[error("empty message")]
    Empty,
    /// The message does not start with `<PRI>`.
    #[error("missing PRI at offset {offset}")]
    MissingPri {
        /// Where the PRI was expected.
        offset: usize,
    },
    /// The message starts with `<` but not with a valid `<0>`..`<191>`.
    #[error("invalid PRI at offset {offset}: {reason}")]
    InvalidPri {
        /// Where the problem is.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An RFC 3164 message without a recognisable timestamp.
    #[error("missing timestamp at offset {offset}")]
    MissingTimestamp {
        /// Where the timestamp was expected.
        offset: usize,
    },
    /// A timestamp that started out well but is invalid.
    #[error("bad timestamp at offset {offset}: {reason}")]
    BadTimestamp {
        /// Where the timestamp starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bad RFC 5424 header field.
    #[error("bad {field} at offset {offset}: {reason}")]
    BadField {
        /// Where the field starts.
        offset: usize,
        /// Which field (`hostname`, `app_name`, `procid`, `msgid`, `timestamp`, ...).
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Malformed RFC 5424 STRUCTURED-DATA.
    #[error("bad structured data at offset {offset}: {reason}")]
    BadStructuredData {
        /// Where the problem is.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl<'a> SyslogMessage<'a> {
    /// A message that is all `msg`: what is left when nothing else could be parsed.
    fn raw(msg: &'a [u8]) -> Self {
        SyslogMessage {
            format: Format::Rfc3164,
            pri: None,
            version: None,
            timestamp: None,
            timestamp_offset: None,
            hostname: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: Vec::new(),
            msg,
        }
    }

    /// The facility code (0..=23), from PRI.
    pub fn facility(&self) -> Option<u8> {
        self.pri.map(|p| p >> 3)
    }

    /// The severity code (0..=7), from PRI.
    pub fn severity(&self) -> Option<u8> {
        self.pri.map(|p| p & 7)
    }

    /// The message text, invalid UTF-8 replaced by U+FFFD (borrows when valid).
    pub fn msg_lossy(&self) -> Cow<'a, str> {
        // `from_utf8` checks ASCII a word at a time; the lossy decoder goes byte by byte
        match std::str::from_utf8(self.msg) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(self.msg),
        }
    }
}

/// The conventional name of a facility code (`kern`, `user`, ..., `local7`).
pub fn facility_name(facility: u8) -> Option<&'static str> {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES.get(usize::from(facility)).copied()
}

/// The conventional name of a severity code (`emerg`, `alert`, ..., `debug`).
pub fn severity_name(severity: u8) -> Option<&'static str> {
    const NAMES: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    NAMES.get(usize::from(severity)).copied()
}

/// Parses one frame strictly: any deviation the lenient parser would report is an error.
pub fn parse<'a>(input: &'a [u8], opts: &SyslogOptions) -> Result<SyslogMessage<'a>, SyslogError> {
    match parse_lenient(input, opts) {
        (msg, None) => Ok(msg),
        (_, Some(err)) => Err(err),
    }
}

/// Parses one frame, recovering what it can. Never fails and never panics: the message holds
/// every field that could be read and leaves the rest of the bytes in `msg`; the error (the
/// first problem found) says what was wrong.
pub fn parse_lenient<'a>(
    input: &'a [u8],
    opts: &SyslogOptions,
) -> (SyslogMessage<'a>, Option<SyslogError>) {
    let b = trim_end(input);
    let mut m = SyslogMessage::raw(b);
    if b.is_empty() {
        return (m, Some(SyslogError::Empty));
    }
    let mut err = None;
    let pos = match parse_pri(b) {
        Ok(Some((pri, len))) => {
            m.pri = Some(pri);
            len
        }
        Ok(None) => {
            err = Some(SyslogError::MissingPri { offset: 0 });
            0
        }
        Err(e) => return (m, Some(e)),
    };
    if b.get(pos..pos + 2) == Some(b"1 ") {
        m.format = Format::Rfc5424;
        m.version = Some(1);
        parse_5424(b, pos + 2, opts, &mut m, &mut err);
    } else {
        parse_3164(b, pos, opts, &mut m, &mut err);
    }
    (m, err)
}

fn set_err(slot: &mut Option<SyslogError>, e: SyslogError) {
    if slot.is_none() {
        *slot = Some(e);
    }
}

fn trim_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n' | b'\0'] = b {
        b = rest;
    }
    b
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

/// The tail of `b` from `at`, empty when `at` is past the end.
fn tail(b: &[u8], at: usize) -> &[u8] {
    b.get(at..).unwrap_or_default()
}

fn parse_pri(b: &[u8]) -> Result<Option<(u8, usize)>, SyslogError> {
    if b.first() != Some(&b'<') {
        return Ok(None);
    }
    let mut v: u32 = 0;
    let mut i = 1;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        if i > 3 {
            return Err(SyslogError::InvalidPri {
                offset: i,
                reason: "more than 3 digits",
            });
        }
        v = v * 10 + u32::from(c - b'0');
        i += 1;
    }
    if i == 1 {
        return Err(SyslogError::InvalidPri {
            offset: 1,
            reason: "expected a digit",
        });
    }
    if b.get(i) != Some(&b'>') {
        return Err(SyslogError::InvalidPri {
            offset: i,
            reason: "expected '>'",
        });
    }
    match u8::try_from(v) {
        Ok(pri) if pri <= 191 => Ok(Some((pri, i + 1))),
        _ => Err(SyslogError::InvalidPri {
            offset: 1,
            reason: "out of range 0..=191",
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 5424

fn parse_5424<'a>(
    b: &'a [u8],
    mut pos: usize,
    opts: &SyslogOptions,
    m: &mut SyslogMessage<'a>,
    err: &mut Option<SyslogError>,
) {
    // Header fields: on failure, record the error and leave the rest in `msg`.
    macro_rules! bail {
        ($e:expr, $at:expr) => {{
            set_err(err, $e);
            m.msg = tail(b, $at);
            return;
        }};
    }
    let Some(rest) = b.get(pos..).filter(|r| !r.is_empty()) else {
        bail!(
            SyslogError::BadField {
                offset: pos,
                field: "timestamp",
                reason: "missing"
            },
            pos
        )
    };
    let end = memchr(b' ', rest).map_or(b.len(), |i| pos + i);
    let tok = &b[pos..end];
    if tok != b"-" {
        match parse_rfc3339(tok, opts) {
            Ok((ts, off)) => {
                m.timestamp = Some(ts);
                m.timestamp_offset = off;
            }
            Err(reason) => bail!(
                SyslogError::BadTimestamp {
                    offset: pos,
                    reason
                },
                pos
            ),
        }
    }
    pos = end + 1;

    const FIELDS: [(&str, usize); 4] = [
        ("hostname", 255),
        ("app_name", 48),
        ("procid", 128),
        ("msgid", 32),
    ];
    for (field, max_len) in FIELDS {
        let rest = tail(b, pos);
        if rest.is_empty() {
            bail!(
                SyslogError::BadField {
                    offset: pos,
                    field,
                    reason: "missing"
                },
                pos
            )
        }
        let end = memchr(b' ', rest).map_or(b.len(), |i| pos + i);
        let tok = &b[pos..end];
        if tok.is_empty() {
            bail!(
                SyslogError::BadField {
                    offset: pos,
                    field,
                    reason: "empty (use '-')"
                },
                pos
            )
        }
        if !tok.iter().all(|c| (33..=126).contains(c)) {
            bail!(
                SyslogError::BadField {
                    offset: pos,
                    field,
                    reason: "not printable ASCII"
                },
                pos
            )
        }
        if tok.len() > max_len {
            set_err(
                err,
                SyslogError::BadField {
                    offset: pos,
                    field,
                    reason: "too long",
                },
            );
        }
        let value = if tok == b"-" {
            None
        } else {
            std::str::from_utf8(tok).ok()
        };
        match field {
            "hostname" => m.hostname = value,
            "app_name" => m.app_name = value,
            "procid" => m.procid = value,
            _ => m.msgid = value,
        }
        pos = end + 1;
    }

    match b.get(pos) {
        None => {
            set_err(
                err,
                SyslogError::BadStructuredData {
                    offset: pos,
                    reason: "missing",
                },
            );
            m.msg = &[];
            return;
        }
        Some(b'-') => pos += 1,
        Some(b'[') => loop {
            match parse_sd_element(b, pos, err) {
                Ok((el, next)) => {
                    m.structured_data.push(el);
                    pos = next;
                }
                Err((offset, reason)) => {
                    // The broken element and everything after it stay in `msg`.
                    bail!(SyslogError::BadStructuredData { offset, reason }, pos)
                }
            }
            if b.get(pos) != Some(&b'[') {
                break;
            }
        },
        Some(_) => bail!(
            SyslogError::BadStructuredData {
                offset: pos,
                reason: "expected '[' or '-'"
            },
            pos
        ),
    }
    m.msg = match b.get(pos) {
        None => &[],
        Some(b' ') => strip_bom(tail(b, pos + 1)),
        Some(_) => {
            set_err(
                err,
                SyslogError::BadStructuredData {
                    offset: pos,
                    reason: "expected a space after structured data",
                },
            );
            strip_bom(tail(b, pos))
        }
    };
}

/// End of an SD-NAME starting at `pos`: PRINTUSASCII except `=`, SP, `]`, `"`.
fn sd_name_end(b: &[u8], mut pos: usize) -> usize {
    while let Some(&c) = b.get(pos) {
        if !(33..=126).contains(&c) || matches!(c, b'=' | b']' | b'"') {
            break;
        }
        pos += 1;
    }
    pos
}

/// ASCII-only slice as `&str` (never fails for what `sd_name_end` accepts).
fn ascii_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

type SdResult<'a> = Result<(SdElement<'a>, usize), (usize, &'static str)>;

/// Parses `[id k="v" ...]` at `start` (which holds `[`); returns the element and the offset
/// after `]`. Tolerates extra spaces between params and around `=` (seen in the wild, e.g. the
/// RFC's own example as quoted by rsyslog's tests).
fn parse_sd_element<'a>(b: &'a [u8], start: usize, err: &mut Option<SyslogError>) -> SdResult<'a> {
    let mut pos = start + 1;
    let id_end = sd_name_end(b, pos);
    if id_end == pos {
        return Err((pos, "empty SD-ID"));
    }
    let id = ascii_str(&b[pos..id_end]);
    pos = id_end;
    let mut params = Vec::new();
    loop {
        match b.get(pos) {
            Some(b']') => return Ok((SdElement { id, params }, pos + 1)),
            Some(b' ') => {
                while b.get(pos) == Some(&b' ') {
                    pos += 1;
                }
                if b.get(pos) == Some(&b']') {
                    continue;
                }
                let name_end = sd_name_end(b, pos);
                if name_end == pos {
                    return Err((pos, "empty PARAM-NAME"));
                }
                let name = ascii_str(&b[pos..name_end]);
                pos = name_end;
                while b.get(pos) == Some(&b' ') {
                    pos += 1;
                }
                if b.get(pos) != Some(&b'=') {
                    return Err((pos, "expected '='"));
                }
                pos += 1;
                while b.get(pos) == Some(&b' ') {
                    pos += 1;
                }
                if b.get(pos) != Some(&b'"') {
                    return Err((pos, "expected '\"'"));
                }
                pos += 1;
                let (value, next) = parse_param_value(b, pos, err)?;
                params.push(SdParam { name, value });
                pos = next;
            }
            None => return Err((pos, "unterminated SD-ELEMENT")),
            Some(_) => return Err((pos, "expected ' ' or ']'")),
        }
    }
}

/// Parses a PARAM-VALUE starting after its opening quote; returns it and the offset after the
/// closing quote.
fn parse_param_value<'a>(
    b: &'a [u8],
    start: usize,
    err: &mut Option<SyslogError>,
) -> Result<(Cow<'a, str>, usize), (usize, &'static str)> {
    let mut pos = start;
    let mut escaped = false;
    let end = loop {
        match memchr2(b'"', b'\\', tail(b, pos)) {
            None => return Err((start, "unterminated PARAM-VALUE")),
            Some(i) => {
                let at = pos + i;
                if b.get(at) == Some(&b'"') {
                    break at;
                }
                escaped = true;
                pos = at + 2;
            }
        }
    };
    let raw = &b[start..end];
    let value = if escaped {
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while let Some(&c) = raw.get(i) {
            match (c, raw.get(i + 1)) {
                (b'\\', Some(&n @ (b'"' | b'\\' | b']'))) => {
                    out.push(n);
                    i += 2;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        match String::from_utf8(out) {
            Ok(s) => Cow::Owned(s),
            Err(e) => {
                set_err(err, invalid_utf8(start));
                Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    } else {
        match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                set_err(err, invalid_utf8(start));
                String::from_utf8_lossy(raw)
            }
        }
    };
    Ok((value, end + 1))
}

fn invalid_utf8(offset: usize) -> SyslogError {
    SyslogError::BadStructuredData {
        offset,
        reason: "PARAM-VALUE is not UTF-8",
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 3164

fn parse_3164<'a>(
    b: &'a [u8],
    mut pos: usize,
    opts: &SyslogOptions,
    m: &mut SyslogMessage<'a>,
    err: &mut Option<SyslogError>,
) {
    while b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let has_ts = match parse_3164_timestamp(b, pos, opts) {
        Ts::Found { utc, offset, end } => {
            m.timestamp = Some(utc);
            m.timestamp_offset = offset;
            pos = end;
            true
        }
        Ts::NotFound => {
            set_err(err, SyslogError::MissingTimestamp { offset: pos });
            false
        }
        Ts::Bad { offset, reason } => {
            set_err(err, SyslogError::BadTimestamp { offset, reason });
            m.msg = tail(b, pos);
            return;
        }
    };

    if has_ts {
        // The timestamp parser stops at SP or the end.
        pos += 1;
        let start = pos;
        let mut i = pos;
        while let Some(&c) = b.get(i) {
            if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':') {
                i += 1;
            } else {
                break;
            }
        }
        let ends_alnum = i > start && b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric);
        match b.get(i) {
            None if ends_alnum => {
                m.hostname = Some(ascii_str(&b[start..i]));
                pos = i;
            }
            Some(b' ') if ends_alnum => {
                m.hostname = Some(ascii_str(&b[start..i]));
                pos = i + 1;
            }
            _ => {}
        }
    }

    // TAG: up to a blank (exclusive) or `:` (inclusive).
    let rest = tail(b, pos);
    let (tag_len, skip) = match memchr3(b' ', b'\t', b':', rest) {
        Some(i) if rest.get(i) == Some(&b':') => {
            (i, if rest.get(i + 1) == Some(&b' ') { 2 } else { 1 })
        }
        Some(i) => (i, 1),
        None => (rest.len(), 0),
    };
    match std::str::from_utf8(&rest[..tag_len]) {
        Ok(tag) => {
            let (app, procid) = split_tag(tag);
            m.app_name = app;
            m.procid = procid;
            m.msg = strip_bom(tail(rest, tag_len + skip));
        }
        // A TAG that is not text is no TAG: keep it in the message.
        Err(_) => m.msg = strip_bom(rest),
    }
}

/// `app[pid]` → (`app`, `pid`); anything else is all app name.
fn split_tag(tag: &str) -> (Option<&str>, Option<&str>) {
    fn non_empty(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    if let (Some(lb), Some(inner)) = (tag.find('['), tag.strip_suffix(']')) {
        let app = inner.get(..lb);
        let pid = inner.get(lb + 1..);
        if let (Some(app), Some(pid)) = (app, pid) {
            return (non_empty(app), non_empty(pid));
        }
    }
    (non_empty(tag), None)
}

enum Ts {
    Found {
        utc: DateTime<Utc>,
        offset: Option<FixedOffset>,
        end: usize,
    },
    NotFound,
    Bad {
        offset: usize,
        reason: &'static str,
    },
}

fn month_from(b: &[u8]) -> Option<u32> {
    let [a, b, c] = *b else { return None };
    let key = [
        a.to_ascii_lowercase(),
        b.to_ascii_lowercase(),
        c.to_ascii_lowercase(),
    ];
    let m = match &key {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    Some(m)
}

/// Reads `n` ASCII digits at `pos`.
fn digits(b: &[u8], pos: usize, n: usize) -> Option<u32> {
    let d = b.get(pos..pos + n)?;
    let mut v = 0u32;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Recognises, at `pos`: an RFC 3339 timestamp (`2010-08-30T23:00:05Z`, as rsyslog accepts in
/// BSD lines) or a BSD one: `Mmm dd hh:mm:ss`, the day space-padded or not, an optional
/// `yyyy` after the day or after the time, optional fractional seconds and an optional `:`
/// after the time. `end` is the offset of the SP after it (or the end of input).
fn parse_3164_timestamp(b: &[u8], pos: usize, opts: &SyslogOptions) -> Ts {
    let rest = tail(b, pos);
    if digits(rest, 0, 4).is_some() && rest.get(4) == Some(&b'-') {
        let end = memchr(b' ', rest).map_or(b.len(), |i| pos + i);
        return match parse_rfc3339(&b[pos..end], opts) {
            Ok((utc, offset)) => Ts::Found { utc, offset, end },
            Err(reason) => Ts::Bad {
                offset: pos,
                reason,
            },
        };
    }
    let Some(month) = rest.get(..3).and_then(month_from) else {
        return Ts::NotFound;
    };
    if rest.get(3) != Some(&b' ') {
        return Ts::NotFound;
    }
    let bad = |reason| Ts::Bad {
        offset: pos,
        reason,
    };
    let mut i = pos + 4;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let (day, n) = match (digits(b, i, 2), digits(b, i, 1)) {
        (Some(d), _) => (d, 2),
        (None, Some(d)) => (d, 1),
        _ => return bad("expected day of month"),
    };
    i += n;
    if b.get(i) != Some(&b' ') {
        return bad("expected ' ' after day");
    }
    i += 1;
    let mut year = None;
    if let Some(y) = digits(b, i, 4).filter(|_| b.get(i + 4) == Some(&b' ')) {
        year = Some(y);
        i += 5;
    }
    let (Some(hour), Some(b':'), Some(min), Some(b':'), Some(sec)) = (
        digits(b, i, 2),
        b.get(i + 2),
        digits(b, i + 3, 2),
        b.get(i + 5),
        digits(b, i + 6, 2),
    ) else {
        return bad("expected hh:mm:ss");
    };
    i += 8;
    let mut nanos = 0;
    if b.get(i) == Some(&b'.') {
        match parse_frac(b, i + 1) {
            Some((ns, n)) => {
                nanos = ns;
                i += 1 + n;
            }
            None => return bad("bad fractional seconds"),
        }
    }
    if b.get(i) == Some(&b':') {
        i += 1;
    }
    match b.get(i) {
        None | Some(b' ') => {}
        Some(_) => return bad("unexpected character after time"),
    }
    if year.is_none()
        && let Some(y) = digits(b, i + 1, 4)
        && matches!(b.get(i + 5), None | Some(b' '))
    {
        year = Some(y);
        i += 5;
    }
    if day == 0 || day > 31 || hour > 23 || min > 59 || sec > 60 {
        return bad("field out of range");
    }
    let t = LocalTime {
        month,
        day,
        hour,
        min,
        sec,
        nanos,
    };
    let utc = match year {
        Some(y) => i32::try_from(y)
            .ok()
            .filter(|&y| day <= days_in_month(y, month))
            .and_then(|y| local_to_utc(y, t, opts.default_timezone)),
        None => resolve_year(t, opts),
    };
    match utc {
        Some(utc) => Ts::Found {
            utc,
            offset: None,
            end: i,
        },
        None => bad("invalid date"),
    }
}

/// Fractional seconds digits at `pos` (1 to 9 of them) as nanoseconds, and the digit count.
fn parse_frac(b: &[u8], pos: usize) -> Option<(u32, usize)> {
    let mut n = 0;
    let mut v = 0u32;
    while let Some(&c) = b.get(pos + n) {
        if !c.is_ascii_digit() {
            break;
        }
        if n == 9 {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
        n += 1;
    }
    if n == 0 {
        return None;
    }
    Some((v * 10u32.pow((9 - n) as u32), n))
}

#[derive(Clone, Copy)]
struct LocalTime {
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of a wall-clock time read as UTC, with a leap second folded into
/// the nanoseconds as chrono wants it.
fn utc_instant(y: i32, t: LocalTime, offset_secs: i64) -> Option<DateTime<Utc>> {
    let (sec, nanos) = if t.sec == 60 {
        (59, t.nanos + 1_000_000_000)
    } else {
        (t.sec, t.nanos)
    };
    let secs = days_from_civil(y, t.month, t.day) * 86_400
        + i64::from(t.hour) * 3600
        + i64::from(t.min) * 60
        + i64::from(sec)
        - offset_secs;
    DateTime::from_timestamp(secs, nanos)
}

/// A wall-clock time in `tz` as a UTC instant (ambiguous: the earlier; in a DST gap: shifted
/// by the offset in force just after it).
fn local_to_utc(y: i32, t: LocalTime, tz: Tz) -> Option<DateTime<Utc>> {
    if tz == chrono_tz::UTC {
        return utc_instant(y, t, 0);
    }
    let naive =
        NaiveDate::from_ymd_opt(y, t.month, t.day)?.and_hms_opt(t.hour, t.min, t.sec.min(59))?;
    let offset = match tz.from_local_datetime(&naive).earliest() {
        Some(dt) => dt.offset().fix(),
        None => tz.offset_from_utc_datetime(&naive).fix(),
    };
    utc_instant(y, t, i64::from(offset.local_minus_utc()))
}

/// The latest year that puts the time at most 31 days after `opts.now`.
fn resolve_year(t: LocalTime, opts: &SyslogOptions) -> Option<DateTime<Utc>> {
    let now = opts.now;
    let limit = now.checked_add_signed(TimeDelta::days(31)).unwrap_or(now);
    let y0 = now.year();
    let first = if now.month() == 12 && t.month <= 2 {
        y0 + 1
    } else {
        y0
    };
    // Eight years back always contains a 29 February.
    (y0 - 8..=first)
        .rev()
        .filter(|&y| t.day <= days_in_month(y, t.month))
        .filter_map(|y| local_to_utc(y, t, opts.default_timezone))
        .find(|utc| *utc <= limit)
}

/// `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)?`, the whole of `t`. Fractions of up to 9 digits are
/// accepted (RFC 5424 allows 6; .NET and others send 7). Without an offset, the default time
/// zone applies and the returned offset is `None`.
fn parse_rfc3339(
    t: &[u8],
    opts: &SyslogOptions,
) -> Result<(DateTime<Utc>, Option<FixedOffset>), &'static str> {
    let (Some(year), Some(b'-'), Some(month), Some(b'-'), Some(day)) = (
        digits(t, 0, 4),
        t.get(4),
        digits(t, 5, 2),
        t.get(7),
        digits(t, 8, 2),
    ) else {
        return Err("expected YYYY-MM-DD");
    };
    if !matches!(t.get(10), Some(b'T' | b't')) {
        return Err("expected 'T'");
    }
    let (Some(hour), Some(b':'), Some(min), Some(b':'), Some(sec)) = (
        digits(t, 11, 2),
        t.get(13),
        digits(t, 14, 2),
        t.get(16),
        digits(t, 17, 2),
    ) else {
        return Err("expected hh:mm:ss");
    };
    let mut i = 19;
    let mut nanos = 0;
    if t.get(i) == Some(&b'.') {
        let (ns, n) = parse_frac(t, i + 1).ok_or("bad fractional seconds")?;
        nanos = ns;
        i += 1 + n;
    }
    let year = i32::try_from(year).map_err(|_| "bad year")?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("invalid date");
    }
    if hour > 23 || min > 59 || sec > 60 {
        return Err("invalid time");
    }
    let lt = LocalTime {
        month,
        day,
        hour,
        min,
        sec,
        nanos,
    };
    let offset = match t.get(i) {
        None => None,
        Some(b'Z' | b'z') => {
            i += 1;
            Some(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let (Some(oh), Some(b':'), Some(om)) =
                (digits(t, i + 1, 2), t.get(i + 3), digits(t, i + 4, 2))
            else {
                return Err("expected ±hh:mm offset");
            };
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            i += 6;
            let secs = i32::try_from(oh * 3600 + om * 60).unwrap_or(0);
            Some(if sign == b'-' { -secs } else { secs })
        }
        Some(_) => return Err("unexpected character in timestamp"),
    };
    if i != t.len() {
        return Err("trailing characters after timestamp");
    }
    match offset {
        Some(secs) => {
            let utc = utc_instant(year, lt, i64::from(secs)).ok_or("out of range")?;
            Ok((utc, FixedOffset::east_opt(secs)))
        }
        None => {
            let utc = local_to_utc(year, lt, opts.default_timezone).ok_or("out of range")?;
            Ok((utc, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn opts() -> SyslogOptions {
        SyslogOptions {
            default_timezone: chrono_tz::UTC,
            now: Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap(),
        }
    }

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn rfc5424_full() {
        let line = br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#;
        let m = parse(line, &opts()).unwrap();
        assert_eq!(m.format, Format::Rfc5424);
        assert_eq!(m.pri, Some(165));
        assert_eq!(m.facility(), Some(20));
        assert_eq!(m.severity(), Some(5));
        assert_eq!(m.version, Some(1));
        assert_eq!(
            m.timestamp,
            Some(ts(2003, 10, 11, 22, 14, 15) + TimeDelta::milliseconds(3))
        );
        assert_eq!(m.timestamp_offset, FixedOffset::east_opt(0));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid, Some("ID47"));
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(m.structured_data[0].id, "exampleSDID@32473");
        assert_eq!(m.structured_data[0].params[1].name, "eventSource");
        assert_eq!(m.structured_data[0].params[1].value, "Application");
        assert_eq!(m.structured_data[1].params[0].value, "high");
        assert_eq!(m.msg, b"An application event");
    }

    #[test]
    fn rfc5424_offset_micros_and_bom() {
        let line = b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - \xEF\xBB\xBFhello\r\n";
        let m = parse(line, &opts()).unwrap();
        assert_eq!(
            m.timestamp,
            Some(ts(2003, 8, 24, 12, 14, 15) + TimeDelta::microseconds(3))
        );
        assert_eq!(m.timestamp_offset, FixedOffset::west_opt(7 * 3600));
        assert_eq!(m.procid, Some("8710"));
        assert_eq!(m.msg, b"hello");
    }

    #[test]
    fn rfc5424_nil_everything() {
        let m = parse(b"<34>1 - - - - - -", &opts()).unwrap();
        assert_eq!(m.timestamp, None);
        assert_eq!(m.hostname, None);
        assert_eq!(m.msg, b"");
        assert!(m.structured_data.is_empty());
    }

    #[test]
    fn rfc5424_sd_escapes_borrow_and_own() {
        let line = br#"<13>1 - h a p m [id@1 a="plain" b="q\"uo\\te\]x" c="back\slash"] m"#;
        let m = parse(line, &opts()).unwrap();
        let p = &m.structured_data[0].params;
        assert!(matches!(p[0].value, Cow::Borrowed("plain")));
        assert_eq!(p[1].value, r#"q"uo\te]x"#);
        assert_eq!(p[2].value, r"back\slash");
        assert_eq!(m.msg, b"m");
    }

    #[test]
    fn rfc5424_broken_sd_keeps_bytes_in_msg() {
        let line = br#"<13>1 - h a p m [ok x="1"][broken x="2 msg"#;
        let (m, err) = parse_lenient(line, &opts());
        assert_eq!(m.structured_data.len(), 1);
        assert_eq!(m.msg, br#"[broken x="2 msg"#);
        assert!(
            matches!(err, Some(SyslogError::BadStructuredData { offset: 37, .. })),
            "{err:?}"
        );
        assert!(parse(line, &opts()).is_err());
    }

    #[test]
    fn rfc5424_bad_timestamp_reports_offset() {
        let (m, err) = parse_lenient(b"<13>1 2003-13-01T00:00:00Z h a p m - x", &opts());
        assert_eq!(
            err,
            Some(SyslogError::BadTimestamp {
                offset: 6,
                reason: "invalid date"
            })
        );
        assert_eq!(m.msg, b"2003-13-01T00:00:00Z h a p m - x");
        assert_eq!(m.pri, Some(13));
    }

    #[test]
    fn rfc5424_truncated_header() {
        let (m, err) = parse_lenient(b"<13>1 2003-10-11T22:14:15Z host", &opts());
        assert_eq!(m.hostname, Some("host"));
        assert!(matches!(
            err,
            Some(SyslogError::BadField {
                field: "app_name",
                ..
            })
        ));
    }

    #[test]
    fn rfc5424_without_offset_uses_default_timezone() {
        let o = SyslogOptions {
            default_timezone: chrono_tz::Europe::Berlin,
            ..opts()
        };
        let m = parse(b"<13>1 2024-01-10T10:00:00 h a p m - x", &o).unwrap();
        assert_eq!(m.timestamp, Some(ts(2024, 1, 10, 9, 0, 0)));
        assert_eq!(m.timestamp_offset, None);
    }

    #[test]
    fn rfc3164_classic() {
        let m = parse(
            b"<38>Mar 27 19:06:53 source_server sshd(pam_unix)[12750]: session opened",
            &opts(),
        )
        .unwrap();
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.timestamp, Some(ts(2024, 3, 27, 19, 6, 53)));
        assert_eq!(m.hostname, Some("source_server"));
        assert_eq!(m.app_name, Some("sshd(pam_unix)"));
        assert_eq!(m.procid, Some("12750"));
        assert_eq!(m.msg, b"session opened");
    }

    #[test]
    fn rfc3164_timestamp_variants() {
        let o = opts();
        let cases: &[(&[u8], DateTime<Utc>)] = &[
            (b"<13>Mar  7 19:06:53 h t: m", ts(2024, 3, 7, 19, 6, 53)),
            (b"<13>Mar 7 19:06:53 h t: m", ts(2024, 3, 7, 19, 6, 53)),
            (b"<13>MAR 07 19:06:53 h t: m", ts(2024, 3, 7, 19, 6, 53)),
            (
                b"<13>Mar 7 2008 19:06:53: h t: m",
                ts(2008, 3, 7, 19, 6, 53),
            ),
            (b"<13>Mar 7 19:06:53 2008 h t: m", ts(2008, 3, 7, 19, 6, 53)),
            (b"<13> Mar  7 19:06:53 h t: m", ts(2024, 3, 7, 19, 6, 53)),
            (
                b"<13>Mar  7 19:06:53.123456 h t: m",
                ts(2024, 3, 7, 19, 6, 53) + TimeDelta::microseconds(123_456),
            ),
            (
                b"<13>2010-08-30T23:00:05+02:00 h t: m",
                ts(2010, 8, 30, 21, 0, 5),
            ),
        ];
        for (line, want) in cases {
            let m = parse(line, &o).unwrap_or_else(|e| panic!("{e} for {line:?}"));
            assert_eq!(
                m.timestamp,
                Some(*want),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(m.hostname, Some("h"));
            assert_eq!(m.app_name, Some("t"));
            assert_eq!(m.msg, b"m");
        }
    }

    #[test]
    fn rfc3164_year_resolution() {
        let jan1 = SyslogOptions {
            now: ts(2025, 1, 1, 0, 5, 0),
            ..opts()
        };
        let m = parse(b"<13>Dec 31 23:59:00 h t: m", &jan1).unwrap();
        assert_eq!(m.timestamp, Some(ts(2024, 12, 31, 23, 59, 0)));
        let dec31 = SyslogOptions {
            now: ts(2024, 12, 31, 23, 59, 0),
            ..opts()
        };
        let m = parse(b"<13>Jan  1 00:01:00 h t: m", &dec31).unwrap();
        assert_eq!(m.timestamp, Some(ts(2025, 1, 1, 0, 1, 0)));
        // Two weeks ahead is still this year; two months ahead is last year.
        let m = parse(b"<13>Jun 29 00:00:00 h t: m", &opts()).unwrap();
        assert_eq!(m.timestamp, Some(ts(2024, 6, 29, 0, 0, 0)));
        let m = parse(b"<13>Aug 29 00:00:00 h t: m", &opts()).unwrap();
        assert_eq!(m.timestamp, Some(ts(2023, 8, 29, 0, 0, 0)));
        // 29 February goes back to the last leap year.
        let o = SyslogOptions {
            now: ts(2027, 3, 10, 0, 0, 0),
            ..opts()
        };
        let m = parse(b"<13>Feb 29 10:00:00 h t: m", &o).unwrap();
        assert_eq!(m.timestamp, Some(ts(2024, 2, 29, 10, 0, 0)));
    }

    #[test]
    fn rfc3164_local_timezone() {
        let o = SyslogOptions {
            default_timezone: chrono_tz::America::New_York,
            ..opts()
        };
        let m = parse(b"<13>Jun  1 12:00:00 h t: m", &o).unwrap();
        assert_eq!(m.timestamp, Some(ts(2024, 6, 1, 16, 0, 0)));
        // Inside the spring-forward gap: still a timestamp, never a panic.
        let m = parse(b"<13>Mar 10 02:30:00 h t: m", &o).unwrap();
        assert!(m.timestamp.is_some());
    }

    #[test]
    fn rfc3164_hostname_heuristics() {
        let o = opts();
        let m = parse(b"<13>Mar  7 19:06:53 sshd[12]: no host", &o).unwrap();
        assert_eq!(
            (m.hostname, m.app_name, m.procid),
            (None, Some("sshd"), Some("12"))
        );
        let m = parse(b"<13>Mar  7 19:06:53 kernel: no host", &o).unwrap();
        assert_eq!((m.hostname, m.app_name), (None, Some("kernel")));
        let m = parse(b"<13>Mar  7 19:06:53 fe80::1 app: v6", &o).unwrap();
        assert_eq!(m.hostname, Some("fe80::1"));
        let m = parse(b"<13>Mar  7 19:06:53 host", &o).unwrap();
        assert_eq!(
            (m.hostname, m.app_name, m.msg),
            (Some("host"), None, &b""[..])
        );
    }

    #[test]
    fn rfc3164_lenient_degradations() {
        let o = opts();
        let (m, err) = parse_lenient(b"just some text", &o);
        assert_eq!(err, Some(SyslogError::MissingPri { offset: 0 }));
        assert_eq!((m.app_name, m.msg), (Some("just"), &b"some text"[..]));
        let (m, err) = parse_lenient(b"<13>just some text", &o);
        assert_eq!(err, Some(SyslogError::MissingTimestamp { offset: 4 }));
        assert_eq!(m.pri, Some(13));
        let (m, err) = parse_lenient(b"<13>Feb 30 10:00:00 h t: m", &o);
        assert!(matches!(
            err,
            Some(SyslogError::BadTimestamp { offset: 4, .. })
        ));
        assert_eq!(m.msg, b"Feb 30 10:00:00 h t: m");
        let (m, err) = parse_lenient(b"<999>Mar  7 19:06:53 h t: m", &o);
        assert!(matches!(err, Some(SyslogError::InvalidPri { .. })));
        assert_eq!(m.msg, b"<999>Mar  7 19:06:53 h t: m");
        let (m, err) = parse_lenient(b"\r\n\0", &o);
        assert_eq!((m.msg, err), (&b""[..], Some(SyslogError::Empty)));
    }

    #[test]
    fn invalid_utf8_tag_stays_in_msg() {
        let (m, _) = parse_lenient(b"<13>Mar  7 19:06:53 h \xff\xfe: m", &opts());
        assert_eq!(m.app_name, None);
        assert_eq!(m.msg, b"\xff\xfe: m");
        assert_eq!(m.msg_lossy(), "\u{fffd}\u{fffd}: m");
    }

    #[test]
    fn names() {
        assert_eq!(facility_name(20), Some("local4"));
        assert_eq!(severity_name(7), Some("debug"));
        assert_eq!(facility_name(24), None);
    }

    #[test]
    fn days_from_civil_matches_chrono() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (1969, 12, 31),
            (2400, 3, 1),
            (1, 1, 1),
        ] {
            let want = NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
            assert_eq!(days_from_civil(y, m, d), want.num_days());
        }
    }
}
