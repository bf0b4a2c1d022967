//! Running a pipeline: connectors on the async runtime, the normalizer chain on worker threads,
//! each destination on its own thread, joined by bounded queues.
//!
//! ```text
//! connector ─┐                      ┌─ worker: normalizer → filter → enrichment → aggregation ─┐   ┌─▶ destination (store)
//! connector ─┼─▶ [raw queue, bounded]┤                                                           ├──▶┤
//!            ┘                      └─ worker ...                                               ┘   └─▶ destination (correlator)
//! ```
//! A batch of events goes to every destination as one shared vector; the worker keeps its own
//! handle and frees the batch once the destinations have dropped theirs, so events are freed
//! by the thread that allocated them (cheaper with the C allocator).
//!
//! Every queue is bounded: when the store is slow, workers wait, the raw queue fills, and
//! connectors wait on `send`, which stops reading the socket and lets TCP flow control slow the
//! sender. Nothing accepted is dropped. Shutdown goes front to back: connectors stop accepting
//! and send what they hold, workers drain the raw queue and flush their transforms,
//! destinations write the rest and flush.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often workers give transforms a chance to emit what is due.
const TICK: Duration = Duration::from_secs(1);

use smol_str::SmolStr;
use vigil_event::{Event, TimePolicy};

use crate::component::{
    Ack, AckSet, ComponentError, Connector, ConnectorContext, Destination, Normalizer, RawBatch,
    RawRecord, SourceInfo, Transform,
};
use crate::quota::TenantQuotas;
use crate::telemetry::{ComponentMetrics, Telemetry};
use crate::{Shutdown, ShutdownSignal};

/// One collector's normalizer and transforms (KUMA: a collector's chain after its connector).
pub struct SourceChain {
    /// The normalizer and its counters.
    pub normalizer: (Arc<dyn Normalizer>, ComponentMetrics),
    /// What to do with implausible source timestamps, applied to what the normalizer made;
    /// the events it corrects are counted as normalizer errors `implausible_timestamp`.
    pub time_policy: TimePolicy,
    /// Filter, enrichment and aggregation, in order.
    pub transforms: Vec<(Box<dyn Transform>, ComponentMetrics)>,
}

impl std::fmt::Debug for SourceChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceChain")
            .field("transforms", &self.transforms.len())
            .finish()
    }
}

impl SourceChain {
    fn process(&mut self, batch: RawBatch, out: &mut Vec<Event>) {
        let (norm, m) = &self.normalizer;
        let before = out.len();
        let n_in = batch.records.len() as u64;
        let mut bytes = 0u64;
        for (i, rec) in batch.records.into_iter().enumerate() {
            bytes += rec.data.len() as u64;
            let at = out.len();
            norm.normalize(&batch.source, rec, out);
            if let Some(f) = &batch.file {
                f.mark(i, &mut out[at..]);
            }
        }
        m.events_in(n_in);
        m.bytes_in(bytes);
        let policy = self.time_policy;
        let corrected = out[before..]
            .iter_mut()
            .map(|e| policy.apply(e))
            .filter(|&c| c)
            .count() as u64;
        if corrected > 0 {
            m.error("implausible_timestamp", corrected);
        }
        let produced = &out[before..];
        let failed = produced
            .iter()
            .filter(|e| e.meta.parse_error.is_some())
            .count() as u64;
        if failed > 0 {
            m.error("parse", failed);
        }
        m.events_out(produced.len() as u64);
        if self.transforms.is_empty() {
            return;
        }
        let mut mine = out.split_off(before);
        for (t, m) in &mut self.transforms {
            m.events_in(mine.len() as u64);
            t.transform(&mut mine);
            m.events_out(mine.len() as u64);
        }
        out.append(&mut mine);
    }

    /// Lets each transform release events with `release`; what transform `i` releases still
    /// passes through the transforms after it.
    fn cascade(
        &mut self,
        out: &mut Vec<Event>,
        mut release: impl FnMut(&mut dyn Transform, &mut Vec<Event>),
    ) {
        for i in 0..self.transforms.len() {
            let mut held = Vec::new();
            if let Some((t, _)) = self.transforms.get_mut(i) {
                release(t.as_mut(), &mut held);
            }
            for (t, m) in self.transforms.iter_mut().skip(i + 1) {
                m.events_in(held.len() as u64);
                t.transform(&mut held);
                m.events_out(held.len() as u64);
            }
            out.append(&mut held);
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        self.cascade(out, |t, held| t.tick(now, held));
    }

    fn flush(&mut self, out: &mut Vec<Event>) {
        self.cascade(out, |t, held| t.flush(held));
    }
}

/// What one worker runs: the chain of each source.
#[derive(Debug, Default)]
pub struct Chain {
    /// Chains by source (connector) id.
    pub sources: HashMap<SmolStr, SourceChain>,
}

impl Chain {
    /// Normalizes and transforms one raw batch. A batch from a source without a chain is a
    /// wiring bug; its records are still kept, raw, with the reason.
    pub fn process(&mut self, batch: RawBatch, out: &mut Vec<Event>) {
        match self.sources.get_mut(&batch.source.id) {
            Some(c) => c.process(batch, out),
            None => {
                for (i, rec) in batch.records.into_iter().enumerate() {
                    let mut ev = Event::from_raw(&batch.source, rec);
                    ev.meta.parse_error = Some(SmolStr::new_static(
                        "no normalizer configured for this source",
                    ));
                    if let Some(f) = &batch.file {
                        f.mark(i, std::slice::from_mut(&mut ev));
                    }
                    out.push(ev);
                }
            }
        }
    }

