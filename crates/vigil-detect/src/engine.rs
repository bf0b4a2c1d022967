//! The compiled, shared matcher: rules grouped by logsource conditions, gated by a literal
//! prefilter, evaluated per event.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::correlation::CorrelationRule;
use crate::event::{FieldValue, SigmaEvent};
use crate::load::LoadProblem;
use crate::pipeline::Pipeline;
use crate::rule::LogSource;
use crate::tree::{FieldCheck, Node};
use crate::value::{Cache, EvalCtx, SStr, compile_sstr, lower};

/// What a detection reports about its rule.
#[derive(Debug, Clone, Default)]
pub struct RuleInfo {
    /// Rule `id` (or the title when the rule has no id).
    pub id: String,
    /// Rule `name`, if any (referenced by correlations and filters).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `level`.
    pub level: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `tags` (ATT&CK techniques and tactics as `attack.*`).
    pub tags: Vec<String>,
    /// The rule's logsource.
    pub logsource: LogSource,
    /// The file the rule came from.
    pub path: Option<PathBuf>,
}

/// One field value that contributed to a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedField {
    /// Event field name (after mapping); `<keyword>` for full-text matches.
    pub field: String,
    /// The matching value.
    pub value: String,
}

/// A rule that matched an event.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The rule.
    pub rule: Arc<RuleInfo>,
    /// The field values that made the positive parts of the condition true.
    pub matched: Vec<MatchedField>,
}

/// A detection rule ready for the engine (tree compiled, filters applied).
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub info: Arc<RuleInfo>,
    pub tree: Node,
}

#[derive(Debug)]
struct Variant {
    rule: u32,
    tree: Node,
    gated: bool,
    /// One bit per gate set; all must be seen before the variant is evaluated.
    gate_mask: u8,
}

/// A rule variant before indexing: rule index, logsource conditions, tree.
type RawVariant = (u32, Vec<(String, Vec<String>)>, Node);

/// Most literals in one automaton built as a DFA; fields are packed together up to this.
const PACK_NEEDLES: usize = 2000;

/// Most literal sets a variant is gated on.
const MAX_GATES: usize = 2;

/// One automaton over the prefilter literals of a bucket: either over the (lowercased) values
/// of a field (several fields would be concatenated, NUL-separated, and matches attributed
/// by position), or, for keyword detections, over every string value of the event.
#[derive(Debug)]
struct Scanner {
    /// Unique within the rule set (part of the scan cache key).
    id: u32,
    /// Fields scanned; empty for the keyword scanner.
    fields: Vec<Box<str>>,
    ac: AhoCorasick,
    /// needle id → (field index, variant, gate bit); the field index is ignored for keywords.
    needle_variants: Vec<Vec<(u16, u32, u8)>>,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Variants evaluated for every event of the bucket (no usable literal).
    ungated: Vec<u32>,
    /// All variants (for cost reporting).
    variants: Vec<u32>,
    scanners: Vec<Scanner>,
}

#[derive(Debug, Default)]
struct Level2 {
    map: HashMap<Box<str>, usize>,
    wild: Option<usize>,
}

/// Counters describing a compiled rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSetStats {
    /// Detection rules loaded.
    pub rules: usize,
    /// Rule variants (one per logsource mapping a rule compiles to).
    pub variants: usize,
    /// Rules not evaluated because the pipeline does not map their logsource.
    pub unmapped: usize,
    /// Variants gated by the literal prefilter.
    pub gated: usize,
    /// Distinct prefilter literals.
    pub needles: usize,
    /// Logsource buckets.
    pub buckets: usize,
}

/// Work done for one event (see [`RuleSet::matches_with_cost`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalCost {
    /// Rule variants routed to the event by its logsource fields.
    pub candidates: usize,
    /// Variants actually evaluated (the rest were skipped by the literal prefilter).
    pub evaluated: usize,
    /// Of those, variants without a usable literal (always evaluated).
    pub ungated: usize,
    /// Literal occurrences found by the prefilter automata.
    pub literal_hits: usize,
    /// Bytes scanned by the prefilter automata.
    pub bytes_scanned: usize,
    /// Automaton runs (one per scanned field, or per string value for keyword literals).
    pub scans: usize,
    /// (literal, rule variant) pairs visited for the literal hits.
    pub marks: usize,
    /// Field values whose literals came from the scan cache instead of a scan.
    pub cached_values: usize,
}

