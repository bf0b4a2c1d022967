//! KUMA's collector chain for Vigil: connector → normalizer → filter → enrichment →
//! aggregation → destination.
//!
//! This crate owns the *contract* between components and the machinery that runs them; the
//! components themselves live with their domain (connectors in `vigil-ingest`, normalizers in
//! `vigil-normalize`, the store destination in `vigil-store`); the file destination, which
//! needs nothing but the event, is here ([`file`]). Three shapes:
//!
//! * a [`Connector`] is an async task that reads the outside world and sends [`RawBatch`]es;
//! * a [`Normalizer`] and the [`Transform`]s (filter, enrichment, aggregation) are plain
//!   synchronous functions over batches, run on worker threads: the cheapest shape, no async
//!   overhead per event;
//! * a [`Destination`] writes batches on its own thread; a [`DiskBuffer`] ([`buffer`]) in front
//!   of one whose next hop may be down holds batches on disk and drains them in order.
//!
//! A connector that may tell its peer only once events are durable (a message bus) sends its
//! batch with an [`Ack`]: it is answered once every destination wrote the batch's events.
//!
//! Everything between them is a bounded queue ([`topology`]), so a slow store slows the
//! senders down rather than losing events, and shutdown drains front to back. Every component
//! reports through one helper ([`telemetry::ComponentMetrics`]): events in/out, bytes, errors
//! and drops by reason, rendered at `/metrics`.

#![warn(missing_docs)]

pub mod buffer;
pub mod component;
pub mod descriptors;
pub mod file;
pub mod quota;
mod shutdown;
pub mod telemetry;
pub mod topology;
pub mod transforms;

pub use buffer::DiskBuffer;
pub use component::{
    Ack, AckWait, BoxFuture, ComponentError, Connector, ConnectorContext, Destination, FileOrigin,
    LOG_FILE_OFFSET, ListenAddr, Normalizer, RawBatch, RawRecord, RawSender, SourceInfo, Transform,
};
pub use descriptors::{ConnectionBudget, ConnectionPermit};
pub use file::FileDestination;
pub use quota::TenantQuotas;
pub use shutdown::{Shutdown, ShutdownSignal};
pub use telemetry::{ComponentMetrics, ComponentSnapshot, MetricSet, Telemetry};
pub use topology::{
    Chain, DEFAULT_BATCH_EVENTS, DEFAULT_BATCH_LINGER, PipelineBuilder, PipelineOptions,
    RunningPipeline, SourceChain,
};
