//! The parsers a normalizer can start with. Each reads text into named fields (a
//! [`FieldMap`]); the syslog parser also fills the event's header fields directly.
//!
//! The formats of `vigil-parse` (CEF, LEEF, JSON flatten, CSV, KV, regex, XML, Windows event
//! XML) are being written there with a shared output shape; these are this crate's own compact
//! readers with the same field naming, to be swapped for `vigil_parse`'s one by one as they land
//! (the YAML does not change).

use chrono_tz::Tz;
use regex::Regex;
use smol_str::SmolStr;
use vigil_event::{Event, FieldMap, Timestamp, Value};
use vigil_parse::syslog::{SyslogError, SyslogOptions, parse_lenient};

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
        reason: &'static str,
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

/// One compiled regex pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    id: Option<SmolStr>,
    re: Regex,
    /// (group index, name) for named groups.
    groups: Vec<(usize, SmolStr)>,
}

impl Pattern {
    /// Compiles a pattern.
    pub fn new(id: Option<&str>, re: &str) -> Result<Pattern, regex::Error> {
        let re = regex::RegexBuilder::new(re).size_limit(1 << 22).build()?;
        let groups = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, SmolStr::new(n))))
            .collect();
        Ok(Pattern {
            id: id.map(SmolStr::new),
            re,
            groups,
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
    Json {
        /// Deepest nesting flattened.
        max_depth: usize,
    },
    /// `key=value` pairs.
    Kv {
        /// Pair separators.
        pair: Vec<u8>,
        /// Key/value separator.
        kv: u8,
    },
    /// Regex patterns.
    Regex(Vec<Pattern>),
    /// Delimited columns.
    Csv {
        /// Column names.
        columns: Vec<SmolStr>,
        /// Delimiter.
        delimiter: u8,
    },
    /// CEF.
    Cef,
    /// LEEF.
    Leef,
    /// Generic XML.
    Xml,
    /// Windows event XML.
    WinXml,
}

const MAX_XML: usize = 1 << 20;

impl Parser {
    /// The parser's type name.
    pub fn kind(&self) -> &'static str {
        match self {
            Parser::Syslog { .. } => "syslog",
            Parser::Json { .. } => "json",
            Parser::Kv { .. } => "kv",
            Parser::Regex(_) => "regex",
            Parser::Csv { .. } => "csv",
            Parser::Cef => "cef",
            Parser::Leef => "leef",
            Parser::Xml => "xml",
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
            Parser::Json { max_depth } => {
                let v: serde_json::Value = serde_json::from_str(input.trim())
                    .map_err(|e| ParseError::Json(e.to_string()))?;
                if !v.is_object() {
                    return Err(ParseError::Json("not an object".into()));
                }
                flatten_json("", &v, *max_depth, out);
                Ok(())
            }
            Parser::Kv { pair, kv } => {
                kv_pairs(input, pair, *kv, out);
                if out.is_empty() {
                    Err(ParseError::NoPairs)
                } else {
                    Ok(())
                }
            }
            Parser::Regex(patterns) => regex_parse(patterns, input, out),
            Parser::Csv { columns, delimiter } => {
                let cols = split_csv(input, *delimiter);
                if cols.len()
                    < columns
                        .iter()
                        .rposition(|c| !c.is_empty())
                        .map_or(0, |i| i + 1)
                {
                    return Err(ParseError::Columns {
                        got: cols.len(),
                        want: columns.len(),
                    });
                }
                for (name, v) in columns.iter().zip(cols) {
                    if !name.is_empty() && !v.is_empty() {
                        out.push(name.clone(), Value::Str(SmolStr::new(v)));
                    }
                }
                Ok(())
            }
            Parser::Cef => cef(input, out),
            Parser::Leef => leef(input, out),
            Parser::Xml | Parser::WinXml => {
                if input.len() > MAX_XML {
                    return Err(ParseError::Xml("document too large".into()));
                }
                let start = input
                    .find('<')
                    .ok_or_else(|| ParseError::Xml("no element".into()))?;
                let doc = roxmltree::Document::parse(&input[start..])
                    .map_err(|e| ParseError::Xml(e.to_string()))?;
                if matches!(self, Parser::WinXml) {
                    winxml(&doc, out)
                } else {
                    xml_flatten(
                        doc.root_element(),
                        doc.root_element().tag_name().name().to_owned(),
                        out,
                    );
                    Ok(())
                }
            }
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
    let text = msg.msg_lossy();
    if !text.is_empty() {
        ev.message = Some(SmolStr::new(text));
    }
    Ok(())
}

/// `v` with object keys in sorted order, so the text kept for arrays of objects is the same
/// whether or not serde_json preserves insertion order (a feature other crates may enable).
fn canonical_json(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                if let Some(x) = m.get(k) {
                    out.insert(k.clone(), canonical_json(x));
                }
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical_json).collect())
        }
        other => other.clone(),
    }
}

