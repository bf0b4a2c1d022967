//! The sFlow connector on a real UDP socket, fed sFlow v5 datagrams built here field by field
//! from the specification (sflow.org's `sflow_version_5.txt`; Debian ships no sFlow exporter).
//!
//! * A flow sample with two raw packet headers (Ethernet + 802.1Q + IPv4 + TCP; Ethernet +
//!   IPv6 + UDP) and a counter sample with generic interface counters: every address, port,
//!   transport, VLAN, frame length, sampling rate, interface and counter must arrive.
//! * Every truncation of that datagram is decoded or refused without a panic; what is
//!   refused arrives raw and counted.
//! * Garbage datagrams are kept raw, marked and counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigil_config::SflowConfig;
use vigil_ingest::sflow::{SflowConnector, decode};
use vigil_pipeline::{
    ComponentError, ComponentMetrics, Connector, ConnectorContext, RawBatch, RawRecord, Shutdown,
    SourceInfo,
};

const DEADLINE: Duration = Duration::from_secs(60);

struct Running {
    addr: SocketAddr,
    rx: flume::Receiver<RawBatch>,
    metrics: ComponentMetrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), ComponentError>>,
}

fn start() -> Running {
    let mut connector = SflowConnector::new(SflowConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        udp_recv_buffer: 1 << 20,
    });
    let addr = connector.listen().unwrap()[0].addr;
    let (tx, rx) = flume::bounded(4096);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "sflow-test");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "sflow-test".into(),
            tenant: "main".into(),
            collector: "c".into(),
        }),
        shutdown_all: shutdown.clone(),
    };
    let task = tokio::spawn(Box::new(connector).run(ctx));
    Running {
        addr,
        rx,
        metrics,
        shutdown,
        task,
    }
}

impl Running {
    async fn take(&self, n: usize) -> Vec<RawRecord> {
        let mut out = Vec::new();
        while out.len() < n {
            match tokio::time::timeout(DEADLINE, self.rx.recv_async()).await {
                Ok(Ok(b)) => out.extend(b.records),
                _ => panic!("timed out with {} of {n} records", out.len()),
            }
        }
        assert_eq!(out.len(), n);
        out
    }

    fn errors(&self, reason: &str) -> u64 {
        self.metrics
            .snapshot()
            .errors
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn u32s(out: &mut Vec<u8>, xs: &[u32]) {
    for x in xs {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

/// An XDR opaque: the bytes, padded to 4.
fn opaque(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b);
    out.resize(out.len() + (4 - b.len() % 4) % 4, 0);
}

fn raw_header_record(frame_length: u32, header: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    u32s(&mut data, &[1, frame_length, 4, header.len() as u32]);
    opaque(&mut data, header);
    let mut rec = Vec::new();
    u32s(&mut rec, &[1, data.len() as u32]);
    rec.extend(data);
    rec
}

/// Ethernet (VLAN 42) + IPv4 10.1.2.3 → 192.0.2.80, TCP 51515 → 443.
fn tcp_v4_frame() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    f.extend_from_slice(&[0x81, 0x00, 0x00, 42, 0x08, 0x00]);
    f.extend_from_slice(&[
        0x45, 0, 0, 52, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 1, 2, 3, 192, 0, 2, 80,
    ]);
    f.extend_from_slice(&51515u16.to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&[0; 16]);
    f
}

/// Ethernet + IPv6 2001:db8::1 → 2001:db8::53, UDP 40000 → 53.
fn udp_v6_frame() -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]);
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = 1;
    f.extend_from_slice(&a);
    a[15] = 0x53;
    f.extend_from_slice(&a);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&[0, 8, 0, 0]);
    f
}

fn datagram() -> Vec<u8> {
    // flow sample: seq 7, source 0:3, rate 512, pool 1024, drops 0, in 3, out 5, 2 records
    let mut flow = Vec::new();
    u32s(&mut flow, &[7, 3, 512, 1024, 0, 3, 5, 2]);
    flow.extend(raw_header_record(1514, &tcp_v4_frame()));
    flow.extend(raw_header_record(90, &udp_v6_frame()));
    // counter sample: seq 9, source 0:3, 1 generic interface record
    let mut ifc = Vec::new();
    u32s(&mut ifc, &[3, 6]);
    ifc.extend_from_slice(&10_000_000_000u64.to_be_bytes());
    u32s(&mut ifc, &[1, 3]);
    ifc.extend_from_slice(&123_456_789_012u64.to_be_bytes());
    u32s(&mut ifc, &[1000, 10, 20, 1, 2, 0]);
    ifc.extend_from_slice(&987_654u64.to_be_bytes());
    u32s(&mut ifc, &[900, 11, 21, 3, 4, 0]);
    let mut counters = Vec::new();
    u32s(&mut counters, &[9, 3, 1, 1, ifc.len() as u32]);
    counters.extend(ifc);
    let mut d = Vec::new();
    // v5, agent IPv4 192.0.2.1, sub agent 0, sequence 100, uptime 5000 ms, 2 samples
    u32s(&mut d, &[5, 1]);
    d.extend_from_slice(&[192, 0, 2, 1]);
    u32s(&mut d, &[0, 100, 5000, 2]);
    u32s(&mut d, &[1, flow.len() as u32]);
    d.extend(flow);
    u32s(&mut d, &[2, counters.len() as u32]);
    d.extend(counters);
    d
}

