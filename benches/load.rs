//! The load harness: the whole gateway over real HTTP on loopback, against the same load on a
//! bare axum server (the ceiling), side by side in one run.
//!
//! `cargo bench --bench load` runs, on SQLite (a temporary file) and — with
//! `BRYGGA_TEST_POSTGRES_URL` set — on PostgreSQL:
//! - **latency** (first, on an empty outbox): messages at a steady 500 per second for the same
//!   time; for each, the time from its 2xx to its arrival at a local receiver (subscribed for
//!   Östersund), p50 and p99;
//! - **throughput**: N clients post Cosmic Link admission notices (each a new case, three
//!   recipients) as fast as they are answered, for `LOAD_SECONDS` (default 5); every
//!   2xx is a message committed durably (its write-ahead log synced or flushed to disk)
//!   with its events, audit records and outbox rows, shared with concurrent ones by group commit;
//! - **ceiling**: the same N clients against an axum server that reads the body and answers
//!   200 with a small JSON receipt.
//!
//! The closed-loop phases run with 64 clients and with 256, each on a fresh database (the
//! latency phase with the first): a closed loop's rate depends on how many senders there are,
//! since each waits for its answer, and a group commit's batches grow with them.
//!
//! `LOAD_PHASES=throughput` (a comma-separated list) runs only the phases named, for profiling;
//! `LOAD_CLIENTS=64,128` (a comma-separated list) sets the numbers of clients; `LOAD_KEEP=1`
//! keeps the SQLite databases and prints where; `LOAD_BACKENDS=postgres` (a comma-separated
//! list of `sqlite` and `postgres`) runs only the backends named. After each of the two phases
//! that deliver, the deliveries that failed at least once are counted, with their last errors.
//! After the throughput phase the harness prints where the CPU went (on Linux): how many of the
//! cores were busy, how much of that was this process (by kind of thread) and how much other
//! processes (a PostgreSQL server), and this process's CPU per accepted message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brygga::clock::Clock;
use brygga::startup::Application;

/// The gateway binary's allocator, so that the harness measures what runs in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/http.rs"]
mod http_support;
use http_support::{admission, fresh_postgres, root, settings, token};

