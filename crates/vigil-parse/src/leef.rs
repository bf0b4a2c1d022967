//! IBM QRadar Log Event Extended Format.
//!
//! * LEEF 1.0: `LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value...`
//! * LEEF 2.0: `LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value...`, the
//!   delimiter written as one character (`^`) or as its code in hex (`x5E`, `0x5E`); empty
//!   means tab. A 2.0 record whose sixth field is clearly not a delimiter (it holds a `=`) is
//!   read as having none.
//!
//! Header fields come out as `LEEFVersion`, `DeviceVendor`, `DeviceProduct`, `DeviceVersion`,
//! `DeviceEventClassID` ([`names`]); the attributes follow under their own keys. Header fields
//! take the same `\|` and `\\` escapes as CEF. Each attribute is split at its first `=`, so
//! values may hold `=`; values are kept as written.

use memchr::memchr;

use crate::cef::{find_prefix, header_field};
use crate::fields::{DuplicateKeys, Fields, Position, with_text, with_text_lenient};

/// Field names of the LEEF header.
pub mod names {
    /// `LEEF:2.0` → `2.0`.
    pub const VERSION: &str = "LEEFVersion";
    /// Vendor.
    pub const DEVICE_VENDOR: &str = "DeviceVendor";
    /// Product.
    pub const DEVICE_PRODUCT: &str = "DeviceProduct";
    /// Product version.
    pub const DEVICE_VERSION: &str = "DeviceVersion";
    /// Event ID.
    pub const DEVICE_EVENT_CLASS_ID: &str = "DeviceEventClassID";
}

/// LEEF parser settings.
#[derive(Debug, Clone, Default)]
pub struct LeefOptions {
    /// Use this attribute delimiter whatever the record says (for senders that write LEEF 1.0
    /// with something other than tabs).
    pub delimiter: Option<char>,
    /// What to do with a repeated attribute key.
    pub duplicate_keys: DuplicateKeys,
}

/// What was wrong with a LEEF record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeefError {
    /// No `LEEF:<digit>` in the input.
    #[error("no 'LEEF:' prefix")]
    NoPrefix,
    /// The header ended early.
    #[error("header field {field} missing at {at}: expected '|'")]
    MissingHeaderField {
        /// Which field.
        field: &'static str,
        /// The end of the input.
        at: Position,
    },
    /// The LEEF 2.0 delimiter field is not a character or a hex code.
    #[error("bad delimiter {text:?} at {at}")]
    BadDelimiter {
        /// The field as written.
        text: String,
        /// Where it starts.
        at: Position,
    },
    /// An attribute without `=`.
    #[error("attribute without '=' at {at}")]
    AttributeWithoutValue {
        /// Where the attribute starts.
        at: Position,
    },
}

/// Where `LEEF:` starts (at the start, or after a syslog header).
pub fn find_leef(input: &[u8]) -> Option<usize> {
    find_prefix(input, b"LEEF:")
}

/// Parses one LEEF record strictly.
pub fn parse<'a>(input: &'a [u8], opts: &LeefOptions) -> Result<Fields<'a>, LeefError> {
    with_text(input, |s| match parse_str_lenient(s, opts) {
        (f, None) => Ok(f),
        (_, Some(e)) => Err(e),
    })
}

/// Parses one LEEF record, keeping what it can and reporting the first problem.
pub fn parse_lenient<'a>(input: &'a [u8], opts: &LeefOptions) -> (Fields<'a>, Option<LeefError>) {
    with_text_lenient(input, |s| parse_str_lenient(s, opts))
}