    /// Keeps records over their tenant's EPS quota raw, flagged `vigil.quota: eps_exceeded`
    /// (see [`crate::quota`]), counted on the source's normalizer as `tenant_quota`.
    pub fn over_quota(
        &mut self,
        source: &SourceInfo,
        records: Vec<RawRecord>,
        out: &mut Vec<Event>,
    ) {
        if let Some(c) = self.sources.get(&source.id) {
            c.normalizer.1.error("tenant_quota", records.len() as u64);
        }
        for rec in records {
            let mut ev = Event::from_raw(source, rec);
            ev.extra.insert(
                crate::quota::QUOTA_FIELD,
                vigil_event::Value::from(crate::quota::EPS_EXCEEDED),
            );
            out.push(ev);
        }
    }

    /// Lets every transform emit what is due.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        for c in self.sources.values_mut() {
            c.tick(now, out);
        }
    }

    /// Flushes every transform (shutdown).
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        for c in self.sources.values_mut() {
            c.flush(out);
        }
    }
}

/// Queue sizes, parallelism and batching.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Raw batches waiting between connectors and workers.
    pub raw_queue_batches: usize,
    /// Event batches waiting in front of each destination.
    pub event_queue_batches: usize,
    /// Worker threads running the normalizer chain.
    pub workers: usize,
    /// How long a worker holding fewer than [`PipelineOptions::batch_events`] events waits
    /// for more raw batches before it hands them on (once per batch it hands on). Many slow
    /// senders deliver a line per read, so without it every line would be its own batch for
    /// the destinations (one WAL write, one memtable append, one wake-up each). Zero hands each
    /// batch on as soon as the raw queue is empty.
    pub batch_linger: Duration,
    /// Records a worker gathers from consecutive raw batches into one batch for the
    /// destinations: it takes no raw batch that would go past it (a raw batch is never split,
    /// so a batch holds more only when one raw batch does).
    pub batch_events: usize,
}

/// Default [`PipelineOptions::batch_linger`]: 5 ms, a fortieth of the store's default
/// group-commit interval; at 10,000 lines/s from a thousand connections it makes batches of
/// about 50 events instead of 1.
pub const DEFAULT_BATCH_LINGER: Duration = Duration::from_millis(5);

/// Default [`PipelineOptions::batch_events`]: the syslog connector's batch size, so that the
/// destination queues' bound in events is what it was before batches were gathered.
pub const DEFAULT_BATCH_EVENTS: usize = 1024;

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            raw_queue_batches: 256,
            event_queue_batches: 64,
            workers: 1,
            batch_linger: DEFAULT_BATCH_LINGER,
            batch_events: DEFAULT_BATCH_EVENTS,
        }
    }
}

/// The events a worker gathers from consecutive raw batches before handing them to the
/// destinations: one batch per tenant, so that a store destination appends each whole (a
/// batch of mixed tenants would be split, with copies).
#[derive(Debug, Default)]
struct Gathered {
    by_tenant: Vec<(SmolStr, Vec<Event>)>,
    events: usize,
    /// Events of the last batch handed on: a new batch reserves that many, so that it does
    /// not grow (and move its events) step by step.
    last: usize,
    /// The acknowledgements of the raw batches gathered.
    acks: Vec<Ack>,
}

