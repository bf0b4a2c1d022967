//! The component contract: KUMA's collector chain as traits. Configs live in `vigil-config`;
//! each config builds one of these runtime objects (Vector's config/runtime split).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use vigil_event::Event;
pub use vigil_event::{Normalizer, RawRecord, SourceInfo};

use crate::telemetry::ComponentMetrics;
use crate::{Shutdown, ShutdownSignal};

/// A component failed in a way that stops it (bind failed, store unwritable). Bad input is
/// never a `ComponentError`: it is counted and kept.
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct ComponentError {
    /// `kind/id` of the component.
    pub component: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ComponentError {
    /// An error of `metrics`' component.
    pub fn new(metrics: &ComponentMetrics, message: impl Into<String>) -> ComponentError {
        ComponentError {
            component: format!("{}/{}", metrics.kind(), metrics.id()),
            message: message.into(),
        }
    }
}

/// Records from one source, passed between stages as a unit.
#[derive(Debug)]
pub struct RawBatch {
    /// The source.
    pub source: Arc<SourceInfo>,
    /// The records.
    pub records: Vec<RawRecord>,
    /// Told once the batch's events are written by every destination (see [`Ack`]); `None`
    /// for a connector that answers its sender on acceptance (syslog, HTTP).
    pub ack: Option<Ack>,
    /// The file the records were read from (the file connector); `None` for the others.
    pub file: Option<FileOrigin>,
}

/// The file a batch's records were read from: every event made from record `i` gets
/// `log.file.path` (unless the normalizer set one) and `log.file.offset` (`offsets[i]`, where
/// the record begins in the file, in bytes; absent when `offsets` is shorter).
#[derive(Debug, Clone)]
pub struct FileOrigin {
    /// The path the file was found under.
    pub path: smol_str::SmolStr,
    /// Where each record begins in the file.
    pub offsets: Vec<u64>,
}

impl FileOrigin {
    /// Marks `events`, made from record `i`, with the file and the offset.
    pub fn mark(&self, i: usize, events: &mut [Event]) {
        let offset = self
            .offsets
            .get(i)
            .and_then(|o| i64::try_from(*o).ok())
            .map(vigil_event::Value::Int);
        for e in events {
            if e.log.file_path.is_none() {
                e.log.file_path = Some(self.path.clone());
            }
            if let Some(o) = &offset {
                e.extra.insert(LOG_FILE_OFFSET, o.clone());
            }
        }
    }
}

/// The field that holds where a record begins in its file.
pub const LOG_FILE_OFFSET: &str = "log.file.offset";

/// The pipeline's answer for one [`RawBatch`], for connectors that may tell their peer only
/// once events are durable (a message bus acknowledges, a file checkpoints its offset). The
/// batch is *durable* when every destination's `write` of the events made from it returned
/// (for the store: appended to its write-ahead log, which is fsynced within
/// `storage.fsync_interval`); a batch filtered away entirely is durable at once. It is *not*
/// durable when a destination gave up on it at shutdown, stopped for good, or the batch was
/// dropped unprocessed: the connector then leaves the message unacknowledged (redelivered).
/// Events an aggregation holds are durable for this purpose when the batch is processed: the
/// aggregate is what gets written.
pub struct Ack(Option<tokio::sync::oneshot::Sender<bool>>);

/// Waits for the pipeline's answer on a batch sent with an [`Ack`].
#[derive(Debug)]
pub struct AckWait(tokio::sync::oneshot::Receiver<bool>);

impl Ack {
    /// An acknowledgement to send with a batch, and its waiting side.
    pub fn new() -> (Ack, AckWait) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Ack(Some(tx)), AckWait(rx))
    }

    /// Answers: `true` when durable. The pipeline answers; a connector test that plays the
    /// pipeline's part answers with [`Ack::answer`].
    pub(crate) fn resolve(mut self, durable: bool) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(durable);
        }
    }
}

