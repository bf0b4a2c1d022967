//! The syslog connector: UDP, TCP (RFC 6587) and TLS (RFC 5425). See the
//! [crate documentation](crate#the-syslog-connector) for the design.
//!
//! Metrics it reports (component kind `connector`):
//! - `events_in` records sent to the pipeline, `bytes_in` bytes read off the sockets;
//! - errors: `oversized_frame`, `bad_octet_count`, `incomplete_frame`, `empty_datagram`,
//!   `tls_handshake`, `accept`, `read`, `udp_recv`, and the connection policy's (see
//!   [`policy`]): `idle_timeout`, `frame_timeout`, `evicted`, `evicted_per_ip`;
//! - drops: `kernel_udp_overflow` (absolute, from the kernel), `pipeline_closed`;
//! - gauges: `connections` (open TCP and TLS connections), `udp_recv_buffer_bytes` (the
//!   receive buffer the kernel granted, as it reports it: on Linux twice the usable size).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use smol_str::SmolStr;
use tokio_util::task::TaskTracker;
use vigil_pipeline::{
    BoxFuture, ComponentError, ComponentMetrics, Connector, ConnectorContext, RawBatch, RawRecord,
    RawSender, SourceInfo,
};

use crate::IngestError;

mod policy;
mod stream;
mod tls;
mod udp;

/// TLS listener settings (RFC 5425).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Address to listen on (the registered port is 6514).
    pub listen: SocketAddr,
    /// PEM file with the server certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
    /// PEM file with the CA certificates that sign client certificates. When set, clients
    /// must present a certificate signed by one of them (mutual TLS).
    pub client_ca_path: Option<PathBuf>,
}

/// Validated runtime settings of the syslog connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSettings {
    /// UDP listen address; one datagram is one record.
    pub udp: Option<SocketAddr>,
    /// Plain TCP listen address (RFC 6587 framing, auto-detected per frame).
    pub tcp: Option<SocketAddr>,
    /// TLS listener.
    pub tls: Option<TlsSettings>,
    /// Longest record; longer frames are cut to this and marked.
    pub max_frame_size: usize,
    /// Most TCP and TLS connections open at once (both listeners together). When full, a new
    /// connection is admitted and the longest-idle one closed and counted (`evicted`).
    pub max_connections: usize,
    /// Most TCP and TLS connections from one source address. Its next connection closes its
    /// longest-idle one (counted as `evicted_per_ip`). Above `max_connections` it acts as
    /// `max_connections`.
    pub max_connections_per_ip: usize,
    /// A connection that delivers no complete frame for this long is closed and counted
    /// (`idle_timeout`). Bytes of an unfinished frame do not restart it.
    pub idle_timeout: Duration,
    /// A frame that has begun to arrive must be complete within this, or the connection is
    /// closed and counted (`frame_timeout`); what arrived is kept as a record.
    pub frame_timeout: Duration,
    /// A TLS handshake that takes longer than this fails and is counted.
    pub tls_handshake_timeout: Duration,
    /// SO_RCVBUF to request for the UDP socket; `None` keeps the kernel default. The kernel
    /// caps it at `net.core.rmem_max`; the size granted is reported as a gauge.
    pub udp_recv_buffer: Option<usize>,
    /// Most records in one batch.
    pub batch_max: usize,
}

/// Default [`SyslogSettings::max_frame_size`]: 64 KiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;
/// Default [`SyslogSettings::udp_recv_buffer`]: 4 MiB.
pub const DEFAULT_UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;
/// Default [`SyslogSettings::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default [`SyslogSettings::frame_timeout`]: 30 s.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`SyslogSettings::max_connections_per_ip`] for a `max_connections`: an eighth of
/// it (at least 1), so no single host holds more than an eighth of the slots while a NAT
/// gateway in front of many senders still gets plenty.
pub fn default_max_connections_per_ip(max_connections: usize) -> usize {
    (max_connections / 8).max(1)
}

/// Largest accepted [`SyslogSettings::max_frame_size`]: 16 MiB.
pub const MAX_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

impl Default for SyslogSettings {
    /// No listeners; limits suited to a busy collector. Idle connections are closed after 10
    /// minutes: long enough that quiet senders (rsyslog keeps one connection for hours) are
    /// rarely cut, short enough that stalled clients do not hold connection slots forever
    /// (and a full connector evicts the idlest anyway). A frame must arrive within 30 s of its
    /// first byte: senders write whole messages, so only a stalled or hostile client is slower.
    fn default() -> Self {
        SyslogSettings {
            udp: None,
            tcp: None,
            tls: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: default_max_connections_per_ip(DEFAULT_MAX_CONNECTIONS),
            idle_timeout: Duration::from_secs(600),
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            tls_handshake_timeout: Duration::from_secs(10),
            udp_recv_buffer: Some(DEFAULT_UDP_RECV_BUFFER),
            batch_max: 1024,
        }
    }
}

