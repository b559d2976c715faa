//! TLS for any transport (rustls with the ring provider): the server configuration built from a
//! transport's `tls = { cert, key, client_ca }`, and the CN of a verified client certificate.
//!
//! With `client_ca`, every client must present a certificate chaining to one of those CAs; the
//! handshake fails otherwise. The verified leaf certificate's subject CN then reaches the router
//! as [`TransportInfo::client_cert_cn`](wamp::router::TransportInfo), for `auth.tls`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use thiserror::Error;

use crate::config::TlsSettings;

/// Why a transport's TLS configuration cannot be used.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {what}", path.display())]
    Pem { path: PathBuf, what: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("client_ca: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// A transport's TLS server configuration, ready for any number of connections.
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Reads the certificate chain, the key and the client CAs, and checks that they fit together.
    pub fn from_settings(settings: &TlsSettings) -> Result<TlsServer, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates(&settings.cert)?;
        let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| pem_error(&settings.key, e))?;
        let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = match &settings.client_ca {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(path)? {
                    roots.add(ca)?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(chain, key)?;
        Ok(TlsServer { config: Arc::new(config) })
    }

    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem { path: path.to_owned(), what: "no CERTIFICATE in this PEM file".into() });
    }
    Ok(certs)
}

fn pem_error(path: &Path, err: rustls::pki_types::pem::Error) -> TlsError {
    match err {
        rustls::pki_types::pem::Error::Io(source) => TlsError::Read { path: path.to_owned(), source },
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::Pem { path: path.to_owned(), what: "no private key in this PEM file".into() }
        }
        other => TlsError::Pem { path: path.to_owned(), what: other.to_string() },
    }
}

/// The subject CN of the client certificate this connection verified, if it presented one.
pub fn client_cert_cn(connection: &ServerConnection) -> Option<String> {
    connection.peer_certificates()?.first().and_then(subject_cn)
}

/// The first common name in a certificate's subject.
pub fn subject_cn(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?.as_str().ok()?;
    Some(cn.to_owned())
}
