//! The store's figures as metrics (feature `pipeline`): every tenant's through the telemetry
//! helper, rendered at `/metrics`.

use vigil_pipeline::MetricSet;

use crate::{EventStore, StoreStats, TenantId};

/// The store's figures of every tenant with events (and of `main` always, so that the
/// store-wide disk gauges show before the first event), added to `out`. A remote store
/// answers over the network: call it where blocking is allowed.
pub fn collect_metrics(store: &dyn EventStore, out: &mut MetricSet) {
    let mut tenants = match store.tenants() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "store metrics: tenants not listed");
            Vec::new()
        }
    };
    if !tenants.contains(&TenantId::main()) {
        tenants.insert(0, TenantId::main());
    }
    for t in tenants {
        match store.stats(&t) {
            Ok(s) => store_metrics(&t, &s, out),
            Err(e) => tracing::warn!(tenant = %t, error = %e, "store metrics not read"),
        }
    }
}

fn store_metrics(t: &TenantId, s: &StoreStats, out: &mut MetricSet) {
    let rows: [(&str, &str, &str, u64); 20] = [
        (
            "vigil_store_disk_full",
            "gauge",
            "1 while new events are refused because free disk space is below the reserve.",
            s.disk_full,
        ),
        (
            "vigil_store_disk_free_bytes",
            "gauge",
            "Free bytes on the data directory's file system at the last check.",
            s.disk_free_bytes,
        ),
        (
            "vigil_store_appends_refused_disk_full_total",
            "counter",
            "Appends refused because the disk was full (the pipeline retries them).",
            s.appends_refused_disk_full,
        ),
        (
            "vigil_store_retention_segments_deleted_total",
            "counter",
            "Segment files deleted by retention since start.",
            s.retention_segments_deleted,
        ),
        (
            "vigil_store_retention_events_deleted_total",
            "counter",
            "Events deleted by retention since start.",
            s.retention_events_deleted,
        ),
        ("vigil_store_events", "gauge", "Events stored.", s.events),
        (
            "vigil_store_memtable_events",
            "gauge",
            "Events not yet sealed into segments.",
            s.memtable_events,
        ),
        (
            "vigil_store_segments",
            "gauge",
            "Segment files.",
            s.segments,
        ),
        (
            "vigil_store_bytes_on_disk",
            "gauge",
            "Bytes of segment and WAL files.",
            s.bytes_on_disk,
        ),
        (
            "vigil_store_events_appended_total",
            "counter",
            "Events appended since start.",
            s.events_appended,
        ),
        (
            "vigil_store_bytes_written_total",
            "counter",
            "Bytes written since start.",
            s.bytes_written,
        ),
        (
            "vigil_store_segments_sealed_total",
            "counter",
            "Segments sealed since start.",
            s.segments_sealed,
        ),
        (
            "vigil_store_corrupt_frames_total",
            "counter",
            "Torn or corrupt WAL frames found at open.",
            s.corrupt_frames,
        ),
        (
            "vigil_store_corrupt_segments_total",
            "counter",
            "Segments quarantined at open.",
            s.corrupt_segments,
        ),
        (
            "vigil_store_seal_errors_total",
            "counter",
            "Failed seal attempts.",
            s.seal_errors,
        ),
        (
            "vigil_store_memtable_bytes",
            "gauge",
            "Bytes held by the tenant's unsealed events (memtables, those being sealed included).",
            s.memtable_bytes,
        ),
        (
            "vigil_store_memtable_bytes_all",
            "gauge",
            "Bytes held by the unsealed events of all tenants.",
            s.memtable_bytes_all,
        ),
        (
            "vigil_store_memtable_limit_bytes",
            "gauge",
            "The limit on the bytes of all memtables (storage.memtable_total_max).",
            s.memtable_limit_bytes,
        ),
        (
            "vigil_store_memtable_full_seals_total",
            "counter",
            "Memtables sealed early because they reached a memory limit.",
            s.memtable_full_seals,
        ),
        (
            "vigil_store_appends_waited_memory_total",
            "counter",
            "Appends that waited for memtables to be sealed (all memtables full; store-wide).",
            s.appends_waited_memory,
        ),
    ];
    for (name, kind, help, v) in rows {
        out.sample(name, kind, help, &[("tenant", t.as_str())], v);
    }
}