fn object(r: &RawRecord) -> BTreeMap<String, Value> {
    assert!(r.transport_error.is_none(), "{:?}", r.transport_error);
    serde_json::from_slice(&r.data).unwrap()
}

#[tokio::test]
async fn flow_and_counter_samples_over_udp() {
    let r = start();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&datagram(), r.addr).unwrap();
    let recs = r.take(3).await;
    let tcp = object(&recs[0]);
    assert_eq!(tcp["sflow.type"], "sflow_flow");
    assert_eq!(tcp["observer.ip"], "192.0.2.1");
    assert_eq!(tcp["sflow.sampling_rate"], 512);
    assert_eq!(tcp["observer.ingress.interface.id"], "3");
    assert_eq!(tcp["observer.egress.interface.id"], "5");
    assert_eq!(tcp["network.bytes"], 1514);
    assert_eq!(tcp["source.mac"], "66-77-88-99-AA-BB");
    assert_eq!(tcp["destination.mac"], "00-11-22-33-44-55");
    assert_eq!(tcp["network.vlan.id"], "42");
    assert_eq!(tcp["source.ip"], "10.1.2.3");
    assert_eq!(tcp["destination.ip"], "192.0.2.80");
    assert_eq!(tcp["network.transport"], "tcp");
    assert_eq!(tcp["network.iana_number"], "6");
    assert_eq!(tcp["source.port"], 51515);
    assert_eq!(tcp["destination.port"], 443);
    let udp = object(&recs[1]);
    assert_eq!(udp["source.ip"], "2001:db8::1");
    assert_eq!(udp["destination.ip"], "2001:db8::53");
    assert_eq!(udp["network.transport"], "udp");
    assert_eq!(udp["network.type"], "ipv6");
    assert_eq!(udp["source.port"], 40000);
    assert_eq!(udp["destination.port"], 53);
    assert_eq!(udp["network.bytes"], 90);
    let c = object(&recs[2]);
    assert_eq!(c["sflow.type"], "sflow_counters");
    assert_eq!(c["sflow.if_index"], 3);
    assert_eq!(c["sflow.if_speed"], 10_000_000_000u64);
    assert_eq!(c["sflow.if_in_octets"], 123_456_789_012u64);
    assert_eq!(c["sflow.if_in_ucast_pkts"], 1000);
    assert_eq!(c["sflow.if_out_octets"], 987_654);
    assert_eq!(c["sflow.if_out_errors"], 4);
    assert_eq!(c["sflow.if_promiscuous_mode"], 0);

    // garbage and a truncated datagram: raw, marked, counted
    sock.send_to(b"not sflow", r.addr).unwrap();
    let d = datagram();
    sock.send_to(&d[..d.len() - 10], r.addr).unwrap();
    let recs = r.take(2).await;
    assert_eq!(&recs[0].data[..], b"not sflow");
    assert!(recs[0].transport_error.is_some());
    assert_eq!(&recs[1].data[..], &d[..d.len() - 10]);
    assert!(recs[1].transport_error.is_some());
    assert_eq!(r.errors("malformed_packet"), 2);
    r.stop().await;
}

#[test]
fn every_truncation_is_refused_without_panic() {
    let d = datagram();
    assert_eq!(decode(&d).unwrap().records.len(), 3);
    for end in 0..d.len() {
        assert!(decode(&d[..end]).is_err(), "prefix of {end} bytes accepted");
    }
}

#[test]
fn a_sample_cut_short_inside_is_kept_as_its_bytes() {
    // the flow sample declares 2 records but its length covers the first one only
    let mut flow = Vec::new();
    u32s(&mut flow, &[7, 3, 512, 1024, 0, 3, 5, 2]);
    flow.extend(raw_header_record(1514, &tcp_v4_frame()));
    let mut d = Vec::new();
    u32s(&mut d, &[5, 1]);
    d.extend_from_slice(&[192, 0, 2, 1]);
    u32s(&mut d, &[0, 100, 5000, 1, 1, flow.len() as u32]);
    let start = d.len();
    d.extend(flow);
    let out = decode(&d).unwrap();
    assert!(out.records.is_empty());
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].1, start..d.len());
}

#[test]
fn corrupted_bytes_never_panic() {
    let d = datagram();
    for i in 0..d.len() {
        for x in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut q = d.clone();
            q[i] = x;
            let _ = decode(&q);
        }
    }
    // header lengths and counts claiming more than the datagram holds
    let mut q = d.clone();
    q[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(decode(&q).is_err());
}
