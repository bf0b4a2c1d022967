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
pub(crate) mod stream;
pub(crate) mod tls;
pub(crate) mod udp;

/// The syslog connector's settings: the validated configuration type itself
/// (`collectors[].connector` with `type: syslog`), one type from the file to the sockets.
pub use vigil_config::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_SYSLOG_FRAME_TIMEOUT as DEFAULT_FRAME_TIMEOUT, DEFAULT_UDP_RECV_BUFFER,
    MAX_MAX_FRAME_SIZE, SyslogConfig as SyslogSettings, SyslogTlsConfig as TlsSettings,
    default_max_connections_per_ip,
};

/// The connector's own guard on settings built in code rather than read from a file (which
/// `vigil-config` has checked): at least one listener, limits above zero. The error names the
/// setting.
fn check(s: &SyslogSettings) -> Result<(), IngestError> {
    let invalid = |field, reason: &str| {
        Err(IngestError::Invalid {
            field,
            reason: reason.to_owned(),
        })
    };
    if s.udp.is_none() && s.tcp.is_none() && s.tls.is_none() {
        return invalid(
            "listen",
            "no listener configured: set at least one of udp, tcp, tls",
        );
    }
    if s.max_frame_size == 0 || s.max_frame_size > MAX_MAX_FRAME_SIZE {
        return Err(IngestError::Invalid {
            field: "max_frame_size",
            reason: format!(
                "{} is out of range (1 to {MAX_MAX_FRAME_SIZE} bytes)",
                s.max_frame_size
            ),
        });
    }
    if s.max_connections == 0 {
        return invalid("max_connections", "must be at least 1");
    }
    if s.max_connections_per_ip == 0 {
        return invalid("max_connections_per_ip", "must be at least 1");
    }
    if s.batch_max == 0 {
        return invalid("batch_max", "must be at least 1");
    }
    if s.idle_timeout.is_zero() {
        return invalid("idle_timeout", "must be longer than zero");
    }
    if s.frame_timeout.is_zero() {
        return invalid("frame_timeout", "must be longer than zero");
    }
    if s.tls_handshake_timeout.is_zero() {
        return invalid("tls_handshake_timeout", "must be longer than zero");
    }
    if s.udp_recv_buffer == Some(0) {
        return invalid(
            "udp_recv_buffer",
            "must be at least 1 byte (or unset for the kernel default)",
        );
    }
    Ok(())
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
        check(&settings)?;
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
        let tcp = s
            .tcp
            .map(|a| stream::bind(a, "for syslog over TCP"))
            .transpose()?;
        let tls = s
            .tls
            .as_ref()
            .map(|t| stream::bind(t.listen, "for syslog over TLS"))
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

    fn listen(&mut self) -> Result<Vec<vigil_pipeline::ListenAddr>, String> {
        let a = self.bind().map_err(|e| e.to_string())?;
        Ok([("udp", a.udp), ("tcp", a.tcp), ("tls", a.tls)]
            .into_iter()
            .filter_map(|(scheme, addr)| {
                Some(vigil_pipeline::ListenAddr {
                    scheme,
                    addr: addr?,
                })
            })
            .collect())
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
            ack: None,
            file: None,
        };
        if self.out.send_async(batch).await.is_err() {
            self.metrics.drop("pipeline_closed", n);
            return false;
        }
        true
    }
}