/// A compiled set of Sigma rules: compile once, share between threads, call
/// [`RuleSet::matches`] per event.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Arc<RuleInfo>>,
    variants: Vec<Variant>,
    buckets: Vec<Bucket>,
    index_fields: [Option<Box<str>>; 2],
    level1: HashMap<Box<str>, Level2>,
    wild1: Level2,
    stats: RuleSetStats,
    pub(crate) warnings: Vec<LoadProblem>,
    pub(crate) correlations: Vec<CorrelationRule>,
    /// Unique per rule set built in this process (part of the scan cache key).
    uid: u64,
    /// Slots of the per-thread scan cache (0: off).
    scan_cache_slots: usize,
}

/// Default number of slots of the per-thread scan cache (see [`RuleSet::set_scan_cache`]).
pub const DEFAULT_SCAN_CACHE_SLOTS: usize = 512;

/// Values longer than this are always scanned (not cached).
const SCAN_CACHE_MAX_VALUE: usize = 1024;

/// One remembered prefilter scan: which literals of a scanner occur in one field value.
#[derive(Debug, Default)]
struct ScanMemo {
    /// Hash of (rule set, scanner, field, value); 0: empty slot.
    key: u64,
    value: String,
    patterns: Vec<u32>,
}

/// Where a value scanned in the current run came from.
#[derive(Debug, Clone, Copy)]
struct ValueSpan {
    /// End of the value (its NUL) in the scanned text.
    end: u32,
    /// Field index within the scanner.
    field: u16,
    /// Scan cache slot to fill with the value's literals (`usize::MAX`: not cached).
    slot: usize,
    key: u64,
}

/// FxHash-style hash of a field value (cheap; the cache compares the value itself).
fn value_hash(seed: u64, v: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = seed.wrapping_mul(K);
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h = (h.rotate_left(5) ^ v.len() as u64).wrapping_mul(K);
    // Never 0 (the empty-slot marker).
    h | 1
}

