//! Deliveries in order: per case and destination, numbered per subscription, acknowledged, pruned.

use brygga::changes::{ReceivedMessage, TimerEntry};
use brygga::domain::event::EventKind;
use brygga::store::CommitOutcome;
use jiff::SignedDuration;
use sqlx::Executor;

use crate::support::*;

pub async fn per_destination_a_cases_rows_are_claimed_in_order(db: &TestDb) {
    db.migrated().await;
    let store = &db.store;
    let p = person("19811218-9876");
    let (case, mut commit) = new_case(&p);
    let event = &case.events()[0];
    // Two rows for one subscription (two units of the recipient), and one for another.
    commit
        .outbox
        .push(outbox_entry_for(event, ostersund_unit(1), "s"));
    commit
        .outbox
        .push(outbox_entry_for(event, ostersund_unit(2), "s"));
    commit
        .outbox
        .push(outbox_entry_for(event, ostersund_unit(3), "other"));
    store.commit(commit).await.unwrap();
    let now = at("2026-11-20T08:01:00Z");
    let lease = SignedDuration::from_secs(30);
    let first = store.claim_outbox("w", now, lease, 10, &[]).await.unwrap();
    let destinations: Vec<&str> = first.iter().map(|i| i.destination.as_str()).collect();
    assert_eq!(
        destinations,
        ["s", "other"],
        "only the head of each destination"
    );
    let head = first.iter().find(|i| i.destination == "s").unwrap();
    let other = first.iter().find(|i| i.destination == "other").unwrap();
    assert!(store.complete_outbox(other.id, "w", now).await.unwrap());
    // While the head waits for a retry, nothing behind it goes.
    assert!(
        store
            .retry_outbox(head.id, "w", at("2026-11-20T08:05:00Z"), "500")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_outbox("w", now, lease, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
    // Once it is delivered, the next one does.
    let again = store
        .claim_outbox("w", at("2026-11-20T08:05:00Z"), lease, 10, &[])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, head.id);
    assert!(
        store
            .complete_outbox(head.id, "w", at("2026-11-20T08:05:01Z"))
            .await
            .unwrap()
    );
    let next = store
        .claim_outbox("w", at("2026-11-20T08:05:01Z"), lease, 10, &[])
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].id, head.id);
    assert_eq!(next[0].destination, "s");
}

pub async fn finished_deliveries_are_pruned_after_their_retention(db: &TestDb) {
    db.migrated().await;
    let store = &db.store;
    let p = person("19811218-9876");
    let (mut case, mut commit) = new_case(&p);
    for i in 0..3 {
        commit
            .outbox
            .push(outbox_entry(&case.events()[0], ostersund_unit(i)));
    }
    commit.received = Some(ReceivedMessage {
        source: "cosmic-link:SE2321000214-E1AV".into(),
        message_id: "msg-0001".into(),
        receipt: serde_json::json!({ "status": "accepted" }),
    });
    for kind in ["admission_notice", "agreement"] {
        commit.timers.push(TimerEntry {
            id: format!("{}:{kind}", case.id()),
            kind: kind.into(),
            due_at: at("2026-11-21T08:00:00Z"),
            payload: serde_json::json!({}),
        });
    }
    store.commit(commit).await.unwrap();
    // A later step stops one clock.
    case.apply(event(
        "2026-11-20T09:00:00Z",
        EventKind::PlanningStarted { by: ostersund() },
    ))
    .unwrap();
    let mut commit = brygga::changes::CaseCommit::from_case(&case, 1, at("2026-11-20T09:00:01Z"));
    commit.cancel_timers.push("admission_notice".into());
    store.commit(commit).await.unwrap();
    let now = at("2026-11-20T09:01:00Z");
    let items = store
        .claim_outbox("w", now, SignedDuration::from_secs(30), 10, &[])
        .await
        .unwrap();
    assert!(store.complete_outbox(items[0].id, "w", now).await.unwrap());
    assert!(
        store
            .dead_letter_outbox(items[1].id, "w", now, "refused")
            .await
            .unwrap()
    );
    // Not yet old enough, and a pending row is never pruned.
    assert_eq!(
        store
            .prune_finished(at("2026-11-20T08:00:00Z"), 1)
            .await
            .unwrap()
            .total(),
        0
    );
    // A page of one at a time: every page is taken until none is left.
    let later = at("2026-12-20T08:01:00Z");
    let pruned = store.prune_finished(later, 1).await.unwrap();
    assert_eq!(
        pruned,
        brygga::store::Pruned {
            deliveries: 2,
            timers: 1,
            receipts: 1,
            cases: 0,
            audit_records: 0,
        }
    );
    assert_eq!(db.count("outbox").await, 1, "the pending delivery stays");
    assert_eq!(db.count("timers").await, 1, "the running clock stays");
    assert_eq!(db.count("received_messages").await, 0);
    assert_eq!(db.count("events").await, 2, "the case record stays");
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}

