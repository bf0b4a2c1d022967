//! Loading the TLS server configuration (RFC 5425) from PEM files, with errors that say which
//! file is wrong and how.
//!
//! The `ring` provider is passed explicitly rather than taken from the process default, so the
//! connector works whether or not `main` installed one, and can never pick up another.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::TlsSettings;
use crate::IngestError;

fn file_error(what: &'static str, path: &Path, reason: impl Into<String>) -> IngestError {
    IngestError::TlsFile {
        what,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// PEM files larger than this are refused (a certificate chain is a few KiB).
const MAX_PEM_FILE: u64 = 1024 * 1024;

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, IngestError> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| file_error(what, path, format!("cannot read it: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = file.read(&mut chunk).map_err(cannot)?;
        if n == 0 {
            return Ok(out);
        }
        if (out.len() + n) as u64 > MAX_PEM_FILE {
            return Err(file_error(
                what,
                path,
                format!("larger than {MAX_PEM_FILE} bytes: not a PEM certificate or key file"),
            ));
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn read_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, IngestError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            what,
            path,
            "no certificate found: expected PEM blocks '-----BEGIN CERTIFICATE-----'",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, IngestError> {
    let what = "private key";
    let pem = read(what, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => file_error(
            what,
            path,
            "no private key found: expected a PEM block 'PRIVATE KEY', 'RSA PRIVATE KEY' or \
             'EC PRIVATE KEY' (an encrypted key must be decrypted first)",
        ),
        other => file_error(what, path, format!("not a valid PEM private key: {other}")),
    })
}

/// The server configuration for `t`.
pub(crate) fn server_config(t: &TlsSettings) -> Result<Arc<ServerConfig>, IngestError> {
    let certs = read_certs("certificate", &t.cert_path)?;
    let key = read_key(&t.key_path)?;
    let config_error = |reason: String| IngestError::TlsConfig {
        cert: t.cert_path.clone(),
        key: t.key_path.clone(),
        reason,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?;
    let builder = match &t.client_ca_path {
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certs("client CA", ca_path)? {
                roots.add(ca).map_err(|e| {
                    file_error(
                        "client CA",
                        ca_path,
                        format!("unusable CA certificate: {e}"),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| file_error("client CA", ca_path, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => config_error(
            "the private key does not belong to the certificate (the first certificate in the \
             file must be the server's own)"
                .to_owned(),
        ),
        other => config_error(other.to_string()),
    })?;
    Ok(Arc::new(config))
}
