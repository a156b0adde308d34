//! The FHIR API under load with a national-scale store: reads, searches and Task updates per
//! second, with p50/p99, over real HTTP on loopback.
//!
//! `cargo bench --bench fhir_api` loads `FHIR_CASES` cases (default 100,000: admission notices
//! of as many people, each with three Tasks, posted by the region's Cosmic Link client as fast
//! as they are accepted), then measures, for `LOAD_SECONDS` each (default 5), with 16 clients of
//! Östersund (a party to every case) asking as fast as they are answered:
//! - **read**: `GET /fhir/Task/{id}` of a random case's Task;
//! - **search**: `GET /fhir/Task?patient=<system>|<value>` of a random person;
//! - **update**: `PUT /fhir/Task/{id}`, Hemsjukvården starting its planning (`in-progress`) on a
//!   case's admission notice Task — each a new event, committed durably and routed.
//!
//! On SQLite (a temporary file) and, with `BRYGGA_TEST_POSTGRES_URL` set, on PostgreSQL. Every
//! read, search and update goes through the disclosure decision and is audited, as in
//! production.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brygga::clock::Clock;
use brygga::delivery::Subscriptions;
use brygga::startup::Application;
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/http.rs"]
mod http_support;
use http_support::{
    Picks, client, load_people, on_each_backend, percentile, personnummer, settings, token_as,
};

const CLIENTS: usize = 16;
const PERSON_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The twelve-digit form of `personnummer(n)` as a search parameter.
fn person_parameter(n: usize) -> String {
    format!("{PERSON_SYSTEM}|19{}", personnummer(n).replace('-', ""))
}

/// Posts `cases` admission notices; answers each case's first Task id, in order.
async fn load(base: &str, token: &str, template: &str, cases: usize) -> Vec<String> {
    load_people(base, token, template, cases, "FHIR", "event_id")
        .await
        .into_iter()
        .map(|event| format!("{event}-0"))
        .collect()
}

/// `CLIENTS` clients doing `request(i)` for the `i`-th operation (up to `limit`) for
/// `duration`; prints operations per second, p50 and p99.
async fn measure<F, Fut>(name: &str, duration: Duration, limit: usize, request: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (request, next) = (request.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let began = Instant::now();
                let status = request(i).await;
                assert!((200..300).contains(&status), "{i}: answered {status}");
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "  {name}: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms ({} requests)",
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.len()
    );
}

async fn run(backend: &str, database: &str, dir: &std::path::Path, template: &str) {
    let cases = env_number("FHIR_CASES", 100_000);
    let duration = Duration::from_secs(env_number("LOAD_SECONDS", 5) as u64);
    let mut settings = settings(database, dir, "http://127.0.0.1:9/unused");
    // No deliveries: the harness measures the API, not the outbox.
    settings.subscriptions = Subscriptions::default();
    let app = Application::build_with_clock(settings, Clock::System)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    println!("{backend}, {cases} cases:");
    let region = token_as(&base, jiff::Timestamp::now(), "region-jh-cosmic").await;
    let task_ids = Arc::new(load(&base, &region, template, cases).await);
    let ostersund = Arc::new(token_as(&base, jiff::Timestamp::now(), "ostersund-treserva").await);
    let client = client();

    let (c, t, ids) = (client.clone(), ostersund.clone(), task_ids.clone());
    let base_read = base.clone();
    measure("read Task/{id}", duration, usize::MAX, move |i| {
        let (c, t, ids) = (c.clone(), t.clone(), ids.clone());
        let url = format!(
            "{base_read}/fhir/Task/{}",
            ids[Picks(i as u64 * 2_654_435_761 + 1).next(ids.len())]
        );
        async move {
            c.get(url)
                .bearer_auth(t.as_str())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;

    let (c, t) = (client.clone(), ostersund.clone());
    let base_search = base.clone();
    measure("search Task?patient=", duration, usize::MAX, move |i| {
        let (c, t) = (c.clone(), t.clone());
        let url = format!(
            "{base_search}/fhir/Task?patient={}",
            person_parameter(Picks(i as u64 * 40_503 + 7).next(cases))
        );
        async move {
            let response = c.get(url).bearer_auth(t.as_str()).send().await.unwrap();
            let status = response.status().as_u16();
            let found: Value = response.json().await.unwrap();
            assert_eq!(found["total"], 3, "{found}");
            status
        }
    })
    .await;

    // Updates: Hemsjukvården's admission notice Task of a different case each time (the Task
    // of owner 1), read before the clock starts.
    let wanted = (cases / 4).min(20_000);
    let mut tasks = Vec::with_capacity(wanted);
    let mut picks = Picks(99);
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < wanted {
        chosen.insert(picks.next(cases));
    }
    for n in chosen {
        let id = format!("{}-1", task_ids[n].strip_suffix("-0").unwrap());
        let task: Value = client
            .get(format!("{base}/fhir/Task/{id}"))
            .bearer_auth(ostersund.as_str())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            task["owner"]["identifier"]["value"], "SE2120002411-HSJV",
            "{task}"
        );
        tasks.push((id, task));
    }
    let tasks = Arc::new(tasks);
    let (c, t, ts) = (client.clone(), ostersund.clone(), tasks.clone());
    let base_update = base.clone();
    measure("update PUT Task/{id}", duration, tasks.len(), move |i| {
        let (c, t) = (c.clone(), t.clone());
        let (id, task) = &ts[i];
        let mut task = task.clone();
        task["status"] = serde_json::json!("in-progress");
        task["lastModified"] = serde_json::json!("2026-11-23T13:30:00+01:00");
        let url = format!("{base_update}/fhir/Task/{id}");
        async move {
            // Each Task is changed once, from the version 1 it was read as.
            c.put(url)
                .bearer_auth(t.as_str())
                .header("content-type", "application/fhir+json")
                .header("if-match", "W/\"1\"")
                .json(&task)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn main() {
    on_each_backend("fhir_api", |backend, database, dir, template| async move {
        run(backend, &database, &dir, &template).await
    });
}
