//! Vigil's connectors: the components that receive records from the outside world and hand
//! them to the pipeline as [`RawBatch`](vigil_pipeline::RawBatch)es.
//!
//! This crate owns sockets, files and client libraries; it does not parse. Each connector
//! implements [`vigil_pipeline::Connector`]: it reads, cuts the input into records, stamps them
//! with the receive time and the peer, and sends them on the bounded raw queue, where a full
//! queue makes it wait (backpressure) rather than drop. It stops on the shutdown signal after
//! sending what it holds, and reports through the component's
//! [`ComponentMetrics`](vigil_pipeline::ComponentMetrics): records in, bytes in, errors and
//! drops by reason, and gauges. The connectors: [`syslog`], [`http`] (`/ingest`,
//! Elasticsearch `_bulk`, Splunk HEC), [`file`] (tailing files and globs through rotation,
//! compressed rotated files, multiline records, the systemd journal), [`evtx`] (Windows event
//! log files), [`nats`] (a JetStream durable consumer that acknowledges only what the pipeline
//! reports durable, see [`vigil_pipeline::Ack`]), [`sql`] (polling PostgreSQL, MySQL/MariaDB
//! and SQLite with a durable cursor), [`netflow`] (NetFlow v5/v9 and IPFIX over UDP), [`sflow`]
//! (sFlow v5) and [`snmp_trap`] (SNMP v1, v2c and v3 traps and informs), each in its own module. The crate also holds the destinations that speak the same protocols outwards
//! ([`forward`]: syslog, HTTP, NATS), which `vigil up` runs behind a disk buffer.
//!
//! The configuration types users write (YAML) live in `vigil-config`; they are validated into
//! the runtime settings defined here ([`syslog::SyslogSettings`]), which hold parsed addresses
//! and durations only.
//!
//! # The syslog connector
//!
//! One connector listens on up to three sockets: UDP, TCP and TLS (RFC 5425). The design
//! follows from three requirements: never lose or hide an event, survive hostile clients, and
//! cost little per event (the whole pipeline has to carry 100,000 events/s on two cores).
//!
//! **Zero-copy records.** A TCP or TLS connection reads into one `BytesMut` (64 KiB reads).
//! [`vigil_parse::framing::Framer`] cuts frames off its front as `Bytes` handles into that
//! buffer, so a record costs a reference count, not an allocation or a copy. Every frame from
//! one read goes into one batch (split at `batch_max`), sent with `send_async`: when the
//! pipeline is behind, the connection stops reading and TCP flow control slows the sender. UDP
//! receives datagrams into large shared blocks the same way and drains the socket without
//! waiting (`try_recv`), so a burst becomes one batch.
//!
//! **Framing.** RFC 6587 octet counting and LF framing are detected per frame by the framer
//! (a leading digit means a count), on TCP and TLS alike: RFC 5425 mandates octet counting,
//! but real senders do not always comply. The max frame size caps memory per connection.
//!
//! **Nothing is dropped silently.** Malformed input is passed on and counted, never
//! discarded: a frame longer than `max_frame_size` is cut and sent with
//! [`transport_error`](vigil_pipeline::RawRecord::transport_error) set (error
//! `oversized_frame`); a bad octet count sends the skipped bytes as a record with a
//! transport error (`bad_octet_count`) and resynchronises at the next LF; invalid UTF-8 is
//! passed through byte for byte (parsing is the normalizer's job). The unterminated tail of a
//! stream is a record at EOF, idle timeout and shutdown (an octet-counted frame cut short is
//! marked, error `incomplete_frame`). UDP datagrams the kernel drops
//! because the socket buffer overflowed are read from `/proc/net/udp{,6}` every second and
//! reported as the drop counter `kernel_udp_overflow`.
//!
//! **Hostile clients.** A connection slot must not be something a client can hold without
//! sending data (see `syslog::policy` for the whole design). Connections are capped per
//! connector (`max_connections`, gauge `connections`) and per source address
//! (`max_connections_per_ip`); a new connection is always admitted, and the connection that
//! has gone longest without a complete frame is closed to make room (`evicted`, or
//! `evicted_per_ip` when the address was at its own limit: one host only ever displaces its
//! own connections). A connection with no complete frame for `idle_timeout` is closed
//! (`idle_timeout`), and one whose frame is not complete `frame_timeout` after its first byte
//! (`frame_timeout`): bytes that do not complete a frame restart no timer, so a one-byte drip
//! holds nothing. A TLS handshake that fails or does not finish within
//! `tls_handshake_timeout` is counted (`tls_handshake`). An `accept` that fails for want of
//! descriptors pauses the loop briefly instead of spinning (`accept`). Every such event is
//! counted; the log says it is happening at most once per 10 s per kind, with the number not
//! logged. Each connection is its own task, so one slow, stalled or garbage-spewing client
//! never delays another. UDP memory is bounded: a batch stops at 256 KiB, the receive loop
//! waits on the pipeline's bounded queue, and the excess is dropped (and counted) by the
//! kernel.
//!
//! **Shutdown.** On the signal the listeners stop accepting, each connection reads what is
//! already waiting, sends its frames and its partial tail, and closes; `run` returns when
//! every connection has finished.
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;

pub mod evtx;
pub mod file;
pub mod forward;
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod nats;
pub mod netflow;
pub mod sflow;
pub mod snmp_trap;
pub mod sql;
pub mod syslog;
mod udp;

/// Why a connector could not be built or could not start. Bad input is never an error here: it
/// is counted and passed on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A setting is out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The setting's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS certificate, key or CA file cannot be read or holds nothing usable.
    #[error("{what} {}: {reason}", path.display())]
    TlsFile {
        /// Which file: `certificate`, `private key`, `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key were read but do not make a usable TLS configuration.
    #[error("TLS certificate {} with key {}: {reason}", cert.display(), key.display())]
    TlsConfig {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A listening socket could not be opened.
    #[error("cannot listen {transport} on {addr}: {source}{hint}")]
    Bind {
        /// What listens: `for syslog over UDP`, `for syslog over TCP`, `for syslog over TLS`,
        /// `for HTTP`, `for HTTPS`.
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
        /// What to do about it (starts with `; ` when present).
        hint: String,
    },
}
