// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

fn v9_header(domain: u32) -> Vec<u8> {
    let mut p = vec![0, 9, 0, 1];
    p.extend_from_slice(&10_000u32.to_be_bytes()); // uptime 10 s
    p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&domain.to_be_bytes());
    p
}

/// Template 256: src v4 (8/4), dst v4 (12/4), proto (4/1), bytes (1/4), start (22/4).
fn v9_template() -> Vec<u8> {
    let mut s = vec![0, 0, 0, 28, 1, 0, 0, 5];
    for (t, l) in [(8u16, 4u16), (12, 4), (4, 1), (1, 4), (22, 4)] {
        s.extend_from_slice(&t.to_be_bytes());
        s.extend_from_slice(&l.to_be_bytes());
    }
    s
}

/// One data set for template 256 with one record and 3 bytes of padding.
fn v9_data() -> Vec<u8> {
    let mut s = vec![1, 0, 0, 4 + 17 + 3];
    s.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 6]);
    s.extend_from_slice(&1500u32.to_be_bytes());
    s.extend_from_slice(&9_000u32.to_be_bytes()); // 1 s before export
    s.extend_from_slice(&[0, 0, 0]);
    s
}

#[test]
fn v9_template_then_data_decodes_with_ecs_names() {
    let mut d = NetflowDecoder::default();
    let mut p = v9_header(1);
    p.extend(v9_template());
    p.extend(v9_data());
    let out = d.decode(A, &p).unwrap();
    assert_eq!(out.templates, 1);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), 1);
    let r = &out.records[0];
    assert_eq!(r.get_str("source.ip"), Some("10.0.0.1"));
    assert_eq!(r.get_str("destination.ip"), Some("10.0.0.2"));
    assert_eq!(r.get_str("network.transport"), Some("tcp"));
    assert_eq!(r.get_str("network.iana_number"), Some("6"));
    assert_eq!(
        r.get("network.bytes").and_then(FieldValue::as_i64),
        Some(1500)
    );
    assert_eq!(r.get_str("event.start"), Some("2023-11-14T22:13:19Z"));
    assert_eq!(r.get_str("observer.ip"), Some("192.0.2.1"));
    assert_eq!(r.get_str("netflow.type"), Some("netflow_flow"));
}

#[test]
fn data_before_template_is_reported_with_its_range_and_counted() {
    let mut d = NetflowDecoder::default();
    let mut p = v9_header(1);
    p.extend(v9_data());
    let out = d.decode(A, &p).unwrap();
    assert!(out.records.is_empty());
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].range, 20..p.len());
    assert!(matches!(
        out.errors[0].error,
        NetflowError::MissingTemplate {
            template_id: 256,
            domain: 1,
            ..
        }
    ));
    assert_eq!(d.stats().missing_template_sets, 1);
}

#[test]
fn templates_are_scoped_per_exporter_and_domain() {
    let mut d = NetflowDecoder::default();
    let mut t = v9_header(1);
    t.extend(v9_template());
    d.decode(A, &t).unwrap();
    let mut data = v9_header(1);
    data.extend(v9_data());
    assert_eq!(d.decode(A, &data).unwrap().records.len(), 1);
    // Same template id from another exporter, or another source id: unknown.
    assert_eq!(d.decode(B, &data).unwrap().errors.len(), 1);
    let mut other = v9_header(2);
    other.extend(v9_data());
    assert_eq!(d.decode(A, &other).unwrap().errors.len(), 1);
    assert_eq!(d.stats().missing_template_sets, 2);
}

#[test]
fn the_cache_is_bounded_by_exporters_templates_and_fields() {
    let opts = NetflowOptions {
        max_exporters: 2,
        max_templates_per_exporter: 3,
        max_template_fields: 8,
        max_cached_fields: 30,
        max_records_per_packet: 8,
    };
    let mut d = NetflowDecoder::new(opts);
    for ip in 0..5u8 {
        let mut p = v9_header(0);
        for id in 256..266u16 {
            let mut t = v9_template();
            t[4..6].copy_from_slice(&id.to_be_bytes());
            p.extend(t);
        }
        d.decode(IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip)), &p)
            .unwrap();
        let (scopes, templates) = d.cached();
        assert!(scopes <= 2 && templates <= 5, "{scopes} {templates}");
        assert!(d.cached_fields <= 30);
    }
    assert!(d.stats().templates_evicted > 0);
    assert!(d.stats().scopes_evicted > 0);
    // A template longer than max_template_fields is refused with a reason.
    let mut p = v9_header(0);
    let mut s = vec![0, 0, 0, 8 + 9 * 4, 1, 0, 0, 9];
    for _ in 0..9 {
        s.extend_from_slice(&[0, 1, 0, 4]);
    }
    p.extend(s);
    let out = d.decode(A, &p).unwrap();
    assert_eq!(out.templates, 0);
    assert!(
        out.errors[0]
            .error
            .to_string()
            .contains("max_template_fields")
    );
}

