//! Graceful shutdown: in-flight requests finish, new connections are refused, and a request
//! that outlives the grace period does not hold the shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

/// A server whose one route (`/gated`) tells the test it has started, then waits for `release`
/// (forever when there is none).
struct GatedServer {
    address: SocketAddr,
    entered: oneshot::Receiver<()>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<bool>>,
}

async fn gated_server(grace: Duration, release: Option<oneshot::Receiver<()>>) -> GatedServer {
    let (entered_tx, entered) = oneshot::channel();
    let entered_tx = Arc::new(Mutex::new(Some(entered_tx)));
    let release = Arc::new(Mutex::new(release));
    let router = Router::new().route(
        "/gated",
        get(move || {
            let (entered_tx, release) = (entered_tx.clone(), release.clone());
            async move {
                if let Some(tx) = entered_tx.lock().await.take() {
                    let _ = tx.send(());
                }
                match release.lock().await.take() {
                    Some(rx) => {
                        let _ = rx.await;
                    }
                    None => std::future::pending::<()>().await,
                }
                "done"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(brygga::http::serve(
        brygga::http::Bound::Plain(listener),
        router,
        async {
            let _ = stopped.await;
        },
        grace,
    ));
    GatedServer {
        address,
        entered,
        stop,
        server,
    }
}

#[tokio::test]
async fn an_in_flight_request_finishes_after_the_shutdown_signal() {
    let (release_tx, release_rx) = oneshot::channel();
    let GatedServer {
        address,
        entered,
        stop,
        server,
    } = gated_server(Duration::from_secs(30), Some(release_rx)).await;

    let request = tokio::spawn(reqwest::get(format!("http://{address}/gated")));
    tokio::time::timeout(Duration::from_secs(10), entered)
        .await
        .unwrap()
        .unwrap();
    stop.send(()).unwrap();

    // The listener closes: a new connection is refused (bounded wait for the server to stop accepting).
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tokio::net::TcpStream::connect(address).await {
                Err(_) => break,
                Ok(stream) => {
                    // Accepted before the listener closed; the server will close it unanswered.
                    drop(stream);
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await;
    assert!(
        refused.is_ok(),
        "the server kept accepting connections after the shutdown signal"
    );

    release_tx.send(()).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    let clean = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(clean);
}

#[tokio::test]
async fn a_request_that_outlives_the_grace_period_does_not_hold_the_shutdown() {
    let GatedServer {
        address,
        entered,
        stop,
        server,
    } = gated_server(Duration::from_millis(200), None).await;
    let _request = tokio::spawn(reqwest::get(format!("http://{address}/gated")));
    tokio::time::timeout(Duration::from_secs(10), entered)
        .await
        .unwrap()
        .unwrap();
    stop.send(()).unwrap();
    let clean = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!clean, "serve reports that a request was cut off");
}
