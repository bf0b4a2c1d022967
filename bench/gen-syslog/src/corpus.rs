//! The message kinds of `gen_syslog.py`'s `Gen` class, draw for draw.
//!
//! Every method draws from the content RNG in exactly the order the Python evaluates its
//! expressions: arguments before the call (`self.pid(...)` before `self.hdr(...)`), the
//! message body before the header (the header's RFC 5424 coin is drawn last), f-string
//! fields left to right, and short-circuits (`src or ip_public(r)`, `user not in REAL_USERS
//! and ... and r.random() < 0.7`) that skip draws. Bodies are therefore built into a scratch
//! buffer first and appended after the header.

use crate::pyrandom::PyRandom;
use crate::pytime::Fields;
use crate::text::{
    push_2d, push_6d, push_fixed3_of_bits52, push_hex2, push_i, push_space_pad, push_u,
};

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub const HOSTS: [&str; 17] = [
    "web-01",
    "web-02",
    "web-03",
    "web-04",
    "web-05",
    "web-06",
    "web-07",
    "web-08",
    "db-01",
    "db-02",
    "db-03",
    "bastion-01",
    "bastion-02",
    "fw-edge-01",
    "fw-edge-02",
    "mail-01",
    "ci-runner-01",
];
/// `HOSTS[:8]`, the web servers.
const WEB_HOSTS: usize = 8;
pub const USERS: [&str; 20] = [
    "root", "admin", "ubuntu", "deploy", "alice", "bob", "carol", "dave", "erin", "postgres",
    "git", "jenkins", "oracle", "test", "user", "guest", "pi", "ftp", "www-data", "backup",
];
const REAL_USERS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "deploy", "jenkins"];
const SUDO_CMDS: [&str; 10] = [
    "/usr/bin/apt update",
    "/usr/bin/systemctl restart nginx",
    "/bin/cat /etc/shadow",
    "/usr/bin/journalctl -u sshd",
    "/usr/bin/docker ps",
    "/bin/bash",
    "/usr/sbin/iptables -L -n",
    "/usr/bin/vim /etc/hosts",
    "/usr/bin/tail -f /var/log/syslog",
    "/usr/bin/id",
];
const PATHS: [&str; 14] = [
    "/",
    "/index.html",
    "/api/v1/users",
    "/api/v1/orders?id=1234",
    "/login",
    "/static/app.js",
    "/static/style.css",
    "/images/logo.png",
    "/health",
    "/api/v1/search?q=shoes",
    "/cart",
    "/checkout",
    "/favicon.ico",
    "/robots.txt",
];
const SCAN_PATHS: [&str; 8] = [
    "/.env",
    "/wp-login.php",
    "/phpmyadmin/index.php",
    "/.git/config",
    "/cgi-bin/../../etc/passwd",
    "/admin/config.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/?id=1%27%20OR%201=1--",
];
const UAS: [&str; 7] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 zgrab/0.x",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];
/// `["GET"] * 8 + ["POST"] * 2 + ["PUT", "DELETE", "HEAD"]`.
const METHODS: [&str; 13] = [
    "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD",
];
const FW_PORTS: [u16; 24] = [
    22, 23, 25, 53, 80, 110, 123, 135, 139, 143, 443, 445, 1433, 1521, 3306, 3389, 5432, 5900,
    6379, 8080, 8443, 9200, 11211, 27017,
];
const PUBLIC_FIRST_OCTETS: [u8; 14] = [
    45, 61, 77, 89, 103, 116, 141, 185, 193, 198, 203, 211, 218, 222,
];
const STATUSES: [u16; 12] = [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 500, 502];
/// `itertools.accumulate([70, 3, 2, 2, 3, 6, 1, 3, 1, 6, 1, 1])`.
const STATUS_CUM_WEIGHTS: [u32; 12] = [70, 73, 75, 77, 80, 86, 87, 90, 91, 97, 98, 99];
const SCAN_STATUSES: [u16; 4] = [404, 404, 403, 400];
const REFERERS: [&str; 3] = ["-", "https://shop.example.com/", "https://www.google.com/"];
const KEY_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const CRON_CMDS: [&str; 4] = [
    "/usr/lib/php/sessionclean",
    "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )",
    "/opt/backup/run.sh --incremental",
    "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
];
const UNITS: [&str; 6] = [
    "nginx.service",
    "postgresql.service",
    "docker.service",
    "apt-daily.service",
    "logrotate.service",
    "certbot.timer",
];
const VERBS: [&str; 6] = [
    "Started",
    "Starting",
    "Finished",
    "Stopped",
    "Reloading",
    "Deactivated successfully",
];