impl Gathered {
    /// Normalizes `batch` into the batch of its tenant; what is over the tenant's EPS quota is
    /// kept raw.
    fn add(&mut self, chain: &mut Chain, mut batch: RawBatch, quotas: Option<&TenantQuotas>) {
        if let Some(a) = batch.ack.take() {
            self.acks.push(a);
        }
        let i = match self
            .by_tenant
            .iter()
            .position(|(t, _)| *t == batch.source.tenant)
        {
            Some(i) => i,
            None => {
                let evs = Vec::with_capacity(batch.records.len().max(self.last));
                self.by_tenant.push((batch.source.tenant.clone(), evs));
                self.by_tenant.len() - 1
            }
        };
        if let Some((_, evs)) = self.by_tenant.get_mut(i) {
            let before = evs.len();
            let n = batch.records.len();
            let admitted = quotas.map_or(n, |q| q.take(&batch.source.tenant, n));
            let over = (admitted < n).then(|| batch.records.split_off(admitted));
            let source = over.as_ref().map(|_| batch.source.clone());
            chain.process(batch, evs);
            if let (Some(over), Some(source)) = (over, source) {
                chain.over_quota(&source, over, evs);
            }
            self.events += evs.len() - before;
        }
    }

    /// The acknowledgements of the gathered raw batches, to travel with their events.
    fn take_acks(&mut self) -> Option<Arc<AckSet>> {
        if self.acks.is_empty() {
            return None;
        }
        Some(Arc::new(AckSet::new(std::mem::take(&mut self.acks))))
    }

    /// The gathered batches, one per tenant (none empty).
    fn take(&mut self) -> impl Iterator<Item = Vec<Event>> + '_ {
        self.last = self
            .by_tenant
            .iter()
            .map(|(_, evs)| evs.len())
            .max()
            .unwrap_or(0);
        self.events = 0;
        self.by_tenant
            .drain(..)
            .map(|(_, evs)| evs)
            .filter(|evs| !evs.is_empty())
    }
}

/// Takes `first` and what follows it in `rx` into `g`: first every raw batch already waiting,
/// then, when that makes fewer than `batch_events` events, once more after `linger` (a sleep,
/// not a wait on the queue: the connectors' sends wake nobody meanwhile). A raw batch that
/// would take the gathered records past `batch_events` is left in `carry` for the next
/// batch, so a batch for the destinations holds at most `batch_events` records or one raw
/// batch: the destination queues hold no more than they did with a batch per raw batch. No
/// linger when the queue already held half its capacity: then the queue, not the batch size,
/// is what limits, and sleeping would only hold the connectors back. Returns `false` when the
/// queue is closed and empty (the connectors are gone).
#[allow(clippy::too_many_arguments)]
fn gather(
    rx: &flume::Receiver<RawBatch>,
    chain: &mut Chain,
    quotas: Option<&TenantQuotas>,
    g: &mut Gathered,
    first: RawBatch,
    carry: &mut Option<RawBatch>,
    linger: Duration,
    batch_events: usize,
) -> bool {
    let mut records = first.records.len();
    g.add(chain, first, quotas);
    let busy = rx.capacity().map_or(usize::MAX, |c| c / 2).max(1);
    let mut lingered = linger.is_zero();
    let mut taken = 0;
    loop {
        while records < batch_events {
            match rx.try_recv() {
                Ok(b) if records + b.records.len() > batch_events => {
                    *carry = Some(b);
                    return true;
                }
                Ok(b) => {
                    records += b.records.len();
                    g.add(chain, b, quotas);
                    taken += 1;
                }
                Err(flume::TryRecvError::Empty) => break,
                Err(flume::TryRecvError::Disconnected) => return false,
            }
        }
        if lingered || records >= batch_events || taken >= busy {
            return true;
        }
        std::thread::sleep(linger);
        lingered = true;
    }
}

type ChainFactory = Box<dyn Fn() -> Chain + Send + Sync>;

/// Assembles a pipeline.
pub struct PipelineBuilder {
    options: PipelineOptions,
    telemetry: Telemetry,
    connectors: Vec<(Box<dyn Connector>, Arc<SourceInfo>, ComponentMetrics)>,
    chain: Option<ChainFactory>,
    destinations: Vec<(Box<dyn Destination>, ComponentMetrics)>,
    quotas: Option<Arc<TenantQuotas>>,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("connectors", &self.connectors.len())
            .field("destinations", &self.destinations.len())
            .finish()
    }
}

impl PipelineBuilder {
    /// A builder reporting into `telemetry`.
    pub fn new(options: PipelineOptions, telemetry: Telemetry) -> PipelineBuilder {
        PipelineBuilder {
            options,
            telemetry,
            connectors: Vec::new(),
            chain: None,
            destinations: Vec::new(),
            quotas: None,
        }
    }

    /// Adds a connector feeding `source`.
    pub fn connector(&mut self, c: Box<dyn Connector>, source: SourceInfo) -> &mut Self {
        let m = self.telemetry.component("connector", &source.id);
        self.connectors.push((c, Arc::new(source), m));
        self
    }

    /// Sets how each worker builds its chain.
    pub fn chain(&mut self, f: impl Fn() -> Chain + Send + Sync + 'static) -> &mut Self {
        self.chain = Some(Box::new(f));
        self
    }

