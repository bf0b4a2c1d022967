//! Clone, encode and decode cost of a typical normalized syslog event.

#![allow(clippy::unwrap_used)] // bench code on fixed inputs

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_event::{Bytes, Event};

fn typical() -> Event {
    let mut ev = Event::new(Bytes::from_static(
        b"<38>Nov 22 07:23:36 web01 sshd[4242]: Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2",
    ));
    ev.host.name = Some("web01".into());
    ev.process.name = Some("sshd".into());
    ev.process.pid = Some(4242);
    ev.source.ip = Some("203.0.113.77".parse().unwrap());
    ev.source.port = Some(52144);
    ev.user.name = Some("admin".into());
    ev.event.category = vec!["authentication".into()];
    ev.event.outcome = Some("failure".into());
    ev.event.action = Some("ssh_login".into());
    ev.log.syslog_facility = Some(4);
    ev.log.syslog_severity = Some(6);
    ev.message =
        Some("Failed password for invalid user admin from 203.0.113.77 port 52144 ssh2".into());
    ev
}

fn bench(c: &mut Criterion) {
    let ev = typical();
    let mut buf = Vec::with_capacity(1024);
    ev.encode(&mut buf);
    eprintln!(
        "encoded size: {} bytes (raw {} bytes)",
        buf.len(),
        ev.raw.len()
    );
    c.bench_function("event_clone", |b| b.iter(|| black_box(&ev).clone()));
    c.bench_function("event_encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&ev).encode(&mut buf);
        })
    });
    let encoded = buf.clone();
    c.bench_function("event_decode", |b| {
        b.iter(|| Event::decode(black_box(&encoded)).unwrap())
    });
    c.bench_function("event_to_json", |b| b.iter(|| black_box(&ev).to_json()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
