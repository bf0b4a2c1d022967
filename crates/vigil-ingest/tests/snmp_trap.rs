//! The SNMP trap connector on a real UDP socket, fed by net-snmp's `snmptrap` (Debian `snmp`).
//!
//! * An SNMPv1 linkDown trap and an enterprise-specific v1 trap, an SNMPv2c linkUp trap and a
//!   v2c inform: the trap OID, its name, enterprise, generic/specific trap, uptime, agent
//!   address and every varbind (named by the built-in and configured `oid_names`) must arrive;
//!   the community must not.
//! * An SNMPv3 trap (noAuthNoPriv) is stored raw and counted as `unsupported_version`.
//! * Garbage datagrams are kept raw, marked and counted; the connector never stops on them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigil_config::SnmpTrapConfig;
use vigil_ingest::snmp_trap::SnmpTrapConnector;
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
    let mut oid_names = BTreeMap::new();
    oid_names.insert(
        "1.3.6.1.4.1.8072.2.3.0.1".to_owned(),
        "netSnmpExampleHeartbeatNotification".to_owned(),
    );
    oid_names.insert(
        "1.3.6.1.4.1.8072.2.3.2.1".to_owned(),
        "netSnmpExampleHeartbeatRate".to_owned(),
    );
    let mut connector = SnmpTrapConnector::new(SnmpTrapConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        udp_recv_buffer: 1 << 20,
        oid_names,
    });
    let addr = connector.listen().unwrap()[0].addr;
    let (tx, rx) = flume::bounded(1024);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "snmp-test");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: Arc::new(SourceInfo {
            id: "snmp-test".into(),
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
    async fn next(&self) -> RawRecord {
        loop {
            match tokio::time::timeout(DEADLINE, self.rx.recv_async()).await {
                Ok(Ok(b)) if !b.records.is_empty() => {
                    assert_eq!(b.records.len(), 1, "one datagram at a time here");
                    return b.records.into_iter().next().unwrap();
                }
                Ok(Ok(_)) => {}
                _ => panic!("timed out waiting for a record"),
            }
        }
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

fn snmptrap_available() -> bool {
    let found = Command::new("snmptrap")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    vigil_testkit::tool_available("snmptrap", found, "apt-get install -y snmp")
}

/// Runs `snmptrap ARGS` against the connector (numeric OIDs, no MIBs loaded).
fn snmptrap(addr: SocketAddr, args: &[&str]) {
    let (opts, rest) = args.split_at(args.iter().position(|a| *a == "--").unwrap());
    let out = Command::new("snmptrap")
        .env("MIBS", "")
        .env("HOME", std::env::temp_dir())
        .args(["-m", "", "-r", "0", "-t", "1"])
        .args(opts)
        .arg(format!("udp:{addr}"))
        .args(&rest[1..])
        .output()
        .unwrap();
    // an inform without an answer times out; the datagram has been sent
    let informed = opts.contains(&"-Ci");
    assert!(
        out.status.success() || informed,
        "snmptrap {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn object(r: &RawRecord) -> BTreeMap<String, Value> {
    assert!(
        r.transport_error.is_none(),
        "marked {:?}: {:?}",
        r.transport_error,
        r.data
    );
    serde_json::from_slice(&r.data)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.data)))
}

fn no_community(r: &RawRecord) {
    let text = String::from_utf8_lossy(&r.data);
    assert!(
        !text.contains("s3cret-community"),
        "community stored: {text}"
    );
}

#[tokio::test]
async fn snmptrap_v1_and_v2c_traps_become_records() {
    if !snmptrap_available() {
        return;
    }
    let r = start();

    // v1 linkDown from agent 192.0.2.7, with ifIndex and ifDescr varbinds
    snmptrap(
        r.addr,
        &[
            "-v",
            "1",
            "-c",
            "s3cret-community",
            "--",
            "1.3.6.1.4.1.8072.2.3",
            "192.0.2.7",
            "2",
            "0",
            "12345",
            "1.3.6.1.2.1.2.2.1.1.3",
            "i",
            "3",
            "1.3.6.1.2.1.2.2.1.2.3",
            "s",
            "eth0",
        ],
    );
    let rec = r.next().await;
    no_community(&rec);
    let o = object(&rec);
    assert_eq!(o["snmp.version"], "1");
    assert_eq!(o["snmp.pdu_type"], "trap");
    assert_eq!(o["snmp.enterprise"], "1.3.6.1.4.1.8072.2.3");
    assert_eq!(o["snmp.generic_trap"], 2);
    assert_eq!(o["snmp.specific_trap"], 0);
    assert_eq!(o["snmp.uptime"], 12345);
    assert_eq!(o["snmp.agent.ip"], "192.0.2.7");
    assert_eq!(o["source.ip"], "127.0.0.1");
    assert_eq!(o["snmp.trap.oid"], "1.3.6.1.6.3.1.1.5.3");
    assert_eq!(o["snmp.trap.name"], "linkDown");
    assert_eq!(o["snmp.varbinds.ifIndex.3"], 3);
    assert_eq!(o["snmp.varbinds.ifDescr.3"], "eth0");

    // v1 enterprise-specific: trap OID enterprise.0.specific, named by the configured map
    snmptrap(
        r.addr,
        &[
            "-v",
            "1",
            "-c",
            "s3cret-community",
            "--",
            "1.3.6.1.4.1.8072.2.3",
            "192.0.2.8",
            "6",
            "1",
            "",
            "1.3.6.1.4.1.8072.2.3.2.1",
            "i",
            "60",
            "1.3.6.1.4.1.99999.1",
            "x",
            "00ff10",
        ],
    );
    let o = object(&r.next().await);
    assert_eq!(o["snmp.generic_trap"], 6);
    assert_eq!(o["snmp.specific_trap"], 1);
    assert_eq!(o["snmp.trap.oid"], "1.3.6.1.4.1.8072.2.3.0.1");
    assert_eq!(o["snmp.trap.name"], "netSnmpExampleHeartbeatNotification");
    assert_eq!(o["snmp.varbinds.netSnmpExampleHeartbeatRate"], 60);
    assert_eq!(o["snmp.varbinds.1.3.6.1.4.1.99999.1"], "0x00ff10");

    // v2c linkUp: sysUpTime.0 and snmpTrapOID.0 lead the varbinds
    snmptrap(
        r.addr,
        &[
            "-v",
            "2c",
            "-c",
            "s3cret-community",
            "--",
            "4242",
            "1.3.6.1.6.3.1.1.5.4",
            "1.3.6.1.2.1.2.2.1.1.2",
            "i",
            "2",
            "1.3.6.1.2.1.2.2.1.8.2",
            "i",
            "1",
            "1.3.6.1.2.1.1.5.0",
            "s",
            "core-sw1",
            "1.3.6.1.4.1.99999.2",
            "a",
            "198.51.100.9",
            "1.3.6.1.4.1.99999.3",
            "c",
            "4000000000",
            "1.3.6.1.4.1.99999.4",
            "o",
            "1.3.6.1.6.3.1.1.5.1",
        ],
    );
    let rec = r.next().await;
    no_community(&rec);
    let o = object(&rec);
    assert_eq!(o["snmp.version"], "2c");
    assert_eq!(o["snmp.pdu_type"], "trap_v2");
    assert_eq!(o["snmp.uptime"], 4242);
    assert_eq!(o["snmp.trap.oid"], "1.3.6.1.6.3.1.1.5.4");
    assert_eq!(o["snmp.trap.name"], "linkUp");
    assert_eq!(o["snmp.agent.ip"], "127.0.0.1");
    assert_eq!(o["snmp.varbinds.sysUpTime"], 4242);
    assert_eq!(o["snmp.varbinds.snmpTrapOID"], "1.3.6.1.6.3.1.1.5.4");
    assert_eq!(o["snmp.varbinds.snmpTrapOID_name"], "linkUp");
    assert_eq!(o["snmp.varbinds.ifIndex.2"], 2);
    assert_eq!(o["snmp.varbinds.ifOperStatus.2"], 1);
    assert_eq!(o["snmp.varbinds.sysName.0"], "core-sw1");
    assert_eq!(o["snmp.varbinds.1.3.6.1.4.1.99999.2"], "198.51.100.9");
    assert_eq!(o["snmp.varbinds.1.3.6.1.4.1.99999.3"], 4_000_000_000u64);
    assert_eq!(
        o["snmp.varbinds.1.3.6.1.4.1.99999.4"],
        "1.3.6.1.6.3.1.1.5.1"
    );
    assert_eq!(o["snmp.varbinds.1.3.6.1.4.1.99999.4_name"], "coldStart");

    // v2c inform (not answered: snmptrap gives up after its one-second timeout)
    snmptrap(
        r.addr,
        &[
            "-v",
            "2c",
            "-Ci",
            "-c",
            "s3cret-community",
            "--",
            "",
            "1.3.6.1.6.3.1.1.5.5",
        ],
    );
    let o = object(&r.next().await);
    assert_eq!(o["snmp.pdu_type"], "inform");
    assert_eq!(o["snmp.trap.name"], "authenticationFailure");

    // v3 noAuthNoPriv: not decoded, stored raw and counted
    snmptrap(
        r.addr,
        &[
            "-v",
            "3",
            "-l",
            "noAuthNoPriv",
            "-u",
            "vigil",
            "-e",
            "0x8000000001020304",
            "--",
            "",
            "1.3.6.1.6.3.1.1.5.1",
        ],
    );
    let rec = r.next().await;
    assert!(
        rec.transport_error
            .as_deref()
            .is_some_and(|e| e.contains("version 3")),
        "{:?}",
        rec.transport_error
    );
    assert_eq!(r.errors("unsupported_version"), 1);
    assert_eq!(r.errors("malformed_packet"), 0);
    r.stop().await;
}

#[tokio::test]
async fn garbage_datagrams_are_kept_raw_and_counted() {
    let r = start();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let garbage: [&[u8]; 4] = [
        b"not snmp at all",
        &[0x30, 0x82, 0xff, 0xff, 0x02, 0x01, 0x00],
        &[0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x09],
        // a v2c GetRequest: well-formed, not a trap
        &[
            0x30, 0x18, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0,
            0x0b, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00,
        ],
    ];
    for g in garbage {
        sock.send_to(g, r.addr).unwrap();
        let rec = r.next().await;
        assert_eq!(&rec.data[..], g, "kept as received");
        assert!(rec.transport_error.is_some());
    }
    assert_eq!(r.errors("malformed_packet"), 3);
    assert_eq!(r.errors("not_a_trap"), 1);
    r.stop().await;
}

/// Every truncation and every single-byte corruption of real `snmptrap` datagrams decodes or
/// fails cleanly (the connector would store it raw): no panic, no hang.
#[test]
fn truncated_and_corrupted_traps_never_panic() {
    if !snmptrap_available() {
        return;
    }
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let addr = sock.local_addr().unwrap();
    let mut packets = Vec::new();
    for args in [
        &[
            "-v",
            "1",
            "-c",
            "public",
            "--",
            "1.3.6.1.4.1.8072.2.3",
            "192.0.2.7",
            "2",
            "0",
            "1",
            "1.3.6.1.2.1.2.2.1.1.3",
            "i",
            "3",
            "1.3.6.1.2.1.2.2.1.2.3",
            "s",
            "eth0",
        ][..],
        &[
            "-v",
            "2c",
            "-c",
            "public",
            "--",
            "7",
            "1.3.6.1.6.3.1.1.5.4",
            "1.3.6.1.4.1.99999.2",
            "a",
            "198.51.100.9",
            "1.3.6.1.4.1.99999.3",
            "c",
            "4000000000",
        ][..],
    ] {
        snmptrap(addr, args);
        let mut buf = [0u8; 65536];
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        packets.push(buf[..n].to_vec());
    }
    let names = vigil_ingest::snmp_trap::OidNames::new(&BTreeMap::new());
    let peer: SocketAddr = "127.0.0.1:162".parse().unwrap();
    for p in &packets {
        assert!(vigil_ingest::snmp_trap::decode(p, peer, &names).is_ok());
        for end in 0..p.len() {
            let _ = vigil_ingest::snmp_trap::decode(&p[..end], peer, &names);
        }
        for i in 0..p.len() {
            for x in [0x00, 0x7f, 0x80, 0x81, 0xff] {
                let mut q = p.clone();
                q[i] = x;
                let _ = vigil_ingest::snmp_trap::decode(&q, peer, &names);
            }
        }
    }
}
