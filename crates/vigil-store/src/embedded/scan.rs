//! Search and aggregation: snapshot the tenant's memtable blocks and segment row groups, prune
//! them by time, keyword values and token filters, then read the survivors on `scan_threads`
//! threads: keyword columns first, raw text for full-text needles, whole events last and only
//! for the rows that may still match.
//!
//! Every scan runs under the request's [`SearchControl`]: it is checked before each block and
//! every [`CHECK_EVERY`] rows inside one, so a cancelled or timed-out search stops within a
//! fraction of a block; the events a search holds (its top-k heaps) and the executor's groups
//! and rows count against its memory budget.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use vigil_event::Event;
use vigil_query::{
    CHECK_EVERY, CompiledFilter, ExecOptions, Executor, Query, SearchControl, Stage,
};

use super::columns::{ColRecord, ColumnPlan, Columns, prefilter};
use super::index::{self, Needles};
use super::memtable::MemBlock;
use super::segment::Segment;
use super::{EmbeddedConfig, Partition};
use crate::record::{EventRecord, FieldCache};
use crate::{
    AggregateRequest, AggregateResult, MAX_SEARCH_LIMIT, Order, ScanStats, SearchRequest,
    SearchResult, StoreError, TimeRange, event_bytes,
};

/// Checks the control every [`CHECK_EVERY`] rows (`i` counts rows).
#[inline]
fn check_every(ctl: &SearchControl, i: usize) -> Result<(), StoreError> {
    if i % CHECK_EVERY == CHECK_EVERY - 1 {
        ctl.check()?;
    }
    Ok(())
}

/// One block to scan: a memtable block, or a segment's row group.
enum Unit {
    Mem(Arc<MemBlock>),
    Seg(Arc<Segment>, usize),
}

struct Planned {
    unit: Unit,
    min_ts: i64,
    max_ts: i64,
    /// The query's range, its start raised to the partition's retention floor: events
    /// older than the floor are past their space's retention and never returned.
    range: TimeRange,
}

/// The filter of a query: compiled filter, leading `where` stages, pruning needles, range.
struct Plan {
    filter: CompiledFilter,
    wheres: Vec<CompiledFilter>,
    needles: Needles,
    range: TimeRange,
}

impl Plan {
    fn new(query: &Query, range: TimeRange, include_wheres: bool) -> Result<Plan, StoreError> {
        let filter = CompiledFilter::new(&query.filter)?;
        let mut needles = Needles::from_expr(&query.filter);
        let mut wheres = Vec::new();
        if include_wheres {
            for s in &query.stages {
                match s {
                    Stage::Where(e) => {
                        wheres.push(CompiledFilter::new(e)?);
                        let more = Needles::from_expr(e);
                        needles.keys_any.extend(more.keys_any);
                        needles.tokens.extend(more.tokens);
                        needles.texts.extend(more.texts);
                    }
                    _ => break,
                }
            }
        }
        let mut range = range;
        if let Some(f) = needles.from {
            range.from.0 = range.from.0.max(f);
        }
        if let Some(t) = needles.to {
            range.to.0 = range.to.0.min(t);
        }
        Ok(Plan {
            filter,
            wheres,
            needles,
            range,
        })
    }

    fn matches(&self, ev: &Event, cache: &FieldCache) -> bool {
        let r = EventRecord::with_cache(ev, cache);
        self.filter.matches(&r) && self.wheres.iter().all(|w| w.matches(&r))
    }

    /// Whether every full-text needle occurs in the raw record or the message.
    fn texts_may_match(&self, raw: &[u8], message: Option<&str>) -> bool {
        self.needles
            .texts
            .iter()
            .all(|ac| ac.is_match(raw) || message.is_some_and(|m| ac.is_match(m.as_bytes())))
    }
}

