//! Syslog over TCP and TLS: the accept loop and one task per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use smol_str::SmolStr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use vigil_event::Timestamp;
use vigil_parse::framing::{Frame, FrameError, Framer};
use vigil_pipeline::{RawRecord, ShutdownSignal};

use super::Shared;
use super::policy::{Eviction, Slot};
use crate::IngestError;

/// Most bytes asked for per read (a fast sender's reads grow to this).
const READ_MAX: usize = 64 * 1024;
/// Fewest bytes asked for per read, and what a new connection's buffer starts with: a slow
/// sender's line or two. A thousand quiet or idle connections then hold a few MiB of buffers,
/// not the 64 MiB that `READ_MAX` each would (the hostile soak's 1,024 idle connections).
const READ_MIN: usize = 2 * 1024;
/// Reads allowed while draining a connection at shutdown (bounds the time a fast sender can
/// keep a connection open after the signal).
const SHUTDOWN_DRAIN_READS: usize = 64;
/// An evicted connection is closed gracefully: its write side is shut down (FIN, or TLS
/// close_notify), then what the sender sends is read until it closes its side (it has seen the
/// FIN) or [`EVICTED_DRAIN`] has passed since the eviction. Closing at once would discard what
/// sits unread in the socket, and closing before the sender has closed would discard what it
/// writes before it notices the FIN (the kernel answers both with a reset): lines a legitimate
/// sender had already handed to its kernel. A pause of the sender does not end the drain
/// (issue 11: a 100 ms pause did, and on a loaded machine senders that were slower than that
/// to see the FIN lost the lines they wrote meanwhile). A client that never closes costs a
/// descriptor for this long after its eviction; its slot is free at once.
const EVICTED_DRAIN: Duration = Duration::from_secs(1);
/// The transport error of an octet-counted frame cut short by the end of the stream.
const INCOMPLETE: &str = "stream ended inside an octet-counted frame";
/// Pause after an `accept` that failed for want of a resource (out of file descriptors), so
/// the loop does not spin on the connection still waiting in the backlog.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Advice for a failed bind, appended to the OS error.
pub(crate) fn bind_hint(e: &io::Error, addr: SocketAddr) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "; another process already listens there (`ss -lntup 'sport = :{}'` shows which, \
             often rsyslog or syslog-ng): stop it or choose another port",
            addr.port()
        ),
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability \
             (`setcap cap_net_bind_service=+ep <binary>`), or use a port of 1024 or above"
                .to_owned()
        }
        io::ErrorKind::AddrNotAvailable => {
            "; the address is not assigned to any interface of this host: use 0.0.0.0, [::] \
             or one of its addresses"
                .to_owned()
        }
        _ => String::new(),
    }
}

