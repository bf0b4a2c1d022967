//! ArcSight Common Event Format:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.
//!
//! The seven header fields come out under KUMA's names ([`names`]): `CEFVersion`,
//! `DeviceVendor`, `DeviceProduct`, `DeviceVersion`, `DeviceEventClassID`, `Name`, `Severity`;
//! the extension's pairs follow under their own keys (`src`, `suser`, `cs1Label`, ...), all as
//! text. The `CEF:` prefix may follow a syslog header: [`find_cef`] finds it, and [`parse`]
//! skips whatever precedes it.
//!
//! **Escapes.** In the header, `\|` and `\\` stand for `|` and `\`. In the extension, `\=`,
//! `\\`, `\n` and `\r` stand for `=`, `\`, LF and CR (and `\|` for `|`, which some senders
//! write). Any other backslash is kept as written.
//!
//! **Finding keys.** Producers often leave `=` and spaces unescaped in values
//! (`request=https://h/p?a=1 msg=user logged in`). A pair starts only where an unescaped `=`
//! is preceded by a key token (letters, digits, `_`, `.`, `-`) that itself follows a space or
//! starts the extension; every other `=` belongs to the value. A value runs to the space
//! before the next key, trailing spaces trimmed.

use std::borrow::Cow;

use memchr::{memchr2, memmem};

use crate::fields::{DuplicateKeys, Fields, Position, with_text, with_text_lenient};

/// Field names of the CEF header (KUMA's, which Vigil's event schema resolves as aliases).
pub mod names {
    /// `CEF:0` → `0`.
    pub const VERSION: &str = "CEFVersion";
    /// Device Vendor.
    pub const DEVICE_VENDOR: &str = "DeviceVendor";
    /// Device Product.
    pub const DEVICE_PRODUCT: &str = "DeviceProduct";
    /// Device Version.
    pub const DEVICE_VERSION: &str = "DeviceVersion";
    /// Signature ID (Device Event Class ID).
    pub const DEVICE_EVENT_CLASS_ID: &str = "DeviceEventClassID";
    /// Name.
    pub const NAME: &str = "Name";
    /// Severity, as written (`0`..`10`, or `Low`, `Medium`, `High`, `Very-High`).
    pub const SEVERITY: &str = "Severity";
    /// The seven header names in order.
    pub const HEADER: [&str; 7] = [
        VERSION,
        DEVICE_VENDOR,
        DEVICE_PRODUCT,
        DEVICE_VERSION,
        DEVICE_EVENT_CLASS_ID,
        NAME,
        SEVERITY,
    ];
}

/// CEF parser settings.
#[derive(Debug, Clone, Default)]
pub struct CefOptions {
    /// Also add each custom field under its label: `cs1Label=Rule cs1=Block` adds
    /// `Rule=Block` after the extension (the original pairs are kept).
    pub resolve_custom_labels: bool,
    /// What to do with a repeated extension key.
    pub duplicate_keys: DuplicateKeys,
}

/// What was wrong with a CEF record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CefError {
    /// No `CEF:<digit>` anywhere in the input.
    #[error("no 'CEF:' prefix")]
    NoPrefix,
    /// The header ended before its seventh `|`.
    #[error("header field {field} missing at {at}: expected '|'")]
    MissingHeaderField {
        /// The field that is missing (see [`names`]).
        field: &'static str,
        /// The end of the input.
        at: Position,
    },
    /// Text in the extension before the first `key=`.
    #[error("extension text without a key at {at}")]
    TextWithoutKey {
        /// Where the text starts.
        at: Position,
    },
}

/// Where `CEF:` starts: the first `CEF:` followed by a digit, at the start of the input or
/// after a space or `:` (so a syslog header may precede it).
pub fn find_cef(input: &[u8]) -> Option<usize> {
    find_prefix(input, b"CEF:")
}

pub(crate) fn find_prefix(input: &[u8], prefix: &[u8]) -> Option<usize> {
    memmem::find_iter(input, prefix).find(|&i| {
        let before_ok = i == 0 || matches!(input[i - 1], b' ' | b':' | b'\t' | b'>');
        let digit = input.get(i + prefix.len()).is_some_and(u8::is_ascii_digit);
        before_ok && digit
    })
}

/// Parses one CEF record strictly: any problem is an error.
pub fn parse<'a>(input: &'a [u8], opts: &CefOptions) -> Result<Fields<'a>, CefError> {
    with_text(input, |s| match parse_str_lenient(s, opts) {
        (f, None) => Ok(f),
        (_, Some(e)) => Err(e),
    })
}

/// Parses one CEF record, keeping what it can: the fields read (header fields up to a missing
/// one; extension pairs after stray text) and the first problem met. Never panics.
pub fn parse_lenient<'a>(input: &'a [u8], opts: &CefOptions) -> (Fields<'a>, Option<CefError>) {
    with_text_lenient(input, |s| parse_str_lenient(s, opts))
}