/// An IPv4 address as the generator prints it.
pub type Ip = [u8; 4];

/// `ip_public(rng)`.
pub fn ip_public(r: &mut PyRandom) -> Ip {
    let a = r.choice(&PUBLIC_FIRST_OCTETS);
    let b = r.randbelow(256) as u8;
    let c = r.randbelow(256) as u8;
    let d = r.randrange(1, 255) as u8;
    [a, b, c, d]
}

/// `ip_private(rng)`.
pub fn ip_private(r: &mut PyRandom) -> Ip {
    let b = r.randbelow(4) as u8;
    let c = r.randbelow(256) as u8;
    let d = r.randrange(1, 255) as u8;
    [10, b, c, d]
}

fn push_ip(buf: &mut Vec<u8>, ip: Ip) {
    for (i, octet) in ip.into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u(buf, u64::from(octet));
    }
}

/// The keys of the Python `Counter`, in sorted order (the order of `dict(sorted(...))`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Count {
    Cron,
    FwAllow,
    FwBlock,
    Rfc3164,
    Rfc5424,
    SshdAccepted,
    SshdAcceptedAfterBf,
    SshdDisconnect,
    SshdFailed,
    SshdInvalid,
    SshdSession,
    Sudo3fail,
    SudoAuthfail,
    SudoCmd,
    Systemd,
    Web,
    WebScan,
    WebappLogin,
}

/// The counter names, indexed by [`Count`], sorted.
pub const COUNT_NAMES: [&str; 18] = [
    "cron",
    "fw_allow",
    "fw_block",
    "rfc3164",
    "rfc5424",
    "sshd_accepted",
    "sshd_accepted_after_bf",
    "sshd_disconnect",
    "sshd_failed",
    "sshd_invalid",
    "sshd_session",
    "sudo_3fail",
    "sudo_authfail",
    "sudo_cmd",
    "systemd",
    "web",
    "web_scan",
    "webapp_login",
];

/// The content generator (`Gen`): its RNG, options, pid table, counters and the ssh
/// failure times for the ground truth.
#[derive(Debug)]
pub struct Gen {
    pub rng: PyRandom,
    r5424: f64,
    wire: bool,
    /// `self.pids[(host, "sshd")]`: `pid()` is only ever called for sshd.
    sshd_pids: [Option<i64>; HOSTS.len()],
    pub counts: [u64; COUNT_NAMES.len()],
    /// `ssh_fail_times` flattened: (source, event time in µs) in append order.
    pub ssh_fail_times: Vec<(Ip, i64)>,
    body: Vec<u8>,
}

/// One event's time: microseconds since the epoch and its calendar fields.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub us: i64,
    pub f: Fields,
}

impl Gen {
    pub fn new(seed: i128, rfc5424_ratio: f64, wire: bool) -> Self {
        Gen {
            rng: PyRandom::new(seed),
            r5424: rfc5424_ratio,
            wire,
            sshd_pids: [None; HOSTS.len()],
            counts: [0; COUNT_NAMES.len()],
            ssh_fail_times: Vec::new(),
            body: Vec::with_capacity(512),
        }
    }

    #[inline]
    pub fn count(&mut self, c: Count) {
        self.counts[c as usize] += 1;
    }

    /// `hdr(ts, host, app, pid, facility, severity)` appended to `out`, given
    /// `pri = facility * 8 + severity` (msgid and sd are always `-` where the script calls it).
    pub fn hdr(
        &mut self,
        out: &mut Vec<u8>,
        ts: &Fields,
        host: &str,
        app: &str,
        pid: Option<i64>,
        pri: u32,
    ) {
        if self.wire {
            out.push(b'<');
            push_u(out, u64::from(pri));
            out.push(b'>');
        }
        if self.rng.random() < self.r5424 {
            out.extend_from_slice(b"1 ");
            push_rfc5424_time(out, ts);
            out.push(b' ');
            out.extend_from_slice(host.as_bytes());
            out.push(b' ');
            out.extend_from_slice(app.as_bytes());
            out.push(b' ');
            match pid {
                Some(p) => push_i(out, p),
                None => out.push(b'-'),
            }
            out.extend_from_slice(b" - - ");
            self.count(Count::Rfc5424);
        } else {
            out.extend_from_slice(MONTHS[ts.month as usize - 1].as_bytes());
            out.push(b' ');
            push_space_pad(out, u64::from(ts.day), 2);
            out.push(b' ');
            push_hms(out, ts);
            out.push(b' ');
            out.extend_from_slice(host.as_bytes());
            out.push(b' ');
            out.extend_from_slice(app.as_bytes());
            if let Some(p) = pid {
                out.push(b'[');
                push_i(out, p);
                out.push(b']');
            }
            out.extend_from_slice(b": ");
            self.count(Count::Rfc3164);
        }
    }

