//! Validation of the `nats` connector and the forwarding destinations (`syslog`, `http`,
//! `nats`) with their disk buffer.

use std::path::PathBuf;
use std::time::Duration;

use super::V;
use crate::Secret;
use crate::raw_bus::*;

pub use crate::raw_bus::HttpBodyFormat;

/// Validated settings of a NATS JetStream connector.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsConfig {
    /// `nats://host:port` or `tls://host:port`.
    pub url: String,
    /// How to authenticate.
    pub auth: NatsAuth,
    /// PEM CA bundle for `tls://`.
    pub ca: Option<PathBuf>,
    /// The stream read.
    pub stream: String,
    /// The durable consumer's name.
    pub consumer: String,
    /// The consumer's filter subject, when it is created.
    pub subject: Option<String>,
    /// Messages per batch.
    pub batch_size: usize,
    /// Batches awaiting durability before fetching stops.
    pub max_in_flight: usize,
    /// The consumer's acknowledgement wait, when it is created.
    pub ack_wait: Duration,
    /// Ids of stored messages remembered against redeliveries.
    pub dedup_ids: usize,
    /// Where the remembered ids are kept across restarts; filled in by the topology
    /// (`<data_dir>/connectors/<id>`). Empty: in memory only.
    pub state_dir: PathBuf,
}

/// How a NATS client authenticates.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum NatsAuth {
    /// Anonymous.
    #[default]
    None,
    /// A token.
    Token(Secret),
    /// User and password.
    UserPassword(String, Secret),
}

/// The disk buffer of a forwarding destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    /// Most bytes on disk.
    pub max_size: u64,
}

/// Default [`BufferConfig::max_size`]: 256 MiB.
pub const DEFAULT_BUFFER_SIZE: u64 = 256 << 20;

/// TLS of a forwarding destination.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientTlsConfig {
    /// CA bundle; `None`: the webpki roots.
    pub ca: Option<PathBuf>,
    /// The name to verify; `None`: the host.
    pub server_name: Option<String>,
}

/// Validated syslog forwarding.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogForwardConfig {
    /// `host:port`.
    pub address: String,
    /// The host part of `address`.
    pub host: String,
    /// TLS when set.
    pub tls: Option<ClientTlsConfig>,
    /// The disk buffer.
    pub buffer: BufferConfig,
}

/// Validated HTTP forwarding.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpForwardConfig {
    /// The URL posted to.
    pub url: String,
    /// Body format.
    pub format: HttpBodyFormat,
    /// The `_bulk` index.
    pub index: String,
    /// Bearer token.
    pub token: Option<Secret>,
    /// CA bundle for https.
    pub ca: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The disk buffer.
    pub buffer: BufferConfig,
}

/// Validated NATS forwarding.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsForwardConfig {
    /// `nats://host:port` or `tls://host:port`.
    pub url: String,
    /// How to authenticate.
    pub auth: NatsAuth,
    /// PEM CA bundle for `tls://`.
    pub ca: Option<PathBuf>,
    /// The subject published to.
    pub subject: String,
    /// The disk buffer.
    pub buffer: BufferConfig,
}

/// The host of `host:port` (a port other than 0), or what is wrong.
fn split_host_port(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || format!("'{s}' is not an address; write HOST:PORT, e.g. siem.example.org:6514");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not allowed; choose a port".into()),
        Ok(_) if !host.is_empty() && !host.contains(['/', ' ', '?', '#', '@']) => {
            Ok(host.to_owned())
        }
        _ => Err(bad()),
    }
}

fn host_port(v: &mut V<'_>, path: &str, s: &str) -> Option<String> {
    split_host_port(s).map_err(|e| v.p.add(path, e)).ok()
}