/// Opens a listening TCP socket (SO_REUSEADDR, so a restart does not wait for TIME_WAIT).
pub(crate) fn bind(
    addr: SocketAddr,
    transport: &'static str,
) -> Result<std::net::TcpListener, IngestError> {
    let err = |source: io::Error| IngestError::Bind {
        transport,
        addr,
        hint: bind_hint(&source, addr),
        source,
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(1024).map_err(err)?;
    Ok(socket.into())
}

/// Whether a failed `accept` means the process or system is out of a resource (descriptors,
/// buffers, memory): then the loop pauses before trying again, or it would spin on the
/// connection still waiting. A connection that died in the backlog (aborted, reset) or an
/// interrupted call is not: the next accept may succeed at once.
fn accept_error_needs_pause(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Accepts connections until shutdown; each runs in its own task on `tracker`, holding a slot
/// of the connection policy ([`super::policy`]).
pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    mut shutdown: ShutdownSignal,
) {
    let transport = if tls.is_some() { "tls" } else { "tcp" };
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.wait() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                shared.metrics.error("accept", 1);
                let pause = accept_error_needs_pause(&e);
                if let Some(suppressed) = shared.logs.accept.allow() {
                    tracing::warn!(
                        connector = %shared.source.id, transport, error = %e, suppressed,
                        "syslog accept failed{}",
                        if pause { "; pausing before the next accept" } else { "" }
                    );
                }
                if !pause {
                    continue;
                }
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        // the process's descriptor budget (vigil_pipeline::descriptors) keeps descriptors in
        // reserve for the store: past it the connection is closed at once, counted
        let Some(permit) = vigil_pipeline::ConnectionBudget::global().try_acquire() else {
            shared.metrics.error("refused_descriptor_budget", 1);
            if let Some(suppressed) = shared.logs.accept.allow() {
                tracing::warn!(
                    connector = %shared.source.id, transport, %peer, suppressed,
                    "syslog connection refused: the process's descriptor budget for connections \
                     is spent (raise the open-files limit)"
                );
            }
            drop(stream);
            continue;
        };
        let admitted = shared.connections.admit(peer.ip());
        if let Some(eviction) = admitted.evicted {
            shared.metrics.error(eviction.reason(), 1);
            if let Some(suppressed) = shared.logs.evicted.allow() {
                tracing::warn!(
                    connector = %shared.source.id, transport, %peer, suppressed,
                    reason = eviction.reason(),
                    "syslog connection limit reached: closed the longest-idle connection {} \
                     to admit a new one",
                    match eviction {
                        Eviction::Full => "of all (max_connections)",
                        Eviction::PerIp => "of this address (max_connections_per_ip)",
                    }
                );
            }
        }
        let slot = admitted.slot;
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tracker.spawn(async move {
            let _permit = permit;
            match tls {
                None => serve(stream, peer, &shared, &slot, shutdown).await,
                Some(acceptor) => serve_tls(stream, peer, acceptor, &shared, &slot, shutdown).await,
            }
        });
    }
    // the connections wait on their slots only (not on the shutdown signal): shutdown reaches
    // them there
    shared.connections.cancel_all();
    tracing::debug!(connector = %shared.source.id, transport, "syslog listener stopped");
}

async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: &Shared,
    slot: &Slot,
    mut shutdown: ShutdownSignal,
) {
    let handshake = tokio::select! {
        biased;
        () = shutdown.wait() => return,
        () = slot.evicted() => return,
        r = tokio::time::timeout(shared.tls_handshake_timeout, acceptor.accept(stream)) => r,
    };
    let failure = match handshake {
        Ok(Ok(s)) => return serve(s, peer, shared, slot, shutdown).await,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no handshake within tls_handshake_timeout ({:?})",
            shared.tls_handshake_timeout
        ),
    };
    shared.metrics.error("tls_handshake", 1);
    if let Some(suppressed) = shared.logs.tls_handshake.allow() {
        tracing::debug!(
            connector = %shared.source.id, %peer, error = %failure, suppressed,
            "syslog TLS handshake failed"
        );
    }
}

/// Why a connection ended.
enum End {
    Eof,
    /// No complete frame for `idle_timeout`.
    Idle,
    /// A frame begun more than `frame_timeout` ago is still not complete.
    FrameTimeout,
    /// Closed to admit another connection (already counted at the admission).
    Evicted,
    Error(io::Error),
    Shutdown,
    PipelineClosed,
}