#[test]
fn truncated_and_foreign_packets_are_errors_not_panics() {
    let mut d = NetflowDecoder::default();
    for p in [
        &[][..],
        &[0],
        &[0, 5, 0],
        &[0, 9, 0, 0, 0],
        &[0, 10, 0, 16],
        &[1, 2, 3, 4],
    ] {
        assert!(d.decode(A, p).is_err(), "{p:?}");
    }
    let mut v5 = vec![0u8; 24 + 48];
    v5[1] = 5;
    v5[3] = 2; // two records announced, one present
    assert_eq!(
        d.decode(A, &v5).unwrap_err(),
        NetflowError::BadRecordCount { count: 2, fit: 1 }
    );
    assert_eq!(d.stats().malformed_packets, 7);
}

#[test]
fn a_set_running_past_the_packet_is_reported_and_decoding_stops() {
    let mut d = NetflowDecoder::default();
    let mut p = v9_header(1);
    p.extend(v9_template());
    p.extend_from_slice(&[1, 0, 0, 200, 1, 2, 3]);
    let out = d.decode(A, &p).unwrap();
    assert_eq!(out.templates, 1);
    assert!(matches!(
        out.errors[0].error,
        NetflowError::BadSetLength { len: 200, .. }
    ));
    assert_eq!(out.errors[0].range, 48..p.len());
}

fn ipfix(sets: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 10];
    p.extend_from_slice(&u16::try_from(16 + sets.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&42u32.to_be_bytes());
    p.extend_from_slice(sets);
    p
}

#[test]
fn ipfix_variable_length_enterprise_and_reverse_fields() {
    let mut d = NetflowDecoder::default();
    // Template 300: applicationName (96, variable), enterprise 9/12345 (2 bytes),
    // reverse octetDeltaCount (29305/1, 4 bytes: reduced size), flowStartMilliseconds.
    let mut t = vec![0, 2, 0, 0, 1, 44, 0, 4];
    t.extend_from_slice(&[0, 96, 0xFF, 0xFF]);
    t.extend_from_slice(&[0x80 | 0x30, 0x39, 0, 2, 0, 0, 0, 9]);
    t.extend_from_slice(&[0x80, 1, 0, 4, 0, 0, 0x72, 0x79]);
    t.extend_from_slice(&[0, 152, 0, 8]);
    let tl = u16::try_from(t.len()).unwrap().to_be_bytes();
    t[2..4].copy_from_slice(&tl);
    let mut data = vec![1, 44, 0, 0];
    data.extend_from_slice(&[3, b'd', b'n', b's', 0xBE, 0xEF, 0, 0, 1, 0]);
    data.extend_from_slice(&1_700_000_000_123u64.to_be_bytes());
    // A long-form length: 255 then 300 bytes.
    data.extend_from_slice(&[255, 1, 44]);
    data.extend_from_slice(&[b'x'; 300]);
    data.extend_from_slice(&[0xBE, 0xEF, 0, 0, 0, 1]);
    data.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    let dl = u16::try_from(data.len()).unwrap().to_be_bytes();
    data[2..4].copy_from_slice(&dl);
    let mut sets = t;
    sets.extend(data);
    let out = d.decode(A, &ipfix(&sets)).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), 2);
    let r = &out.records[0];
    assert_eq!(r.get_str("netflow.application_name"), Some("dns"));
    assert_eq!(r.get_str("netflow.ie_9_12345"), Some("beef"));
    assert_eq!(
        r.get("netflow.reverse_octet_delta_count"),
        Some(&FieldValue::Int(256))
    );
    assert_eq!(r.get_str("event.start"), Some("2023-11-14T22:13:20.123Z"));
    assert_eq!(
        r.get("netflow.exporter.source_id"),
        Some(&FieldValue::Int(42))
    );
    assert_eq!(
        out.records[1]
            .get_str("netflow.application_name")
            .map(str::len),
        Some(300)
    );
}

#[test]
fn ipfix_withdrawal_forgets_the_template() {
    let mut d = NetflowDecoder::default();
    let t = [0, 2, 0, 12, 1, 0, 0, 1, 0, 8, 0, 4];
    d.decode(A, &ipfix(&t)).unwrap();
    assert_eq!(d.cached(), (1, 1));
    let w = [0, 2, 0, 8, 1, 0, 0, 0];
    assert_eq!(d.decode(A, &ipfix(&w)).unwrap().templates, 1);
    assert_eq!(d.cached(), (1, 0));
    let data = [1, 0, 0, 8, 10, 0, 0, 1];
    let out = d.decode(A, &ipfix(&data)).unwrap();
    assert!(matches!(
        out.errors[0].error,
        NetflowError::MissingTemplate { .. }
    ));
}

