//! The events table: one column per registered field (generated from
//! [`vigil_event::schema::fields`], so it cannot drift from the event model), the open maps and
//! the raw record, and the conversion of events to JSONEachRow rows and back.

use std::net::IpAddr;

use serde_json::{Map, Value as Json};
use vigil_event::schema::FieldDef;
use vigil_event::{Bytes, Event, FieldKind, FieldMap, Value, ValueRef};

use super::Dialect;

/// One typed column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The canonical field name (`source.ip`).
    pub field: &'static str,
    /// The column name (`source_ip`; `ts` for `@timestamp`, `tenant` for `vigil.tenant`).
    pub name: String,
    pub kind: FieldKind,
    /// Always present (not `Nullable`).
    pub required: bool,
    pub def: &'static FieldDef,
}

/// Column names of the non-field parts.
pub(crate) const SEQ: &str = "seq";
pub(crate) const EXTRA: &str = "extra";
pub(crate) const ORIGINAL: &str = "original";
pub(crate) const RAW: &str = "raw";
pub(crate) const RAW_HEX: &str = "raw_hex";

/// Keyword fields with few distinct values: `LowCardinality` where the server has it (Vigil's
/// metadata and the rule of correlation events included: alerts are searched and counted as
/// often as anything, like the embedded store's keyword columns).
const LOW_CARDINALITY: &[&str] = &[
    "event.kind",
    "event.action",
    "event.outcome",
    "event.code",
    "event.provider",
    "event.module",
    "event.dataset",
    "host.name",
    "host.hostname",
    "host.os.type",
    "process.name",
    "network.transport",
    "network.protocol",
    "network.direction",
    "observer.vendor",
    "observer.product",
    "observer.version",
    "observer.name",
    "observer.hostname",
    "observer.type",
    "log.level",
    "log.syslog.appname",
    "http.request.method",
    "vigil.source",
    "vigil.collector",
    "vigil.type",
    "vigil.tenant",
    "rule.id",
    "rule.name",
    "rule.category",
    "rule.ruleset",
];

/// Fields with rare values that needle searches look for: bloom filters (modern dialect).
const BLOOM: &[&str] = &[
    "source.ip",
    "destination.ip",
    "user.name",
    "host.name",
    "vigil.event_id",
];

pub(crate) fn column_name(field: &str) -> String {
    match field {
        "@timestamp" => "ts".to_owned(),
        "vigil.tenant" => "tenant".to_owned(),
        f => f.replace(['.', '@', '-'], "_"),
    }
}

/// Every typed column, in registry order.
pub(crate) fn columns() -> Vec<Column> {
    let blank = Event::default();
    vigil_event::schema::fields()
        .iter()
        .map(|def| Column {
            field: def.name,
            name: column_name(def.name),
            kind: def.kind(),
            required: def.is_set(&blank) && def.kind() != FieldKind::StrList,
            def,
        })
        .collect()
}

fn scalar_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Str | FieldKind::StrList | FieldKind::Ip => "String",
        FieldKind::Int | FieldKind::Time => "Int64",
        FieldKind::Float => "Float64",
        FieldKind::Bool => "UInt8",
    }
}

/// The column's type in a dialect.
pub(crate) fn column_type(c: &Column, dialect: Dialect) -> String {
    let base = scalar_type(c.kind);
    let low = dialect.low_cardinality() && LOW_CARDINALITY.contains(&c.field);
    let wrap = |t: &str| {
        if low {
            format!("LowCardinality({t})")
        } else {
            t.to_owned()
        }
    };
    if c.kind == FieldKind::StrList {
        return format!("Array({})", wrap(base));
    }
    if c.required {
        return wrap(base);
    }
    wrap(&format!("Nullable({base})"))
}

/// `CREATE TABLE` for the events table.
pub(crate) fn create_table(table: &str, dialect: Dialect, cols: &[Column]) -> String {
    let mut ddl = format!("CREATE TABLE IF NOT EXISTS {table} (\n");
    for c in cols {
        let mut line = format!("  `{}` {}", c.name, column_type(c, dialect));
        if dialect.codecs() && c.name == "ts" {
            line.push_str(" CODEC(Delta, ZSTD(1))");
        }
        ddl.push_str(&line);
        ddl.push_str(",\n");
    }
    let text_codec = if dialect.codecs() {
        " CODEC(ZSTD(3))"
    } else {
        ""
    };
    ddl.push_str(&format!("  `{SEQ}` UInt64,\n"));
    ddl.push_str(&format!("  `{EXTRA}` String{text_codec},\n"));
    ddl.push_str(&format!("  `{ORIGINAL}` String{text_codec},\n"));
    ddl.push_str(&format!("  `{RAW}` String{text_codec},\n"));
    ddl.push_str(&format!("  `{RAW_HEX}` String{text_codec}"));
    if dialect.skip_indexes() {
        for f in BLOOM {
            let n = column_name(f);
            ddl.push_str(&format!(
                ",\n  INDEX idx_{n} `{n}` TYPE bloom_filter(0.01) GRANULARITY 4"
            ));
        }
        ddl.push_str(&format!(
            ",\n  INDEX idx_raw_tokens lower(`{RAW}`) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1"
        ));
    }
    ddl.push_str("\n) ENGINE = MergeTree\n");
    ddl.push_str("PARTITION BY (tenant, toYYYYMMDD(toDateTime(intDiv(ts, 1000000000))))\n");
    ddl.push_str(&format!("ORDER BY (tenant, ts, {SEQ})\n"));
    ddl.push_str("SETTINGS index_granularity = 8192");
    ddl
}