pub async fn kvittenser_mark_their_deliveries_done_and_events_are_numbered_per_subscription(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (mut case, mut commit) = new_case(&p);
    let admission = case.events()[0].clone();
    commit
        .outbox
        .push(outbox_entry_for(&admission, ostersund_unit(1), "s"));
    commit
        .outbox
        .push(outbox_entry_for(&admission, ostersund_unit(2), "s"));
    commit
        .outbox
        .push(outbox_entry_for(&admission, ostersund(), "m"));
    store.commit(commit).await.unwrap();
    // A second case's row continues the subscription's count.
    let (second, mut commit) = new_case(&person("19121212-1212"));
    commit.outbox.push(outbox_entry_for(
        &second.events()[0],
        ostersund_unit(3),
        "s",
    ));
    store.commit(commit).await.unwrap();
    let claimed = store
        .claim_outbox(
            "w",
            at("2026-11-20T09:00:00Z"),
            SignedDuration::from_secs(1),
            10,
            &[],
        )
        .await
        .unwrap();
    let mut numbers: Vec<(String, Option<u64>)> = claimed
        .iter()
        .map(|i| (i.destination.clone(), i.event_number))
        .collect();
    numbers.sort();
    // Per case and subscription only the earliest row is claimed: s#1 (case 1), s#3 (case 2), m#1.
    assert_eq!(
        numbers,
        [
            ("m".to_owned(), Some(1)),
            ("s".to_owned(), Some(1)),
            ("s".to_owned(), Some(3)),
        ]
    );
    assert_eq!(store.subscription_events("s").await.unwrap(), 3);

    let acknowledge = |by: brygga::domain::party::Party, at_: &str| {
        event(
            at_,
            EventKind::MessageAcknowledged {
                message_id: admission.source.message_id.clone(),
                by,
            },
        )
    };
    let list = |case_id| {
        let store = store.clone();
        async move {
            let mut rows = store
                .deliveries(&brygga::store::DeliveryQuery {
                    case_id: Some(case_id),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap();
            rows.sort_by(|a, b| a.recipient.cmp(&b.recipient));
            rows.into_iter()
                .map(|r| (r.recipient, r.status, r.acknowledged_at.is_some()))
                .collect::<Vec<_>>()
        }
    };
    // Unit 1 acknowledges: its row is done, whatever its claim.
    case.apply(acknowledge(ostersund_unit(1), "2026-11-20T10:00:00Z"))
        .unwrap();
    let commit = brygga::changes::CaseCommit::from_case(&case, 1, at("2026-11-20T10:00:01Z"));
    assert_eq!(commit.acknowledged.len(), 1);
    store.commit(commit).await.unwrap();
    let unit = |i: usize| brygga::domain::delivery::recipient_key(&ostersund_unit(i));
    assert_eq!(
        list(case.id()).await,
        [
            ("municipality:2380".to_owned(), "pending".to_owned(), false),
            (unit(1), "delivered".to_owned(), true),
            (unit(2), "pending".to_owned(), false),
        ]
    );
    // The municipality as a whole acknowledges: its own row and every unit's.
    case.apply(acknowledge(ostersund(), "2026-11-20T11:00:00Z"))
        .unwrap();
    let commit = brygga::changes::CaseCommit::from_case(&case, 2, at("2026-11-20T11:00:01Z"));
    store.commit(commit).await.unwrap();
    assert_eq!(
        list(case.id()).await,
        [
            ("municipality:2380".to_owned(), "delivered".to_owned(), true),
            (unit(1), "delivered".to_owned(), true),
            (unit(2), "delivered".to_owned(), true),
        ]
    );
    // The other case's row is untouched.
    assert_eq!(
        list(second.id()).await,
        [(unit(3), "pending".to_owned(), false)]
    );
}

/// Migration 0008 rebuilds SQLite's outbox (one index by case in place of two), and 0009 moves
/// the message bodies to a table of their own: deliveries written before them keep their rows,
/// ids and bodies, ids are not reused, an idempotency key is still refused twice, and a
/// deleted row takes its body with it.
pub async fn deliveries_written_before_the_outbox_index_change_keep_their_ids(db: &TestDb) {
    let backend = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let earlier = tempfile::tempdir().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().as_ref() < "0008")
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "{files:?}");
    for file in &files {
        std::fs::copy(file, earlier.path().join(file.file_name().unwrap())).unwrap();
    }
    let mut raw = db.raw().await;
    sqlx::migrate::Migrator::new(earlier.path())
        .await
        .unwrap()
        .run(&mut raw)
        .await
        .unwrap();
    let insert = |n: u32| {
        format!(
            "INSERT INTO outbox (case_id, event_id, event_seq, destination, idempotency_key, \
             payload, next_attempt_at, created_at) VALUES ('7d3f1c2e-5b1a-4c6e-9f0d-2a8b4c6d8e01', '00000000-0000-4000-8000-00000000000{n}', {n}, 'ostersund', \
             '00000000-0000-4000-8000-00000000000{n}:ostersund:municipality:2380', '{{}}', 0, 0)"
        )
    };
    for n in 1..=3 {
        raw.execute(sqlx::AssertSqlSafe(insert(n))).await.unwrap();
    }
    raw.execute("DELETE FROM outbox WHERE id = 3")
        .await
        .unwrap();

    db.store.migrate().await.unwrap();
    assert!(db.store.readiness().await.unwrap().is_ready());
    let kept: Vec<(i64, String)> = db
        .store
        .deliveries(&brygga::store::DeliveryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.id, row.event_id))
        .collect();
    assert_eq!(
        kept,
        [
            (1, "00000000-0000-4000-8000-000000000001".to_owned()),
            (2, "00000000-0000-4000-8000-000000000002".to_owned())
        ],
        "rows and ids kept"
    );
    // Each row's recipient, taken from its key once, by the migration.
    let recipients: Vec<String> = sqlx::query_scalar("SELECT recipient FROM outbox ORDER BY id")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    assert_eq!(recipients, ["municipality:2380", "municipality:2380"]);
    let claimed = db
        .store
        .claim_outbox(
            "w",
            at("2026-11-20T08:00:00Z"),
            SignedDuration::from_secs(30),
            10,
            &[],
        )
        .await
        .unwrap();
    let bodies: Vec<(i64, &str)> = claimed
        .iter()
        .map(|item| (item.id, item.payload.as_str()))
        .collect();
    // The case's first row only: its second waits for it.
    assert_eq!(bodies, [(1, "{}")], "a body kept with its row");
    let insert = |n: u32| {
        format!(
            "INSERT INTO outbox (case_id, event_id, event_seq, destination, idempotency_key, \
             next_attempt_at, created_at) VALUES ('7d3f1c2e-5b1a-4c6e-9f0d-2a8b4c6d8e01', '00000000-0000-4000-8000-00000000000{n}', {n}, 'ostersund', \
             '00000000-0000-4000-8000-00000000000{n}:ostersund:municipality:2380', 0, 0)"
        )
    };
    raw.execute(sqlx::AssertSqlSafe(insert(4))).await.unwrap();
    let last: i64 = sqlx::query_scalar("SELECT MAX(id) FROM outbox")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert!(last > 3, "id {last} reused");
    let again = raw.execute(sqlx::AssertSqlSafe(insert(4))).await;
    assert!(again.is_err(), "an idempotency key twice must be refused");
    raw.execute("DELETE FROM outbox WHERE id = 1")
        .await
        .unwrap();
    let bodies: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox_payloads ORDER BY id")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    assert_eq!(bodies, [2], "a deleted row's body is deleted with it");
}

