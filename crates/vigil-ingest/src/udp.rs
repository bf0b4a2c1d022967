//! UDP listening shared by the datagram connectors (`netflow`, `sflow`, `snmp_trap`): binding with a receive buffer
//! and reporting the kernel's drops, as the syslog connector does.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use vigil_pipeline::{ComponentMetrics, ShutdownSignal};

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
