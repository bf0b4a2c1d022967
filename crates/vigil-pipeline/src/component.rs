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
#[derive(Debug, Clone)]
pub struct RawBatch {
    /// The source.
    pub source: Arc<SourceInfo>,
    /// The records.
    pub records: Vec<RawRecord>,
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