    /// `pid(host, "sshd")`.
    fn sshd_pid(&mut self, host: usize) -> i64 {
        let renew = match self.sshd_pids[host] {
            None => true,
            Some(_) => self.rng.random() < 0.02,
        };
        if renew {
            self.sshd_pids[host] = Some(self.rng.randrange(300, 65000));
        }
        self.sshd_pids[host].unwrap_or_default()
    }

    /// Appends the header then the body built in `self.body`.
    fn finish(
        &mut self,
        out: &mut Vec<u8>,
        ts: &Fields,
        host: &str,
        app: &str,
        pid: Option<i64>,
        pri: u32,
    ) {
        self.hdr(out, ts, host, app, pid, pri);
        out.extend_from_slice(&self.body);
    }

    /// `ssh_fail(ts, src, user, host)`.
    pub fn ssh_fail(
        &mut self,
        out: &mut Vec<u8>,
        ts: &Stamp,
        src: Option<Ip>,
        user: Option<&'static str>,
        host: Option<usize>,
    ) {
        let r = &mut self.rng;
        let host = host.unwrap_or_else(|| r.choice_index(HOSTS.len()));
        let src = src.unwrap_or_else(|| ip_public(r));
        let user = user.unwrap_or_else(|| r.choice(&USERS));
        let invalid = !REAL_USERS.contains(&user) && user != "root" && r.random() < 0.7;
        self.count(Count::SshdFailed);
        self.ssh_fail_times.push((src, ts.us));
        let port = self.rng.randrange(1024, 65535);
        let b = &mut self.body;
        b.clear();
        b.extend_from_slice(b"Failed password for ");
        if invalid {
            b.extend_from_slice(b"invalid user ");
        }
        b.extend_from_slice(user.as_bytes());
        b.extend_from_slice(b" from ");
        push_ip(b, src);
        b.extend_from_slice(b" port ");
        push_i(b, port);
        b.extend_from_slice(b" ssh2");
        let pid = self.sshd_pid(host);
        self.finish(out, &ts.f, HOSTS[host], "sshd", Some(pid), 10 * 8 + 6);
    }

    /// `ssh_misc(ts)`.
    pub fn ssh_misc(&mut self, out: &mut Vec<u8>, ts: &Stamp) {
        let r = &mut self.rng;
        let b = &mut self.body;
        b.clear();
        let host = r.choice_index(HOSTS.len());
        let k = r.random();
        let count = if k < 0.30 {
            let user = r.choice(&REAL_USERS);
            let meth = r.choice(&["password", "publickey", "publickey"]);
            let mut key = [0u8; 43];
            let publickey = meth == "publickey";
            if publickey {
                for c in &mut key {
                    *c = r.choice(KEY_ALPHABET);
                }
            }
            let ip = ip_private(r);
            let port = r.randrange(1024, 65535);
            b.extend_from_slice(b"Accepted ");
            b.extend_from_slice(meth.as_bytes());
            b.extend_from_slice(b" for ");
            b.extend_from_slice(user.as_bytes());
            b.extend_from_slice(b" from ");
            push_ip(b, ip);
            b.extend_from_slice(b" port ");
            push_i(b, port);
            b.extend_from_slice(b" ssh2");
            if publickey {
                b.extend_from_slice(b": RSA SHA256:");
                b.extend_from_slice(&key);
            }
            Count::SshdAccepted
        } else if k < 0.60 {
            let ui = r.choice_index(REAL_USERS.len());
            b.extend_from_slice(b"pam_unix(sshd:session): session opened for user ");
            b.extend_from_slice(REAL_USERS[ui].as_bytes());
            b.extend_from_slice(b"(uid=");
            push_u(b, 1000 + ui as u64);
            b.extend_from_slice(b") by (uid=0)");
            Count::SshdSession
        } else if k < 0.80 {
            let user = r.choice(&REAL_USERS);
            b.extend_from_slice(b"pam_unix(sshd:session): session closed for user ");
            b.extend_from_slice(user.as_bytes());
            Count::SshdSession
        } else if k < 0.90 {
            let user = r.choice(&USERS);
            let ip = ip_public(r);
            let port = r.randrange(1024, 65535);
            b.extend_from_slice(b"Invalid user ");
            b.extend_from_slice(user.as_bytes());
            b.extend_from_slice(b" from ");
            push_ip(b, ip);
            b.extend_from_slice(b" port ");
            push_i(b, port);
            Count::SshdInvalid
        } else {
            let ip = ip_public(r);
            let port = r.randrange(1024, 65535);
            b.extend_from_slice(b"Disconnected from authenticating user root ");
            push_ip(b, ip);
            b.extend_from_slice(b" port ");
            push_i(b, port);
            b.extend_from_slice(b" [preauth]");
            Count::SshdDisconnect
        };
        self.count(count);
        let pid = self.sshd_pid(host);
        self.finish(out, &ts.f, HOSTS[host], "sshd", Some(pid), 10 * 8 + 6);
    }

