//! Deliveries: claims with leases, settlements, order per case, pruning, acknowledgements.

use std::collections::HashSet;

use brygga::changes::ReceivedMessage;
use brygga::store::CommitOutcome;
use jiff::SignedDuration;
use sqlx::{Executor, Row};

use crate::support::*;

async fn case_with_outbox(db: &TestDb, rows: usize) {
    let p = person("19811218-9876");
    let (case, mut commit) = new_case(&p);
    for i in 0..rows {
        commit
            .outbox
            .push(outbox_entry(&case.events()[0], ostersund_unit(i)));
    }
    db.store.commit(commit).await.unwrap();
}

pub async fn bookkeeping_rides_in_a_batch_and_sees_the_rows_it_commits(db: &TestDb) {
    use brygga::store::{Booked, Bookkeeping, Settlement};
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (case, mut commit) = new_case(&p);
    for i in 0..3 {
        commit
            .outbox
            .push(outbox_entry(&case.events()[0], ostersund_unit(i)));
    }
    let now = at("2026-11-20T08:01:00Z");
    let claim = Bookkeeping::Claim {
        worker: "w".into(),
        now,
        lease: SignedDuration::from_secs(30),
        limit: 10,
        held_back: Vec::new(),
    };
    // The claim comes after the changes in the same transaction: it gets the rows just written.
    let (results, booked) = store
        .commit_batch_with(vec![commit], std::slice::from_ref(&claim), &[])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let Ok(Booked::Claimed(items)) = &booked[0] else {
        panic!("{booked:?}");
    };
    assert_eq!(items.len(), 3);
    // A batch of bookkeeping alone: settling two, and a claim that finds nothing left due.
    let settle = Bookkeeping::Settle {
        worker: "w".into(),
        settlements: items[..2]
            .iter()
            .map(|item| Settlement {
                id: item.id,
                status: "delivered",
                next_attempt_at: None,
                error: None,
                finished_at: Some(now),
            })
            .collect(),
    };
    let (results, booked) = store
        .commit_batch_with(Vec::new(), &[settle, claim], &[])
        .await
        .unwrap();
    assert!(results.is_empty());
    assert!(matches!(&booked[0], Ok(Booked::Settled(held)) if held == &[true, true]));
    assert!(matches!(&booked[1], Ok(Booked::Claimed(none)) if none.is_empty()));
    let outbox = store.outbox_status_for_case(case.id()).await.unwrap();
    assert_eq!(
        outbox.iter().filter(|(_, _, s)| s == "delivered").count(),
        2,
        "{outbox:?}"
    );
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}

/// Deliveries settled together: each answer says whether that row's claim held, whatever the
/// number of rows settled at once (the statement has a power of two of slots).
pub async fn settling_deliveries_together_answers_for_each_whether_its_claim_held(db: &TestDb) {
    use brygga::store::Settlement;
    db.migrated().await;
    case_with_outbox(db, 5).await;
    let store = &db.store;
    let now = at("2026-11-20T08:01:00Z");
    let items = store
        .claim_outbox("w", now, SignedDuration::from_secs(30), 10, &[])
        .await
        .unwrap();
    assert_eq!(items.len(), 5);
    let delivered = |id: i64| Settlement {
        id,
        status: "delivered",
        next_attempt_at: None,
        error: None,
        finished_at: Some(now),
    };
    let unknown = items.iter().map(|i| i.id).max().unwrap() + 1_000;
    // Two held rows and one that is no row at all: three settlements, four slots.
    let held = store
        .settle_outbox_batch(
            "w",
            &[
                delivered(items[0].id),
                delivered(unknown),
                delivered(items[1].id),
            ],
        )
        .await
        .unwrap();
    assert_eq!(held, [true, false, true]);
    // Another worker's settlement of the rest holds nowhere; the rows stay claimed by "w".
    let rest: Vec<Settlement> = items[2..].iter().map(|i| delivered(i.id)).collect();
    assert_eq!(
        store.settle_outbox_batch("other", &rest).await.unwrap(),
        [false, false, false]
    );
    // Settled once, a row is not settled again.
    let mut again = rest.clone();
    again.push(delivered(items[0].id));
    assert_eq!(
        store.settle_outbox_batch("w", &again).await.unwrap(),
        [true, true, true, false]
    );
    let outbox = store
        .outbox_status_for_case(items[0].case_id)
        .await
        .unwrap();
    assert_eq!(
        outbox.iter().filter(|(_, _, s)| s == "delivered").count(),
        5,
        "{outbox:?}"
    );
}

