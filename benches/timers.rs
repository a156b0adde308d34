//! Durable timers at national scale: one million open cases with a pending timer each.
//!
//! `cargo bench --bench timers` measures SQLite (a temporary file) and, when
//! `BRYGGA_TEST_POSTGRES_URL` is set, PostgreSQL:
//! - the size of the table and the process's peak memory with 1,000,000 pending timers;
//! - the time to find due timers (`claim_due_timers`, `next_timer_due`) among them, and the
//!   query plan that shows the partial index on pending due times is used (no full scan);
//! - the lag between due time and firing: 1,000 real cases get timers falling due over five
//!   seconds while 16 tasks keep committing new cases with timers; the scheduler (real clock)
//!   records each as a `deadline_missed` event, and the lag is `recorded_at − due_at`.
//!
//! `BRYGGA_BENCH_TIMERS` changes the million (e.g. `100000` for a quick run).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brygga::changes::{CaseCommit, TimerEntry};
use brygga::clock::Clock;
use brygga::config::Directory;
use brygga::domain::event::Deadline;
use brygga::formats::Mappings;
use brygga::pipeline::Scheduler;
use brygga::process::TimerPayload;
use brygga::store::{Backend, GroupCommitter, Store};
use jiff::{SignedDuration, Timestamp};
use sqlx::{AnyConnection, Connection, Executor, Row};

const FIRING: usize = 1_000;
const LOAD_TASKS: usize = 16;

fn case_with_timer(due_at: Timestamp) -> CaseCommit {
    let now = Timestamp::now();
    let (case, started_by) = support::admitted_case(now);
    let mut commit = CaseCommit::from_case(&case, 0, now);
    commit.timers.push(TimerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        kind: "sip_invitation".into(),
        due_at,
        payload: serde_json::to_value(TimerPayload {
            deadline: Deadline::SipInvitation,
            rule: "bench/sip_invitation".into(),
            started_by,
            party: None,
            deviation_id: None,
            reminder: None,
        })
        .unwrap(),
    });
    commit
}