fn flatten_json(prefix: &str, v: &serde_json::Value, depth: usize, out: &mut FieldMap) {
    match v {
        serde_json::Value::Object(m) if depth > 0 => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&key, v, depth - 1, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            out.push(
                prefix,
                Value::Str(SmolStr::new(canonical_json(v).to_string())),
            );
        }
        other => out.push(prefix, Value::from_json(other)),
    }
}

/// `key=value` pairs; values may be quoted with `"` or `'` (backslash escapes kept as written).
/// Tokens without the separator are skipped.
pub fn kv_pairs(input: &str, pair: &[u8], kv: u8, out: &mut FieldMap) {
    let b = input.as_bytes();
    let is_sep = |c: u8| pair.contains(&c);
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && is_sep(b[i]) {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != kv && !is_sep(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != kv {
            continue;
        }
        let key = &input[key_start..i];
        i += 1;
        let (val, next) = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j] != q {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = j.min(b.len());
            (&input[start..end], (j + 1).min(b.len()))
        } else {
            let start = i;
            let mut j = i;
            while j < b.len() && !is_sep(b[j]) {
                j += 1;
            }
            (&input[start..j], j)
        };
        if !key.is_empty() {
            out.push(key, Value::Str(SmolStr::new(val)));
        }
        i = next;
    }
}

fn regex_parse(patterns: &[Pattern], input: &str, out: &mut FieldMap) -> Result<(), ParseError> {
    for p in patterns {
        let mut locs = p.re.capture_locations();
        if p.re.captures_read(&mut locs, input).is_some() {
            if let Some(id) = &p.id {
                out.push("pattern", Value::Str(id.clone()));
            }
            for (i, name) in &p.groups {
                if let Some((s, e)) = locs.get(*i)
                    && e > s
                {
                    out.push(name.clone(), Value::Str(SmolStr::new(&input[s..e])));
                }
            }
            return Ok(());
        }
    }
    Err(ParseError::NoMatch)
}