/// Lists the blocks of every partition (space, with its retention floor) that may hold
/// matches, with pruning counted in `stats`.
fn plan_units(
    parts: &[(Arc<Partition>, i64)],
    plan: &Plan,
    stats: &mut ScanStats,
) -> Result<Vec<Planned>, StoreError> {
    let mut out = Vec::new();
    for (t, floor) in parts {
        plan_partition(t, *floor, plan, stats, &mut out)?;
    }
    Ok(out)
}

fn plan_partition(
    t: &Partition,
    floor: i64,
    plan: &Plan,
    stats: &mut ScanStats,
    out: &mut Vec<Planned>,
) -> Result<(), StoreError> {
    let mut range = plan.range;
    range.from.0 = range.from.0.max(floor);
    let n = &plan.needles;
    let v = t.view.read();
    let mut mem = |b: &Arc<MemBlock>, prune: bool, out: &mut Vec<Planned>| {
        if b.len() == 0 || !range.overlaps(b.min_ts, b.max_ts) {
            return;
        }
        stats.blocks_total += 1;
        if prune
            && !n.block_may_match(
                index::KEYWORD_FIELDS.len(),
                |k| b.keys.contains(&k),
                |tk| b.tokens.contains(&tk),
            )
        {
            stats.blocks_pruned += 1;
            return;
        }
        out.push(Planned {
            unit: Unit::Mem(b.clone()),
            min_ts: b.min_ts,
            max_ts: b.max_ts,
            range,
        });
    };
    for f in &v.frozen {
        for b in &f.blocks {
            mem(b, true, out);
        }
    }
    for b in &v.active.blocks {
        mem(b, true, out);
    }
    if v.active.open.len() > 0 {
        // The open block is still growing: scan a copy (its pruning sets are not copied).
        let open = Arc::new(v.active.open.copy_events());
        mem(&open, false, out);
    }
    let segments = v.segments.clone();
    drop(v);
    for s in segments {
        if s.events == 0 || !range.overlaps(s.min_ts, s.max_ts) {
            continue;
        }
        let blooms = if n.is_empty() {
            None
        } else {
            Some(s.blooms()?)
        };
        for (rg, g) in s.groups.iter().enumerate() {
            if g.rows == 0 || !range.overlaps(g.min_ts, g.max_ts) {
                continue;
            }
            stats.blocks_total += 1;
            if let Some(b) = blooms.and_then(|b| b.get(rg))
                && !n.block_may_match(
                    s.keywords,
                    |k| index::bloom_may_contain(b, k),
                    |tk| index::bloom_may_contain(b, tk),
                )
            {
                stats.blocks_pruned += 1;
                continue;
            }
            out.push(Planned {
                unit: Unit::Seg(s.clone(), rg),
                min_ts: g.min_ts,
                max_ts: g.max_ts,
                range,
            });
        }
    }
    Ok(())
}

#[derive(Default)]
struct Counters {
    blocks_read: AtomicU64,
    scanned: AtomicU64,
    decoded: AtomicU64,
    matched: AtomicU64,
}

impl Counters {
    fn into_stats(self, mut s: ScanStats, started: Instant) -> ScanStats {
        s.blocks_read = self.blocks_read.into_inner();
        s.events_scanned = self.scanned.into_inner();
        s.events_decoded = self.decoded.into_inner();
        s.events_matched = self.matched.into_inner();
        s.elapsed_us = started.elapsed().as_micros() as u64;
        s
    }
}

fn decode_mem(bytes: &[u8]) -> Result<Event, StoreError> {
    super::codec::decode(bytes)
        .map(|(e, _)| e)
        .map_err(|e| StoreError::Invalid(format!("memtable event does not decode: {e}")))
}

