//! Search and aggregation: snapshot the tenant's blocks, prune them by time, keyword
//! dictionaries and token filters, then decode the survivors on `scan_threads` threads.

use std::borrow::Cow;
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use vigil_event::Event;
use vigil_query::{CompiledFilter, ExecOptions, Executor, Query, Stage};

use super::columns::{ColRecord, ColumnPlan, prefilter};
use super::index::{self, Needles};
use super::memtable::MemBlock;
use super::segment::{DecodedBlock, Segment};
use super::{EmbeddedConfig, Tenant};
use crate::record::{EventRecord, FieldCache};
use crate::{
    AggregateRequest, AggregateResult, MAX_SEARCH_LIMIT, Order, ScanStats, SearchRequest,
    SearchResult, StoreError, TimeRange,
};

/// One block to scan.
enum Unit {
    Mem(Arc<MemBlock>),
    Seg(Arc<Segment>, usize),
}

struct Planned {
    unit: Unit,
    min_ts: i64,
    max_ts: i64,
    /// Events older than this are past their space's retention: never returned.
    floor: i64,
}

enum Block<'a> {
    Mem(&'a MemBlock),
    Dec(DecodedBlock),
}

impl Block<'_> {
    fn len(&self) -> usize {
        match self {
            Block::Mem(b) => b.len(),
            Block::Dec(b) => b.len(),
        }
    }
    fn ts(&self, i: usize) -> i64 {
        match self {
            Block::Mem(b) => b.ts[i],
            Block::Dec(b) => b.ts(i),
        }
    }
    /// Event record `i` (reassembled in `scratch` for sealed blocks).
    fn event<'s>(&'s self, i: usize, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        match self {
            Block::Mem(b) => b.event(i),
            Block::Dec(b) => b.event(i, scratch),
        }
    }
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
}

/// Lists the blocks of every partition (space) that may hold matches, with pruning counted
/// in `stats`.
fn plan_units(parts: &[(Arc<Tenant>, i64)], plan: &Plan, stats: &mut ScanStats) -> Vec<Planned> {
    let mut out = Vec::new();
    for (t, floor) in parts {
        plan_partition(t, *floor, plan, stats, &mut out);
    }
    out
}

