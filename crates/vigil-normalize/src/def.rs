//! Normalizer definitions as written in YAML (the raw side of the config/runtime split).
//!
//! These types only describe; [`crate::Library::compile`] validates them (every problem with its
//! path) and builds the runtime [`crate::Normalizer`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// One normalizer: a parser, the mapping of its fields to the schema, the ECS categorization,
/// and the extra normalizers applied to fields of the result (KUMA's normalizer tree).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizerDef {
    /// Unique name (`sshd`, `suricata-eve`); extra normalizers refer to others by it.
    pub name: String,
    /// What the normalizer reads.
    #[serde(default)]
    pub description: Option<String>,
    /// Product, for documentation and `--suggest` (`OpenSSH`).
    #[serde(default)]
    pub product: Option<String>,
    /// A cheap test of the raw line saying "this normalizer may fit": used by
    /// `--normalizer auto` to choose, per line, which normalizer to run.
    #[serde(default)]
    pub detect: Option<ConditionDef>,
    /// Routes that hand the whole input to another normalizer, chosen by the sender
    /// (`vigil.peer:10.1.0.0/16`), the host, or a test of the raw line. The first route whose
    /// condition holds wins; when none does, this normalizer's own parser runs.
    #[serde(default)]
    pub select: Vec<ExtraDef>,
    /// How the input is parsed into fields.
    #[serde(default)]
    pub parser: Option<ParserDef>,
    /// Keep the parsed fields as the event's original fields (default true).
    #[serde(default)]
    pub keep_original: Option<bool>,
    /// Source field → schema field, with conversions and transforms; constants; templates.
    #[serde(default)]
    pub mapping: Vec<MapDef>,
    /// Constant fields set on every event (`event.module: sshd`).
    #[serde(default)]
    pub set: BTreeMap<String, ConstDef>,
    /// Conditional categorization: the first entry whose condition holds sets its fields.
    #[serde(default)]
    pub categorize: Vec<CategorizeDef>,
    /// Extra normalizers applied to a field of the result when a condition holds.
    #[serde(default)]
    pub extra: Vec<ExtraDef>,
    /// Dictionaries for the `lookup` transform: name → key → value.
    #[serde(default)]
    pub dictionaries: BTreeMap<String, BTreeMap<String, String>>,
    /// Named sub-normalizers defined with this one, referable by name from any normalizer.
    #[serde(default)]
    pub definitions: Vec<NormalizerDef>,
}

/// A constant: a string, a number, a boolean or a list of strings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ConstDef {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(String),
    /// A list of strings (`event.category: [authentication, session]`).
    List(Vec<String>),
}

/// A parser and its options, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ParserDef {
    /// RFC 3164 / 5424 header into `@timestamp`, `host.name`, `process.*`, `log.syslog.*`;
    /// the message into `message`; structured data as fields `SDID.param`.
    Syslog {
        /// Time zone of timestamps without an offset (default: the context's, UTC).
        #[serde(default)]
        timezone: Option<String>,
        /// Treat a missing `<PRI>` as an error (default false: log files have none).
        #[serde(default)]
        require_pri: bool,
    },
    /// A JSON object, flattened into dotted names (`id.orig_h`, `actor.alternateId`).
    Json {
        /// Deepest nesting accepted (default 32, at most 64); a deeper record fails to parse
        /// (it is kept raw with `vigil.parse_error`). Objects inside arrays are kept as their
        /// JSON text.
        #[serde(default)]
        max_depth: Option<usize>,
    },
    /// `key=value` pairs.
    Kv {
        /// Between pairs (default: blank, meaning any run of blanks); `; `, `,`, `&` work.
        #[serde(default)]
        pair_separator: Option<String>,
        /// Between key and value (default `=`).
        #[serde(default)]
        kv_separator: Option<String>,
    },
    /// Regular expressions with named groups; the first that matches wins.
    Regex {
        /// The patterns, tried in order.
        patterns: Vec<PatternDef>,
    },
    /// Delimited values with named columns.
    Csv {
        /// Column names in order; empty names skip a column.
        columns: Vec<String>,
        /// The delimiter (default `,`).
        #[serde(default)]
        delimiter: Option<String>,
    },
    /// ArcSight CEF: header fields and extension.
    Cef {},
    /// IBM LEEF 1.0 / 2.0.
    Leef {},
    /// Generic XML: element paths as dotted names, attributes as `path.@attr`.
    Xml {},
    /// Windows event XML (`<Event><System>…<EventData>`): System fields and EventData by name.
    Winxml {},
}

