//! NetFlow v5/v9/IPFIX against real exporter packets: the logstash-codec-netflow corpus
//! (`../shared/corpora/netflow-logstash-codec`, read in place, never copied here). Each
//! upstream test case decodes its packets in order with a fresh decoder (templates first),
//! exporter 192.0.2.1.
//!
//! * Counts: the number of records equals Logstash's `expected_event_count` (flow and
//!   options records both count), for every case that has one.
//! * Values: Logstash's asserted fields whose meaning is neutral (addresses, ports,
//!   protocol, counters, times, ...) are compared with ours through the name table below.
//! * Golden: every case renders to `testdata/netflow/<case>_<spec line>.expected.jsonl`: per packet
//!   a header line (with each undecoded set, its reason and byte range), then one line per
//!   record, its fields in order;
//!   `VIGIL_BLESS=1 cargo test -p vigil-parse --test netflow_corpus` rewrites them.
//!
//! Deliberate differences from Logstash: v5 `first_switched`/`last_switched` handle the
//! 32-bit uptime wrap (Logstash puts a start time 50 days after the export); vendor
//! enterprise elements (Netscaler, Procera, YAF, ...) are kept as hex under
//! `netflow.ie_<pen>_<id>` instead of being decoded by vendor dictionaries.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use chrono::DateTime;
use serde_json::{Value, json};
use vigil_parse::FieldValue;
use vigil_parse::netflow::{NetflowDecoder, NetflowError, NetflowPacket};

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn read_capped(path: &Path) -> Vec<u8> {
    vigil_testkit::read_capped(path, 4 << 20)
}

fn value(v: &FieldValue<'_>) -> Value {
    match v {
        FieldValue::Str(s) => json!(s),
        FieldValue::Int(i) => json!(i),
        FieldValue::Float(f) => json!(f),
        FieldValue::Bool(b) => json!(b),
        FieldValue::Null => Value::Null,
        FieldValue::List(l) => Value::Array(l.iter().map(value).collect()),
    }
}

/// One packet as lines of JSON: the header (with the undecoded sets), then one line per
/// record, so a golden diff shows the record that changed.
fn render(file: &str, r: &Result<NetflowPacket, NetflowError>, out: &mut String) {
    let line = match r {
        Err(e) => json!({"packet": file, "error": e.to_string()}),
        Ok(p) => json!({
            "packet": file,
            "version": p.header.version,
            "export_time": p.header.export_time.map(|t| t.to_rfc3339()),
            "sys_uptime_ms": p.header.sys_uptime_ms,
            "sequence": p.header.sequence,
            "domain": p.header.domain,
            "templates": p.templates,
            "records": p.records.len(),
            "errors": p.errors.iter().map(|e| json!({
                "range": [e.range.start, e.range.end],
                "error": e.error.to_string(),
            })).collect::<Vec<_>>(),
        }),
    };
    out.push_str(&line.to_string());
    out.push('\n');
    if let Ok(p) = r {
        for rec in &p.records {
            let fields: Vec<Value> = rec.iter().map(|(k, v)| json!([k, value(v)])).collect();
            out.push_str(&Value::Array(fields).to_string());
            out.push('\n');
        }
    }
}

/// Logstash's name for a field → ours, for the names whose meaning is neutral.
fn ours(logstash: &str) -> Option<&'static str> {
    Some(match logstash {
        "ipv4_src_addr" | "sourceIPv4Address" | "sourceIPv6Address" => "source.ip",
        "ipv4_dst_addr" | "destinationIPv4Address" | "destinationIPv6Address" => "destination.ip",
        "l4_src_port" | "sourceTransportPort" => "source.port",
        "l4_dst_port" | "destinationTransportPort" => "destination.port",
        "protocolIdentifier" => "network.iana_number",
        "tcp_flags" | "tcpControlBits" => "netflow.tcp_control_bits",
        "in_bytes" | "octetDeltaCount" => "network.bytes",
        "version" => "netflow.exporter.version",
        "src_as" => "source.as.number",
        "dst_as" => "destination.as.number",
        "src_tos" => "netflow.ip_class_of_service",
        "in_src_mac" => "source.mac",
        "in_dst_mac" => "destination.mac",
        "sampling_algorithm" => "netflow.sampling_algorithm",
        "scope_system" => "netflow.scope_system",
        "total_flows_exp" => "netflow.exported_flow_record_total_count",
        "total_bytes_exp" => "netflow.exported_octet_total_count",
        "application_description" => "netflow.application_description",
        "flowStartSeconds" => "event.start",
        "flowEndSeconds" | "flowEndMicroseconds" => "event.end",
        "systemInitTimeMilliseconds" => "netflow.system_init_time_milliseconds",
        "ipNextHopIPv6Address" => "netflow.ip_next_hop_ipv6_address",
        "postNATDestinationIPv4Address" => "destination.nat.ip",
        "egressVRFID" => "netflow.egress_vrfid",
        "firewallEvent" => "netflow.firewall_event",
        "observationPointId" => "netflow.observation_point_id",
        "flowId" | "conn_id" => "netflow.flow_id",
        "fwd_flow_delta_bytes" => "netflow.initiator_octets",
        "rev_flow_delta_bytes" => "netflow.responder_octets",
        "VRFname" => "netflow.vrf_name",
        "src_traffic_index" => "netflow.src_traffic_index",
        "dst_traffic_index" => "netflow.dst_traffic_index",
        "layer2SegmentId" => "netflow.layer2_segment_id",
        _ => return None,
    })
}