/// Inserts `n` open cases with one pending timer each, due over the next 30 days.
async fn load(conn: &mut AnyConnection, backend: Backend, n: u64) {
    let now = Timestamp::now().as_millisecond();
    let far = now + 86_400_000; // from tomorrow
    let sql = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             INSERT INTO timers (id, case_id, kind, due_at, payload, created_at) \
             SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('%08x-0000-4000-9000-%012x', i, i), \
             'sip_invitation', {far} + (i * 2591) % 2592000000, '{{}}', {now} FROM n",
            last = n - 1
        ),
        Backend::Postgres => format!(
            "INSERT INTO timers (id, case_id, kind, due_at, payload, created_at) \
             SELECT lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'), \
             lpad(to_hex(i), 8, '0') || '-0000-4000-9000-' || lpad(to_hex(i), 12, '0'), \
             'sip_invitation', {far} + (i * 2591) % 2592000000, '{{}}', {now} \
             FROM generate_series(0::bigint, {last}::bigint) AS i",
            last = n - 1
        ),
    };
    conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    let cases = match backend {
        Backend::Sqlite => {
            "INSERT INTO cases (id, person_system, person_value, phase, version, created_at, updated_at) \
             SELECT case_id, 'personnummer', '198112189876', 'ready_for_discharge', 1, created_at, created_at FROM timers"
        }
        Backend::Postgres => {
            "INSERT INTO cases (id, person_system, person_value, phase, version, created_at, updated_at) \
             SELECT case_id, 'personnummer', '198112189876', 'ready_for_discharge', 1, created_at, created_at FROM timers"
        }
    };
    conn.execute(cases).await.unwrap();
    if backend == Backend::Postgres {
        conn.execute("ANALYZE timers").await.unwrap();
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(name: &str, url: &str, raw_url: &str, n: u64, file: Option<&std::path::Path>) {
    let store = Store::connect(url, 8).await.unwrap();
    store.migrate().await.unwrap();
    let backend = store.backend();
    let mut conn = AnyConnection::connect(raw_url).await.unwrap();
    let started = Instant::now();
    load(&mut conn, backend, n).await;
    let loaded = started.elapsed();
    let size = match backend {
        Backend::Sqlite => file
            .and_then(|f| std::fs::metadata(f).ok())
            .map(|m| m.len() as f64 / 1048576.0)
            .unwrap_or(f64::NAN),
        Backend::Postgres => {
            let row = sqlx::query(
                "SELECT pg_total_relation_size('timers') + pg_total_relation_size('cases')",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            row.try_get::<i64, _>(0).unwrap() as f64 / 1048576.0
        }
    };
    println!(
        "{name:<9} {n} open cases with a pending timer: loaded in {:.1} s; timers + cases {size:.0} MiB on disk; process peak RSS {:.0} MiB",
        loaded.as_secs_f64(),
        peak_rss_mib()
    );

    let plan_sql = match backend {
        Backend::Sqlite => {
            "EXPLAIN QUERY PLAN SELECT id FROM timers WHERE status = 'pending' AND due_at <= 1 ORDER BY due_at, id LIMIT 200"
        }
        Backend::Postgres => {
            "EXPLAIN SELECT id FROM timers WHERE status = 'pending' AND due_at <= 1 ORDER BY due_at, id LIMIT 200"
        }
    };
    let rows = sqlx::query(plan_sql).fetch_all(&mut conn).await.unwrap();
    let plan: Vec<String> = rows
        .iter()
        .map(|r| {
            (0..r.len())
                .filter_map(|i| r.try_get::<String, _>(i).ok())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    println!("{name:<9} claim query plan: {}", plan.join(" | "));

    // Finding due timers among a million pending ones (none due now).
    let rounds = 200;
    let t = Instant::now();
    for _ in 0..rounds {
        let due = store
            .claim_due_timers(
                "bench",
                Timestamp::now(),
                SignedDuration::from_secs(60),
                200,
            )
            .await
            .unwrap();
        assert!(due.is_empty());
    }
    let claim = t.elapsed() / rounds;
    let t = Instant::now();
    for _ in 0..rounds {
        store.next_timer_due().await.unwrap();
    }
    let next = t.elapsed() / rounds;
    println!(
        "{name:<9} find due timers among them: claim_due_timers {:.2} ms, next_timer_due {:.2} ms (mean of {rounds})",
        claim.as_secs_f64() * 1e3,
        next.as_secs_f64() * 1e3
    );

    // Lag between due time and firing, under a load of new cases.
    let committer = GroupCommitter::start(store.clone(), 256);
    let first_due = Timestamp::now() + SignedDuration::from_secs(2);
    for i in 0..FIRING {
        let due = first_due + SignedDuration::from_millis((i as i64 * 5_000) / FIRING as i64);
        committer.commit(case_with_timer(due)).await.unwrap();
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = Scheduler {
        store: store.clone(),
        committer: committer.clone(),
        mappings: Arc::new(
            Mappings::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"))
                .expect("the mappings load"),
        ),
        directory: Arc::new(Directory::default()),
        subscriptions: Default::default(),
        clock: Clock::System,
        worker: "bench".into(),
        lease: jiff::SignedDuration::from_secs(60),
        outbox_ready: None,
        metrics: Default::default(),
    };
    let scheduler = tokio::spawn(scheduler.run(stop_rx));
    let loading = Arc::new(AtomicBool::new(true));
    let committed = Arc::new(AtomicU64::new(0));
    let mut load_tasks = Vec::new();
    for _ in 0..LOAD_TASKS {
        let committer = committer.clone();
        let loading = loading.clone();
        let committed = committed.clone();
        load_tasks.push(tokio::spawn(async move {
            while loading.load(Ordering::Relaxed) {
                let far = Timestamp::now() + SignedDuration::from_hours(24 * 40);
                committer.commit(case_with_timer(far)).await.unwrap();
                committed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let load_started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    let lags: Vec<i64> = loop {
        let rows = sqlx::query(
            "SELECT recorded_at - occurred_at FROM events WHERE kind = 'deadline_missed'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        if rows.len() >= FIRING || Instant::now() > deadline {
            let mut lags: Vec<i64> = rows.iter().map(|r| r.try_get(0).unwrap()).collect();
            lags.sort_unstable();
            break lags;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    loading.store(false, Ordering::Relaxed);
    for task in load_tasks {
        task.await.unwrap();
    }
    let rate = committed.load(Ordering::Relaxed) as f64 / load_started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    scheduler.await.unwrap();
    println!(
        "{name:<9} due → fired lag for {} of {FIRING} timers falling due over 5 s while {LOAD_TASKS} tasks committed {rate:.0} new cases/s: p50 {} ms, p99 {} ms, max {} ms",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0)
    );
    println!(
        "{name:<9} process peak RSS after the run: {:.0} MiB",
        peak_rss_mib()
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    sqlx::any::install_default_drivers();
    let n: u64 = std::env::var("BRYGGA_BENCH_TIMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("timers.db");
    let sqlite = format!("sqlite://{}", file.display());
    let raw = format!("sqlite:{}", file.display());
    measure("sqlite", &sqlite, &raw, n, Some(&file)).await;
    if let Ok(admin) = std::env::var("BRYGGA_TEST_POSTGRES_URL") {
        let mut conn = AnyConnection::connect(&admin).await.unwrap();
        let name = format!("brygga_bench_{}", uuid::Uuid::new_v4().simple());
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        measure("postgres", &url, &url, n, None).await;
    } else {
        println!(
            "postgres  skipped: set BRYGGA_TEST_POSTGRES_URL (scripts/test-postgres.sh start) to measure it"
        );
    }
}