pub async fn delivery_bookkeeping_never_leaves_the_writer_less_durable(db: &TestDb) {
    db.migrated().await;
    case_with_outbox(db, 3).await;
    let store = &db.store;
    let durable = match store.backend() {
        brygga::store::Backend::Sqlite => "synchronous=FULL",
        brygga::store::Backend::Postgres => "synchronous_commit=on",
    };
    assert_eq!(store.writer_durability().await.unwrap(), durable);
    let now = at("2026-11-20T08:01:00Z");
    let lease = SignedDuration::from_secs(30);
    let claimed = store.claim_outbox("w", now, lease, 10, &[]).await.unwrap();
    assert_eq!(store.writer_durability().await.unwrap(), durable);
    assert!(
        store
            .complete_outbox(claimed[0].id, "w", now)
            .await
            .unwrap()
    );
    assert_eq!(store.writer_durability().await.unwrap(), durable);

    // A claim abandoned at any point of its way (its task cancelled) leaves it durable too.
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    for polls in 0..12 {
        let later = now
            .checked_add(SignedDuration::from_mins(polls + 1))
            .unwrap();
        let mut claim = Box::pin(store.claim_outbox("w", later, lease, 10, &[]));
        for _ in 0..polls {
            if claim.as_mut().poll(&mut context).is_ready() {
                break;
            }
        }
        drop(claim);
        assert_eq!(
            store.writer_durability().await.unwrap(),
            durable,
            "after {polls} polls"
        );
    }
    // A durable commit after bookkeeping is still a durable commit.
    let p = person("19811218-9876");
    let (_, commit) = new_case(&p);
    store.commit(commit).await.unwrap();
    assert_eq!(store.writer_durability().await.unwrap(), durable);
}

/// A claim over a backlog, on a fresh table whose statistics the database has not gathered
/// yet (as in the first minute of a new gateway under load; on PostgreSQL with the plan its
/// claim sessions made at the first claim, on the empty table), asks for each candidate whether
/// its case has an earlier pending delivery with one index probe, not a scan of the pending
/// rows: that scan, once per candidate, made claims over a few thousand rows run for minutes.
pub async fn a_claim_over_a_backlog_probes_for_each_cases_earlier_delivery(db: &TestDb) {
    db.migrated().await;
    let mut raw = db.raw().await;
    let backend = db.store.backend();
    let sql = brygga::store::claim_statement(backend);
    if backend == brygga::store::Backend::Postgres {
        // As the store's claim sessions keep it: prepared once, on their settings, for any
        // limit and time (the generic plan), and planned at the first claim, on an empty table.
        raw.execute(sqlx::raw_sql(brygga::store::CLAIM_SESSION))
            .await
            .unwrap();
        raw.execute(sqlx::AssertSqlSafe(format!(
            "PREPARE claim (text, bigint, bigint, bigint) AS {sql}"
        )))
        .await
        .unwrap();
        raw.execute("EXECUTE claim('w', 10000, 5000, 64)")
            .await
            .unwrap();
    }
    // 3,000 pending deliveries, two per case, to one subscription.
    let numbers = match backend {
        brygga::store::Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) SELECT i FROM n"
        }
        brygga::store::Backend::Postgres => "SELECT i FROM generate_series(1, 3000) AS n(i)",
    };
    raw.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO outbox (case_id, event_id, event_seq, destination, idempotency_key, \
         next_attempt_at, created_at) SELECT 'case-' || (i / 2), 'event-' || i, 1, 'ostersund', \
         'event-' || i || ':ostersund', i, i FROM ({numbers}) AS numbers"
    )))
    .await
    .unwrap();
    let plan: Vec<String> = match backend {
        // SQLite's plan is in the fourth column, one step a row.
        brygga::store::Backend::Sqlite => {
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .persistent(false)
                .bind("w")
                .bind(10_000_i64)
                .bind(5_000_i64)
                .bind(64_i64)
                .fetch_all(&mut raw)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String, _>(3).unwrap())
                .collect()
        }
        // PostgreSQL's plan as kept since the first claim.
        brygga::store::Backend::Postgres => {
            sqlx::query("EXPLAIN EXECUTE claim('w', 10000, 5000, 64)")
                .persistent(false)
                .fetch_all(&mut raw)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String, _>(0).unwrap())
                .collect()
        }
    };
    let text = plan.join("\n");
    let probe = match backend {
        brygga::store::Backend::Sqlite => {
            "INDEX outbox_pending_by_destination (destination=? AND case_id=?"
        }
        brygga::store::Backend::Postgres => {
            "Index Cond: ((destination = o.destination) AND (case_id = o.case_id)"
        }
    };
    assert!(
        text.contains(probe),
        "the earlier delivery is not probed for:\n{text}"
    );
    assert!(
        !text.contains("BitmapAnd"),
        "pending rows scanned per candidate:\n{text}"
    );
    // The rows are taken in the index's order, not fetched all and sorted: a claim reads about
    // as many as it takes, however long the backlog.
    let (ordered, sorted) = match backend {
        brygga::store::Backend::Sqlite => ("INDEX outbox_due", "TEMP B-TREE"),
        brygga::store::Backend::Postgres => ("Index Scan using outbox_due", "Sort"),
    };
    assert!(
        text.contains(ordered) && !text.contains(sorted) && !text.contains("Bitmap"),
        "the backlog is read whole and sorted:\n{text}"
    );
}