impl SyslogSettings {
    /// Checks the ranges (at least one listener, limits above zero); [`SyslogConnector::new`]
    /// does this and also loads the TLS files. The error names the setting.
    pub fn validate(&self) -> Result<(), IngestError> {
        let invalid = |field, reason: &str| {
            Err(IngestError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.udp.is_none() && self.tcp.is_none() && self.tls.is_none() {
            return invalid(
                "listen",
                "no listener configured: set at least one of udp, tcp, tls",
            );
        }
        if self.max_frame_size == 0 || self.max_frame_size > MAX_MAX_FRAME_SIZE {
            return Err(IngestError::Invalid {
                field: "max_frame_size",
                reason: format!(
                    "{} is out of range (1 to {MAX_MAX_FRAME_SIZE} bytes)",
                    self.max_frame_size
                ),
            });
        }
        if self.max_connections == 0 {
            return invalid("max_connections", "must be at least 1");
        }
        if self.max_connections_per_ip == 0 {
            return invalid("max_connections_per_ip", "must be at least 1");
        }
        if self.batch_max == 0 {
            return invalid("batch_max", "must be at least 1");
        }
        if self.idle_timeout.is_zero() {
            return invalid("idle_timeout", "must be longer than zero");
        }
        if self.frame_timeout.is_zero() {
            return invalid("frame_timeout", "must be longer than zero");
        }
        if self.tls_handshake_timeout.is_zero() {
            return invalid("tls_handshake_timeout", "must be longer than zero");
        }
        if self.udp_recv_buffer == Some(0) {
            return invalid(
                "udp_recv_buffer",
                "must be at least 1 byte (or unset for the kernel default)",
            );
        }
        Ok(())
    }
}

/// The local addresses of a bound connector (the real ports when configured with port 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BoundAddrs {
    /// The UDP socket.
    pub udp: Option<SocketAddr>,
    /// The TCP listener.
    pub tcp: Option<SocketAddr>,
    /// The TLS listener.
    pub tls: Option<SocketAddr>,
}

#[derive(Debug)]
struct Bound {
    addrs: BoundAddrs,
    udp: Option<udp::BoundUdp>,
    tcp: Option<std::net::TcpListener>,
    tls: Option<std::net::TcpListener>,
}

/// Receives syslog over UDP, TCP and TLS. Build with [`SyslogConnector::new`], optionally
/// [`bind`](SyslogConnector::bind) early (to fail at startup, or to learn the ports), then hand
/// it to the pipeline.
pub struct SyslogConnector {
    settings: SyslogSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    bound: Option<Bound>,
}

impl std::fmt::Debug for SyslogConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogConnector")
            .field("settings", &self.settings)
            .field("bound", &self.bound.as_ref().map(|b| b.addrs))
            .finish_non_exhaustive()
    }
}

