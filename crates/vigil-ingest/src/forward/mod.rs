//! Forwarding destinations: events leave Vigil for another SIEM, a second Vigil or a bus.
//!
//! * [`SyslogForward`]: RFC 5424 over TCP or TLS with octet counting (RFC 6587 / 5425);
//! * [`HttpForward`]: `POST` of NDJSON or an Elasticsearch `_bulk` body;
//! * [`NatsForward`]: JetStream publishing with `Nats-Msg-Id` set to the event id.
//!
//! Each is a plain [`Destination`](vigil_pipeline::Destination) that writes a batch to the
//! next hop or fails; `vigil up` puts each behind a
//! [`DiskBuffer`](vigil_pipeline::DiskBuffer), which holds the events while the next hop is
//! down and retries. Building one loads its TLS material and checks its address (so `vigil
//! validate` reports them) but connects only on the first write.
//!
//! What "taken" means differs by protocol, and so does the guarantee: an HTTP answer and a
//! JetStream publish acknowledgement confirm each batch, so nothing written is lost when the
//! peer goes away; syslog over TCP has no acknowledgement, so a batch the kernel accepted just
//! before the receiver died can be lost (the connection is checked before each batch, which
//! catches a receiver that closed it).

mod http;
mod nats;
mod syslog;

pub use http::HttpForward;
pub use nats::NatsForward;
pub use syslog::SyslogForward;

use std::sync::Arc;

/// A rustls client configuration with the ring provider chosen here (no process-wide
/// default needed) trusting `ca` (PEM) or, without it, the webpki roots.
pub(crate) fn client_tls(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = vigil_config::read_file_capped(path, 4 << 20)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let mut n = 0;
            for c in rustls_pemfile::certs(&mut &pem[..]) {
                let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("{}: no PEM certificate in it", path.display()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
