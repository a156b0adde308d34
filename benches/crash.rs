//! The crash harness: the gateway's release binary killed with SIGKILL at random moments under
//! load, and its receiver — the reference receiver, `brygga receive --store` — taken down at
//! random moments too, cycle after cycle; then, once the last fault is over, how the delivery
//! promise held up:
//!
//! - **lost**: a message answered 2xx that is not stored, or a delivery of it that never
//!   reached the receiver's store (must be 0);
//! - **duplicates**: repeats of an idempotency key the receiver had taken, by kind — sent again
//!   after an attempt whose outcome the gateway never recorded (it died first, or the answer
//!   never came: the delivery says `X-Brygga-Possibly-Delivered: true`), and any other repeat:
//!   one sent again though the earlier attempt's 2xx was recorded, or not marked (must be 0);
//! - **out of order**: a case's step arriving after a later one of the same case (must be 0);
//! - **settled after**: the time from the end of the last fault (the gateway ready again, or
//!   the receiver back) until every delivery of every accepted message is in the receiver's
//!   store. A receiver outage can open the subscription's circuit, whose first probe goes
//!   five seconds later.
//!
//! Each case is an admission notice and then a change of the estimated discharge, both to
//! Östersund (two units for the first, the municipality for the second), posted by eight
//! clients at `CRASH_RATE` messages a second in all (default 300, some thousand times a
//! region's daily traffic; 0: as fast as the gateway takes them, which outruns what the
//! receiver stores, so that the backlog at the last fault, reported too, decides the time to
//! settle). `CRASH_CYCLES` (default 30) cycles per backend; `CRASH_BACKENDS`
//! (`sqlite,postgres`; PostgreSQL with `BRYGGA_TEST_POSTGRES_URL` set) chooses the backends.
//!
//! `cargo bench --bench crash`

use std::collections::BTreeSet;
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

/// The reference receiver as a process; every line it prints is kept.
struct Receiver {
    port: u16,
    store: std::path::PathBuf,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(&mut self) {
        let mut child = Command::new(BIN)
            .args(["receive", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--store")
            .arg(&self.store)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("brygga receive");
        let stdout = child.stdout.take().unwrap();
        let lines = self.lines.clone();
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
                lines.lock().unwrap().push(line);
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
    other_repeats: usize,
    out_of_order: usize,
    /// Deliveries still to go when the load stopped, just after the last fault.
    backlog: usize,
    settled_after: Duration,
    reclaims: Vec<Duration>,
}

async fn run(backend: &str, database: String, cycles: usize, rate: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver {
        port: free_port(),
        store: dir.path().join("receiver"),
        child: None,
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
    // The load: eight clients, each posting a case's two steps in turn, each at an eighth of
    // the rate.
    let per_client = (rate > 0).then(|| Duration::from_secs_f64(8.0 * 2.0 / rate as f64));
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
            let mut pace = per_client.map(|every| {
                let mut pace = tokio::time::interval(every);
                pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                pace
            });
            while !stop.load(Ordering::Relaxed) {
                if let Some(pace) = &mut pace {
                    pace.tick().await;
                }
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
    for cycle in 0..cycles {
        tokio::time::sleep(Duration::from_millis(500 + random_below(2_000))).await;
        // In one cycle of three the receiver is down for a second too: before the gateway is
        // killed, while it is down, or after it is back (so that the last fault may leave an
        // open circuit, not a fresh start).
        // The last cycle always ends with one: the harder fault to settle from.
        let outage = if cycle + 1 == cycles {
            Some(2)
        } else {
            (random_below(3) == 0).then(|| random_below(3))
        };
        if outage.is_some() {
            figures.receiver_outages += 1;
        }
        if outage == Some(0) {
            receiver.kill();
            tokio::time::sleep(Duration::from_secs(1)).await;
            receiver.start();
            tokio::time::sleep(Duration::from_millis(random_below(1_500))).await;
        }
        let down = Instant::now();
        if outage == Some(1) {
            receiver.kill();
            tokio::time::sleep(Duration::from_millis(random_below(800))).await;
        }
        gateway.kill();
        let restarted = Instant::now();
        gateway.start().await;
        figures.reclaims.push(restarted.elapsed());
        if outage == Some(1) {
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(down.elapsed())).await;
            receiver.start();
        }
        if outage == Some(2) {
            tokio::time::sleep(Duration::from_millis(random_below(1_000))).await;
            receiver.kill();
            tokio::time::sleep(Duration::from_secs(1)).await;
            receiver.start();
        }
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
    figures.backlog =
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap() as usize;
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
    // The receiver's lines: the repeats it dropped, and what came out of order.
    let lines = receiver.lines.lock().unwrap().clone();
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    for line in &lines {
        if field(line, "key").is_none() {
            continue;
        }
        if line.contains("(out of order") {
            figures.out_of_order += 1;
        }
        if line.contains("(repeat") {
            if field(line, "possibly-delivered").as_deref() == Some("true") {
                figures.unrecorded_repeats += 1;
            } else {
                figures.other_repeats += 1;
            }
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
    let rate: usize = std::env::var("CRASH_RATE")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    let backends: Vec<String> = std::env::var("CRASH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_owned())
        .split(',')
        .map(|b| b.trim().to_owned())
        .collect();
    println!(
        "load: {}",
        if rate > 0 {
            format!("{rate} messages/s")
        } else {
            "as fast as accepted".to_owned()
        }
    );
    println!(
        "backend   | cycles | receiver outages | accepted | deliveries | lost | repeats, unrecorded | repeats, other | out of order | backlog at last fault | settled after last fault | restart to ready (median / max)"
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
        let figures = runtime.block_on(run(&backend, database, cycles, rate));
        let mut reclaims = figures.reclaims.clone();
        reclaims.sort();
        let median = reclaims
            .get(reclaims.len() / 2)
            .copied()
            .unwrap_or_default();
        let max = reclaims.last().copied().unwrap_or_default();
        println!(
            "{backend:9} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} / {} ms",
            figures.cycles,
            figures.receiver_outages,
            figures.accepted,
            figures.deliveries,
            figures.lost,
            figures.unrecorded_repeats,
            figures.other_repeats,
            figures.out_of_order,
            figures.backlog,
            figures.settled_after.as_secs_f64(),
            median.as_millis(),
            max.as_millis(),
        );
    }
}
