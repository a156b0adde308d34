//! Local receivers for replays: one HTTP server on loopback that takes deliveries for several
//! receivers (`POST /{receiver}`), keeps each with the event it carries and its body, and
//! answers 200 — or, during an outage set for that receiver, the status named (by the replay's
//! clock, so that an outage of a day passes in seconds).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;

use crate::clock::Clock;

/// One delivery received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub receiver: String,
    /// The event it carries (`x-brygga-event`).
    pub event_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Vec<u8>,
    /// When it arrived, by the replay's clock.
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
struct Down {
    receiver: String,
    from: Timestamp,
    until: Timestamp,
    status: u16,
}

#[derive(Clone)]
struct Shared {
    clock: Clock,
    captured: Arc<Mutex<Vec<Captured>>>,
    outages: Arc<Mutex<Vec<Down>>>,
}

/// The receivers' server.
pub struct CaptureServer {
    base: String,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

async fn receive(
    State(shared): State<Shared>,
    Path(receiver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = shared.clock.now();
    let down = shared
        .outages
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|d| d.receiver == receiver && d.from <= now && now < d.until)
        .map(|d| d.status);
    if let Some(status) = down {
        return StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    shared
        .captured
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Captured {
            receiver,
            event_id: header("x-brygga-event"),
            idempotency_key: header("idempotency-key"),
            body: body.to_vec(),
            at: now,
        });
    StatusCode::OK
}

impl CaptureServer {
    /// Starts the server on a free loopback port; outages are judged by `clock`.
    pub async fn start(clock: Clock) -> std::io::Result<CaptureServer> {
        Self::start_on("127.0.0.1:0".parse().expect("an address"), clock).await
    }

    /// Starts the server on `address` (a gateway elsewhere delivers there).
    pub async fn start_on(
        address: std::net::SocketAddr,
        clock: Clock,
    ) -> std::io::Result<CaptureServer> {
        let shared = Shared {
            clock,
            captured: Arc::default(),
            outages: Arc::default(),
        };
        let router = Router::new()
            .route("/{receiver}", axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(address).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(CaptureServer {
            base,
            shared,
            stop: Some(stop),
        })
    }

    /// The URL deliveries to `receiver` are posted to.
    pub fn url(&self, receiver: &str) -> String {
        format!("{}/{receiver}", self.base)
    }

    /// `receiver` answers `status` from `from` until `until`.
    pub fn outage(&self, receiver: &str, from: Timestamp, until: Timestamp, status: u16) {
        self.shared
            .outages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Down {
                receiver: receiver.to_owned(),
                from,
                until,
                status,
            });
    }

    /// The deliveries received since the last call.
    pub fn take(&self) -> Vec<Captured> {
        std::mem::take(
            &mut *self
                .shared
                .captured
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// How many deliveries are waiting to be taken.
    pub fn waiting(&self) -> usize {
        self.shared
            .captured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
