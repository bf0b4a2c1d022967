//! The API's listener: accepts connections (plain or TLS) under a connection cap and the
//! process's descriptor budget, and closes the ones that stall.
//!
//! Every connection has a slot in a table for its life. A connection that has not sent the
//! headers of its first request within [`ApiLimits::header_read_timeout`] of being accepted
//! (TLS handshake included) is closed, and so is one idle between requests for longer than
//! [`ApiLimits::idle_timeout`]; hyper's own HTTP/1 header timer covers the later requests of a
//! keep-alive connection. When the table is full, or the process-wide
//! [`ConnectionBudget`](vigil_pipeline::ConnectionBudget) is spent, a new connection takes the
//! slot of the connection that has waited longest without a request in progress (it is closed),
//! so a flood of half-sent requests cannot keep `/health` or a search from getting in; only when
//! every connection is busy with a request is the new one refused. Everything is counted on
//! the `api`/`http` component: the `connections` gauge, and errors by reason
//! (`refused_connection_limit`, `refused_descriptor_budget`, `connection_evicted`,
//! `header_timeout`, `idle_timeout`, `tls_handshake`, `accept_failed`).
//!
//! Each request carries the peer address as axum's `ConnectInfo<SocketAddr>` on both paths.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt as _;
use vigil_pipeline::{ComponentMetrics, ConnectionBudget, ConnectionPermit, ShutdownSignal};

use crate::auth::AuthPolicy;

/// The API's limits (`api.*` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// Most requests in progress at once (other than `/health`); more get 503 `overloaded`.
    pub max_concurrent_requests: usize,
    /// Time to send the headers of a request (the first one: counted from the accept).
    pub header_read_timeout: Duration,
    /// Time to send a request body; slower ones get 408 `body_timeout`.
    pub body_read_timeout: Duration,
    /// Idle time allowed between requests on a keep-alive connection.
    pub idle_timeout: Duration,
    /// Failed-authentication throttling and logging.
    pub auth: AuthPolicy,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_connections: 512,
            max_concurrent_requests: 64,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            auth: AuthPolicy::default(),
        }
    }
}

/// How long open connections get to finish their requests at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What a connection does, read by its watchdog and by eviction.
#[derive(Debug)]
struct Activity {
    accepted: Instant,
    /// Requests started on the connection.
    requests: AtomicU64,
    /// Requests in progress.
    busy: AtomicI64,
    /// When the last request ended, in ms after `accepted`.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new(now: Instant) -> Activity {
        Activity {
            accepted: now,
            requests: AtomicU64::new(0),
            busy: AtomicI64::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    /// `None` while a request is in progress; otherwise since when the connection waits.
    fn idle_since(&self) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.accepted + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire)))
    }

    /// When the connection is due to be closed and why; `None` while a request is in progress.
    fn deadline(&self, limits: &ApiLimits) -> Option<(Instant, &'static str)> {
        let since = self.idle_since()?;
        if self.requests.load(Ordering::Acquire) == 0 {
            Some((self.accepted + limits.header_read_timeout, "header_timeout"))
        } else {
            Some((since + limits.idle_timeout, "idle_timeout"))
        }
    }
}

/// Marks a request in progress on a connection for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(a: &Arc<Activity>) -> InFlight {
        a.requests.fetch_add(1, Ordering::AcqRel);
        a.busy.fetch_add(1, Ordering::AcqRel);
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = self.0.accepted.elapsed().as_millis() as u64;
        self.0.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Slot {
    activity: Arc<Activity>,
    close: Arc<Notify>,
    permit: ConnectionPermit,
}

/// The table of open connections.
struct Connections {
    slots: Mutex<(u64, HashMap<u64, Slot>)>,
    max: usize,
    budget: Arc<ConnectionBudget>,
    metrics: ComponentMetrics,
    open: Arc<AtomicI64>,
}

enum Admission {
    Admitted(SlotGuard, Arc<Activity>, Arc<Notify>),
    Refused(&'static str),
}

/// Frees a connection's slot (and its share of the descriptor budget) when the connection ends.
struct SlotGuard {
    conns: Arc<Connections>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut s = self.conns.slots.lock();
        if s.1.remove(&self.id).is_some() {
            self.conns.open.store(s.1.len() as i64, Ordering::Relaxed);
        }
    }
}

