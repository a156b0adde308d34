//! Commit throughput: one transaction per message versus group commit, side by side in one run.
//!
//! `cargo bench --bench commit_throughput` measures SQLite (a temporary file; one transaction
//! per commit with `synchronous=FULL`; group commit with the write-ahead log synced by the
//! gateway's own thread, and beside it synced in each batch's commit) and, when
//! `BRYGGA_TEST_POSTGRES_URL` is set, PostgreSQL. Each round commits the same number of new
//! cases (one admission notice and one audit record each) from 64 concurrent tasks.

mod support;

use std::time::{Duration, Instant};

use brygga::changes::{AuditEntry, CaseCommit};
use brygga::domain::identifiers::{PersonId, Personnummer};
use brygga::store::{GroupCommitter, Store};
use jiff::Timestamp;
use sqlx::{AnyConnection, Connection, Executor};

const TASKS: usize = 64;
const PER_TASK: usize = 25;

fn commit(person: &PersonId) -> CaseCommit {
    let now = Timestamp::now();
    let (case, _) = support::admitted_case(now);
    let mut commit = CaseCommit::from_case(&case, 0, now);
    commit.audit.push(AuditEntry {
        actor: "bench".into(),
        organisation: None,
        action: "disclose".into(),
        person: Some(person.clone()),
        purpose: "benchmark".into(),
        legal_basis: None,
        details: serde_json::json!({}),
    });
    commit
}

async fn round(store: &Store, grouped: Option<GroupCommitter>) -> Duration {
    let person = PersonId::Personnummer(Personnummer::parse("19811218-9876").unwrap());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        let grouped = grouped.clone();
        let person = person.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..PER_TASK {
                let c = commit(&person);
                match &grouped {
                    Some(g) => g.commit(c).await.unwrap(),
                    None => store.commit(c).await.unwrap(),
                };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

async fn measure(name: &str, url: &str) {
    let store = Store::connect(url, 8).await.unwrap();
    store.migrate().await.unwrap();
    let n = (TASKS * PER_TASK) as f64;
    // Warm up, then alternate the two modes so drift on a noisy machine hits both alike.
    round(&store, None).await;
    let committer = GroupCommitter::start(store.clone(), 256);
    let (mut single, mut grouped) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        single.push(n / round(&store, None).await.as_secs_f64());
        grouped.push(n / round(&store, Some(committer.clone())).await.as_secs_f64());
    }
    single.sort_by(f64::total_cmp);
    grouped.sort_by(f64::total_cmp);
    let (s, g) = (single[1], grouped[1]);
    println!(
        "{name:<10} one transaction per commit: {s:>8.0} commits/s   group commit: {g:>8.0} commits/s   ratio {:.1}x   (median of 3 rounds of {} commits from {TASKS} tasks)",
        g / s,
        TASKS * PER_TASK
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    measure("sqlite", &sqlite).await;
    if let Ok(admin) = std::env::var("BRYGGA_TEST_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&admin).await.unwrap();
        let name = format!("brygga_bench_{}", uuid::Uuid::new_v4().simple());
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        measure("postgres", &format!("{base}/{name}")).await;
    } else {
        println!(
            "postgres   skipped: set BRYGGA_TEST_POSTGRES_URL (scripts/test-postgres.sh start) to measure it"
        );
    }
}