    /// Adds a destination with id `id`.
    pub fn destination(&mut self, id: &str, d: Box<dyn Destination>) -> &mut Self {
        let m = self.telemetry.component("destination", id);
        self.destinations.push((d, m));
        self
    }

    /// Enforces the tenants' EPS quotas in the workers ([`crate::quota`]).
    pub fn quotas(&mut self, q: Arc<TenantQuotas>) -> &mut Self {
        self.quotas = Some(q);
        self
    }

    /// The quotas set with [`PipelineBuilder::quotas`] (the store destination enforces the
    /// storage quota).
    pub fn tenant_quotas(&self) -> Option<Arc<TenantQuotas>> {
        self.quotas.clone()
    }

    /// Starts everything; must be called inside a tokio runtime.
    pub fn start(self) -> Result<RunningPipeline, ComponentError> {
        let shutdown = Shutdown::new();
        let chain_factory = self.chain.ok_or_else(|| ComponentError {
            component: "pipeline".into(),
            message: "no normalizer chain configured".into(),
        })?;
        let (raw_tx, raw_rx) = flume::bounded::<RawBatch>(self.options.raw_queue_batches.max(1));

        let queue_gauge = self
            .telemetry
            .component("pipeline", "raw_queue")
            .gauge("depth");

        // destinations
        let mut dest_txs = Vec::new();
        let mut dest_threads = Vec::new();
        for (mut dest, m) in self.destinations {
            let (tx, rx) = flume::bounded::<EventBatch>(self.options.event_queue_batches.max(1));
            dest_txs.push(tx);
            let stop = shutdown.signal();
            let name = format!("vigil-dest-{}", m.id());
            let h = std::thread::Builder::new()
                .name(name)
                .spawn(move || run_destination(&mut *dest, &m, rx, stop))
                .map_err(|e| ComponentError {
                    component: "pipeline".into(),
                    message: e.to_string(),
                })?;
            dest_threads.push(h);
        }
        let dest_txs = Arc::new(dest_txs);

        // workers
        let chain_factory = Arc::new(chain_factory);
        let mut workers = Vec::new();
        let (linger, batch_events) = (self.options.batch_linger, self.options.batch_events);
        for i in 0..self.options.workers.max(1) {
            let rx = raw_rx.clone();
            let txs = dest_txs.clone();
            let factory = chain_factory.clone();
            let gauge = queue_gauge.clone();
            let quotas = self.quotas.clone();
            let h = std::thread::Builder::new()
                .name(format!("vigil-worker-{i}"))
                .spawn(move || {
                    let mut chain = factory();
                    let mut sent = Sent::default();
                    let mut gathered = Gathered::default();
                    let mut next_tick = Instant::now() + TICK;
                    let mut carry = None;
                    let mut open = true;
                    while open {
                        match carry.take().map_or_else(|| rx.recv_timeout(TICK), Ok) {
                            Ok(batch) => {
                                open = gather(
                                    &rx,
                                    &mut chain,
                                    quotas.as_deref(),
                                    &mut gathered,
                                    batch,
                                    &mut carry,
                                    linger,
                                    batch_events,
                                );
                                gauge.store(rx.len() as i64, Ordering::Relaxed);
                                // answered when every destination confirmed (or at once,
                                // when everything was filtered away)
                                let acks = gathered.take_acks();
                                for events in gathered.take() {
                                    sent.keep(send_to_destinations(&txs, events, acks.as_ref()));
                                }
                            }
                            Err(flume::RecvTimeoutError::Timeout) => {}
                            Err(flume::RecvTimeoutError::Disconnected) => break,
                        }
                        let now = Instant::now();
                        if now >= next_tick {
                            next_tick = now + TICK;
                            let mut due = Vec::new();
                            chain.tick(now, &mut due);
                            sent.keep(send_to_destinations(&txs, due, None));
                        }
                        sent.reclaim();
                    }
                    let mut held = Vec::new();
                    chain.flush(&mut held);
                    send_to_destinations(&txs, held, None);
                })
                .map_err(|e| ComponentError {
                    component: "pipeline".into(),
                    message: e.to_string(),
                })?;
            workers.push(h);
        }
        drop(dest_txs);
        drop(raw_rx);

        // connectors
        let mut connector_tasks = Vec::new();
        for (c, source, metrics) in self.connectors {
            let ctx = ConnectorContext {
                out: raw_tx.clone(),
                shutdown: shutdown.signal(),
                metrics,
                source,
                shutdown_all: shutdown.clone(),
            };
            connector_tasks.push(tokio::spawn(c.run(ctx)));
        }
        drop(raw_tx);

        Ok(RunningPipeline {
            shutdown,
            connector_tasks,
            workers,
            dest_threads,
        })
    }
}

