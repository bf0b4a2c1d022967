//! Syslog over UDP: one datagram is one record.
//!
//! Datagrams are received into large shared blocks and split off as `Bytes`, so a record
//! costs no allocation of its own. After the first datagram of a wake-up the socket is
//! drained without waiting, so a burst becomes one batch. What the kernel drops because the
//! receive buffer was full never reaches us: it is read from `/proc/net/udp{,6}` (the `drops`
//! column of this socket's inode) every second and reported as `kernel_udp_overflow`.
//!
//! Memory stays bounded under a flood: a batch holds at most `batch_max` records and is
//! closed once it holds [`BATCH_BYTES`] bytes, and the receive loop waits while the pipeline's
//! bounded queue is full. Meanwhile datagrams pile up in the kernel's receive buffer (fixed size) and the
//! excess is dropped there, counted as above. Nothing is queued in Vigil beyond that.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio_util::task::TaskTracker;
use vigil_event::Timestamp;
use vigil_pipeline::{RawRecord, ShutdownSignal};

use super::Shared;
use super::stream::bind_hint;
use crate::IngestError;

/// Room reserved for one datagram: the largest UDP payload fits, so none is cut by the kernel.
const MAX_DATAGRAM: usize = 65536;
/// Size of the blocks datagrams are received into.
const BLOCK: usize = 1024 * 1024;
/// Most datagram bytes in one batch. Without it a flood of large datagrams drained without
/// waiting would make batches of `batch_max` × 64 KiB, and the pipeline's queue of batches
/// would hold that many times over. Small datagrams (syslog lines) reach `batch_max` first.
const BATCH_BYTES: usize = 256 * 1024;
/// How often the kernel's drop counter is read.
const DROP_POLL: Duration = Duration::from_secs(1);

/// A bound UDP socket and the receive buffer the kernel granted.
#[derive(Debug)]
pub(super) struct BoundUdp {
    pub(super) socket: std::net::UdpSocket,
    pub(super) local: SocketAddr,
    pub(super) granted_recv_buffer: usize,
}

pub(super) fn bind(addr: SocketAddr, recv_buffer: Option<usize>) -> Result<BoundUdp, IngestError> {
    let err = |source: io::Error| IngestError::Bind {
        transport: "for syslog over UDP",
        addr,
        hint: bind_hint(&source, addr),
        source,
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(err)?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).map_err(err)?;
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    let granted = socket.recv_buffer_size().map_err(err)?;
    // Linux reports twice the size set (the other half is for bookkeeping, socket(7)); less
    // than the request means `net.core.rmem_max` capped it.
    let usable = if cfg!(target_os = "linux") {
        granted / 2
    } else {
        granted
    };
    if let Some(asked) = recv_buffer
        && usable < asked
    {
        tracing::warn!(
            %addr,
            asked,
            granted,
            "the kernel granted a smaller UDP receive buffer than configured; bursts may be \
             dropped (counted as kernel_udp_overflow): raise net.core.rmem_max"
        );
    }
    let socket: std::net::UdpSocket = socket.into();
    let local = socket.local_addr().map_err(err)?;
    Ok(BoundUdp {
        socket,
        local,
        granted_recv_buffer: granted,
    })
}

/// Starts the receive loop and the kernel-drop poller.
pub(super) fn spawn(
    sock: UdpSocket,
    shared: Arc<Shared>,
    tracker: &TaskTracker,
    shutdown: ShutdownSignal,
) {
    if let Some(inode) = socket_inode(&sock) {
        tracker.spawn(poll_kernel_drops(inode, shared.clone(), shutdown.clone()));
    }
    tracker.spawn(receive(sock, shared, shutdown));
}

