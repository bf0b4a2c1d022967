//! The disk buffer on a real directory: order, restart, the bound, a torn tail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_event::Event;
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination, DiskBuffer};

/// Takes events while `down` is clear, recording their raw text.
#[derive(Clone, Default)]
struct Peer {
    down: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<String>>>,
}

impl Destination for Peer {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ComponentError {
                component: "peer".into(),
                message: "down".into(),
            });
        }
        self.got.lock().unwrap().extend(
            events
                .iter()
                .map(|e| String::from_utf8_lossy(&e.raw).into_owned()),
        );
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

fn batch(from: usize, n: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            Event::new(bytes::Bytes::from(format!(
                "event-{i:06} {}",
                "x".repeat(200)
            )))
        })
        .collect()
}

fn wait_until(limit: Duration, f: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn expected(n: usize) -> Vec<String> {
    batch(0, n)
        .iter()
        .map(|e| String::from_utf8_lossy(&e.raw).into_owned())
        .collect()
}

#[test]
fn holds_events_while_the_peer_is_down_and_drains_them_in_order_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    peer.down.store(true, Ordering::SeqCst);
    let m = ComponentMetrics::detached("destination", "fwd");
    let mut b = DiskBuffer::open(dir.path(), 64 << 20, Box::new(peer.clone()), m.clone()).unwrap();
    for i in 0..100 {
        b.write(&batch(i * 10, 10)).unwrap();
    }
    assert_eq!(m.gauge("buffer_batches").load(Ordering::SeqCst), 100);
    assert!(m.gauge("buffer_bytes").load(Ordering::SeqCst) > 100 * 10 * 200);
    b.flush().unwrap();
    drop(b);
    assert!(peer.got.lock().unwrap().is_empty());

    // a new process: the peer is back
    peer.down.store(false, Ordering::SeqCst);
    let m = ComponentMetrics::detached("destination", "fwd");
    let mut b = DiskBuffer::open(dir.path(), 64 << 20, Box::new(peer.clone()), m.clone()).unwrap();
    assert!(wait_until(Duration::from_secs(20), || peer
        .got
        .lock()
        .unwrap()
        .len()
        == 1000));
    b.write(&batch(1000, 10)).unwrap();
    assert!(wait_until(Duration::from_secs(20), || peer
        .got
        .lock()
        .unwrap()
        .len()
        == 1010));
    b.flush().unwrap();
    assert_eq!(*peer.got.lock().unwrap(), expected(1010));
    assert_eq!(m.gauge("buffer_bytes").load(Ordering::SeqCst), 0);
    drop(b);
    // nothing is sent twice after another restart
    let mut b = DiskBuffer::open(dir.path(), 64 << 20, Box::new(peer.clone()), m).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    b.flush().unwrap();
    assert_eq!(peer.got.lock().unwrap().len(), 1010);
}

#[test]
fn a_full_buffer_refuses_more_until_the_peer_takes_some() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    peer.down.store(true, Ordering::SeqCst);
    let m = ComponentMetrics::detached("destination", "fwd");
    let max = 1 << 20;
    let mut b = DiskBuffer::open(dir.path(), max, Box::new(peer.clone()), m.clone()).unwrap();
    let mut written = 0;
    loop {
        match b.write(&batch(written, 10)) {
            Ok(()) => written += 10,
            Err(e) => {
                assert!(e.message.contains("full"), "{e}");
                break;
            }
        }
        assert!(written < 100_000, "the bound was never reached");
    }
    assert!(m.gauge("buffer_bytes").load(Ordering::SeqCst) as u64 <= max);
    // several segments were used (an eighth of the bound, at least 64 KiB, each)
    let segs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(segs > 1, "{segs} segment(s)");
    peer.down.store(false, Ordering::SeqCst);
    // the same batch is taken once there is room: the pipeline's retry
    let mut tries = 0;
    while b.write(&batch(written, 10)).is_err() {
        tries += 1;
        assert!(tries < 20, "no room after the peer came back");
    }
    written += 10;
    assert!(wait_until(Duration::from_secs(20), || peer
        .got
        .lock()
        .unwrap()
        .len()
        == written));
    b.flush().unwrap();
    assert_eq!(*peer.got.lock().unwrap(), expected(written));
    assert_eq!(m.snapshot().drop_total(), 0);
}

#[test]
fn a_torn_record_at_the_end_is_cut_off_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    peer.down.store(true, Ordering::SeqCst);
    let m = ComponentMetrics::detached("destination", "fwd");
    let mut b = DiskBuffer::open(dir.path(), 64 << 20, Box::new(peer.clone()), m).unwrap();
    for i in 0..5 {
        b.write(&batch(i * 10, 10)).unwrap();
    }
    b.flush().unwrap();
    drop(b);
    // a crash mid-append: half a record at the end
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]).unwrap();
    drop(f);
    peer.down.store(false, Ordering::SeqCst);
    let m = ComponentMetrics::detached("destination", "fwd");
    let mut b = DiskBuffer::open(dir.path(), 64 << 20, Box::new(peer.clone()), m.clone()).unwrap();
    b.write(&batch(50, 10)).unwrap();
    assert!(wait_until(Duration::from_secs(20), || peer
        .got
        .lock()
        .unwrap()
        .len()
        == 60));
    b.flush().unwrap();
    assert_eq!(*peer.got.lock().unwrap(), expected(60));
    assert_eq!(m.snapshot().error_total(), 0);
}
