//! The SNMP trap connector on a real UDP socket, fed by net-snmp's `snmptrap` (Debian `snmp`).
//!
//! * An SNMPv1 linkDown trap and an enterprise-specific v1 trap, an SNMPv2c linkUp trap and a
//!   v2c inform: the trap OID, its name, enterprise, generic/specific trap, uptime, agent
//!   address and every varbind (named by the built-in and configured `oid_names`) must arrive;
//!   the community must not.
//! * An SNMPv3 trap from a user that is not configured is stored raw and counted as
//!   `unknown_user`.
//! * SNMPv3 traps with USM authentication (MD5, SHA-1, SHA-256) and privacy (AES-128, DES)
//!   from configured users decode like v2c ones; a wrong passphrase, a wrong privacy
//!   passphrase and the wrong security level are stored raw and counted.
//! * Informs, v2c and v3 (authPriv, after `snmpinform`'s engine discovery), are answered with
//!   a Response PDU: `snmpinform` exits 0 only when it got one.
//! * Garbage datagrams are kept raw, marked and counted; the connector never stops on them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigil_config::{Secret, SnmpAuthProtocol, SnmpPrivProtocol, SnmpTrapConfig, SnmpUser};
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
    start_with(Vec::new())
}

fn user(name: &str, auth: Option<SnmpAuthProtocol>, privacy: Option<SnmpPrivProtocol>) -> SnmpUser {
    SnmpUser {
        name: name.into(),
        auth: auth.map(|p| (p, Secret::literal("auth-passphrase-1"))),
        privacy: privacy.map(|p| (p, Secret::literal("priv-passphrase-2"))),
    }
}