// ---------------------------------------------------------------------------------------------
// IP keys: "4" + 8 hex digits or "6" + 32 hex digits. Their byte order is `IpAddr`'s order
// (every IPv4 before every IPv6), so equality, comparisons and CIDR ranges are string
// comparisons on one column.

pub(crate) fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("4{:08x}", u32::from(v4)),
        IpAddr::V6(v6) => format!("6{:032x}", u128::from(v6)),
    }
}

pub(crate) fn ip_from_key(k: &str) -> Option<IpAddr> {
    if let Some(h) = k.strip_prefix('4') {
        return u32::from_str_radix(h, 16)
            .ok()
            .map(|n| IpAddr::V4(n.into()));
    }
    let h = k.strip_prefix('6')?;
    u128::from_str_radix(h, 16)
        .ok()
        .map(|n| IpAddr::V6(n.into()))
}

fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[usize::from(b >> 4)] as char);
        s.push(D[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let d = |c: u8| (c as char).to_digit(16).map(|x| x as u8);
    b.chunks(2)
        .map(|p| Some((d(p[0])? << 4) | d(p[1])?))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rows.

/// Writes one scalar as JSON; `false` (nothing written) for a null or a non-finite float,
/// which the column's default (NULL, or the type's zero for required columns) stands for.
fn write_scalar(kind: FieldKind, v: ValueRef<'_>, out: &mut Vec<u8>) -> bool {
    // Writing JSON into a Vec cannot fail.
    match (kind, v) {
        (_, ValueRef::Null) => return false,
        (FieldKind::Ip, ValueRef::Ip(ip)) => {
            out.push(b'"');
            out.extend_from_slice(ip_key(ip).as_bytes());
            out.push(b'"');
        }
        (_, ValueRef::Str(s)) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        (_, ValueRef::Int(i)) | (_, ValueRef::Time(i)) => {
            let _ = serde_json::to_writer(&mut *out, &i);
        }
        (_, ValueRef::Float(x)) => {
            if !x.is_finite() {
                return false;
            }
            let _ = serde_json::to_writer(&mut *out, &x);
        }
        (_, ValueRef::Bool(b)) => out.push(if b { b'1' } else { b'0' }),
        (_, ValueRef::Ip(ip)) => {
            let _ = serde_json::to_writer(&mut *out, &ip.to_string());
        }
    }
    true
}

/// Appends one JSONEachRow line for `ev`: only the columns the event has. An omitted column
/// takes its type's default (NULL, `''`, `0`, `[]`) — on 18.16 too, which is what an absent
/// field is stored as — so rows stay small (a few hundred bytes instead of one key per
/// registered field) and the server parses far less.
pub(crate) fn encode_row(ev: &Event, seq: u64, cols: &[Column], out: &mut Vec<u8>) {
    let key = |out: &mut Vec<u8>, name: &str| {
        out.extend_from_slice(b"\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    };
    out.push(b'{');
    key(out, SEQ);
    let _ = serde_json::to_writer(&mut *out, &seq);
    let mut item = Vec::new();
    for c in cols {
        if c.kind == FieldKind::StrList {
            let mut n = 0;
            item.clear();
            c.def.visit(ev, &mut |v| {
                if let ValueRef::Str(s) = v {
                    item.push(if n == 0 { b'[' } else { b',' });
                    let _ = serde_json::to_writer(&mut item, s);
                    n += 1;
                }
            });
            if n > 0 {
                out.push(b',');
                key(out, &c.name);
                out.extend_from_slice(&item);
                out.push(b']');
            }
        } else {
            let mut done = false;
            c.def.visit(ev, &mut |v| {
                if done {
                    return;
                }
                item.clear();
                if write_scalar(c.kind, v, &mut item) {
                    done = true;
                }
            });
            if done {
                out.push(b',');
                key(out, &c.name);
                out.extend_from_slice(&item);
            }
        }
    }
    for (name, m) in [(EXTRA, &ev.extra), (ORIGINAL, &ev.original)] {
        if !m.is_empty() {
            out.push(b',');
            key(out, name);
            let _ = serde_json::to_writer(&mut *out, &map_json(m));
        }
    }
    out.push(b',');
    key(out, RAW);
    match std::str::from_utf8(&ev.raw) {
        Ok(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        Err(_) => {
            // Invalid UTF-8: a lossy copy for search (ASCII needles match it exactly as they
            // match the bytes), the exact bytes in hex.
            let _ = serde_json::to_writer(&mut *out, &ev.raw_str());
            out.push(b',');
            key(out, RAW_HEX);
            let _ = serde_json::to_writer(&mut *out, &hex(&ev.raw));
        }
    }
    out.extend_from_slice(b"}\n");
}

fn map_json(m: &FieldMap) -> String {
    if m.is_empty() {
        return String::new();
    }
    // NaN floats cannot be JSON: keep them as null rather than failing the batch.
    serde_json::to_string(m).unwrap_or_else(|_| {
        let clean: FieldMap = m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Float(x) if !x.is_finite() => Value::Null,
                    v => v.clone(),
                };
                (k.to_owned(), v)
            })
            .collect();
        serde_json::to_string(&clean).unwrap_or_default()
    })
}

fn json_i64(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The field value of a column cell (`None` for null).
pub(crate) fn cell_value(kind: FieldKind, v: &Json) -> Option<Value> {
    Some(match (kind, v) {
        (_, Json::Null) => return None,
        (FieldKind::Ip, Json::String(s)) => Value::Ip(ip_from_key(s)?),
        (FieldKind::Str | FieldKind::StrList, Json::String(s)) => Value::Str(s.as_str().into()),
        (FieldKind::Int, v) => Value::Int(json_i64(v)?),
        (FieldKind::Time, v) => Value::Time(json_i64(v)?),
        (FieldKind::Float, Json::Number(n)) => Value::Float(n.as_f64()?),
        (FieldKind::Float, Json::String(s)) => Value::Float(s.parse().ok()?),
        (FieldKind::Bool, v) => Value::Bool(json_i64(v)? != 0),
        _ => return None,
    })
}

/// A column cell as a result-table value.
pub(crate) fn query_cell(kind: FieldKind, v: &Json) -> Option<vigil_query::Value> {
    use vigil_query::Value as Q;
    Some(match cell_value(kind, v)? {
        Value::Str(s) => Q::Str(s.to_string()),
        Value::Int(i) => Q::Int(i),
        Value::Float(x) => Q::Float(x),
        Value::Bool(b) => Q::Bool(b),
        Value::Ip(ip) => Q::Ip(ip),
        Value::Time(t) => Q::Time(t),
        Value::Null | Value::List(_) => return None,
    })
}

/// Rebuilds an event from a result row; columns missing from the row stay unset.
pub(crate) fn decode_row(row: &Map<String, Json>, cols: &[Column]) -> Event {
    let mut ev = Event::default();
    for c in cols {
        let Some(v) = row.get(&c.name) else { continue };
        let value = match (c.kind, v) {
            (FieldKind::StrList, Json::Array(items)) => {
                if items.is_empty() {
                    continue;
                }
                Value::List(
                    items
                        .iter()
                        .filter_map(|i| cell_value(FieldKind::Str, i))
                        .collect(),
                )
            }
            (kind, v) => match cell_value(kind, v) {
                Some(v) => v,
                None => continue,
            },
        };
        // The value came from the same field's column: the conversion back cannot fail for
        // rows this store wrote; a foreign row leaves the field unset.
        let _ = c.def.set(&mut ev, value);
    }
    for (name, target) in [(EXTRA, &mut ev.extra), (ORIGINAL, &mut ev.original)] {
        if let Some(Json::String(s)) = row.get(name)
            && !s.is_empty()
            && let Ok(m) = serde_json::from_str::<FieldMap>(s)
        {
            *target = m;
        }
    }
    let hexed = match row.get(RAW_HEX) {
        Some(Json::String(h)) if !h.is_empty() => unhex(h),
        _ => None,
    };
    ev.raw = match (hexed, row.get(RAW)) {
        (Some(b), _) => Bytes::from(b),
        (None, Some(Json::String(s))) => Bytes::from(s.clone().into_bytes()),
        _ => Bytes::new(),
    };
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_plain() {
        let cols = columns();
        let mut names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        names.extend([SEQ, EXTRA, ORIGINAL, RAW, RAW_HEX]);
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "column names collide");
        assert!(
            names
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        );
    }

    #[test]
    fn ip_keys_order_like_ipaddr() {
        let ips: Vec<IpAddr> = [
            "0.0.0.1",
            "10.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
        ]
        .iter()
        .map(|s| s.parse().unwrap_or(IpAddr::V4(0.into())))
        .collect();
        for w in ips.windows(2) {
            assert!(w[0] < w[1]);
            assert!(ip_key(w[0]) < ip_key(w[1]));
        }
        for ip in ips {
            assert_eq!(ip_from_key(&ip_key(ip)), Some(ip));
        }
    }
}