/// Runs `work` over the units on up to `threads` threads; stops at the first error, when
/// `stop` is set, or when `ctl` says so (checked before every unit; `work` checks it inside).
fn run_parallel<F>(
    units: &[Planned],
    threads: usize,
    stop: &AtomicBool,
    ctl: &SearchControl,
    work: F,
) -> Result<(), StoreError>
where
    F: Fn(&Planned, &FieldCache) -> Result<(), StoreError> + Sync,
{
    let next = AtomicUsize::new(0);
    let first_err: Mutex<Option<StoreError>> = Mutex::new(None);
    let worker = || {
        let cache = FieldCache::new();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Err(e) = ctl.check() {
                first_err.lock().get_or_insert(e.into());
                stop.store(true, Ordering::Relaxed);
                break;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(u) = units.get(i) else { break };
            if let Err(e) = work(u, &cache) {
                first_err.lock().get_or_insert(e);
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    };
    let threads = threads.clamp(1, units.len().max(1));
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(worker);
        }
        worker();
    });
    first_err.into_inner().map_or(Ok(()), Err)
}

/// A hit ordered by (sort key, LSN).
struct Hit {
    key: i64,
    lsn: u64,
    ev: Event,
}

impl PartialEq for Hit {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key && self.lsn == o.lsn
    }
}
impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Hit {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (self.key, self.lsn).cmp(&(o.key, o.lsn))
    }
}

/// The best `limit` hits (largest keys), as a min-heap. The events held count against the
/// search's memory budget: a new hit reserves its bytes, an evicted or rejected one releases
/// them.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Reverse<Hit>>,
    ctl: SearchControl,
}

impl TopK {
    fn new(limit: usize, ctl: &SearchControl) -> TopK {
        TopK {
            limit,
            heap: BinaryHeap::new(),
            ctl: ctl.clone(),
        }
    }

    /// Keeps a new hit if it is among the best, reserving its bytes.
    fn push_new(&mut self, h: Hit) -> Result<(), StoreError> {
        if self.limit == 0 || (self.full() && self.heap.peek().is_some_and(|t| h <= t.0)) {
            return Ok(());
        }
        self.ctl.reserve(event_bytes(&h.ev))?;
        self.push(h);
        Ok(())
    }

    fn full(&self) -> bool {
        self.heap.len() >= self.limit
    }
    /// The smallest (key, lsn) a new hit must beat, when full.
    fn floor(&self) -> Option<(i64, u64)> {
        if self.full() {
            self.heap.peek().map(|h| (h.0.key, h.0.lsn))
        } else {
            None
        }
    }
    /// Keeps a hit whose bytes are already reserved; releases what is dropped.
    fn push(&mut self, h: Hit) {
        if self.limit > 0 && self.heap.len() < self.limit {
            self.heap.push(Reverse(h));
            return;
        }
        let dropped = match self.heap.peek_mut() {
            Some(mut top) if h > top.0 => std::mem::replace(&mut *top, Reverse(h)).0,
            _ => h,
        };
        self.ctl.release(event_bytes(&dropped.ev));
    }
}

pub(crate) fn search_empty(req: &SearchRequest) -> Result<SearchResult, StoreError> {
    check_search(req)?;
    CompiledFilter::new(&req.query.filter)?;
    Ok(SearchResult::default())
}

fn check_search(req: &SearchRequest) -> Result<(), StoreError> {
    if req.query.stages.iter().any(Stage::is_aggregation) {
        return Err(StoreError::Invalid(
            "search does not run aggregations; use aggregate".into(),
        ));
    }
    Ok(())
}

/// The keyword-column prefilter of a query's filter and leading `where` stages.
fn column_prefilter(query: &Query) -> Result<Option<(CompiledFilter, ColumnPlan)>, StoreError> {
    let mut exprs = vec![&query.filter];
    for s in &query.stages {
        match s {
            Stage::Where(e) => exprs.push(e),
            _ => break,
        }
    }
    Ok(match prefilter(&exprs) {
        Some((e, p)) => Some((CompiledFilter::new(&e)?, p)),
        None => None,
    })
}

