//! Property tests for the NetFlow/IPFIX decoder: arbitrary and mutated packets never panic
//! and every reported range lies inside the packet; generated flows survive an encode →
//! decode round trip in all three versions; a data set sent before its template is reported
//! with exactly its bytes, and decodes once the template is known.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vigil_parse::FieldValue;
use vigil_parse::netflow::{NetflowDecoder, NetflowError, NetflowOptions};

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

#[derive(Debug, Clone)]
struct Flow {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    bytes: u32,
    packets: u32,
}

fn flow(v6: bool) -> impl Strategy<Value = Flow> {
    let addr = move || {
        if v6 {
            any::<[u8; 16]>()
                .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                .boxed()
        } else {
            any::<[u8; 4]>()
                .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                .boxed()
        }
    };
    (
        addr(),
        addr(),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(src, dst, sport, dport, proto, bytes, packets)| Flow {
            src,
            dst,
            sport,
            dport,
            proto,
            bytes,
            packets,
        })
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn v5(flows: &[Flow]) -> Vec<u8> {
    let mut p = vec![0, 5];
    p.extend_from_slice(&u16::try_from(flows.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&60_000u32.to_be_bytes());
    p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&9u32.to_be_bytes());
    p.extend_from_slice(&[1, 2, 0, 0]);
    for f in flows {
        p.extend(octets(f.src));
        p.extend(octets(f.dst));
        p.extend_from_slice(&[0; 8]); // next hop, input, output
        p.extend_from_slice(&f.packets.to_be_bytes());
        p.extend_from_slice(&f.bytes.to_be_bytes());
        p.extend_from_slice(&50_000u32.to_be_bytes());
        p.extend_from_slice(&59_000u32.to_be_bytes());
        p.extend_from_slice(&f.sport.to_be_bytes());
        p.extend_from_slice(&f.dport.to_be_bytes());
        p.extend_from_slice(&[0, 0x12, f.proto, 0]);
        p.extend_from_slice(&[0; 8]);
    }
    p
}

/// A template set and a data set (v9 or IPFIX), template id 300.
fn templated(flows: &[Flow], v6: bool, ipfix: bool) -> (Vec<u8>, Vec<u8>) {
    let (s, d, alen) = if v6 {
        (27u16, 28u16, 16u16)
    } else {
        (8, 12, 4)
    };
    let spec = [
        (s, alen),
        (d, alen),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 4),
        (2, 4),
    ];
    let mut t = vec![0, if ipfix { 2 } else { 0 }, 0, 0, 1, 44, 0, 7];
    for (id, len) in spec {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    let tl = u16::try_from(t.len()).unwrap().to_be_bytes();
    t[2..4].copy_from_slice(&tl);
    let mut data = vec![1, 44, 0, 0];
    for f in flows {
        data.extend(octets(f.src));
        data.extend(octets(f.dst));
        data.extend_from_slice(&f.sport.to_be_bytes());
        data.extend_from_slice(&f.dport.to_be_bytes());
        data.push(f.proto);
        data.extend_from_slice(&f.bytes.to_be_bytes());
        data.extend_from_slice(&f.packets.to_be_bytes());
    }
    let dl = u16::try_from(data.len()).unwrap().to_be_bytes();
    data[2..4].copy_from_slice(&dl);
    (t, data)
}

fn message(ipfix: bool, sets: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = sets.concat();
    let mut p = if ipfix {
        let mut p = vec![0, 10];
        p.extend_from_slice(&u16::try_from(16 + body.len()).unwrap().to_be_bytes());
        p
    } else {
        let mut p = vec![0, 9, 0, 0];
        p.extend_from_slice(&60_000u32.to_be_bytes());
        p
    };
    p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    p.extend_from_slice(&3u32.to_be_bytes());
    p.extend_from_slice(&77u32.to_be_bytes());
    p.extend(body);
    p
}

fn check(rec: &vigil_parse::Fields<'_>, f: &Flow) {
    assert_eq!(rec.get_str("source.ip"), Some(f.src.to_string().as_str()));
    assert_eq!(
        rec.get_str("destination.ip"),
        Some(f.dst.to_string().as_str())
    );
    assert_eq!(
        rec.get("source.port"),
        Some(&FieldValue::Int(i64::from(f.sport)))
    );
    assert_eq!(
        rec.get("destination.port"),
        Some(&FieldValue::Int(i64::from(f.dport)))
    );
    assert_eq!(
        rec.get_str("network.iana_number"),
        Some(f.proto.to_string().as_str())
    );
    assert_eq!(
        rec.get("network.bytes"),
        Some(&FieldValue::Int(i64::from(f.bytes)))
    );
    assert_eq!(
        rec.get("network.packets"),
        Some(&FieldValue::Int(i64::from(f.packets)))
    );
    assert_eq!(rec.get_str("observer.ip"), Some("198.51.100.7"));
}

/// Decodes and checks what must hold for any input.
fn survive(d: &mut NetflowDecoder, packet: &[u8]) {
    if let Ok(p) = d.decode(EXPORTER, packet) {
        for e in &p.errors {
            assert!(
                e.range.start <= e.range.end && e.range.end <= packet.len(),
                "{e:?}"
            );
        }
    }
    let (scopes, templates) = d.cached();
    assert!(scopes <= 2 && templates <= 2 * 4);
}

fn small() -> NetflowDecoder {
    NetflowDecoder::new(NetflowOptions {
        max_exporters: 2,
        max_templates_per_exporter: 4,
        max_template_fields: 32,
        max_cached_fields: 100,
        max_records_per_packet: 50,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_packets_never_panic(
        version in prop_oneof![Just(5u8), Just(9), Just(10), any::<u8>()],
        rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut d = small();
        let mut p = vec![0, version];
        p.extend(rest);
        survive(&mut d, &p);
        survive(&mut d, &p);
    }

    #[test]
    fn mutated_real_shapes_never_panic(
        flows in proptest::collection::vec(flow(false), 1..4),
        ipfix in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (t, data) = templated(&flows, false, ipfix);
        let mut p = message(ipfix, &[&t, &data]);
        for (i, b) in flips {
            let i = i.index(p.len());
            p[i] = b;
        }
        let mut d = small();
        survive(&mut d, &p);
        let cut = cut.index(p.len() + 1);
        survive(&mut d, &p[..cut]);
    }

    #[test]
    fn v5_round_trip(flows in proptest::collection::vec(flow(false), 0..30)) {
        let out = NetflowDecoder::default().decode(EXPORTER, &v5(&flows)).unwrap();
        prop_assert_eq!(out.records.len(), flows.len());
        for (r, f) in out.records.iter().zip(&flows) {
            check(r, f);
            prop_assert_eq!(r.get("netflow.tcp_control_bits"), Some(&FieldValue::Int(0x12)));
            // Uptime 60 s at export, first/last at 50 s and 59 s.
            prop_assert_eq!(r.get_str("event.start"), Some("2023-11-14T22:13:10Z"));
            prop_assert_eq!(r.get_str("event.end"), Some("2023-11-14T22:13:19Z"));
        }
    }

    #[test]
    fn v9_and_ipfix_round_trip(
        flows in proptest::collection::vec(flow(false), 1..20),
        flows6 in proptest::collection::vec(flow(true), 1..10),
        ipfix in any::<bool>(),
    ) {
        let mut d = NetflowDecoder::default();
        let (t, data) = templated(&flows, false, ipfix);
        let out = d.decode(EXPORTER, &message(ipfix, &[&t, &data])).unwrap();
        prop_assert!(out.errors.is_empty(), "{:?}", out.errors);
        prop_assert_eq!(out.records.len(), flows.len());
        for (r, f) in out.records.iter().zip(&flows) {
            check(r, f);
        }
        // The same template id redefined for IPv6 replaces the old layout.
        let (t6, data6) = templated(&flows6, true, ipfix);
        let out = d.decode(EXPORTER, &message(ipfix, &[&t6, &data6])).unwrap();
        prop_assert_eq!(out.records.len(), flows6.len());
        for (r, f) in out.records.iter().zip(&flows6) {
            check(r, f);
        }
    }

    #[test]
    fn data_before_template_is_reported_then_decodes(
        flows in proptest::collection::vec(flow(false), 1..10),
        ipfix in any::<bool>(),
    ) {
        let mut d = NetflowDecoder::default();
        let (t, data) = templated(&flows, false, ipfix);
        let early = message(ipfix, &[&data]);
        let hlen = if ipfix { 16 } else { 20 };
        let out = d.decode(EXPORTER, &early).unwrap();
        prop_assert!(out.records.is_empty());
        prop_assert_eq!(out.errors.len(), 1);
        prop_assert_eq!(&early[out.errors[0].range.clone()], &data[..]);
        prop_assert_eq!(early.len() - hlen, data.len());
        let is_missing = matches!(out.errors[0].error, NetflowError::MissingTemplate { template_id: 300, domain: 77, .. });
        prop_assert!(is_missing);
        d.decode(EXPORTER, &message(ipfix, &[&t])).unwrap();
        let out = d.decode(EXPORTER, &early).unwrap();
        prop_assert_eq!(out.records.len(), flows.len());
        prop_assert_eq!(d.stats().missing_template_sets, 1);
    }
}