/// A stored delivery the store cannot read (here a case id that is not one) does not fail the
/// claim: it goes to the dead letters with the reason, and the others are claimed.
pub async fn a_stored_delivery_that_cannot_be_read_is_dead_lettered_and_the_others_go(db: &TestDb) {
    db.migrated().await;
    case_with_outbox(db, 2).await;
    let mut raw = db.raw().await;
    raw.execute(
        "INSERT INTO outbox (case_id, event_id, event_seq, destination, idempotency_key, \
         next_attempt_at, created_at) VALUES ('not-a-case-id', \
         '00000000-0000-4000-8000-000000000001', 1, 'ostersund', 'broken:ostersund', 0, 0)",
    )
    .await
    .unwrap();
    let store = &db.store;
    let now = at("2026-11-20T08:01:00Z");
    let claimed = store
        .claim_outbox("w", now, SignedDuration::from_secs(30), 10, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "the readable rows are claimed");
    let dead = store
        .deliveries(&brygga::store::DeliveryQuery {
            status: Some("dead".to_owned()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].case_id, "not-a-case-id");
    let reason = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the stored delivery cannot be read: ") && reason.contains("case id"),
        "{reason}"
    );
}

pub async fn outbox_rows_are_claimed_once_and_come_back_after_the_lease(db: &TestDb) {
    db.migrated().await;
    case_with_outbox(db, 3).await;
    let store = &db.store;
    let now = at("2026-11-20T08:01:00Z");
    let lease = SignedDuration::from_secs(30);
    let a = store
        .claim_outbox("worker-a", now, lease, 10, &[])
        .await
        .unwrap();
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|i| i.attempts == 1));
    assert!(
        store
            .claim_outbox("worker-b", now, lease, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );

    // worker-a stalls; after its lease the rows are worker-b's.
    let later = now.checked_add(SignedDuration::from_secs(31)).unwrap();
    let b = store
        .claim_outbox("worker-b", later, lease, 2, &[])
        .await
        .unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].attempts, 2);
    assert!(
        !store
            .complete_outbox(b[0].id, "worker-a", later)
            .await
            .unwrap(),
        "a lost claim cannot settle"
    );
    assert!(
        store
            .complete_outbox(b[0].id, "worker-b", later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete_outbox(b[0].id, "worker-b", later)
            .await
            .unwrap(),
        "settled once"
    );
}

pub async fn outbox_rows_can_be_retried_and_dead_lettered(db: &TestDb) {
    db.migrated().await;
    case_with_outbox(db, 2).await;
    let store = &db.store;
    let now = at("2026-11-20T08:01:00Z");
    let lease = SignedDuration::from_secs(30);
    let items = store.claim_outbox("w", now, lease, 10, &[]).await.unwrap();
    let retry_at = at("2026-11-20T09:00:00Z");
    assert!(
        store
            .retry_outbox(items[0].id, "w", retry_at, "connection refused")
            .await
            .unwrap()
    );
    assert!(
        store
            .dead_letter_outbox(items[1].id, "w", now, "410 Gone")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_outbox("w", now, lease, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let again = store
        .claim_outbox("w", retry_at, lease, 10, &[])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, items[0].id);
    let statuses: Vec<String> = store
        .outbox_status_for_case(items[0].case_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, s)| s)
        .collect();
    assert!(statuses.contains(&"dead".to_owned()) && statuses.contains(&"pending".to_owned()));
}