/// [`parse_lenient`] on text.
pub fn parse_str_lenient<'a>(input: &'a str, opts: &CefOptions) -> (Fields<'a>, Option<CefError>) {
    let mut fields = Fields::with_capacity(24);
    let Some(start) = find_cef(input.as_bytes()) else {
        return (fields, Some(CefError::NoPrefix));
    };
    let mut pos = start + 4;
    for field in names::HEADER {
        match header_field(input, pos) {
            Some((value, next)) => {
                fields.push(field, value);
                pos = next;
            }
            None => {
                let at = Position::at(input.as_bytes(), input.len());
                return (fields, Some(CefError::MissingHeaderField { field, at }));
            }
        }
    }
    let err = parse_extension(input, pos, &mut fields, opts.duplicate_keys);
    if opts.resolve_custom_labels {
        resolve_labels(&mut fields, names::HEADER.len());
    }
    (fields, err)
}

/// One header field starting at `pos`, unescaped, and the position after its `|`.
pub(crate) fn header_field(input: &str, pos: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = input.as_bytes();
    let mut i = pos;
    let mut owned: Option<String> = None;
    let mut run_start = pos;
    loop {
        let j = i + memchr2(b'|', b'\\', b.get(i..)?)?;
        if b[j] == b'|' {
            let value = match owned {
                None => Cow::Borrowed(&input[pos..j]),
                Some(mut s) => {
                    s.push_str(&input[run_start..j]);
                    Cow::Owned(s)
                }
            };
            return Some((value, j + 1));
        }
        // A backslash: `\|` and `\\` are escapes, anything else is literal.
        match b.get(j + 1) {
            Some(&c @ (b'|' | b'\\')) => {
                let s = owned.get_or_insert_with(String::new);
                s.push_str(&input[run_start..j]);
                s.push(char::from(c));
                i = j + 2;
                run_start = i;
            }
            _ => i = j + 1,
        }
    }
}

pub(crate) fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// Splits `input[pos..]` into `key=value` pairs (see the module doc), pushing them to
/// `fields`. Returns the first problem met.
fn parse_extension<'a>(
    input: &'a str,
    pos: usize,
    fields: &mut Fields<'a>,
    policy: DuplicateKeys,
) -> Option<CefError> {
    let b = input.as_bytes();
    let mut err = None;
    // The pair being read: key range and value start.
    let mut cur: Option<(usize, usize, usize)> = None;
    let mut i = pos;
    while let Some(off) = memchr2(b'=', b'\\', &b[i..]) {
        let j = i + off;
        if b[j] == b'\\' {
            i = j + 2;
            if i > b.len() {
                break;
            }
            continue;
        }
        i = j + 1;
        // An unescaped '=': is it preceded by a key token that follows a space?
        let lower = cur.map_or(pos, |(_, _, vs)| vs);
        let mut ks = j;
        while ks > lower && is_key_byte(b[ks - 1]) {
            ks -= 1;
        }
        if ks == j {
            continue;
        }
        let at_boundary = if ks == lower {
            // At the start of the extension, or right after the previous '=' (an empty value
            // followed directly by a key cannot be told apart: keep it as value).
            cur.is_none()
        } else {
            b[ks - 1] == b' '
        };
        if !at_boundary {
            continue;
        }
        match cur {
            Some((k0, k1, vs)) => push_pair(input, fields, k0, k1, vs, ks, policy),
            None => {
                if !input[pos..ks].trim_start_matches(' ').is_empty() && err.is_none() {
                    err = Some(CefError::TextWithoutKey {
                        at: Position::at(b, pos),
                    });
                }
            }
        }
        cur = Some((ks, j, j + 1));
    }
    match cur {
        Some((k0, k1, vs)) => push_pair(input, fields, k0, k1, vs, b.len(), policy),
        None => {
            if !input[pos..].trim().is_empty() && err.is_none() {
                err = Some(CefError::TextWithoutKey {
                    at: Position::at(b, pos),
                });
            }
        }
    }
    err
}

fn push_pair<'a>(
    input: &'a str,
    fields: &mut Fields<'a>,
    k0: usize,
    k1: usize,
    vs: usize,
    end: usize,
    policy: DuplicateKeys,
) {
    let raw = input[vs..end].trim_end_matches([' ', '\r', '\n', '\t']);
    fields.insert(&input[k0..k1], unescape_value(raw), policy);
}

