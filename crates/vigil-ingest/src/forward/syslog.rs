//! Syslog forwarding: RFC 5424 messages, octet-counted, over TCP or TLS.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use vigil_config::SyslogForwardConfig;
use vigil_event::Event;
use vigil_pipeline::{ComponentError, ComponentMetrics, Destination};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

enum Conn {
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Tcp(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }

    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.write_all(b).and_then(|()| s.flush()),
            Conn::Tls(s) => s.write_all(b).and_then(|()| s.flush()),
        }
    }

    /// Whether the receiver closed the connection (or sent something, which a syslog
    /// receiver never does: treated as closed).
    fn closed(&self) -> bool {
        let s = self.tcp();
        if s.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let r = s.peek(&mut b);
        let _ = s.set_nonblocking(false);
        match r {
            Ok(0) => true,
            Ok(_) => matches!(self, Conn::Tcp(_)),
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

/// Forwards events as RFC 5424 syslog messages.
pub struct SyslogForward {
    cfg: SyslogForwardConfig,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    conn: Option<Conn>,
    metrics: ComponentMetrics,
    buf: Vec<u8>,
}

impl std::fmt::Debug for SyslogForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogForward")
            .field("address", &self.cfg.address)
            .finish_non_exhaustive()
    }
}

impl SyslogForward {
    /// Loads the TLS material; connects on the first write.
    pub fn new(cfg: SyslogForwardConfig, metrics: ComponentMetrics) -> Result<Self, String> {
        let tls = match &cfg.tls {
            Some(t) => {
                let c = super::client_tls(t.ca.as_deref())?;
                let name = t.server_name.clone().unwrap_or_else(|| cfg.host.clone());
                let name = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|_| format!("'{name}' is not a valid TLS server name"))?;
                Some((Arc::new(c), name))
            }
            None => None,
        };
        Ok(SyslogForward {
            cfg,
            tls,
            conn: None,
            metrics,
            buf: Vec::new(),
        })
    }

    fn connect(&self) -> Result<Conn, String> {
        let addrs = self
            .cfg
            .address
            .to_socket_addrs()
            .map_err(|e| format!("resolving {}: {e}", self.cfg.address))?;
        let mut last = format!("{} resolves to no address", self.cfg.address);
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
                    return match &self.tls {
                        None => Ok(Conn::Tcp(s)),
                        Some((c, name)) => {
                            let conn = rustls::ClientConnection::new(c.clone(), name.clone())
                                .map_err(|e| format!("TLS to {a}: {e}"))?;
                            let mut t = rustls::StreamOwned::new(conn, s);
                            // complete the handshake now, so a certificate problem shows here
                            let _ = t.sock.set_read_timeout(Some(CONNECT_TIMEOUT));
                            while t.conn.is_handshaking() {
                                t.conn
                                    .complete_io(&mut t.sock)
                                    .map_err(|e| format!("TLS handshake with {a}: {e}"))?;
                            }
                            Ok(Conn::Tls(Box::new(t)))
                        }
                    };
                }
                Err(e) => last = format!("connecting to {a}: {e}"),
            }
        }
        Err(last)
    }
}

/// Appends `e` as one octet-counted RFC 5424 message: `LEN <PRI>1 TIMESTAMP HOST APP - - SD MSG`,
/// with the event's id, tenant and source as structured data and its raw record as MSG.
pub(crate) fn frame(e: &Event, out: &mut Vec<u8>) {
    let mut msg = Vec::with_capacity(e.raw.len() + 160);
    let ts = e.timestamp.to_rfc3339();
    let host = e
        .host
        .name
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or("-");
    let _ = write!(
        msg,
        "<13>1 {ts} {} vigil - - [vigil@32473 id=\"{}\" tenant=\"{}\" source=\"{}\"] ",
        printable(host),
        e.meta.id,
        sd_escape(&e.meta.tenant),
        sd_escape(&e.meta.source_id),
    );
    msg.extend_from_slice(&e.raw);
    let _ = write!(out, "{} ", msg.len());
    out.extend_from_slice(&msg);
}

/// A header field: printable US-ASCII, at most 255 characters, `-` when empty.
fn printable(s: &str) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if v.is_empty() { "-".into() } else { v }
}

/// A structured-data parameter value: `"`, `\` and `]` escaped.
fn sd_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

impl Destination for SyslogForward {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        self.buf.clear();
        for e in events {
            frame(e, &mut self.buf);
        }
        if self.conn.as_ref().is_some_and(Conn::closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            match self.connect() {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    self.metrics.error("connect", 1);
                    return Err(ComponentError::new(&self.metrics, e));
                }
            }
        }
        let Some(c) = self.conn.as_mut() else {
            return Err(ComponentError::new(&self.metrics, "not connected"));
        };
        if let Err(e) = c.write_all(&self.buf) {
            self.conn = None;
            self.metrics.error("send", 1);
            return Err(ComponentError::new(
                &self.metrics,
                format!("sending to {}: {e}", self.cfg.address),
            ));
        }
        self.metrics.bytes_out(self.buf.len() as u64);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        if let Some(Conn::Tls(t)) = self.conn.as_mut() {
            t.conn.send_close_notify();
            let _ = t.conn.complete_io(&mut t.sock);
        }
        self.conn = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_octet_counted_rfc_5424_with_the_event_id() {
        let mut e = Event::new(bytes::Bytes::from_static(b"line one\nline two"));
        e.meta.tenant = "acme".into();
        e.meta.source_id = "fw\"1]".into();
        let mut out = Vec::new();
        frame(&e, &mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        let (len, msg) = text.split_once(' ').unwrap_or_default();
        assert_eq!(len.parse::<usize>().ok(), Some(msg.len()));
        assert!(msg.starts_with("<13>1 "), "{msg}");
        assert!(
            msg.contains(&format!(
                "[vigil@32473 id=\"{}\" tenant=\"acme\" source=\"fw\\\"1\\]\"] line one\nline two",
                e.meta.id
            )),
            "{msg}"
        );
    }
}