static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Default)]
struct Scratch {
    epoch: u32,
    variant_stamp: Vec<u32>,
    variant_mask: Vec<u8>,
    rule_stamp: Vec<u32>,
    /// Concatenated field values scanned by the prefilter, and where each value ends.
    hay: String,
    bounds: Vec<ValueSpan>,
    /// Per-thread scan cache: field values that recur (image paths, parent images, call
    /// traces, ...) are not scanned again; direct-mapped, keyed by rule set, scanner, field
    /// and value.
    memo: Vec<ScanMemo>,
    /// Gated variants whose literals were all found for the current event.
    hits: Vec<u32>,
    cache: Cache,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn key_of(ev: &dyn SigmaEvent, field: &str) -> Option<String> {
    let mut out = None;
    ev.field(field, &mut |v| {
        if out.is_none() {
            out = match v {
                FieldValue::Str(s) => Some(lower(s).into_owned()),
                FieldValue::Int(i) => Some(i.to_string()),
                FieldValue::Float(f) => Some(f.to_string()),
                FieldValue::Bool(b) => Some(b.to_string()),
                FieldValue::Null => None,
            }
        }
    });
    out
}

impl RuleSet {
    /// Build from compiled rules and the pipeline that maps their logsources.
    pub(crate) fn build(rules: Vec<CompiledRule>, pipeline: &Pipeline) -> RuleSet {
        let mut set = RuleSet {
            uid: NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            scan_cache_slots: DEFAULT_SCAN_CACHE_SLOTS,
            ..RuleSet::default()
        };
        let mut raw_variants: Vec<RawVariant> = Vec::new();
        for (i, r) in rules.into_iter().enumerate() {
            set.rules.push(r.info.clone());
            match pipeline.variants(&r.info.logsource) {
                None => {
                    set.stats.unmapped += 1;
                    set.warnings.push(LoadProblem::warning(
                        &r.info,
                        format!(
                            "logsource {} is not mapped by pipeline '{}'; the rule is loaded but not evaluated",
                            fmt_ls(&r.info.logsource),
                            pipeline.name
                        ),
                    ));
                }
                Some(vs) => {
                    for v in vs {
                        let mut tree = r.tree.clone();
                        if !v.fieldmap.is_empty() {
                            tree.rename(&v.fieldmap);
                        }
                        raw_variants.push((i as u32, v.conditions, tree));
                    }
                }
            }
        }
        set.stats.rules = set.rules.len();
        // Index on the two most used condition fields.
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (_, conds, _) in &raw_variants {
            for (f, _) in conds {
                *counts.entry(f.as_str()).or_default() += 1;
            }
        }
        let mut fields: Vec<(&str, usize)> = counts.into_iter().collect();
        fields.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let idx: Vec<String> = fields.iter().take(2).map(|(f, _)| f.to_string()).collect();
        set.index_fields = [
            idx.first().map(|s| s.as_str().into()),
            idx.get(1).map(|s| s.as_str().into()),
        ];

        let mut variant_gates: Vec<Vec<Vec<crate::tree::Needle>>> = Vec::new();
        for (rule, conds, tree) in raw_variants {
            let vals_for = |f: &Option<Box<str>>| -> Vec<Option<String>> {
                match f
                    .as_ref()
                    .and_then(|f| conds.iter().find(|(c, _)| c.as_str() == &**f))
                {
                    Some((_, vals)) => vals.iter().map(|v| Some(lower(v).into_owned())).collect(),
                    None => vec![None],
                }
            };
            let k1 = vals_for(&set.index_fields[0]);
            let k2 = vals_for(&set.index_fields[1]);
            // Conditions on the index fields are guaranteed by the bucket the variant is in.
            let index_fields = set.index_fields.clone();
            let mut parts: Vec<Node> = conds
                .iter()
                .filter(|(f, _)| !index_fields.iter().flatten().any(|i| **i == **f))
                .map(|(f, vals)| {
                    Node::Field(FieldCheck {
                        field: f.as_str().into(),
                        matchers: vals
                            .iter()
                            .filter_map(|v| compile_sstr(SStr::lit(v), false).ok())
                            .collect(),
                        all: false,
                    })
                })
                .collect();
            let gates = tree.gates(MAX_GATES);
            let gated = !gates.is_empty();
            let gate_mask = ((1u16 << gates.len()) - 1) as u8;
            variant_gates.push(gates);
            let mut tree = tree;
            tree.optimize();
            parts.push(tree);
            let full = if parts.len() == 1 {
                parts.remove(0)
            } else {
                Node::And(parts)
            };
            let vid = set.variants.len() as u32;
            set.variants.push(Variant {
                rule,
                tree: full,
                gated,
                gate_mask,
            });
            if gated {
                set.stats.gated += 1;
            }
            for a in &k1 {
                for b in &k2 {
                    let l2 = match a {
                        Some(a) => set.level1.entry(a.as_str().into()).or_default(),
                        None => &mut set.wild1,
                    };
                    let bi = match b {
                        Some(b) => match l2.map.get(b.as_str()) {
                            Some(&i) => i,
                            None => {
                                set.buckets.push(Bucket::default());
                                l2.map.insert(b.as_str().into(), set.buckets.len() - 1);
                                set.buckets.len() - 1
                            }
                        },
                        None => match l2.wild {
                            Some(i) => i,
                            None => {
                                set.buckets.push(Bucket::default());
                                l2.wild = Some(set.buckets.len() - 1);
                                set.buckets.len() - 1
                            }
                        },
                    };
                    let bucket = &mut set.buckets[bi];
                    bucket.variants.push(vid);
                }
            }
        }
        set.stats.variants = set.variants.len();
        set.stats.buckets = set.buckets.len();
        // Per bucket, one automaton per field over its literals (small automata stay DFAs
        // that fit the caches) and one over keyword literals.
        let mut total_needles = 0;
        let mut scanner_id = 0u32;
        for bucket in &mut set.buckets {
            // field (None: keywords) → (ids, patterns, entries)
            type Acc = (
                HashMap<Box<str>, usize>,
                Vec<Box<str>>,
                Vec<Vec<(u16, u32, u8)>>,
            );
            let mut acc: Vec<(Option<Box<str>>, Acc)> = Vec::new();
            for &vid in &bucket.variants {
                for (g, ns) in variant_gates[vid as usize].iter().enumerate() {
                    for (field, n) in ns {
                        let k = match acc.iter().position(|(f, _)| f == field) {
                            Some(k) => k,
                            None => {
                                acc.push((field.clone(), Acc::default()));
                                acc.len() - 1
                            }
                        };
                        let (ids, pats, nv) = &mut acc[k].1;
                        let id = *ids.entry(n.clone()).or_insert_with(|| {
                            pats.push(n.clone());
                            nv.push(Vec::new());
                            pats.len() - 1
                        });
                        let entry = (0u16, vid, 1u8 << g);
                        if !nv[id].contains(&entry) {
                            nv[id].push(entry);
                        }
                    }
                }
            }
            acc.sort_by(|a, b| a.0.cmp(&b.0));
            // Pack the fields with few literals into shared automata (one run scans them
            // all, NUL-separated); fields with many literals keep their own.
            type Group = (
                Vec<Box<str>>,
                HashMap<Box<str>, usize>,
                Vec<Box<str>>,
                Vec<Vec<(u16, u32, u8)>>,
            );
            let mut keyword: Option<Group> = None;
            let mut groups: Vec<Group> = Vec::new();
            acc.sort_by_key(|(_, a)| a.1.len());
            for (field, (_, pats, nv)) in acc {
                let Some(field) = field else {
                    keyword = Some((Vec::new(), HashMap::new(), pats, nv));
                    continue;
                };
                let fits = groups
                    .last()
                    .is_some_and(|g| g.2.len() + pats.len() <= PACK_NEEDLES && g.0.len() < 1000);
                if !fits {
                    groups.push(Default::default());
                }
                let Some(g) = groups.last_mut() else { continue };
                let fi = g.0.len() as u16;
                g.0.push(field);
                for (p, entries) in pats.into_iter().zip(nv) {
                    let id = *g.1.entry(p.clone()).or_insert_with(|| {
                        g.2.push(p);
                        g.3.push(Vec::new());
                        g.2.len() - 1
                    });
                    g.3[id].extend(entries.into_iter().map(|(_, v, b)| (fi, v, b)));
                }
            }
            let mut failed = false;
            for (fields, _, pats, nv) in groups.into_iter().chain(keyword) {
                if pats.is_empty() {
                    continue;
                }
                total_needles += pats.len();
                let kind = if pats.len() <= PACK_NEEDLES {
                    Some(aho_corasick::AhoCorasickKind::DFA)
                } else {
                    Some(aho_corasick::AhoCorasickKind::ContiguousNFA)
                };
                match AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(fields.is_empty())
                    .kind(kind)
                    .build(pats.iter().map(|p| p.as_bytes()))
                {
                    Ok(ac) => {
                        scanner_id += 1;
                        bucket.scanners.push(Scanner {
                            id: scanner_id,
                            fields,
                            ac,
                            needle_variants: nv,
                        })
                    }
                    Err(_) => failed = true,
                }
            }
            if failed {
                // Without all its automata a bucket cannot gate: evaluate everything.
                bucket.scanners.clear();
                for &vid in &bucket.variants {
                    set.variants[vid as usize].gated = false;
                }
            }
            bucket.ungated = bucket
                .variants
                .iter()
                .copied()
                .filter(|v| !set.variants[*v as usize].gated)
                .collect();
        }
        set.stats.needles = total_needles;
        set
    }