fn start_with(users: Vec<SnmpUser>) -> Running {
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
        users,
        engine_id: None,
        state_dir: Default::default(),
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
    let out = net_snmp("snmptrap", |c| {
        c.args(["-m", "", "-r", "0", "-t", "1"])
            .args(opts)
            .arg(format!("udp:{addr}"))
            .args(&rest[1..]);
    });
    // an inform without an answer times out; the datagram has been sent
    let informed = opts.contains(&"-Ci");
    assert!(
        out.status.success() || informed,
        "snmptrap {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A net-snmp command with its persistent state (engine boots, cached engine IDs) in a
/// directory of its own, run to completion; the directory is removed.
fn net_snmp(cmd: &str, f: impl FnOnce(&mut Command)) -> std::process::Output {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = std::env::temp_dir().join(format!("vigil-snmp-test-{}-{n}", std::process::id()));
    let mut c = Command::new(cmd);
    c.env("MIBS", "")
        .env("HOME", &state)
        .env("SNMP_PERSISTENT_DIR", &state)
        .env("SNMPCONFPATH", &state);
    f(&mut c);
    let out = c.output().unwrap();
    let _ = std::fs::remove_dir_all(&state);
    out
}

/// Runs `snmpinform ARGS` against the connector: `true` when it got the Response.
fn snmpinform(addr: SocketAddr, args: &[&str]) -> bool {
    let (opts, rest) = args.split_at(args.iter().position(|a| *a == "--").unwrap());
    let out = net_snmp("snmpinform", |c| {
        c.args(["-m", "", "-r", "1", "-t", "3"])
            .args(opts)
            .arg(format!("udp:{addr}"))
            .args(&rest[1..]);
    });
    if !out.status.success() {
        eprintln!(
            "snmpinform {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
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

// informs: snmpinform blocks a thread while the connector answers on another
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

    // v2c inform: answered with a Response, so snmpinform succeeds
    assert!(snmpinform(
        r.addr,
        &[
            "-v",
            "2c",
            "-c",
            "s3cret-community",
            "--",
            "",
            "1.3.6.1.6.3.1.1.5.5",
            "1.3.6.1.2.1.1.5.0",
            "s",
            "core-sw1",
        ],
    ));
    let o = object(&r.next().await);
    assert_eq!(o["snmp.pdu_type"], "inform");
    assert_eq!(o["snmp.trap.name"], "authenticationFailure");
    assert_eq!(o["snmp.varbinds.sysName.0"], "core-sw1");

    // v3 from a user that is not configured: stored raw and counted
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
            .is_some_and(|e| e.contains("unknown_user")),
        "{:?}",
        rec.transport_error
    );
    assert_eq!(r.errors("unknown_user"), 1);
    assert_eq!(r.errors("malformed_packet"), 0);
    r.stop().await;
}

/// Replaces the value after `flag`.
fn set_after<'a>(args: &mut [&'a str], flag: &str, value: &'a str) {
    let i = args.iter().position(|a| *a == flag).unwrap();
    args[i + 1] = value;
}

/// The v3 options of `snmptrap`/`snmpinform` for a user.
fn v3_args<'a>(user: &'a str, level: &'a str, auth: &'a str, privacy: &'a str) -> Vec<&'a str> {
    let mut a = vec!["-v", "3", "-u", user, "-l", level];
    if !auth.is_empty() {
        a.extend(["-a", auth, "-A", "auth-passphrase-1"]);
    }
    if !privacy.is_empty() {
        a.extend(["-x", privacy, "-X", "priv-passphrase-2"]);
    }
    a
}

#[tokio::test]
async fn snmpv3_traps_are_authenticated_and_decrypted() {
    if !snmptrap_available() {
        return;
    }
    let r = start_with(vec![
        user("md5user", Some(SnmpAuthProtocol::Md5), None),
        user(
            "aesuser",
            Some(SnmpAuthProtocol::Sha),
            Some(SnmpPrivProtocol::Aes),
        ),
        user(
            "desuser",
            Some(SnmpAuthProtocol::Sha256),
            Some(SnmpPrivProtocol::Des),
        ),
        user("plain", None, None),
    ]);
    let sender_engine = "0x8000000001020304";
    let cases: [(&str, &str, &str, &str); 4] = [
        ("md5user", "authNoPriv", "MD5", ""),
        ("aesuser", "authPriv", "SHA", "AES"),
        ("desuser", "authPriv", "SHA-256", "DES"),
        ("plain", "noAuthNoPriv", "", ""),
    ];
    for (u, level, auth, privacy) in cases {
        let mut args = v3_args(u, level, auth, privacy);
        args.extend([
            "-e",
            sender_engine,
            "--",
            "777",
            "1.3.6.1.6.3.1.1.5.3",
            "1.3.6.1.2.1.2.2.1.1.9",
            "i",
            "9",
            "1.3.6.1.2.1.2.2.1.2.9",
            "s",
            "uplink",
        ]);
        snmptrap(r.addr, &args);
        let o = object(&r.next().await);
        assert_eq!(o["snmp.version"], "3", "{u}");
        assert_eq!(o["snmp.pdu_type"], "trap_v2");
        assert_eq!(o["snmp.user"], u);
        assert_eq!(o["snmp.security_level"], level);
        assert_eq!(o["snmp.engine_id"], "8000000001020304");
        assert_eq!(o["snmp.uptime"], 777);
        assert_eq!(o["snmp.trap.name"], "linkDown");
        assert_eq!(o["snmp.varbinds.ifIndex.9"], 9);
        assert_eq!(o["snmp.varbinds.ifDescr.9"], "uplink");
    }

    // refused, kept raw and counted: a wrong passphrase, a wrong privacy passphrase, a lower
    // security level than the user's
    let mut wrong_auth = v3_args("aesuser", "authPriv", "SHA", "AES");
    set_after(&mut wrong_auth, "-A", "not-the-passphrase");
    let mut wrong_priv = v3_args("aesuser", "authPriv", "SHA", "AES");
    set_after(&mut wrong_priv, "-X", "not-the-passphrase");
    let low = v3_args("aesuser", "authNoPriv", "SHA", "");
    for (mut args, reason) in [
        (wrong_auth, "authentication_failed"),
        (wrong_priv, "decryption_failed"),
        (low, "unsupported_security_level"),
    ] {
        args.extend(["-e", sender_engine, "--", "", "1.3.6.1.6.3.1.1.5.1"]);
        snmptrap(r.addr, &args);
        let rec = r.next().await;
        assert!(
            rec.transport_error
                .as_deref()
                .is_some_and(|e| e.contains(reason)),
            "{reason}: {:?}",
            rec.transport_error
        );
        assert_eq!(r.errors(reason), 1, "{reason}");
    }
    r.stop().await;
}

// informs: snmpinform blocks a thread while the connector answers on another
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snmpv3_informs_are_answered_after_engine_discovery() {
    if !snmptrap_available() {
        return;
    }
    let r = start_with(vec![
        user(
            "aesuser",
            Some(SnmpAuthProtocol::Sha),
            Some(SnmpPrivProtocol::Aes),
        ),
        user("md5user", Some(SnmpAuthProtocol::Md5), None),
    ]);
    for (u, level, auth, privacy) in [
        ("aesuser", "authPriv", "SHA", "AES"),
        ("md5user", "authNoPriv", "MD5", ""),
    ] {
        let mut args = v3_args(u, level, auth, privacy);
        args.extend([
            "--",
            "4242",
            "1.3.6.1.6.3.1.1.5.4",
            "1.3.6.1.2.1.2.2.1.1.2",
            "i",
            "2",
        ]);
        assert!(snmpinform(r.addr, &args), "{u}: no Response");
        let o = object(&r.next().await);
        assert_eq!(o["snmp.version"], "3");
        assert_eq!(o["snmp.pdu_type"], "inform");
        assert_eq!(o["snmp.user"], u);
        assert_eq!(o["snmp.trap.name"], "linkUp");
        assert_eq!(o["snmp.varbinds.ifIndex.2"], 2);
    }
    // answered once each: no retry reached the pipeline
    assert!(r.rx.is_empty() || r.rx.try_recv().is_ok_and(|b| b.records.is_empty()));
    // a wrong passphrase gets no Response
    let mut args = v3_args("aesuser", "authPriv", "SHA", "AES");
    set_after(&mut args, "-A", "not-the-passphrase");
    args.extend(["--", "", "1.3.6.1.6.3.1.1.5.1"]);
    assert!(!snmpinform(r.addr, &args));
    assert!(r.errors("authentication_failed") >= 1);
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