    /// `sudo(ts)`.
    pub fn sudo(&mut self, out: &mut Vec<u8>, ts: &Stamp) {
        let r = &mut self.rng;
        let b = &mut self.body;
        b.clear();
        let host = r.choice_index(HOSTS.len());
        let ui = r.choice_index(REAL_USERS.len());
        let user = REAL_USERS[ui].as_bytes();
        let k = r.random();
        let (count, sev) = if k < 0.80 {
            let tty = r.randbelow(6);
            let cmd = r.choice(&SUDO_CMDS);
            b.extend_from_slice(user);
            b.extend_from_slice(b" : TTY=pts/");
            push_u(b, u64::from(tty));
            b.extend_from_slice(b" ; PWD=/home/");
            b.extend_from_slice(user);
            b.extend_from_slice(b" ; USER=root ; COMMAND=");
            b.extend_from_slice(cmd.as_bytes());
            (Count::SudoCmd, 5)
        } else if k < 0.93 {
            let tty = r.randbelow(6);
            b.extend_from_slice(b"pam_unix(sudo:auth): authentication failure; logname=");
            b.extend_from_slice(user);
            b.extend_from_slice(b" uid=");
            push_u(b, 1000 + ui as u64);
            b.extend_from_slice(b" euid=0 tty=/dev/pts/");
            push_u(b, u64::from(tty));
            b.extend_from_slice(b" ruser=");
            b.extend_from_slice(user);
            b.extend_from_slice(b" rhost=  user=");
            b.extend_from_slice(user);
            (Count::SudoAuthfail, 4)
        } else {
            let tty = r.randbelow(6);
            let cmd = r.choice(&SUDO_CMDS);
            b.extend_from_slice(user);
            b.extend_from_slice(b" : 3 incorrect password attempts ; TTY=pts/");
            push_u(b, u64::from(tty));
            b.extend_from_slice(b" ; PWD=/home/");
            b.extend_from_slice(user);
            b.extend_from_slice(b" ; USER=root ; COMMAND=");
            b.extend_from_slice(cmd.as_bytes());
            (Count::Sudo3fail, 1)
        };
        self.count(count);
        self.finish(out, &ts.f, HOSTS[host], "sudo", None, 10 * 8 + sev);
    }

