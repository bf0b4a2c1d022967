//! Settings of the polling, flow and trap connectors: `sql`, `netflow`, `sflow` and `snmp_trap`. Each check adds every
//! problem under its path, like the rest of `validate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::V;
pub use crate::raw::RawSqlTlsMode as SqlTlsMode;
use crate::raw::{RawNetflow, RawSnmpTrap, RawSql};
pub use crate::raw::{
    RawSnmpAuthProtocol as SnmpAuthProtocol, RawSnmpPrivProtocol as SnmpPrivProtocol,
};

/// Which database an `sql` connector polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDriver {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    MySql,
    /// SQLite (`sqlite:`).
    Sqlite,
}

/// What the cursor column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlCursorType {
    /// An integer (identity, serial, auto-increment).
    Integer,
    /// A timestamp.
    Timestamp,
}

/// Validated settings of an `sql` connector (`vigil_ingest::sql::SqlSettings` is this type).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlConfig {
    /// The database URL (may hold a password: never log it).
    pub url: crate::Secret,
    /// The driver the URL names.
    pub driver: SqlDriver,
    /// The query, taking the cursor as its one parameter.
    pub query: String,
    /// The cursor column.
    pub cursor_column: String,
    /// What the cursor column holds.
    pub cursor_type: SqlCursorType,
    /// The cursor before the first poll: an integer, or an RFC 3339 time.
    pub cursor_start: String,
    /// Where the cursor is kept.
    pub cursor_file: PathBuf,
    /// Pause between polls that were not full.
    pub interval: Duration,
    /// Most rows per poll.
    pub max_rows: usize,
    /// The column giving `@timestamp`.
    pub timestamp_column: Option<String>,
    /// The column giving `message`.
    pub message_column: Option<String>,
    /// Connection and query timeout.
    pub timeout: Duration,
    /// TLS to the server: the mode and the CA file (checked to exist).
    pub tls: Option<(SqlTlsMode, Option<PathBuf>)>,
}

/// Validated settings of a `netflow` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetflowConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Kernel receive buffer.
    pub udp_recv_buffer: usize,
    /// Most exporter scopes with templates.
    pub max_exporters: usize,
    /// Most templates per exporter scope.
    pub max_templates_per_exporter: usize,
}

/// Validated settings of an `snmp_trap` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpTrapConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Kernel receive buffer.
    pub udp_recv_buffer: usize,
    /// The configured OID names (dotted numeric OID without a leading dot → name), added to
    /// the connector's built-in names (a configured name wins).
    pub oid_names: std::collections::BTreeMap<String, String>,
    /// The SNMPv3 users.
    pub users: Vec<SnmpUser>,
    /// The configured engine ID (5 to 32 bytes), else one kept in `state_dir`.
    pub engine_id: Option<Vec<u8>>,
    /// Where the engine ID and boot counter are kept; filled in by the topology
    /// (`<data_dir>/connectors/<id>`).
    pub state_dir: PathBuf,
}

/// A validated SNMPv3 user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpUser {
    /// The user name.
    pub name: String,
    /// Authentication protocol and passphrase; `None`: noAuthNoPriv.
    pub auth: Option<(SnmpAuthProtocol, crate::Secret)>,
    /// Privacy protocol and passphrase (only with `auth`).
    pub privacy: Option<(SnmpPrivProtocol, crate::Secret)>,
}

/// Validated settings of an `sflow` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SflowConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Kernel receive buffer.
    pub udp_recv_buffer: usize,
}

/// The default receive buffer of a flow listener: exporters send bursts of full datagrams.
pub const DEFAULT_FLOW_RECV_BUFFER: usize = 8 << 20;

/// The driver a URL's scheme names.
fn scheme_driver(url: &str) -> Option<SqlDriver> {
    let scheme = url.split_once(':')?.0.to_ascii_lowercase();
    match scheme.as_str() {
        "postgres" | "postgresql" => Some(SqlDriver::Postgres),
        "mysql" | "mariadb" => Some(SqlDriver::MySql),
        "sqlite" => Some(SqlDriver::Sqlite),
        _ => None,
    }
}