/// [`parse_lenient`] on text.
pub fn parse_str_lenient<'a>(
    input: &'a str,
    opts: &LeefOptions,
) -> (Fields<'a>, Option<LeefError>) {
    let mut fields = Fields::with_capacity(24);
    let Some(start) = find_leef(input.as_bytes()) else {
        return (fields, Some(LeefError::NoPrefix));
    };
    let mut pos = start + 5;
    let header = [
        names::VERSION,
        names::DEVICE_VENDOR,
        names::DEVICE_PRODUCT,
        names::DEVICE_VERSION,
    ];
    let missing = |field| LeefError::MissingHeaderField {
        field,
        at: Position::at(input.as_bytes(), input.len()),
    };
    for field in header {
        let Some((value, next)) = header_field(input, pos) else {
            return (fields, Some(missing(field)));
        };
        fields.push(field, value);
        pos = next;
    }
    // The event ID ends at '|' (all versions); LEEF 1.0 senders sometimes omit that last '|'
    // when there are no attributes.
    let (event_id, next) = match header_field(input, pos) {
        Some(x) => x,
        None => {
            fields.push(names::DEVICE_EVENT_CLASS_ID, &input[pos..]);
            return (fields, None);
        }
    };
    fields.push(names::DEVICE_EVENT_CLASS_ID, event_id);
    pos = next;

    let is_v2 = fields
        .get_str(names::VERSION)
        .is_some_and(|v| v.starts_with('2'));
    let mut delimiter = '\t';
    let mut err = None;
    if is_v2 && let Some(bar) = memchr(b'|', &input.as_bytes()[pos..]) {
        let text = &input[pos..pos + bar];
        if !text.contains('=') {
            match parse_delimiter(text) {
                Some(d) => delimiter = d,
                None => {
                    err = Some(LeefError::BadDelimiter {
                        text: text.to_string(),
                        at: Position::at(input.as_bytes(), pos),
                    })
                }
            }
            pos += bar + 1;
        }
    }
    if let Some(d) = opts.delimiter {
        delimiter = d;
    }
    let mut at = pos;
    for attr in input[pos..].split(delimiter) {
        let here = at;
        at += attr.len() + delimiter.len_utf8();
        let attr = attr.trim_end_matches(['\r', '\n']);
        if attr.trim().is_empty() {
            continue;
        }
        match attr.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => fields.insert(k.trim(), v, opts.duplicate_keys),
            _ => {
                if err.is_none() {
                    err = Some(LeefError::AttributeWithoutValue {
                        at: Position::at(input.as_bytes(), here),
                    });
                }
            }
        }
    }
    (fields, err)
}

/// `^`, `x5E`, `0x5E` (also `\t`-style spellings are not used by LEEF); empty means tab.
fn parse_delimiter(text: &str) -> Option<char> {
    if text.is_empty() {
        return Some('\t');
    }
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .or_else(|| text.strip_prefix('x'))
        .or_else(|| text.strip_prefix('X'));
    if let Some(h) = hex.filter(|h| !h.is_empty() && h.len() <= 4) {
        return u32::from_str_radix(h, 16).ok().and_then(char::from_u32);
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Fields<'_> {
        match parse_str_lenient(s, &LeefOptions::default()) {
            (f, None) => f,
            (_, Some(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn leef1_tab_delimited() {
        let f = p(
            "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tsev=5\tmsg=a=b c",
        );
        assert_eq!(f.get_str("DeviceVendor"), Some("Microsoft"));
        assert_eq!(f.get_str("DeviceEventClassID"), Some("15345"));
        assert_eq!(f.get_str("dst"), Some("2.10.20.20"));
        assert_eq!(f.get_str("msg"), Some("a=b c"));
    }

    #[test]
    fn leef2_custom_delimiter_char_and_hex() {
        for d in ["^", "x5E", "0x5E", "0X5e"] {
            let line =
                format!("LEEF:2.0|Lancope|StealthWatch|1.0|41|{d}|src=10.0.1.8^dst=10.0.0.5^sev=5");
            let f = p(&line);
            assert_eq!(f.get_str("dst"), Some("10.0.0.5"), "{d}");
            assert_eq!(f.get_str("sev"), Some("5"));
        }
    }

    #[test]
    fn leef2_without_delimiter_field() {
        let f = p("LEEF:2.0|V|P|1|E|src=1.1.1.1\tdst=2.2.2.2");
        assert_eq!(f.get_str("src"), Some("1.1.1.1"));
        assert_eq!(f.get_str("dst"), Some("2.2.2.2"));
    }

    #[test]
    fn leef_bad_delimiter() {
        let (f, e) = parse_str_lenient("LEEF:2.0|V|P|1|E|xZZ|a=1", &LeefOptions::default());
        assert_eq!(f.get_str("a"), Some("1"));
        assert!(matches!(e, Some(LeefError::BadDelimiter { .. })));
    }

    #[test]
    fn leef_after_syslog_header_and_no_attributes() {
        let f = parse(
            b"<13>Jan 18 11:07:53 host LEEF:1.0|V|P|1|E",
            &LeefOptions::default(),
        )
        .unwrap();
        assert_eq!(f.get_str("DeviceEventClassID"), Some("E"));
    }
}