/// Reads one connection until EOF, a deadline, eviction, an error or shutdown, sending a batch
/// per read.
///
/// Two deadlines, whichever comes first: `idle_timeout` after the last complete frame (or the
/// start), and `frame_timeout` after the read that began the frame still unfinished. Bytes
/// that do not complete a frame move neither, so dripping them cannot hold the connection.
async fn serve<S>(
    mut stream: S,
    peer: SocketAddr,
    shared: &Shared,
    slot: &Slot,
    mut shutdown: ShutdownSignal,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Connection {
        framer: Framer::new(shared.max_frame),
        buf: BytesMut::with_capacity(READ_MIN),
        read: ReadSize::default(),
        peer,
        shared,
    };
    let mut last_frame = Instant::now();
    let mut frame_began: Option<Instant> = None;
    let deadline = |last_frame: Instant, frame_began: Option<Instant>| {
        let idle_at = last_frame + shared.idle_timeout;
        match frame_began {
            Some(t) if t + shared.frame_timeout < idle_at => {
                (t + shared.frame_timeout, End::FrameTimeout)
            }
            _ => (idle_at, End::Idle),
        }
    };
    let end = {
        // Registered once for the connection, not once per read (issue 11: a thousand
        // connections delivering a line per read each registered a wait on the shared
        // shutdown signal, on their slot and on a new timer at every read): the wait on the
        // slot, which the accept loop also cancels at shutdown (`Connections::cancel_all`),
        // and one timer, moved only when the deadline comes earlier (a frame begins); when it
        // fires early (frames arrived since it was set), it is set to the real deadline.
        let stopped = slot.evicted();
        let timer = tokio::time::sleep_until(deadline(last_frame, frame_began).0);
        tokio::pin!(stopped, timer);
        loop {
            let room = conn.make_room();
            let read = tokio::select! {
                biased;
                () = &mut stopped => {
                    break if shutdown.is_triggered() { End::Shutdown } else { End::Evicted };
                }
                () = &mut timer => {
                    let (at, timeout) = deadline(last_frame, frame_began);
                    if Instant::now() >= at {
                        break timeout;
                    }
                    timer.as_mut().reset(at);
                    continue;
                }
                r = stream.read_buf(&mut conn.buf) => r,
            };
            match read {
                Ok(0) => break End::Eof,
                Ok(n) => {
                    shared.metrics.bytes_in(n as u64);
                    conn.read.after_read(n, room);
                    let Some(records) = conn.send_frames().await else {
                        break End::PipelineClosed;
                    };
                    let now = Instant::now();
                    if records > 0 {
                        last_frame = now;
                        slot.frame_delivered();
                    }
                    frame_began = if !conn.framer.in_frame(&conn.buf) {
                        None
                    } else if records > 0 {
                        // the unfinished frame follows one that this read completed
                        Some(now)
                    } else {
                        frame_began.or(Some(now))
                    };
                    let (at, _) = deadline(last_frame, frame_began);
                    if at < timer.deadline() {
                        timer.as_mut().reset(at);
                    }
                }
                // A TLS peer that closes the TCP connection without close_notify: a plain EOF
                // for syslog, where each frame is complete in itself.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break End::Eof,
                Err(e) => break End::Error(e),
            }
        }
    };
    let id = &shared.source.id;
    match &end {
        End::Eof => tracing::trace!(connector = %id, %peer, "syslog connection closed by peer"),
        End::Idle => {
            shared.metrics.error("idle_timeout", 1);
            if let Some(suppressed) = shared.logs.idle_timeout.allow() {
                tracing::debug!(
                    connector = %id, %peer, suppressed,
                    "syslog connection closed: no complete frame within idle_timeout"
                );
            }
        }
        End::FrameTimeout => {
            shared.metrics.error("frame_timeout", 1);
            if let Some(suppressed) = shared.logs.frame_timeout.allow() {
                tracing::warn!(
                    connector = %id, %peer, suppressed,
                    "syslog connection closed: a frame was not completed within frame_timeout \
                     (a stalled or hostile sender); what arrived is kept"
                );
            }
        }
        End::Evicted => {
            tracing::trace!(connector = %id, %peer, "syslog connection evicted");
            if conn
                .drain_evicted(&mut stream, &mut shutdown)
                .await
                .is_none()
            {
                return;
            }
        }
        End::Error(e) => {
            shared.metrics.error("read", 1);
            if let Some(suppressed) = shared.logs.read.allow() {
                tracing::debug!(
                    connector = %id, %peer, error = %e, suppressed,
                    "syslog connection read failed"
                );
            }
        }
        End::Shutdown => {
            if conn.take_waiting(&mut stream).await.is_none() {
                return;
            }
        }
        End::PipelineClosed => return,
    }
    conn.finish().await;
    // Best effort (a TLS close_notify); a stalled peer must not hold the task.
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

/// How many bytes to ask for per read: it doubles (up to [`READ_MAX`]) after a read that filled
/// the room it had, and halves (down to [`READ_MIN`]) after one that used less than a quarter
/// of it. A read that did not fill its room drained the socket, so a larger buffer would not
/// have saved a read: the size follows what the sender delivers per wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadSize {
    want: usize,
}

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize { want: READ_MIN }
    }
}

