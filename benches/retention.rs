//! The long-run retention harness: the whole gateway over real HTTP on loopback, on a virtual
//! clock, for weeks of traffic in a minute, showing how the database grows.
//!
//! `cargo bench --bench retention` runs on SQLite (a temporary file) and — with
//! `BRYGGA_TEST_POSTGRES_URL` set — on PostgreSQL. Every virtual day `RETENTION_PER_DAY`
//! (default 300) cases are opened by an admission notice, delivered to a local receiver, and
//! closed (the case cancelled); then the clock moves on a day and the gateway prunes on its
//! own: finished deliveries with their message bodies, finished timers and receipts after
//! `delivery.retention_days` (7), closed cases after `retention.closed_cases_days` (14), audit
//! records after `retention.audit_days` (21). On PostgreSQL the harness runs `VACUUM` after
//! each virtual day, standing in for the autovacuum runs of a real day. The run lasts
//! `RETENTION_RUN_DAYS` (default 45) days. Per day it prints the database size, the rows per
//! table and the message bodies held; at the end the growth per day of the first week (nothing
//! pruned yet) and of the last week (everything past its retention).
//!
//! It fails if the outbox, the cases or the audit log ever hold more than their retention's
//! worth.

use std::time::{Duration, Instant};

use brygga::clock::Clock;
use brygga::startup::Application;
use jiff::SignedDuration;

#[path = "support/http.rs"]
mod http_support;
use http_support::{admission, on_each_backend, root, settings, token};

const RETENTION_DAYS: u64 = 7;
const CLOSED_CASE_DAYS: u64 = 14;
const AUDIT_DAYS: u64 = 21;
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
    let days = env("RETENTION_RUN_DAYS", 45);
    let per_day = env("RETENTION_PER_DAY", 300) as usize;
    let inbox = receiver().await;
    let mut settings = settings(database, dir, &inbox);
    settings.delivery.retention_days = RETENTION_DAYS;
    settings.retention.closed_cases_days = CLOSED_CASE_DAYS;
    settings.retention.audit_days = AUDIT_DAYS;
    let vacuum = if database.starts_with("postgres") {
        sqlx::any::install_default_drivers();
        Some(sqlx::AnyPool::connect(database).await.unwrap())
    } else {
        None
    };
    let cancellation = std::fs::read_to_string(
        root().join("mappings/cosmic-link/examples/27-arende-avslutat.xml"),
    )
    .unwrap();
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
    let case_bound = per_day as u64 * (CLOSED_CASE_DAYS + 1);
    println!(
        "{backend}: {per_day} cases a day (admitted and closed), deliveries kept {RETENTION_DAYS} days, closed cases {CLOSED_CASE_DAYS} days, audit records {AUDIT_DAYS} days"
    );
    println!(
        "  day   database MB   free MB   outbox rows   message KB   events    cases   audit records"
    );
    let mut sizes = Vec::new();
    let mut peak_outbox = 0;
    let mut audit_per_day = vec![0];
    let mut audit_bound = None;
    for day in 1..=days {
        let token = token(&base, clock.now()).await;
        // Admitted, then closed; sixteen at a time.
        let mut statuses = Vec::with_capacity(2 * per_day);
        for closing in [false, true] {
            let mut posting = tokio::task::JoinSet::new();
            for i in 0..per_day {
                let n = day as usize * 1_000_000 + i;
                let body = if closing {
                    cancellation
                        .replace("CL-2026-0012", &format!("CL-rtc-{n:07}"))
                        .replace("SA-2026-004712", &format!("SA-rt-{n:07}"))
                        .replace("19550415-2389", "19811218-9876")
                        .into_bytes()
                } else {
                    admission(template, n, "rt")
                };
                let request = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/xml")
                    .body(body);
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
        let within = |footprint: &brygga::store::Footprint| {
            footprint.rows_of("outbox") <= bound
                && footprint.rows_of("cases") <= case_bound
                && footprint.rows_of("audit_log") <= audit_bound.unwrap_or(u64::MAX)
        };
        if day > RETENTION_DAYS {
            wait_until("pruning", || async {
                within(&store.footprint().await.unwrap())
            })
            .await;
        }
        if let Some(pool) = &vacuum {
            sqlx::query("VACUUM").execute(pool).await.unwrap();
        }
        let footprint = store.footprint().await.unwrap();
        assert!(
            within(&footprint),
            "day {day}: more than the retention holds: {footprint:?}"
        );
        let outbox = footprint.rows_of("outbox");
        peak_outbox = peak_outbox.max(outbox);
        audit_per_day.push(footprint.rows_of("audit_log"));
        if day == AUDIT_DAYS + 1 {
            // The first three weeks' records per day, with the pruning's own records.
            let most = audit_per_day
                .windows(2)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or(0);
            audit_bound = Some(most * (AUDIT_DAYS + 2));
        }
        println!(
            "  {day:>3}   {:>11.2}   {:>7.2}   {outbox:>11}   {:>10.0}   {:>6}   {:>6}   {:>13}",
            footprint.bytes as f64 / 1e6,
            footprint.free_bytes as f64 / 1e6,
            footprint.message_bytes as f64 / 1e3,
            footprint.rows_of("events"),
            footprint.rows_of("cases"),
            footprint.rows_of("audit_log"),
        );
        sizes.push(footprint);
    }
    let per_day_growth = |from: usize, to: usize| {
        (sizes[to].bytes as f64 - sizes[from].bytes as f64) / (to - from) as f64 / 1e3
    };
    let week = RETENTION_DAYS as usize;
    if sizes.len() > (AUDIT_DAYS as usize) + week {
        let last = sizes.len() - 1;
        println!(
            "{backend}: outbox peaked at {peak_outbox} rows (bound {bound}); the database grew {:.0} KB a day in the first week and {:.0} KB a day in the last; message bodies held at the end {:.0} KB",
            per_day_growth(0, week - 1),
            per_day_growth(last - week, last),
            sizes[last].message_bytes as f64 / 1e3,
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn main() {
    on_each_backend("retention", |backend, database, dir, template| async move {
        run(backend, &database, &dir, &template).await
    });
}
