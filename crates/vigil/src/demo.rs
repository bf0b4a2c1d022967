//! The demo generator: realistic syslog traffic from a small company (sshd, sudo, cron, nginx,
//! a UFW firewall, an RFC 5424 application) with attacks mixed in, so a newcomer sees data and
//! something worth finding at once:
//!
//! * an SSH brute force from 203.0.113.45 that finally succeeds as `root` (a compromise);
//! * a port scan from 198.51.100.23 blocked by the firewall;
//! * a web scan (path traversal, SQL injection, `sqlmap` user agent) from 192.0.2.66;
//! * repeated sudo failures by `bob`, and a backdoor account created with `useradd`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncWriteExt;
use vigil_pipeline::ShutdownSignal;

const HOSTS: &[&str] = &["web01", "web02", "db01", "jump01", "app01"];
const USERS: &[&str] = &["alice", "bob", "carol", "deploy", "backup"];
const BAD_USERS: &[&str] = &[
    "root", "admin", "test", "oracle", "ubuntu", "postgres", "git", "pi",
];
const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/orders",
    "/api/v1/login",
    "/static/app.js",
    "/static/site.css",
    "/healthz",
    "/products/42",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "curl/8.5.0",
    "kube-probe/1.30",
];
const SCAN_PATHS: &[&str] = &[
    "/../../../../etc/passwd",
    "/wp-login.php",
    "/.env",
    "/admin/config.php",
    "/index.php?id=1%27%20OR%201=1--",
    "/cgi-bin/bash?x=()%20{%20:;%20};%20/bin/id",
    "/phpmyadmin/",
    "/.git/config",
];
const BRUTE_IP: &str = "203.0.113.45";
const SCAN_IP: &str = "198.51.100.23";
const WEBSCAN_IP: &str = "192.0.2.66";

/// Generates demo lines.
pub struct Generator {
    rng: StdRng,
    seq: u64,
    /// The minute (since the epoch) of the last backdoor account: one per attack minute.
    backdoor_minute: i64,
    /// The minute of the brute force's last success: one per attack minute.
    success_minute: i64,
}

