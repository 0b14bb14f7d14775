//! The HTTPS server of the webhook: rustls with a certificate that can be swapped while
//! serving, and an axum router served by hyper on each accepted connection.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// A certificate that can be replaced while the server runs.
#[derive(Debug)]
pub struct SwappableCert {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    provider: Arc<CryptoProvider>,
}

impl SwappableCert {
    /// Starts empty: handshakes fail until [`SwappableCert::set`] is called.
    pub fn new() -> Arc<SwappableCert> {
        Arc::new(SwappableCert {
            current: RwLock::new(None),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }

    /// Loads a PEM certificate chain and key.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<(), rustls::Error> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| rustls::Error::General(format!("reading the certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| rustls::Error::General(format!("reading the key: {e}")))?;
        let signing = self.provider.key_provider.load_private_key(key)?;
        let certified = Arc::new(CertifiedKey::new(chain, signing));
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(certified);
        }
        Ok(())
    }

    /// Whether a certificate is loaded.
    pub fn loaded(&self) -> bool {
        self.current.read().is_ok_and(|c| c.is_some())
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().and_then(|c| c.clone())
    }
}

/// Binds `addr` (an unspecified address listens on both families); the returned listener is
/// served by [`serve`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    ferrolb_runtime::listen::bind(addr)
}

/// Serves `router` over TLS on `listener` until the task is dropped. Each connection gets a
/// 10 s handshake deadline; a failed handshake only ends that connection.
pub async fn serve(listener: TcpListener, cert: Arc<SwappableCert>, router: Router) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config =
        match ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => b.with_no_client_auth().with_cert_resolver(cert),
            Err(e) => {
                warn!(error = %e, "building the TLS configuration");
                return;
            }
        };
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "accepting a webhook connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let service = TowerToHyperService::new(router);
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                debug!(%peer, error = %e, "webhook connection ended");
            }
        });
    }
}