/// One regex pattern, optionally with an id stored in the field `pattern` when it matches.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PatternDef {
    /// Just the regex.
    Plain(String),
    /// A regex with an id (`{id: accepted, regex: '^Accepted ...'}`).
    Named {
        /// The id.
        id: String,
        /// The regex.
        regex: String,
    },
}

/// One mapping entry: exactly one of `from`, `value`, `template` gives the value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapDef {
    /// Source field (a parsed field, else a field of the event so far).
    #[serde(default)]
    pub from: Option<String>,
    /// A constant.
    #[serde(default)]
    pub value: Option<ConstDef>,
    /// A template: `{field}` is replaced by a field's value (`{user}@{domain}`).
    #[serde(default)]
    pub template: Option<String>,
    /// Schema field (or any dotted name, kept in `extra`).
    pub to: String,
    /// Conversion: string, int, float, bool, ip, timestamp, duration.
    #[serde(default)]
    pub convert: Option<String>,
    /// For `timestamp`: a chrono format (`%d/%b/%Y:%H:%M:%S %z`); default: any common format.
    #[serde(default)]
    pub format: Option<String>,
    /// For `timestamp` without an offset: the time zone (default: the context's).
    #[serde(default)]
    pub timezone: Option<String>,
    /// For `duration` from a bare number: s, ms, us or ns (default s).
    #[serde(default)]
    pub unit: Option<String>,
    /// Transforms applied in order before the conversion.
    #[serde(default)]
    pub transform: Vec<TransformDef>,
    /// Only map when this condition holds (evaluated on the event so far).
    #[serde(default)]
    pub when: Option<ConditionDef>,
}

/// A transform: `lowercase`, `uppercase`, `trim`, or one of the keyed forms.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TransformDef {
    /// `lowercase`, `uppercase`, `trim`.
    Simple(String),
    /// `{replace: {regex, with}}`, `{split: ","}`, `{lookup: dict}`, `{default: x}`.
    Keyed(BTreeMap<String, yaml_serde::Value>),
}

/// A conditional categorization entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorizeDef {
    /// The condition.
    pub when: ConditionDef,
    /// Fields to set (constants).
    pub set: BTreeMap<String, ConstDef>,
}

/// An extra normalizer (or a route of `select`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraDef {
    /// The field whose text the child parses (default `message`; ignored by `select`).
    #[serde(default)]
    pub field: Option<String>,
    /// When to apply it (default: always when the field is present).
    #[serde(default)]
    pub when: Option<ConditionDef>,
    /// The child: a name or an inline definition.
    pub normalizer: ChildDef,
}

/// A child normalizer by name or inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChildDef {
    /// By name.
    Name(String),
    /// Inline.
    Inline(Box<NormalizerDef>),
}

/// A condition: a query of Vigil's language over the event (`process.name:sshd`,
/// `vigil.peer:10.0.0.0/8`), or a predicate on text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // built once per definition, never on the hot path
pub enum ConditionDef {
    /// A query.
    Query(String),
    /// A predicate.
    Predicate(PredicateDef),
}

/// Text predicates; all given ones must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredicateDef {
    /// The field tested (default: the input text: the raw line, or the extra's field).
    #[serde(default)]
    pub field: Option<String>,
    /// Text starts with this.
    #[serde(default)]
    pub starts_with: Option<String>,
    /// Text contains this.
    #[serde(default)]
    pub contains: Option<String>,
    /// Text contains every one of these.
    #[serde(default)]
    pub contains_all: Vec<String>,
    /// Text contains at least one of these.
    #[serde(default)]
    pub contains_any: Vec<String>,
    /// Text equals this.
    #[serde(default)]
    pub equals: Option<String>,
    /// Text matches this regex.
    #[serde(default)]
    pub regex: Option<String>,
    /// A query over the event, combined with the above.
    #[serde(default)]
    pub query: Option<String>,
    /// Any of these conditions holds.
    #[serde(default)]
    pub any: Vec<ConditionDef>,
    /// None of these holds.
    #[serde(default)]
    pub not: Vec<ConditionDef>,
}