/// The closed-loop phases' numbers of clients, each measured on a database of its own: 64 and
/// 256 unless `LOAD_CLIENTS` (a comma-separated list) says otherwise.
fn client_counts() -> Vec<usize> {
    std::env::var("LOAD_CLIENTS")
        .ok()
        .map(|s| {
            s.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .filter(|counts| !counts.is_empty())
        .unwrap_or_else(|| vec![64, 256])
}
const RATE: u64 = 500;

fn seconds() -> u64 {
    std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// Whether `LOAD_BACKENDS` (a comma-separated list of `sqlite` and `postgres`; all when unset)
/// names `name`.
fn backend(name: &str) -> bool {
    std::env::var("LOAD_BACKENDS").map_or(true, |backends| {
        backends.split(',').any(|b| b.trim() == name)
    })
}

/// Whether `LOAD_PHASES` (a comma-separated list of `latency`, `throughput` and `ceiling`;
/// all three by default) asks for `name`.
fn phase(name: &str) -> bool {
    std::env::var("LOAD_PHASES").map_or(true, |phases| phases.split(',').any(|p| p.trim() == name))
}

/// Arrival times at the receiver, by event id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let a = arrivals.clone();
    let router = axum::Router::new().route(
        "/inbox",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let a = a.clone();
            async move {
                if let Some(event) = headers.get("x-brygga-event").and_then(|v| v.to_str().ok()) {
                    a.lock()
                        .unwrap()
                        .entry(event.to_owned())
                        .or_insert_with(Instant::now);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, arrivals)
}

/// `CLIENTS` clients posting as fast as they are answered for `duration`; answers 2xx per second.
async fn closed_loop(
    url: &str,
    token: &str,
    template: &str,
    tag: &str,
    clients: usize,
    duration: Duration,
) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let end = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, next, ok) = (client.clone(), next.clone(), ok.clone());
        let (url, token, template, tag) = (
            url.to_owned(),
            token.to_owned(),
            template.to_owned(),
            tag.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/xml")
                    .body(admission(&template, n, &tag))
                    .send()
                    .await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// `RATE` messages per second for `duration`; answers the accept → delivered latencies.
async fn open_loop(
    url: &str,
    token: &str,
    template: &str,
    arrivals: &Arrivals,
    duration: Duration,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let accepted: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let total = RATE * duration.as_secs();
    let mut tasks = Vec::new();
    for n in 0..total as usize {
        ticker.tick().await;
        let (client, url, token, accepted) = (
            client.clone(),
            url.to_owned(),
            token.to_owned(),
            accepted.clone(),
        );
        let body = admission(template, n, "lat");
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/xml")
                .body(body)
                .send()
                .await
                .unwrap();
            let at = Instant::now();
            if response.status().is_success() {
                let receipt: serde_json::Value = response.json().await.unwrap();
                let event = receipt["event_id"].as_str().unwrap().to_owned();
                accepted.lock().unwrap().push((event, at));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Wait (bounded) for the deliveries to arrive.
    let accepted = accepted.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let arrived = arrivals.lock().unwrap().len();
        if arrived >= accepted.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = arrivals.lock().unwrap();
    let mut latencies: Vec<Duration> = accepted
        .iter()
        .filter_map(|(event, at)| {
            arrivals
                .get(event)
                .map(|t| t.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    latencies
}

/// Prints the deliveries that failed at least once, and why the last attempt failed: what
/// makes a latency run's tail, or a throughput run's retries.
/// Answers how many deliveries are made, of how many written.
async fn retried(backend: &str, store: &brygga::store::Store) -> (usize, usize) {
    let mut after = 0;
    let mut retried = 0;
    let (mut delivered, mut written) = (0, 0);
    let mut errors: HashMap<String, usize> = HashMap::new();
    loop {
        let page = store
            .deliveries(&brygga::store::DeliveryQuery {
                after,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        written += page.len();
        delivered += page.iter().filter(|r| r.status == "delivered").count();
        for row in page
            .iter()
            .filter(|r| r.attempts > 1 || r.last_error.is_some())
        {
            retried += 1;
            *errors
                .entry(row.last_error.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    if retried > 0 {
        println!("{backend}: {retried} deliveries failed at least once so far: {errors:?}");
    }
    (delivered, written)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn ceiling(template: &str, clients: usize, duration: Duration) -> f64 {
    let router = axum::Router::new().route(
        "/cosmic-link/v1/messages",
        axum::routing::post(|body: axum::body::Bytes| async move {
            axum::Json(serde_json::json!({ "status": "accepted", "bytes": body.len() }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/cosmic-link/v1/messages",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    closed_loop(&url, "none", template, "ceiling", clients, duration).await
}

/// One gateway on `database`: the latency phase (when `latency`), then the throughput and
/// ceiling phases with `clients` clients.
async fn run(
    backend: &str,
    database: &str,
    dir: &std::path::Path,
    template: &str,
    clients: usize,
    latency: bool,
) {
    let duration = Duration::from_secs(seconds());
    let (inbox, arrivals) = receiver().await;
    let settings = settings(database, dir, &inbox);
    let app = Application::build_with_clock(settings, Clock::System)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let token = token(&base, jiff::Timestamp::now()).await;
    let url = format!("{base}/cosmic-link/v1/messages");
    // Latency first, on an empty outbox; then throughput, whose backlog the workers deliver
    // while the clients keep posting.
    let latency = latency && phase("latency");
    let latencies = if latency {
        open_loop(&url, &token, template, &arrivals, duration).await
    } else {
        Vec::new()
    };
    if latency {
        retried(backend, &store).await;
    }
    let accepted = if phase("throughput") {
        let before = cpu::Sample::take();
        let rate = closed_loop(&url, &token, template, "tp", clients, duration).await;
        if let (Some(before), Some(after)) = (before, cpu::Sample::take()) {
            println!("{backend}: {}", cpu::report(&before, &after, rate));
        }
        // The workers deliver while the clients post: how far they kept up.
        let (delivered, written) = retried(backend, &store).await;
        println!(
            "{backend}: {delivered} of {written} deliveries made by the end of the throughput phase"
        );
        rate
    } else {
        0.0
    };
    let bare = if phase("ceiling") {
        ceiling(template, clients, duration).await
    } else {
        0.0
    };
    let latency = if latency {
        format!(
            "; at {RATE}/s accept → delivered p50 {:.1} ms, p99 {:.1} ms ({} delivered)",
            percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.len(),
        )
    } else {
        String::new()
    };
    println!(
        "{backend}, {clients} clients: {accepted:.0} messages/s accepted durably; bare axum \
         {bare:.0} requests/s (ratio {:.1}×){latency}",
        bare / accepted,
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Where the CPU went during a phase, from Linux's `/proc`: the machine's cores as a whole (a
/// PostgreSQL server is counted there, not in this process) and this process's threads by kind.
/// It tells a rate bounded by the cores from one bounded by a serial chain (the group commit's
/// turn at the database's one writer, the disk's flush) that leaves cores idle.
mod cpu {
    use std::collections::HashMap;

    /// Clock ticks: the machine's busy and total, this process's (with its threads that ended),
    /// and each of its live threads' by name.
    pub struct Sample {
        busy: u64,
        total: u64,
        cores: usize,
        process: u64,
        threads: HashMap<u64, (String, u64)>,
    }

    /// A `/proc/…/stat` line's name and its user and system ticks: `pid (name) state … utime
    /// stime …`, the name perhaps holding spaces and parentheses.
    fn named_ticks(stat: &str) -> Option<(String, u64)> {
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let after: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
        let ticks = |i: usize| after.get(i).and_then(|f| f.parse::<u64>().ok());
        Some((
            stat.get(open + 1..close)?.to_owned(),
            ticks(11)? + ticks(12)?,
        ))
    }

    impl Sample {
        /// `None` where `/proc` cannot be read (not Linux).
        pub fn take() -> Option<Sample> {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            let mut lines = stat.lines();
            // `cpu  user nice system idle iowait irq softirq steal …`: idle and iowait are not busy.
            let fields: Vec<u64> = lines
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            let total: u64 = fields.iter().take(8).sum();
            let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
            let cores = lines.filter(|l| l.starts_with("cpu")).count().max(1);
            let process = named_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?.1;
            let mut threads = HashMap::new();
            for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
                let Ok(tid) = task.file_name().to_string_lossy().parse::<u64>() else {
                    continue;
                };
                // A thread that ended since the directory was read has no stat left to read.
                if let Some(named) = std::fs::read_to_string(task.path().join("stat"))
                    .ok()
                    .and_then(|stat| named_ticks(&stat))
                {
                    threads.insert(tid, named);
                }
            }
            Some(Sample {
                busy: total.saturating_sub(idle),
                total,
                cores,
                process,
                threads,
            })
        }
    }

    /// One line: the cores busy, this process's share by kind of thread, and its CPU per message
    /// at `rate` messages a second (cores' worth of CPU over messages a second).
    pub fn report(before: &Sample, after: &Sample, rate: f64) -> String {
        let total = after.total.saturating_sub(before.total).max(1) as f64;
        // Cores' worth of CPU from a count of ticks over the interval.
        let cores = |ticks: u64| ticks as f64 / total * after.cores as f64;
        let machine = cores(after.busy.saturating_sub(before.busy));
        let (mut runtime, mut database, mut busiest) = (0, 0, 0);
        for (tid, (name, ticks)) in &after.threads {
            let earlier = before.threads.get(tid).map_or(0, |(_, t)| *t);
            let used = ticks.saturating_sub(earlier);
            if name.starts_with("tokio-rt-worker") {
                runtime += used;
            } else if name.starts_with("sqlx-sqlite") {
                database += used;
                busiest = busiest.max(used);
            }
        }
        let spent = after.process.saturating_sub(before.process);
        let process = cores(spent);
        let other = spent.saturating_sub(runtime + database);
        let per_message = if rate > 0.0 {
            format!(
                "; {:.0} µs of this process's CPU per accepted message",
                process / rate * 1e6
            )
        } else {
            String::new()
        };
        let mut threads = format!("runtime workers {:.2}", cores(runtime));
        if database > 0 {
            threads.push_str(&format!(
                ", SQLite's connection threads {:.2}, the busiest of them {:.2}",
                cores(database),
                cores(busiest)
            ));
        }
        if cores(other) >= 0.005 {
            threads.push_str(&format!(", other threads {:.2}", cores(other)));
        }
        format!(
            "CPU during the throughput phase: {machine:.2} of {} cores busy, {process:.2} of them \
             this process ({threads}) and {:.2} other processes{per_message}",
            after.cores,
            (machine - process).max(0.0),
        )
    }
}

fn main() {
    // `cargo bench` passes flags such as --bench; there is nothing to filter.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let template = std::fs::read_to_string(
            root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // Each backend, each number of clients on a database of its own. The latency phase
        // does not depend on the clients: it runs with the first number.
        for (label, kind) in [("SQLite", "sqlite"), ("PostgreSQL", "postgres")] {
            if !backend(kind) {
                continue;
            }
            for (i, clients) in client_counts().into_iter().enumerate() {
                let database = if kind == "sqlite" {
                    let file = format!("load-{clients}.db");
                    format!("sqlite://{}", dir.path().join(file).display())
                } else {
                    // A fresh database; the run before's goes.
                    match fresh_postgres("load").await {
                        Some(database) => database,
                        None => break,
                    }
                };
                run(label, &database, dir.path(), &template, clients, i == 0).await;
            }
        }
        if std::env::var_os("LOAD_KEEP").is_some() {
            println!("SQLite database kept in {}", dir.keep().display());
        }
    });
}