fn ts3164(t: DateTime<Utc>) -> String {
    t.format("%b %e %H:%M:%S").to_string()
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            seq: 0,
            backdoor_minute: i64::MIN,
            success_minute: i64::MIN,
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn internal_ip(&mut self) -> String {
        format!(
            "10.0.{}.{}",
            self.rng.random_range(1..4),
            self.rng.random_range(2..250)
        )
    }

    fn pid(&mut self) -> u32 {
        self.rng.random_range(1000..65000)
    }

    /// One line (without newline) for an event at `t`.
    pub fn line(&mut self, t: DateTime<Utc>) -> String {
        self.seq += 1;
        let ts = ts3164(t);
        // attacks come in phases over a ten-minute cycle, so live traffic shows them regularly;
        // each is dense enough at one line per second (the start's hour of backfill) for the
        // shipped correlation pack to see it (20 ports or 20 not-founds within a minute)
        let minute = t.timestamp() / 60;
        let phase = minute % 10;
        let roll: u32 = self.rng.random_range(0..100);
        // a backdoor account (UID 0) once per attack minute
        if phase == 9 && t.timestamp() % 60 >= 30 && self.backdoor_minute != minute {
            self.backdoor_minute = minute;
            let pid = self.pid();
            return format!(
                "<86>{ts} app01 useradd[{pid}]: new user: name=sysupdate, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/2"
            );
        }
        // the brute force succeeds once per attack minute, after its failures
        if phase == 3 && t.timestamp() % 60 >= 45 && self.success_minute != minute {
            self.success_minute = minute;
            let port = self.rng.random_range(30000..65000);
            let pid = self.pid();
            return format!(
                "<38>{ts} jump01 sshd[{pid}]: Accepted password for root from {BRUTE_IP} port {port} ssh2"
            );
        }
        match (phase, roll) {
            (2 | 3, 0..=29) => {
                let user = self.pick(BAD_USERS);
                let port = self.rng.random_range(30000..65000);
                let pid = self.pid();
                if user == "root" {
                    format!(
                        "<38>{ts} jump01 sshd[{pid}]: Failed password for root from {BRUTE_IP} port {port} ssh2"
                    )
                } else {
                    format!(
                        "<38>{ts} jump01 sshd[{pid}]: Failed password for invalid user {user} from {BRUTE_IP} port {port} ssh2"
                    )
                }
            }
            (5, 0..=59) => {
                let dpt = self.rng.random_range(1..1024);
                let spt = self.rng.random_range(40000..60000);
                format!(
                    "<4>{ts} web01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC={SCAN_IP} DST=10.0.1.10 LEN=44 TOS=0x00 PREC=0x00 TTL=52 ID={} PROTO=TCP SPT={spt} DPT={dpt} WINDOW=1024 RES=0x00 SYN URGP=0",
                    self.rng.random_range(1..65535)
                )
            }
            (7, 0..=59) => {
                let path = self.pick(SCAN_PATHS);
                let status = if path.contains("passwd") || path.contains(".env") {
                    403
                } else {
                    404
                };
                format!(
                    "<190>{ts} web02 nginx: {WEBSCAN_IP} - - [{}] \"GET {path} HTTP/1.1\" {status} 162 \"-\" \"sqlmap/1.8.4#stable (https://sqlmap.org)\"",
                    t.format("%d/%b/%Y:%H:%M:%S +0000")
                )
            }
            (8, 0..=4) => format!(
                "<85>{ts} db01 sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=bob"
            ),
            (8, 5..=7) => format!(
                "<85>{ts} db01 sudo: bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/cat /etc/shadow"
            ),
            (_, 0..=39) => {
                let host = self.pick(&["web01", "web02"]);
                let ip = format!(
                    "{}.{}.{}.{}",
                    self.rng.random_range(11..223),
                    self.rng.random_range(0..255),
                    self.rng.random_range(0..255),
                    self.rng.random_range(1..255)
                );
                let path = self.pick(PATHS);
                let agent = self.pick(AGENTS);
                let status = if self.rng.random_range(0..20) == 0 {
                    404
                } else {
                    200
                };
                let bytes = self.rng.random_range(200..48000);
                format!(
                    "<190>{ts} {host} nginx: {ip} - - [{}] \"GET {path} HTTP/1.1\" {status} {bytes} \"-\" \"{agent}\"",
                    t.format("%d/%b/%Y:%H:%M:%S +0000")
                )
            }
            (_, 40..=54) => {
                let user = self.pick(USERS);
                let ip = self.internal_ip();
                let port = self.rng.random_range(30000..65000);
                let pid = self.pid();
                let host = self.pick(HOSTS);
                format!(
                    "<38>{ts} {host} sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0"
                )
            }
            (_, 55..=62) => {
                let user = self.pick(&["alice", "carol", "deploy"]);
                let host = self.pick(HOSTS);
                let cmd = self.pick(&[
                    "/usr/bin/systemctl restart nginx",
                    "/usr/bin/apt-get update",
                    "/usr/bin/journalctl -u app",
                    "/bin/ls /var/log",
                ]);
                format!(
                    "<85>{ts} {host} sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}"
                )
            }
            (_, 63..=72) => {
                let host = self.pick(HOSTS);
                let pid = self.pid();
                format!(
                    "<78>{ts} {host} CRON[{pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"
                )
            }
            (_, 73..=82) => {
                let src = format!(
                    "{}.{}.{}.{}",
                    self.rng.random_range(11..223),
                    self.rng.random_range(0..255),
                    self.rng.random_range(0..255),
                    self.rng.random_range(1..255)
                );
                let dpt = self.pick(&["23", "445", "3389", "5900", "1433"]);
                format!(
                    "<4>{ts} web01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC={src} DST=10.0.1.10 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=54321 PROTO=TCP SPT={} DPT={dpt} WINDOW=65535 RES=0x00 SYN URGP=0",
                    self.rng.random_range(1024..65535)
                )
            }
            (_, 83..=92) => {
                let user = self.pick(USERS);
                let order = self.rng.random_range(10000..99999);
                let ok = self.rng.random_range(0..10) > 0;
                format!(
                    "<134>1 {} app01 shop {} {} [login@32473 user=\"{user}\" result=\"{}\" src=\"{}\"] user {user} {} order {order}",
                    t.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    self.pid(),
                    if ok { "LOGIN_OK" } else { "LOGIN_FAIL" },
                    if ok { "success" } else { "failure" },
                    self.internal_ip(),
                    if ok { "logged in" } else { "failed to log in" }
                )
            }
            _ => {
                let host = self.pick(HOSTS);
                let unit = self.pick(&[
                    "apt-daily.service",
                    "logrotate.service",
                    "fstrim.service",
                    "man-db.service",
                ]);
                format!("<30>{ts} {host} systemd[1]: Started {unit} - Daily job.")
            }
        }
    }
}