    /// `firewall(ts, src, dpt)`.
    pub fn firewall(&mut self, out: &mut Vec<u8>, ts: &Stamp, src: Option<Ip>, dpt: Option<i64>) {
        let r = &mut self.rng;
        let b = &mut self.body;
        b.clear();
        let host = r.choice(&["fw-edge-01", "fw-edge-02"]);
        let block = src.is_some() || r.random() < 0.75;
        let src = src.unwrap_or_else(|| ip_public(r));
        let tcp = r.random() < 0.85;
        let dpt = dpt.unwrap_or_else(|| i64::from(r.choice(&FW_PORTS)));
        let mut mac = [0u8; 14];
        for m in &mut mac {
            *m = r.randbelow(256) as u8;
        }
        let window = if tcp {
            Some(r.choice(&[1024u32, 29200, 64240, 65535]))
        } else {
            None
        };
        let dst = r.randrange(2, 60);
        let len = r.choice(&[40u32, 44, 52, 60, 1500]);
        let ttl = r.randrange(30, 250);
        let id = r.randbelow(65535);
        let spt = r.randrange(1024, 65535);
        let f = &ts.f;
        b.push(b'[');
        push_u(
            b,
            u64::from(f.hour * 3600 + f.minute * 60 + f.second) + 1_000_000,
        );
        b.push(b'.');
        push_6d(b, f.microsecond);
        b.extend_from_slice(if block {
            b"] [UFW BLOCK] IN=eth0 OUT= MAC="
        } else {
            b"] [UFW ALLOW] IN=eth0 OUT= MAC="
        });
        for (i, m) in mac.into_iter().enumerate() {
            if i > 0 {
                b.push(b':');
            }
            push_hex2(b, m);
        }
        b.extend_from_slice(b" SRC=");
        push_ip(b, src);
        b.extend_from_slice(b" DST=198.51.100.");
        push_i(b, dst);
        b.extend_from_slice(b" LEN=");
        push_u(b, u64::from(len));
        b.extend_from_slice(b" TOS=0x00 PREC=0x00 TTL=");
        push_i(b, ttl);
        b.extend_from_slice(b" ID=");
        push_u(b, u64::from(id));
        b.extend_from_slice(if tcp {
            b" PROTO=TCP SPT="
        } else {
            b" PROTO=UDP SPT="
        });
        push_i(b, spt);
        b.extend_from_slice(b" DPT=");
        push_i(b, dpt);
        if let Some(w) = window {
            b.extend_from_slice(b" WINDOW=");
            push_u(b, u64::from(w));
            b.extend_from_slice(b" RES=0x00 SYN URGP=0");
        }
        self.count(if block {
            Count::FwBlock
        } else {
            Count::FwAllow
        });
        // facility 0 (kern), severity 4
        self.finish(out, &ts.f, host, "kernel", None, 4);
    }

    /// `web(ts, src, scan)` (`status` is never passed by the script).
    pub fn web(&mut self, out: &mut Vec<u8>, ts: &Stamp, src: Option<Ip>, scan: bool) {
        let r = &mut self.rng;
        let b = &mut self.body;
        b.clear();
        let host = r.choice_index(WEB_HOSTS);
        let src = match src {
            Some(ip) => ip,
            None if r.random() < 0.7 => ip_public(r),
            None => ip_private(r),
        };
        let (path, status, ua, meth, count) = if scan {
            let path = r.choice(&SCAN_PATHS);
            let status = r.choice(&SCAN_STATUSES);
            let ua = r.choice(&UAS[2..6]);
            (path, status, ua, "GET", Count::WebScan)
        } else {
            let path = r.choice(&PATHS);
            let meth = r.choice(&METHODS);
            let status = STATUSES[r.choices_index(&STATUS_CUM_WEIGHTS)];
            let ua = r.choice(&UAS);
            (path, status, ua, meth, Count::Web)
        };
        let bytes = r.randrange(0, 50000);
        let referer = r.choice(&REFERERS);
        let rt_bits = r.bits53();
        let f = &ts.f;
        push_ip(b, src);
        b.extend_from_slice(b" - - [");
        push_2d(b, f.day);
        b.push(b'/');
        b.extend_from_slice(MONTHS[f.month as usize - 1].as_bytes());
        b.push(b'/');
        push_i(b, i64::from(f.year));
        b.push(b':');
        push_hms(b, f);
        b.extend_from_slice(b" +0000] \"");
        b.extend_from_slice(meth.as_bytes());
        b.push(b' ');
        b.extend_from_slice(path.as_bytes());
        b.extend_from_slice(b" HTTP/1.1\" ");
        push_u(b, u64::from(status));
        b.push(b' ');
        push_i(b, bytes);
        b.extend_from_slice(b" \"");
        b.extend_from_slice(referer.as_bytes());
        b.extend_from_slice(b"\" \"");
        b.extend_from_slice(ua.as_bytes());
        b.extend_from_slice(b"\" rt=");
        // random() * 2 == bits / 2**52 exactly
        push_fixed3_of_bits52(b, rt_bits);
        self.count(count);
        self.finish(out, &ts.f, HOSTS[host], "nginx", None, 23 * 8 + 6);
    }

