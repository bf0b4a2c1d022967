//! The parsers a normalizer can start with. Each reads text into named fields (a
//! [`FieldMap`]); the syslog parser also fills the event's header fields directly.
//!
//! Every format is read by `vigil-parse`, the crate that owns the parsers (fuzzed, golden- and
//! property-tested there): syslog, JSON, key-value, regex, CSV, CEF, LEEF, XML and Windows
//! event XML. This module compiles a definition's parser settings into that crate's options
//! once, and turns its borrowed [`vigil_parse::Fields`] into the event's owned [`FieldMap`].

use chrono_tz::Tz;
use smol_str::SmolStr;
use vigil_event::{Event, FieldMap, Timestamp, Value};
use vigil_parse::cef::CefOptions;
use vigil_parse::csv::{CsvOptions, CsvParser};
use vigil_parse::json::JsonOptions;
use vigil_parse::kv::{BareKeys, KvOptions};
use vigil_parse::leef::LeefOptions;
use vigil_parse::regex::{RegexOptions, RegexParser};
use vigil_parse::syslog::{SyslogError, SyslogOptions, parse_lenient};
use vigil_parse::winxml::WinXmlOptions;
use vigil_parse::xml::{XmlOptions, XmlParser};
use vigil_parse::{DuplicateKeys, FieldValue, Fields};

/// Why an input could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The syslog header was malformed.
    #[error("syslog: {0}")]
    Syslog(String),
    /// Not JSON, or not a JSON object.
    #[error("json: {0}")]
    Json(String),
    /// No regex pattern matched.
    #[error("regex: no pattern matched")]
    NoMatch,
    /// No `key=value` pair found.
    #[error("kv: no key=value pair")]
    NoPairs,
    /// Not CEF / LEEF.
    #[error("{format}: {reason}")]
    Header {
        /// cef or leef.
        format: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Not well-formed XML, or not a Windows event.
    #[error("xml: {0}")]
    Xml(String),
    /// Fewer columns than the definition names.
    #[error("csv: {got} columns, expected at least {want}")]
    Columns {
        /// Columns found.
        got: usize,
        /// Columns named.
        want: usize,
    },
}

impl ParseError {
    /// A short, stable reason for summaries (no per-line details).
    pub fn reason(&self) -> String {
        match self {
            ParseError::Syslog(s) => {
                format!("syslog: {}", s.split(" at offset").next().unwrap_or(s))
            }
            ParseError::Json(_) => "json: invalid".into(),
            ParseError::Xml(_) => "xml: invalid".into(),
            ParseError::Header { format, reason } => {
                format!(
                    "{format}: {}",
                    reason.split(" at ").next().unwrap_or(reason)
                )
            }
            ParseError::Columns { want, .. } => format!("csv: fewer than {want} columns"),
            other => other.to_string(),
        }
    }
}

/// What a parse needs beyond its input.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext {
    /// Time zone for times without an offset.
    pub timezone: Tz,
    /// The receive time (year resolution of RFC 3164 timestamps).
    pub received: Timestamp,
}

/// Compiled patterns above this size are refused (a definition error, not a slow parse).
const REGEX_SIZE_LIMIT: usize = 1 << 22;

/// One compiled regex pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    id: Option<SmolStr>,
    re: RegexParser,
}

impl Pattern {
    /// Compiles a pattern (matched anywhere in the input, as written).
    pub fn new(id: Option<&str>, re: &str) -> Result<Pattern, String> {
        let opts = RegexOptions {
            size_limit: REGEX_SIZE_LIMIT,
            require_names: false,
            ..RegexOptions::default()
        };
        let re = RegexParser::with_options(re, &opts).map_err(|e| e.to_string())?;
        Ok(Pattern {
            id: id.map(SmolStr::new),
            re,
        })
    }
}

/// A compiled parser.
#[derive(Debug, Clone)]
pub enum Parser {
    /// See [`crate::def::ParserDef::Syslog`].
    Syslog {
        /// Time zone override.
        timezone: Option<Tz>,
        /// Missing PRI is an error.
        require_pri: bool,
    },
    /// JSON object, flattened.
    Json(JsonOptions),
    /// `key=value` pairs.
    Kv(KvOptions),
    /// Regex patterns, the first that matches wins.
    Regex(Vec<Pattern>),
    /// Delimited columns.
    Csv {
        /// The parser, holding the column names (empty names are skipped).
        parser: CsvParser,
        /// Columns a record must have: up to the last named one.
        want: usize,
    },
    /// CEF.
    Cef,
    /// LEEF.
    Leef,
    /// Generic XML, flattened.
    Xml(Box<XmlParser>),
    /// Windows event XML.
    WinXml,
}