impl SyslogConnector {
    /// Validates `settings` and loads the TLS certificate and key (and client CA), with errors
    /// that name the file and what is wrong with it. Binds nothing yet.
    pub fn new(settings: SyslogSettings) -> Result<SyslogConnector, IngestError> {
        settings.validate()?;
        let tls = match &settings.tls {
            Some(t) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(t)?)),
            None => None,
        };
        Ok(SyslogConnector {
            settings,
            tls,
            bound: None,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &SyslogSettings {
        &self.settings
    }

    /// Opens the sockets now (idempotent; `run` binds them otherwise) and returns their local
    /// addresses. Errors name the address and what to do about it.
    pub fn bind(&mut self) -> Result<BoundAddrs, IngestError> {
        if let Some(b) = &self.bound {
            return Ok(b.addrs);
        }
        let s = &self.settings;
        let udp = s.udp.map(|a| udp::bind(a, s.udp_recv_buffer)).transpose()?;
        let tcp = s.tcp.map(|a| stream::bind(a, "TCP")).transpose()?;
        let tls = s
            .tls
            .as_ref()
            .map(|t| stream::bind(t.listen, "TLS"))
            .transpose()?;
        let addrs = BoundAddrs {
            udp: udp.as_ref().map(|u| u.local),
            tcp: tcp.as_ref().and_then(|l| l.local_addr().ok()),
            tls: tls.as_ref().and_then(|l| l.local_addr().ok()),
        };
        self.bound = Some(Bound {
            addrs,
            udp,
            tcp,
            tls,
        });
        Ok(addrs)
    }

    async fn run_inner(mut self, ctx: ConnectorContext) -> Result<(), ComponentError> {
        let sockets = self.bind().map_err(|e| e.to_string()).and_then(|_| {
            let bound = self.bound.take().ok_or("sockets not bound")?;
            Registered::new(bound).map_err(|e| format!("registering a socket with tokio: {e}"))
        });
        let sockets = match sockets {
            Ok(s) => s,
            Err(message) => {
                ctx.shutdown_all.trigger();
                return Err(ComponentError::new(&ctx.metrics, message));
            }
        };
        let shared = Arc::new(Shared::new(&self.settings, &ctx));
        let tracker = TaskTracker::new();
        if let Some((sock, granted)) = sockets.udp {
            let granted = i64::try_from(granted).unwrap_or(i64::MAX);
            ctx.metrics
                .gauge("udp_recv_buffer_bytes")
                .store(granted, Ordering::Relaxed);
            udp::spawn(sock, shared.clone(), &tracker, ctx.shutdown.clone());
        }
        for (listener, acceptor) in [(sockets.tcp, None), (sockets.tls, self.tls.clone())] {
            if let Some(l) = listener {
                let (tracker2, shutdown) = (tracker.clone(), ctx.shutdown.clone());
                tracker.spawn(stream::accept_loop(
                    l,
                    acceptor,
                    shared.clone(),
                    tracker2,
                    shutdown,
                ));
            }
        }
        let addrs = sockets.addrs;
        tracing::info!(
            connector = %ctx.source.id,
            udp = ?addrs.udp,
            tcp = ?addrs.tcp,
            tls = ?addrs.tls,
            "syslog connector listening"
        );
        tracker.close();
        tracker.wait().await;
        tracing::info!(connector = %ctx.source.id, "syslog connector stopped");
        Ok(())
    }
}

/// The bound sockets, registered with the tokio reactor.
struct Registered {
    addrs: BoundAddrs,
    udp: Option<(tokio::net::UdpSocket, usize)>,
    tcp: Option<tokio::net::TcpListener>,
    tls: Option<tokio::net::TcpListener>,
}

impl Registered {
    fn new(b: Bound) -> std::io::Result<Registered> {
        let udp = match b.udp {
            Some(u) => Some((
                tokio::net::UdpSocket::from_std(u.socket)?,
                u.granted_recv_buffer,
            )),
            None => None,
        };
        Ok(Registered {
            addrs: b.addrs,
            udp,
            tcp: b.tcp.map(tokio::net::TcpListener::from_std).transpose()?,
            tls: b.tls.map(tokio::net::TcpListener::from_std).transpose()?,
        })
    }
}

impl Connector for SyslogConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(self.run_inner(ctx))
    }
}

/// What every task of one connector shares.
#[derive(Debug)]
struct Shared {
    out: RawSender,
    source: Arc<SourceInfo>,
    metrics: ComponentMetrics,
    max_frame: usize,
    batch_max: usize,
    idle_timeout: Duration,
    frame_timeout: Duration,
    tls_handshake_timeout: Duration,
    connections: Arc<policy::Connections>,
    logs: Throttles,
    /// The transport error of a frame cut to `max_frame` (built once, cloned per use).
    truncated: SmolStr,
}

/// One log rate limit per kind of connection trouble, so an attack is logged, not flooded.
#[derive(Debug, Default)]
struct Throttles {
    evicted: policy::LogThrottle,
    idle_timeout: policy::LogThrottle,
    frame_timeout: policy::LogThrottle,
    tls_handshake: policy::LogThrottle,
    accept: policy::LogThrottle,
    read: policy::LogThrottle,
}

impl Shared {
    fn new(s: &SyslogSettings, ctx: &ConnectorContext) -> Shared {
        Shared {
            out: ctx.out.clone(),
            source: ctx.source.clone(),
            metrics: ctx.metrics.clone(),
            max_frame: s.max_frame_size,
            batch_max: s.batch_max,
            idle_timeout: s.idle_timeout,
            frame_timeout: s.frame_timeout,
            tls_handshake_timeout: s.tls_handshake_timeout,
            connections: Arc::new(policy::Connections::new(
                s.max_connections,
                s.max_connections_per_ip,
                ctx.metrics.gauge("connections"),
            )),
            logs: Throttles::default(),
            truncated: SmolStr::new(format!(
                "frame longer than max_frame_size ({} bytes), truncated",
                s.max_frame_size
            )),
        }
    }

    /// Sends `records` as one batch, waiting while the pipeline is full. Returns `false` when
    /// the pipeline is gone (the records are counted as dropped).
    async fn send(&self, records: Vec<RawRecord>) -> bool {
        if records.is_empty() {
            return true;
        }
        let n = records.len() as u64;
        self.metrics.events_in(n);
        let batch = RawBatch {
            source: self.source.clone(),
            records,
        };
        if self.out.send_async(batch).await.is_err() {
            self.metrics.drop("pipeline_closed", n);
            return false;
        }
        true
    }
}
