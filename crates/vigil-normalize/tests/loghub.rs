//! Loghub (`../shared/corpora/loghub`, read in place): for every system, the share of lines
//! `--normalizer auto` parses without error and that yield a timestamp, a host and a message;
//! for OpenSSH and Thunderbird (Linux syslog) the extracted user and source IP against the
//! variables of the human-labelled templates, and whether lines of one template get one
//! `event.action`; for Apache the level and message against the structured CSV.
//! `VIGIL_BLESS=1` writes the table to `LOGHUB.md`.

use std::collections::HashMap;

use vigil_event::{Bytes, Event, Timestamp};
use vigil_event::{RawRecord, SourceInfo};
use vigil_normalize::{AutoNormalizer, Library, split_csv_line};

use vigil_testkit::read_text;
fn template_vars(template: &str, content: &str) -> Option<Vec<(String, String)>> {
    // (literal before the variable, value)
    let parts: Vec<&str> = template.split("<*>").collect();
    let mut re = String::from("^");
    for (i, p) in parts.iter().enumerate() {
        re.push_str(&regex::escape(p));
        if i + 1 < parts.len() {
            re.push_str("(.*?)");
        }
    }
    re.push('$');
    let caps = regex::Regex::new(&re).ok()?.captures(content)?;
    Some(
        (1..parts.len())
            .map(|i| {
                (
                    parts[i - 1].to_owned(),
                    caps.get(i).map_or("", |m| m.as_str()).to_owned(),
                )
            })
            .collect(),
    )
}

