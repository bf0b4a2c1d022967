//! The rule file format as written (serde + schemars): correlation rules, active lists and
//! context tables. `docs/correlation.schema.json` is generated from these types. Unknown
//! fields are rejected; durations are text such as `30s`, `5m`, `1h`, `2d`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One rule file: a single rule (the common case), or resources (`active_lists`,
/// `context_tables`), or a list of `rules` plus resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Rules of this file (a file holding a single rule may write it at the top level instead).
    #[serde(default)]
    pub rules: Vec<RawRule>,
    /// Active lists declared by this file.
    #[serde(default)]
    pub active_lists: Vec<RawStore>,
    /// Context tables declared by this file.
    #[serde(default)]
    pub context_tables: Vec<RawStore>,
}

/// The kind of a correlation rule (KUMA's rule types plus sequence and absence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// One selector; fires on every matching event.
    Simple,
    /// Selectors with thresholds, grouped by `group_by`, counted in a window.
    Standard,
    /// Selectors (steps) that must occur in order within the window, with joins across steps.
    Sequence,
    /// The first selector and then no event of the second within the window (per group); with
    /// one selector: a group (host, collector) that sends nothing for the window.
    Absence,
    /// One selector; only updates active lists and context tables (no correlation event).
    Operational,
}

impl RuleKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Simple => "simple",
            RuleKind::Standard => "standard",
            RuleKind::Sequence => "sequence",
            RuleKind::Absence => "absence",
            RuleKind::Operational => "operational",
        }
    }
}

/// When a standard rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// When every selector first reaches its threshold within the window; the rest of that
    /// window (from its first counted event) is skipped, then counting starts again.
    #[default]
    FirstThreshold,
    /// Every time every selector reaches its threshold; the counts restart after each firing.
    EveryThreshold,
    /// Once when the window (opened by the group's first event) ends, if every threshold was
    /// reached in it; decided only when the watermark has passed the window end.
    WindowEnd,
    /// On every matching event while every threshold is reached within the window.
    EveryEvent,
}

/// What happens to an event older than the rule's watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatePolicy {
    /// Counted per rule (metrics, explain) and not evaluated.
    #[default]
    Drop,
    /// Counted, and evaluated in a separate late window per group (its own state, in arrival
    /// order); what it raises is marked `vigil.correlation.late: true`.
    LateWindow,
}

/// Alert severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SeverityName {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    #[default]
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl SeverityName {
    /// The numeric severity of alert events (`event.severity`, as Sigma alerts: 1 info … 5 critical).
    pub fn number(self) -> i64 {
        match self {
            SeverityName::Info => 1,
            SeverityName::Low => 2,
            SeverityName::Medium => 3,
            SeverityName::High => 4,
            SeverityName::Critical => 5,
        }
    }
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityName::Info => "info",
            SeverityName::Low => "low",
            SeverityName::Medium => "medium",
            SeverityName::High => "high",
            SeverityName::Critical => "critical",
        }
    }
}

