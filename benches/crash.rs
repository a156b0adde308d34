//! The crash harness: the gateway's release binary killed with SIGKILL at random moments under
//! load, and its receiver — the reference receiver, `brygga receive --store` — taken down at
//! random moments too, cycle after cycle; then, once the last fault is over, how the delivery
//! promise held up:
//!
//! - **lost**: a message answered 2xx that is not stored, or a delivery of it that never
//!   reached the receiver's store (must be 0);
//! - **duplicates**: repeats of an idempotency key the receiver had taken, by kind — sent again
//!   after the gateway died before recording the outcome (the delivery says
//!   `X-Brygga-Possibly-Delivered: true`), and sent again though the earlier attempt's answer
//!   was recorded while the receiver stayed up (must be 0);
//! - **out of order**: a case's step arriving after a later one of the same case (must be 0);
//! - **settled after**: the time from the last fault (the last restart of either) until every
//!   delivery of every accepted message is in the receiver's store.
//!
//! Each case is an admission notice and then a change of the estimated discharge, both to
//! Östersund (two units for the first, the municipality for the second). `CRASH_CYCLES`
//! (default 30) cycles per backend; `CRASH_BACKENDS` (`sqlite,postgres`; PostgreSQL with
//! `BRYGGA_TEST_POSTGRES_URL` set) chooses the backends.
//!
//! `cargo bench --bench crash`

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod http_support;
use http_support::{fresh_postgres, root, token};

const BIN: &str = env!("CARGO_BIN_EXE_brygga");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A small random number below `n` (the harness needs no more than this).
fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) % n.max(1)
}

/// The reference receiver as a process; every line it prints is kept with the generation (the
/// receiver's start) it came from.
struct Receiver {
    port: u16,
    store: std::path::PathBuf,
    child: Option<Child>,
    generation: usize,
    lines: Arc<Mutex<Vec<(usize, String)>>>,
}

