//! The stateful correlator: selectors → facts → per-rule reorder buffers → buckets → firings
//! → actions (correlation events, list updates), on event time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

/// Hash maps on the hot path (group keys, prefilter values): foldhash, seeded per process
/// (group keys come from event fields an attacker can choose).
type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;
use vigil_detect::{FieldValue, SigmaEvent};
use vigil_event::{Event, EventType, FieldId, Timestamp, Ulid, Value, ValueRef};
use vigil_query::Record;

use crate::compile::{Rule, Rules, split_sigma_id};
use crate::raw::{CmpName, LatePolicy, ListOp, RuleKind, SeverityName, Trigger};
use crate::store::{Entry, Expired, Key, StoreKind, StoreStats, Stores, value_text};

/// Version of the snapshot format.
pub const SNAPSHOT_VERSION: u32 = 2;

/// Limits of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How many times a correlation event may loop back (a chain of rules at most this deep).
    pub max_depth: u8,
    /// Most groups (buckets) per rule; beyond, the least recently updated 10% are evicted
    /// (counted in [`RuleStats::evicted`]).
    pub max_groups_per_rule: usize,
    /// Most groups over all rules (same eviction, on the rule that inserts).
    pub max_groups_total: usize,
    /// Most buffered (not yet released) events per rule; beyond, the oldest is released
    /// early (counted in [`RuleStats::forced_releases`]).
    pub max_pending_per_rule: usize,
    /// Most partial matches per group of a sequence rule (oldest dropped, counted).
    pub max_partials: usize,
    /// Most base event ids carried by one correlation event.
    pub max_base_ids: usize,
    /// Late events remembered per rule for explain.
    pub late_samples: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_depth: 4,
            max_groups_per_rule: 1_000_000,
            max_groups_total: 4_000_000,
            max_pending_per_rule: 1_000_000,
            max_partials: 32,
            max_base_ids: 100,
            late_samples: 16,
        }
    }
}

/// Counters of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStats {
    /// Selector evaluations (the rule's evaluation cost, in selector tests).
    pub evaluated: u64,
    /// Events that matched at least one selector.
    pub matched: u64,
    /// Matching events without a group-by field (not grouped).
    pub missing_group: u64,
    /// Events older than the rule's watermark when they arrived.
    pub late: u64,
    /// Late events dropped (`late_policy: drop`).
    pub late_dropped: u64,
    /// Firings (correlation events or list updates).
    pub fired: u64,
    /// Firings suppressed by the rate limit.
    pub rate_limited: u64,
    /// Buckets cleared by a recovery selector (or absences satisfied).
    pub recovered: u64,
    /// Events skipped because their group already fired in the window (`first_threshold`).
    pub skipped: u64,
    /// Buckets evicted by the group caps.
    pub evicted: u64,
    /// Partial sequence matches dropped by the partial cap.
    pub partials_dropped: u64,
    /// Events released before their time because the reorder buffer was full.
    pub forced_releases: u64,
    /// Correlation events not looped back because the chain was at the depth limit.
    pub depth_exceeded: u64,
}

/// What the engine hands to its caller.
#[derive(Debug, Clone)]
pub struct Output {
    /// The correlation event (type `correlation`) or service event (type `monitoring`).
    pub event: Event,
    /// The rule that fired (None for service events).
    pub rule: Option<Arc<Rule>>,
    /// Whether the core should raise an alert for it.
    pub alert: bool,
    /// Alert severity.
    pub severity: Option<SeverityName>,
}

/// A matched event as a rule keeps it: only what the rule needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fact {
    ts: i64,
    id: u128,
    seq: u64,
    tenant: SmolStr,
    mask: u64,
    group: Vec<SmolStr>,
    unique: Option<SmolStr>,
    caps: Vec<Option<SmolStr>>,
    depth: u8,
}

/// A buffered fact with its order key: earliest event time, then id, then arrival.
struct Pend {
    key: (i64, u128, u64),
    fact: Fact,
}

impl Pend {
    fn new(fact: Fact) -> Pend {
        Pend {
            key: (fact.ts, fact.id, fact.seq),
            fact,
        }
    }
}

/// A fact out of order, in the heap: the key inline (comparisons touch no other memory), the
/// fact boxed (sifting moves 48 bytes, not the whole fact).
struct HeapPend {
    key: (i64, u128, u64),
    fact: Box<Fact>,
}