async fn receive(sock: UdpSocket, shared: Arc<Shared>, mut shutdown: ShutdownSignal) {
    let mut buf = BytesMut::with_capacity(BLOCK);
    loop {
        make_room(&mut buf);
        let first = tokio::select! {
            biased;
            () = shutdown.wait() => break,
            r = sock.recv_buf_from(&mut buf) => r,
        };
        let received = Timestamp::now();
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut result = first;
        loop {
            match result {
                Ok((n, peer)) => {
                    shared.metrics.bytes_in(n as u64);
                    bytes += n;
                    let data = buf.split_to(n);
                    if let Some(rec) = record(data, peer, received, &shared) {
                        records.push(rec);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // e.g. ICMP errors reported on the socket; the socket stays usable
                    shared.metrics.error("udp_recv", 1);
                    tracing::debug!(
                        connector = %shared.source.id, error = %e,
                        "syslog UDP receive failed"
                    );
                    break;
                }
            }
            if records.len() >= shared.batch_max || bytes >= BATCH_BYTES {
                break;
            }
            make_room(&mut buf);
            result = sock.try_recv_buf_from(&mut buf);
        }
        if !shared.send(records).await {
            break;
        }
    }
    tracing::debug!(connector = %shared.source.id, "syslog UDP listener stopped");
}

/// Leaves room for a whole datagram, starting a new block when the current one is used up
/// (everything before was split off, so `buf` is empty then).
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < MAX_DATAGRAM {
        *buf = BytesMut::with_capacity(BLOCK);
    }
}

/// One datagram as a record: trailing LF, CR and NUL removed, cut to `max_frame`.
fn record(
    mut data: BytesMut,
    peer: SocketAddr,
    received: Timestamp,
    shared: &Shared,
) -> Option<RawRecord> {
    let keep = data
        .iter()
        .rposition(|&c| !matches!(c, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    data.truncate(keep);
    if data.is_empty() {
        shared.metrics.error("empty_datagram", 1);
        return None;
    }
    let transport_error = if data.len() > shared.max_frame {
        data.truncate(shared.max_frame);
        shared.metrics.error("oversized_frame", 1);
        Some(shared.truncated.clone())
    } else {
        None
    };
    Some(RawRecord {
        data: data.freeze(),
        received,
        peer: Some(peer),
        transport_error,
    })
}

#[cfg(target_os = "linux")]
pub(crate) fn socket_inode(sock: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", sock.as_raw_fd())).ok()?;
    let link = link.to_str()?;
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn socket_inode(_sock: &UdpSocket) -> Option<u64> {
    None
}

/// The `drops` column of the socket with `inode` in a `/proc/net/udp` table. Streams the
/// table line by line: it has a line per UDP socket of the host.
fn drops_in_table(table: impl std::io::BufRead, inode: u64) -> Option<u64> {
    table
        .lines()
        .skip(1)
        .map_while(Result::ok)
        .find_map(|line| {
            let mut cols = line.split_whitespace();
            if cols.nth(9)?.parse::<u64>().ok()? != inode {
                return None;
            }
            cols.nth(2)?.parse().ok()
        })
}

pub(crate) fn read_kernel_drops(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|path| {
        let file = std::fs::File::open(path).ok()?;
        drops_in_table(std::io::BufReader::new(file), inode)
    })
}

async fn poll_kernel_drops(inode: u64, shared: Arc<Shared>, mut shutdown: ShutdownSignal) {
    let mut tick = tokio::time::interval(DROP_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            biased;
            () = shutdown.wait() => true,
            _ = tick.tick() => false,
        };
        if let Some(drops) = read_kernel_drops(inode) {
            shared.metrics.set_drops("kernel_udp_overflow", drops);
        }
        if stop {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_drop_count_of_the_inode() {
        let table = "\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 11111 2 0000000000000000 0
  456: 00000000:0202 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 22222 2 0000000000000000 1789
";
        assert_eq!(drops_in_table(table.as_bytes(), 22222), Some(1789));
        assert_eq!(drops_in_table(table.as_bytes(), 11111), Some(0));
        assert_eq!(drops_in_table(table.as_bytes(), 33333), None);
        assert_eq!(drops_in_table(&b""[..], 1), None);
    }
}
