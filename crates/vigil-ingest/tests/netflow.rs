//! The NetFlow connector on a real UDP socket.
//!
//! * The logstash-codec-netflow corpus (`../shared/corpora/netflow-logstash-codec`, read in
//!   place) replayed over UDP, each case from its own loopback address (127.0.1.N), so the
//!   cases' templates (most use id 256 and up) live side by side in one connector, scoped
//!   per exporter. Every record must equal the decoder's golden output
//!   (`vigil-parse/testdata/netflow`, itself checked against Logstash's expectations), and
//!   every set or packet the decoder refused must arrive raw and marked.
//! * `softflowd` (Debian) reading a pcap written here exports NetFlow v5, v9 and IPFIX to the
//!   connector; the flows of the pcap's connections must arrive with their addresses, ports,
//!   transport, packets and bytes.
//! * Garbage datagrams are kept raw, marked and counted; the connector never stops on them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigil_config::NetflowConfig;
use vigil_ingest::netflow::NetflowConnector;
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
    let mut connector = NetflowConnector::new(NetflowConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        udp_recv_buffer: 8 << 20,
        max_exporters: 1024,
        max_templates_per_exporter: 256,
    });
    let addr = connector.listen().unwrap()[0].addr;
    let (tx, rx) = flume::bounded(4096);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "netflow-test");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "netflow-test".into(),
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
    /// Receives records until `done` says enough (fails after the deadline).
    async fn until(&self, mut done: impl FnMut(&[RawRecord]) -> bool) -> Vec<RawRecord> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done(&out) {
            match tokio::time::timeout_at(deadline, self.rx.recv_async()).await {
                Ok(Ok(b)) => out.extend(b.records),
                _ => panic!("timed out with {} records", out.len()),
            }
        }
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

fn object(data: &[u8]) -> BTreeMap<String, Value> {
    serde_json::from_slice(data)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(data)))
}

/// The golden file of a case, as in vigil-parse's `netflow_corpus` test.
fn golden_name(context: &str, line: u64) -> String {
    let mut s = String::new();
    for c in context.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    format!("{}_{line}.expected.jsonl", s.trim_matches('_'))
}

#[tokio::test]
async fn corpus_replayed_over_udp_decodes_like_the_golden_files() {
    let Some(dir) = vigil_testkit::corpus("netflow-logstash-codec") else {
        return;
    };
    let cases: Value = serde_json::from_slice(&vigil_testkit::read_capped(
        &dir.join("cases.json"),
        4 << 20,
    ))
    .unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigil-parse/testdata/netflow");
    let r = start();
    // per exporter: the expected records (ordered) and how many raw marked parts
    let mut expected: BTreeMap<IpAddr, (Vec<BTreeMap<String, Value>>, usize)> = BTreeMap::new();
    let mut total = 0;
    for (i, case) in cases["cases"].as_array().unwrap().iter().enumerate() {
        let context = case["context"].as_str().unwrap();
        let line = case["spec_line"].as_u64().unwrap();
        let exporter = IpAddr::V4(Ipv4Addr::new(127, 0, 1, u8::try_from(i + 1).unwrap()));
        let text = vigil_testkit::read_text(&golden.join(golden_name(context, line))).unwrap();
        let (records, raw) = expected.entry(exporter).or_default();
        for l in text.lines().skip(1) {
            match serde_json::from_str::<Value>(l).unwrap() {
                Value::Array(fields) => {
                    let mut m = BTreeMap::new();
                    for f in fields {
                        let k = f[0].as_str().unwrap().to_owned();
                        let v = if k == "observer.ip" {
                            Value::String(exporter.to_string())
                        } else {
                            f[1].clone()
                        };
                        m.insert(k, v);
                    }
                    records.push(m);
                }
                Value::Object(h) if h.contains_key("error") => *raw += 1,
                Value::Object(h) => *raw += h["errors"].as_array().unwrap().len(),
                other => panic!("{other}"),
            }
        }
        total += records.len() + *raw;
        let sock = tokio::net::UdpSocket::bind(SocketAddr::new(exporter, 0))
            .await
            .unwrap();
        for input in case["inputs"].as_array().unwrap() {
            let bytes =
                vigil_testkit::read_capped(&dir.join("dat").join(input.as_str().unwrap()), 1 << 20);
            sock.send_to(&bytes, r.addr).await.unwrap();
        }
    }
    assert!(expected.len() > 30, "only {} cases", expected.len());
    let got = r.until(|got| got.len() >= total).await;
    assert_eq!(got.len(), total);
    let mut by_exporter: BTreeMap<IpAddr, (Vec<BTreeMap<String, Value>>, usize)> = BTreeMap::new();
    for rec in &got {
        let e = by_exporter.entry(rec.peer.unwrap().ip()).or_default();
        match &rec.transport_error {
            None => e.0.push(object(&rec.data)),
            Some(t) => {
                assert!(t.starts_with("netflow: "), "{t}");
                e.1 += 1;
            }
        }
    }
    for (exporter, (records, raw)) in &expected {
        let (got_records, got_raw) = by_exporter.remove(exporter).unwrap_or_default();
        assert_eq!(got_raw, *raw, "{exporter}: raw parts");
        assert_eq!(got_records.len(), records.len(), "{exporter}: records");
        for (i, (g, w)) in got_records.iter().zip(records).enumerate() {
            assert_eq!(g, w, "{exporter}: record {i}");
        }
    }
    let raw_total: usize = expected.values().map(|(_, r)| r).sum();
    let counted =
        r.errors("malformed_packet") + r.errors("missing_template") + r.errors("malformed_set");
    assert_eq!(counted as usize, raw_total);
    r.stop().await;
}

