//! A byte-identical Rust port of the shared syslog corpus generator
//! (`../shared/bench/gen_syslog.py`), about 50 times faster (~0.5 µs a line against ~25 µs).
//!
//! The storage benchmarks want the shared corpus at 10 M and 100 M lines; CPython needs 25-32 µs
//! a line for it (an hour for 100 M). This crate writes **the same bytes** for the same
//! arguments, and the same `<out>.meta.json`, so figures measured on either corpus compare.
//!
//! Identity rests on reproducing every source of the Python output exactly:
//!
//! * [`pyrandom`]: CPython 3.11's `random.Random` (MT19937, `init_by_array` seeding,
//!   `random`, `getrandbits`, `_randbelow` with rejection, `randrange`, `randint`, `choice`,
//!   `choices`, `uniform`, `expovariate`), with the content RNG seeded with `seed` and the
//!   scheduling RNG with `seed + 1`.
//! * [`corpus`]: the message kinds, drawing in the order the Python evaluates its expressions.
//! * [`pytime`]: `timedelta(seconds=float)` rounding (C `datetime`, half-even on exact
//!   halves) and the calendar, on integer microseconds.
//! * The event heap orders by `(time, seq)` like the Python tuples (`-0.0 == 0.0`, then
//!   insertion order), so ties pop in the same order.
//! * [`pyjson`]: the metadata as `json.dumps` / `json.dump(indent=1)` write it, floats as
//!   `repr(float)`.
//!
//! The crate's `python_parity` test runs both generators and compares bytes.
//!
//! Arguments the Python script cannot handle are refused here instead (a non-positive or
//! non-finite `--eps`, ISO week dates in `--start`); `--lines 0` writes an empty corpus and a
//! `event_time_span_s` of 0.0 where the Python script raises `UnboundLocalError`.

pub mod corpus;
pub mod pyjson;
pub mod pyrandom;
pub mod pytime;
mod text;

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;

use corpus::{COUNT_NAMES, Gen, HOSTS, Ip, Stamp, USERS, ip_public};
use pyjson::Value;
use pyrandom::PyRandom;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Every line starts with `<PRI>`.
    Wire,
    /// No `<PRI>`.
    File,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Wire => "wire",
            Format::File => "file",
        }
    }
}

/// The generator's arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub lines: u64,
    pub seed: i128,
    pub format: Format,
    pub rfc5424_ratio: f64,
    /// Mean event-time rate (events per second of event time); positive and finite.
    pub eps: f64,
    /// `--start` as microseconds since 1970-01-01 ([`pytime::parse_isoformat`]).
    pub start_us: i64,
}

impl Config {
    /// Checks what [`generate`] would refuse before any line is drawn.
    pub fn check(&self) -> Result<(), Error> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::Eps(self.eps));
        }
        self.seed.checked_add(1).ok_or(Error::Seed(self.seed))?;
        Ok(())
    }
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--eps must be a positive finite number, got {0}")]
    Eps(f64),
    #[error("--seed {0} + 1 overflows")]
    Seed(i128),
    #[error("event time {t} s after --start is out of the datetime range (year 1..=9999)")]
    TimeOutOfRange { t: f64 },
    #[error("writing the corpus")]
    Io(#[from] std::io::Error),
}