/// The driver of a database URL, or what is wrong with it.
pub fn sql_driver(url: &str) -> Result<SqlDriver, String> {
    let rest = url.split_once(':').map(|(_, r)| r).unwrap_or("");
    let Some(driver) = scheme_driver(url) else {
        return Err(
            "not a database URL; write postgres://USER@HOST[:PORT]/DB, mysql://USER@HOST[:PORT]/DB or sqlite:PATH"
                .into(),
        );
    };
    if driver != SqlDriver::Sqlite {
        let Some(after) = rest.strip_prefix("//") else {
            return Err("a server URL needs `//HOST` after the scheme".into());
        };
        let host = after.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        if host.is_empty() {
            return Err("no host in the URL".into());
        }
        if let Some((_, port)) = host.rsplit_once(':')
            && !port.ends_with(']')
            && port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(format!("'{port}' is not a port"));
        }
        if !after.contains('/') || after.rsplit('/').next().is_some_and(|d| d.is_empty()) {
            return Err("no database in the URL (…/DB)".into());
        }
    } else if rest.trim_start_matches("//").is_empty() {
        return Err("no file in the URL; write sqlite:PATH".into());
    }
    Ok(driver)
}

pub(super) fn check_sql(v: &mut V<'_>, cp: &str, s: &RawSql) -> SqlConfig {
    let url = if s.url.trim_start().starts_with("${") {
        crate::Secret::resolve(&s.url, v.base).unwrap_or_else(|e| {
            v.p.add(format!("{cp}.url"), e);
            crate::Secret::literal("")
        })
    } else {
        let literal = s.url.trim();
        let auth = literal
            .split_once("://")
            .and_then(|(_, r)| r.split(['/', '?']).next())
            .and_then(|h| h.rsplit_once('@'))
            .map(|(a, _)| a);
        if auth.is_some_and(|a| a.contains(':')) {
            v.p.add(
                format!("{cp}.url"),
                "holds a password in clear; write the URL as `${env:NAME}` or `${file:PATH}`",
            );
        }
        crate::Secret::literal(literal)
    };
    let driver = if url.expose().is_empty() && s.url.trim_start().starts_with("${") {
        SqlDriver::Postgres
    } else {
        sql_driver(url.expose()).unwrap_or_else(|e| {
            v.p.add(format!("{cp}.url"), e);
            scheme_driver(url.expose()).unwrap_or(SqlDriver::Postgres)
        })
    };
    if s.query.trim().is_empty() {
        v.p.add(format!("{cp}.query"), "must not be empty");
    } else {
        let placeholder = match driver {
            SqlDriver::Postgres => "$1",
            SqlDriver::MySql | SqlDriver::Sqlite => "?",
        };
        if !s.query.contains(placeholder) {
            v.p.add(
                format!("{cp}.query"),
                format!(
                    "the query must take the cursor as its parameter `{placeholder}` \
                     (e.g. `WHERE {} > {placeholder} ORDER BY {} LIMIT 1000`)",
                    s.cursor_column, s.cursor_column
                ),
            );
        }
    }
    if s.cursor_column.trim().is_empty() {
        v.p.add(format!("{cp}.cursor_column"), "must not be empty");
    }
    let cursor_type = match s.cursor_type.as_deref() {
        None | Some("integer") => SqlCursorType::Integer,
        Some("timestamp") => SqlCursorType::Timestamp,
        Some(o) => {
            v.p.add(
                format!("{cp}.cursor_type"),
                format!("'{o}' is not a cursor type; use integer or timestamp"),
            );
            SqlCursorType::Integer
        }
    };
    let cursor_start = match (cursor_type, s.cursor_start.as_deref()) {
        (SqlCursorType::Integer, None) => "0".to_owned(),
        (SqlCursorType::Timestamp, None) => "1970-01-01T00:00:00Z".to_owned(),
        (SqlCursorType::Integer, Some(c)) => {
            if c.trim().parse::<i64>().is_err() {
                v.p.add(
                    format!("{cp}.cursor_start"),
                    format!("'{c}' is not an integer"),
                );
            }
            c.trim().to_owned()
        }
        (SqlCursorType::Timestamp, Some(c)) => {
            if let Err(e) = super::parse_utc_instant(c) {
                v.p.add(format!("{cp}.cursor_start"), e);
            }
            c.trim().to_owned()
        }
    };
    let interval = v
        .opt_duration(&format!("{cp}.interval"), &s.interval)
        .unwrap_or(Duration::from_secs(10));
    let timeout = v
        .opt_duration(&format!("{cp}.timeout"), &s.timeout)
        .unwrap_or(Duration::from_secs(30));
    let max_rows = v.count(&format!("{cp}.max_rows"), s.max_rows, 1000, 1, 1_000_000);
    let nonempty = |v: &mut V<'_>, field: &str, c: &Option<String>| match c {
        Some(c) if c.trim().is_empty() => {
            v.p.add(format!("{cp}.{field}"), "must not be empty");
            None
        }
        c => c.clone(),
    };
    let tls = s.tls.as_ref().map(|t| {
        if driver == SqlDriver::Sqlite {
            v.p.add(
                format!("{cp}.tls"),
                "SQLite is a local file: it has no TLS; remove `tls`",
            );
        }
        let ca = t.ca.as_deref().map(|c| {
            let path = format!("{cp}.tls.ca");
            let p = v.file(&path, c);
            if p.is_file() {
                match crate::read_file_capped(&p, 4 << 20) {
                    Ok(b) if !b.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => {
                        v.p.add(path, format!("{}: no PEM certificate in it", p.display()));
                    }
                    Ok(_) => {}
                    Err(e) => v.p.add(path, format!("{}: {e}", p.display())),
                }
            }
            p
        });
        if ca.is_some() && matches!(t.mode, SqlTlsMode::Disable | SqlTlsMode::Prefer) {
            v.p.add(
                format!("{cp}.tls.ca"),
                "a CA is only used to verify: set `mode: verify_ca` or `verify_full`",
            );
        }
        (t.mode, ca)
    });
    let timestamp_column = nonempty(v, "timestamp_column", &s.timestamp_column);
    let message_column = nonempty(v, "message_column", &s.message_column);
    SqlConfig {
        url,
        driver,
        query: s.query.clone(),
        cursor_column: s.cursor_column.trim().to_owned(),
        cursor_type,
        cursor_start,
        // filled in with `<data_dir>/cursors/<id>.json` by `validate` when not given
        cursor_file: s
            .cursor_file
            .as_deref()
            .map(|f| v.base.join(f))
            .unwrap_or_default(),
        interval,
        max_rows,
        timestamp_column,
        message_column,
        timeout,
        tls,
    }
}