/// Rows of a row group that pass the time range, `accept` (by timestamp and LSN) and the
/// column prefilter, then (with full-text needles) the raw-text check.
#[allow(clippy::too_many_arguments)]
fn seg_candidates(
    s: &Segment,
    rg: usize,
    range: TimeRange,
    plan: &Plan,
    pre: Option<&(CompiledFilter, ColumnPlan)>,
    accept: impl Fn(i64, u64) -> bool,
    scanned: &mut u64,
    ctl: &SearchControl,
) -> Result<(Vec<u64>, Columns, Vec<usize>), StoreError> {
    let fields = pre.map(|(_, p)| p.col_fields()).unwrap_or_default();
    let (lsns, cols) = s.columns(rg, &fields)?;
    ctl.check()?;
    let mut cand = Vec::new();
    for (i, (&ts, &lsn)) in cols.ts.iter().zip(&lsns).enumerate() {
        check_every(ctl, i)?;
        if !range.contains(ts) || !accept(ts, lsn) {
            continue;
        }
        *scanned += 1;
        if let Some((f, p)) = pre
            && !f.matches(&ColRecord {
                plan: p,
                cols: &cols,
                i,
            })
        {
            continue;
        }
        cand.push(i);
    }
    if !cand.is_empty() && !plan.needles.texts.is_empty() {
        let t = s.texts(rg, &cand)?;
        ctl.check()?;
        let mut keep = Vec::with_capacity(cand.len());
        for (j, &i) in cand.iter().enumerate() {
            check_every(ctl, j)?;
            if plan.texts_may_match(t.raw(j), t.message(j)) {
                keep.push(i);
            }
        }
        cand = keep;
    }
    Ok((lsns, cols, cand))
}

pub(crate) fn search(
    parts: &[(Arc<Partition>, i64)],
    cfg: &EmbeddedConfig,
    req: &SearchRequest,
) -> Result<SearchResult, StoreError> {
    let started = Instant::now();
    check_search(req)?;
    let plan = Plan::new(&req.query, req.range, true)?;
    let limit = req.limit.min(MAX_SEARCH_LIMIT);
    let mut stats = ScanStats::default();
    let newest = req.order == Order::NewestFirst;
    // Sort key: larger is better.
    let key = move |ts: i64| if newest { ts } else { ts.saturating_neg() };
    let lsn_key = move |lsn: u64| if newest { lsn } else { u64::MAX - lsn };
    let mut units = plan_units(parts, &plan, &mut stats)?;
    // Best blocks first, so that a full top-k lets the rest be skipped.
    units.sort_by_key(|u| Reverse(if newest { u.max_ts } else { key(u.min_ts) }));
    let ctl = &req.control;
    let top = Mutex::new(TopK::new(limit, ctl));
    let c = Counters::default();
    let stop = AtomicBool::new(limit == 0);
    // Conditions on keyword columns are checked before decoding an event.
    let pre = column_prefilter(&req.query)?;
    run_parallel(&units, cfg.scan_threads, &stop, ctl, |u, cache| {
        let best = if newest { u.max_ts } else { key(u.min_ts) };
        let floor = top.lock().floor();
        if let Some((fk, _)) = floor
            && best < fk
        {
            // Units are sorted by their best key: nothing later can make it either.
            stop.store(true, Ordering::Relaxed);
            return Ok(());
        }
        c.blocks_read.fetch_add(1, Ordering::Relaxed);
        let mut local = TopK::new(limit, ctl);
        let (mut scanned, mut decoded, mut matched) = (0, 0, 0);
        match &u.unit {
            Unit::Mem(b) => {
                let cols = if pre.is_some() { b.columns() } else { None };
                for i in 0..b.len() {
                    check_every(ctl, i)?;
                    let ts = b.ts[i];
                    if !u.range.contains(ts) {
                        continue;
                    }
                    let hk = (key(ts), lsn_key(b.first_lsn + i as u64));
                    if let Some(f) = local.floor().max(floor)
                        && hk <= f
                    {
                        continue;
                    }
                    scanned += 1;
                    if let (Some(cols), Some((f, p))) = (&cols, &pre)
                        && !f.matches(&ColRecord { plan: p, cols, i })
                    {
                        continue;
                    }
                    let bytes = b.event(i);
                    if !plan.needles.bytes_may_match(bytes) {
                        continue;
                    }
                    decoded += 1;
                    let ev = decode_mem(bytes)?;
                    if plan.matches(&ev, cache) {
                        matched += 1;
                        local.push_new(Hit {
                            key: hk.0,
                            lsn: hk.1,
                            ev,
                        })?;
                    }
                }
            }
            Unit::Seg(s, rg) => {
                let accept = |ts: i64, lsn: u64| floor.is_none_or(|f| (key(ts), lsn_key(lsn)) > f);
                let (lsns, cols, mut cand) = seg_candidates(
                    s,
                    *rg,
                    u.range,
                    &plan,
                    pre.as_ref(),
                    accept,
                    &mut scanned,
                    ctl,
                )?;
                // Best rows first, a chunk at a time: once `limit` rows matched, the rest of
                // the row group cannot make it.
                let hk = |i: usize| (key(cols.ts[i]), lsn_key(lsns[i]));
                cand.sort_by_key(|&i| Reverse(hk(i)));
                let chunk = (limit.saturating_mul(2)).clamp(64, 4096);
                for part in cand.chunks(chunk) {
                    if local.full() {
                        break;
                    }
                    ctl.check()?;
                    let mut rows = part.to_vec();
                    rows.sort_unstable();
                    let evs = s.events(*rg, &rows)?;
                    for (j, (&i, ev)) in rows.iter().zip(evs).enumerate() {
                        check_every(ctl, j)?;
                        decoded += 1;
                        if plan.matches(&ev, cache) {
                            matched += 1;
                            let (k, l) = hk(i);
                            local.push_new(Hit { key: k, lsn: l, ev })?;
                        }
                    }
                }
            }
        }
        c.scanned.fetch_add(scanned, Ordering::Relaxed);
        c.decoded.fetch_add(decoded, Ordering::Relaxed);
        c.matched.fetch_add(matched, Ordering::Relaxed);
        let mut g = top.lock();
        for Reverse(h) in std::mem::take(&mut local.heap) {
            g.push(h);
        }
        Ok(())
    })?;
    let mut hits: Vec<Hit> = top.into_inner().heap.into_iter().map(|r| r.0).collect();
    hits.sort_by(|a, b| b.cmp(a));
    Ok(SearchResult {
        events: hits.into_iter().map(|h| h.ev).collect(),
        stats: c.into_stats(stats, started),
    })
}

