//! Search output: aligned table for people, JSON lines and CSV for programs.

use std::io::Write;

use anyhow::Result;
use vigil_api::SearchResponse;

use crate::cli::Format;

fn get<'a>(v: &'a serde_json::Value, dotted: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn text(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| text(Some(x)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

fn clean(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > max {
        let mut t: String = one_line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        one_line
    }
}

fn print_table(out: &mut dyn Write, columns: &[String], rows: &[Vec<String>]) -> Result<()> {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(columns))?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

/// Prints a search response.
pub fn print(out: &mut dyn Write, resp: &SearchResponse, format: Format, raw: bool) -> Result<()> {
    match resp {
        SearchResponse::Events {
            events,
            truncated,
            took_ms,
        } => match format {
            Format::Json => {
                for e in events {
                    writeln!(out, "{}", serde_json::to_string(e)?)?;
                }
            }
            Format::Csv => {
                let cols = [
                    "@timestamp",
                    "host.name",
                    "process.name",
                    "source.ip",
                    "destination.ip",
                    "user.name",
                    "event.action",
                    "event.outcome",
                    "message",
                ];
                let mut w = csv::Writer::from_writer(out);
                w.write_record(cols)?;
                for e in events {
                    w.write_record(cols.iter().map(|c| text(get(e, c))))?;
                }
                w.flush()?;
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = events
                    .iter()
                    .map(|e| {
                        let body = if raw {
                            text(get(e, "event.original"))
                        } else {
                            let m = text(get(e, "message"));
                            if m.is_empty() {
                                text(get(e, "event.original"))
                            } else {
                                m
                            }
                        };
                        vec![
                            text(get(e, "@timestamp")),
                            clean(&text(get(e, "host.name")), 24),
                            clean(&text(get(e, "process.name")), 16),
                            clean(&body, 160),
                        ]
                    })
                    .collect();
                let cols = [
                    "@timestamp",
                    "host.name",
                    "process.name",
                    if raw { "raw" } else { "message" },
                ];
                print_table(out, &cols.map(String::from), &rows)?;
                out.flush()?;
                let more = if *truncated {
                    " (more match: raise --limit or narrow the query)"
                } else {
                    ""
                };
                eprintln!("{} events in {} ms{more}", events.len(), took_ms);
            }
        },
        SearchResponse::Table {
            columns,
            rows,
            took_ms,
        } => match format {
            Format::Json => {
                for r in rows {
                    let obj: serde_json::Map<String, serde_json::Value> =
                        columns.iter().cloned().zip(r.iter().cloned()).collect();
                    writeln!(out, "{}", serde_json::Value::Object(obj))?;
                }
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(columns)?;
                for r in rows {
                    w.write_record(r.iter().map(|c| text(Some(c))))?;
                }
                w.flush()?;
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| r.iter().map(|c| clean(&text(Some(c)), 80)).collect())
                    .collect();
                print_table(out, columns, &rows)?;
                out.flush()?;
                eprintln!("{} rows in {} ms", rows.len(), took_ms);
            }
        },
    }
    Ok(())
}
