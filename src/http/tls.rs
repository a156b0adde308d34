//! HTTPS with rustls, and mutual TLS: a listener that completes each handshake in its own task
//! (a slow client delays only itself), and `Peer`, what a handler learns of the connection —
//! the address, and the client certificate's SHA-256 fingerprint and chain, if one was
//! presented.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsSettings;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection a request came over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub address: SocketAddr,
    /// SHA-256 of the client certificate (DER), lower-case hex.
    pub certificate: Option<String>,
    /// The client certificate and the intermediates it came with, as presented (verified
    /// against every configured CA during the handshake).
    pub chain: Option<Arc<[CertificateDer<'static>]>>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer {
            address: *stream.remote_addr(),
            certificate: None,
            chain: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The CA certificates of a PEM file; an error says what is wrong with it.
pub fn trust_anchors(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let anchors: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if anchors.is_empty() {
        return Err(format!("{}: no certificate in it", file.display()));
    }
    Ok(anchors)
}

/// Adds `anchors` (read from `file`) to `roots`; an error names the file.
pub(super) fn root_store(
    anchors: Vec<CertificateDer<'static>>,
    roots: &mut rustls::RootCertStore,
    file: &Path,
) -> Result<(), String> {
    for cert in anchors {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

/// Reads the certificate chain, key and client CA of `settings` into a rustls configuration;
/// `also_trusted`: further CAs whose client certificates are accepted (the national platform's,
/// `riv.trust_anchors_file`). Paths are resolved with `resolve`; every error names the file.
pub fn server_config(
    settings: &TlsSettings,
    also_trusted: Option<&Path>,
    resolve: impl Fn(&Path) -> PathBuf,
) -> Result<rustls::ServerConfig, String> {
    let cert_file = resolve(&settings.certificate_file);
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("server.tls.certificate_file {}: {e}", cert_file.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "server.tls.certificate_file {}: no certificate in it",
            cert_file.display()
        ));
    }
    let key_file = resolve(&settings.key_file);
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("server.tls.key_file {}: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &settings.client_ca_file {
        let ca_file = resolve(ca);
        trust_anchors(&ca_file)
            .and_then(|anchors| root_store(anchors, &mut roots, &ca_file))
            .map_err(|e| format!("server.tls.client_ca_file {e}"))?;
    }
    if let Some(anchors) = also_trusted {
        let file = resolve(anchors);
        trust_anchors(&file)
            .and_then(|anchors| root_store(anchors, &mut roots, &file))
            .map_err(|e| format!("riv.trust_anchors_file {e}"))?;
    }
    let builder = if roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        // A certificate is optional at the TLS layer (the open endpoints stay open); the
        // gateway decides which clients must present one, and which CA must have issued it.
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("server.tls: the client CAs: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(certificates, key)
        .map_err(|e| format!("server.tls: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A TCP listener whose connections arrive after a completed TLS handshake.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, accepted) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, address) = match listener.accept().await {
                    Ok(connection) => connection,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let chain: Option<Arc<[CertificateDer<'static>]>> = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .filter(|chain| !chain.is_empty())
                                .map(|chain| {
                                    chain.iter().map(|c| c.clone().into_owned()).collect()
                                });
                            let certificate = chain
                                .as_ref()
                                .map(|chain| hex::encode(Sha256::digest(chain[0].as_ref())));
                            let _ = tx
                                .send((
                                    tls,
                                    Peer {
                                        address,
                                        certificate,
                                        chain,
                                    },
                                ))
                                .await;
                        }
                        Ok(Err(error)) => {
                            tracing::info!(%error, "TLS handshake failed");
                        }
                        Err(_) => tracing::info!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { accepted, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            address: self.local,
            certificate: None,
            chain: None,
        })
    }
}