fn exec_options() -> ExecOptions {
    ExecOptions::default()
}

pub(crate) fn aggregate_empty(req: &AggregateRequest) -> Result<AggregateResult, StoreError> {
    CompiledFilter::new(&req.query.filter)?;
    let exec = Executor::new(&req.query, exec_options())?.with_control(req.control.clone());
    Ok(AggregateResult {
        table: exec.finish()?,
        stats: ScanStats::default(),
    })
}

/// Most slots of the table that groups a block's rows by several columns' value ids (above,
/// a hash map).
const DENSE_GROUPS: usize = 1 << 14;

/// Feeds the rows `rows` of a block's columns to the executor. Rows with equal values in
/// every column the plan reads are the same record to the executor: without `@timestamp` in
/// the plan they are grouped and pushed once with their count, and the filter is evaluated
/// once per group.
fn push_columns(
    exec: &Mutex<Executor>,
    cp: &ColumnPlan,
    cols: &Columns,
    rows: impl Iterator<Item = usize>,
    filter: Option<&CompiledFilter>,
    ctl: &SearchControl,
) -> Result<u64, StoreError> {
    let fields = cp.col_fields();
    let rec = |i| ColRecord { plan: cp, cols, i };
    if cp.uses_timestamp() || fields.len() > 4 {
        let mut hits = Vec::new();
        for (n, i) in rows.enumerate() {
            check_every(ctl, n)?;
            if filter.is_none_or(|f| f.matches(&rec(i))) {
                hits.push(i);
            }
        }
        let mut ex = exec.lock();
        for &i in &hits {
            ex.push(&rec(i))?;
        }
        return Ok(hits.len() as u64);
    }
    // Group by the tuple of value ids (0 = absent, then the block's values): in a table indexed
    // by the tuple when it has few slots (always for one field: `vigil.type:correlation | count
    // by rule.name` costs what `| count by process.name` does), else in a hash map.
    let ids: Vec<&[u32]> = fields
        .iter()
        .map(|&f| cols.cols.get(f).map_or(&[][..], |c| c.ids.as_slice()))
        .collect();
    let id = |f: usize, i: usize| ids[f].get(i).copied().unwrap_or(0);
    let sizes: Vec<usize> = fields
        .iter()
        .map(|&f| cols.cols.get(f).map_or(0, |c| c.vals.len()) + 1)
        .collect();
    let slots = sizes
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|&p| fields.len() == 1 || p <= DENSE_GROUPS);
    let mut groups: std::collections::HashMap<[u32; 4], (u64, usize)> =
        std::collections::HashMap::new();
    let mut single: Vec<(u64, usize)> = Vec::new();
    if let Some(slots) = slots {
        single = vec![(0, 0); slots];
        for (n, i) in rows.enumerate() {
            check_every(ctl, n)?;
            let mut k = 0usize;
            for (f, &size) in sizes.iter().enumerate() {
                k = k * size + id(f, i) as usize;
            }
            if let Some(e) = single.get_mut(k) {
                if e.0 == 0 {
                    e.1 = i;
                }
                e.0 += 1;
            }
        }
    } else {
        for (n, i) in rows.enumerate() {
            check_every(ctl, n)?;
            let mut k = [0u32; 4];
            for (f, slot) in k.iter_mut().enumerate().take(fields.len()) {
                *slot = id(f, i);
            }
            let e = groups.entry(k).or_insert((0, i));
            e.0 += 1;
        }
    }
    let mut reps: Vec<(u64, usize)> = Vec::new();
    for (n, (k, i)) in single
        .into_iter()
        .filter(|e| e.0 > 0)
        .chain(groups.into_values())
        .enumerate()
    {
        check_every(ctl, n)?;
        if filter.is_none_or(|f| f.matches(&rec(i))) {
            reps.push((k, i));
        }
    }
    let mut ex = exec.lock();
    let mut total = 0;
    for (n, i) in reps {
        ex.push_repeated(&rec(i), n)?;
        total += n;
    }
    Ok(total)
}

