//! `brygga receive`: the reference receiver — for trying the gateway out, for integration
//! tests, and as the model of what a receiving system does with the gateway's deliveries
//! (`POST` to any path). It follows the three rules of receiving:
//!
//! 1. drop repeats by `Idempotency-Key`: a key taken before is answered 200 and not applied
//!    again (a repeat may come whenever `X-Brygga-Possibly-Delivered` is true, and also then);
//! 2. apply in sequence per case: a step whose `X-Brygga-Sequence` is before the last one
//!    applied for its case is not applied (it is older; deliveries of one step to several of
//!    the subscription's units share its sequence);
//! 3. answer 2xx only after storing: with `--store DIR` each delivery is written and synced to
//!    disk before the 200, and the keys and sequences taken are read back at start.
//!
//! It prints one line per delivery.

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
    /// Deliveries stored so far (their files are numbered).
    stored: u64,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    print_bodies: bool,
    /// Where each delivery is stored before it is answered.
    store: Option<std::path::PathBuf>,
}

/// One line of the store's index: what was taken.
#[derive(serde::Serialize, serde::Deserialize)]
struct Taken {
    key: Option<String>,
    case: Option<String>,
    sequence: Option<u64>,
    file: String,
}

/// Reads what a store holds: the keys and the last sequence of each case.
fn read_store(dir: &std::path::Path) -> std::io::Result<Seen> {
    let mut seen = Seen::default();
    let index = dir.join("index.jsonl");
    let text = match std::fs::read_to_string(&index) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
        Err(e) => return Err(e),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // A line cut short by a crash was never answered 200: its delivery comes again.
        let Ok(taken) = serde_json::from_str::<Taken>(line) else {
            continue;
        };
        seen.stored += 1;
        if let Some(key) = taken.key {
            seen.keys.insert(key);
        }
        if let (Some(case), Some(sequence)) = (taken.case, taken.sequence) {
            let last = seen.last_sequence.entry(case).or_insert(0);
            *last = (*last).max(sequence);
        }
    }
    Ok(seen)
}

/// Writes the delivery's body and its index line, each synced to disk.
fn store_delivery(
    dir: &std::path::Path,
    n: u64,
    taken: &mut Taken,
    body: &[u8],
) -> std::io::Result<()> {
    use std::io::Write as _;
    taken.file = format!("{n:08}.body");
    let mut file = std::fs::File::create(dir.join(&taken.file))?;
    file.write_all(body)?;
    file.sync_all()?;
    let mut index = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("index.jsonl"))?;
    let line = serde_json::to_string(taken).map_err(std::io::Error::other)? + "\n";
    index.write_all(line.as_bytes())?;
    index.sync_all()
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
        let repeat = key.is_some_and(|key| seen.keys.contains(key));
        let older = match (case, sequence) {
            (Some(case), Some(sequence)) => seen
                .last_sequence
                .get(case)
                // Deliveries of one step to several units share its sequence.
                .is_some_and(|last| sequence < *last),
            _ => false,
        };
        if repeat {
            notes.push("repeat: already taken, not applied again");
        } else if older {
            notes.push("out of order: a later step of this case came first; not applied");
        } else {
            // Stored (and synced) before it is answered: a 200 means it is kept.
            if let Some(dir) = &receiver.store {
                let mut taken = Taken {
                    key: key.map(str::to_owned),
                    case: case.map(str::to_owned),
                    sequence,
                    file: String::new(),
                };
                let n = seen.stored + 1;
                if let Err(error) = store_delivery(dir, n, &mut taken, &body) {
                    eprintln!(
                        "cannot store the delivery ({error}); answering 503 so that it comes again"
                    );
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                seen.stored = n;
            }
            if let Some(key) = key {
                seen.keys.insert(key.to_owned());
            }
            if let (Some(case), Some(sequence)) = (case, sequence) {
                seen.last_sequence.insert(case.to_owned(), sequence);
            }
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
        ("attempt", header(&headers, "x-brygga-attempt")),
        (
            "possibly-delivered",
            header(&headers, "x-brygga-possibly-delivered"),
        ),
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
/// once bound; with `print_bodies` each body follows its line; with `store`, each delivery is
/// kept there (created if missing) before it is answered, and what it holds is read first.
pub async fn receive(
    listen: SocketAddr,
    print_bodies: bool,
    store: Option<std::path::PathBuf>,
) -> std::io::Result<()> {
    let seen = match &store {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            read_store(dir)?
        }
        None => Seen::default(),
    };
    let receiver = Receiver {
        seen: Arc::new(Mutex::new(seen)),
        print_bodies,
        store,
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