impl Connections {
    fn admit(self: &Arc<Self>, now: Instant) -> Admission {
        let mut s = self.slots.lock();
        let (refusal, permit) = if s.1.len() >= self.max {
            ("refused_connection_limit", None)
        } else {
            ("refused_descriptor_budget", self.budget.try_acquire())
        };
        let permit = match permit {
            Some(p) => p,
            None => {
                // the connection that has waited longest without a request in progress
                let victim =
                    s.1.iter()
                        .filter_map(|(id, slot)| slot.activity.idle_since().map(|t| (t, *id)))
                        .min();
                let Some((_, id)) = victim else {
                    return Admission::Refused(refusal);
                };
                let Some(slot) = s.1.remove(&id) else {
                    return Admission::Refused(refusal);
                };
                slot.close.notify_one();
                self.metrics.error("connection_evicted", 1);
                slot.permit
            }
        };
        let id = s.0;
        s.0 += 1;
        let activity = Arc::new(Activity::new(now));
        let close = Arc::new(Notify::new());
        s.1.insert(
            id,
            Slot {
                activity: activity.clone(),
                close: close.clone(),
                permit,
            },
        );
        self.open.store(s.1.len() as i64, Ordering::Relaxed);
        drop(s);
        Admission::Admitted(
            SlotGuard {
                conns: self.clone(),
                id,
            },
            activity,
            close,
        )
    }
}