pub(crate) fn aggregate(
    parts: &[(Arc<Partition>, i64)],
    cfg: &EmbeddedConfig,
    req: &AggregateRequest,
) -> Result<AggregateResult, StoreError> {
    let started = Instant::now();
    // Leading `where` stages run in the executor; they still prune here.
    let mut plan = Plan::new(&req.query, req.range, false)?;
    for s in &req.query.stages {
        match s {
            Stage::Where(e) => {
                let n = Needles::from_expr(e);
                plan.needles.keys_any.extend(n.keys_any);
                plan.needles.tokens.extend(n.tokens);
            }
            _ => break,
        }
    }
    let mut stats = ScanStats::default();
    let mut units = plan_units(parts, &plan, &mut stats)?;
    units.sort_by_key(|u| Reverse(u.max_ts));
    let ctl = &req.control;
    let exec = Mutex::new(Executor::new(&req.query, exec_options())?.with_control(ctl.clone()));
    let c = Counters::default();
    let stop = AtomicBool::new(false);
    let match_all = plan.filter.is_match_all() && plan.needles.is_empty();
    let col_plan = ColumnPlan::new(&req.query);
    let pre = match col_plan {
        Some(_) => None,
        None => column_prefilter(&req.query)?,
    };
    let filter = (!match_all).then_some(&plan.filter);
    run_parallel(&units, cfg.scan_threads, &stop, ctl, |u, cache| {
        c.blocks_read.fetch_add(1, Ordering::Relaxed);
        // Column mode: the query reads only keyword columns and @timestamp.
        if let Some(cp) = &col_plan {
            let whole = u.range.contains(u.min_ts) && u.range.contains(u.max_ts);
            let (cols, n) = match &u.unit {
                Unit::Mem(b) => (b.columns(), b.len()),
                Unit::Seg(s, rg) => {
                    // A row group wholly in range needs no times unless the plan reads them.
                    let with_ts = !whole || cp.uses_timestamp();
                    let (_, cols) = s.columns_with(*rg, &cp.col_fields(), false, with_ts)?;
                    let n = s.groups.get(*rg).map_or(0, |g| g.rows);
                    (Some(std::borrow::Cow::Owned(cols)), n)
                }
            };
            if let Some(cols) = cols {
                let rows: Box<dyn Iterator<Item = usize>> = if whole {
                    Box::new(0..n)
                } else {
                    Box::new((0..n).filter(|&i| u.range.contains(cols.ts[i])))
                };
                let scanned = if whole {
                    n as u64
                } else {
                    cols.ts.iter().filter(|&&t| u.range.contains(t)).count() as u64
                };
                let matched = push_columns(&exec, cp, &cols, rows, filter, ctl)?;
                c.scanned.fetch_add(scanned, Ordering::Relaxed);
                c.matched.fetch_add(matched, Ordering::Relaxed);
                return Ok(());
            }
        }
        // Matching events of this block, held until they are pushed: counted against the
        // budget meanwhile.
        let mut hits = Vec::new();
        let mut held = 0usize;
        let mut hold = |ev: Event, hits: &mut Vec<Event>| -> Result<(), StoreError> {
            let b = event_bytes(&ev);
            held += b;
            hits.push(ev);
            ctl.reserve(b)?;
            Ok(())
        };
        let (mut scanned, mut decoded) = (0, 0);
        match &u.unit {
            Unit::Mem(b) => {
                // Keyword conditions first, on the columns; decode only the events that pass.
                let cols = if pre.is_some() { b.columns() } else { None };
                for i in 0..b.len() {
                    check_every(ctl, i)?;
                    if !u.range.contains(b.ts[i]) {
                        continue;
                    }
                    scanned += 1;
                    if let (Some(cols), Some((f, p))) = (&cols, &pre)
                        && !f.matches(&ColRecord { plan: p, cols, i })
                    {
                        continue;
                    }
                    let bytes = b.event(i);
                    if !plan.needles.bytes_may_match(bytes) {
                        continue;
                    }
                    decoded += 1;
                    let ev = decode_mem(bytes)?;
                    if match_all || plan.matches(&ev, cache) {
                        hold(ev, &mut hits)?;
                    }
                }
            }
            Unit::Seg(s, rg) => {
                let (_, _, cand) = seg_candidates(
                    s,
                    *rg,
                    u.range,
                    &plan,
                    pre.as_ref(),
                    |_, _| true,
                    &mut scanned,
                    ctl,
                )?;
                for part in cand.chunks(8192) {
                    ctl.check()?;
                    for (j, ev) in s.events(*rg, part)?.into_iter().enumerate() {
                        check_every(ctl, j)?;
                        decoded += 1;
                        if match_all || plan.matches(&ev, cache) {
                            hold(ev, &mut hits)?;
                        }
                    }
                }
            }
        }
        c.scanned.fetch_add(scanned, Ordering::Relaxed);
        c.decoded.fetch_add(decoded, Ordering::Relaxed);
        c.matched.fetch_add(hits.len() as u64, Ordering::Relaxed);
        let mut ex = exec.lock();
        for ev in &hits {
            ex.push(&EventRecord::with_cache(ev, cache))?;
        }
        if ex.is_done() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(ex);
        drop(hits);
        ctl.release(held);
        Ok(())
    })?;
    let table = exec.into_inner().finish()?;
    Ok(AggregateResult {
        table,
        stats: c.into_stats(stats, started),
    })
}