    /// `cron_systemd(ts)`.
    pub fn cron_systemd(&mut self, out: &mut Vec<u8>, ts: &Stamp) {
        let r = &mut self.rng;
        let b = &mut self.body;
        b.clear();
        let host = HOSTS[r.choice_index(HOSTS.len())];
        let k = r.random();
        if k < 0.5 {
            let cmd = r.choice(&CRON_CMDS);
            b.extend_from_slice(b"(root) CMD (");
            b.extend_from_slice(cmd.as_bytes());
            b.push(b')');
            self.count(Count::Cron);
            let pid = self.rng.randrange(1000, 60000);
            self.finish(out, &ts.f, host, "CRON", Some(pid), 9 * 8 + 6);
            return;
        }
        let unit = r.choice(&UNITS);
        let verb = r.choice(&VERBS);
        if verb.starts_with("Deact") {
            b.extend_from_slice(unit.as_bytes());
            b.extend_from_slice(b": ");
            b.extend_from_slice(verb.as_bytes());
        } else {
            b.extend_from_slice(verb.as_bytes());
            b.push(b' ');
            b.extend_from_slice(unit.as_bytes());
        }
        b.push(b'.');
        self.count(Count::Systemd);
        self.finish(out, &ts.f, host, "systemd", Some(1), 3 * 8 + 6);
    }

    /// `webapp(ts)`: always RFC 5424 with structured data, no header coin.
    pub fn webapp(&mut self, out: &mut Vec<u8>, ts: &Stamp) {
        let r = &mut self.rng;
        let host = HOSTS[r.choice_index(WEB_HOSTS)];
        let user = r.choice(&USERS);
        let ok = r.random() < 0.8;
        let src = if r.random() < 0.5 {
            ip_public(r)
        } else {
            ip_private(r)
        };
        let method = r.choice(&["password", "sso", "mfa"]);
        let procid = r.randrange(1000, 9999);
        if self.wire {
            out.extend_from_slice(if ok { b"<86>" } else { b"<84>" });
        }
        out.extend_from_slice(b"1 ");
        push_rfc5424_time(out, &ts.f);
        out.push(b' ');
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b" shopapp ");
        push_i(out, procid);
        out.extend_from_slice(b" LOGIN [auth@32473 user=\"");
        out.extend_from_slice(user.as_bytes());
        out.extend_from_slice(b"\" src=\"");
        push_ip(out, src);
        out.extend_from_slice(if ok {
            b"\" result=\"success\" method=\""
        } else {
            b"\" result=\"failure\" method=\""
        });
        out.extend_from_slice(method.as_bytes());
        out.extend_from_slice(b"\"][origin ip=\"");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\"] user ");
        out.extend_from_slice(user.as_bytes());
        out.extend_from_slice(if ok {
            b" login succeeded"
        } else {
            b" login failed"
        });
        self.count(Count::WebappLogin);
        self.count(Count::Rfc5424);
    }

    /// The line that ends a successful brute force: `hdr(...)` + `Accepted password for …`,
    /// with the port drawn from the scheduling RNG `sched`.
    pub fn accepted_after_bf(
        &mut self,
        out: &mut Vec<u8>,
        ts: &Stamp,
        host: usize,
        user: &str,
        src: Ip,
        sched: &mut PyRandom,
    ) {
        self.count(Count::SshdAcceptedAfterBf);
        let pid = self.sshd_pid(host);
        self.hdr(out, &ts.f, HOSTS[host], "sshd", Some(pid), 10 * 8 + 6);
        out.extend_from_slice(b"Accepted password for ");
        out.extend_from_slice(user.as_bytes());
        out.extend_from_slice(b" from ");
        push_ip(out, src);
        out.extend_from_slice(b" port ");
        push_i(out, sched.randrange(1024, 65535));
        out.extend_from_slice(b" ssh2");
    }
}

/// `ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond:06d}+00:00"` (glibc's `%Y` does not
/// pad years below 1000).
fn push_rfc5424_time(out: &mut Vec<u8>, f: &Fields) {
    push_i(out, i64::from(f.year));
    out.push(b'-');
    push_2d(out, f.month);
    out.push(b'-');
    push_2d(out, f.day);
    out.push(b'T');
    push_hms(out, f);
    out.push(b'.');
    push_6d(out, f.microsecond);
    out.extend_from_slice(b"+00:00");
}

/// `f"{ts:%H:%M:%S}"`.
fn push_hms(out: &mut Vec<u8>, f: &Fields) {
    push_2d(out, f.hour);
    out.push(b':');
    push_2d(out, f.minute);
    out.push(b':');
    push_2d(out, f.second);
}