#[test]
fn ipfix_message_length_beyond_the_datagram_is_rejected() {
    let mut d = NetflowDecoder::default();
    let mut p = ipfix(&[]);
    p[2..4].copy_from_slice(&100u16.to_be_bytes());
    assert!(matches!(
        d.decode(A, &p),
        Err(NetflowError::BadMessageLength {
            declared: 100,
            actual: 16
        })
    ));
}

#[test]
fn uptime_wraparound_gives_a_start_before_the_export() {
    let clock = Clock {
        export_ms: 1_700_000_000_000,
        uptime_ms: Some(1_000),
    };
    // The flow started 2 s before export, just before the uptime counter wrapped.
    let t = clock.at_uptime(u32::MAX - 999).unwrap();
    assert_eq!(t.timestamp_millis(), 1_700_000_000_000 - 2_000);
}

#[test]
fn typed_values_follow_the_element_type() {
    assert_eq!(typed(Kind::Boolean, &[2]), FieldValue::Bool(false));
    assert_eq!(
        typed(Kind::Mac, &[0, 0x5e, 0, 0x53, 0, 0xaf]),
        FieldValue::from("00-5E-00-53-00-AF")
    );
    assert_eq!(typed(Kind::String, b"eth0\0\0"), FieldValue::from("eth0"));
    assert_eq!(
        typed(Kind::Unsigned, &[0xFF; 8]),
        FieldValue::from("18446744073709551615")
    );
    assert_eq!(typed(Kind::Ipv4, &[1, 2, 3]), FieldValue::from("010203"));
    assert_eq!(
        typed(Kind::Float, &1.5f64.to_be_bytes()),
        FieldValue::Float(1.5)
    );
}

#[test]
fn hand_written_formatters_match_the_standard_ones() {
    for ms in [
        0i64,
        1,
        999,
        1_000,
        1_700_000_000_123,
        -1,
        253_402_300_799_999,
    ] {
        let t = DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(
            rfc3339(t),
            FieldValue::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        );
    }
    for (s, n) in [(0i64, 1u32), (5, 1_000), (5, 123_456_789), (-5, 10)] {
        let t = DateTime::from_timestamp(s, n).unwrap();
        assert_eq!(
            rfc3339(t),
            FieldValue::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        );
    }
    for v in [0u64, 9, 10, 255, u64::MAX] {
        assert_eq!(decimal(v), v.to_string());
    }
    for a in [
        [0u8, 0, 0, 0],
        [255, 255, 255, 255],
        [10, 0, 100, 9],
        [1, 22, 133, 44],
    ] {
        let ip = IpAddr::V4(Ipv4Addr::from(a));
        assert_eq!(ip_value(ip), FieldValue::from(ip.to_string()));
    }
}

#[test]
fn records_per_packet_are_capped_and_the_rest_is_returned() {
    let mut d = NetflowDecoder::new(NetflowOptions {
        max_records_per_packet: 3,
        ..NetflowOptions::default()
    });
    // Template 256: one 1-byte field (protocol); 10 records.
    let mut p = v9_header(1);
    p.extend_from_slice(&[0, 0, 0, 8, 1, 0, 0, 1, 0, 4, 0, 1]);
    p[23] = 12;
    p.extend_from_slice(&[1, 0, 0, 14, 6, 17, 1, 6, 6, 6, 6, 6, 6, 6]);
    let out = d.decode(A, &p).unwrap();
    assert_eq!(out.records.len(), 3);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].range, 32 + 4 + 3..p.len());
    assert!(matches!(
        out.errors[0].error,
        NetflowError::TooManyRecords { max: 3, .. }
    ));
}

#[test]
fn zero_padding_after_templates_is_not_an_error() {
    let mut d = NetflowDecoder::default();
    let mut p = v9_header(1);
    let mut t = v9_template();
    t[3] += 4;
    t.extend_from_slice(&[0, 0, 0, 0]);
    p.extend(t);
    let out = d.decode(A, &p).unwrap();
    assert_eq!((out.templates, out.errors.len()), (1, 0));
    let mut ip = vec![0, 10, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    ip.extend_from_slice(&[0, 2, 0, 16, 1, 0, 0, 1, 0, 8, 0, 4, 0, 0, 0, 0]);
    let out = d.decode(A, &ip).unwrap();
    assert_eq!((out.templates, out.errors.len()), (1, 0));
}
