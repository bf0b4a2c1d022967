//! Memory held while a memtable is sealed (issue 11: the hostile soak's peak RSS rose by
//! 40–90 MB around each seal). A counting allocator, global to this test binary only, measures
//! the bytes allocated at once during `flush` beyond what was allocated before it (the frozen
//! memtable stays searchable until its segment is in the view, so it is not counted as extra),
//! and the test bounds them relative to the memtable. No timing is asserted.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
// A global allocator is an `unsafe impl`; this one forwards every call to `System` unchanged
// and lives in this test binary only.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use vigil_event::{Bytes, Event, SmolStr, Timestamp};
use vigil_store::embedded::{EmbeddedConfig, EmbeddedStore};
use vigil_store::{EventStore, TenantId};

/// The system allocator, counting the bytes live now and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn add(n: usize) {
        let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
    fn sub(n: usize) {
        LIVE.fetch_sub(n, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Counting::add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's
        unsafe { System.dealloc(ptr, layout) };
        Counting::sub(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Counting::add(new_size);
            Counting::sub(layout.size());
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PROCS: [&str; 5] = ["sshd", "sudo", "nginx", "cron", "kernel"];
const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "root"];

/// Event `i`: a syslog line with a unique tail (as many senders' lines are) and the fields a
/// normalizer sets.
fn event(i: u64) -> Event {
    let proc = PROCS[(i % 5) as usize];
    let user = USERS[(i % 5) as usize];
    let host = format!("host-{}", i % 1000);
    let ip = format!("10.{}.{}.{}", (i / 65_536) % 250, (i / 256) % 256, i % 256);
    let msg = format!(
        "Failed password for {user} from {ip} port {} ssh2 seq={i}",
        1024 + i % 60_000
    );
    let raw = format!("<86>May  1 00:00:00 {host} {proc}[{}]: {msg}", i % 32_768);
    let mut ev = Event::new(Bytes::from(raw));
    ev.meta.tenant = SmolStr::new("main");
    ev.timestamp = Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000);
    ev.host.name = Some(host.into());
    ev.process.name = Some(proc.into());
    ev.user.name = Some(user.into());
    ev.source.ip = ip.parse().ok();
    ev.source.port = Some(1024 + (i % 60_000) as u16);
    ev.process.pid = Some((i % 32_768) as i64);
    ev.message = Some(msg.into());
    ev
}

/// Sealing a memtable of 200,000 events, appended in batches of 8 (many small senders), holds
/// at most a bounded fraction of the memtable's own size beside it.
#[test]
fn sealing_holds_no_second_copy_of_the_memtable() {
    const EVENTS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmbeddedConfig::new(dir.path());
    cfg.segment_max_events = 1 << 22;
    cfg.segment_max_age = Duration::from_secs(3600);
    cfg.memtable_max_bytes = 1 << 30;
    cfg.memtable_total_bytes = 1 << 31;
    cfg.verify_on_open = false;
    let store = EmbeddedStore::open(cfg).unwrap();
    let t = TenantId::main();
    let before_append = LIVE.load(Ordering::Relaxed);
    let mut batch = Vec::with_capacity(8);
    for i in 0..EVENTS {
        batch.push(event(i));
        if batch.len() == 8 {
            store.append(&t, &batch).unwrap();
            batch.clear();
        }
    }
    store.append(&t, &batch).unwrap();
    drop(batch);
    let stats = store.stats(&t).unwrap();
    assert_eq!(stats.memtable_events, EVENTS);
    let memtable_live = LIVE.load(Ordering::Relaxed).saturating_sub(before_append);
    let charged = stats.memtable_bytes as usize;

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    store.flush(&t).unwrap();
    let peak_extra = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let after = store.stats(&t).unwrap();
    assert_eq!(after.memtable_events, 0);
    assert_eq!(after.events, EVENTS);

    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "seal of {EVENTS} events: memtable {:.1} MiB live ({:.1} MiB charged), \
         peak beside it during the seal {:.1} MiB ({:.0} % of the memtable)",
        mib(memtable_live),
        mib(charged),
        mib(peak_extra),
        100.0 * peak_extra as f64 / memtable_live as f64
    );
    // one row group's columns, the Parquet writer's buffers and the segment's metadata: a
    // fraction of the memtable, not a second copy of it
    assert!(
        peak_extra < memtable_live / 4,
        "sealing held {:.1} MiB beside a memtable of {:.1} MiB",
        mib(peak_extra),
        mib(memtable_live)
    );
    store.close().unwrap();
}