    /// Evaluate every applicable rule against one event; matching rules are appended to `out`
    /// (at most one detection per rule).
    pub fn matches(&self, ev: &dyn SigmaEvent, out: &mut Vec<Detection>) {
        self.matches_inner(ev, out, &mut EvalCost::default())
    }

    /// Like [`RuleSet::matches`], also reporting how much work the event cost.
    pub fn matches_with_cost(&self, ev: &dyn SigmaEvent, out: &mut Vec<Detection>) -> EvalCost {
        let mut cost = EvalCost::default();
        self.matches_inner(ev, out, &mut cost);
        cost
    }

    fn matches_inner(&self, ev: &dyn SigmaEvent, out: &mut Vec<Detection>, cost: &mut EvalCost) {
        if self.variants.is_empty() {
            return;
        }
        let k1 = self.index_fields[0].as_ref().and_then(|f| key_of(ev, f));
        let k2 = self.index_fields[1].as_ref().and_then(|f| key_of(ev, f));
        let mut cands: [Option<usize>; 4] = [None; 4];
        let mut n = 0;
        let l2s = [
            k1.as_ref().and_then(|k| self.level1.get(k.as_str())),
            Some(&self.wild1),
        ];
        for l2 in l2s.into_iter().flatten() {
            if let Some(k2) = &k2
                && let Some(&b) = l2.map.get(k2.as_str())
            {
                cands[n] = Some(b);
                n += 1;
            }
            if let Some(b) = l2.wild {
                cands[n] = Some(b);
                n += 1;
            }
        }
        if n == 0 {
            return;
        }
        SCRATCH.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return;
            };
            let s = &mut *s;
            if s.epoch == u32::MAX {
                s.variant_stamp.iter_mut().for_each(|x| *x = 0);
                s.rule_stamp.iter_mut().for_each(|x| *x = 0);
                s.epoch = 0;
            }
            s.epoch += 1;
            if s.variant_stamp.len() < self.variants.len() {
                s.variant_stamp.resize(self.variants.len(), 0);
                s.variant_mask.resize(self.variants.len(), 0);
            }
            if s.rule_stamp.len() < self.rules.len() {
                s.rule_stamp.resize(self.rules.len(), 0);
            }
            if s.memo.len() < self.scan_cache_slots {
                s.memo.resize_with(self.scan_cache_slots, ScanMemo::default);
            }
            let epoch = s.epoch;
            let ctx = EvalCtx::new(ev, std::mem::take(&mut s.cache));
            s.hits.clear();
            for b in cands.iter().take(n).flatten() {
                let bucket = &self.buckets[*b];
                cost.candidates += bucket.variants.len();
                for sc in &bucket.scanners {
                    scan(self, sc, &ctx, s, epoch, cost);
                }
                let hits = std::mem::take(&mut s.hits);
                cost.ungated += bucket.ungated.len();
                for &vid in bucket.ungated.iter().chain(hits.iter()) {
                    let v = &self.variants[vid as usize];
                    cost.evaluated += 1;
                    if s.rule_stamp[v.rule as usize] == epoch {
                        continue;
                    }
                    if v.tree.eval(&ctx, None) {
                        s.rule_stamp[v.rule as usize] = epoch;
                        let mut rec = Vec::new();
                        v.tree.eval(&ctx, Some(&mut rec));
                        out.push(Detection {
                            rule: self.rules[v.rule as usize].clone(),
                            matched: rec
                                .into_iter()
                                .map(|(field, value)| MatchedField { field, value })
                                .collect(),
                        });
                    }
                }
                s.hits = hits;
                s.hits.clear();
            }
            s.cache = ctx.into_cache();
        });
    }

    /// Size the per-thread scan cache: how many field values (per thread) remember which
    /// prefilter literals they contain, so that a value seen again (the same image path,
    /// parent image, call trace, ...) is not scanned again. Direct-mapped: a value is only
    /// found again while no other value took its slot, so a small cache helps the values that
    /// recur often in a stream and costs one hash and one comparison otherwise. 0 turns it
    /// off; the default is [`DEFAULT_SCAN_CACHE_SLOTS`].
    pub fn set_scan_cache(&mut self, slots: usize) {
        self.scan_cache_slots = slots;
    }

    /// Evaluate one event and return the detections.
    pub fn detect(&self, ev: &dyn SigmaEvent) -> Vec<Detection> {
        let mut out = Vec::new();
        self.matches(ev, &mut out);
        out
    }

    /// Rules with at least one variant the literal prefilter cannot gate (evaluated for every
    /// event of their logsource): the expensive ones.
    pub fn ungated_rules(&self) -> Vec<Arc<RuleInfo>> {
        let mut seen = vec![false; self.rules.len()];
        let mut out = Vec::new();
        for v in &self.variants {
            if !v.gated && !seen[v.rule as usize] {
                seen[v.rule as usize] = true;
                out.push(self.rules[v.rule as usize].clone());
            }
        }
        out
    }

    /// The loaded detection rules.
    pub fn rules(&self) -> &[Arc<RuleInfo>] {
        &self.rules
    }

    /// Number of detection rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no detection rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Lint-level problems: rules that loaded but may not behave as intended (unmapped
    /// logsource, missing placeholder values, filters that reference unknown rules, ...).
    pub fn warnings(&self) -> &[LoadProblem] {
        &self.warnings
    }

    /// Counters describing the compiled set.
    pub fn stats(&self) -> &RuleSetStats {
        &self.stats
    }

    /// The correlation rules loaded alongside (see [`crate::Correlator`]).
    pub fn correlations(&self) -> &[CorrelationRule] {
        &self.correlations
    }
}