impl PartialEq for HeapPend {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for HeapPend {}
impl PartialOrd for HeapPend {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for HeapPend {
    fn cmp(&self, o: &Self) -> Ordering {
        // min-heap: earliest event time, then id, then arrival
        o.key.cmp(&self.key)
    }
}

/// A rule's reorder buffer: facts that arrive in order (the common case) are appended to a
/// sorted run in O(1), inline; the others go to a heap; the next due fact is the smaller of
/// the two fronts.
#[derive(Default)]
struct Buffer {
    run: VecDeque<Pend>,
    heap: BinaryHeap<HeapPend>,
}

impl Buffer {
    fn push(&mut self, p: Pend) {
        if self.run.back().is_none_or(|b| b.key <= p.key) {
            self.run.push_back(p);
        } else {
            self.heap.push(HeapPend {
                key: p.key,
                fact: Box::new(p.fact),
            });
        }
    }
    fn peek_key(&self) -> Option<(i64, u128, u64)> {
        match (self.run.front(), self.heap.peek()) {
            (Some(a), Some(b)) => Some(a.key.min(b.key)),
            (Some(a), None) => Some(a.key),
            (None, b) => b.map(|p| p.key),
        }
    }
    fn pop(&mut self) -> Option<Pend> {
        let from_run = match (self.run.front(), self.heap.peek()) {
            (Some(a), Some(b)) => a.key <= b.key,
            (Some(_), None) => true,
            _ => false,
        };
        if from_run {
            self.run.pop_front()
        } else {
            self.heap.pop().map(|h| Pend {
                key: h.key,
                fact: *h.fact,
            })
        }
    }
    fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }
    fn facts(&self) -> impl Iterator<Item = &Fact> {
        self.run
            .iter()
            .map(|p| &p.fact)
            .chain(self.heap.iter().map(|h| &*h.fact))
    }
}

impl FromIterator<Pend> for Buffer {
    fn from_iter<I: IntoIterator<Item = Pend>>(it: I) -> Buffer {
        let mut b = Buffer::default();
        for p in it {
            b.push(p);
        }
        b
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CEntry {
    ts: i64,
    id: u128,
    uniq: Option<SmolStr>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StdBucket {
    sels: Vec<VecDeque<CEntry>>,
    totals: Vec<u64>,
    skip_until: Option<i64>,
    window_start: Option<i64>,
    fired_in_window: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Partial {
    start: i64,
    last: i64,
    step: usize,
    count: u64,
    caps: Vec<Vec<Option<SmolStr>>>,
    ids: Vec<(u128, u16)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SeqBucket {
    partials: Vec<Partial>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AbsBucket {
    deadline: Option<i64>,
    start: i64,
    ids: Vec<u128>,
    /// The deadline of the one timer this group has pending (a silent group's deadline moves
    /// with every event; its timer is re-armed when it comes due, not pushed per event).
    timer_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Logic {
    Std(StdBucket),
    Seq(SeqBucket),
    Abs(AbsBucket),
    Plain,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bucket {
    logic: Logic,
    last: i64,
    caps: Vec<Option<SmolStr>>,
    fires: VecDeque<i64>,
}

type GKey = Vec<SmolStr>;

/// One tenant's event time: the newest event time seen of the tenant, and how far the caller
/// declared its input complete ([`Engine::advance_tenant_watermark`]).
#[derive(Debug, Clone)]
struct Clock {
    tenant: SmolStr,
    max_ts: i64,
    declared: i64,
}

/// A rule's time-ordered state for one tenant: the reorder buffer, the timers (window ends,
/// absence deadlines) of the tenant's groups, and the frontier (the watermark as of the last
/// release: a fact before it is late). Tenants do not share a lane, so one tenant's clock
/// never decides another's windows.
struct Lane {
    pending: Buffer,
    timers: BinaryHeap<Reverse<(i64, bool, GKey)>>,
    frontier: i64,
}

impl Default for Lane {
    fn default() -> Lane {
        Lane {
            pending: Buffer::default(),
            timers: BinaryHeap::new(),
            frontier: i64::MIN,
        }
    }
}

/// The watermark of a rule with lateness `lateness` for clock `c`.
fn clock_wm(c: &Clock, lateness: i64, declared_all: i64) -> i64 {
    c.max_ts
        .saturating_sub(lateness)
        .max(c.declared)
        .max(declared_all)
}

#[derive(Default)]
struct RuleState {
    /// Per tenant clock (the index into `Engine::clocks`).
    lanes: Vec<Lane>,
    groups: FastMap<GKey, Bucket>,
    late_groups: FastMap<GKey, Bucket>,
    last_sweep: i64,
    stats: RuleStats,
    late_samples: VecDeque<(i64, u128)>,
    /// Evaluation cost since start (not snapshotted): selector tests, and the time of one
    /// test in [`COST_SAMPLE`] measured.
    cost: Cost,
}

impl RuleState {
    fn pending_len(&self) -> usize {
        self.lanes.iter().map(|l| l.pending.len()).sum()
    }
    fn timers_len(&self) -> usize {
        self.lanes.iter().map(|l| l.timers.len()).sum()
    }
    fn lane(&mut self, ci: usize) -> &mut Lane {
        if self.lanes.len() <= ci {
            self.lanes.resize_with(ci + 1, Lane::default);
        }
        &mut self.lanes[ci]
    }
}

/// A routing field's index: lowercase value → the selectors (global ids) it routes to, each
/// with the bits of its conditions that the value satisfies.
type RouteMap = FastMap<String, Vec<(usize, u64)>>;

/// One selector test in this many is timed for a rule's evaluation cost.
const COST_SAMPLE: u64 = 64;

/// A rule's measured evaluation cost since the engine started.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    tests: u64,
    sampled: u64,
    sampled_ns: u64,
}

impl std::fmt::Debug for RuleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleState")
            .field("lanes", &self.lanes.len())
            .field("pending", &self.pending_len())
            .field("groups", &self.groups.len())
            .finish()
    }
}

struct Firing {
    rule: usize,
    key: GKey,
    first: i64,
    last: i64,
    count: u64,
    base: Vec<(u128, u16)>,
    caps: Vec<Option<SmolStr>>,
    late: bool,
    depth: u8,
}

/// The correlator. Build it from [`Rules`], feed it batches of events with
/// [`Engine::process`], move time on with [`Engine::advance_watermark`], save and restore it
/// with [`Engine::snapshot`] and [`Engine::restore`].
#[derive(Debug)]
pub struct Engine {
    rules: Arc<Rules>,
    opts: EngineOptions,
    stores: Stores,
    states: Vec<RuleState>,
    /// (rule, selector) of each Sigma rule of the shared set, by its index.
    sigma_ids: HashMap<String, (usize, usize)>,
    /// Prefilter: field → lowercase value → selectors (global ids), each with the bits of its
    /// conditions that the value satisfies.
    routes: Vec<(FieldRef, RouteMap)>,
    /// Per selector (global id): the bits of the conditions that must all hold for it to be
    /// a candidate (see `routes`).
    need: Vec<u64>,
    /// Per selector, the conditions seen to hold on the current event (valid when its `cand`
    /// stamp is the current one).
    hits: Vec<u64>,
    /// Per rule, its fields resolved once.
    fields: Vec<RuleFieldRefs>,
    /// Selectors without a route but with a required field: tested on events that have it.
    exists_routes: Vec<(FieldRef, Vec<usize>)>,
    /// Selectors without a route, tested on every event.
    unrouted: Vec<usize>,
    /// Global selector id → (rule, selector).
    sel_ids: Vec<(usize, usize)>,
    /// Per rule, the global id of its first selector.
    sel_base: Vec<usize>,
    /// Global selector id → its query's class (selectors with the same query text share one).
    filter_class: Vec<u32>,
    /// Per class, the event stamp it was last evaluated on, and the result.
    class_seen: Vec<u32>,
    class_hit: Vec<bool>,
    /// Per tenant: its event time (see [`Clock`]); `clock_ids` finds a tenant's.
    clocks: Vec<Clock>,
    clock_ids: FastMap<SmolStr, usize>,
    /// The clock of the previous event (batches are mostly of one tenant).
    last_clock: usize,
    /// Declared for every tenant ([`Engine::advance_watermark`]).
    declared_wm: i64,
    seq: u64,
    groups_total: usize,
    loopq: VecDeque<(Event, u8)>,
    // scratch
    cand: Vec<u32>,
    cand_gen: u32,
    masks: Vec<u64>,
    /// Reused per matched rule: the group key being built.
    scratch_key: GKey,
    /// Reused per event: candidate selectors, touched rules, matched (rule, mask) pairs.
    scratch_cands: Vec<usize>,
    scratch_touched: Vec<usize>,
    scratch_matched: Vec<(usize, u64)>,
    /// Events (depth 0) processed since start, for the cost per event.
    events_in: u64,
}

/// An event as the Sigma engine reads it: the source's own field names first, then Vigil's.
pub(crate) struct SigmaRef<'a>(pub &'a Event);

fn with_value(v: ValueRef<'_>, f: &mut dyn FnMut(FieldValue<'_>)) {
    match v {
        ValueRef::Null => f(FieldValue::Null),
        ValueRef::Str(s) => f(FieldValue::Str(s)),
        ValueRef::Int(i) => f(FieldValue::Int(i)),
        ValueRef::Float(x) => f(FieldValue::Float(x)),
        ValueRef::Bool(b) => f(FieldValue::Bool(b)),
        ValueRef::Ip(ip) => f(FieldValue::Str(&ip.to_string())),
        ValueRef::Time(t) => f(FieldValue::Str(&Timestamp(t).to_rfc3339())),
    }
}

impl SigmaEvent for SigmaRef<'_> {
    fn field(&self, name: &str, f: &mut dyn FnMut(FieldValue<'_>)) {
        if let Some(v) = self.0.original.get(name) {
            v.visit(&mut |x| with_value(x, f));
            return;
        }
        self.0.visit_field(name, &mut |x| with_value(x, f));
    }
    fn all_values(&self, f: &mut dyn FnMut(&str)) {
        let ev = self.0;
        f(&ev.raw_str());
        if let Some(m) = &ev.message {
            f(m);
        }
        for (_, v) in ev.original.iter().chain(ev.extra.iter()) {
            v.visit(&mut |x| {
                if let ValueRef::Str(s) = x {
                    f(s)
                }
            });
        }
    }
}

fn ref_text(v: ValueRef<'_>) -> Option<SmolStr> {
    Some(match v {
        ValueRef::Null => return None,
        ValueRef::Str(s) => SmolStr::new(s),
        // formatted into the inline buffer: no allocation for numbers and addresses
        ValueRef::Int(i) => smol_str::format_smolstr!("{i}"),
        ValueRef::Float(x) => smol_str::format_smolstr!("{x}"),
        ValueRef::Bool(b) => SmolStr::new_static(if b { "true" } else { "false" }),
        ValueRef::Ip(ip) => smol_str::format_smolstr!("{ip}"),
        ValueRef::Time(t) => SmolStr::new(Timestamp(t).to_rfc3339()),
    })
}

/// A field resolved once: registered fields are read by id, without a name lookup per event.
#[derive(Debug, Clone)]
struct FieldRef {
    name: String,
    id: Option<FieldId>,
}

impl FieldRef {
    fn new(name: &str) -> FieldRef {
        FieldRef {
            name: name.to_string(),
            id: FieldId::lookup(name),
        }
    }
    fn visit(&self, ev: &Event, f: &mut dyn FnMut(ValueRef<'_>)) {
        match self.id {
            Some(id) => id.def().visit(ev, f),
            None => ev.visit_field(&self.name, f),
        }
    }
    fn first_text(&self, ev: &Event) -> Option<SmolStr> {
        let mut out = None;
        self.visit(ev, &mut |v| {
            if out.is_none() {
                out = ref_text(v);
            }
        });
        out.filter(|s| !s.is_empty())
    }
}

/// The fields a rule reads from every matching event.
#[derive(Debug)]
struct RuleFieldRefs {
    group: Vec<FieldRef>,
    unique: Vec<FieldRef>,
    caps: Vec<FieldRef>,
}

/// The first value of a field as text.
pub(crate) fn first_text(ev: &Event, field: &str) -> Option<SmolStr> {
    let mut out = None;
    ev.visit_field(field, &mut |v| {
        if out.is_none() {
            out = ref_text(v);
        }
    });
    out.filter(|s| !s.is_empty())
}

fn cmp_values(a: &Value, op: CmpName, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) => Some(*x),
        Value::Str(s) => s.trim().parse::<f64>().ok(),
        Value::Time(t) => Some(*t as f64),
        _ => None,
    };
    let ord = match (num(a), num(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(
            value_text(a)
                .to_lowercase()
                .cmp(&value_text(b).to_lowercase()),
        ),
    };
    match op {
        CmpName::Eq => ord == Some(Ordering::Equal),
        CmpName::Ne => ord != Some(Ordering::Equal),
        CmpName::Gt => ord == Some(Ordering::Greater),
        CmpName::Gte => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpName::Lt => ord == Some(Ordering::Less),
        CmpName::Lte => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpName::Contains => value_text(a)
            .to_lowercase()
            .contains(&value_text(b).to_lowercase()),
    }
}

impl Engine {
    /// An engine running these rules.
    pub fn new(rules: Rules, opts: EngineOptions) -> Engine {
        Engine::from_rules(Arc::new(rules), opts)
    }

    /// An engine sharing a rule set (tests, retroscan).
    pub fn from_rules(rules: Arc<Rules>, opts: EngineOptions) -> Engine {
        let stores = Stores::new(rules.stores.clone());
        let mut sel_ids = Vec::new();
        let mut route_map: BTreeMap<String, RouteMap> = BTreeMap::new();
        let mut unrouted = Vec::new();
        let mut exists_map: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut sel_base = Vec::with_capacity(rules.rules.len());
        let mut filter_class = Vec::new();
        let mut need = Vec::new();
        let mut class_of: HashMap<&str, u32> = HashMap::new();
        for (ri, r) in rules.rules.iter().enumerate() {
            sel_base.push(sel_ids.len());
            for (si, s) in r.selectors.iter().enumerate() {
                let g = sel_ids.len();
                sel_ids.push((ri, si));
                let next = class_of.len() as u32;
                filter_class.push(match &s.query_text {
                    Some(q) => *class_of.entry(q.as_str()).or_insert(next),
                    None => u32::MAX,
                });
                // bit 0: the route (or any of the `OR` routes, or the required field); bits
                // 1..: the further conditions of the `AND` (at most 63 of them are used)
                let mut add = |field: &String, values: &Vec<String>, bit: u64| {
                    let m = route_map.entry(field.clone()).or_default();
                    for v in values {
                        let e = m.entry(v.clone()).or_default();
                        match e.iter_mut().find(|(x, _)| *x == g) {
                            Some((_, b)) => *b |= bit,
                            None => e.push((g, bit)),
                        }
                    }
                };
                let mut mask = 1u64;
                if s.sigma {
                    need.push(mask);
                    continue; // candidates come from the Sigma set
                }
                match &s.route {
                    Some((field, values)) => {
                        add(field, values, 1);
                        for (i, (field, values)) in s.extra_routes.iter().take(63).enumerate() {
                            add(field, values, 1 << (i + 1));
                            mask |= 1 << (i + 1);
                        }
                    }
                    None if !s.any_routes.is_empty() => {
                        for (field, values) in &s.any_routes {
                            add(field, values, 1);
                        }
                    }
                    None => match &s.requires {
                        Some(f) => exists_map.entry(f.clone()).or_default().push(g),
                        None => unrouted.push(g),
                    },
                }
                need.push(mask);
            }
        }
        let mut sigma_ids = HashMap::new();
        if let Some(set) = &rules.sigma {
            for info in set.rules() {
                if let Some(pair) = split_sigma_id(&info.id) {
                    sigma_ids.insert(info.id.clone(), pair);
                }
            }
        }
        let states = (0..rules.rules.len())
            .map(|_| RuleState {
                last_sweep: i64::MIN,
                ..RuleState::default()
            })
            .collect();
        let n_sel = sel_ids.len();
        let n_classes = class_of.len();
        // a selector without query text has no filter; give it a class of its own anyway
        for c in filter_class.iter_mut().filter(|c| **c == u32::MAX) {
            *c = n_classes as u32;
        }
        drop(class_of);
        let n_rules = rules.rules.len();
        let fields = rules
            .rules
            .iter()
            .map(|r| RuleFieldRefs {
                group: r.group_by.iter().map(|f| FieldRef::new(f)).collect(),
                unique: r.unique.iter().map(|f| FieldRef::new(f)).collect(),
                caps: r.captures.iter().map(|f| FieldRef::new(f)).collect(),
            })
            .collect();
        Engine {
            rules,
            opts,
            stores,
            states,
            sigma_ids,
            routes: route_map
                .into_iter()
                .map(|(f, m)| (FieldRef::new(&f), m))
                .collect(),
            fields,
            exists_routes: exists_map
                .into_iter()
                .map(|(f, ids)| (FieldRef::new(&f), ids))
                .collect(),
            unrouted,
            sel_ids,
            sel_base,
            filter_class,
            class_seen: vec![0; n_classes + 1],
            class_hit: vec![false; n_classes + 1],
            clocks: Vec::new(),
            clock_ids: FastMap::default(),
            last_clock: 0,
            declared_wm: i64::MIN,
            seq: 0,
            groups_total: 0,
            loopq: VecDeque::new(),
            cand: vec![0; n_sel],
            need,
            hits: vec![0; n_sel],
            cand_gen: 0,
            masks: vec![0; n_rules],
            scratch_key: Vec::new(),
            scratch_cands: Vec::new(),
            scratch_touched: Vec::new(),
            scratch_matched: Vec::new(),
            events_in: 0,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The rules, shared (a retroscan against the rules running replays them on engines of
    /// its own).
    pub fn shared_rules(&self) -> Arc<Rules> {
        self.rules.clone()
    }

    /// Active lists and context tables (read, CSV import/export, CRUD).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Mutable access to lists and tables (API and CLI CRUD, CSV import).
    pub fn stores_mut(&mut self) -> &mut Stores {
        &mut self.stores
    }

    /// Newest event time seen over all tenants (ns), `i64::MIN` before the first event.
    pub fn max_event_time(&self) -> i64 {
        self.clocks
            .iter()
            .map(|c| c.max_ts)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Per tenant seen: the newest event time of the tenant (ns). Each tenant's windows and
    /// absences run on its own clock.
    pub fn tenant_event_times(&self) -> Vec<(SmolStr, i64)> {
        self.clocks
            .iter()
            .map(|c| (c.tenant.clone(), c.max_ts))
            .collect()
    }

    /// The watermark of a rule for one tenant: that tenant's events before it are late for
    /// the rule. It follows the tenant's own newest event time (minus the rule's lateness)
    /// and what was declared for it or for all tenants, never another tenant's events.
    pub fn tenant_watermark(&self, rule: usize, tenant: &str) -> i64 {
        let lateness = self.rules.rules[rule].lateness_ns;
        match self.clock_ids.get(tenant) {
            Some(&ci) => clock_wm(&self.clocks[ci], lateness, self.declared_wm),
            None => self.declared_wm,
        }
    }

    /// The newest of a rule's per-tenant watermarks (what a report shows for the rule).
    pub fn watermark(&self, rule: usize) -> i64 {
        let lateness = self.rules.rules[rule].lateness_ns;
        self.clocks
            .iter()
            .map(|c| clock_wm(c, lateness, self.declared_wm))
            .max()
            .unwrap_or(self.declared_wm)
    }

    fn lane_wm(&self, ri: usize, ci: usize) -> i64 {
        clock_wm(
            &self.clocks[ci],
            self.rules.rules[ri].lateness_ns,
            self.declared_wm,
        )
    }

    /// The clock of `tenant`, created at its first event.
    fn clock_of(&mut self, tenant: &SmolStr) -> usize {
        if self
            .clocks
            .get(self.last_clock)
            .is_some_and(|c| c.tenant == *tenant)
        {
            return self.last_clock;
        }
        let ci = match self.clock_ids.get(tenant) {
            Some(&ci) => ci,
            None => {
                self.clocks.push(Clock {
                    tenant: tenant.clone(),
                    max_ts: i64::MIN,
                    declared: i64::MIN,
                });
                self.clock_ids.insert(tenant.clone(), self.clocks.len() - 1);
                self.clocks.len() - 1
            }
        };
        self.last_clock = ci;
        ci
    }

    /// Counters of a rule.
    pub fn stats(&self, rule: usize) -> &RuleStats {
        &self.states[rule].stats
    }

    /// Index of a rule by id.
    pub fn rule_index(&self, id: &str) -> Option<usize> {
        self.rules.rules.iter().position(|r| r.id == id)
    }

    /// Evaluates a batch of events (in arrival order) and returns what fired. Correlation
    /// events are looped back (up to the depth limit) and returned too.
    pub fn process(&mut self, events: &[Event]) -> Vec<Output> {
        let mut out = Vec::new();
        for ev in events {
            self.ingest(ev, 0, &mut out);
        }
        self.release(&mut out);
        out
    }

    /// Declares that no event older than `ts` (ns) will arrive any more, of any tenant (the
    /// end of a replay, an input idle as a whole): windows and absences up to it are decided.
    /// Never moves back.
    pub fn advance_watermark(&mut self, ts: i64) -> Vec<Output> {
        self.declared_wm = self.declared_wm.max(ts);
        let mut out = Vec::new();
        self.release(&mut out);
        out
    }

    /// As [`Engine::advance_watermark`], for one tenant only (a tenant whose sources went
    /// quiet while others still send): its windows and absences up to `ts` are decided, the
    /// other tenants' wait for their own events.
    pub fn advance_tenant_watermark(&mut self, tenant: &str, ts: i64) -> Vec<Output> {
        let ci = self.clock_of(&SmolStr::new(tenant));
        let c = &mut self.clocks[ci];
        c.declared = c.declared.max(ts);
        let mut out = Vec::new();
        self.release(&mut out);
        out
    }

    /// The rules whose selectors match `ev`, each with the mask of its matching selectors,
    /// in rule order, into `matched`.
    fn match_selectors(&mut self, ev: &Event, matched: &mut Vec<(usize, u64)>) {
        self.cand_gen = self.cand_gen.wrapping_add(1);
        if self.cand_gen == 0 {
            self.cand.iter_mut().for_each(|c| *c = 0);
            self.class_seen.iter_mut().for_each(|c| *c = 0);
            self.cand_gen = 1;
        }
        let stamp = self.cand_gen;
        let mut cands = std::mem::take(&mut self.scratch_cands);
        cands.clear();
        let cand = &mut self.cand;
        let hits = &mut self.hits;
        // a number with a fraction or a time is compared by the query on another text than
        // the route's: the selectors the prefilter decides are then evaluated after all
        let mut inexact = false;
        for (field, map) in &self.routes {
            let mut hit = |text: &str| {
                if let Some(ids) = map.get(text) {
                    for &(g, bit) in ids {
                        if cand[g] != stamp {
                            cand[g] = stamp;
                            hits[g] = 0;
                            cands.push(g);
                        }
                        hits[g] |= bit;
                    }
                }
            };
            field.visit(ev, &mut |v| match v {
                ValueRef::Str(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) && s.is_ascii() => {
                    hit(s)
                }
                ValueRef::Str(s) => hit(&s.to_lowercase()),
                ValueRef::Int(i) => hit(&smol_str::format_smolstr!("{i}")),
                other => {
                    inexact |= matches!(other, ValueRef::Float(_) | ValueRef::Time(_));
                    if let Some(t) = ref_text(other) {
                        hit(&t.to_lowercase())
                    }
                }
            });
        }
        // a selector is a candidate when all its conditions hold
        let need = &self.need;
        cands.retain(|&g| hits[g] == need[g]);
        for (field, ids) in &self.exists_routes {
            let mut has = false;
            field.visit(ev, &mut |v| has |= !matches!(v, ValueRef::Null));
            if has {
                for &g in ids {
                    if cand[g] != stamp {
                        cand[g] = stamp;
                        cands.push(g);
                    }
                }
            }
        }
        cands.extend(self.unrouted.iter().copied());
        let mut sigma_hits: Vec<(usize, usize)> = Vec::new();
        if let Some(set) = &self.rules.sigma {
            let mut dets = Vec::new();
            set.matches(&SigmaRef(ev), &mut dets);
            for d in dets {
                if let Some(&pair) = self.sigma_ids.get(&d.rule.id) {
                    sigma_hits.push(pair);
                }
            }
        }
        let mut touched = std::mem::take(&mut self.scratch_touched);
        touched.clear();
        let rules = self.rules.clone();
        let derived_event = matches!(ev.meta.kind, EventType::Correlation | EventType::Monitoring);
        let sel_base = &self.sel_base;
        let classes = &self.filter_class;
        let class_seen = &mut self.class_seen;
        let class_hit = &mut self.class_hit;
        let mut check = |ri: usize,
                         si: usize,
                         masks: &mut Vec<u64>,
                         touched: &mut Vec<usize>,
                         stats: &mut Vec<RuleState>| {
            let r = &rules.rules[ri];
            let s = &r.selectors[si];
            if derived_event && !s.derived {
                return;
            }
            let st = &mut stats[ri];
            st.stats.evaluated += 1;
            st.cost.tests += 1;
            // `field:*` selectors reached through their field's presence route hold already,
            // and so do selectors decided by their prefilter conditions
            if let Some(f) = s
                .filter
                .as_ref()
                .filter(|_| !(s.exists_only || (s.decided && !inexact)) || s.sigma)
            {
                // selectors with the same query (many rules share one) are evaluated once per
                // event
                let class = classes[sel_base[ri] + si] as usize;
                if class_seen[class] == stamp {
                    if !class_hit[class] {
                        return;
                    }
                } else {
                    let hit = if st.cost.tests % COST_SAMPLE == 1 {
                        let t0 = std::time::Instant::now();
                        let hit = f.matches(ev as &dyn Record);
                        st.cost.sampled += 1;
                        st.cost.sampled_ns += t0.elapsed().as_nanos() as u64;
                        hit
                    } else {
                        f.matches(ev as &dyn Record)
                    };
                    class_seen[class] = stamp;
                    class_hit[class] = hit;
                    if !hit {
                        return;
                    }
                }
            }
            if masks[ri] == 0 {
                touched.push(ri);
            }
            masks[ri] |= 1 << si;
        };
        for &g in &cands {
            let (ri, si) = self.sel_ids[g];
            check(ri, si, &mut self.masks, &mut touched, &mut self.states);
        }
        for (ri, si) in sigma_hits {
            check(ri, si, &mut self.masks, &mut touched, &mut self.states);
        }
        touched.sort_unstable();
        matched.extend(touched.iter().map(|&ri| {
            let m = self.masks[ri];
            self.masks[ri] = 0;
            (ri, m)
        }));
        self.scratch_cands = cands;
        self.scratch_touched = touched;
    }

    fn ingest(&mut self, ev: &Event, depth: u8, out: &mut Vec<Output>) {
        let ts = ev.timestamp.0;
        let ci = self.clock_of(&ev.meta.tenant);
        if depth == 0 {
            let c = &mut self.clocks[ci];
            c.max_ts = c.max_ts.max(ts);
            self.events_in += 1;
        }
        let mut matched = std::mem::take(&mut self.scratch_matched);
        matched.clear();
        self.match_selectors(ev, &mut matched);
        let rules = self.rules.clone();
        for &(ri, mask) in &matched {
            let rule = &rules.rules[ri];
            let st = &mut self.states[ri];
            st.stats.matched += 1;
            let key = &mut self.scratch_key;
            key.clear();
            key.push(ev.meta.tenant.clone());
            let mut complete = true;
            let refs = &self.fields[ri];
            for f in &refs.group {
                match f.first_text(ev) {
                    Some(v) => key.push(v),
                    None => {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                st.stats.missing_group += 1;
                continue;
            }
            if rule.is_silent_group()
                && depth == 0
                && ts >= st.lane(ci).frontier
                && let Some(b) = st.groups.get_mut(key.as_slice())
                && let Logic::Abs(ab) = &mut b.logic
                && ab.timer_at.is_some()
                && ab.deadline.is_some_and(|d| ts <= d)
            {
                // a silent group that is open and has its timer armed (every event of a busy
                // source), and an event within its deadline, which no other event can turn
                // into a silence: what `apply` does, in place, without building a fact
                b.last = b.last.max(ts);
                let d = ts.saturating_add(rule.window_ns);
                if ab.deadline.is_none_or(|x| d > x) {
                    ab.deadline = Some(d);
                    ab.start = ts;
                    ab.ids.clear();
                    ab.ids.push(ev.meta.id.0);
                    b.caps.clear();
                    b.caps.extend(refs.caps.iter().map(|f| f.first_text(ev)));
                }
                self.seq += 1;
                continue;
            }
            let group = key.clone();
            let unique = if rule.unique.is_empty() {
                None
            } else if let [one] = refs.unique.as_slice() {
                // an event without the unique field cannot add a distinct value
                Some(one.first_text(ev).unwrap_or_default())
            } else {
                let vals: Vec<SmolStr> = refs
                    .unique
                    .iter()
                    .filter_map(|f| f.first_text(ev))
                    .collect();
                if vals.len() != rule.unique.len() {
                    // an event without the unique field cannot add a distinct value
                    Some(SmolStr::default())
                } else {
                    Some(SmolStr::new(vals.join("\u{1f}")))
                }
            };
            let caps = refs.caps.iter().map(|f| f.first_text(ev)).collect();
            self.seq += 1;
            let fact = Fact {
                ts,
                id: ev.meta.id.0,
                seq: self.seq,
                tenant: ev.meta.tenant.clone(),
                mask,
                group,
                unique,
                caps,
                depth,
            };
            let st = &mut self.states[ri];
            if ts < st.lane(ci).frontier {
                if depth > 0 {
                    // derived events are never late: apply now, in derivation order
                    let mut fired = Vec::new();
                    self.apply(ri, fact, false, &mut fired);
                    self.handle(fired, out);
                    continue;
                }
                st.stats.late += 1;
                if st.late_samples.len() >= self.opts.late_samples {
                    st.late_samples.pop_front();
                }
                st.late_samples.push_back((ts, fact.id));
                match rule.late_policy {
                    LatePolicy::Drop => st.stats.late_dropped += 1,
                    LatePolicy::LateWindow => {
                        let mut fired = Vec::new();
                        self.apply(ri, fact, true, &mut fired);
                        self.handle(fired, out);
                    }
                }
                continue;
            }
            let past_deadline = |st: &RuleState| {
                st.groups.get(&fact.group).is_some_and(|b| {
                    matches!(&b.logic, Logic::Abs(ab) if ab.deadline.is_some_and(|d| fact.ts > d))
                })
            };
            if rule.kind == RuleKind::Absence
                && rule.selectors.len() == 1
                && fact.depth == 0
                && !past_deadline(st)
            {
                // a silent group keeps the newest time per group, which does not depend on the
                // order of its events: no need to wait for the watermark. An event past the
                // group's deadline waits for it like any other, so the silence before it is
                // decided first, whatever else its batch holds.
                let mut fired = Vec::new();
                self.apply(ri, fact, false, &mut fired);
                self.handle(fired, out);
                continue;
            }
            let lane = st.lane(ci);
            lane.pending.push(Pend::new(fact));
            if lane.pending.len() > self.opts.max_pending_per_rule {
                st.stats.forced_releases += 1;
                let lane = st.lane(ci);
                if let Some(p) = lane.pending.pop() {
                    let f = p.fact;
                    lane.frontier = lane.frontier.max(f.ts);
                    let mut fired = Vec::new();
                    self.run_timers(ri, ci, f.ts, &mut fired);
                    self.apply(ri, f, false, &mut fired);
                    self.handle(fired, out);
                }
            }
        }
        self.scratch_matched = matched;
    }

    /// Releases buffered facts and due timers of every rule, in event-time order, then
    /// expires list entries; loops correlation events back until nothing is left.
    fn release(&mut self, out: &mut Vec<Output>) {
        loop {
            // every rule's due facts and timers, per tenant up to that tenant's watermark,
            // merged in event-time order across rules, so a list written by one rule is read
            // by another in event-time order too
            let mut heap = self.due_heap();
            'lanes: while let Some(Reverse((_, ri, ci))) = heap.pop() {
                let wm = self.lane_wm(ri, ci);
                loop {
                    self.step_rule(ri, ci, wm, out);
                    if !self.loopq.is_empty() {
                        // correlation events join the stream at the time they were raised,
                        // before any rule moves past it
                        while let Some((ev, depth)) = self.loopq.pop_front() {
                            self.ingest(&ev, depth, out);
                        }
                        heap = self.due_heap();
                        continue 'lanes;
                    }
                    let Some(t) = self.next_due(ri, ci, wm) else {
                        continue 'lanes;
                    };
                    // the lane stays first in the merge: step it again without going through
                    // the heap (the order is the heap's, lanes are unique in it)
                    if heap.peek().is_some_and(|Reverse(top)| *top < (t, ri, ci)) {
                        heap.push(Reverse((t, ri, ci)));
                        continue 'lanes;
                    }
                }
            }
            for ri in 0..self.states.len() {
                self.finish_rule(ri);
            }
            // list entries expire on their tenant's clock (the Shared tenant's, which sends
            // little, on the newest of all)
            let newest = self.max_event_time().max(self.declared_wm);
            let (clocks, ids, all) = (&self.clocks, &self.clock_ids, self.declared_wm);
            let expired = self.stores.expire_by(|tenant| match ids.get(tenant) {
                Some(&ci) if clocks[ci].max_ts != i64::MIN || clocks[ci].declared != i64::MIN => {
                    clocks[ci].max_ts.max(clocks[ci].declared).max(all)
                }
                _ => newest,
            });
            for x in expired {
                let ev = service_event(&x);
                out.push(Output {
                    event: ev.clone(),
                    rule: None,
                    alert: false,
                    severity: None,
                });
                self.loopq.push_back((ev, 1));
            }
            if self.loopq.is_empty() {
                break;
            }
            while let Some((ev, depth)) = self.loopq.pop_front() {
                self.ingest(&ev, depth, out);
            }
        }
    }

    /// Every (rule, tenant) lane with something due, keyed by its next due time.
    fn due_heap(&self) -> BinaryHeap<Reverse<(i64, usize, usize)>> {
        let mut heap = BinaryHeap::new();
        for (ri, st) in self.states.iter().enumerate() {
            for ci in 0..st.lanes.len() {
                if let Some(t) = self.next_due(ri, ci, self.lane_wm(ri, ci)) {
                    heap.push(Reverse((t, ri, ci)));
                }
            }
        }
        heap
    }

    /// The event time of a lane's next due item: a buffered fact at or before the watermark,
    /// or a timer before it (ordered just after the facts of its own instant).
    fn next_due(&self, ri: usize, ci: usize, wm: i64) -> Option<i64> {
        let st = self.states[ri].lanes.get(ci)?;
        let fact = st.pending.peek_key().map(|k| k.0).filter(|t| *t <= wm);
        let timer = st
            .timers
            .peek()
            .map(|Reverse((d, _, _))| *d)
            .filter(|d| *d < wm)
            .map(|d| d.saturating_add(1));
        match (fact, timer) {
            (Some(f), Some(t)) => Some(f.min(t)),
            (a, b) => a.or(b),
        }
    }

    /// Processes a lane's next due item.
    fn step_rule(&mut self, ri: usize, ci: usize, wm: i64, out: &mut Vec<Output>) {
        let st = self.states[ri].lane(ci);
        let fact_ts = st.pending.peek_key().map(|k| k.0).filter(|t| *t <= wm);
        let timer_ts = st
            .timers
            .peek()
            .map(|Reverse((d, _, _))| *d)
            .filter(|d| *d < wm);
        let mut fired = Vec::new();
        match (fact_ts, timer_ts) {
            (None, None) => return,
            (Some(f), Some(t)) if t < f => self.run_timers(ri, ci, t.saturating_add(1), &mut fired),
            (Some(_), _) => {
                if let Some(p) = self.states[ri].lane(ci).pending.pop() {
                    self.apply(ri, p.fact, false, &mut fired);
                }
            }
            (None, Some(t)) => self.run_timers(ri, ci, t.saturating_add(1), &mut fired),
        }
        self.handle(fired, out);
    }

    fn finish_rule(&mut self, ri: usize) {
        let rule = self.rules.rules[ri].clone();
        let (clocks, all) = (&self.clocks, self.declared_wm);
        let st = &mut self.states[ri];
        // every tenant has its lane in every rule, so a rule's first event of a tenant is late
        // or not against the tenant's watermark, as for the rules that saw it before
        if st.lanes.len() < clocks.len() {
            st.lanes.resize_with(clocks.len(), Lane::default);
        }
        let mut newest = i64::MIN;
        for (lane, c) in st.lanes.iter_mut().zip(clocks) {
            let wm = clock_wm(c, rule.lateness_ns, all);
            newest = newest.max(wm);
            lane.frontier = lane.frontier.max(wm);
            // a burst leaves a large empty reorder buffer behind: give the memory back
            let run = &mut lane.pending.run;
            if run.capacity() > 4096 && run.len() < run.capacity() / 8 {
                run.shrink_to(run.len() * 2);
            }
        }
        // a sweep walks every group of the rule: at most once per window, and per 5 minutes
        // of event time (arrivals prune their own group's entries meanwhile)
        let every = rule.window_ns.max(300_000_000_000);
        if newest != i64::MIN
            && (st.last_sweep == i64::MIN || newest.saturating_sub(st.last_sweep) >= every)
        {
            st.last_sweep = newest;
            self.sweep(ri);
        }
    }

    /// Runs the timers of a lane that are due before `until`.
    fn run_timers(&mut self, ri: usize, ci: usize, until: i64, fired: &mut Vec<Firing>) {
        let rule = self.rules.rules[ri].clone();
        loop {
            let st = &mut self.states[ri];
            let lane = st.lane(ci);
            let due = matches!(lane.timers.peek(), Some(Reverse((d, _, _))) if *d < until);
            if !due {
                break;
            }
            let Some(Reverse((deadline, late, key))) = lane.timers.pop() else {
                break;
            };
            let groups = if late {
                &mut st.late_groups
            } else {
                &mut st.groups
            };
            let Some(b) = groups.get_mut(&key) else {
                continue;
            };
            match &mut b.logic {
                Logic::Std(sb) => {
                    let Some(start) = sb.window_start else {
                        continue;
                    };
                    if start.saturating_add(rule.window_ns) != deadline {
                        continue;
                    }
                    let full = std_full(&rule, sb);
                    let firing = full.then(|| {
                        std_firing(&rule, ri, &key, sb, deadline, b.caps.clone(), late, 0)
                    });
                    groups.remove(&key);
                    self.groups_total = self.groups_total.saturating_sub(1);
                    if let Some(f) = firing {
                        self.rate_checked(ri, f, fired);
                    }
                }
                Logic::Abs(ab) => {
                    if ab.timer_at != Some(deadline) {
                        continue; // a stale timer
                    }
                    ab.timer_at = None;
                    match ab.deadline {
                        None => continue, // the expected event came
                        Some(d) if d != deadline => {
                            // the deadline moved on since the timer was armed: re-arm it
                            ab.timer_at = Some(d);
                            st.lane(ci).timers.push(Reverse((d, late, key)));
                            continue;
                        }
                        Some(_) => {}
                    }
                    ab.deadline = None;
                    let f = Firing {
                        rule: ri,
                        key: key.clone(),
                        first: ab.start,
                        last: deadline,
                        count: ab.ids.len() as u64,
                        base: ab.ids.iter().map(|i| (*i, 0)).collect(),
                        caps: b.caps.clone(),
                        late,
                        depth: 0,
                    };
                    ab.ids.clear();
                    self.rate_checked(ri, f, fired);
                }
                _ => {}
            }
        }
    }

    fn rate_checked(&mut self, ri: usize, f: Firing, fired: &mut Vec<Firing>) {
        let rule = &self.rules.rules[ri];
        if let Some((max, per)) = rule.rate_limit {
            let st = &mut self.states[ri];
            let groups = if f.late {
                &mut st.late_groups
            } else {
                &mut st.groups
            };
            let b = groups.entry(f.key.clone()).or_insert_with(|| Bucket {
                logic: Logic::Plain,
                last: f.last,
                caps: Vec::new(),
                fires: VecDeque::new(),
            });
            while b.fires.front().is_some_and(|t| *t <= f.last - per) {
                b.fires.pop_front();
            }
            if b.fires.len() >= max as usize {
                st.stats.rate_limited += 1;
                return;
            }
            b.fires.push_back(f.last);
        }
        self.states[ri].stats.fired += 1;
        fired.push(f);
    }

    fn make_room(&mut self, ri: usize) {
        let per_rule = self.opts.max_groups_per_rule;
        let total = self.opts.max_groups_total;
        if self.states[ri].groups.len() < per_rule && self.groups_total < total {
            return;
        }
        self.sweep(ri);
        let st = &mut self.states[ri];
        if st.groups.len() < per_rule && self.groups_total < total {
            return;
        }
        let n = (st.groups.len() / 10).max(1);
        let mut ages: Vec<(i64, GKey)> =
            st.groups.iter().map(|(k, b)| (b.last, k.clone())).collect();
        let n = n.min(ages.len());
        if n == 0 {
            return;
        }
        ages.select_nth_unstable_by(n - 1, |a, b| a.0.cmp(&b.0));
        for (_, k) in ages.into_iter().take(n) {
            st.groups.remove(&k);
            st.stats.evicted += 1;
            self.groups_total = self.groups_total.saturating_sub(1);
        }
    }

    /// Applies one fact to its rule's state.
    fn apply(&mut self, ri: usize, mut fact: Fact, late: bool, fired: &mut Vec<Firing>) {
        let rule = self.rules.rules[ri].clone();
        let opts = self.opts.clone();
        fact.mask = self.list_mask(&rule, &fact);
        if fact.mask == 0 {
            return;
        }
        if matches!(rule.kind, RuleKind::Simple | RuleKind::Operational) {
            let f = Firing {
                rule: ri,
                key: fact.group.clone(),
                first: fact.ts,
                last: fact.ts,
                count: 1,
                base: vec![(fact.id, 0)],
                caps: fact.caps,
                late,
                depth: fact.depth,
            };
            self.rate_checked(ri, f, fired);
            return;
        }
        let exists = {
            let st = &self.states[ri];
            let g = if late { &st.late_groups } else { &st.groups };
            g.contains_key(&fact.group)
        };
        if !exists && !late {
            self.make_room(ri);
            self.groups_total += 1;
        }
        let st = &mut self.states[ri];
        let groups = if late {
            &mut st.late_groups
        } else {
            &mut st.groups
        };
        if !exists {
            groups.insert(
                fact.group.clone(),
                Bucket {
                    logic: match rule.kind {
                        RuleKind::Standard => Logic::Std(StdBucket {
                            sels: vec![VecDeque::new(); rule.selectors.len()],
                            totals: vec![0; rule.selectors.len()],
                            ..Default::default()
                        }),
                        RuleKind::Sequence => Logic::Seq(SeqBucket::default()),
                        RuleKind::Absence => Logic::Abs(AbsBucket::default()),
                        _ => Logic::Plain,
                    },
                    last: fact.ts,
                    caps: Vec::new(),
                    fires: VecDeque::new(),
                },
            );
        }
        let Some(b) = groups.get_mut(&fact.group) else {
            return;
        };
        b.last = b.last.max(fact.ts);
        let mut out_firings: Vec<Firing> = Vec::new();
        let mut timer: Option<i64> = None;
        match &mut b.logic {
            Logic::Std(sb) => {
                // the fact's captures are not read again below: moved, not cloned
                b.caps = std::mem::take(&mut fact.caps);
                let t = fact.ts;
                if rule.trigger == Trigger::WindowEnd
                    && let Some(start) = sb.window_start
                    && t > start.saturating_add(rule.window_ns)
                {
                    {
                        // the window ended (its timer is not due yet): decide it first
                        if std_full(&rule, sb) {
                            out_firings.push(std_firing(
                                &rule,
                                ri,
                                &fact.group,
                                sb,
                                start + rule.window_ns,
                                b.caps.clone(),
                                late,
                                fact.depth,
                            ));
                        }
                        *sb = StdBucket {
                            sels: vec![VecDeque::new(); rule.selectors.len()],
                            totals: vec![0; rule.selectors.len()],
                            ..Default::default()
                        };
                    }
                }
                if let Some(until) = sb.skip_until {
                    if t <= until {
                        st.stats.skipped += 1;
                        drop_firings(out_firings, ri, self, fired);
                        return;
                    }
                    sb.skip_until = None;
                }
                // recovery first: it cancels the bucket
                if rule
                    .selectors
                    .iter()
                    .enumerate()
                    .any(|(i, s)| s.recovery && fact.mask & (1 << i) != 0)
                {
                    sb.sels.iter_mut().for_each(VecDeque::clear);
                    sb.totals.iter_mut().for_each(|x| *x = 0);
                    sb.window_start = None;
                    sb.fired_in_window = false;
                    st.stats.recovered += 1;
                    drop_firings(out_firings, ri, self, fired);
                    return;
                }
                if rule.trigger == Trigger::WindowEnd && sb.window_start.is_none() {
                    sb.window_start = Some(t);
                    timer = Some(t.saturating_add(rule.window_ns));
                }
                for (i, s) in rule.selectors.iter().enumerate() {
                    if s.recovery || fact.mask & (1 << i) == 0 {
                        continue;
                    }
                    sb.totals[i] += 1;
                    let q = &mut sb.sels[i];
                    if let Some(u) = &fact.unique {
                        if u.is_empty() {
                            continue;
                        }
                        if let Some(pos) = q.iter().position(|e| e.uniq.as_ref() == Some(u)) {
                            q.remove(pos);
                        }
                    }
                    // keep the entries in time order (late-window facts may come out of order)
                    let pos = q.iter().rposition(|e| e.ts <= t).map_or(0, |p| p + 1);
                    if q.capacity() == 0 {
                        // most groups never see a second event (a scan's one-off sources):
                        // room for one entry, not the four a first push reserves
                        q.reserve_exact(1);
                    }
                    q.insert(
                        pos,
                        CEntry {
                            ts: t,
                            id: fact.id,
                            uniq: fact.unique.clone(),
                        },
                    );
                    while q.len() as u64 > s.threshold {
                        q.pop_front();
                    }
                }
                if rule.trigger != Trigger::WindowEnd {
                    let cut = t.saturating_sub(rule.window_ns);
                    for q in sb.sels.iter_mut() {
                        while q.front().is_some_and(|e| e.ts < cut) {
                            q.pop_front();
                        }
                    }
                    if std_full(&rule, sb) {
                        let f = std_firing(
                            &rule,
                            ri,
                            &fact.group,
                            sb,
                            t,
                            b.caps.clone(),
                            late,
                            fact.depth,
                        );
                        match rule.trigger {
                            Trigger::FirstThreshold => {
                                sb.skip_until = Some(f.first.saturating_add(rule.window_ns));
                                sb.sels.iter_mut().for_each(VecDeque::clear);
                            }
                            Trigger::EveryThreshold => {
                                sb.sels.iter_mut().for_each(VecDeque::clear);
                            }
                            _ => {}
                        }
                        out_firings.push(f);
                    }
                }
            }
            Logic::Seq(qb) => {
                b.caps = fact.caps.clone();
                let t = fact.ts;
                let n = rule.selectors.len();
                qb.partials
                    .retain(|p| t.saturating_sub(p.start) <= rule.window_ns);
                let mut step0_taken = false;
                let mut completed: Vec<usize> = Vec::new();
                for (pi, p) in qb.partials.iter_mut().enumerate() {
                    let s = p.step;
                    if s >= n || fact.mask & (1 << s) == 0 || t < p.last {
                        continue;
                    }
                    let sel = &rule.selectors[s];
                    let joins_ok = sel.join.iter().all(|(mine, step, theirs)| {
                        let a = fact.caps.get(*mine).cloned().flatten();
                        let b = p
                            .caps
                            .get(*step)
                            .and_then(|c| c.get(*theirs))
                            .cloned()
                            .flatten();
                        matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b))
                    });
                    if !joins_ok {
                        continue;
                    }
                    if s == 0 {
                        step0_taken = true;
                    }
                    if p.count == 0 {
                        p.caps.push(fact.caps.clone());
                    }
                    p.count += 1;
                    p.last = t;
                    if p.ids.len() < opts.max_base_ids {
                        p.ids.push((fact.id, s as u16));
                    }
                    if p.count >= sel.threshold {
                        p.step += 1;
                        p.count = 0;
                        if p.step == n {
                            completed.push(pi);
                        }
                    }
                }
                if fact.mask & 1 != 0 && !step0_taken {
                    let sel = &rule.selectors[0];
                    let mut p = Partial {
                        start: t,
                        last: t,
                        step: 0,
                        count: 1,
                        caps: vec![fact.caps.clone()],
                        ids: vec![(fact.id, 0)],
                    };
                    if sel.threshold <= 1 {
                        p.step = 1;
                        p.count = 0;
                    }
                    if !qb.partials.is_empty() && qb.partials.len() >= opts.max_partials.max(1) {
                        qb.partials.remove(0);
                        st.stats.partials_dropped += 1;
                        completed = completed
                            .into_iter()
                            .filter(|&i| i > 0)
                            .map(|i| i - 1)
                            .collect();
                    }
                    qb.partials.push(p);
                }
                if !completed.is_empty() {
                    // one firing per group per event: the partial that started first
                    let best = completed
                        .iter()
                        .copied()
                        .min_by_key(|&i| qb.partials[i].start)
                        .unwrap_or(completed[0]);
                    let p = &qb.partials[best];
                    out_firings.push(Firing {
                        rule: ri,
                        key: fact.group.clone(),
                        first: p.start,
                        last: t,
                        count: p.ids.len() as u64,
                        base: p.ids.clone(),
                        caps: fact.caps.clone(),
                        late,
                        depth: fact.depth,
                    });
                    let mut i = 0;
                    qb.partials.retain(|_| {
                        let keep = !completed.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
            Logic::Abs(ab) => {
                let t = fact.ts;
                let expected = rule.selectors.len() == 2 && fact.mask & 2 != 0;
                if expected {
                    if ab.deadline.is_some_and(|d| t >= ab.start && t <= d) {
                        ab.deadline = None;
                        ab.ids.clear();
                        st.stats.recovered += 1;
                    }
                } else if fact.mask & 1 != 0 {
                    if rule.selectors.len() == 1 {
                        // silent source: every event moves the deadline on
                        let d = t.saturating_add(rule.window_ns);
                        if ab.deadline.is_none_or(|x| d > x) {
                            ab.deadline = Some(d);
                            ab.start = t;
                            ab.ids.clear();
                            ab.ids.push(fact.id);
                            b.caps = fact.caps.clone();
                            if ab.timer_at.is_none() {
                                ab.timer_at = Some(d);
                                timer = Some(d);
                            }
                        }
                    } else if ab.deadline.is_none() {
                        let d = t.saturating_add(rule.window_ns);
                        ab.deadline = Some(d);
                        ab.start = t;
                        ab.ids = vec![fact.id];
                        b.caps = fact.caps.clone();
                        ab.timer_at = Some(d);
                        timer = Some(d);
                    }
                }
            }
            Logic::Plain => {}
        }
        if let Some(d) = timer {
            let key = fact.group.clone();
            let ci = self.clock_of(&fact.tenant);
            self.states[ri]
                .lane(ci)
                .timers
                .push(Reverse((d, late, key)));
        }
        drop_firings(out_firings, ri, self, fired);
    }

    /// The selectors of a fact whose list and table tests hold now (tests are evaluated when
    /// the fact is released, in event-time order with the rules that write the lists).
    fn list_mask(&self, rule: &Rule, fact: &Fact) -> u64 {
        let mut mask = fact.mask;
        for (si, s) in rule.selectors.iter().enumerate() {
            if mask & (1 << si) == 0 || s.lists.is_empty() {
                continue;
            }
            let ok = s.lists.iter().all(|m| {
                let key: Option<Key> = m
                    .key_caps
                    .iter()
                    .map(|&i| fact.caps.get(i).cloned().flatten())
                    .collect();
                let Some(key) = key else { return false };
                let entry = self.stores.get(m.store, &fact.tenant, &key, fact.ts);
                if m.absent {
                    return entry.is_none();
                }
                let Some(entry) = entry else { return false };
                let Some(col) = &m.column else { return true };
                let Some(have) = entry.values.get(col) else {
                    return false;
                };
                let want = match (&m.value, m.field_cap) {
                    (Some(v), _) => v.clone(),
                    (None, Some(i)) => match fact.caps.get(i).cloned().flatten() {
                        Some(v) => Value::Str(v),
                        None => return false,
                    },
                    (None, None) => return false,
                };
                cmp_values(have, m.op, &want)
            });
            if !ok {
                mask &= !(1 << si);
            }
        }
        mask
    }

    /// Drops finished state of a rule: windows that ended, expired partials, rate-limit
    /// history older than its period.
    fn sweep(&mut self, ri: usize) {
        let rule = self.rules.rules[ri].clone();
        let (clocks, ids, all) = (&self.clocks, &self.clock_ids, self.declared_wm);
        // each group against its own tenant's watermark
        let wm_of = |k: &GKey| match k.first().and_then(|t| ids.get(t)) {
            Some(&ci) => clock_wm(&clocks[ci], rule.lateness_ns, all),
            None => all,
        };
        let st = &mut self.states[ri];
        let per = rule.rate_limit.map_or(0, |(_, p)| p);
        let keep = |b: &mut Bucket, wm: i64| -> bool {
            while b.fires.front().is_some_and(|t| *t <= wm - per) {
                b.fires.pop_front();
            }
            let live = match &mut b.logic {
                Logic::Std(sb) => {
                    let cut = wm.saturating_sub(rule.window_ns);
                    if rule.trigger != Trigger::WindowEnd {
                        for q in sb.sels.iter_mut() {
                            while q.front().is_some_and(|e| e.ts < cut) {
                                q.pop_front();
                            }
                        }
                    }
                    sb.sels.iter().any(|q| !q.is_empty())
                        || sb.skip_until.is_some_and(|u| u >= wm)
                        || sb.window_start.is_some()
                }
                Logic::Seq(qb) => {
                    qb.partials
                        .retain(|p| p.start.saturating_add(rule.window_ns) >= wm);
                    !qb.partials.is_empty()
                }
                Logic::Abs(ab) => ab.deadline.is_some(),
                Logic::Plain => false,
            };
            live || !b.fires.is_empty()
        };
        st.groups.retain(|k, b| keep(b, wm_of(k)));
        st.late_groups.retain(|k, b| keep(b, wm_of(k)));
        // timers of removed groups are skipped when they come due; rebuild when they pile up
        if st.timers_len() > 2 * (st.groups.len() + st.late_groups.len()) + 1024 {
            for lane in &mut st.lanes {
                lane.timers.clear();
            }
            for (late, groups) in [(false, &st.groups), (true, &st.late_groups)] {
                for (k, b) in groups {
                    let d = match &b.logic {
                        Logic::Std(sb) => sb.window_start.map(|s| s.saturating_add(rule.window_ns)),
                        Logic::Abs(ab) => ab.timer_at,
                        _ => None,
                    };
                    let lane = k.first().and_then(|t| ids.get(t));
                    if let (Some(d), Some(&ci)) = (d, lane)
                        && let Some(lane) = st.lanes.get_mut(ci)
                    {
                        lane.timers.push(Reverse((d, late, k.clone())));
                    }
                }
            }
        }
        self.groups_total = self.states.iter().map(|s| s.groups.len()).sum();
    }

    fn field_of(&self, rule: &Rule, f: &Firing, field: &str) -> Option<SmolStr> {
        if let Some(i) = rule.group_by.iter().position(|g| g == field) {
            return f.key.get(i + 1).cloned();
        }
        rule.capture_index(field)
            .and_then(|i| f.caps.get(i).cloned().flatten())
    }

    /// Carries out the actions of firings.
    fn handle(&mut self, fired: Vec<Firing>, out: &mut Vec<Output>) {
        for f in fired {
            let rule = self.rules.rules[f.rule].clone();
            let tenant = f.key.first().cloned().unwrap_or_default();
            let mut gets: Vec<(String, BTreeMap<String, Value>)> = Vec::new();
            for a in &rule.list_actions {
                let key: Option<Key> = a.key.iter().map(|k| self.field_of(&rule, &f, k)).collect();
                let Some(key) = key else { continue };
                match a.op {
                    ListOp::Set | ListOp::Merge => {
                        let mut values = BTreeMap::new();
                        let def = &self.stores.defs()[a.store];
                        for (col, k) in def.key.iter().zip(&key) {
                            values.insert(col.clone(), Value::Str(k.clone()));
                        }
                        for (col, field) in &a.from {
                            if let Some(v) = self.field_of(&rule, &f, field) {
                                values.insert(col.clone(), Value::Str(v));
                            }
                        }
                        for (col, v) in &a.set {
                            values.insert(col.clone(), v.clone());
                        }
                        self.stores.write(
                            a.store,
                            &tenant,
                            &key,
                            values,
                            a.op == ListOp::Merge,
                            a.ttl_ns,
                            f.last,
                        );
                    }
                    ListOp::Increment => {
                        self.stores
                            .increment(a.store, &tenant, &key, &a.column, a.by, a.ttl_ns, f.last);
                    }
                    ListOp::Delete => {
                        self.stores.delete(a.store, &tenant, &key);
                    }
                    ListOp::Get => {
                        if let Some(e) = self.stores.get(a.store, &tenant, &key, f.last) {
                            gets.push((self.stores.defs()[a.store].name.clone(), e.values.clone()));
                        }
                    }
                }
            }
            if !rule.emit_event {
                continue;
            }
            let ev = self.correlation_event(&rule, &f, gets);
            if rule.loop_back {
                if f.depth < self.opts.max_depth {
                    self.loopq.push_back((ev.clone(), f.depth + 1));
                } else {
                    self.states[f.rule].stats.depth_exceeded += 1;
                }
            }
            out.push(Output {
                event: ev,
                rule: Some(rule.clone()),
                alert: rule.alert,
                severity: Some(rule.severity),
            });
        }
    }

    fn correlation_event(
        &self,
        rule: &Rule,
        f: &Firing,
        gets: Vec<(String, BTreeMap<String, Value>)>,
    ) -> Event {
        let mut ev = Event::default();
        let at = Timestamp(f.last);
        ev.meta.id = vigil_event::new_event_id(at);
        ev.meta.kind = EventType::Correlation;
        ev.meta.tenant = f.key.first().cloned().unwrap_or_default();
        ev.meta.received = Timestamp::now();
        ev.meta.source_id = SmolStr::new_static("correlator");
        ev.timestamp = at;
        ev.event.start = Some(Timestamp(f.first));
        ev.event.end = Some(at);
        ev.event.kind = Some(SmolStr::new_static(if rule.alert {
            "alert"
        } else {
            "signal"
        }));
        ev.event.severity = Some(rule.severity.number());
        ev.event.module = Some(SmolStr::new_static("correlation"));
        ev.event.action = Some(SmolStr::new_static("correlation"));
        ev.rule.id = Some(SmolStr::new(&rule.id));
        ev.rule.name = Some(SmolStr::new(&rule.name));
        ev.rule.category = Some(SmolStr::new(rule.kind.as_str()));
        ev.rule.ruleset = Some(SmolStr::new_static("correlation"));
        ev.log.level = Some(SmolStr::new(rule.severity.as_str()));
        ev.message = Some(SmolStr::new(&rule.name));
        let mut tags: Vec<SmolStr> = rule.tags.iter().map(SmolStr::new).collect();
        tags.extend(
            rule.tactics
                .iter()
                .map(|t| SmolStr::new(format!("attack.{}", t.to_lowercase()))),
        );
        tags.extend(
            rule.techniques
                .iter()
                .map(|t| SmolStr::new(format!("attack.{}", t.to_lowercase()))),
        );
        ev.tags = tags;
        let mut grouped = Vec::new();
        for (i, field) in rule.group_by.iter().enumerate() {
            if let Some(v) = f.key.get(i + 1) {
                if ev.set(field, Value::Str(v.clone())).is_err() {
                    ev.extra.insert(field.as_str(), Value::Str(v.clone()));
                }
                grouped.push(Value::Str(SmolStr::new(format!("{field}={v}"))));
            }
        }
        for field in &rule.copy {
            if rule.group_by.contains(field) {
                continue;
            }
            if let Some(v) = rule
                .capture_index(field)
                .and_then(|i| f.caps.get(i).cloned().flatten())
                && ev.set(field, Value::Str(v.clone())).is_err()
            {
                ev.extra.insert(field.as_str(), Value::Str(v));
            }
        }
        let x = &mut ev.extra;
        x.insert(
            "vigil.correlation.rule_version",
            Value::Int(i64::from(rule.version)),
        );
        x.insert(
            "vigil.correlation.kind",
            Value::Str(rule.kind.as_str().into()),
        );
        x.insert("vigil.correlation.group_by", Value::List(grouped));
        let mut base: Vec<(u128, u16)> = f.base.clone();
        base.truncate(self.opts.max_base_ids);
        x.insert(
            "vigil.correlation.base_event_ids",
            Value::List(
                base.iter()
                    .map(|(id, _)| Value::Str(SmolStr::new(Ulid(*id).to_string())))
                    .collect(),
            ),
        );
        x.insert(
            "vigil.correlation.base_event_selectors",
            Value::List(
                base.iter()
                    .map(|(_, s)| {
                        Value::Str(SmolStr::new(
                            rule.selectors
                                .get(*s as usize)
                                .map_or("", |s| s.name.as_str()),
                        ))
                    })
                    .collect(),
            ),
        );
        x.insert(
            "vigil.correlation.base_event_count",
            Value::Int(f.count as i64),
        );
        x.insert(
            "vigil.correlation.tactics",
            Value::List(rule.tactics.iter().map(|t| Value::Str(t.into())).collect()),
        );
        x.insert(
            "vigil.correlation.techniques",
            Value::List(
                rule.techniques
                    .iter()
                    .map(|t| Value::Str(t.into()))
                    .collect(),
            ),
        );
        x.insert("vigil.correlation.depth", Value::Int(i64::from(f.depth)));
        if f.late {
            x.insert("vigil.correlation.late", Value::Bool(true));
        }
        for (list, values) in gets {
            for (col, v) in values {
                x.insert(format!("vigil.list.{list}.{col}"), v);
            }
        }
        ev
    }
}

fn drop_firings(mut firings: Vec<Firing>, ri: usize, eng: &mut Engine, fired: &mut Vec<Firing>) {
    for f in firings.drain(..) {
        debug_assert_eq!(f.rule, ri);
        eng.rate_checked(ri, f, fired);
    }
}

fn std_full(rule: &Rule, sb: &StdBucket) -> bool {
    rule.selectors.iter().enumerate().all(|(i, s)| {
        s.recovery
            || (sb.sels[i].len() as u64 >= s.threshold
                && rule.max_jitter.is_none_or(|j| regular(&sb.sels[i], j)))
    })
}

/// Whether the entries come at regular intervals: the standard deviation of the gaps is at most
/// `max_jitter` times their mean.
fn regular(q: &VecDeque<CEntry>, max_jitter: f64) -> bool {
    if q.len() < 3 {
        return false;
    }
    let gaps: Vec<f64> = q
        .iter()
        .zip(q.iter().skip(1))
        .map(|(a, b)| (b.ts - a.ts) as f64)
        .collect();
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return false;
    }
    let var = gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / n;
    var.sqrt() <= max_jitter * mean
}

#[allow(clippy::too_many_arguments)]
fn std_firing(
    rule: &Rule,
    ri: usize,
    key: &GKey,
    sb: &StdBucket,
    last: i64,
    caps: Vec<Option<SmolStr>>,
    late: bool,
    depth: u8,
) -> Firing {
    let mut base: Vec<(i64, u128, u16)> = Vec::new();
    for (i, q) in sb.sels.iter().enumerate() {
        base.extend(q.iter().map(|e| (e.ts, e.id, i as u16)));
    }
    base.sort();
    let first = match (rule.trigger, sb.window_start) {
        (Trigger::WindowEnd, Some(s)) => s,
        _ => base.first().map_or(last, |b| b.0),
    };
    let count = if rule.trigger == Trigger::WindowEnd {
        sb.totals.iter().sum()
    } else {
        base.len() as u64
    };
    Firing {
        rule: ri,
        key: key.clone(),
        first,
        last,
        count,
        base: base.into_iter().map(|(_, id, s)| (id, s)).collect(),
        caps,
        late,
        depth,
    }
}

fn service_event(x: &Expired) -> Event {
    let mut ev = Event::default();
    let at = Timestamp(x.entry.expires.unwrap_or(x.entry.updated));
    ev.meta.id = vigil_event::new_event_id(at);
    ev.meta.kind = EventType::Monitoring;
    ev.meta.tenant = x.tenant.clone();
    ev.meta.source_id = SmolStr::new_static("correlator");
    ev.meta.received = Timestamp::now();
    ev.timestamp = at;
    let what = match x.kind {
        StoreKind::ActiveList => "active_list_record_expired",
        StoreKind::ContextTable => "context_table_record_expired",
    };
    ev.event.kind = Some(SmolStr::new_static("event"));
    ev.event.module = Some(SmolStr::new_static("correlation"));
    ev.event.action = Some(SmolStr::new_static(what));
    ev.message = Some(SmolStr::new(format!(
        "{} record expired",
        x.kind.as_str().replace('_', " ")
    )));
    ev.extra
        .insert("vigil.list.name", Value::Str(SmolStr::new(&x.store)));
    ev.extra.insert(
        "vigil.list.key",
        Value::Str(SmolStr::new(
            x.key
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("|"),
        )),
    );
    ev.extra
        .insert("vigil.list.updates", Value::Int(x.entry.updates as i64));
    for (col, v) in &x.entry.values {
        ev.extra
            .insert(format!("vigil.list.value.{col}"), v.clone());
    }
    ev
}

// ---------------------------------------------------------------------------------------------
// Explain

/// A rule's live state and counters.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// Rule id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// Kind.
    pub kind: &'static str,
    /// Open groups (buckets).
    pub groups: usize,
    /// Open groups of the late window.
    pub late_groups: usize,
    /// Events buffered for in-order evaluation.
    pub pending: usize,
    /// Estimated memory of the rule's state, in bytes.
    pub state_bytes: usize,
    /// The newest of the rule's per-tenant watermarks (ns; each tenant's windows close on its
    /// own, see [`Engine::tenant_watermark`]).
    pub watermark: i64,
    /// Counters.
    pub stats: RuleStats,
    /// The most recent late events: (event time ns, event id).
    pub late_samples: Vec<(i64, String)>,
    /// Evaluation cost since the engine started: selector tests per event processed.
    pub tests_per_event: f64,
    /// Mean time of one selector test (ns), measured on one test in 64.
    pub ns_per_test: f64,
    /// Estimated evaluation time the rule costs per event processed (ns): the two above
    /// multiplied (the prefilter routes most events past most rules, so this is far below
    /// `ns_per_test`).
    pub ns_per_event: f64,
}

/// Why a group has (not) fired: what its bucket holds against what the rule needs.
#[derive(Debug, Clone, Serialize)]
pub struct GroupExplain {
    /// Rule id.
    pub rule: String,
    /// Tenant and group-by values.
    pub group: Vec<String>,
    /// Whether a bucket exists for it.
    pub open: bool,
    /// Per selector: (name, events or distinct values counted in the window, threshold, recovery).
    pub selectors: Vec<(String, u64, u64, bool)>,
    /// Events of this group buffered and not yet evaluated.
    pub pending: usize,
    /// Standard `first_threshold`: the group fired and skips events until this time (ns).
    pub skip_until: Option<i64>,
    /// Sequence: for each partial match, the step it waits for (name) and its start (ns).
    pub partials: Vec<(String, i64)>,
    /// Absence: the deadline (ns) after which it fires unless the expected event comes.
    pub deadline: Option<i64>,
    /// Firings within the rate-limit period.
    pub recent_fires: usize,
    /// In words.
    pub summary: String,
}

fn tests_per_event(c: Cost, events: u64) -> f64 {
    if events == 0 {
        0.0
    } else {
        c.tests as f64 / events as f64
    }
}

fn ns_per_test(c: Cost) -> f64 {
    if c.sampled == 0 {
        0.0
    } else {
        c.sampled_ns as f64 / c.sampled as f64
    }
}

fn bucket_bytes(k: &GKey, b: &Bucket) -> usize {
    let s = |x: &SmolStr| std::mem::size_of::<SmolStr>() + if x.len() > 23 { x.len() } else { 0 };
    let mut n = std::mem::size_of::<Bucket>() + 64 + k.iter().map(s).sum::<usize>();
    n += b.caps.len() * std::mem::size_of::<Option<SmolStr>>() + b.fires.len() * 8;
    match &b.logic {
        Logic::Std(sb) => {
            n += sb
                .sels
                .iter()
                .map(|q| q.len() * std::mem::size_of::<CEntry>() + 32)
                .sum::<usize>();
        }
        Logic::Seq(qb) => {
            n += qb
                .partials
                .iter()
                .map(|p| {
                    std::mem::size_of::<Partial>()
                        + p.ids.len() * 24
                        + p.caps.iter().map(|c| c.len() * 24).sum::<usize>()
                })
                .sum::<usize>();
        }
        Logic::Abs(ab) => n += ab.ids.len() * 16,
        Logic::Plain => {}
    }
    n
}

impl Engine {
    /// A rule's counters and state size, by rule id.
    pub fn rule_report(&self, id: &str) -> Option<RuleReport> {
        let ri = self.rule_index(id)?;
        let r = &self.rules.rules[ri];
        let st = &self.states[ri];
        let state_bytes = st
            .groups
            .iter()
            .chain(st.late_groups.iter())
            .map(|(k, b)| bucket_bytes(k, b))
            .sum::<usize>()
            + st.pending_len() * (std::mem::size_of::<Fact>() + 64)
            + st.timers_len() * 48;
        Some(RuleReport {
            id: r.id.clone(),
            version: r.version,
            kind: r.kind.as_str(),
            groups: st.groups.len(),
            late_groups: st.late_groups.len(),
            pending: st.pending_len(),
            state_bytes,
            watermark: self.watermark(ri),
            stats: st.stats.clone(),
            late_samples: st
                .late_samples
                .iter()
                .map(|(t, id)| (*t, Ulid(*id).to_string()))
                .collect(),
            tests_per_event: tests_per_event(st.cost, self.events_in),
            ns_per_test: ns_per_test(st.cost),
            ns_per_event: tests_per_event(st.cost, self.events_in) * ns_per_test(st.cost),
        })
    }

    /// Total estimated state memory (buckets, buffers) over all rules, in bytes.
    pub fn state_bytes(&self) -> usize {
        self.rules
            .rules
            .iter()
            .filter_map(|r| self.rule_report(&r.id))
            .map(|r| r.state_bytes)
            .sum()
    }

    /// Open groups over all rules.
    pub fn open_groups(&self) -> usize {
        self.states
            .iter()
            .map(|s| s.groups.len() + s.late_groups.len())
            .sum()
    }

    /// What in `ev` satisfied the selector `selector` of rule `id`: the fields and values of
    /// its query's positive terms (field None: a full-text word), then those of its Sigma block.
    /// None when the rule or selector is not loaded, or when the event does not satisfy the
    /// selector (the rule changed since it fired). The alert page highlights these.
    pub fn explain_selector(
        &self,
        id: &str,
        selector: &str,
        ev: &Event,
    ) -> Option<Vec<(Option<String>, String)>> {
        let ri = self.rule_index(id)?;
        let rule = &self.rules.rules[ri];
        let si = rule.selectors.iter().position(|s| s.name == selector)?;
        let sel = &rule.selectors[si];
        let mut out = Vec::new();
        if let Some(f) = &sel.filter {
            out.extend(
                f.explain(ev as &dyn Record)?
                    .into_iter()
                    .map(|h| (h.field, h.value)),
            );
        }
        if sel.sigma {
            let set = self.rules.sigma.as_ref()?;
            let mut dets = Vec::new();
            set.matches(&SigmaRef(ev), &mut dets);
            let d = dets
                .into_iter()
                .find(|d| self.sigma_ids.get(&d.rule.id) == Some(&(ri, si)))?;
            out.extend(d.matched.into_iter().map(|m| {
                let field = (m.field != "<keyword>").then_some(m.field);
                (field, m.value)
            }));
        }
        Some(out)
    }

    /// "Why didn't this fire?" for one group of a rule: `values` are the group-by values in
    /// the rule's order.
    pub fn explain_group(&self, id: &str, tenant: &str, values: &[&str]) -> Option<GroupExplain> {
        let ri = self.rule_index(id)?;
        let rule = &self.rules.rules[ri];
        let st = &self.states[ri];
        let mut key: GKey = vec![SmolStr::new(tenant)];
        key.extend(values.iter().copied().map(SmolStr::new));
        let pending = st
            .lanes
            .iter()
            .flat_map(|l| l.pending.facts())
            .filter(|f| f.group == key)
            .count();
        let b = st.groups.get(&key);
        let mut ex = GroupExplain {
            rule: rule.id.clone(),
            group: key.iter().map(|s| s.to_string()).collect(),
            open: b.is_some(),
            selectors: rule
                .selectors
                .iter()
                .map(|s| (s.name.clone(), 0, s.threshold, s.recovery))
                .collect(),
            pending,
            skip_until: None,
            partials: Vec::new(),
            deadline: None,
            recent_fires: b.map_or(0, |b| b.fires.len()),
            summary: String::new(),
        };
        let mut missing = Vec::new();
        if let Some(b) = b {
            match &b.logic {
                Logic::Std(sb) => {
                    for (i, q) in sb.sels.iter().enumerate() {
                        ex.selectors[i].1 = q.len() as u64;
                        let s = &rule.selectors[i];
                        if !s.recovery && (q.len() as u64) < s.threshold {
                            missing.push(format!("{} has {} of {}", s.name, q.len(), s.threshold));
                        }
                    }
                    ex.skip_until = sb.skip_until;
                }
                Logic::Seq(qb) => {
                    for p in &qb.partials {
                        let name = rule
                            .selectors
                            .get(p.step)
                            .map_or("done", |s| s.name.as_str());
                        ex.partials.push((name.to_string(), p.start));
                        missing.push(format!(
                            "a match started at {} waits for '{name}'",
                            Timestamp(p.start)
                        ));
                    }
                }
                Logic::Abs(ab) => {
                    ex.deadline = ab.deadline;
                    if let Some(d) = ab.deadline {
                        missing.push(format!(
                            "waiting for the watermark to pass {} (now {})",
                            Timestamp(d),
                            Timestamp(self.tenant_watermark(ri, tenant).max(0))
                        ));
                    }
                }
                Logic::Plain => {}
            }
        }
        ex.summary = if b.is_none() && pending == 0 {
            let late = st.stats.late;
            format!(
                "no open bucket: no event of this group matched a selector within the window{}",
                if late > 0 {
                    format!(" ({late} late events were counted for the rule)")
                } else {
                    String::new()
                }
            )
        } else if let Some(u) = ex.skip_until {
            format!(
                "fired; the rest of its window (until {}) is skipped",
                Timestamp(u)
            )
        } else if missing.is_empty() && pending > 0 {
            format!("{pending} event(s) wait for the watermark before evaluation")
        } else {
            missing.join("; ")
        };
        Some(ex)
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

#[derive(Serialize, Deserialize)]
struct RuleSnap {
    id: String,
    version: u32,
    fingerprint: u64,
    pending: Vec<Fact>,
    groups: Vec<(GKey, Bucket)>,
    late_groups: Vec<(GKey, Bucket)>,
    /// Per tenant: the lane's frontier.
    frontiers: Vec<(SmolStr, i64)>,
    last_sweep: i64,
    stats: RuleStats,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// Per tenant: newest event time, declared watermark.
    clocks: Vec<(SmolStr, i64, i64)>,
    declared_wm: i64,
    seq: u64,
    rules: Vec<RuleSnap>,
    lists: Vec<(String, SmolStr, Key, Entry)>,
    list_stats: Vec<(String, StoreStats)>,
}

/// Version 1 (one watermark for all tenants), read so an upgrade keeps its state.
#[derive(Deserialize)]
struct RuleSnapV1 {
    id: String,
    version: u32,
    fingerprint: u64,
    pending: Vec<Fact>,
    groups: Vec<(GKey, Bucket)>,
    late_groups: Vec<(GKey, Bucket)>,
    frontier: i64,
    last_sweep: i64,
    stats: RuleStats,
}

#[derive(Deserialize)]
struct SnapshotV1 {
    _version: u32,
    max_ts: i64,
    declared_wm: i64,
    seq: u64,
    rules: Vec<RuleSnapV1>,
    lists: Vec<(String, SmolStr, Key, Entry)>,
    list_stats: Vec<(String, StoreStats)>,
}

impl SnapshotV1 {
    /// The one clock of version 1 becomes every tenant's that the state names: each tenant
    /// continues from where the shared watermark was.
    fn upgrade(self) -> Snapshot {
        let mut tenants: Vec<SmolStr> = Vec::new();
        for r in &self.rules {
            let keys = r
                .groups
                .iter()
                .chain(&r.late_groups)
                .map(|(k, _)| k.first());
            for t in keys.flatten().chain(r.pending.iter().map(|f| &f.tenant)) {
                tenants.push(t.clone());
            }
        }
        tenants.extend(self.lists.iter().map(|(_, t, _, _)| t.clone()));
        tenants.sort();
        tenants.dedup();
        Snapshot {
            version: SNAPSHOT_VERSION,
            clocks: tenants
                .iter()
                .map(|t| (t.clone(), self.max_ts, i64::MIN))
                .collect(),
            declared_wm: self.declared_wm,
            seq: self.seq,
            rules: self
                .rules
                .into_iter()
                .map(|r| RuleSnap {
                    id: r.id,
                    version: r.version,
                    fingerprint: r.fingerprint,
                    pending: r.pending,
                    groups: r.groups,
                    late_groups: r.late_groups,
                    frontiers: tenants.iter().map(|t| (t.clone(), r.frontier)).collect(),
                    last_sweep: r.last_sweep,
                    stats: r.stats,
                })
                .collect(),
            lists: self.lists,
            list_stats: self.list_stats,
        }
    }
}

/// What [`Engine::restore`] kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Rules whose state was restored (same id, version and logic).
    pub rules_restored: usize,
    /// Rules of the snapshot left out (gone, or changed: they start clean).
    pub rules_dropped: Vec<String>,
    /// Groups restored.
    pub groups: usize,
    /// Buffered events restored.
    pub pending: usize,
    /// List and table entries restored.
    pub list_entries: usize,
    /// Buckets left out because they did not fit their rule (a damaged snapshot).
    pub groups_skipped: usize,
}

/// A snapshot that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Corrupt or of another format.
    #[error("correlation snapshot unreadable: {0}")]
    Decode(String),
    /// Another format version.
    #[error("correlation snapshot version {0}, expected {SNAPSHOT_VERSION}")]
    Version(u32),
}

impl Engine {
    /// The whole state (reorder buffers, buckets, timers, lists, counters, watermark) as
    /// bytes. Taken between two [`Engine::process`] calls, it holds every event of the batches
    /// before it and none after, so a restart that replays from the next batch loses no bucket
    /// and counts no event twice.
    pub fn snapshot(&self) -> Vec<u8> {
        let rules = self
            .rules
            .rules
            .iter()
            .zip(&self.states)
            .map(|(r, st)| {
                let mut pending: Vec<Fact> = st
                    .lanes
                    .iter()
                    .flat_map(|l| l.pending.facts())
                    .cloned()
                    .collect();
                pending.sort_by_key(|f| (f.ts, f.id, f.seq));
                let mut groups: Vec<(GKey, Bucket)> = st
                    .groups
                    .iter()
                    .map(|(k, b)| (k.clone(), b.clone()))
                    .collect();
                groups.sort_by(|a, b| a.0.cmp(&b.0));
                let mut late_groups: Vec<(GKey, Bucket)> = st
                    .late_groups
                    .iter()
                    .map(|(k, b)| (k.clone(), b.clone()))
                    .collect();
                late_groups.sort_by(|a, b| a.0.cmp(&b.0));
                RuleSnap {
                    id: r.id.clone(),
                    version: r.version,
                    fingerprint: r.fingerprint,
                    pending,
                    groups,
                    late_groups,
                    frontiers: st
                        .lanes
                        .iter()
                        .zip(&self.clocks)
                        .map(|(l, c)| (c.tenant.clone(), l.frontier))
                        .collect(),
                    last_sweep: st.last_sweep,
                    stats: st.stats.clone(),
                }
            })
            .collect();
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            clocks: self
                .clocks
                .iter()
                .map(|c| (c.tenant.clone(), c.max_ts, c.declared))
                .collect(),
            declared_wm: self.declared_wm,
            seq: self.seq,
            rules,
            lists: self.stores.snapshot(),
            list_stats: self.stores.snapshot_stats(),
        };
        postcard::to_stdvec(&snap).unwrap_or_default()
    }

    /// Replaces the state with a snapshot's. Rules are matched by id, version and logic
    /// fingerprint: an unchanged rule gets its state back, a changed or new rule starts clean.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<RestoreReport, SnapshotError> {
        let decode = |e: postcard::Error| SnapshotError::Decode(e.to_string());
        let (version, _) = postcard::take_from_bytes::<u32>(bytes).map_err(decode)?;
        let snap: Snapshot = match version {
            1 => postcard::from_bytes::<SnapshotV1>(bytes)
                .map_err(decode)?
                .upgrade(),
            SNAPSHOT_VERSION => postcard::from_bytes(bytes).map_err(decode)?,
            v => return Err(SnapshotError::Version(v)),
        };
        let mut report = RestoreReport::default();
        self.clocks.clear();
        self.clock_ids.clear();
        self.last_clock = 0;
        for (tenant, max_ts, declared) in snap.clocks {
            let ci = self.clock_of(&tenant);
            let c = &mut self.clocks[ci];
            c.max_ts = c.max_ts.max(max_ts);
            c.declared = c.declared.max(declared);
        }
        self.declared_wm = snap.declared_wm;
        self.seq = snap.seq;
        for st in &mut self.states {
            *st = RuleState {
                last_sweep: i64::MIN,
                ..RuleState::default()
            };
        }
        for rs in snap.rules {
            let Some(ri) = self.rule_index(&rs.id) else {
                report.rules_dropped.push(rs.id);
                continue;
            };
            let rule = self.rules.rules[ri].clone();
            if rule.version != rs.version || rule.fingerprint != rs.fingerprint {
                report.rules_dropped.push(rs.id);
                continue;
            }
            report.rules_restored += 1;
            report.groups += rs.groups.len();
            report.pending += rs.pending.len();
            // the lanes of the tenants the rule's state names (a tenant without a clock in a
            // damaged snapshot gets one)
            let frontiers: Vec<(usize, i64)> = rs
                .frontiers
                .iter()
                .map(|(t, f)| (self.clock_of(t), *f))
                .collect();
            let pending: Vec<(usize, Fact)> = rs
                .pending
                .into_iter()
                .map(|f| (self.clock_of(&f.tenant), f))
                .collect();
            let mut lane_of = |k: &GKey| k.first().map(|t| self.clock_of(t));
            let groups: Vec<(bool, Option<usize>, GKey, Bucket)> =
                [(false, rs.groups), (true, rs.late_groups)]
                    .into_iter()
                    .flat_map(|(late, g)| g.into_iter().map(move |(k, b)| (late, k, b)))
                    .map(|(late, k, b)| (late, lane_of(&k), k, b))
                    .collect();
            let st = &mut self.states[ri];
            for (ci, f) in frontiers {
                st.lane(ci).frontier = f;
            }
            st.last_sweep = rs.last_sweep;
            st.stats = rs.stats;
            for (ci, f) in pending {
                st.lane(ci).pending.push(Pend::new(f));
            }
            let n_sel = rule.selectors.len();
            let fits = |b: &Bucket| match &b.logic {
                Logic::Std(sb) => sb.sels.len() == n_sel && sb.totals.len() == n_sel,
                Logic::Seq(qb) => qb
                    .partials
                    .iter()
                    .all(|p| p.step < n_sel && p.caps.len() <= n_sel),
                Logic::Abs(_) => rule.kind == RuleKind::Absence,
                Logic::Plain => true,
            };
            for (late, ci, k, mut b) in groups {
                let Some(ci) = ci else {
                    // a group key without its tenant (damaged): left out
                    report.groups_skipped += 1;
                    continue;
                };
                if !fits(&b) {
                    // a snapshot that does not fit the rule (damaged): the bucket is left out
                    report.groups_skipped += 1;
                    continue;
                }
                let d = match &mut b.logic {
                    Logic::Std(sb) => sb.window_start.map(|s| s.saturating_add(rule.window_ns)),
                    Logic::Abs(ab) => {
                        ab.timer_at = ab.deadline;
                        ab.deadline
                    }
                    _ => None,
                };
                if let Some(d) = d {
                    st.lane(ci).timers.push(Reverse((d, late, k.clone())));
                }
                if late {
                    st.late_groups.insert(k, b);
                } else {
                    st.groups.insert(k, b);
                }
            }
        }
        // lanes that were not in the snapshot (new rules, tenants new to a rule) start at the
        // restored time of their tenant, not before it
        let (clocks, all) = (&self.clocks, self.declared_wm);
        for (ri, st) in self.states.iter_mut().enumerate() {
            let lateness = self.rules.rules[ri].lateness_ns;
            if st.lanes.len() < clocks.len() {
                st.lanes.resize_with(clocks.len(), Lane::default);
            }
            for (lane, c) in st.lanes.iter_mut().zip(clocks) {
                if lane.frontier == i64::MIN {
                    lane.frontier = clock_wm(c, lateness, all);
                }
            }
        }
        report.list_entries = snap.lists.len();
        self.stores.restore(snap.lists, snap.list_stats);
        self.groups_total = self.states.iter().map(|s| s.groups.len()).sum();
        Ok(report)
    }

    /// A new engine for `rules` that keeps this one's state for every unchanged rule (and the
    /// lists and tables): a rule reload.
    pub fn reload(&self, rules: Rules) -> (Engine, RestoreReport) {
        let mut next = Engine::new(rules, self.opts.clone());
        let report = next.restore(&self.snapshot()).unwrap_or_default();
        (next, report)
    }
}