#[test]
fn loghub_table() {
    let Some(dir) = vigil_testkit::corpus("loghub") else {
        return;
    };
    let lib = Library::builtin().unwrap_or_else(|e| panic!("{e}"));
    let auto = AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap_or_else(|e| panic!("{e}"));
    let src = SourceInfo {
        id: "loghub".into(),
        tenant: "main".into(),
        collector: "test".into(),
    };
    let received = Timestamp::parse("2026-11-22T12:00:00Z").unwrap_or_default();
    // `VIGIL_LOGHUB_DEBUG=1`: print every user/IP disagreement.
    let debug = std::env::var_os("VIGIL_LOGHUB_DEBUG").is_some();
    let mut systems: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    systems.sort();
    let mut table = String::from(
        "| system | lines | parsed | timestamp | host | message | all three | packs chosen |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut truth = String::new();
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "–".to_owned()
        } else {
            format!("{:.1}%", 100.0 * a as f64 / b as f64)
        }
    };
    for s in &systems {
        let log = dir.join(s).join(format!("{s}_2k.log"));
        let Ok(text) = read_text(&log) else {
            continue;
        };
        let csv =
            read_text(&dir.join(s).join(format!("{s}_2k.log_structured.csv"))).unwrap_or_default();
        let mut rows = csv.lines();
        let header: Vec<String> = rows.next().map(split_csv_line).unwrap_or_default();
        let col = |name: &str| header.iter().position(|h| h == name);
        let (ci, ti, ei, li) = (
            col("Content"),
            col("EventTemplate"),
            col("EventId"),
            col("Level"),
        );
        let rows: Vec<Vec<String>> = rows.map(split_csv_line).collect();
        let (mut n, mut parsed, mut ts, mut host, mut msg, mut all) = (0, 0, 0, 0, 0, 0);
        let mut picked: HashMap<String, usize> = HashMap::new();
        let (mut u_gt, mut u_ok, mut ip_gt, mut ip_ok, mut lvl_ok, mut msg_ok) = (0, 0, 0, 0, 0, 0);
        let mut actions: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            n += 1;
            let rec = RawRecord {
                data: Bytes::copy_from_slice(line.as_bytes()),
                received,
                peer: None,
                transport_error: None,
            };
            let (ev, pack): (Event, _) = auto.normalize_record(&src, rec);
            *picked
                .entry(pack.map(|p| p.to_string()).unwrap_or_else(|| "none".into()))
                .or_default() += 1;
            let ok = ev.meta.parse_error.is_none();
            let (t, h, m) = (
                ev.timestamp != ev.meta.received,
                ev.host.name.is_some(),
                ev.message.as_deref().is_some_and(|m| !m.is_empty()),
            );
            parsed += usize::from(ok);
            ts += usize::from(ok && t);
            host += usize::from(ok && h);
            msg += usize::from(ok && m);
            all += usize::from(ok && t && h && m);
            let Some(row) = rows.get(i) else { continue };
            let (Some(content), Some(template)) =
                (ci.and_then(|c| row.get(c)), ti.and_then(|c| row.get(c)))
            else {
                continue;
            };
            if let Some(e) = ei.and_then(|c| row.get(c)) {
                let a = ev.event.action.as_deref().unwrap_or("").to_owned();
                *actions.entry(e.clone()).or_default().entry(a).or_default() += 1;
            }
            if s == "Apache" {
                lvl_ok += usize::from(
                    li.and_then(|c| row.get(c))
                        .is_some_and(|l| ev.log.level.as_deref() == Some(l.as_str())),
                );
                msg_ok += usize::from(ev.message.as_deref() == Some(content.as_str()));
            }
            if let Some(vars) = template_vars(template, content) {
                for (before, v) in vars {
                    if vigil_event::parse_ip(&v).is_some() && !v.contains(' ') {
                        ip_gt += 1;
                        let ok = ev.source.ip == vigil_event::parse_ip(&v);
                        ip_ok += usize::from(ok);
                        if !ok && debug {
                            eprintln!("{s} ip: {template:?} {v:?} got {:?}", ev.source.ip);
                        }
                    } else if (before.ends_with("user ")
                        || (before.ends_with("for ") && !before.ends_with("getaddrinfo for "))
                        || before.ends_with("user="))
                        && !v.is_empty()
                        && !v.contains(' ')
                    {
                        u_gt += 1;
                        let ok = ev.user.name.as_deref() == Some(v.as_str())
                            || ev.user.target_name.as_deref() == Some(v.as_str());
                        u_ok += usize::from(ok);
                        if !ok && debug {
                            eprintln!("{s} user: {template:?} {v:?} got {:?}", ev.user.name);
                        }
                    }
                }
            }
        }
        let mut p: Vec<(String, usize)> = picked.into_iter().collect();
        p.sort_by_key(|b| std::cmp::Reverse(b.1));
        let p: Vec<String> = p.iter().take(3).map(|(k, v)| format!("{k} {v}")).collect();
        table.push_str(&format!(
            "| {s} | {n} | {} | {} | {} | {} | {} | {} |\n",
            pct(parsed, n),
            pct(ts, n),
            pct(host, n),
            pct(msg, n),
            pct(all, n),
            p.join(", ")
        ));
        let consistent: usize = actions
            .values()
            .map(|m| m.values().copied().max().unwrap_or(0))
            .sum();
        let labelled: usize = actions.values().map(|m| m.values().sum::<usize>()).sum();
        if s == "OpenSSH" || s == "Thunderbird" {
            truth.push_str(&format!(
                "| {s} | {u_ok}/{u_gt} ({}) | {ip_ok}/{ip_gt} ({}) | {} |\n",
                pct(u_ok, u_gt),
                pct(ip_ok, ip_gt),
                pct(consistent, labelled)
            ));
            assert!(parsed * 100 >= n * 95, "{s}: only {parsed}/{n} parsed");
        }
        if s == "Apache" {
            truth.push_str(&format!(
                "| Apache (error log) | level {} | message {} | {} |\n",
                pct(lvl_ok, n),
                pct(msg_ok, n),
                pct(consistent, labelled)
            ));
        }
    }
    let doc = format!(
        "# Loghub: what `--normalizer auto` extracts\n\nMeasured by `cargo test -p vigil-normalize --test loghub -- --nocapture` on the loghub 2k samples (`../shared/corpora/loghub`, read in place). \"parsed\": no parse error; \"timestamp\": the source's time was read (not the receive time); \"host\": `host.name` set (several systems have no host in their lines); \"message\": a non-empty `message`.\n\n{table}\n## Against the labelled templates\n\nUser and IP: the variables of each line's human-labelled template (`EventTemplate` aligned with `Content`) that follow `user `/`for ` (a user; not the host name of sshd's `getaddrinfo for <host>`) or parse as an IP, compared with `user.name`/`user.target.name` and `source.ip`. Action: the share of lines whose `event.action` is the most common one among the lines of the same template (one template, one action).\n\n| system | user agrees | IP agrees | action consistent per template |\n|---|---|---|---|\n{truth}"
    );
    println!("{doc}");
    if std::env::var_os("VIGIL_BLESS").is_some() {
        let _ = std::fs::write(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("LOGHUB.md"),
            doc,
        );
    }
}
