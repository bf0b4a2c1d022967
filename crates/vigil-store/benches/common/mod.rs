//! Shared by the store benches: events built from the shared syslog corpus.

use std::time::Duration;

use vigil_event::{Bytes, Event, SmolStr, Timestamp};

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A minimal syslog split: enough fields for the store to index (host, program, pid, message,
/// time, and the user/IPs of sshd and UFW lines).
pub fn build(line: &[u8]) -> Event {
    let raw = Bytes::copy_from_slice(line);
    let mut ev = Event::new(raw);
    let s = std::str::from_utf8(line).unwrap_or("");
    let Some(rest) = s
        .strip_prefix('<')
        .and_then(|r| r.split_once('>'))
        .map(|x| x.1)
    else {
        return ev;
    };
    let msg;
    if let Some(r) = rest.strip_prefix("1 ") {
        let mut it = r.splitn(6, ' ');
        let (ts, host, app, pid) = (it.next(), it.next(), it.next(), it.next());
        let _msgid = it.next();
        let tail = it.next().unwrap_or("");
        if let Some(t) = ts.and_then(Timestamp::parse) {
            ev.timestamp = t;
        }
        ev.host.name = host.map(SmolStr::new);
        ev.process.name = app.map(SmolStr::new);
        ev.process.pid = pid.and_then(|p| p.parse().ok());
        msg = if let Some(t) = tail.strip_prefix("- ") {
            t
        } else if let Some(end) = tail.rfind("] ") {
            &tail[end + 2..]
        } else {
            tail
        };
    } else {
        if rest.len() < 16 {
            return ev;
        }
        let (ts, r) = rest.split_at(15);
        let month = MONTHS.iter().position(|m| ts.starts_with(m)).unwrap_or(0) as i64;
        let day: i64 = ts[4..6].trim().parse().unwrap_or(1);
        let hms: Vec<i64> = ts[7..].split(':').map(|x| x.parse().unwrap_or(0)).collect();
        let base = Timestamp::parse("2024-01-01T00:00:00Z").unwrap_or_default();
        let days =
            [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335][month as usize] + day - 1;
        let secs = days * 86400
            + hms.first().unwrap_or(&0) * 3600
            + hms.get(1).unwrap_or(&0) * 60
            + hms.get(2).unwrap_or(&0);
        ev.timestamp = Timestamp(base.0 + secs * 1_000_000_000);
        let r = r.trim_start();
        let (host, r) = r.split_once(' ').unwrap_or((r, ""));
        ev.host.name = Some(host.into());
        let (tag, m) = r.split_once(": ").unwrap_or((r, ""));
        let (prog, pid) = match tag.split_once('[') {
            Some((p, pid)) => (p, pid.trim_end_matches(']').parse().ok()),
            None => (tag, None),
        };
        ev.process.name = Some(prog.into());
        ev.process.pid = pid;
        msg = m;
    }
    ev.message = Some(msg.into());
    if let Some(i) = msg.find(" for ") {
        let after = &msg[i + 5..];
        let after = after.strip_prefix("invalid user ").unwrap_or(after);
        if let Some((user, r)) = after.split_once(" from ") {
            ev.user.name = Some(user.into());
            ev.source.ip = r.split(' ').next().and_then(|ip| ip.parse().ok());
            ev.event.outcome = Some(
                if msg.starts_with("Accepted") {
                    "success"
                } else {
                    "failure"
                }
                .into(),
            );
        }
    }
    if let Some(i) = msg.find("SRC=") {
        ev.source.ip = msg[i + 4..]
            .split(' ')
            .next()
            .and_then(|ip| ip.parse().ok());
        if let Some(j) = msg.find("DST=") {
            ev.destination.ip = msg[j + 4..]
                .split(' ')
                .next()
                .and_then(|ip| ip.parse().ok());
        }
        if let Some(j) = msg.find("DPT=") {
            ev.destination.port = msg[j + 4..].split(' ').next().and_then(|p| p.parse().ok());
        }
        ev.event.action = Some(
            if msg.contains("BLOCK") {
                "blocked"
            } else {
                "allowed"
            }
            .into(),
        );
    } else if ev.process.name.as_deref() == Some("nginx") {
        ev.source.ip = msg.split(' ').next().and_then(|ip| ip.parse().ok());
    }
    ev
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