#[tokio::test]
async fn garbage_is_kept_raw_marked_and_counted() {
    let r = start();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let datagrams: [&[u8]; 5] = [
        b"\x00\x07hello",                     // unsupported version
        b"\x00",                              // cut before the version
        b"\x00\x05\x00\x02",                  // v5 header cut short
        b"\x00\x0a\x00\x20\x00\x00\x00\x00",  // IPFIX header cut short
        b"\x00\x09\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x01\x00\x00\x08\xde\xad\xbe\xef", // v9 data set, template never sent
    ];
    for d in datagrams {
        sock.send_to(d, r.addr).await.unwrap();
    }
    let got = r.until(|g| g.len() >= 5).await;
    assert!(got.iter().all(|g| g.transport_error.is_some()), "{got:?}");
    assert_eq!(got[0].data.as_ref(), datagrams[0], "kept as received");
    assert_eq!(r.errors("malformed_packet"), 4);
    assert_eq!(r.errors("missing_template"), 1);
    r.stop().await;
}

/// One flow of a pcap: source, destination, protocol, source port, destination port,
/// packets, payload bytes per packet.
type Flow = ([u8; 4], [u8; 4], u8, u16, u16, u32, usize);

/// A pcap (libpcap format, Ethernet) of `flows`.
fn write_pcap(path: &Path, flows: &[Flow]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    let mut t = 1_764_000_000u32;
    for (n, &(src, dst, proto, sport, dport, packets, payload)) in flows.iter().enumerate() {
        for p in 0..packets {
            let l4_len = if proto == 6 { 20 } else { 8 };
            let ip_len = 20 + l4_len + payload;
            let mut pkt = Vec::new();
            pkt.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
            ip[2..4].copy_from_slice(&u16::try_from(ip_len).unwrap().to_be_bytes());
            ip.extend_from_slice(&src);
            ip.extend_from_slice(&dst);
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            pkt.extend_from_slice(&ip);
            pkt.extend_from_slice(&sport.to_be_bytes());
            pkt.extend_from_slice(&dport.to_be_bytes());
            if proto == 6 {
                let flags: u8 = if p == 0 {
                    0x02
                } else if p + 1 == packets {
                    0x11
                } else {
                    0x18
                };
                pkt.extend_from_slice(&(p + 1).to_be_bytes());
                pkt.extend_from_slice(&0u32.to_be_bytes());
                pkt.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            } else {
                pkt.extend_from_slice(&u16::try_from(8 + payload).unwrap().to_be_bytes());
                pkt.extend_from_slice(&[0, 0]);
            }
            pkt.extend(std::iter::repeat_n(b'x', payload));
            t += 1;
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&(u32::try_from(n).unwrap() * 1000).to_le_bytes());
            let len = u32::try_from(pkt.len()).unwrap();
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&pkt);
        }
    }
    std::fs::write(path, out).unwrap();
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(u16::try_from(s).unwrap())
}

#[tokio::test]
async fn softflowd_exports_the_flows_of_a_pcap() {
    let found = std::process::Command::new("softflowd")
        .arg("-h")
        .output()
        .is_ok();
    if !vigil_testkit::tool_available("softflowd", found, "apt-get install -y softflowd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flows.pcap");
    let flows = [
        (
            [10, 1, 0, 5],
            [93, 184, 216, 34],
            6u8,
            51000u16,
            443u16,
            6u32,
            100usize,
        ),
        ([10, 1, 0, 6], [9, 9, 9, 9], 17, 53001, 53, 2, 40),
        ([10, 1, 0, 7], [10, 2, 0, 1], 6, 40000, 22, 4, 0),
    ];
    write_pcap(&pcap, &flows);
    for version in ["5", "9", "10"] {
        let r = start();
        let mut cmd = std::process::Command::new("softflowd");
        cmd.args([
            "-r",
            pcap.to_str().unwrap(),
            "-n",
            &r.addr.to_string(),
            "-v",
            version,
        ]);
        if version == "10" {
            // absolute times (flowStartMilliseconds); its default, sysUpTime offsets (IE 21/22),
            // needs the exporter's init time, which softflowd does not send
            cmd.args(["-A", "milli"]);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "softflowd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = r
            .until(|g| g.iter().filter(|x| x.transport_error.is_none()).count() >= 3)
            .await;
        let recs: Vec<_> = got
            .iter()
            .filter(|x| x.transport_error.is_none())
            .map(|x| object(&x.data))
            .collect();
        for (src, dst, proto, sport, dport, packets, payload) in flows {
            let src = Ipv4Addr::from(src).to_string();
            let rec = recs
                .iter()
                .find(|m| m.get("source.ip") == Some(&Value::from(src.clone())))
                .unwrap_or_else(|| panic!("v{version}: no flow from {src} in {recs:#?}"));
            let l4 = if proto == 6 { 20 } else { 8 };
            let bytes = u64::from(packets) * (20 + l4 + payload) as u64;
            assert_eq!(
                rec["destination.ip"],
                Ipv4Addr::from(dst).to_string(),
                "v{version}"
            );
            assert_eq!(rec["source.port"], sport, "v{version}");
            assert_eq!(rec["destination.port"], dport, "v{version}");
            assert_eq!(rec["network.iana_number"], proto.to_string(), "v{version}");
            assert_eq!(
                rec["network.transport"],
                if proto == 6 { "tcp" } else { "udp" }
            );
            assert_eq!(rec["network.packets"], packets, "v{version}");
            assert_eq!(rec["network.bytes"], bytes, "v{version}");
            assert!(
                rec.contains_key("event.start") && rec.contains_key("event.end"),
                "{rec:?}"
            );
        }
        r.stop().await;
    }
}
