//! Source status and monitoring (KUMA's "event sources"): every collector and every host behind
//! one, with its last event time, EPS now and over 24 h, parse errors and drops; monitoring
//! policies evaluated against them; the per-tenant EPS over 24 h that licensing counts.
//!
//! # Where the figures come from
//! Nothing here runs per event on a lock. The ingest path feeds a [`SourceTracker`] in two
//! ways, both cheap:
//! * **Hosts.** [`SourceDestination`] is one more pipeline destination: it gets every batch the
//!   workers hand on, counts it into a map local to the batch (tenant, collector, host name or
//!   peer address → events, parse errors), and merges that map into the tracker once per
//!   batch. Host sources are capped ([`TrackerOptions::max_sources`]); past the cap, events
//!   count under the collector's `~other` source, never silently.
//! * **Collectors.** Once a second [`SourceTracker::sample_components`] reads the pipeline's
//!   own telemetry (the connector's records in and drops, the normalizer's parse errors) and
//!   turns the increments into the collector source's figures, so records lost before they
//!   became events still show.
//!
//! Every few seconds the tracker's increments (totals and per-minute buckets) are flushed to
//! the metadata store ([`crate::MetaStore::record_sources`]) in one transaction; the API reads
//! 24-hour sums and sparklines from there and the live figures (EPS now, last event) from the
//! tracker.
//!
//! # Monitoring
//! [`monitor::Evaluator`] applies the enabled [`crate::MonitoringPolicy`]s to the tracker's
//! sources on a one-second timer (pure, tested without a clock); a violation that starts
//! raises one monitoring event (stored in the source's tenant, `vigil.type:monitoring`) and a
//! monitoring alert through the alert service ([`monitor::SourceMonitor`]).

pub mod monitor;
pub mod quota;
mod tracker;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::model::Time;
use crate::scope::TenantId;

pub use tracker::{CollectorSource, LiveSource, SourceDestination, SourceTracker, TrackerOptions};

/// What a source is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A configured collector (its connector and normalizer): every record it received.
    Collector,
    /// One host behind a collector (its `host.name`, else the sender's address).
    Host,
}

impl SourceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Collector => "collector",
            SourceKind::Host => "host",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<SourceKind> {
        match s {
            "collector" => Some(SourceKind::Collector),
            "host" => Some(SourceKind::Host),
            _ => None,
        }
    }
}

/// The increments of one source since the last flush.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFlush {
    /// Tenant.
    pub tenant: TenantId,
    /// Source id: the collector id, or `collector/host`.
    pub id: String,
    /// Kind.
    pub kind: SourceKind,
    /// The collector (configuration id).
    pub collector: String,
    /// The Vigil node that received it.
    pub node: String,
    /// Host name (host sources).
    pub host: Option<String>,
    /// Last sender address.
    pub ip: Option<String>,
    /// When Vigil first saw it.
    pub first_seen: Time,
    /// The newest event's receive time in this flush.
    pub last_event_at: Option<Time>,
    /// Events since the last flush.
    pub events: u64,
    /// Parse errors since the last flush.
    pub parse_errors: u64,
    /// Records lost since the last flush.
    pub drops: u64,
    /// Per-minute increments: (minute start, events, parse errors, drops).
    pub minutes: Vec<(Time, u64, u64, u64)>,
}

/// A source as the metadata store keeps it, with its sums over a recent window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Tenant.
    pub tenant: TenantId,
    /// Source id: the collector id, or `collector/host`.
    pub id: String,
    /// Kind.
    pub kind: SourceKind,
    /// The collector (configuration id).
    pub collector: String,
    /// The Vigil node that received it.
    pub node: String,
    /// Host name (host sources).
    pub host: Option<String>,
    /// Last sender address.
    pub ip: Option<String>,
    /// When Vigil first saw it.
    pub first_seen: DateTime<Utc>,
    /// Receive time of its newest event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Events since it was first seen.
    pub events_total: u64,
    /// Parse errors since it was first seen.
    pub parse_errors_total: u64,
    /// Records lost since it was first seen.
    pub drops_total: u64,
    /// Events in the window asked for (24 h in the API).
    pub events_window: u64,
    /// Parse errors in the window.
    pub parse_errors_window: u64,
    /// Drops in the window.
    pub drops_window: u64,
}

/// One minute of a source's series.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcePoint {
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Events.
    pub events: u64,
    /// Parse errors.
    pub parse_errors: u64,
    /// Drops.
    pub drops: u64,
}

/// A tenant's events over a window (the licensing figure divides by the window's seconds).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantEvents {
    /// Tenant.
    pub tenant: TenantId,
    /// Events its collectors received in the window.
    pub events: u64,
}