/// Sends demo traffic to `target` (TCP, LF framing) at `rate` events/s until `stop` fires or
/// `count` events were sent. With `backfill`, first sends an hour of history.
pub async fn run_async(
    target: SocketAddr,
    rate: u32,
    count: Option<u64>,
    backfill: bool,
    mut stop: ShutdownSignal,
) -> Result<()> {
    let mut stream = None;
    for _ in 0..50 {
        match tokio::net::TcpStream::connect(target).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let mut stream = stream.with_context(|| format!("cannot connect to syslog at {target}"))?;
    let mut generator = Generator::new(Utc::now().timestamp() as u64);
    let mut sent = 0u64;
    if backfill {
        let now = Utc::now();
        let n = 3600u32.min(count.unwrap_or(u64::MAX) as u32);
        let mut buf = String::new();
        for i in 0..n {
            let t = now - chrono::Duration::seconds(i64::from(n - i));
            buf.push_str(&generator.line(t));
            buf.push('\n');
        }
        stream.write_all(buf.as_bytes()).await?;
        sent += u64::from(n);
    }
    let rate = rate.max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let per_tick = (f64::from(rate) / 10.0).max(0.1);
    let mut credit = 0.0f64;
    loop {
        if count.is_some_and(|c| sent >= c) {
            break;
        }
        tokio::select! {
            _ = stop.wait() => break,
            _ = tick.tick() => {}
        }
        credit += per_tick;
        let mut buf = String::new();
        while credit >= 1.0 && count.is_none_or(|c| sent < c) {
            credit -= 1.0;
            buf.push_str(&generator.line(Utc::now()));
            buf.push('\n');
            sent += 1;
        }
        if !buf.is_empty() {
            stream
                .write_all(buf.as_bytes())
                .await
                .context("sending demo events")?;
        }
    }
    stream.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_produces_every_scenario_and_parses() {
        let mut g = Generator::new(7);
        let start = DateTime::parse_from_rfc3339("2026-11-22T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let lines: Vec<String> = (0..6000)
            .map(|i| g.line(start + chrono::Duration::milliseconds(i * 100)))
            .collect();
        for needle in [
            BRUTE_IP,
            SCAN_IP,
            WEBSCAN_IP,
            "Accepted password for root",
            "useradd",
            "incorrect password",
            "nginx",
            "CRON",
            "login@32473",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(needle)),
                "no line with {needle}"
            );
        }
        let opts = vigil_parse_opts();
        for l in &lines {
            let (_, err) = vigil_parse::syslog::parse_lenient(l.as_bytes(), &opts);
            assert!(err.is_none(), "{l}: {err:?}");
        }
    }

    fn vigil_parse_opts() -> vigil_parse::syslog::SyslogOptions {
        vigil_parse::syslog::SyslogOptions::default()
    }
    /// `vigil up --demo` starts with an hour of backfill at one line per second: replayed
    /// through the `auto` normalizer and the shipped correlation pack, each attack of the demo
    /// raises its alert (whatever minute the hour starts at: several seeds and start times).
    #[test]
    fn the_backfill_raises_an_alert_for_each_attack_through_the_shipped_pack() {
        use vigil_event::{Bytes, Timestamp};
        use vigil_pipeline::{RawRecord, SourceInfo};
        let lib = vigil_normalize::Library::builtin().unwrap();
        let auto = vigil_normalize::AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap();
        let src = SourceInfo {
            id: "demo".into(),
            tenant: "main".into(),
            collector: "syslog".into(),
        };
        for (seed, start) in [
            (1u64, "2026-11-22T07:00:00Z"),
            (2, "2026-11-22T07:03:17Z"),
            (3, "2026-11-22T07:07:41Z"),
        ] {
            // the pack the built-in configuration runs: the one embedded in the binary
            let mut loader = vigil_correlate::Loader::new();
            loader.add_path(std::path::Path::new(vigil_correlate::shipped::PACK));
            let (rules, problems) = loader.finish();
            assert!(problems.is_empty(), "{problems:?}");
            let mut engine = vigil_correlate::Engine::new(rules, Default::default());
            let mut g = Generator::new(seed);
            let start = DateTime::parse_from_rfc3339(start)
                .unwrap()
                .with_timezone(&Utc);
            let mut fired: std::collections::BTreeSet<String> = Default::default();
            let mut batch = Vec::new();
            for i in 0..3600 {
                let t = start + chrono::Duration::seconds(i);
                let at = Timestamp::from_millis(t.timestamp_millis());
                let rec = RawRecord {
                    data: Bytes::from(g.line(t)),
                    received: at,
                    peer: None,
                    transport_error: None,
                };
                batch.push(auto.normalize_record(&src, rec).0);
                if batch.len() == 100 {
                    for o in engine.process(&batch) {
                        fired.extend(o.rule.map(|r| r.id.clone()));
                    }
                    batch.clear();
                }
            }
            for o in engine.process(&batch) {
                fired.extend(o.rule.map(|r| r.id.clone()));
            }
            // what the idle ticker does once the input is quiet
            for o in engine.advance_watermark(
                Timestamp::from_millis(
                    (start + chrono::Duration::seconds(3600 + 600)).timestamp_millis(),
                )
                .0,
            ) {
                fired.extend(o.rule.map(|r| r.id.clone()));
            }
            for (attack, rule) in [
                ("SSH brute force", "ssh-brute-force"),
                ("the brute force succeeds", "ssh-success-after-brute-force"),
                ("port scan", "port-scan"),
                ("web scan", "web-scan"),
                ("web scan: SQL injection", "web-sql-injection"),
                ("sudo failures", "sudo-auth-failures"),
                ("backdoor account", "uid0-account-created"),
            ] {
                assert!(
                    fired.contains(rule),
                    "seed {seed}: {attack}: {rule} did not fire; fired: {fired:?}"
                );
            }
        }
    }
}
