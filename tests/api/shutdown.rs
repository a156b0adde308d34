//! Graceful shutdown: in-flight requests finish, new connections are refused.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, oneshot};

/// A handler that tells the test it has started, then waits until the test releases it.
#[derive(Clone)]
struct Gate {
    entered: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

#[tokio::test]
async fn an_in_flight_request_finishes_after_the_shutdown_signal() {
    let (entered_tx, entered_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    let gate = Gate {
        entered: Arc::new(Mutex::new(Some(entered_tx))),
        release: Arc::new(Mutex::new(Some(release_rx))),
    };
    let router = Router::new().route(
        "/slow",
        get(move || {
            let gate = gate.clone();
            async move {
                if let Some(tx) = gate.entered.lock().await.take() {
                    let _ = tx.send(());
                }
                if let Some(rx) = gate.release.lock().await.take() {
                    let _ = rx.await;
                }
                "done"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(brygga::http::serve(
        listener,
        router,
        async {
            let _ = stop_rx.await;
        },
        Duration::from_secs(30),
    ));

    let request = tokio::spawn(reqwest::get(format!("http://{address}/slow")));
    tokio::time::timeout(Duration::from_secs(10), entered_rx)
        .await
        .unwrap()
        .unwrap();
    stop_tx.send(()).unwrap();

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
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = Arc::new(Mutex::new(Some(entered_tx)));
    let router = Router::new().route(
        "/stuck",
        get(move || {
            let entered = entered.clone();
            async move {
                if let Some(tx) = entered.lock().await.take() {
                    let _ = tx.send(());
                }
                std::future::pending::<()>().await;
                "never"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(brygga::http::serve(
        listener,
        router,
        async {
            let _ = stop_rx.await;
        },
        Duration::from_millis(200),
    ));
    let _request = tokio::spawn(reqwest::get(format!("http://{address}/stuck")));
    tokio::time::timeout(Duration::from_secs(10), entered_rx)
        .await
        .unwrap()
        .unwrap();
    stop_tx.send(()).unwrap();
    let clean = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!clean, "serve reports that a request was cut off");
}
