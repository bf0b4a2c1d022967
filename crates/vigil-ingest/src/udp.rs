//! UDP listening shared by the datagram connectors (`netflow`, `sflow`, `snmp_trap`): binding with a receive buffer
//! and reporting the kernel's drops, as the syslog connector does.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use vigil_event::Timestamp;
use vigil_pipeline::{
    ComponentError, ComponentMetrics, ConnectorContext, ListenAddr, RawRecord, ShutdownSignal,
};

use crate::IngestError;
use crate::syslog::stream::bind_hint;
use crate::syslog::udp::{read_kernel_drops, socket_inode};

/// Room for the largest UDP payload.
pub(crate) const MAX_DATAGRAM: usize = 65536;

/// A bound, non-blocking UDP socket.
#[derive(Debug)]
pub(crate) struct BoundUdp {
    pub(crate) socket: std::net::UdpSocket,
    pub(crate) local: SocketAddr,
}

/// A datagram connector's listener, bound on first use: by [`LazyUdp::listen`] (so `vigil up`
/// reports the address before it runs) or by [`LazyUdp::run`].
#[derive(Debug)]
pub(crate) struct LazyUdp {
    transport: &'static str,
    addr: SocketAddr,
    recv_buffer: usize,
    bound: Option<BoundUdp>,
}

impl LazyUdp {
    /// A listener on `addr`; `transport` names it in errors (`for sFlow over UDP`).
    pub(crate) fn new(transport: &'static str, addr: SocketAddr, recv_buffer: usize) -> LazyUdp {
        LazyUdp {
            transport,
            addr,
            recv_buffer,
            bound: None,
        }
    }

    fn bind(&mut self) -> Result<&BoundUdp, IngestError> {
        if self.bound.is_none() {
            self.bound = Some(bind(self.transport, self.addr, Some(self.recv_buffer))?);
        }
        self.bound.as_ref().ok_or_else(|| IngestError::Invalid {
            field: "listen",
            reason: "not bound".into(),
        })
    }

    /// Binds (once) and reports the address.
    pub(crate) fn listen(&mut self) -> Result<Vec<ListenAddr>, String> {
        let b = self.bind().map_err(|e| e.to_string())?;
        Ok(vec![ListenAddr {
            scheme: "udp",
            addr: b.local,
        }])
    }

    /// Binds (once) and gives a second handle on the socket, for answers to senders (SNMP
    /// informs).
    pub(crate) fn reply_socket(&mut self) -> Result<std::net::UdpSocket, String> {
        let b = self.bind().map_err(|e| e.to_string())?;
        b.socket
            .try_clone()
            .map_err(|e| format!("{}: {e}", b.local))
    }

    /// Binds (once), then receives datagrams until shutdown, with the kernel's drops counted:
    /// `decode` turns each datagram (payload, sender, receive time) into records; what one
    /// wake-up reads (up to [`DATAGRAMS_PER_BATCH`]) is sent as one batch. At shutdown what the
    /// kernel still holds is read and sent before it returns.
    pub(crate) async fn run(
        &mut self,
        ctx: &ConnectorContext,
        decode: impl FnMut(&[u8], SocketAddr, Timestamp, &mut Vec<RawRecord>),
    ) -> Result<(), ComponentError> {
        self.bind()
            .map_err(|e| ComponentError::new(&ctx.metrics, e.to_string()))?;
        let Some(bound) = self.bound.take() else {
            return Ok(());
        };
        let sock = UdpSocket::from_std(bound.socket)
            .map_err(|e| ComponentError::new(&ctx.metrics, e.to_string()))?;
        let drops = spawn_drop_poller(&sock, ctx.metrics.clone(), ctx.shutdown.clone());
        receive(&sock, self.transport, ctx, decode).await;
        if let Some(d) = drops {
            let _ = d.await;
        }
        Ok(())
    }
}

/// Datagrams read per wake-up, and so at most per batch.
const DATAGRAMS_PER_BATCH: usize = 64;

async fn receive(
    sock: &UdpSocket,
    transport: &'static str,
    ctx: &ConnectorContext,
    mut decode: impl FnMut(&[u8], SocketAddr, Timestamp, &mut Vec<RawRecord>),
) {
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (first, stopping) = tokio::select! {
            biased;
            () = shutdown.wait() => (sock.try_recv_from(&mut buf), true),
            r = sock.recv_from(&mut buf) => (r, false),
        };
        if stopping && first.is_err() {
            // everything the kernel held has been read and sent
            break;
        }
        let received = Timestamp::now();
        let mut records = Vec::new();
        let mut result = first;
        for _ in 0..DATAGRAMS_PER_BATCH {
            match result {
                Ok((n, peer)) => {
                    ctx.metrics.bytes_in(n as u64);
                    decode(&buf[..n], peer, received, &mut records);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    ctx.metrics.error("udp_recv", 1);
                    tracing::debug!(connector = %ctx.source.id, error = %e, "UDP receive failed {transport}");
                    break;
                }
            }
            result = sock.try_recv_from(&mut buf);
        }
        if !crate::netflow::send(ctx, records).await {
            break;
        }
    }
    tracing::debug!(connector = %ctx.source.id, "UDP listener stopped {transport}");
}

/// Binds `addr` with a kernel receive buffer of `recv_buffer` bytes (a smaller grant is
/// logged). `transport` names the listener in errors (`for NetFlow/IPFIX over UDP`).
pub(crate) fn bind(
    transport: &'static str,
    addr: SocketAddr,
    recv_buffer: Option<usize>,
) -> Result<BoundUdp, IngestError> {
    let err = |source: io::Error| IngestError::Bind {
        transport,
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
        let granted = socket.recv_buffer_size().map_err(err)?;
        // Linux reports twice the size set (socket(7))
        let usable = if cfg!(target_os = "linux") {
            granted / 2
        } else {
            granted
        };
        if usable < size {
            tracing::warn!(
                %addr, asked = size, granted,
                "the kernel granted a smaller UDP receive buffer than configured; bursts may be \
                 dropped (counted as kernel_udp_overflow): raise net.core.rmem_max"
            );
        }
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    let socket: std::net::UdpSocket = socket.into();
    let local = socket.local_addr().map_err(err)?;
    Ok(BoundUdp { socket, local })
}

/// Reads the kernel's drop counter of `sock` every second into the drop `kernel_udp_overflow`
/// until shutdown.
pub(crate) fn spawn_drop_poller(
    sock: &UdpSocket,
    metrics: ComponentMetrics,
    mut shutdown: ShutdownSignal,
) -> Option<tokio::task::JoinHandle<()>> {
    let inode = socket_inode(sock)?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stop = tokio::select! {
                biased;
                () = shutdown.wait() => true,
                _ = tick.tick() => false,
            };
            if let Some(drops) = read_kernel_drops(inode) {
                metrics.set_drops("kernel_udp_overflow", drops);
            }
            if stop {
                break;
            }
        }
    }))
}