impl Parser {
    /// A JSON parser; objects nested deeper than `max_depth` make the record fail.
    pub fn json(max_depth: usize) -> Parser {
        Parser::Json(JsonOptions {
            max_depth,
            duplicate_keys: DuplicateKeys::Last,
            ..JsonOptions::default()
        })
    }

    /// A key-value parser: `pair` between pairs (blank: any run of blanks), `kv` between key
    /// and value. Tokens without `kv` are skipped, repeated keys all kept.
    pub fn kv(pair: &str, kv: &str) -> Parser {
        Parser::Kv(KvOptions {
            pair_separator: pair.to_owned(),
            kv_separator: kv.to_owned(),
            duplicate_keys: DuplicateKeys::Keep,
            bare_keys: BareKeys::Skip,
            ..KvOptions::default()
        })
    }

    /// A CSV parser with these column names (empty names skip a column).
    pub fn csv(columns: &[String], delimiter: u8) -> Parser {
        let want = columns
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        Parser::Csv {
            parser: CsvParser::new(CsvOptions {
                delimiter,
                columns: columns.to_vec(),
                ..CsvOptions::default()
            }),
            want,
        }
    }

    /// A generic XML parser (the whole document flattened).
    pub fn xml() -> Result<Parser, String> {
        XmlParser::new(&XmlOptions::default())
            .map(|p| Parser::Xml(Box::new(p)))
            .map_err(|e| e.to_string())
    }

    /// The parser's type name.
    pub fn kind(&self) -> &'static str {
        match self {
            Parser::Syslog { .. } => "syslog",
            Parser::Json(_) => "json",
            Parser::Kv(_) => "kv",
            Parser::Regex(_) => "regex",
            Parser::Csv { .. } => "csv",
            Parser::Cef => "cef",
            Parser::Leef => "leef",
            Parser::Xml(_) => "xml",
            Parser::WinXml => "winxml",
        }
    }

    /// Parses `input` into `out` (and, for syslog, the event header).
    pub fn parse(
        &self,
        input: &str,
        ev: &mut Event,
        ctx: &ParseContext,
        out: &mut FieldMap,
    ) -> Result<(), ParseError> {
        match self {
            Parser::Syslog {
                timezone,
                require_pri,
            } => syslog(
                input,
                ev,
                ctx,
                timezone.unwrap_or(ctx.timezone),
                *require_pri,
                out,
            ),
            Parser::Json(opts) => {
                let f = vigil_parse::json::parse_str(input.trim(), opts)
                    .map_err(|e| ParseError::Json(e.to_string()))?;
                push_all(f, out);
                Ok(())
            }
            Parser::Kv(opts) => {
                // Lenient: an unterminated quote still yields the pairs before it.
                let (f, _) = vigil_parse::kv::parse_str_lenient(input, opts);
                if f.is_empty() {
                    return Err(ParseError::NoPairs);
                }
                push_all(f, out);
                Ok(())
            }
            Parser::Regex(patterns) => {
                for p in patterns {
                    if let Ok(f) = p.re.parse(input.as_bytes()) {
                        out.reserve(f.len() + 1);
                        if let Some(id) = &p.id {
                            out.push("pattern", Value::Str(id.clone()));
                        }
                        // Empty captures are absent values.
                        for (k, v) in f {
                            if !matches!(&v, FieldValue::Str(s) if s.is_empty()) {
                                out.push(k.as_ref(), to_value(v));
                            }
                        }
                        return Ok(());
                    }
                }
                Err(ParseError::NoMatch)
            }
            Parser::Csv { parser, want } => {
                let (f, _) = parser.parse_lenient(input.as_bytes());
                if f.len() < *want {
                    return Err(ParseError::Columns {
                        got: f.len(),
                        want: *want,
                    });
                }
                // Named columns only (extra ones come out as `columnN`), empty values skipped.
                for (name, v) in parser.columns().iter().zip(f) {
                    if !name.is_empty() && !matches!(&v.1, FieldValue::Str(s) if s.is_empty()) {
                        out.push(name.as_str(), to_value(v.1));
                    }
                }
                Ok(())
            }
            Parser::Cef => {
                let (f, e) = vigil_parse::cef::parse_str_lenient(input, &CefOptions::default());
                match e {
                    Some(
                        e @ (vigil_parse::cef::CefError::NoPrefix
                        | vigil_parse::cef::CefError::MissingHeaderField { .. }),
                    ) => Err(ParseError::Header {
                        format: "cef",
                        reason: e.to_string(),
                    }),
                    _ => {
                        push_all(f, out);
                        Ok(())
                    }
                }
            }
            Parser::Leef => {
                let (f, e) = vigil_parse::leef::parse_str_lenient(input, &LeefOptions::default());
                match e {
                    Some(
                        e @ (vigil_parse::leef::LeefError::NoPrefix
                        | vigil_parse::leef::LeefError::MissingHeaderField { .. }),
                    ) => Err(ParseError::Header {
                        format: "leef",
                        reason: e.to_string(),
                    }),
                    _ => {
                        push_all(f, out);
                        Ok(())
                    }
                }
            }
            Parser::Xml(p) => {
                let doc = xml_start(input)?;
                let f = p
                    .parse_str(doc)
                    .map_err(|e| ParseError::Xml(e.to_string()))?;
                push_all(f, out);
                Ok(())
            }
            Parser::WinXml => {
                let doc = xml_start(input)?;
                let opts = WinXmlOptions {
                    paths: false,
                    ..WinXmlOptions::default()
                };
                let f = vigil_parse::winxml::parse_str(doc, &opts)
                    .map_err(|e| ParseError::Xml(e.to_string()))?;
                push_all(f, out);
                Ok(())
            }
        }
    }
}