/// Whether our value means Logstash's: same number, text, instant or MAC address.
fn same(expected: &Value, got: &Value) -> bool {
    if expected == got {
        return true;
    }
    match (expected, got) {
        (Value::Number(n), Value::String(s)) => {
            // A number for a time we render as text: epoch seconds or milliseconds.
            if let (Some(n), Ok(t)) = (n.as_i64(), DateTime::parse_from_rfc3339(s)) {
                return n == t.timestamp() || n == t.timestamp_millis();
            }
            n.to_string() == *s
        }
        (Value::String(e), Value::String(g)) => {
            if let (Ok(a), Ok(b)) = (
                DateTime::parse_from_rfc3339(e),
                DateTime::parse_from_rfc3339(g),
            ) {
                return a == b;
            }
            e.replace(':', "-").eq_ignore_ascii_case(g)
        }
        _ => false,
    }
}

fn slug(context: &str) -> String {
    let mut s = String::new();
    for c in context.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    s.trim_matches('_').to_string()
}

#[test]
fn logstash_codec_netflow_cases() {
    let Some(dir) = vigil_testkit::corpus("netflow-logstash-codec") else {
        return;
    };
    let cases: Value = serde_json::from_slice(&read_capped(&dir.join("cases.json"))).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/netflow");
    let bless = std::env::var_os("VIGIL_BLESS").is_some();
    let mut problems = Vec::new();
    let (mut checked_counts, mut checked_values) = (0, 0);
    for case in cases["cases"].as_array().unwrap() {
        let context = case["context"].as_str().unwrap();
        let mut d = NetflowDecoder::default();
        let mut text = format!(
            "{}\n",
            json!({ "case": context, "spec_line": case["spec_line"] })
        );
        let mut records = Vec::new();
        for input in case["inputs"].as_array().unwrap() {
            let name = input.as_str().unwrap();
            let bytes = read_capped(&dir.join("dat").join(name));
            let r = d.decode(EXPORTER, &bytes);
            render(name, &r, &mut text);
            if let Ok(p) = r {
                records.extend(p.records);
            }
        }
        if let Some(n) = case["expected_event_count"].as_u64() {
            checked_counts += 1;
            if records.len() as u64 != n {
                problems.push(format!(
                    "{context}: {} records, Logstash has {n}",
                    records.len()
                ));
            }
        }
        // The spec lists some assertions once per Logstash version (time precision): an
        // (event, field) passes when one of its values matches.
        let mut expected: Vec<(usize, &str, Vec<Value>)> = Vec::new();
        for f in case["expected_fields"].as_array().unwrap() {
            let field = f["field"].as_str().unwrap();
            let name = field.trim_start_matches("[netflow][").trim_end_matches(']');
            let i = usize::try_from(f["event"].as_u64().unwrap()).unwrap();
            let v = match &f["value"] {
                // Ruby literals ('text'); interpolated ones ("#{nanos}") are skipped.
                Value::Object(o) => match o.get("ruby_literal").and_then(Value::as_str) {
                    Some(l) => json!(l.trim_matches('\'')),
                    None => continue,
                },
                Value::String(s) if s.contains("#{") => continue,
                v => v.clone(),
            };
            match expected.iter_mut().find(|(j, n, _)| *j == i && *n == name) {
                Some((_, _, vs)) => vs.push(v),
                None => expected.push((i, name, vec![v])),
            }
        }
        for (i, name, values) in expected {
            let Some(key) = ours(name) else { continue };
            let got = records.get(i).and_then(|r| r.get(key)).map(value);
            checked_values += 1;
            match got {
                Some(g) if values.iter().any(|v| same(v, &g)) => {}
                other => problems.push(format!(
                    "{context}: record {i} {key} is {other:?}, Logstash {name} = {values:?}"
                )),
            }
        }
        let line = case["spec_line"].as_u64().unwrap();
        let file = golden.join(format!("{}_{line}.expected.jsonl", slug(context)));
        if bless {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&file, &text).unwrap();
        } else {
            match std::fs::File::open(&file) {
                Ok(_) => {
                    let want = String::from_utf8(read_capped(&file)).unwrap();
                    // compared as JSON values: key order follows serde_json's
                    // `preserve_order` feature, which other crates of a workspace build turn on
                    let parse = |t: &str| -> Vec<Value> {
                        t.lines()
                            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
                            .collect()
                    };
                    if parse(&want) != parse(&text) {
                        problems.push(format!("{context}: differs from {}", file.display()));
                    }
                }
                Err(_) => problems.push(format!("{context}: no golden file {}", file.display())),
            }
        }
    }
    assert!(
        checked_counts >= 37 && checked_values >= 100,
        "{checked_counts} {checked_values}"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