impl Receiver {
    fn start(&mut self) {
        self.generation += 1;
        let mut child = Command::new(BIN)
            .args(["receive", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--store")
            .arg(&self.store)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("brygga receive");
        let stdout = child.stdout.take().unwrap();
        let (lines, generation) = (self.lines.clone(), self.generation);
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line.starts_with("listening on") {
                    let _ = ready.send(());
                    continue;
                }
                lines.lock().unwrap().push((generation, line));
            }
        });
        listening
            .recv_timeout(Duration::from_secs(10))
            .expect("the receiver listens");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The idempotency keys in its store.
    fn stored_keys(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.store.join("index.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["key"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The gateway as a process.
struct Gateway {
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Gateway {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--config"])
            .arg(root().join("deploy/config/brygga.toml"))
            .env("BRYGGA_SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        self.child = Some(command.spawn().expect("brygga serve"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        loop {
            let ready = client
                .get(format!("{}/ready", self.base()))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Message `step` of case `n` (0: the admission notice, 1: the estimated discharge changed).
fn message(templates: &[String; 2], n: usize, step: usize) -> Vec<u8> {
    let id = if step == 0 {
        "CL-2026-0001"
    } else {
        "CL-2026-0002"
    };
    templates[step]
        .replace(id, &format!("CL-CR{step}-{n:07}"))
        .replace("SA-2026-004711", &format!("SA-CR-{n:07}"))
        .into_bytes()
}

#[derive(Debug, Default)]
struct Figures {
    cycles: usize,
    receiver_outages: usize,
    accepted: usize,
    deliveries: usize,
    lost: usize,
    unrecorded_repeats: usize,
    repeats_after_a_recorded_answer: usize,
    out_of_order: usize,
    settled_after: Duration,
    reclaims: Vec<Duration>,
}

async fn run(backend: &str, database: String, cycles: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver {
        port: free_port(),
        store: dir.path().join("receiver"),
        child: None,
        generation: 0,
        lines: Arc::default(),
    };
    receiver.start();
    let subscriptions = dir.path().join("subscriptions.toml");
    std::fs::write(
        &subscriptions,
        format!(
            "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\nendpoint = \"http://127.0.0.1:{}/ostersund\"\nformat = \"canonical\"\nevents = [\"admission_notice\", \"estimated_discharge_changed\"]\ntimeout_seconds = 5\n[subscription.retry]\ninitial_delay_seconds = 1\nmax_delay_seconds = 2\nmax_age_hours = 72\n",
            receiver.port
        ),
    )
    .unwrap();
    let key = dir.path().join("token.key");
    std::fs::write(&key, [11u8; 48]).unwrap();
    let mut gateway = Gateway {
        port: free_port(),
        env: vec![
            ("BRYGGA_DATABASE__URL".into(), database.clone()),
            (
                "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE".into(),
                subscriptions.display().to_string(),
            ),
            (
                "BRYGGA_AUTH__TOKEN_KEY_FILE".into(),
                key.display().to_string(),
            ),
            ("BRYGGA_AUTH__TOKEN_LIFETIME_SECONDS".into(), "3600".into()),
            ("BRYGGA_LOG__LEVEL".into(), "error".into()),
            // PostgreSQL keeps no state beside the gateway: its identity is configured.
            (
                "BRYGGA_DELIVERY__INSTANCE_ID".into(),
                format!("crash-{backend}"),
            ),
        ],
        child: None,
    };
    gateway.start().await;
    let token = token(&gateway.base(), jiff::Timestamp::now()).await;
    let templates = [
        std::fs::read_to_string(
            root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
        )
        .unwrap(),
        std::fs::read_to_string(
            root().join("mappings/cosmic-link/examples/06-andrad-beraknad-utskrivning.xml"),
        )
        .unwrap(),
    ];
    // The load: eight clients, each posting a case's two steps in turn.
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next_case = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (accepted, stop, next_case, templates, token, base) = (
            accepted.clone(),
            stop.clone(),
            next_case.clone(),
            templates.clone(),
            token.clone(),
            gateway.base(),
        );
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                let n = next_case.fetch_add(1, Ordering::Relaxed);
                for step in 0..2 {
                    let ok = client
                        .post(format!("{base}/cosmic-link/v1/messages"))
                        .bearer_auth(&token)
                        .header("content-type", "application/xml")
                        .body(message(&templates, n, step))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if !ok {
                        // The gateway is down: the case's next step would not fit; a new case.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        break;
                    }
                    accepted.lock().unwrap().push(format!("CL-CR{step}-{n:07}"));
                }
            }
        }));
    }
    let mut figures = Figures {
        cycles,
        ..Figures::default()
    };
    let mut last_fault = Instant::now();
    for _ in 0..cycles {
        tokio::time::sleep(Duration::from_millis(500 + random_below(2_000))).await;
        if random_below(3) == 0 {
            // The receiver down for a second, somewhere in the cycle.
            receiver.kill();
            figures.receiver_outages += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
            receiver.start();
        }
        gateway.kill();
        let restarted = Instant::now();
        gateway.start().await;
        figures.reclaims.push(restarted.elapsed());
        last_fault = Instant::now();
    }
    stop.store(true, Ordering::Relaxed);
    for client in load {
        let _ = client.await;
    }
    // What the gateway stored and must deliver.
    sqlx::any::install_default_drivers();
    let url = match database.strip_prefix("sqlite://") {
        Some(path) => format!("sqlite:{path}"),
        None => database.clone(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let accepted = accepted.lock().unwrap().clone();
    figures.accepted = accepted.len();
    let stored: BTreeSet<String> = sqlx::query_scalar("SELECT message_id FROM received_messages")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let not_stored = accepted.iter().filter(|m| !stored.contains(*m)).count();
    let deadline = Instant::now() + Duration::from_secs(300);
    let expected: BTreeSet<String> = loop {
        let keys: BTreeSet<String> = sqlx::query_scalar(
            "SELECT idempotency_key FROM outbox WHERE destination = 'ostersund'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let received = receiver.stored_keys();
        if keys.iter().all(|k| received.contains(k)) {
            figures.settled_after = last_fault.elapsed();
            break keys;
        }
        if Instant::now() > deadline {
            figures.settled_after = last_fault.elapsed();
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let received = receiver.stored_keys();
    figures.deliveries = expected.len();
    figures.lost = not_stored + expected.iter().filter(|k| !received.contains(*k)).count();
    // The receiver's lines: each key's first arrival, and the repeats.
    let lines = receiver.lines.lock().unwrap().clone();
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    for (generation, line) in &lines {
        let Some(key) = field(line, "key") else {
            continue;
        };
        if line.contains("(out of order") {
            figures.out_of_order += 1;
        }
        if line.contains("(repeat") {
            if field(line, "possibly-delivered").as_deref() == Some("true") {
                figures.unrecorded_repeats += 1;
            } else if first.get(&key) == Some(generation) {
                figures.repeats_after_a_recorded_answer += 1;
            }
        } else {
            first.entry(key).or_insert(*generation);
        }
    }
    gateway.kill();
    receiver.kill();
    pool.close().await;
    figures
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(30);
    let backends: Vec<String> = std::env::var("CRASH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_owned())
        .split(',')
        .map(|b| b.trim().to_owned())
        .collect();
    println!(
        "backend   | cycles | receiver outages | accepted | deliveries | lost | repeats, unrecorded | repeats after a recorded answer | out of order | settled after last fault | restart to ready (median / max)"
    );
    for backend in backends {
        let database = runtime.block_on(async {
            match backend.as_str() {
                "postgres" => fresh_postgres("brygga_crash").await,
                _ => {
                    let dir =
                        std::env::temp_dir().join(format!("brygga-crash-{}", std::process::id()));
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::create_dir_all(&dir).unwrap();
                    Some(format!("sqlite://{}", dir.join("brygga.db").display()))
                }
            }
        });
        let Some(database) = database else {
            println!("{backend:9} | skipped: BRYGGA_TEST_POSTGRES_URL is not set");
            continue;
        };
        let figures = runtime.block_on(run(&backend, database, cycles));
        let mut reclaims = figures.reclaims.clone();
        reclaims.sort();
        let median = reclaims
            .get(reclaims.len() / 2)
            .copied()
            .unwrap_or_default();
        let max = reclaims.last().copied().unwrap_or_default();
        println!(
            "{backend:9} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} / {} ms",
            figures.cycles,
            figures.receiver_outages,
            figures.accepted,
            figures.deliveries,
            figures.lost,
            figures.unrecorded_repeats,
            figures.repeats_after_a_recorded_answer,
            figures.out_of_order,
            figures.settled_after.as_secs_f64(),
            median.as_millis(),
            max.as_millis(),
        );
    }
}