/// A batch of events for a destination, with the acknowledgements of the raw batches it was
/// made from.
type EventBatch = (Arc<Vec<Event>>, Option<Arc<AckSet>>);

/// Sends a batch to every destination; returns the worker's own handle on it.
fn send_to_destinations(
    txs: &[flume::Sender<EventBatch>],
    events: Vec<Event>,
    acks: Option<&Arc<AckSet>>,
) -> Option<Arc<Vec<Event>>> {
    if events.is_empty() {
        return None;
    }
    let shared = Arc::new(events);
    for tx in txs {
        if let Some(a) = acks {
            a.expect();
        }
        // a closed destination queue means that destination has stopped for good; its
        // thread has already reported why (and the batch's acks stay unconfirmed)
        let _ = tx.send((shared.clone(), acks.cloned()));
    }
    Some(shared)
}

/// The batches a worker sent, held until every destination is done with them, so that the
/// worker frees the events it allocated. The C allocator frees a block fastest in the thread
/// that allocated it; freed in a destination's thread, each of an event's dozen blocks goes
/// back through the allocating arena's lock, and the worker's next allocations miss its
/// thread cache. Holds no more than the destination queues do (plus the batches finished
/// since the worker last looked, at most a tick's worth when it is idle).
#[derive(Default)]
struct Sent(std::collections::VecDeque<Arc<Vec<Event>>>);

impl Sent {
    fn keep(&mut self, batch: Option<Arc<Vec<Event>>>) {
        if let Some(b) = batch {
            self.0.push_back(b);
        }
    }

    /// Frees the batches, oldest first, that no destination holds any more.
    fn reclaim(&mut self) {
        while self.0.front().is_some_and(|b| Arc::strong_count(b) == 1) {
            self.0.pop_front();
        }
    }
}

