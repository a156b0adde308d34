//! Serving with graceful shutdown: on SIGTERM or SIGINT stop accepting, let in-flight requests
//! finish within the grace period, then return.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use super::tls::{Peer, TlsListener};

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!(signal = "SIGINT", "shutting down"),
        _ = terminate => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
}

/// Where the gateway accepts connections: plain TCP, or TLS (possibly mutual).
pub enum Bound {
    Plain(TcpListener),
    Tls(TlsListener),
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to `grace` for
/// in-flight requests. Returns whether every request finished within the grace period.
/// Handlers can read the connection's `Peer`.
pub async fn serve(
    listener: Bound,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<bool> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
    };
    let server: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match listener {
        Bound::Plain(listener) => Box::pin(
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<Peer>(),
            )
            .with_graceful_shutdown(shutdown)
            .into_future(),
        ),
        Bound::Tls(listener) => Box::pin(
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<Peer>(),
            )
            .with_graceful_shutdown(shutdown)
            .into_future(),
        ),
    };
    let mut server = tokio::spawn(server);
    tokio::select! {
        finished = &mut server => {
            finished.map_err(std::io::Error::other)??;
            return Ok(true);
        }
        _ = stopping_rx => {}
    }
    match tokio::time::timeout(grace, &mut server).await {
        Ok(finished) => {
            finished.map_err(std::io::Error::other)??;
            Ok(true)
        }
        Err(_) => {
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "in-flight requests did not finish within the grace period"
            );
            server.abort();
            Ok(false)
        }
    }
}
