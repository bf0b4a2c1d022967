//! `cargo fuzz run netflow` (seeds: the logstash-codec-netflow packets, see `fuzz/seed.sh`):
//! the input is a sequence of packets, each `[exporter byte][u16 LE length][bytes]`, decoded
//! by one decoder with a small cache, so templates learned from one packet are used, evicted
//! and withdrawn by the next. Never panics; every error range lies inside its packet; the
//! cache never exceeds its limits; the counters add up; a packet decoded by a fresh decoder
//! twice gives the same result (no hidden state beyond the template cache).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use vigil_parse::netflow::{NetflowDecoder, NetflowOptions};

fuzz_target!(|data: &[u8]| {
    let opts = NetflowOptions {
        max_exporters: 3,
        max_templates_per_exporter: 8,
        max_template_fields: 64,
        max_cached_fields: 200,
        max_records_per_packet: 500,
    };
    let mut d = NetflowDecoder::new(opts);
    let mut rest = data;
    let (mut ok, mut err, mut records, mut set_errors) = (0u64, 0u64, 0u64, 0u64);
    while let [who, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(tail.len());
        let (packet, next) = tail.split_at(len);
        rest = next;
        let exporter = IpAddr::V4(Ipv4Addr::new(10, 0, 0, who % 4));
        if who & 0x80 != 0 {
            let mut a = NetflowDecoder::new(opts);
            let mut b = NetflowDecoder::new(opts);
            // Compared as text: a float element may be NaN, which is not equal to itself.
            let (x, y) = (a.decode(exporter, packet), b.decode(exporter, packet));
            assert_eq!(format!("{x:?}"), format!("{y:?}"));
        }
        match d.decode(exporter, packet) {
            Ok(p) => {
                ok += 1;
                assert!(p.records.len() <= 500);
                records += p.records.len() as u64;
                set_errors += p.errors.len() as u64;
                for e in &p.errors {
                    assert!(e.range.start <= e.range.end && e.range.end <= packet.len());
                    assert!(!e.error.to_string().is_empty());
                }
                for r in &p.records {
                    assert!(r.len() <= 2 * 64 + 8); // a protocol field adds `network.transport`
                }
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        let (scopes, templates) = d.cached();
        assert!(scopes <= 3 && templates <= 3 * 8);
    }
    let s = d.stats();
    assert_eq!(s.packets, ok + err);
    assert_eq!(s.malformed_packets, err);
    assert_eq!(s.records, records);
    assert_eq!(s.missing_template_sets + s.malformed_sets, set_errors);
});