/// The sidecar's content (`<out>.meta.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub lines: u64,
    pub seed: i128,
    pub format: Format,
    pub rfc5424_ratio_target: f64,
    /// Last line's event time minus `--start`, in seconds (`timedelta.total_seconds()`; exact
    /// for spans below 2**53 µs, ~285 years).
    pub event_time_span_s: f64,
    /// Non-zero counters, sorted by name.
    pub counts: Vec<(&'static str, u64)>,
    /// Campaigns started, in the order each kind first started.
    pub campaigns_started: Vec<(&'static str, u64)>,
    pub ssh_bruteforce_5in60_alerts: u64,
    pub ssh_bruteforce_distinct_ips: u64,
}

impl Meta {
    /// The `meta` dict of the Python script, keys in its order.
    pub fn to_value(&self) -> Value {
        let obj = |items: &[(&'static str, u64)]| {
            Value::Object(
                items
                    .iter()
                    .map(|&(k, v)| (k.to_owned(), Value::Int(i128::from(v))))
                    .collect(),
            )
        };
        Value::Object(vec![
            ("lines".into(), Value::Int(i128::from(self.lines))),
            ("seed".into(), Value::Int(self.seed)),
            ("format".into(), Value::Str(self.format.as_str().into())),
            (
                "rfc5424_ratio_target".into(),
                Value::Float(self.rfc5424_ratio_target),
            ),
            (
                "event_time_span_s".into(),
                Value::Float(self.event_time_span_s),
            ),
            ("counts".into(), obj(&self.counts)),
            ("campaigns_started".into(), obj(&self.campaigns_started)),
            (
                "ground_truth_event_time".into(),
                Value::Object(vec![
                    (
                        "ssh_bruteforce_5in60_alerts".into(),
                        Value::Int(i128::from(self.ssh_bruteforce_5in60_alerts)),
                    ),
                    (
                        "ssh_bruteforce_distinct_ips".into(),
                        Value::Int(i128::from(self.ssh_bruteforce_distinct_ips)),
                    ),
                ]),
            ),
        ])
    }
}

/// `BG`: background kinds and their `choices` weights, accumulated.
#[derive(Debug, Clone, Copy)]
enum Bg {
    Web,
    Fw,
    SshFail,
    SshMisc,
    Sudo,
    Cron,
    Webapp,
}
const BG_KINDS: [Bg; 7] = [
    Bg::Web,
    Bg::Fw,
    Bg::SshFail,
    Bg::SshMisc,
    Bg::Sudo,
    Bg::Cron,
    Bg::Webapp,
];
/// `accumulate([38, 20, 4, 10, 4, 8, 6])`.
const BG_CUM_WEIGHTS: [u32; 7] = [38, 58, 62, 72, 76, 84, 90];

/// Campaign kinds, in the order of the script's `camp_rate` dict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Camp {
    Bf,
    Ps,
    Ws,
}

impl Camp {
    fn name(self) -> &'static str {
        match self {
            Camp::Bf => "bf",
            Camp::Ps => "ps",
            Camp::Ws => "ws",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct BruteForce {
    src: Ip,
    left: i64,
    gap: f64,
    host: usize,
    user: &'static str,
    win: bool,
}

#[derive(Debug, Clone, Copy)]
struct Scan {
    src: Ip,
    left: i64,
    gap: f64,
}

#[derive(Debug, Clone, Copy)]
enum Task {
    Bg,
    Camp(Camp),
    Bf(BruteForce),
    Ps(Scan),
    Ws(Scan),
}

/// A heap item `(t, seq, kind, state)`; ordered by `(t, seq)`, smallest first.
#[derive(Debug)]
struct Item {
    t: f64,
    seq: u64,
    task: Task,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    /// Reversed, for `BinaryHeap` (a max-heap) to pop the smallest `(t, seq)`. Times compare
    /// like Python floats: `-0.0 == 0.0`, and then `seq` decides.
    fn cmp(&self, other: &Self) -> Ordering {
        let by_time = other.t.partial_cmp(&self.t).unwrap_or(Ordering::Equal);
        by_time.then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Debug, Default)]
struct Heap {
    heap: BinaryHeap<Item>,
    seq: u64,
}

impl Heap {
    fn push(&mut self, t: f64, task: Task) {
        self.heap.push(Item {
            t,
            seq: self.seq,
            task,
        });
        self.seq += 1;
    }
}

/// Bytes of lines gathered before one `write_all`.
const CHUNK: usize = 1 << 20;

/// How often (in lines) `generate` reports progress.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// Writes `cfg.lines` lines to `out` and returns the metadata. `progress` is called with the
/// number of lines written every [`PROGRESS_EVERY`] lines and once at the end. `out` is not
/// flushed.
pub fn generate<W: Write>(
    cfg: &Config,
    out: &mut W,
    mut progress: impl FnMut(u64),
) -> Result<Meta, Error> {
    cfg.check()?;
    let sched_seed = cfg.seed.checked_add(1).ok_or(Error::Seed(cfg.seed))?;
    let mut g = Gen::new(cfg.seed, cfg.rfc5424_ratio, cfg.format == Format::Wire);
    let mut r = PyRandom::new(sched_seed);
    let eps = cfg.eps;
    let camp_rate = |c: Camp| match c {
        Camp::Bf => eps / 2500.0,
        Camp::Ps => eps / 8000.0,
        Camp::Ws => eps / 6000.0,
    };

    let mut heap = Heap::default();
    heap.push(r.expovariate(eps), Task::Bg);
    for c in [Camp::Bf, Camp::Ps, Camp::Ws] {
        heap.push(r.expovariate(camp_rate(c)), Task::Camp(c));
    }

    let mut campaigns: Vec<(&'static str, u64)> = Vec::with_capacity(3);
    // Lines go straight into one chunk, written out whenever it passes CHUNK bytes.
    let mut line = Vec::with_capacity(CHUNK + 4096);
    let mut n = 0u64;
    let mut last_us = cfg.start_us;
    while n < cfg.lines {
        // The background stream re-arms itself, so the heap is never empty.
        let Some(Item { t, task, .. }) = heap.heap.pop() else {
            break;
        };
        let us = pytime::timedelta_us(t)
            .and_then(|d| pytime::add_us(cfg.start_us, d))
            .ok_or(Error::TimeOutOfRange { t })?;
        last_us = us;
        let ts = Stamp {
            us,
            f: pytime::fields(us),
        };
        let before = line.len();
        match task {
            Task::Bg => {
                match BG_KINDS[r.choices_index(&BG_CUM_WEIGHTS)] {
                    Bg::Web => {
                        let scan = r.random() < 0.01;
                        g.web(&mut line, &ts, None, scan);
                    }
                    Bg::Fw => g.firewall(&mut line, &ts, None, None),
                    Bg::SshFail => g.ssh_fail(&mut line, &ts, None, None, None),
                    Bg::SshMisc => g.ssh_misc(&mut line, &ts),
                    Bg::Sudo => g.sudo(&mut line, &ts),
                    Bg::Cron => g.cron_systemd(&mut line, &ts),
                    Bg::Webapp => g.webapp(&mut line, &ts),
                }
                heap.push(t + r.expovariate(eps), Task::Bg);
            }
            Task::Camp(c) => {
                match campaigns.iter_mut().find(|(name, _)| *name == c.name()) {
                    Some((_, count)) => *count += 1,
                    None => campaigns.push((c.name(), 1)),
                }
                let src = ip_public(&mut r);
                let state = match c {
                    Camp::Bf => Task::Bf(BruteForce {
                        src,
                        left: r.randint(3, 60),
                        gap: r.uniform(0.5, 6.0),
                        host: r.choice_index(HOSTS.len()),
                        user: r.choice(&USERS),
                        win: r.random() < 0.1,
                    }),
                    Camp::Ps => Task::Ps(Scan {
                        src,
                        left: r.randint(10, 80),
                        gap: r.uniform(0.05, 0.5),
                    }),
                    Camp::Ws => Task::Ws(Scan {
                        src,
                        left: r.randint(5, 40),
                        gap: r.uniform(0.2, 2.0),
                    }),
                };
                heap.push(t, state);
                heap.push(t + r.expovariate(camp_rate(c)), Task::Camp(c));
            }
            Task::Bf(mut st) => {
                if st.left > 0 {
                    g.ssh_fail(&mut line, &ts, Some(st.src), Some(st.user), Some(st.host));
                    st.left -= 1;
                    heap.push(t + r.expovariate(1.0 / st.gap), Task::Bf(st));
                } else if st.win {
                    g.accepted_after_bf(&mut line, &ts, st.host, st.user, st.src, &mut r);
                }
            }
            Task::Ps(mut st) => {
                if st.left > 0 {
                    let dpt = r.randrange(1, 65535);
                    g.firewall(&mut line, &ts, Some(st.src), Some(dpt));
                    st.left -= 1;
                    heap.push(t + r.expovariate(1.0 / st.gap), Task::Ps(st));
                }
            }
            Task::Ws(mut st) => {
                if st.left > 0 {
                    g.web(&mut line, &ts, Some(st.src), true);
                    st.left -= 1;
                    heap.push(t + r.expovariate(1.0 / st.gap), Task::Ws(st));
                }
            }
        }
        if line.len() > before {
            line.push(b'\n');
            if line.len() >= CHUNK {
                out.write_all(&line)?;
                line.clear();
            }
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                progress(n);
            }
        }
    }

    out.write_all(&line)?;
    progress(n);

    let (alerts, ips) = bruteforce_ground_truth(std::mem::take(&mut g.ssh_fail_times));
    Ok(Meta {
        lines: n,
        seed: cfg.seed,
        format: cfg.format,
        rfc5424_ratio_target: cfg.rfc5424_ratio,
        event_time_span_s: (last_us - cfg.start_us) as f64 / 1e6,
        counts: COUNT_NAMES
            .iter()
            .zip(g.counts)
            .filter(|&(_, c)| c > 0)
            .map(|(&k, c)| (k, c))
            .collect(),
        campaigns_started: campaigns,
        ssh_bruteforce_5in60_alerts: alerts,
        ssh_bruteforce_distinct_ips: ips,
    })
}

/// "5 failed ssh logins from one IP within 60 s" on event time, with SEC
/// `SingleWithThreshold` semantics (the window starts at its first event; on reaching the
/// threshold it fires once and the rest of the window is skipped): (alerts, distinct IPs).
fn bruteforce_ground_truth(mut times: Vec<(Ip, i64)>) -> (u64, u64) {
    // Stable: each source's times stay in append (event-time) order.
    times.sort_by_key(|&(ip, _)| ip);
    let (mut alerts, mut ips) = (0u64, 0u64);
    for group in times.chunk_by(|a, b| a.0 == b.0) {
        let mut fired = false;
        let mut i = 0;
        while i < group.len() {
            let start = group[i].1;
            let mut j = i;
            // (times[j] - start).total_seconds() <= 60, exactly, in µs
            while j < group.len() && group[j].1 - start <= 60 * pytime::US_PER_SECOND {
                j += 1;
            }
            if j - i >= 5 {
                alerts += 1;
                fired = true;
                i = j;
            } else {
                i += 1;
            }
        }
        ips += u64::from(fired);
    }
    (alerts, ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(lines: u64, seed: i128) -> Config {
        Config {
            lines,
            seed,
            format: Format::Wire,
            rfc5424_ratio: 0.3,
            eps: 200.0,
            start_us: pytime::parse_isoformat("2024-05-01T00:00:00").unwrap_or_default(),
        }
    }

    #[test]
    fn first_lines_of_seed_42_are_the_python_scripts() {
        // `python3 gen_syslog.py --lines 3 --seed 42 --format wire`
        let mut out = Vec::new();
        let meta = generate(&cfg(3, 42), &mut out, |_| {});
        assert!(meta.is_ok());
        let want = "\
<86>May  1 00:00:00 web-04 sshd[7017]: Failed password for alice from 45.140.125.58 port 49289 ssh2
<4>May  1 00:00:00 fw-edge-01 kernel: [1000000.008071] [UFW BLOCK] IN=eth0 OUT= MAC=0d:65:d6:70:e5:8e:03:51:d8:ae:8e:4f:6e:ac SRC=45.15.47.56 DST=198.51.100.7 LEN=60 TOS=0x00 PREC=0x00 TTL=54 ID=23526 PROTO=TCP SPT=56565 DPT=8080 WINDOW=1024 RES=0x00 SYN URGP=0
<190>May  1 00:00:00 web-05 nginx: 10.3.63.250 - - [01/May/2024:00:00:00 +0000] \"GET /static/style.css HTTP/1.1\" 200 41198 \"https://www.google.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\" rt=1.771
";
        assert_eq!(String::from_utf8_lossy(&out), want);
    }

    #[test]
    fn zero_lines_and_bad_eps() {
        let mut out = Vec::new();
        let meta = generate(&cfg(0, 1), &mut out, |_| {}).ok();
        assert!(out.is_empty());
        assert_eq!(meta.map(|m| m.event_time_span_s), Some(0.0));
        for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let c = Config { eps, ..cfg(10, 1) };
            assert!(matches!(generate(&c, &mut out, |_| {}), Err(Error::Eps(_))));
        }
        let c = cfg(10, i128::MAX);
        assert!(matches!(
            generate(&c, &mut out, |_| {}),
            Err(Error::Seed(_))
        ));
    }

    #[test]
    fn out_of_range_time_is_an_error() {
        let c = Config {
            eps: 1e-13,
            ..cfg(10, 1)
        };
        let mut out = Vec::new();
        assert!(matches!(
            generate(&c, &mut out, |_| {}),
            Err(Error::TimeOutOfRange { .. })
        ));
    }

    #[test]
    fn heap_orders_negative_zero_like_python() {
        let mut h = Heap::default();
        h.push(0.0, Task::Bg);
        h.push(-0.0, Task::Camp(Camp::Bf));
        h.push(-1.0, Task::Camp(Camp::Ps));
        let order: Vec<u64> = std::iter::from_fn(|| h.heap.pop().map(|i| i.seq)).collect();
        assert_eq!(order, [2, 0, 1]);
    }

    #[test]
    fn ground_truth_windows() {
        let s = pytime::US_PER_SECOND;
        let a = [1, 1, 1, 1];
        let b = [2, 2, 2, 2];
        // a: 5 within 60 s (fires), the 6th is skipped, 5 more at +100..+160 (60 s exactly: fires)
        let mut v: Vec<(Ip, i64)> = (0..6).map(|i| (a, i * s)).collect();
        v.extend((0..5).map(|i| (a, 100 * s + i * 15 * s)));
        // b: 5 spread over 60.000001 s: never 5 in a window
        v.extend([0, 10, 20, 30].map(|x| (b, x * s)));
        v.push((b, 60 * s + 1));
        assert_eq!(bruteforce_ground_truth(v), (2, 1));
    }
}