impl Ack {
    /// Answers the connector as the pipeline would: `true` when the batch is durable. For
    /// connector tests that receive the batches themselves; dropping the `Ack` answers `false`.
    pub fn answer(self, durable: bool) {
        self.resolve(durable);
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

impl AckWait {
    /// `true` once the batch is durable; `false` when it will not be (see [`Ack`]).
    pub async fn durable(self) -> bool {
        matches!(self.0.await, Ok(true))
    }

    /// The answer without waiting: `None` while there is none yet, then `Some(true)` when
    /// durable and `Some(false)` when not. For connectors that read on a thread of their own
    /// (files) and look at the answers between two reads.
    pub fn try_durable(&mut self) -> Option<bool> {
        match self.0.try_recv() {
            Ok(d) => Some(d),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => None,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => Some(false),
        }
    }
}

/// The acknowledgements of the raw batches behind one batch of events, shared by the
/// destinations it goes to: each confirms its write; when the last holder lets go, every ack
/// is answered durable if all confirmed.
pub(crate) struct AckSet {
    acks: Vec<Ack>,
    pending: std::sync::atomic::AtomicUsize,
}

impl AckSet {
    /// A set awaiting no confirmation yet.
    pub(crate) fn new(acks: Vec<Ack>) -> AckSet {
        AckSet {
            acks,
            pending: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// One more destination is to confirm (called before its queue gets the events).
    pub(crate) fn expect(&self) {
        self.pending
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// One destination wrote the events.
    pub(crate) fn confirm(&self) {
        self.pending
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Drop for AckSet {
    fn drop(&mut self) {
        let durable = self.pending.load(std::sync::atomic::Ordering::Acquire) == 0;
        for a in self.acks.drain(..) {
            a.resolve(durable);
        }
    }
}

/// The sending side of the connector → normalizer queue. Bounded: `send_async` waits when the
/// pipeline is behind (backpressure), which slows a TCP sender down instead of losing data.
pub type RawSender = flume::Sender<RawBatch>;

/// A boxed future returned by [`Connector::run`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a running connector gets.
#[derive(Debug)]
pub struct ConnectorContext {
    /// Where to send batches.
    pub out: RawSender,
    /// Fires when the pipeline shuts down: stop accepting, flush what was read, return.
    pub shutdown: ShutdownSignal,
    /// The connector's counters.
    pub metrics: ComponentMetrics,
    /// The source the connector feeds.
    pub source: Arc<SourceInfo>,
    /// Triggers a shutdown of the whole pipeline (a connector that cannot run).
    pub shutdown_all: Shutdown,
}

/// A socket a connector listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// The transport: `udp`, `tcp`, `tls`, `http`, ...
    pub scheme: &'static str,
    /// The local address, as bound (the real port when the configuration said 0).
    pub addr: std::net::SocketAddr,
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.addr)
    }
}

/// Receives records from the outside world (KUMA: connector).
pub trait Connector: Send + 'static {
    /// Runs until the shutdown signal fires, sending everything received to `ctx.out`.
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>>;

    /// Opens the connector's sockets now, before the pipeline starts (so a taken port fails
    /// the start with its address), and returns where it listens. Idempotent; `run` binds
    /// otherwise. A connector that listens nowhere (it reads files, polls a broker) returns
    /// nothing.
    fn listen(&mut self) -> Result<Vec<ListenAddr>, String> {
        Ok(Vec::new())
    }
}

/// A batch transform in the chain after the normalizer: filter, enrichment, aggregation.
pub trait Transform: Send {
    /// Transforms the batch in place (a filter removes events, an enrichment adds fields, an
    /// aggregation folds events into aggregated ones).
    fn transform(&mut self, events: &mut Vec<Event>);

    /// Called about once a second with the current time: emit what is due (an aggregation
    /// whose window closed).
    fn tick(&mut self, _now: std::time::Instant, _events: &mut Vec<Event>) {}

    /// Called on shutdown: emit anything held back.
    fn flush(&mut self, _events: &mut Vec<Event>) {}
}

/// Where events go at the end of the chain (KUMA: destination): the store, the correlator, a
/// remote collector.
pub trait Destination: Send {
    /// Writes a batch. An error stops the pipeline's intake (backpressure) until it clears.
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError>;

    /// Makes everything written so far durable/visible; called at shutdown.
    fn flush(&mut self) -> Result<(), ComponentError>;
}