/// Many concurrent changes through the group committer, each delivered to one subscription:
/// their deliveries are numbered 1 to N, none twice, whichever batch each lands in (on
/// PostgreSQL a batch is read while the one before still writes, and what that one counted is
/// laid over the reads).
pub async fn concurrent_changes_number_their_deliveries_without_gaps_or_repeats(db: &TestDb) {
    use brygga::store::GroupCommitter;
    let store = db.migrated().await;
    let committer = GroupCommitter::start(store.clone(), 8);
    let p = person("19811218-9876");
    const CHANGES: usize = 120;
    let mut tasks = Vec::new();
    for _ in 0..CHANGES {
        let (_, mut commit) = new_case(&p);
        let event = commit.events[0].clone();
        commit.outbox = vec![outbox_entry_for(&event, ostersund(), "sub-numbered")];
        let committer = committer.clone();
        tasks.push(tokio::spawn(async move { committer.commit(commit).await }));
    }
    for task in tasks {
        let outcome = task.await.expect("the commit's task");
        assert!(
            matches!(outcome, Ok(CommitOutcome::Committed { .. })),
            "{outcome:?}"
        );
    }
    let mut raw = db.raw().await;
    let mut numbers: Vec<i64> = sqlx::query_scalar(
        "SELECT event_number FROM outbox WHERE idempotency_key LIKE '%sub-numbered%'",
    )
    .fetch_all(&mut raw)
    .await
    .expect("the numbers");
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=CHANGES as i64).collect::<Vec<_>>());
    assert_eq!(
        store.subscription_events("sub-numbered").await.unwrap(),
        CHANGES as u64
    );
}