/// The document from its first `<` (a syslog or agent prefix may come before it).
fn xml_start(input: &str) -> Result<&str, ParseError> {
    input
        .find('<')
        .map(|i| &input[i..])
        .ok_or_else(|| ParseError::Xml("no element".into()))
}

/// A parsed value as an event value (nulls are kept only inside lists).
fn to_value(v: FieldValue<'_>) -> Value {
    match v {
        FieldValue::Str(s) => Value::Str(SmolStr::new(s)),
        FieldValue::Int(i) => Value::Int(i),
        FieldValue::Float(x) => Value::Float(x),
        FieldValue::Bool(b) => Value::Bool(b),
        FieldValue::Null => Value::Null,
        FieldValue::List(l) => Value::List(l.into_iter().map(to_value).collect()),
    }
}

/// Every field, in order; a null is an absent value.
fn push_all(f: Fields<'_>, out: &mut FieldMap) {
    out.reserve(f.len());
    for (k, v) in f {
        if !v.is_null() {
            out.push(k.as_ref(), to_value(v));
        }
    }
}

fn syslog(
    input: &str,
    ev: &mut Event,
    ctx: &ParseContext,
    tz: Tz,
    require_pri: bool,
    out: &mut FieldMap,
) -> Result<(), ParseError> {
    let opts = SyslogOptions {
        default_timezone: tz,
        now: ctx.received.to_datetime(),
    };
    let (msg, err) = parse_lenient(input.as_bytes(), &opts);
    let err = match err {
        Some(SyslogError::MissingPri { .. }) if !require_pri => None,
        other => other,
    };
    if let Some(e) = err
        && msg.timestamp.is_none()
    {
        return Err(ParseError::Syslog(e.to_string()));
    }
    crate::syslog::apply_header(ev, &msg, out);
    // the message is a slice of `input`, which is text already: no second UTF-8 check
    let text = match subslice_of(input, msg.msg) {
        Some(t) => std::borrow::Cow::Borrowed(t),
        None => msg.msg_lossy(),
    };
    if !text.is_empty() {
        ev.message = Some(SmolStr::new(text));
    }
    Ok(())
}