pub(super) fn check_netflow(
    v: &mut V<'_>,
    cp: &str,
    n: &RawNetflow,
) -> (Option<SocketAddr>, NetflowConfig) {
    let listen = v.listen(&format!("{cp}.listen"), &n.listen);
    let cfg = NetflowConfig {
        listen: listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 2055))),
        udp_recv_buffer: v.size(
            &format!("{cp}.udp_recv_buffer"),
            &n.udp_recv_buffer,
            DEFAULT_FLOW_RECV_BUFFER as u64,
            4096,
            1 << 30,
        ) as usize,
        max_exporters: v.count(
            &format!("{cp}.max_exporters"),
            n.max_exporters,
            1024,
            1,
            1_000_000,
        ),
        max_templates_per_exporter: v.count(
            &format!("{cp}.max_templates_per_exporter"),
            n.max_templates_per_exporter,
            256,
            1,
            65_536,
        ),
    };
    (listen, cfg)
}

pub(super) fn check_snmp_trap(
    v: &mut V<'_>,
    cp: &str,
    t: &RawSnmpTrap,
) -> (Option<SocketAddr>, SnmpTrapConfig) {
    let listen = v.listen(&format!("{cp}.listen"), &t.listen);
    let mut oid_names = std::collections::BTreeMap::new();
    for (oid, name) in &t.oid_names {
        let path = format!("{cp}.oid_names[{oid}]");
        let bare = oid.trim().trim_start_matches('.');
        let arcs: Vec<&str> = bare.split('.').collect();
        if arcs.len() < 2 || arcs.iter().any(|a| a.parse::<u64>().is_err()) {
            v.p.add(
                path,
                format!("'{oid}' is not a numeric OID; write it as 1.3.6.1.4.1.9.9.41.2.0.1"),
            );
            continue;
        }
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            v.p.add(
                path,
                format!("'{name}' is not a name: use letters, digits, `_` and `-` (e.g. linkDown)"),
            );
            continue;
        }
        oid_names.insert(bare.to_owned(), name.to_owned());
    }
    let users = check_snmp_users(v, cp, t);
    let engine_id = t.engine_id.as_deref().and_then(|e| {
        let path = format!("{cp}.engine_id");
        let hex = e.trim().trim_start_matches("0x").trim_start_matches("0X");
        let bytes = hex
            .len()
            .is_multiple_of(2)
            .then(|| {
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .flatten();
        match bytes {
            Some(b) if (5..=32).contains(&b.len()) => Some(b),
            Some(b) => {
                v.p.add(path, format!("{} bytes: an engine ID has 5 to 32", b.len()));
                None
            }
            None => {
                v.p.add(
                    path,
                    format!("'{e}' is not hex bytes; write it as 0x80001f8804766967696c"),
                );
                None
            }
        }
    });
    let cfg = SnmpTrapConfig {
        listen: listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 162))),
        udp_recv_buffer: v.size(
            &format!("{cp}.udp_recv_buffer"),
            &t.udp_recv_buffer,
            DEFAULT_FLOW_RECV_BUFFER as u64,
            4096,
            1 << 30,
        ) as usize,
        oid_names,
        users,
        engine_id,
        state_dir: PathBuf::new(),
    };
    (listen, cfg)
}

