//! `brygga receive`: a receiver for trying the gateway out and for integration tests — an HTTP
//! server that takes the gateway's deliveries (`POST` to any path), prints one line for each
//! and answers 200, the way a receiver should: a repeat of an `Idempotency-Key` already taken
//! is answered 200 and marked as a repeat, not taken twice, and a case's step that arrives
//! after a later one of the same case is marked out of order.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

/// What the receiver has taken: the idempotency keys, and the last sequence of each case.
#[derive(Default)]
struct Seen {
    keys: HashSet<String>,
    last_sequence: HashMap<String, u64>,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    print_bodies: bool,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn take(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let key = header(&headers, "idempotency-key");
    let case = header(&headers, "x-brygga-case");
    let sequence = header(&headers, "x-brygga-sequence").and_then(|s| s.parse::<u64>().ok());
    let mut notes = Vec::new();
    {
        let mut seen = receiver.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = key
            && !seen.keys.insert(key.to_owned())
        {
            notes.push("repeat: already taken, not applied again");
        }
        if let (Some(case), Some(sequence)) = (case, sequence) {
            let last = seen.last_sequence.entry(case.to_owned()).or_insert(0);
            if sequence < *last {
                notes.push("out of order: a later step of this case came first");
            }
            *last = (*last).max(sequence);
        }
    }
    let mut line = format!(
        "{} POST {}",
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_default(),
        uri.path()
    );
    for (label, value) in [
        ("case", case),
        ("sequence", header(&headers, "x-brygga-sequence")),
        ("event", header(&headers, "x-brygga-event")),
        ("key", key),
        ("type", header(&headers, "content-type")),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {label}={value}"));
        }
    }
    line.push_str(&format!(" bytes={}", body.len()));
    for note in notes {
        line.push_str(&format!(" ({note})"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    if receiver.print_bodies {
        let _ = writeln!(out, "{}", String::from_utf8_lossy(&body));
    }
    let _ = out.flush();
    StatusCode::OK
}

/// Serves the receiver on `listen` until SIGTERM or SIGINT, printing `listening on <address>`
/// once bound; with `print_bodies` each body follows its line.
pub async fn receive(listen: SocketAddr, print_bodies: bool) -> std::io::Result<()> {
    let receiver = Receiver {
        seen: Arc::default(),
        print_bodies,
    };
    let router = Router::new()
        .route("/", axum::routing::post(take))
        .route("/{*path}", axum::routing::post(take))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(super::shutdown_signal())
        .await
}
