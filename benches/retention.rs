//! The long-run retention harness: the whole gateway over real HTTP on loopback, on a virtual
//! clock, for weeks of traffic in a minute, showing how the database grows.
//!
//! `cargo bench --bench retention` runs on SQLite (a temporary file) and — with
//! `BRYGGA_TEST_POSTGRES_URL` set — on PostgreSQL. Every virtual day `RETENTION_PER_DAY`
//! (default 400) admission notices, each a new case, are posted and delivered to a local
//! receiver; then the clock moves on a day and the gateway prunes on its own (finished
//! deliveries with their message bodies, finished timers, receipts; `delivery.retention_days`
//! is 7). The run lasts `RETENTION_RUN_DAYS` (default 35) days. Per day it prints the database
//! size, the rows per table and the message bodies held; at the end the growth per day of the
//! first week (nothing pruned yet) and of the last week.
//!
//! It fails if the outbox ever holds more than the retention's worth of deliveries.

use std::time::{Duration, Instant};

use brygga::clock::Clock;
use brygga::startup::Application;
use jiff::SignedDuration;

#[path = "support/http.rs"]
mod http_support;
use http_support::{admission, root, settings, token};

const RETENTION_DAYS: u64 = 7;
/// Deliveries per admission notice: Östersund's two units.
const DELIVERIES_PER_MESSAGE: u64 = 2;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn receiver() -> String {
    let router = axum::Router::new().route(
        "/inbox",
        axum::routing::post(|| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// Waits (at most a minute) until `done` holds.
async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(backend: &str, database: &str, dir: &std::path::Path, template: &str) {
    let days = env("RETENTION_RUN_DAYS", 35);
    let per_day = env("RETENTION_PER_DAY", 400) as usize;
    let inbox = receiver().await;
    let mut settings = settings(database, dir, &inbox);
    settings.delivery.retention_days = RETENTION_DAYS;
    let clock = Clock::manual(jiff::Timestamp::now());
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .unwrap();
    let store = app.store().clone();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let url = format!("{base}/cosmic-link/v1/messages");
    let client = reqwest::Client::new();
    let bound = DELIVERIES_PER_MESSAGE * per_day as u64 * (RETENTION_DAYS + 1);
    println!("{backend}: {per_day} admission notices a day, retention {RETENTION_DAYS} days");
    println!("  day   database MB   free MB   outbox rows   message KB   events    cases");
    let mut sizes = Vec::new();
    let mut peak_outbox = 0;
    for day in 1..=days {
        let token = token(&base, clock.now()).await;
        // Sixteen at a time.
        let mut posting = tokio::task::JoinSet::new();
        let mut statuses = Vec::with_capacity(per_day);
        for i in 0..per_day {
            let request = client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/xml")
                .body(admission(template, day as usize * 1_000_000 + i, "rt"));
            posting.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
            if posting.len() >= 16
                && let Some(done) = posting.join_next().await
            {
                statuses.push(done.unwrap().unwrap());
            }
        }
        while let Some(done) = posting.join_next().await {
            statuses.push(done.unwrap().unwrap());
        }
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let pending = brygga::store::DeliveryQuery {
            status: Some("pending".to_owned()),
            limit: 1,
            ..Default::default()
        };
        wait_until("delivering the day's messages", || async {
            store.deliveries(&pending).await.unwrap().is_empty()
        })
        .await;
        // The day ends; the gateway prunes what finished more than the retention ago.
        clock.advance(SignedDuration::from_hours(24));
        if day > RETENTION_DAYS {
            wait_until("pruning", || async {
                store.footprint().await.unwrap().rows_of("outbox") <= bound
            })
            .await;
        }
        let footprint = store.footprint().await.unwrap();
        let outbox = footprint.rows_of("outbox");
        peak_outbox = peak_outbox.max(outbox);
        assert!(
            outbox <= bound,
            "day {day}: {outbox} outbox rows, more than {bound}"
        );
        println!(
            "  {day:>3}   {:>11.2}   {:>7.2}   {outbox:>11}   {:>10.0}   {:>6}   {:>6}",
            footprint.bytes as f64 / 1e6,
            footprint.free_bytes as f64 / 1e6,
            footprint.message_bytes as f64 / 1e3,
            footprint.rows_of("events"),
            footprint.rows_of("cases"),
        );
        sizes.push(footprint);
    }
    let per_day_growth = |from: usize, to: usize| {
        (sizes[to].bytes as f64 - sizes[from].bytes as f64) / (to - from) as f64 / 1e3
    };
    let week = RETENTION_DAYS as usize;
    if sizes.len() > 2 * week {
        let last = sizes.len() - 1;
        println!(
            "{backend}: outbox peaked at {peak_outbox} rows (bound {bound}); the database grew {:.0} KB a day in the first week, {:.0} KB a day in the last (the case record: cases, events, audit log); message bodies held at the end {:.0} KB",
            per_day_growth(0, week - 1),
            per_day_growth(last - week, last),
            sizes[last].message_bytes as f64 / 1e3,
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn main() {
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
        let sqlite = format!("sqlite://{}", dir.path().join("retention.db").display());
        run("SQLite", &sqlite, dir.path(), &template).await;
        if let Ok(url) = std::env::var("BRYGGA_TEST_POSTGRES_URL") {
            let name = format!("retention_{}", std::process::id());
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
            let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
            run(
                "PostgreSQL",
                &format!("{base}/{name}"),
                dir.path(),
                &template,
            )
            .await;
        }
    });
}