/// Waits until the connection is due to be closed; returns the reason.
async fn expired(activity: &Activity, limits: &ApiLimits) -> &'static str {
    loop {
        match activity.deadline(limits) {
            Some((at, reason)) if at <= Instant::now() => return reason,
            Some((at, _)) => tokio::time::sleep_until(at).await,
            // a request is in progress: look again later
            None => tokio::time::sleep(limits.idle_timeout.min(limits.header_read_timeout)).await,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` fires, over TLS when `tls` is given, under
/// `limits`; counts on `metrics` (the `api`/`http` component).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ApiLimits,
    metrics: ComponentMetrics,
    shutdown: ShutdownSignal,
) -> std::io::Result<()> {
    serve_with_budget(
        listener,
        app,
        tls,
        limits,
        metrics,
        ConnectionBudget::global(),
        shutdown,
    )
    .await
}

async fn serve_with_budget(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ApiLimits,
    metrics: ComponentMetrics,
    budget: Arc<ConnectionBudget>,
    mut shutdown: ShutdownSignal,
) -> std::io::Result<()> {
    let conns = Arc::new(Connections {
        slots: Mutex::new((0, HashMap::new())),
        max: limits.max_connections.max(1),
        budget,
        open: metrics.gauge("connections"),
        metrics: metrics.clone(),
    });
    metrics
        .gauge("max_connections")
        .store(limits.max_connections as i64, Ordering::Relaxed);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let limits = Arc::new(limits);
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // out of descriptors (EMFILE) or a connection reset before accept: count,
                    // warn at most every 10 s, and pause instead of spinning
                    metrics.error("accept_failed", 1);
                    let now = Instant::now();
                    if last_accept_warning.is_none_or(|t| now - t >= Duration::from_secs(10)) {
                        last_accept_warning = Some(now);
                        tracing::warn!(error = %e, "API accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (guard, activity, close) = match conns.admit(Instant::now()) {
            Admission::Admitted(g, a, c) => (g, a, c),
            Admission::Refused(reason) => {
                metrics.error(reason, 1);
                tracing::debug!(%peer, reason, "API connection refused");
                drop(stream);
                continue;
            }
        };
        let conn = Conn {
            peer,
            app: app.clone(),
            activity,
            close,
            limits: limits.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            _guard: guard,
        };
        let acceptor = acceptor.clone();
        tasks.spawn(async move {
            match acceptor {
                None => conn.run(stream).await,
                Some(acceptor) => conn.run_tls(acceptor, stream).await,
            }
        });
    }
    // shutdown: connections finish their requests (each got the signal), then the rest is cut
    let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    Ok(())
}

/// One accepted connection.
struct Conn {
    peer: SocketAddr,
    app: Router,
    activity: Arc<Activity>,
    close: Arc<Notify>,
    limits: Arc<ApiLimits>,
    metrics: ComponentMetrics,
    shutdown: ShutdownSignal,
    _guard: SlotGuard,
}

impl Conn {
    async fn run_tls(mut self, acceptor: tokio_rustls::TlsAcceptor, stream: tokio::net::TcpStream) {
        let tls = tokio::select! {
            r = acceptor.accept(stream) => match r {
                Ok(s) => s,
                Err(e) => {
                    self.metrics.error("tls_handshake", 1);
                    tracing::debug!(peer = %self.peer, error = %e, "API TLS handshake failed");
                    return;
                }
            },
            reason = expired(&self.activity, &self.limits) => {
                self.metrics.error(reason, 1);
                tracing::debug!(peer = %self.peer, reason, "API TLS handshake timed out");
                return;
            }
            _ = self.close.notified() => return,
            _ = self.shutdown.wait() => return,
        };
        self.run(tls).await
    }

    async fn run<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let app = self.app.clone();
        let activity = self.activity.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = InFlight::start(&activity);
                let app = app.clone();
                async move {
                    let resp = app.oneshot(req).await;
                    drop(in_flight);
                    resp
                }
            });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(
                u32::try_from(self.limits.max_concurrent_requests).unwrap_or(u32::MAX),
            );
        let conn = builder.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let mut draining: Option<Instant> = None;
        let far = Instant::now() + Duration::from_secs(365 * 86_400);
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        let timeout = e
                            .downcast_ref::<hyper::Error>()
                            .is_some_and(hyper::Error::is_timeout);
                        if timeout {
                            self.metrics.error("header_timeout", 1);
                        }
                        tracing::debug!(%peer, error = %e, "API connection ended with an error");
                    }
                    return;
                }
                reason = expired(&self.activity, &self.limits), if draining.is_none() => {
                    self.metrics.error(reason, 1);
                    tracing::debug!(%peer, reason, "API connection closed");
                    return;
                }
                // evicted for a newer connection: counted when it was chosen
                _ = self.close.notified(), if draining.is_none() => return,
                _ = self.shutdown.wait(), if draining.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    draining = Some(Instant::now() + SHUTDOWN_GRACE);
                }
                _ = tokio::time::sleep_until(draining.unwrap_or(far)), if draining.is_some() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conns(max: usize, budget: usize) -> Arc<Connections> {
        let metrics = ComponentMetrics::detached("api", "http");
        Arc::new(Connections {
            slots: Mutex::new((0, HashMap::new())),
            max,
            budget: ConnectionBudget::new(budget),
            open: metrics.gauge("connections"),
            metrics,
        })
    }

    fn admitted(a: Admission) -> (SlotGuard, Arc<Activity>, Arc<Notify>) {
        match a {
            Admission::Admitted(g, a, c) => (g, a, c),
            Admission::Refused(r) => panic!("refused: {r}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_evicts_the_longest_idle_connection() {
        let c = conns(2, usize::MAX);
        let t0 = Instant::now();
        let (_g1, a1, close1) = admitted(c.admit(t0));
        let (_g2, _a2, close2) = admitted(c.admit(t0 + Duration::from_secs(1)));
        assert_eq!(c.open.load(Ordering::Relaxed), 2);
        // the oldest waiting one goes
        let (_g3, _a3, _) = admitted(c.admit(t0 + Duration::from_secs(2)));
        assert!(futures_ready(close1.notified()));
        assert!(!futures_ready(close2.notified()));
        assert_eq!(c.metrics.snapshot().errors["connection_evicted"], 1);
        assert_eq!(c.open.load(Ordering::Relaxed), 2);
        drop(a1);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_connections_are_not_evicted_and_the_newcomer_is_refused() {
        let c = conns(2, usize::MAX);
        let t0 = Instant::now();
        let (_g1, a1, _) = admitted(c.admit(t0));
        let (_g2, a2, _) = admitted(c.admit(t0));
        let _r1 = InFlight::start(&a1);
        let _r2 = InFlight::start(&a2);
        assert!(matches!(
            c.admit(t0),
            Admission::Refused("refused_connection_limit")
        ));
        drop(_r2);
        // a2 is idle again: it makes room
        let (_g3, _, _) = admitted(c.admit(t0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_descriptor_budget_is_shared_and_given_back() {
        let c = conns(10, 1);
        let t0 = Instant::now();
        let (g1, a1, _) = admitted(c.admit(t0));
        let _r = InFlight::start(&a1);
        assert!(matches!(
            c.admit(t0),
            Admission::Refused("refused_descriptor_budget")
        ));
        assert_eq!(c.budget.in_use(), 1);
        drop(g1);
        assert_eq!(c.budget.in_use(), 0);
        assert_eq!(c.open.load(Ordering::Relaxed), 0);
        let (_g2, _, _) = admitted(c.admit(t0));
        assert_eq!(c.budget.in_use(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_connection_state() {
        let limits = ApiLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..ApiLimits::default()
        };
        let t0 = Instant::now();
        let a = Arc::new(Activity::new(t0));
        assert_eq!(
            a.deadline(&limits),
            Some((t0 + Duration::from_secs(10), "header_timeout"))
        );
        let r = InFlight::start(&a);
        assert_eq!(a.deadline(&limits), None, "busy: no deadline");
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(r);
        assert_eq!(
            a.deadline(&limits),
            Some((t0 + Duration::from_secs(65), "idle_timeout"))
        );
        assert_eq!(expired(&a, &limits).await, "idle_timeout");
        assert!(Instant::now() >= t0 + Duration::from_secs(65));
    }

    /// Whether a future is ready on its first poll.
    fn futures_ready<F: std::future::Future>(f: F) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        f.as_mut().poll(&mut cx).is_ready()
    }
}