/// A correlation rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Stable id: state, alerts and tests refer to the rule by it.
    pub id: String,
    /// Version: state is kept across reloads only while id, version and the rule's logic stay
    /// the same. Default 1.
    #[serde(default = "one")]
    pub version: u32,
    /// Name, shown on alerts.
    pub name: String,
    /// What the rule detects and how to respond.
    #[serde(default)]
    pub description: String,
    /// Rule kind.
    pub kind: RuleKind,
    /// Alert severity. Default `medium`.
    #[serde(default)]
    pub severity: SeverityName,
    /// MITRE ATT&CK mapping.
    #[serde(default)]
    pub attack: RawAttack,
    /// Free-form tags copied to the correlation event.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the rule runs. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Window (standard, sequence, absence), e.g. `60s`.
    #[serde(default)]
    pub window: Option<String>,
    /// How late (in event time, behind the newest event seen) an event may arrive and still
    /// be evaluated in order. Default `0s` for simple and operational rules, `30s` otherwise.
    #[serde(default)]
    pub lateness: Option<String>,
    /// What happens to events later than `lateness`. Default `drop` (counted) for standard,
    /// sequence and absence rules; `late_window` for simple and operational rules, whose result
    /// does not depend on order (a late event still fires).
    #[serde(default)]
    pub late_policy: Option<LatePolicy>,
    /// Identical fields: the group (KUMA's bucket) key. Events missing one are counted and not
    /// grouped.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Unique fields (standard): thresholds count distinct values of these fields instead of
    /// events.
    #[serde(default)]
    pub unique: Vec<String>,
    /// Selectors (standard, absence) or steps (sequence); simple and operational rules have one.
    pub selectors: Vec<RawSelector>,
    /// When a standard rule fires. Default `first_threshold`.
    #[serde(default)]
    pub trigger: Trigger,
    /// Standard rules: fire only when the counted events of each selector come at regular
    /// intervals: the standard deviation of the gaps between them is at most this fraction of
    /// their mean (0.1 = 10%). For beaconing. Needs thresholds of at least 3.
    #[serde(default)]
    pub max_jitter: Option<f64>,
    /// At most this many firings per group per period.
    #[serde(default)]
    pub rate_limit: Option<RawRateLimit>,
    /// Fields copied from the last base event into the correlation event (group-by fields are
    /// always copied).
    #[serde(default)]
    pub copy: Vec<String>,
    /// What a firing does.
    #[serde(default)]
    pub actions: RawActions,
    /// Test cases: events and how often the rule must fire on them (`vigil rules test`).
    #[serde(default)]
    pub tests: Vec<RawTest>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// MITRE ATT&CK mapping.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAttack {
    /// Tactics, by name (`credential-access`) or id (`TA0006`).
    #[serde(default)]
    pub tactics: Vec<String>,
    /// Techniques and sub-techniques (`T1110.001`).
    #[serde(default)]
    pub techniques: Vec<String>,
}

/// A selector: which events the rule takes, and (standard) how many of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    /// Name, unique in the rule (shown in explain output; sequence joins refer to it).
    pub name: String,
    /// A query-language filter (docs/query-language.md), e.g.
    /// `event.action:ssh_login AND event.outcome:failure`.
    #[serde(default)]
    pub query: Option<String>,
    /// A Sigma detection block (`{selection: {...}, condition: selection}`).
    #[serde(default)]
    pub sigma: Option<serde_json::Value>,
    /// Membership tests on active lists and context tables, all of which must hold.
    #[serde(default)]
    pub lists: Vec<RawMembership>,
    /// Standard and sequence: events (or distinct `unique` values) needed. Default 1.
    #[serde(default)]
    pub threshold: Option<u64>,
    /// Standard: an event of this selector clears the group's bucket without firing.
    #[serde(default)]
    pub recovery: bool,
    /// Sequence: `this step's field: "<earlier step>.<field>"`, values that must be equal.
    #[serde(default)]
    pub join: BTreeMap<String, String>,
}

/// A membership test (and optional comparison) on an active list or context table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMembership {
    /// The active list or context table.
    pub list: String,
    /// Event fields whose values form the key, in the order of the list's key columns.
    pub key: Vec<String>,
    /// Require the key to be absent instead of present.
    #[serde(default)]
    pub absent: bool,
    /// Compare this column of the entry (the entry must exist).
    #[serde(default)]
    pub column: Option<String>,
    /// Comparison operator. Default `eq`.
    #[serde(default)]
    pub op: Option<CmpName>,
    /// Compare with this constant.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Compare with this event field.
    #[serde(default)]
    pub field: Option<String>,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CmpName {
    /// Equal (strings case-insensitively).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
    /// The column's text contains the value (case-insensitively).
    Contains,
}

/// A per-group rate limit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Firings allowed per period.
    pub max: u32,
    /// The period, e.g. `10m` (event time).
    pub per: String,
}

/// What a firing rule does.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawActions {
    /// Emit a correlation event (type `correlation`). Default true (operational rules: false,
    /// and they may not set it).
    #[serde(default)]
    pub event: Option<bool>,
    /// Hand the correlation event to the core as an alert. Default true.
    #[serde(default = "yes")]
    pub alert: bool,
    /// Feed the correlation event back into the correlator so rules can chain. Default true.
    #[serde(default = "yes")]
    pub r#loop: bool,
    /// Active list and context table updates, in order.
    #[serde(default)]
    pub lists: Vec<RawListAction>,
}