fn scan(
    set: &RuleSet,
    sc: &Scanner,
    ctx: &EvalCtx<'_>,
    s: &mut Scratch,
    epoch: u32,
    cost: &mut EvalCost,
) {
    let variants = &set.variants;
    let mut marks = 0usize;
    let mut mark = |s: &mut Scratch, entries: &[(u16, u32, u8)], field: Option<u16>| {
        marks += entries.len();
        for &(f, v, bit) in entries {
            if field.is_some_and(|x| x != f) {
                continue;
            }
            let vi = v as usize;
            if s.variant_stamp[vi] != epoch {
                s.variant_stamp[vi] = epoch;
                s.variant_mask[vi] = 0;
            }
            if s.variant_mask[vi] & bit == 0 {
                s.variant_mask[vi] |= bit;
                if s.variant_mask[vi] == variants[vi].gate_mask {
                    s.hits.push(v);
                }
            }
        }
    };
    let mut hay = std::mem::take(&mut s.hay);
    let mut bounds = std::mem::take(&mut s.bounds);
    hay.clear();
    bounds.clear();
    if sc.fields.is_empty() {
        // Keyword literals: every string value, NUL-separated (this automaton folds ASCII
        // case itself; other text is lowercased first).
        ctx.ev.all_values(&mut |v| {
            if v.is_ascii() {
                hay.push_str(v);
            } else {
                hay.push_str(&v.to_lowercase());
            }
            hay.push('\0');
        });
        cost.bytes_scanned += hay.len();
        cost.scans += 1;
        for m in sc.ac.find_overlapping_iter(&hay) {
            cost.literal_hits += 1;
            mark(s, &sc.needle_variants[m.pattern().as_usize()], None);
        }
        s.hay = hay;
        s.bounds = bounds;
        cost.marks += marks;
        return;
    }
    // Field literals: the lowercased values of every field with literals, NUL-separated
    // (literals are lowercase; matchers see the lowercased text too, and cased matchers see
    // the original, whose lowercase then contains the literal as well). Values found in the
    // scan cache are not scanned: their literals are replayed.
    let slots = set.scan_cache_slots.min(s.memo.len());
    let seed = (set.uid << 32) ^ u64::from(sc.id);
    for (fi, f) in sc.fields.iter().enumerate() {
        let vals = ctx.values(f);
        for i in 0..vals.len() {
            let v = vals.get(i).lower();
            let (mut slot, mut key) = (usize::MAX, 0);
            if slots > 0 && v.len() <= SCAN_CACHE_MAX_VALUE {
                key = value_hash(seed ^ ((fi as u64) << 48), v.as_bytes());
                slot = (key >> 7) as usize % slots;
                let memo = &s.memo[slot];
                if memo.key == key && memo.value == v {
                    cost.cached_values += 1;
                    let pats = std::mem::take(&mut s.memo[slot].patterns);
                    for &p in &pats {
                        cost.literal_hits += 1;
                        mark(s, &sc.needle_variants[p as usize], Some(fi as u16));
                    }
                    s.memo[slot].patterns = pats;
                    continue;
                }
            }
            hay.push_str(v);
            hay.push('\0');
            bounds.push(ValueSpan {
                end: hay.len() as u32,
                field: fi as u16,
                slot,
                key,
            });
        }
    }
    if !bounds.is_empty() {
        cost.bytes_scanned += hay.len();
        cost.scans += 1;
        // Start a fresh memo for every value that will be cached.
        let mut start = 0usize;
        for b in &bounds {
            if b.slot != usize::MAX {
                let memo = &mut s.memo[b.slot];
                memo.key = b.key;
                memo.value.clear();
                memo.value.push_str(&hay[start..b.end as usize - 1]);
                memo.patterns.clear();
            }
            start = b.end as usize;
        }
        // Matches come in order of their end, so the value they are in only moves forward.
        let mut at = 0usize;
        for m in sc.ac.find_overlapping_iter(&hay) {
            cost.literal_hits += 1;
            while at < bounds.len() && (bounds[at].end as usize) <= m.start() {
                at += 1;
            }
            let Some(b) = bounds.get(at).copied() else {
                break;
            };
            let p = m.pattern().as_usize();
            if b.slot != usize::MAX {
                s.memo[b.slot].patterns.push(p as u32);
            }
            mark(s, &sc.needle_variants[p], Some(b.field));
        }
    }
    s.hay = hay;
    s.bounds = bounds;
    cost.marks += marks;
}

fn fmt_ls(ls: &LogSource) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("product", &ls.product),
        ("category", &ls.category),
        ("service", &ls.service),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    format!("[{}]", parts.join(", "))
}