fn plan_partition(
    t: &Tenant,
    floor: i64,
    plan: &Plan,
    stats: &mut ScanStats,
    out: &mut Vec<Planned>,
) {
    let mut range = plan.range;
    range.from.0 = range.from.0.max(floor);
    let n = &plan.needles;
    let v = t.view.read();
    let mut mem = |b: &Arc<MemBlock>, prune: bool, out: &mut Vec<Planned>| {
        if b.len() == 0 || !range.overlaps(b.min_ts, b.max_ts) {
            return;
        }
        stats.blocks_total += 1;
        if prune && !n.block_may_match(|k| b.keys.contains(&k), |tk| b.tokens.contains(&tk)) {
            stats.blocks_pruned += 1;
            return;
        }
        out.push(Planned {
            unit: Unit::Mem(b.clone()),
            min_ts: b.min_ts,
            max_ts: b.max_ts,
            floor,
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
        if s.meta.events == 0 || !range.overlaps(s.meta.min_ts, s.meta.max_ts) {
            continue;
        }
        for (bi, b) in s.meta.blocks.iter().enumerate() {
            if !range.overlaps(b.min_ts, b.max_ts) {
                continue;
            }
            stats.blocks_total += 1;
            if !n.block_may_match(
                |k| s.block_has_key(bi, k),
                |tk| index::bloom_may_contain(&b.bloom, tk),
            ) {
                stats.blocks_pruned += 1;
                continue;
            }
            out.push(Planned {
                unit: Unit::Seg(s.clone(), bi),
                min_ts: b.min_ts,
                max_ts: b.max_ts,
                floor,
            });
        }
    }
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

fn lsn_of(unit: &Unit, i: usize) -> u64 {
    match unit {
        Unit::Mem(b) => b.first_lsn + i as u64,
        Unit::Seg(s, bi) => s.meta.blocks[*bi].first_lsn + i as u64,
    }
}

/// The block's events: borrowed from memory, or read and decompressed from its segment.
fn load<'a>(unit: &'a Unit) -> Result<Block<'a>, StoreError> {
    Ok(match unit {
        Unit::Mem(b) => Block::Mem(b),
        Unit::Seg(s, bi) => Block::Dec(s.read_block(*bi)?),
    })
}

fn decode(unit: &Unit, bytes: &[u8]) -> Result<Event, StoreError> {
    super::codec::decode(bytes)
        .map(|(e, _)| e)
        .map_err(|e| match unit {
            Unit::Seg(s, bi) => StoreError::corrupt(&s.path, format!("block {bi}: {e}")),
            Unit::Mem(_) => StoreError::Invalid(format!("memtable event does not decode: {e}")),
        })
}

/// Runs `work` over the units on up to `threads` threads; stops at the first error or when
/// `stop` is set.
fn run_parallel<F>(
    units: &[Planned],
    threads: usize,
    stop: &AtomicBool,
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

/// The best `limit` hits (largest keys), as a min-heap.
struct TopK {
    limit: usize,
    heap: BinaryHeap<Reverse<Hit>>,
}

impl TopK {
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
    fn push(&mut self, h: Hit) {
        if self.limit == 0 {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(h));
        } else if let Some(mut top) = self.heap.peek_mut()
            && h > top.0
        {
            *top = Reverse(h);
        }
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

pub(crate) fn search(
    parts: &[(Arc<Tenant>, i64)],
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
    let mut units = plan_units(parts, &plan, &mut stats);
    // Best blocks first, so that a full top-k lets the rest be skipped.
    units.sort_by_key(|u| Reverse(if newest { u.max_ts } else { key(u.min_ts) }));
    let top = Mutex::new(TopK {
        limit,
        heap: BinaryHeap::new(),
    });
    let c = Counters::default();
    let stop = AtomicBool::new(limit == 0);
    // Conditions on keyword columns are checked before decoding an event.
    let mut exprs = vec![&req.query.filter];
    for s in &req.query.stages {
        match s {
            Stage::Where(e) => exprs.push(e),
            _ => break,
        }
    }
    let pre = match prefilter(&exprs) {
        Some((e, p)) => Some((CompiledFilter::new(&e)?, p)),
        None => None,
    };
    run_parallel(&units, cfg.scan_threads, &stop, |u, cache| {
        let best = if newest { u.max_ts } else { key(u.min_ts) };
        let floor = top.lock().floor();
        if let Some((fk, _)) = floor
            && best < fk
        {
            // Units are sorted by their best key: nothing later can make it either.
            stop.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let cols = match &pre {
            Some(_) => match &u.unit {
                Unit::Mem(b) => b.columns(),
                Unit::Seg(s, bi) => s.read_columns(*bi)?.map(Cow::Owned),
            },
            None => None,
        };
        let mut block = None;
        if cols.is_none() {
            block = Some(load(&u.unit)?);
        }
        c.blocks_read.fetch_add(1, Ordering::Relaxed);
        let n = cols
            .as_ref()
            .map_or_else(|| block.as_ref().map_or(0, Block::len), |c| c.ts.len());
        let mut local = TopK {
            limit,
            heap: BinaryHeap::new(),
        };
        let (mut scanned, mut decoded, mut matched) = (0, 0, 0);
        let mut scratch = Vec::new();
        for i in 0..n {
            let ts = match (&cols, &block) {
                (Some(c), _) => c.ts[i],
                (None, Some(b)) => b.ts(i),
                (None, None) => break,
            };
            if !plan.range.contains(ts) || ts < u.floor {
                continue;
            }
            let hk = (key(ts), lsn_key(lsn_of(&u.unit, i)));
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
            let b = match &mut block {
                Some(b) => b,
                None => block.insert(load(&u.unit)?),
            };
            let bytes = b.event(i, &mut scratch);
            if !plan.needles.bytes_may_match(bytes) {
                continue;
            }
            decoded += 1;
            let ev = decode(&u.unit, bytes)?;
            if plan.matches(&ev, cache) {
                matched += 1;
                local.push(Hit {
                    key: hk.0,
                    lsn: hk.1,
                    ev,
                });
            }
        }
        c.scanned.fetch_add(scanned, Ordering::Relaxed);
        c.decoded.fetch_add(decoded, Ordering::Relaxed);
        c.matched.fetch_add(matched, Ordering::Relaxed);
        let mut g = top.lock();
        for Reverse(h) in local.heap {
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
    let exec = Executor::new(&req.query, exec_options())?;
    Ok(AggregateResult {
        table: exec.finish()?,
        stats: ScanStats::default(),
    })
}

pub(crate) fn aggregate(
    parts: &[(Arc<Tenant>, i64)],
    cfg: &EmbeddedConfig,
    req: &AggregateRequest,
) -> Result<AggregateResult, StoreError> {
    let started = Instant::now();
    // Leading `where` stages run in the executor; they still prune here.
    let plan = Plan::new(&req.query, req.range, false)?;
    let mut where_needles = Needles::default();
    for s in &req.query.stages {
        match s {
            Stage::Where(e) => {
                let n = Needles::from_expr(e);
                where_needles.keys_any.extend(n.keys_any);
                where_needles.tokens.extend(n.tokens);
            }
            _ => break,
        }
    }
    let mut plan = plan;
    plan.needles.keys_any.extend(where_needles.keys_any);
    plan.needles.tokens.extend(where_needles.tokens);
    let mut stats = ScanStats::default();
    let mut units = plan_units(parts, &plan, &mut stats);
    units.sort_by_key(|u| Reverse(u.max_ts));
    let exec = Mutex::new(Executor::new(&req.query, exec_options())?);
    let c = Counters::default();
    let stop = AtomicBool::new(false);
    let match_all = plan.filter.is_match_all() && plan.needles.is_empty();
    let col_plan = ColumnPlan::new(&req.query);
    let mut exprs = vec![&req.query.filter];
    for s in &req.query.stages {
        match s {
            Stage::Where(e) => exprs.push(e),
            _ => break,
        }
    }
    let pre = match prefilter(&exprs) {
        Some((e, p)) if col_plan.is_none() => Some((CompiledFilter::new(&e)?, p)),
        _ => None,
    };
    run_parallel(&units, cfg.scan_threads, &stop, |u, cache| {
        // Column mode: the query reads only keyword columns and @timestamp.
        if let Some(cp) = &col_plan {
            let cols = match &u.unit {
                Unit::Mem(b) => b.columns(),
                Unit::Seg(s, bi) => s.read_columns(*bi)?.map(Cow::Owned),
            };
            if let Some(cols) = cols {
                c.blocks_read.fetch_add(1, Ordering::Relaxed);
                let mut hits = Vec::new();
                let mut scanned = 0;
                for (i, &ts) in cols.ts.iter().enumerate() {
                    if !plan.range.contains(ts) || ts < u.floor {
                        continue;
                    }
                    scanned += 1;
                    let r = ColRecord {
                        plan: cp,
                        cols: &cols,
                        i,
                    };
                    if match_all || plan.filter.matches(&r) {
                        hits.push(i);
                    }
                }
                c.scanned.fetch_add(scanned, Ordering::Relaxed);
                c.matched.fetch_add(hits.len() as u64, Ordering::Relaxed);
                let mut ex = exec.lock();
                for i in hits {
                    ex.push(&ColRecord {
                        plan: cp,
                        cols: &cols,
                        i,
                    })?;
                }
                return Ok(());
            }
        }
        // Keyword conditions first, on the columns; decode only the events that pass.
        let cols = match &pre {
            Some(_) => match &u.unit {
                Unit::Mem(b) => b.columns(),
                Unit::Seg(s, bi) => s.read_columns(*bi)?.map(Cow::Owned),
            },
            None => None,
        };
        let mut block = None;
        if cols.is_none() {
            block = Some(load(&u.unit)?);
        }
        c.blocks_read.fetch_add(1, Ordering::Relaxed);
        let n = cols
            .as_ref()
            .map_or_else(|| block.as_ref().map_or(0, Block::len), |c| c.ts.len());
        let mut hits = Vec::new();
        let (mut scanned, mut decoded) = (0, 0);
        let mut scratch = Vec::new();
        for i in 0..n {
            let ts = match (&cols, &block) {
                (Some(c), _) => c.ts[i],
                (None, Some(b)) => b.ts(i),
                (None, None) => break,
            };
            if !plan.range.contains(ts) || ts < u.floor {
                continue;
            }
            scanned += 1;
            if let (Some(cols), Some((f, p))) = (&cols, &pre)
                && !f.matches(&ColRecord { plan: p, cols, i })
            {
                continue;
            }
            let b = match &mut block {
                Some(b) => b,
                None => block.insert(load(&u.unit)?),
            };
            let bytes = b.event(i, &mut scratch);
            if !plan.needles.bytes_may_match(bytes) {
                continue;
            }
            decoded += 1;
            let ev = decode(&u.unit, bytes)?;
            if match_all || plan.matches(&ev, cache) {
                hits.push(ev);
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
        Ok(())
    })?;
    let table = exec.into_inner().finish()?;
    Ok(AggregateResult {
        table,
        stats: c.into_stats(stats, started),
    })
}