fn run_destination(
    dest: &mut dyn Destination,
    m: &ComponentMetrics,
    rx: flume::Receiver<EventBatch>,
    stop: ShutdownSignal,
) {
    while let Ok((batch, acks)) = rx.recv() {
        m.events_in(batch.len() as u64);
        let mut backoff = Duration::from_millis(50);
        let mut attempts_after_stop = 0;
        loop {
            match dest.write(&batch) {
                Ok(()) => {
                    m.events_out(batch.len() as u64);
                    if let Some(a) = &acks {
                        a.confirm();
                    }
                    break;
                }
                Err(e) => {
                    m.error("write", 1);
                    tracing::error!(error = %e, "destination write failed; retrying (intake waits)");
                    if stop.is_triggered() {
                        attempts_after_stop += 1;
                        if attempts_after_stop > 5 {
                            m.drop("write_failed_at_shutdown", batch.len() as u64);
                            tracing::error!(
                                events = batch.len(),
                                "giving up on a batch at shutdown after repeated write failures"
                            );
                            break;
                        }
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
    if let Err(e) = dest.flush() {
        m.error("flush", 1);
        tracing::error!(error = %e, "destination flush failed at shutdown");
    }
}

/// A started pipeline.
#[derive(Debug)]
pub struct RunningPipeline {
    shutdown: Shutdown,
    connector_tasks: Vec<tokio::task::JoinHandle<Result<(), ComponentError>>>,
    workers: Vec<JoinHandle<()>>,
    dest_threads: Vec<JoinHandle<()>>,
}

impl RunningPipeline {
    /// A handle that triggers shutdown (signal handlers, a failing connector).
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Waits until shutdown is triggered (by a handle or a connector), then stops.
    pub async fn wait(self) -> Result<(), ComponentError> {
        let mut sig = self.shutdown.signal();
        sig.wait().await;
        self.stop().await
    }

    /// Stops gracefully: connectors first, then workers drain, then destinations flush.
    /// Returns the first connector error, if any.
    pub async fn stop(self) -> Result<(), ComponentError> {
        self.shutdown.trigger();
        let mut first_err = None;
        for t in self.connector_tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "connector stopped with an error");
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(ComponentError {
                        component: "connector".into(),
                        message: format!("task failed: {e}"),
                    });
                }
            }
        }
        let workers = self.workers;
        let dests = self.dest_threads;
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
            for d in dests {
                let _ = d.join();
            }
        })
        .await;
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::{BoxFuture, RawRecord};
    use std::sync::Mutex;
    use vigil_event::Timestamp;

    struct Lines(Vec<&'static str>);
    impl Connector for Lines {
        fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
            Box::pin(async move {
                for chunk in self.0.chunks(2) {
                    let records = chunk
                        .iter()
                        .map(|l| RawRecord {
                            data: bytes::Bytes::from_static(l.as_bytes()),
                            received: Timestamp::now(),
                            peer: None,
                            transport_error: None,
                        })
                        .collect::<Vec<_>>();
                    ctx.metrics.events_in(records.len() as u64);
                    let _ = ctx
                        .out
                        .send_async(RawBatch {
                            source: ctx.source.clone(),
                            records,
                            ack: None,
                            file: None,
                        })
                        .await;
                }
                let mut s = ctx.shutdown;
                s.wait().await;
                Ok(())
            })
        }
    }
    struct Norm;
    impl Normalizer for Norm {
        fn normalize(&self, _s: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
            let mut e = Event::new(rec.data);
            e.message = Some(SmolStr::new(String::from_utf8_lossy(&e.raw)));
            out.push(e);
        }
    }
    struct DropOdd;
    impl Transform for DropOdd {
        fn transform(&mut self, events: &mut Vec<Event>) {
            events.retain(|e| {
                !e.message
                    .as_deref()
                    .unwrap_or("")
                    .ends_with(['1', '3', '5'])
            });
        }
    }
    struct Collect(Arc<Mutex<Vec<String>>>, Arc<Mutex<bool>>);
    impl Destination for Collect {
        fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
            self.0.lock().unwrap().extend(
                events
                    .iter()
                    .map(|e| e.message.clone().unwrap().to_string()),
            );
            Ok(())
        }
        fn flush(&mut self) -> Result<(), ComponentError> {
            *self.1.lock().unwrap() = true;
            Ok(())
        }
    }

    /// Sets `@timestamp` from the record: `future` → the far future, `past` → 1900.
    struct TimeNorm;
    impl Normalizer for TimeNorm {
        fn normalize(&self, _s: &SourceInfo, rec: RawRecord, out: &mut Vec<Event>) {
            let mut e = Event::new(rec.data);
            e.meta.received = rec.received;
            e.timestamp = match &e.raw[..] {
                b"future" => Timestamp::MAX,
                b"past" => Timestamp::parse("1900-01-01T00:00:00Z").unwrap(),
                _ => rec.received,
            };
            out.push(e);
        }
    }

    fn raw_batch(source: &Arc<SourceInfo>, lines: &[&'static str]) -> RawBatch {
        RawBatch {
            source: source.clone(),
            records: lines
                .iter()
                .map(|l| RawRecord {
                    data: bytes::Bytes::from_static(l.as_bytes()),
                    received: Timestamp::now(),
                    peer: None,
                    transport_error: None,
                })
                .collect(),
            ack: None,
            file: None,
        }
    }

    fn norm_chain(ids: &[&str]) -> Chain {
        let mut c = Chain::default();
        for id in ids {
            c.sources.insert(
                (*id).into(),
                SourceChain {
                    normalizer: (Arc::new(Norm), ComponentMetrics::detached("normalizer", id)),
                    time_policy: TimePolicy::default(),
                    transforms: Vec::new(),
                },
            );
        }
        c
    }

    /// Issue 11 (soak CPU): a thousand slow senders deliver a line per read, so raw batches of
    /// one record queue up; the worker hands them on as one batch per tenant, in order.
    #[test]
    fn a_worker_gathers_small_raw_batches_into_one_batch_per_tenant() {
        let info = |id: &str, tenant: &str| {
            Arc::new(SourceInfo {
                id: id.into(),
                tenant: tenant.into(),
                collector: "t".into(),
            })
        };
        let (a, b) = (info("a", "main"), info("b", "other"));
        let mut chain = norm_chain(&["a", "b"]);
        let (tx, rx) = flume::bounded(64);
        for l in ["a1", "a2", "a3"] {
            tx.send(raw_batch(&a, &[l])).unwrap();
        }
        tx.send(raw_batch(&b, &["b1", "b2"])).unwrap();
        tx.send(raw_batch(&a, &["a4"])).unwrap();
        let mut g = Gathered::default();
        let first = raw_batch(&a, &["a0"]);
        let mut carry = None;
        assert!(gather(
            &rx,
            &mut chain,
            None,
            &mut g,
            first,
            &mut carry,
            Duration::ZERO,
            4096
        ));
        assert!(carry.is_none());
        let got: Vec<Vec<String>> = g
            .take()
            .map(|evs| {
                evs.iter()
                    .map(|e| e.message.clone().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert_eq!(got, [vec!["a0", "a1", "a2", "a3", "a4"], vec!["b1", "b2"]]);
        assert_eq!(g.take().count(), 0);

        // at most `batch_events` records, whole raw batches: the one that would go past it
        // waits in `carry` for the next batch
        for l in ["c1", "c2", "c3"] {
            tx.send(raw_batch(&a, &[l, l])).unwrap();
        }
        let mut carry = None;
        let first = raw_batch(&a, &["c0"]);
        assert!(gather(
            &rx,
            &mut chain,
            None,
            &mut g,
            first,
            &mut carry,
            Duration::ZERO,
            4
        ));
        assert_eq!(g.take().map(|e| e.len()).collect::<Vec<_>>(), [3]);
        assert_eq!(carry.as_ref().map(|b| b.records.len()), Some(2));
        assert_eq!(rx.len(), 1);
        // one raw batch larger than `batch_events` is handed on whole
        let first = raw_batch(&a, &["e0", "e1", "e2", "e3", "e4"]);
        let mut none = None;
        assert!(gather(
            &rx,
            &mut chain,
            None,
            &mut g,
            first,
            &mut none,
            Duration::ZERO,
            4
        ));
        assert_eq!(g.take().map(|e| e.len()).collect::<Vec<_>>(), [5]);
        assert!(none.is_none());
        assert_eq!(rx.len(), 1);

        // a linger takes what arrived meanwhile (here: before), and a closed queue ends it
        drop(tx);
        let first = carry.take().unwrap();
        assert!(!gather(
            &rx,
            &mut chain,
            None,
            &mut g,
            first,
            &mut carry,
            Duration::from_millis(1),
            4096
        ));
        assert_eq!(g.take().map(|e| e.len()).collect::<Vec<_>>(), [4]);
        assert!(carry.is_none());
    }

    #[test]
    fn records_over_the_tenant_quota_are_kept_raw_and_flagged() {
        let mut chain = norm_chain(&["a"]);
        let a = Arc::new(SourceInfo {
            id: "a".into(),
            tenant: "acme".into(),
            collector: "t".into(),
        });
        let quotas = TenantQuotas::new();
        quotas.set_eps_limits(&[(SmolStr::new("acme"), Some(3))]);
        let mut g = Gathered::default();
        g.add(
            &mut chain,
            raw_batch(&a, &["l0", "l1", "l2", "l3", "l4"]),
            Some(&quotas),
        );
        let evs: Vec<Event> = g.take().flatten().collect();
        assert_eq!(evs.len(), 5, "nothing is dropped");
        let flagged: Vec<bool> = evs
            .iter()
            .map(|e| e.extra.get(crate::quota::QUOTA_FIELD).is_some())
            .collect();
        assert_eq!(flagged, [false, false, false, true, true]);
        assert!(evs[4].message.is_none(), "kept raw, not normalized");
        assert_eq!(&evs[4].raw[..], b"l4");
        let m = &chain.sources.get("a").unwrap().normalizer.1;
        assert_eq!(m.snapshot().errors.get("tenant_quota"), Some(&2));
        assert_eq!(quotas.status()[0].over_eps, 2);
    }

    #[test]
    fn the_chain_applies_the_time_policy_and_counts_it() {
        let m = ComponentMetrics::detached("normalizer", "s");
        let mut chain = SourceChain {
            normalizer: (Arc::new(TimeNorm), m.clone()),
            time_policy: TimePolicy::default(),
            transforms: Vec::new(),
        };
        let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap();
        let records = ["future", "now", "past"]
            .iter()
            .map(|l| RawRecord {
                data: bytes::Bytes::from_static(l.as_bytes()),
                received,
                peer: None,
                transport_error: None,
            })
            .collect();
        let source = Arc::new(SourceInfo {
            id: "s".into(),
            tenant: "main".into(),
            collector: "t".into(),
        });
        let mut out = Vec::new();
        chain.process(
            RawBatch {
                source,
                records,
                ack: None,
                file: None,
            },
            &mut out,
        );
        assert!(out.iter().all(|e| e.timestamp == received));
        let tagged: Vec<_> = out
            .iter()
            .map(|e| {
                e.tags
                    .iter()
                    .any(|t| t == vigil_event::IMPLAUSIBLE_TIMESTAMP_TAG)
            })
            .collect();
        assert_eq!(tagged, [true, false, true]);
        assert_eq!(
            out[0].extra.get(vigil_event::ORIGINAL_TIMESTAMP_FIELD),
            Some(&vigil_event::Value::Time(i64::MAX))
        );
        let s = m.snapshot();
        assert_eq!(s.errors.get("implausible_timestamp"), Some(&2));
        assert_eq!(s.events_out, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_flow_through_the_chain_and_shutdown_flushes() {
        let tel = Telemetry::new();
        let got = Arc::new(Mutex::new(Vec::new()));
        let flushed = Arc::new(Mutex::new(false));
        let mut b = PipelineBuilder::new(
            PipelineOptions {
                workers: 2,
                ..Default::default()
            },
            tel.clone(),
        );
        let src = SourceInfo {
            id: "lines".into(),
            tenant: "main".into(),
            collector: "t".into(),
        };
        b.connector(
            Box::new(Lines(vec!["e0", "e1", "e2", "e3", "e4", "e5", "e6"])),
            src,
        );
        let t2 = tel.clone();
        b.chain(move || {
            let mut c = Chain::default();
            c.sources.insert(
                "lines".into(),
                SourceChain {
                    normalizer: (Arc::new(Norm), t2.component("normalizer", "lines")),
                    time_policy: TimePolicy::default(),
                    transforms: vec![(Box::new(DropOdd), t2.component("filter", "lines/0"))],
                },
            );
            c
        });
        b.destination("collect", Box::new(Collect(got.clone(), flushed.clone())));
        let running = b.start().unwrap();
        // wait until the connector has sent everything, then stop
        for _ in 0..200 {
            if tel.component("normalizer", "lines").snapshot().events_in == 7 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        running.stop().await.unwrap();
        let mut got = got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, vec!["e0", "e2", "e4", "e6"]);
        assert!(*flushed.lock().unwrap());
        let f = tel.component("filter", "lines/0").snapshot();
        assert_eq!((f.events_in, f.events_out), (7, 4));
        assert_eq!(
            tel.component("destination", "collect")
                .snapshot()
                .events_out,
            4
        );
    }

    /// Sends each group of lines as one batch with an [`Ack`] and reports the answers, in
    /// order, on `answers`.
    struct Acked(Vec<Vec<&'static str>>, flume::Sender<bool>);
    impl Connector for Acked {
        fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
            Box::pin(async move {
                for lines in self.0 {
                    let (ack, wait) = Ack::new();
                    let mut batch = raw_batch(&ctx.source, &lines);
                    batch.ack = Some(ack);
                    let _ = ctx.out.send_async(batch).await;
                    let _ = self.1.send_async(wait.durable().await).await;
                }
                let mut s = ctx.shutdown;
                s.wait().await;
                Ok(())
            })
        }
    }

    /// Fails every write while `fail` is set.
    struct Flaky(Arc<std::sync::atomic::AtomicBool>, Arc<Mutex<Vec<String>>>);
    impl Destination for Flaky {
        fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
            if self.0.load(Ordering::SeqCst) {
                return Err(ComponentError {
                    component: "flaky".into(),
                    message: "down".into(),
                });
            }
            self.1.lock().unwrap().extend(
                events
                    .iter()
                    .map(|e| e.message.clone().unwrap().to_string()),
            );
            Ok(())
        }
        fn flush(&mut self) -> Result<(), ComponentError> {
            Ok(())
        }
    }

    fn acked_pipeline(
        batches: Vec<Vec<&'static str>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    ) -> (
        RunningPipeline,
        flume::Receiver<bool>,
        Arc<Mutex<Vec<String>>>,
    ) {
        let tel = Telemetry::new();
        let (tx, answers) = flume::unbounded();
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut b = PipelineBuilder::new(PipelineOptions::default(), tel.clone());
        let src = SourceInfo {
            id: "acked".into(),
            tenant: "main".into(),
            collector: "t".into(),
        };
        b.connector(Box::new(Acked(batches, tx)), src);
        let t2 = tel.clone();
        b.chain(move || {
            let mut c = Chain::default();
            c.sources.insert(
                "acked".into(),
                SourceChain {
                    normalizer: (Arc::new(Norm), t2.component("normalizer", "acked")),
                    time_policy: TimePolicy::default(),
                    transforms: vec![(Box::new(DropOdd), t2.component("filter", "acked/0"))],
                },
            );
            c
        });
        let other = Arc::new(Mutex::new(Vec::new()));
        b.destination("steady", Box::new(Collect(other, Arc::default())));
        b.destination("flaky", Box::new(Flaky(fail, got.clone())));
        (b.start().unwrap(), answers, got)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_acknowledged_once_every_destination_wrote_it() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        // the second batch is filtered away entirely: durable at once
        let (running, answers, got) =
            acked_pipeline(vec![vec!["e0", "e2"], vec!["e1", "e3"]], fail.clone());
        // while a destination fails, no answer (the connector waits on the first batch)
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(answers.is_empty());
        fail.store(false, Ordering::SeqCst);
        assert!(answers.recv_async().await.unwrap());
        assert_eq!(*got.lock().unwrap(), ["e0", "e2"]);
        assert!(answers.recv_async().await.unwrap());
        running.stop().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_given_up_at_shutdown_is_not_acknowledged() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (running, answers, got) = acked_pipeline(vec![vec!["e0", "e2"]], fail);
        tokio::time::sleep(Duration::from_millis(100)).await;
        running.stop().await.unwrap();
        assert!(!answers.recv_async().await.unwrap());
        assert!(got.lock().unwrap().is_empty());
    }
}