impl ReadSize {
    /// Adapts to a read of `n` bytes into `room` bytes of room.
    fn after_read(&mut self, n: usize, room: usize) {
        if n >= room {
            self.want = (self.want * 2).min(READ_MAX);
        } else if n < self.want / 4 {
            self.want = (self.want / 2).max(READ_MIN);
        }
    }
}

struct Connection<'a> {
    framer: Framer,
    buf: BytesMut,
    read: ReadSize,
    peer: SocketAddr,
    shared: &'a Shared,
}

impl Connection<'_> {
    /// Makes room for the next read and returns it: at least half the wanted read size. Frames
    /// split off earlier may still share the allocation, so this allocates a fresh block about
    /// once per full buffer. An empty buffer much larger than wanted is let go (to the frames
    /// still holding it), so a sender that slowed down stops holding a large block.
    fn make_room(&mut self) -> usize {
        let want = self.read.want;
        if self.buf.is_empty() && self.buf.capacity() > 4 * want {
            self.buf = BytesMut::with_capacity(want);
        } else if self.buf.capacity() - self.buf.len() < want / 2 {
            self.buf.reserve(want);
        }
        self.buf.capacity() - self.buf.len()
    }

    fn record(&self, frame: Frame, received: Timestamp) -> RawRecord {
        let transport_error = if !frame.truncated {
            None
        } else if frame.data.len() < self.shared.max_frame {
            // only at the end of a stream: the count promised more than arrived
            self.shared.metrics.error("incomplete_frame", 1);
            Some(SmolStr::new_static(INCOMPLETE))
        } else {
            self.shared.metrics.error("oversized_frame", 1);
            Some(self.shared.truncated.clone())
        };
        RawRecord {
            data: frame.data,
            received,
            peer: Some(self.peer),
            transport_error,
        }
    }

    /// Turns one decode result into a record, or `None` when the framer needs more input.
    fn next(
        &mut self,
        result: Result<Option<Frame>, FrameError>,
        received: Timestamp,
    ) -> Option<RawRecord> {
        match result {
            Ok(Some(frame)) => Some(self.record(frame, received)),
            Ok(None) => None,
            Err(FrameError::BadOctetCount {
                offset,
                reason,
                data,
            }) => {
                self.shared.metrics.error("bad_octet_count", 1);
                let mark = SmolStr::new(format!(
                    "bad octet count at stream offset {offset}: {reason}"
                ));
                Some(RawRecord {
                    data,
                    received,
                    peer: Some(self.peer),
                    transport_error: Some(mark),
                })
            }
            Err(FrameError::Io(e)) => {
                // The framer itself does no I/O; kept for completeness.
                self.shared.metrics.error("read", 1);
                tracing::debug!(peer = %self.peer, error = %e, "syslog framing i/o error");
                None
            }
        }
    }

    /// Sends every complete frame in the buffer, `batch_max` at a time, and returns how many
    /// records that made; `None` when the pipeline is gone.
    async fn send_frames(&mut self) -> Option<usize> {
        let received = Timestamp::now();
        let batch_max = self.shared.batch_max;
        let mut records = Vec::new();
        let mut total = 0;
        loop {
            let r = self.framer.decode(&mut self.buf);
            let Some(rec) = self.next(r, received) else {
                break;
            };
            if records.capacity() == 0 {
                // syslog lines are rarely shorter than 64 bytes
                records.reserve(batch_max.min(self.buf.len() / 64 + 1));
            }
            records.push(rec);
            total += 1;
            if records.len() >= batch_max && !self.shared.send(std::mem::take(&mut records)).await {
                return None;
            }
        }
        self.shared.send(records).await.then_some(total)
    }

    /// The graceful close of an evicted connection ([`EVICTED_DRAIN`]): shuts down the write
    /// side, then reads and sends what the sender sends until it closes, the drain deadline
    /// passes or shutdown begins (then what is already waiting is read, as at any shutdown).
    /// Waiting for the pipeline does not count against the deadline (what was read is never
    /// dropped). `None` when the pipeline is gone.
    async fn drain_evicted<S>(
        &mut self,
        stream: &mut S,
        shutdown: &mut ShutdownSignal,
    ) -> Option<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut until = Instant::now() + EVICTED_DRAIN;
        // FIN (or close_notify) tells the sender to stop; its bytes already sent still arrive
        let _ = tokio::time::timeout_at(until, stream.shutdown()).await;
        loop {
            let room = self.make_room();
            let read = tokio::select! {
                biased;
                () = shutdown.wait() => return self.take_waiting(stream).await,
                r = tokio::time::timeout_at(until, stream.read_buf(&mut self.buf)) => r,
            };
            match read {
                Ok(Ok(n)) if n > 0 => {
                    self.shared.metrics.bytes_in(n as u64);
                    self.read.after_read(n, room);
                    let waited = Instant::now();
                    self.send_frames().await?;
                    // the pipeline's backpressure is not the sender's time
                    until += waited.elapsed();
                }
                // EOF (the sender closed), an error (a reset) or past the deadline
                _ => return Some(()),
            }
        }
    }

    /// At shutdown: reads and sends what is already waiting in the socket, without waiting
    /// for more (at most [`SHUTDOWN_DRAIN_READS`] reads). `None` when the pipeline is gone.
    async fn take_waiting<S>(&mut self, stream: &mut S) -> Option<()>
    where
        S: AsyncRead + Unpin,
    {
        for _ in 0..SHUTDOWN_DRAIN_READS {
            self.make_room();
            match tokio::time::timeout(Duration::ZERO, stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    self.shared.metrics.bytes_in(n as u64);
                    self.send_frames().await?;
                }
                _ => break,
            }
        }
        Some(())
    }

    /// End of the stream: sends the frames still buffered, including the unterminated tail.
    async fn finish(&mut self) {
        let received = Timestamp::now();
        let mut records = Vec::new();
        loop {
            let r = self.framer.finish(&mut self.buf);
            let Some(rec) = self.next(r, received) else {
                break;
            };
            records.push(rec);
        }
        self.shared.send(records).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new connection reads into a small buffer; a fast sender's reads grow to `READ_MAX` in
    /// a few reads, and a sender that slows down gets small reads again (issue 11: 1,024 idle
    /// connections held 64 KiB each).
    #[test]
    fn read_size_follows_what_the_sender_delivers() {
        let mut r = ReadSize::default();
        assert_eq!(r.want, READ_MIN);
        // a slow sender: a line per read
        r.after_read(190, READ_MIN);
        assert_eq!(r.want, READ_MIN);
        // a fast one: every read fills its room
        let mut reads = 0;
        while r.want < READ_MAX {
            r.after_read(r.want, r.want);
            reads += 1;
        }
        assert_eq!(reads, 5);
        r.after_read(READ_MAX, READ_MAX);
        assert_eq!(r.want, READ_MAX);
        // a read that drained the socket with half its room used keeps the size
        r.after_read(READ_MAX / 2, READ_MAX);
        assert_eq!(r.want, READ_MAX);
        // slowing down: back to the smallest size
        for _ in 0..10 {
            r.after_read(190, r.want);
        }
        assert_eq!(r.want, READ_MIN);
    }
}