/// The v3 users of an `snmp_trap` connector, every problem listed under
/// `<cp>.users[i].<key>`.
fn check_snmp_users(v: &mut V<'_>, cp: &str, t: &RawSnmpTrap) -> Vec<SnmpUser> {
    let mut users = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, u) in t.users.iter().enumerate() {
        let up = format!("{cp}.users[{i}]");
        let name = u.name.trim();
        if name.is_empty() || name.len() > 32 {
            v.p.add(
                format!("{up}.name"),
                "a user name has 1 to 32 characters (RFC 3414)",
            );
        } else if let Some(prev) = seen.insert(name.to_owned(), i) {
            v.p.add(
                format!("{up}.name"),
                format!("user '{name}' is already defined at {cp}.users[{prev}]"),
            );
        }
        let mut passphrase = |key: &str, r: &Option<String>, wanted: bool| match (r, wanted) {
            (None, true) => {
                v.p.add(
                    format!("{up}.{key}"),
                    "missing: write a reference, `${env:NAME}` or `${file:PATH}`",
                );
                None
            }
            (Some(_), false) => {
                let proto = key.replace("passphrase", "protocol");
                v.p.add(
                    format!("{up}.{key}"),
                    format!("set without `{proto}`: name the protocol it is for"),
                );
                None
            }
            (None, false) => None,
            (Some(r), true) => match crate::Secret::resolve(r, v.base) {
                Ok(s) if s.expose().len() < 8 => {
                    v.p.add(
                        format!("{up}.{key}"),
                        "too short: a USM passphrase has at least 8 characters",
                    );
                    None
                }
                Ok(s) => Some(s),
                Err(e) => {
                    v.p.add(format!("{up}.{key}"), e);
                    None
                }
            },
        };
        let auth_key = passphrase(
            "auth_passphrase",
            &u.auth_passphrase,
            u.auth_protocol.is_some(),
        );
        let priv_key = passphrase(
            "priv_passphrase",
            &u.priv_passphrase,
            u.priv_protocol.is_some(),
        );
        if u.priv_protocol.is_some() && u.auth_protocol.is_none() {
            v.p.add(
                format!("{up}.priv_protocol"),
                "privacy needs authentication: set `auth_protocol` too (there is no noAuthPriv)",
            );
        }
        users.push(SnmpUser {
            name: name.to_owned(),
            auth: u.auth_protocol.zip(auth_key),
            privacy: u.priv_protocol.zip(priv_key),
        });
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            sql_driver("postgres://postgres@127.0.0.1:5432/test"),
            Ok(SqlDriver::Postgres)
        );
        assert_eq!(
            sql_driver("mysql://root@localhost/test"),
            Ok(SqlDriver::MySql)
        );
        assert_eq!(sql_driver("sqlite:/var/lib/app.db"), Ok(SqlDriver::Sqlite));
        assert!(sql_driver("oracle://x/y").is_err());
        assert!(sql_driver("postgres://127.0.0.1:99999/test").is_err());
        assert!(sql_driver("postgres://127.0.0.1:5432").is_err());
        assert!(sql_driver("postgres:127.0.0.1").is_err());
        assert!(sql_driver("sqlite:").is_err());
        assert!(sql_driver("localhost:5432").is_err());
    }
}
