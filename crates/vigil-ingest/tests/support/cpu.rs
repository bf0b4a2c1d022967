//! CPU time of this process's threads, from `/proc` (10 ms resolution): what the throughput
//! benchmarks divide by, so that the client, the sink and the machine's other work do not count.

// reads of /proc are trusted, local and bounded
#![allow(clippy::disallowed_methods)]

/// CPU seconds (user + system) in a `/proc/.../stat` file, if it is a thread named `prefix*`.
pub fn stat_cpu(stat: &str, prefix: &str) -> Option<f64> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    if !stat.get(open + 1..close)?.starts_with(prefix) {
        return None;
    }
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // after the name: state is field 0, utime 11, stime 12, in USER_HZ (100 on Linux)
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU seconds of this process's live threads named `prefix*`.
pub fn threads_cpu(prefix: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|s| stat_cpu(&s, prefix))
        .sum()
}

/// CPU seconds of the calling thread.
pub fn own_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| stat_cpu(&s, ""))
        .unwrap_or(f64::NAN)
}