impl Default for RawActions {
    fn default() -> Self {
        RawActions {
            event: None,
            alert: true,
            r#loop: true,
            lists: Vec::new(),
        }
    }
}

/// An operation on an active list or context table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListOp {
    /// Create or replace the entry with the given values.
    Set,
    /// Create the entry or update only the given columns.
    Merge,
    /// Add `by` to a numeric column (creating the entry at 0).
    Increment,
    /// Delete the entry.
    Delete,
    /// Copy the entry's columns into the correlation event as `vigil.list.<list>.<column>`.
    Get,
}

/// One list/table update of a firing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawListAction {
    /// The active list or context table.
    pub list: String,
    /// Operation.
    pub op: ListOp,
    /// Event fields (of the last base event, or group-by fields) whose values form the key.
    pub key: Vec<String>,
    /// Columns set from event fields: `column: field`.
    #[serde(default)]
    pub from: BTreeMap<String, String>,
    /// Columns set to constants: `column: value`.
    #[serde(default)]
    pub set: BTreeMap<String, serde_json::Value>,
    /// `increment`: the column. Default `count`.
    #[serde(default)]
    pub column: Option<String>,
    /// `increment`: the amount. Default 1.
    #[serde(default)]
    pub by: Option<f64>,
    /// Entry time to live, overriding the list's.
    #[serde(default)]
    pub ttl: Option<String>,
}

/// Overflow policy of a full list or table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Evict the least recently updated entry (counted).
    #[default]
    EvictOldest,
    /// Refuse the new entry (counted).
    Reject,
}

/// Where a list lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One instance per tenant.
    #[default]
    Tenant,
    /// One instance shared by all tenants (KUMA's Shared tenant).
    Shared,
}

/// Column type of a context table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Text.
    String,
    /// 64-bit integer.
    Integer,
    /// Floating point.
    Float,
    /// true/false.
    Boolean,
    /// An instant (RFC 3339 in CSV).
    Timestamp,
    /// An IP address.
    Ip,
    /// A list of strings (not a key column).
    Strings,
}

/// An active list or a context table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// Name, unique among lists and tables.
    pub name: String,
    /// What it holds.
    #[serde(default)]
    pub description: String,
    /// Key columns, in order (rules give one event field per key column).
    pub key: Vec<String>,
    /// Context tables: every column with its type (key columns included). Active lists take
    /// any values.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnType>,
    /// Entry time to live (event time), e.g. `24h`; absent or `0s`: entries do not expire.
    #[serde(default)]
    pub ttl: Option<String>,
    /// Most entries per instance. Default 100,000.
    #[serde(default)]
    pub max_entries: Option<usize>,
    /// What a full instance does. Default `evict_oldest`.
    #[serde(default)]
    pub overflow: Overflow,
    /// Per tenant (default) or shared.
    #[serde(default)]
    pub scope: Scope,
}

/// A rule test: events, then how often rules fire.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTest {
    /// What the test shows.
    pub name: String,
    /// Entries to put in active lists/tables first: list name → rows (column → value).
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<BTreeMap<String, serde_json::Value>>>,
    /// Events, in arrival order. Each is a map of field → value, plus `at` (offset from the
    /// test start, e.g. `90s`; default one second after the previous event), `repeat` (emit
    /// the event N times), `every` (spacing of repeats, default `1s`) and `tenant`. In string
    /// values `{i}` is replaced by the repeat index and `{ip}` by an address derived from it.
    pub events: Vec<BTreeMap<String, serde_json::Value>>,
    /// How long after the last event the watermark is moved to at the end (so windows and
    /// absences are decided). Default: the rule's window plus its lateness plus one second.
    #[serde(default)]
    pub advance: Option<String>,
    /// Expected firings.
    pub expect: RawExpect,
}

/// Expected firings of a test.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Firings of the rule under test.
    pub fires: u64,
    /// Firings of other rules on the same events (rule id → count).
    #[serde(default)]
    pub also: BTreeMap<String, u64>,
    /// Group-by values of the rule's first firing (field → value).
    #[serde(default)]
    pub group: BTreeMap<String, String>,
}