/// A URL of one of `schemes` with `host:port` and, when `path_ok`, a path.
fn url(v: &mut V<'_>, path: &str, s: &str, schemes: &[&str], path_ok: bool) -> String {
    let t = s.trim();
    let problem = match t.split_once("://") {
        Some((scheme, rest)) if schemes.contains(&scheme) => {
            let (authority, rest_path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if !path_ok && !rest_path.trim_matches('/').is_empty() {
                Some(format!(
                    "'{s}' has a path; write {}://HOST:PORT",
                    schemes[0]
                ))
            } else {
                split_host_port(authority).err()
            }
        }
        _ => Some(format!(
            "'{s}' is not a URL; write {}://HOST:PORT{} (scheme {})",
            schemes[0],
            if path_ok { "/PATH" } else { "" },
            schemes.join(" or ")
        )),
    };
    if let Some(e) = problem {
        v.p.add(path, e);
    }
    t.to_owned()
}

fn secret(v: &mut V<'_>, path: &str, s: &str) -> Option<Secret> {
    let r = if s.trim_start().starts_with("${") {
        Secret::resolve(s, v.base)
    } else {
        Ok(Secret::literal(s))
    };
    r.map_err(|e| v.p.add(path, e)).ok()
}

fn nats_auth(
    v: &mut V<'_>,
    path: &str,
    token: &Option<String>,
    user: &Option<String>,
    password: &Option<String>,
) -> NatsAuth {
    match (token, user, password) {
        (None, None, None) => NatsAuth::None,
        (Some(t), None, None) => secret(v, &format!("{path}.token"), t)
            .map(NatsAuth::Token)
            .unwrap_or_default(),
        (None, Some(u), Some(p)) => secret(v, &format!("{path}.password"), p)
            .map(|p| NatsAuth::UserPassword(u.clone(), p))
            .unwrap_or_default(),
        (None, Some(_), None) => {
            v.p.add(
                format!("{path}.password"),
                "missing: `user` needs a password",
            );
            NatsAuth::None
        }
        (None, None, Some(_)) => {
            v.p.add(format!("{path}.user"), "missing: `password` needs a user");
            NatsAuth::None
        }
        (Some(_), _, _) => {
            v.p.add(
                format!("{path}.token"),
                "give either a token or a user and password, not both",
            );
            NatsAuth::None
        }
    }
}

/// A NATS name (stream, consumer): no spaces, dots, wildcards or path separators.
fn nats_name(v: &mut V<'_>, path: &str, s: &str) {
    if s.is_empty() || s.len() > 255 || s.contains([' ', '.', '*', '>', '/', '\\', '\t']) {
        v.p.add(
            path,
            format!("'{s}' is not a valid name (1-255 characters, no spaces, '.', '*', '>', '/')"),
        );
    }
}

fn nats_subject(v: &mut V<'_>, path: &str, s: &str, wildcards: bool) {
    let bad = s.is_empty()
        || s.contains([' ', '\t', '\r', '\n'])
        || s.split('.').any(|t| t.is_empty())
        || (!wildcards && s.split('.').any(|t| t == "*" || t == ">"));
    if bad {
        v.p.add(
            path,
            format!(
                "'{s}' is not a valid subject (dot-separated tokens{})",
                if wildcards { "" } else { ", no wildcards" }
            ),
        );
    }
}

/// The disk buffer of the destination at `path`.
pub(super) fn buffer(v: &mut V<'_>, path: &str, b: &Option<RawBuffer>) -> BufferConfig {
    let raw = b.as_ref().and_then(|b| b.max_size.clone());
    BufferConfig {
        max_size: v.size(
            &format!("{path}.buffer.max_size"),
            &raw,
            DEFAULT_BUFFER_SIZE,
            1 << 20,
            1 << 40,
        ),
    }
}

fn ca(v: &mut V<'_>, path: &str, ca: &Option<String>) -> Option<PathBuf> {
    ca.as_ref().map(|c| v.file(path, c))
}

/// The `nats` connector at `cp` (`collectors[0].connector`).
pub(super) fn nats_connector(v: &mut V<'_>, cp: &str, n: &RawNats) -> NatsConfig {
    let url = url(v, &format!("{cp}.url"), &n.url, &["nats", "tls"], false);
    nats_name(v, &format!("{cp}.stream"), &n.stream);
    nats_name(v, &format!("{cp}.consumer"), &n.consumer);
    if let Some(s) = &n.subject {
        nats_subject(v, &format!("{cp}.subject"), s, true);
    }
    let ack_wait = v
        .opt_duration(&format!("{cp}.ack_wait"), &n.ack_wait)
        .unwrap_or(Duration::from_secs(30));
    NatsConfig {
        url,
        auth: nats_auth(v, cp, &n.token, &n.user, &n.password),
        ca: ca(v, &format!("{cp}.ca"), &n.ca),
        stream: n.stream.clone(),
        consumer: n.consumer.clone(),
        subject: n.subject.clone(),
        batch_size: v.count(&format!("{cp}.batch_size"), n.batch_size, 512, 1, 100_000),
        max_in_flight: v.count(&format!("{cp}.max_in_flight"), n.max_in_flight, 8, 1, 1024),
        ack_wait,
        dedup_ids: v.count(
            &format!("{cp}.dedup_ids"),
            n.dedup_ids,
            100_000,
            0,
            100_000_000,
        ),
        state_dir: PathBuf::new(),
    }
}

/// The `syslog` destination at `dp` (`destinations[1]`).
pub(super) fn syslog_destination(
    v: &mut V<'_>,
    dp: &str,
    d: &RawSyslogDestination,
) -> SyslogForwardConfig {
    let host = host_port(v, &format!("{dp}.address"), &d.address).unwrap_or_default();
    let tls = d.tls.as_ref().map(|t| ClientTlsConfig {
        ca: ca(v, &format!("{dp}.tls.ca"), &t.ca),
        server_name: t.server_name.clone(),
    });
    SyslogForwardConfig {
        address: d.address.trim().to_owned(),
        host,
        tls,
        buffer: buffer(v, dp, &d.buffer),
    }
}

/// The `http` destination at `dp`.
pub(super) fn http_destination(
    v: &mut V<'_>,
    dp: &str,
    d: &RawHttpDestination,
) -> HttpForwardConfig {
    let url = url(v, &format!("{dp}.url"), &d.url, &["http", "https"], true);
    let index = d.index.clone().unwrap_or_else(|| "vigil".into());
    if index.is_empty() || index.contains(['/', ' ', '"', '\\', '*', '?', '<', '>', '|', ',', '#'])
    {
        v.p.add(
            format!("{dp}.index"),
            format!("'{index}' is not an index name"),
        );
    }
    HttpForwardConfig {
        url,
        format: d.format.unwrap_or_default(),
        index,
        token: d
            .token
            .as_ref()
            .and_then(|t| secret(v, &format!("{dp}.token"), t)),
        ca: ca(v, &format!("{dp}.ca"), &d.ca),
        timeout: v
            .opt_duration(&format!("{dp}.timeout"), &d.timeout)
            .unwrap_or(Duration::from_secs(30)),
        buffer: buffer(v, dp, &d.buffer),
    }
}

/// The `nats` destination at `dp`.
pub(super) fn nats_destination(
    v: &mut V<'_>,
    dp: &str,
    d: &RawNatsDestination,
) -> NatsForwardConfig {
    let url = url(v, &format!("{dp}.url"), &d.url, &["nats", "tls"], false);
    nats_subject(v, &format!("{dp}.subject"), &d.subject, false);
    NatsForwardConfig {
        url,
        auth: nats_auth(v, dp, &d.token, &d.user, &d.password),
        ca: ca(v, &format!("{dp}.ca"), &d.ca),
        subject: d.subject.clone(),
        buffer: buffer(v, dp, &d.buffer),
    }
}