/// `part` as text, when it is a slice of `whole` on character boundaries.
fn subslice_of<'a>(whole: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    whole.get(start..start.checked_add(part.len())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseContext {
        ParseContext {
            timezone: chrono_tz::UTC,
            received: Timestamp::from_secs(1_795_000_000),
        }
    }

    fn run(p: &Parser, s: &str) -> (Result<(), ParseError>, FieldMap) {
        let mut ev = Event::default();
        let mut out = FieldMap::new();
        let r = p.parse(s, &mut ev, &ctx(), &mut out);
        (r, out)
    }

    #[test]
    fn winxml_system_and_event_data() {
        let (r, f) = run(
            &Parser::WinXml,
            r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon" Guid="{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"/><EventID>1</EventID><TimeCreated SystemTime="2026-11-20T08:02:19.2241170Z"/><Computer>ws1</Computer></System><EventData><Data Name="Image">C:\Windows\System32\cmd.exe</Data></EventData></Event>"#,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(
            f.get("Provider_Name"),
            Some(&Value::from("Microsoft-Windows-Sysmon"))
        );
        assert_eq!(f.get("EventID"), Some(&Value::Int(1)));
        assert_eq!(
            f.get("TimeCreated_SystemTime"),
            Some(&Value::from("2026-11-20T08:02:19.2241170Z"))
        );
        assert_eq!(
            f.get("Image"),
            Some(&Value::from("C:\\Windows\\System32\\cmd.exe"))
        );
        assert!(run(&Parser::WinXml, "<Other/>").0.is_err());
    }

    #[test]
    fn cef_header_and_escaped_extension() {
        let (r, f) = run(
            &Parser::Cef,
            r"<13>Nov 22 06:59:58 fw CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 msg=a\=b c spt=1232",
        );
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("DeviceProduct"), Some(&Value::from("threatmanager")));
        assert_eq!(f.get("msg"), Some(&Value::from("a=b c")));
        assert_eq!(f.get("spt"), Some(&Value::from("1232")));
        assert!(run(&Parser::Cef, "no cef here").0.is_err());
    }

    #[test]
    fn cef_escaped_pipe_in_header() {
        let (_, f) = run(&Parser::Cef, r"CEF:0|V|P\|Q|1|2|n|3|");
        assert_eq!(f.get("DeviceProduct"), Some(&Value::from("P|Q")));
    }

    #[test]
    fn kv_quotes_and_flags() {
        let (_, f) = run(
            &Parser::kv(" ", "="),
            "[UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 SYN msg='op=login acct=\"root\"' x=\"a b\"",
        );
        assert_eq!(f.get("IN"), Some(&Value::from("eth0")));
        assert_eq!(f.get("OUT"), Some(&Value::from("")));
        assert_eq!(f.get("msg"), Some(&Value::from("op=login acct=\"root\"")));
        assert_eq!(f.get("x"), Some(&Value::from("a b")));
        assert!(f.get("SYN").is_none());
        assert!(f.get("[UFW").is_none());
        assert_eq!(
            run(&Parser::kv(" ", "="), "no pairs").0,
            Err(ParseError::NoPairs)
        );
    }

    #[test]
    fn kv_multi_character_pair_separator() {
        let (_, f) = run(
            &Parser::kv("; ", ":"),
            r#"action:"Accept"; ifname:"eth1"; reason:"a; b""#,
        );
        assert_eq!(f.get("action"), Some(&Value::from("Accept")));
        assert_eq!(f.get("reason"), Some(&Value::from("a; b")));
    }

    #[test]
    fn leef_v2_custom_delimiter() {
        let (r, f) = run(
            &Parser::Leef,
            "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5",
        );
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("dst"), Some(&Value::from("10.0.0.5")));
        assert_eq!(f.get("DeviceEventClassID"), Some(&Value::from("41")));
    }

    #[test]
    fn csv_named_columns_skip_empty_and_unnamed() {
        let p = Parser::csv(&["a".into(), String::new(), "c".into(), "d".into()], b',');
        let (r, f) = run(&p, "1,skipped,\"x,y\",");
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("a"), Some(&Value::from("1")));
        assert_eq!(f.get("c"), Some(&Value::from("x,y")));
        assert!(f.get("d").is_none());
        assert_eq!(f.len(), 2);
        assert!(matches!(
            run(&p, "1,2").0,
            Err(ParseError::Columns { got: 2, want: 4 })
        ));
        // Columns beyond the named ones are ignored.
        let (_, f) = run(&p, "1,2,3,4,5,6");
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn regex_patterns_in_order_with_ids() {
        let p = Parser::Regex(vec![
            Pattern::new(Some("login"), r"^login (?P<user>\S*) ?(?P<ip>\S*)$")
                .unwrap_or_else(|e| panic!("{e}")),
            Pattern::new(Some("other"), "^").unwrap_or_else(|e| panic!("{e}")),
        ]);
        let (_, f) = run(&p, "login bob ");
        assert_eq!(f.get("pattern"), Some(&Value::from("login")));
        assert_eq!(f.get("user"), Some(&Value::from("bob")));
        assert!(f.get("ip").is_none(), "empty captures are absent");
        let (r, f) = run(&p, "something else");
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("pattern"), Some(&Value::from("other")));
        let only = Parser::Regex(vec![
            Pattern::new(None, "^x(?P<a>.)").unwrap_or_else(|e| panic!("{e}")),
        ]);
        assert_eq!(run(&only, "y").0, Err(ParseError::NoMatch));
    }

    #[test]
    fn json_flattens() {
        let (r, f) = run(
            &Parser::json(8),
            r#"{"a":{"b":1,"c":[1,2]},"d":null,"e":[{"x":1}]}"#,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("a.b"), Some(&Value::Int(1)));
        assert_eq!(
            f.get("a.c"),
            Some(&Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert!(f.get("d").is_none());
        assert_eq!(
            f.get("e"),
            Some(&Value::List(vec![Value::from(r#"{"x":1}"#)]))
        );
        assert!(run(&Parser::json(8), "[1]").0.is_err());
        assert!(run(&Parser::json(2), r#"{"a":{"b":{"c":1}}}"#).0.is_err());
    }

    #[test]
    fn xml_flattens_after_a_prefix() {
        let p = Parser::xml().unwrap_or_else(|e| panic!("{e}"));
        let (r, f) = run(&p, r#"host1: <a x="1"><b>t</b></a>"#);
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("a.@x"), Some(&Value::from("1")));
        assert_eq!(f.get("a.b"), Some(&Value::from("t")));
    }
}