pub async fn concurrent_workers_on_two_instances_never_claim_a_row_twice(db: &TestDb) {
    db.migrated().await;
    for _ in 0..8 {
        case_with_outbox(db, 25).await;
    }
    let second = db.second_instance().await;
    let now = at("2026-11-20T08:01:00Z");
    let mut tasks = Vec::new();
    for (i, store) in [db.store.clone(), db.store.clone(), second.clone(), second]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{i}");
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_outbox(&worker, now, SignedDuration::from_secs(600), 7, &[])
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                for item in batch {
                    assert!(store.complete_outbox(item.id, &worker, now).await.unwrap());
                    mine.push(item.id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "row {id} was claimed twice");
        }
    }
    assert_eq!(total, 200);
}

pub async fn the_group_committer_commits_and_claims(db: &TestDb) {
    use brygga::store::GroupCommitter;
    let store = db.migrated().await;
    let now = at("2026-11-20T08:01:00Z");
    let lease = SignedDuration::from_secs(30);
    let committer = GroupCommitter::start(store.clone(), 8);
    let p = person("19811218-9876");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let committer = committer.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let (case, mut commit) = new_case(&p);
            commit
                .outbox
                .push(outbox_entry(&case.events()[0], ostersund_unit(i)));
            commit.received = Some(ReceivedMessage {
                source: "api".into(),
                message_id: format!("m-{i}"),
                receipt: serde_json::json!({ "n": i }),
            });
            committer.commit(commit).await
        }));
    }
    for task in tasks {
        let outcome = task.await.unwrap();
        assert!(
            matches!(outcome, Ok(CommitOutcome::Committed { .. })),
            "{outcome:?}"
        );
    }
    let claimed = committer
        .claim_outbox("w", now, lease, 100, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 20);
    // Let go, the writer is as durable as any other writer's commit (a claim on SQLite rides
    // in a transaction that does not wait for the disk).
    drop(committer);
    let durable = match store.backend() {
        brygga::store::Backend::Sqlite => "synchronous=FULL",
        brygga::store::Backend::Postgres => "synchronous_commit=on",
    };
    assert_eq!(store.writer_durability().await.unwrap(), durable);
    assert_eq!(db.count("cases").await, 20);
    assert_eq!(db.count("received_messages").await, 20);
}

/// PostgreSQL: settling deliveries finds their rows by the primary key, also when the
/// statistics were taken before a backlog of pending rows grew (a receiver back after an
/// outage): planned on a partial index of pending rows, each settlement read the whole backlog.
pub async fn settlements_find_their_rows_by_id_whatever_the_statistics_say_of_pending_rows(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let mut raw = db.raw().await;
    let rows = |from: u32, to: u32, status: &str| {
        format!(
            "INSERT INTO outbox (case_id, event_id, event_seq, destination, idempotency_key, \
             status, next_attempt_at, created_at) \
             SELECT 'c-' || n, 'e-' || n, 1, 'd', 'k-' || n, '{status}', n, n \
             FROM generate_series({from}, {to}) AS n"
        )
    };
    raw.execute(sqlx::AssertSqlSafe(format!(
        "{}; ANALYZE outbox; {}",
        rows(1, 1_000, "delivered"),
        rows(1_001, 21_000, "pending")
    )))
    .await
    .expect("finished rows analysed, then a backlog the statistics do not know of");
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE status = 'pending' ORDER BY id DESC LIMIT 15",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    let plans = store.settlement_plans(&ids).await.unwrap();
    assert_eq!(plans.len(), 2);
    for plan in plans {
        assert!(
            plan.contains("outbox_pkey"),
            "not by the primary key:\n{plan}"
        );
        for scan in ["outbox_due", "outbox_pending_by_destination", "Seq Scan"] {
            assert!(!plan.contains(scan), "{scan} in\n{plan}");
        }
    }
}