/// Splits one delimited line, honouring `"` quotes (`""` inside quotes is a quote).
pub fn split_csv(line: &str, delim: u8) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    let d = delim as char;
    while let Some(c) = chars.next() {
        if in_q {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_q = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.is_empty() {
            in_q = true;
        } else if c == d {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape_header(s: &str) -> String {
    s.replace("\\|", "|").replace("\\\\", "\\")
}

/// Splits `n` header fields at unescaped `|`; returns them and the rest.
fn header_fields(s: &str, n: usize) -> Option<(Vec<String>, &str)> {
    let b = s.as_bytes();
    let mut fields = Vec::with_capacity(n);
    let mut start = 0;
    let mut i = 0;
    while i < b.len() && fields.len() < n {
        match b[i] {
            b'\\' => i += 1,
            b'|' => {
                fields.push(unescape_header(&s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (fields.len() == n).then(|| (fields, s.get(start..).unwrap_or("")))
}

fn cef(input: &str, out: &mut FieldMap) -> Result<(), ParseError> {
    let bad = |reason| ParseError::Header {
        format: "cef",
        reason,
    };
    let start = input.find("CEF:").ok_or(bad("no CEF: header"))?;
    let (h, ext) =
        header_fields(&input[start + 4..], 7).ok_or(bad("fewer than 7 header fields"))?;
    for (name, v) in [
        "CEFVersion",
        "DeviceVendor",
        "DeviceProduct",
        "DeviceVersion",
        "DeviceEventClassID",
        "Name",
        "Severity",
    ]
    .iter()
    .zip(h)
    {
        out.push(*name, Value::Str(SmolStr::new(v)));
    }
    cef_extension(ext, out);
    Ok(())
}

/// CEF extension: `key=value` where values run to the next ` key=`; `\=`, `\\`, `\n`, `\r`
/// are unescaped.
fn cef_extension(ext: &str, out: &mut FieldMap) {
    let b = ext.as_bytes();
    // positions of unescaped '='
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'=' => eqs.push(i),
            _ => {}
        }
        i += 1;
    }
    let key_start = |eq: usize| -> Option<usize> {
        let s = ext[..eq].rfind(' ').map_or(0, |p| p + 1);
        let k = &ext[s..eq];
        (!k.is_empty()
            && k.bytes().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'[' | b']')
            }))
        .then_some(s)
    };
    let keys: Vec<(usize, usize)> = eqs
        .iter()
        .filter_map(|&e| key_start(e).map(|s| (s, e)))
        .collect();
    for (n, &(ks, eq)) in keys.iter().enumerate() {
        let vend = keys
            .get(n + 1)
            .map_or(ext.len(), |&(next, _)| next.saturating_sub(1));
        let raw = ext.get(eq + 1..vend.max(eq + 1)).unwrap_or("").trim_end();
        let v = raw
            .replace("\\=", "=")
            .replace("\\n", "\n")
            .replace("\\r", "\r")
            .replace("\\\\", "\\");
        out.push(&ext[ks..eq], Value::Str(SmolStr::new(v)));
    }
}

fn leef(input: &str, out: &mut FieldMap) -> Result<(), ParseError> {
    let bad = |reason| ParseError::Header {
        format: "leef",
        reason,
    };
    let start = input.find("LEEF:").ok_or(bad("no LEEF: header"))?;
    let body = &input[start + 5..];
    let v2 = body.starts_with('2');
    let (h, rest) =
        header_fields(body, if v2 { 6 } else { 5 }).ok_or(bad("too few header fields"))?;
    let mut delim = b'\t';
    if v2 {
        let d = h.get(5).map(String::as_str).unwrap_or("");
        delim = match d {
            "" => b'\t',
            x if x.starts_with("0x") || x.starts_with("x") => {
                u8::from_str_radix(x.trim_start_matches("0x").trim_start_matches('x'), 16)
                    .unwrap_or(b'\t')
            }
            x => x.as_bytes()[0],
        };
    }
    for (name, v) in [
        "LEEFVersion",
        "DeviceVendor",
        "DeviceProduct",
        "DeviceVersion",
        "DeviceEventClassID",
    ]
    .iter()
    .zip(h)
    {
        out.push(*name, Value::Str(SmolStr::new(v)));
    }
    kv_pairs(rest, &[delim], b'=', out);
    Ok(())
}

fn xml_flatten(node: roxmltree::Node<'_, '_>, path: String, out: &mut FieldMap) {
    for a in node.attributes() {
        out.push(
            format!("{path}.@{}", a.name()),
            Value::Str(SmolStr::new(a.value())),
        );
    }
    let mut has_children = false;
    for c in node.children().filter(|c| c.is_element()) {
        has_children = true;
        xml_flatten(c, format!("{path}.{}", c.tag_name().name()), out);
    }
    if !has_children && let Some(t) = node.text().map(str::trim).filter(|t| !t.is_empty()) {
        out.push(path, Value::Str(SmolStr::new(t)));
    }
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn winxml(doc: &roxmltree::Document<'_>, out: &mut FieldMap) -> Result<(), ParseError> {
    let root = doc.root_element();
    if root.tag_name().name() != "Event" {
        return Err(ParseError::Xml("root element is not <Event>".into()));
    }
    let text = |s: &str| Value::Str(SmolStr::new(s.trim()));
    if let Some(sys) = child(root, "System") {
        for c in sys.children().filter(|c| c.is_element()) {
            let name = c.tag_name().name();
            match name {
                "Provider" => {
                    if let Some(n) = c.attribute("Name") {
                        out.push("Provider", text(n));
                        // The name Sigma rules use (evtx flattening: `Provider_Name`).
                        out.push("Provider_Name", text(n));
                    }
                    if let Some(g) = c.attribute("Guid") {
                        out.push("ProviderGuid", text(g));
                    }
                }
                "TimeCreated" => {
                    if let Some(t) = c.attribute("SystemTime") {
                        out.push("TimeCreated", text(t));
                    }
                }
                "Execution" => {
                    for a in c.attributes() {
                        out.push(format!("Execution.{}", a.name()), text(a.value()));
                    }
                }
                "Security" => {
                    if let Some(u) = c.attribute("UserID") {
                        out.push("UserID", text(u));
                    }
                }
                "Correlation" => {
                    for a in c.attributes() {
                        out.push(format!("Correlation.{}", a.name()), text(a.value()));
                    }
                }
                _ => {
                    if let Some(t) = c.text().filter(|t| !t.trim().is_empty()) {
                        out.push(name, text(t));
                    }
                }
            }
        }
    } else {
        return Err(ParseError::Xml("no <System> element".into()));
    }
    if let Some(ed) = child(root, "EventData") {
        let mut unnamed = 0;
        for d in ed.children().filter(|c| c.is_element()) {
            let v = d.text().unwrap_or("");
            match d.attribute("Name") {
                Some(n) => out.push(n, text(v)),
                None if !v.trim().is_empty() => {
                    let key = if unnamed == 0 {
                        "Data".to_owned()
                    } else {
                        format!("Data{unnamed}")
                    };
                    unnamed += 1;
                    out.push(key, text(v));
                }
                None => {}
            }
        }
    }
    if let Some(ud) = child(root, "UserData") {
        for c in ud.children().filter(|c| c.is_element()) {
            for f in c.children().filter(|f| f.is_element()) {
                if let Some(t) = f.text().filter(|t| !t.trim().is_empty()) {
                    out.push(f.tag_name().name(), text(t));
                }
            }
        }
    }
    if let Some(ri) = child(root, "RenderingInfo")
        && let Some(m) = child(ri, "Message").and_then(|m| m.text())
    {
        out.push("RenderedMessage", text(m));
    }
    Ok(())
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
            f.get("Provider"),
            Some(&Value::from("Microsoft-Windows-Sysmon"))
        );
        assert_eq!(
            f.get("Provider_Name"),
            Some(&Value::from("Microsoft-Windows-Sysmon"))
        );
        assert_eq!(f.get("EventID"), Some(&Value::from("1")));
        assert_eq!(
            f.get("Image"),
            Some(&Value::from("C:\\Windows\\System32\\cmd.exe"))
        );
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
    }

    #[test]
    fn cef_escaped_pipe_in_header() {
        let (_, f) = run(&Parser::Cef, r"CEF:0|V|P\|Q|1|2|n|3|");
        assert_eq!(f.get("DeviceProduct"), Some(&Value::from("P|Q")));
    }

    #[test]
    fn kv_quotes_and_flags() {
        let (_, f) = run(
            &Parser::Kv {
                pair: vec![b' '],
                kv: b'=',
            },
            "[UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 SYN msg='op=login acct=\"root\"' x=\"a b\"",
        );
        assert_eq!(f.get("IN"), Some(&Value::from("eth0")));
        assert_eq!(f.get("OUT"), Some(&Value::from("")));
        assert_eq!(f.get("msg"), Some(&Value::from("op=login acct=\"root\"")));
        assert_eq!(f.get("x"), Some(&Value::from("a b")));
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
    fn csv_quotes() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\",", b','),
            vec!["a", "b,c", "d\"e", ""]
        );
    }

    #[test]
    fn json_flattens() {
        let (r, f) = run(
            &Parser::Json { max_depth: 8 },
            r#"{"a":{"b":1,"c":[1,2]},"d":null,"e":[{"x":1}]}"#,
        );
        assert_eq!(r, Ok(()));
        assert_eq!(f.get("a.b"), Some(&Value::Int(1)));
        assert_eq!(
            f.get("a.c"),
            Some(&Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert!(f.get("d").is_none());
        assert_eq!(f.get("e"), Some(&Value::from(r#"[{"x":1}]"#)));
        assert!(run(&Parser::Json { max_depth: 8 }, "[1]").0.is_err());
    }
}