/// Unescapes an extension value: `\=`, `\\`, `\|`, `\n`, `\r`; other backslashes stay.
pub(crate) fn unescape_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some(e @ ('=' | '\\' | '|')) => {
                out.push(e);
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('r') => {
                out.push('\r');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Adds `label value = field value` for every `xLabel=...` whose `x` is present.
fn resolve_labels(fields: &mut Fields<'_>, skip: usize) {
    let mut extra = Vec::new();
    for (i, (k, label)) in fields.iter().enumerate().skip(skip) {
        let Some(base) = k.strip_suffix("Label") else {
            continue;
        };
        let (Some(label), false) = (label.as_str(), base.is_empty()) else {
            continue;
        };
        if label.is_empty() {
            continue;
        }
        if let Some((_, v)) = fields.iter().skip(skip).find(|(k2, _)| *k2 == base) {
            extra.push((i, label.to_string(), v.clone().into_owned()));
        }
    }
    for (_, label, value) in extra {
        fields.push(label, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldValue;

    fn p(s: &str) -> Fields<'_> {
        match parse_str_lenient(s, &CefOptions::default()) {
            (f, None) => f,
            (_, Some(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn cef_escaped_pipe_in_header() {
        let f = p(r"CEF:0|Sec\|Corp|Fire\\wall|1.0|100|Blocked a\|b|5|src=1.2.3.4");
        assert_eq!(f.get_str("DeviceVendor"), Some("Sec|Corp"));
        assert_eq!(f.get_str("DeviceProduct"), Some(r"Fire\wall"));
        assert_eq!(f.get_str("Name"), Some("Blocked a|b"));
        assert_eq!(f.get_str("Severity"), Some("5"));
        assert_eq!(f.get_str("src"), Some("1.2.3.4"));
        assert_eq!(f.get_str("CEFVersion"), Some("0"));
    }

    #[test]
    fn cef_value_with_spaces_and_equals() {
        let f =
            p("CEF:0|V|P|1|2|N|3|msg=User logged in (uid==5,x=1) url=https://h/p?x=1&y=2 act=drop");
        assert_eq!(f.get_str("msg"), Some("User logged in (uid==5,x=1)"));
        assert_eq!(f.get_str("url"), Some("https://h/p?x=1&y=2"));
        assert_eq!(f.get_str("act"), Some("drop"));
    }

    #[test]
    fn cef_extension_escapes() {
        let f = p(r"CEF:0|V|P|1|2|N|3|msg=a\=b c\\d\nline\r\|x path=C:\Windows\x");
        assert_eq!(f.get_str("msg"), Some("a=b c\\d\nline\r|x"));
        assert_eq!(f.get_str("path"), Some(r"C:\Windows\x"));
    }

    #[test]
    fn cef_after_syslog_header() {
        let line = b"<134>Jan 10 12:00:00 fw CEF:0|V|P|1|2|N|3|src=10.0.0.1";
        assert_eq!(find_cef(line), Some(24));
        let f = parse(line, &CefOptions::default()).unwrap();
        assert_eq!(f.get_str("src"), Some("10.0.0.1"));
        assert_eq!(find_cef(b"xCEF:0|"), None);
        assert_eq!(find_cef(b"CEF:x"), None);
    }

    #[test]
    fn cef_custom_labels_resolved() {
        let opts = CefOptions {
            resolve_custom_labels: true,
            ..CefOptions::default()
        };
        let f = parse(
            b"CEF:0|V|P|1|2|N|3|cs1Label=Rule Name cs1=Block all cn1=7",
            &opts,
        )
        .unwrap();
        assert_eq!(f.get_str("cs1Label"), Some("Rule Name"));
        assert_eq!(f.get_str("cs1"), Some("Block all"));
        assert_eq!(f.get_str("Rule Name"), Some("Block all"));
    }

    #[test]
    fn cef_missing_header_field_is_lenient() {
        let (f, e) = parse_str_lenient("CEF:0|V|P|1", &CefOptions::default());
        assert_eq!(f.len(), 3);
        assert!(matches!(
            e,
            Some(CefError::MissingHeaderField {
                field: "DeviceVersion",
                ..
            })
        ));
    }

    #[test]
    fn cef_empty_extension_and_empty_values() {
        let f = p("CEF:0|V|P|1|2|N|3|");
        assert_eq!(f.len(), 7);
        let f = p("CEF:0|V|P|1|2|N|3|a= b=1 c=");
        assert_eq!(f.get_str("a"), Some(""));
        assert_eq!(f.get_str("b"), Some("1"));
        assert_eq!(f.get_str("c"), Some(""));
    }

    #[test]
    fn cef_text_without_key() {
        let (f, e) = parse_str_lenient("CEF:0|V|P|1|2|N|3|junk a=1", &CefOptions::default());
        assert_eq!(f.get_str("a"), Some("1"));
        assert!(matches!(e, Some(CefError::TextWithoutKey { .. })));
    }

    #[test]
    fn cef_zero_copy_when_no_escapes() {
        let f = p("CEF:0|V|P|1|2|N|3|src=1.2.3.4");
        assert!(matches!(
            f.get("src"),
            Some(FieldValue::Str(Cow::Borrowed(_)))
        ));
    }
}
