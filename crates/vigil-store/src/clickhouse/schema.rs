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

/// Keyword fields with few distinct values: `LowCardinality` where the server has it.
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

fn json_scalar(kind: FieldKind, v: ValueRef<'_>) -> Json {
    match (kind, v) {
        (_, ValueRef::Null) => Json::Null,
        (FieldKind::Ip, ValueRef::Ip(ip)) => Json::String(ip_key(ip)),
        (_, ValueRef::Str(s)) => Json::String(s.to_owned()),
        (_, ValueRef::Int(i)) | (_, ValueRef::Time(i)) => Json::from(i),
        (_, ValueRef::Float(x)) => serde_json::Number::from_f64(x)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        (_, ValueRef::Bool(b)) => Json::from(u8::from(b)),
        (_, ValueRef::Ip(ip)) => Json::String(ip.to_string()),
    }
}

/// Appends one JSONEachRow line for `ev` (every column: 18.16 does not fill defaults).
pub(crate) fn encode_row(ev: &Event, seq: u64, cols: &[Column], out: &mut Vec<u8>) {
    let mut row = Map::with_capacity(cols.len() + 5);
    for c in cols {
        let v = if c.kind == FieldKind::StrList {
            let mut items = Vec::new();
            c.def.visit(ev, &mut |v| {
                if let ValueRef::Str(s) = v {
                    items.push(Json::String(s.to_owned()));
                }
            });
            Json::Array(items)
        } else {
            let mut first = None;
            c.def.visit(ev, &mut |v| {
                if first.is_none() {
                    first = Some(json_scalar(c.kind, v));
                }
            });
            match first {
                Some(v) => v,
                None if c.required => match c.kind {
                    FieldKind::Str | FieldKind::Ip => Json::String(String::new()),
                    _ => Json::from(0),
                },
                None => Json::Null,
            }
        };
        row.insert(c.name.clone(), v);
    }
    row.insert(SEQ.to_owned(), Json::from(seq));
    row.insert(EXTRA.to_owned(), Json::String(map_json(&ev.extra)));
    row.insert(ORIGINAL.to_owned(), Json::String(map_json(&ev.original)));
    match std::str::from_utf8(&ev.raw) {
        Ok(s) => {
            row.insert(RAW.to_owned(), Json::String(s.to_owned()));
            row.insert(RAW_HEX.to_owned(), Json::String(String::new()));
        }
        Err(_) => {
            // Invalid UTF-8: a lossy copy for search (ASCII needles match it exactly as they
            // match the bytes), the exact bytes in hex.
            row.insert(RAW.to_owned(), Json::String(ev.raw_str().into_owned()));
            row.insert(RAW_HEX.to_owned(), Json::String(hex(&ev.raw)));
        }
    }
    // Serializing a map of JSON values cannot fail.
    let _ = serde_json::to_writer(&mut *out, &Json::Object(row));
    out.push(b'\n');
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
