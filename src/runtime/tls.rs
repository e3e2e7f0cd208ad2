//! The TLS client of every connector that opens its own socket (IMAP's
//! implicit TLS and STARTTLS, Slack Socket Mode's `wss://`; the Discord
//! gateway's comes from twilight, on the provider installed here): the webpki
//! roots and the ring provider (no OpenSSL, no second crypto provider),
//! rustls' safe protocol defaults, and the server name checked. One place,
//! so that how we trust servers cannot differ between connectors.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpStream;
use tokio_rustls::{
    client::TlsStream,
    rustls::{self, pki_types::ServerName},
};

/// Makes ring the process-wide rustls provider, for libraries that build
/// their own TLS client from it (twilight-gateway's `wss://`). Idempotent.
pub fn install_ring_provider() {
    // An error only says a provider is already installed: ring, by us.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// TLS over `tcp` to `host`, its certificate checked against the webpki roots.
pub async fn connect(host: &str, tcp: TcpStream) -> anyhow::Result<TlsStream<TcpStream>> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .with_context(|| format!("`{host}` is not a valid TLS server name"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that is not one: the handshake fails with the host named,
    /// never silently succeeds.
    #[tokio::test]
    async fn a_failed_handshake_names_the_host() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = socket.write_all(b"* OK not TLS\r\n").await;
            }
        });
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let error = connect("localhost", tcp).await.expect_err("no TLS there");
        assert!(
            format!("{error:#}").contains("TLS handshake with localhost"),
            "{error:#}"
        );
    }

    #[tokio::test]
    async fn an_invalid_server_name_is_refused_before_any_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let tcp = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let error = connect("not a host name", tcp)
            .await
            .expect_err("a bad name");
        assert!(
            format!("{error:#}").contains("not a valid TLS server name"),
            "{error:#}"
        );
    }
}
