//! The store behaviour every backend must show.

use std::collections::HashSet;

use brygga::changes::{ReceivedMessage, TimerEntry};
use brygga::domain::event::EventKind;
use brygga::store::{CommitOutcome, StoreError};
use jiff::SignedDuration;
use sqlx::{Executor, Row};

use crate::support::*;

pub async fn readiness_reports_pending_migrations_until_they_are_applied(db: &TestDb) {
    let before = db.store.readiness().await.unwrap();
    assert!(!before.is_ready(), "{before:?}");
    assert_eq!(before.applied_migrations, 0);
    let after = db.migrated().await.readiness().await.unwrap();
    assert!(after.is_ready(), "{after:?}");
    assert!(after.known_migrations >= 1);
}

pub async fn migrating_twice_is_harmless(db: &TestDb) {
    db.migrated().await;
    db.store.migrate().await.unwrap();
    assert!(db.store.readiness().await.unwrap().is_ready());
}

pub async fn a_commit_writes_events_outbox_timers_and_audit_together(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (case, mut commit) = new_case(&p);
    let event_id = case.events()[0].id;
    commit
        .outbox
        .push(outbox_entry(&case.events()[0], ostersund()));
    assert_eq!(commit.outbox[0].event_id(), event_id);
    let reference = brygga::formats::canonical::CaseReference {
        issuer: "SE2321000214-1000".into(),
        value: "SA-2026-004711".into(),
    };
    commit.reference = Some(reference.clone());
    commit.timers.push(TimerEntry {
        id: format!("{}:admission-notice", case.id()),
        kind: "admission_notice".into(),
        due_at: at("2026-11-21T08:00:00Z"),
        payload: serde_json::json!({ "deadline": "admission_notice" }),
    });
    commit.audit.push(audit("disclose", &p));

    let outcome = store.commit(commit).await.unwrap();
    assert_eq!(
        outcome,
        CommitOutcome::Committed {
            first_seq: 1,
            last_seq: 1
        }
    );

    let stored = store
        .load_case(case.id())
        .await
        .unwrap()
        .expect("stored case");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.person, p);
    assert_eq!(stored.reference, Some(reference));
    assert_eq!(stored.events[0].event, case.events()[0]);
    assert_eq!(stored.to_case().unwrap(), case);
    assert_eq!(
        store.outbox_status_for_case(case.id()).await.unwrap(),
        vec![("municipality:2380".to_owned(), 1, "pending".to_owned())]
    );
    assert_eq!(
        store.pending_timers(case.id()).await.unwrap(),
        vec![("admission_notice".to_owned(), at("2026-11-21T08:00:00Z"))]
    );
    assert_eq!(store.audit_for_case(case.id()).await.unwrap().len(), 1);
}

pub async fn a_received_message_id_is_processed_once(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let receipt = serde_json::json!({ "status": "accepted" });
    let received = ReceivedMessage {
        source: "cosmic-link:SE2321000214-E1AV".into(),
        message_id: "msg-0001".into(),
        receipt: receipt.clone(),
    };
    let (_, mut first) = new_case(&p);
    first.received = Some(received.clone());
    first.audit.push(audit("disclose", &p));
    assert!(matches!(
        store.commit(first).await.unwrap(),
        CommitOutcome::Committed { .. }
    ));

    // The same message again, translated into a new case with new ids: nothing is written.
    let (_, mut again) = new_case(&p);
    again.received = Some(received.clone());
    again.audit.push(audit("disclose", &p));
    assert_eq!(
        store.commit(again).await.unwrap(),
        CommitOutcome::Duplicate {
            receipt: receipt.clone()
        }
    );
    assert_eq!(db.count("cases").await, 1);
    assert_eq!(db.count("events").await, 1);
    assert_eq!(db.count("audit_log").await, 1);
    assert_eq!(
        store.receipt(&received.source, "msg-0001").await.unwrap(),
        Some(receipt)
    );
    assert_eq!(
        store.receipt(&received.source, "msg-0002").await.unwrap(),
        None
    );
}

pub async fn a_stale_version_is_a_conflict_and_writes_nothing(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (mut case, commit) = new_case(&p);
    store.commit(commit).await.unwrap();

    case.apply(event(
        "2026-11-20T09:00:00Z",
        EventKind::PlanningStarted { by: ostersund() },
    ))
    .unwrap();
    let mut stale = brygga::changes::CaseCommit::from_case(&case, 1, at("2026-11-20T09:00:01Z"));
    stale.expected_version = 0;
    stale.events = case.events()[1..].to_vec();
    stale.audit.push(audit("disclose", &p));
    let err = store.commit(stale).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(db.count("events").await, 1);
    assert_eq!(db.count("audit_log").await, 0);

    let fresh = brygga::changes::CaseCommit::from_case(&case, 1, at("2026-11-20T09:00:01Z"));
    assert_eq!(
        store.commit(fresh).await.unwrap(),
        CommitOutcome::Committed {
            first_seq: 2,
            last_seq: 2
        }
    );
    assert_eq!(
        store.load_case(case.id()).await.unwrap().unwrap().version,
        2
    );
}

pub async fn a_failed_commit_leaves_nothing_half_written(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (_, mut commit) = new_case(&p);
    commit.received = Some(ReceivedMessage {
        source: "api".into(),
        message_id: "m-1".into(),
        receipt: serde_json::json!({}),
    });
    commit.audit.push(audit("disclose", &p));
    commit.timers.push(TimerEntry {
        id: "t-1".into(),
        kind: "admission_notice".into(),
        due_at: at("2026-11-21T08:00:00Z"),
        payload: serde_json::json!({}),
    });
    // An outbox row for an event that is not in the commit fails the commit after the case,
    // event, timer and audit rows were written inside the transaction.
    commit
        .outbox
        .push(outbox_entry(&admission(&p), ostersund()));
    let err = store.commit(commit).await.unwrap_err();
    assert!(err.to_string().contains("not part of this commit"), "{err}");
    for table in [
        "cases",
        "events",
        "received_messages",
        "outbox",
        "timers",
        "audit_log",
    ] {
        assert_eq!(db.count(table).await, 0, "{table} was written");
    }
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}

pub async fn one_failing_commit_in_a_batch_leaves_the_others_committed(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (_, mut good_1) = new_case(&p);
    good_1.audit.push(audit("disclose", &p));
    let (_, mut bad) = new_case(&p);
    bad.expected_version = 3;
    bad.audit.push(audit("disclose", &p));
    let (_, mut good_2) = new_case(&p);
    good_2.audit.push(audit("disclose", &p));

    let results = store.commit_batch(vec![good_1, bad, good_2]).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(matches!(
        results[1],
        Err(StoreError::VersionConflict {
            expected: 3,
            actual: 0,
            ..
        })
    ));
    assert_eq!(db.count("cases").await, 2);
    assert_eq!(db.count("audit_log").await, 2);
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2);
}

pub async fn events_and_audit_records_cannot_be_changed_or_deleted(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (_, mut commit) = new_case(&p);
    commit.audit.push(audit("disclose", &p));
    store.commit(commit).await.unwrap();

    let mut raw = db.raw().await;
    for statement in [
        "UPDATE events SET body = '{}'",
        "DELETE FROM events",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let err = raw.execute(statement).await.expect_err(statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_eq!(db.count("events").await, 1);
    assert_eq!(db.count("audit_log").await, 1);
}

pub async fn the_audit_chain_verifies_and_tampering_is_detected(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    for i in 0..5 {
        store
            .append_audit(
                None,
                &[audit(&format!("read-{i}"), &p)],
                at("2026-11-20T10:00:00Z"),
            )
            .await
            .unwrap();
    }
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 5);

    // Someone with database access rewrites record 3 behind the triggers' back.
    let mut raw = db.raw().await;
    if db.url.starts_with("sqlite") {
        raw.execute("DROP TRIGGER audit_append_only_update")
            .await
            .unwrap();
    } else {
        raw.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_append_only")
            .await
            .unwrap();
    }
    raw.execute("UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 3")
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(report.first_broken, Some(3), "{report:?}");
}

pub async fn a_person_gets_their_audit_extract(db: &TestDb) {
    let store = db.migrated().await;
    let astrid = person("19811218-9876");
    let other = person("19121212-1212");
    store
        .append_audit(
            None,
            &[
                audit("read", &astrid),
                audit("read", &other),
                audit("disclose", &astrid),
            ],
            at("2026-11-20T10:00:00Z"),
        )
        .await
        .unwrap();
    let extract = store.audit_for_person(&astrid).await.unwrap();
    assert_eq!(
        extract
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["read", "disclose"]
    );
    assert_eq!(
        extract[0].person.as_deref(),
        Some("http://electronichealth.se/identifier/personnummer|198112189876")
    );
    assert_eq!(
        extract[1].prev_hash,
        store.audit_for_person(&other).await.unwrap()[0].hash
    );
}

pub async fn cases_are_found_by_person(db: &TestDb) {
    let store = db.migrated().await;
    let astrid = person("19811218-9876");
    let other = person("19121212-1212");
    let (first, c1) = new_case(&astrid);
    let (_, c2) = new_case(&other);
    let (second, c3) = new_case(&astrid);
    store.commit_batch(vec![c1, c2, c3]).await.unwrap();
    let found = store.cases_for_person(&astrid).await.unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.contains(&first.id()) && found.contains(&second.id()));
    assert!(
        store
            .load_case(brygga::domain::case::CaseId::new())
            .await
            .unwrap()
            .is_none()
    );
}

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

pub async fn timers_fire_in_due_order_and_cancelled_timers_never_fire(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (mut case, mut commit) = new_case(&p);
    for (id, kind, due) in [
        ("t-sip", "sip_invitation", "2026-11-24T08:00:00Z"),
        ("t-adm", "admission_notice", "2026-11-21T08:00:00Z"),
        ("t-pay", "payment_responsibility", "2026-11-23T08:00:00Z"),
    ] {
        commit.timers.push(TimerEntry {
            id: id.into(),
            kind: kind.into(),
            due_at: at(due),
            payload: serde_json::json!({}),
        });
    }
    store.commit(commit).await.unwrap();
    assert_eq!(
        store.next_timer_due().await.unwrap(),
        Some(at("2026-11-21T08:00:00Z"))
    );

    // The SIP invitation arrives: its clock is cancelled in the same commit.
    case.apply(event(
        "2026-11-22T08:00:00Z",
        EventKind::PlanningStarted { by: ostersund() },
    ))
    .unwrap();
    let mut next = brygga::changes::CaseCommit::from_case(&case, 1, at("2026-11-22T08:00:00Z"));
    next.cancel_timers.push("sip_invitation".into());
    store.commit(next).await.unwrap();

    let lease = SignedDuration::from_secs(60);
    let due = store
        .claim_due_timers("s", at("2026-11-30T00:00:00Z"), lease, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["t-adm", "t-pay"]
    );
    for timer in &due {
        assert!(
            store
                .complete_timer(&timer.id, "s", at("2026-11-30T00:00:00Z"))
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .claim_due_timers("s", at("2026-12-30T00:00:00Z"), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_timer_due().await.unwrap(), None);
}

pub async fn a_timer_that_fell_due_while_the_gateway_was_down_fires_at_start(db: &TestDb) {
    db.migrated().await;
    let p = person("19811218-9876");
    let (_, mut commit) = new_case(&p);
    commit.timers.push(TimerEntry {
        id: "t-1".into(),
        kind: "admission_notice".into(),
        due_at: at("2026-11-21T08:00:00Z"),
        payload: serde_json::json!({ "rule": "24h" }),
    });
    db.store.commit(commit).await.unwrap();
    db.store.close().await;

    // A new process starts two days later.
    let restarted = db.second_instance().await;
    let due = restarted
        .claim_due_timers(
            "after-restart",
            at("2026-11-23T08:00:00Z"),
            SignedDuration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payload, serde_json::json!({ "rule": "24h" }));
    assert_eq!(due[0].due_at, at("2026-11-21T08:00:00Z"));
}

pub async fn restarting_the_same_clock_is_idempotent(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let timer = TimerEntry {
        id: "case-1:sip".into(),
        kind: "sip_invitation".into(),
        due_at: at("2026-11-24T08:00:00Z"),
        payload: serde_json::json!({}),
    };
    let (_, mut first) = new_case(&p);
    first.timers.push(timer.clone());
    let (_, mut second) = new_case(&p);
    second.timers.push(timer);
    store.commit_batch(vec![first, second]).await.unwrap();
    assert_eq!(db.count("timers").await, 1);
}

pub async fn concurrent_commits_through_the_group_committer_all_land_once(db: &TestDb) {
    let store = db.migrated().await;
    let committer = brygga::store::GroupCommitter::start(store.clone(), 16);
    let p = person("19811218-9876");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let committer = committer.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut commit = new_case_received(&p, i);
            commit.audit.push(audit("disclose", &p));
            committer.commit(commit).await
        }));
    }
    for task in tasks {
        assert!(matches!(
            task.await.unwrap().unwrap(),
            CommitOutcome::Committed {
                first_seq: 1,
                last_seq: 1
            }
        ));
    }
    assert_eq!(db.count("cases").await, 50);
    assert_eq!(db.count("received_messages").await, 50);
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 50);
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

pub async fn within_one_group_a_conflict_or_duplicate_fails_alone(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (_, first) = new_case(&p);
    let mut same_case = first.clone();
    same_case.events[0].id = brygga::domain::event::EventId::new();
    let received = ReceivedMessage {
        source: "api".into(),
        message_id: "m-1".into(),
        receipt: serde_json::json!("r"),
    };
    let (_, mut a) = new_case(&p);
    a.received = Some(received.clone());
    let (_, mut b) = new_case(&p);
    b.received = Some(received);

    let results = store
        .commit_batch(vec![first, same_case, a, b])
        .await
        .unwrap();
    assert!(matches!(results[0], Ok(CommitOutcome::Committed { .. })));
    assert!(
        matches!(
            results[1],
            Err(StoreError::VersionConflict {
                expected: 0,
                actual: 1,
                ..
            })
        ),
        "{:?}",
        results[1]
    );
    assert!(matches!(results[2], Ok(CommitOutcome::Committed { .. })));
    assert_eq!(
        results[3].as_ref().unwrap(),
        &CommitOutcome::Duplicate {
            receipt: serde_json::json!("r")
        }
    );
    assert_eq!(db.count("cases").await, 2);
    assert_eq!(db.count("events").await, 2);
}

pub async fn a_change_the_batch_checks_cannot_foresee_fails_alone(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (_, earlier) = new_case(&p);
    let taken = earlier.events[0].id;
    store.commit(earlier).await.unwrap();

    // A new case whose event reuses a stored event id: only the database's unique index
    // knows, so the bulk statement fails and the batch is written change by change.
    let (_, mut good_1) = new_case(&p);
    good_1.audit.push(audit("disclose", &p));
    let (_, mut bad) = new_case(&p);
    bad.events[0].id = taken;
    bad.audit.push(audit("disclose", &p));
    let (_, mut good_2) = new_case(&p);
    good_2
        .outbox
        .push(outbox_entry(&good_2.events[0].clone(), ostersund()));
    good_2.audit.push(audit("disclose", &p));

    let results = store.commit_batch(vec![good_1, bad, good_2]).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(StoreError::AlreadyStored(_))),
        "{:?}",
        results[1]
    );
    assert_eq!(db.count("cases").await, 3);
    assert_eq!(db.count("events").await, 3);
    assert_eq!(db.count("outbox").await, 1);
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2);
}

pub async fn a_large_batch_of_new_and_existing_cases_is_written_whole(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    // Ten cases stored first; the batch moves each of them on and opens 141 new ones, more
    // than one statement's worth of rows for every table.
    let mut existing = Vec::new();
    for _ in 0..10 {
        let (case, commit) = new_case(&p);
        store.commit(commit).await.unwrap();
        existing.push(case);
    }
    let mut batch = Vec::new();
    for mut case in existing {
        case.apply(event(
            "2026-11-20T09:00:00Z",
            EventKind::PlanningStarted { by: ostersund() },
        ))
        .unwrap();
        let mut commit =
            brygga::changes::CaseCommit::from_case(&case, 1, at("2026-11-20T09:00:01Z"));
        commit.audit.push(audit("disclose", &p));
        batch.push(commit);
    }
    for i in 0..141 {
        let mut commit = new_case_received(&p, i);
        commit
            .outbox
            .push(outbox_entry(&commit.events[0].clone(), ostersund()));
        commit.timers.push(TimerEntry {
            id: format!("t-{i}"),
            kind: "admission_notice".into(),
            due_at: at("2026-11-21T08:00:00Z"),
            payload: serde_json::json!({}),
        });
        commit.audit.push(audit("receive", &p));
        commit.audit.push(audit("disclose", &p));
        batch.push(commit);
    }
    let ids: Vec<_> = batch.iter().map(|c| c.case_id).collect();
    let results = store.commit_batch(batch).await.unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(db.count("cases").await, 151);
    assert_eq!(db.count("events").await, 161);
    assert_eq!(db.count("received_messages").await, 141);
    assert_eq!(db.count("outbox").await, 141);
    assert_eq!(db.count("timers").await, 141);
    for id in &ids[..10] {
        let stored = store.load_case(*id).await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.events.len(), 2);
    }
    assert_eq!(
        store.receipt("api", "m-140").await.unwrap(),
        Some(serde_json::json!({ "n": 140 }))
    );
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 10 + 141 * 2);
}

pub async fn a_used_assertion_is_refused_on_every_instance_and_both_outcomes_are_audited(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let other = db.second_instance().await;
    let now = at("2026-11-23T12:00:00Z");
    let expires = at("2026-11-23T12:02:00Z");
    let login = audit("login", &person("19811218-9876"));
    let replay = audit("login refused", &person("19811218-9876"));
    assert!(
        store
            .use_assertion("c", "j-1", expires, now, &login, &replay)
            .await
            .unwrap()
    );
    assert!(
        !other
            .use_assertion("c", "j-1", expires, now, &login, &replay)
            .await
            .unwrap()
    );
    // Another client's assertion may use the same jti.
    assert!(
        other
            .use_assertion("d", "j-1", expires, now, &login, &replay)
            .await
            .unwrap()
    );
    // Once expired, marks are pruned (an expired assertion is refused before it gets here).
    let later = at("2026-11-23T12:05:00Z");
    assert!(
        store
            .use_assertion(
                "c",
                "j-2",
                at("2026-11-23T12:06:00Z"),
                later,
                &login,
                &replay
            )
            .await
            .unwrap()
    );
    assert_eq!(db.count("used_assertions").await, 1);
    let records = store
        .audit_records(&brygga::store::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["login", "login refused", "login", "login"]);
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}

pub async fn the_consent_registry_keeps_case_directives_and_withdrawals(db: &TestDb) {
    use brygga::domain::consent::{ConsentDirective, ConsentSubject, Provision};
    use brygga::domain::event::ConsentScope;
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (mut case, _) = new_case(&p);
    case.apply(event(
        "2026-11-20T09:00:00Z",
        EventKind::ConsentRecorded {
            consent_id: "c-1".into(),
            scope: ConsentScope::Sip,
            provision: Provision::Permit,
            principals: vec![],
            recipients: vec![ostersund()],
            categories: vec![],
            valid_from: None,
            valid_until: None,
        },
    ))
    .unwrap();
    store
        .commit(brygga::changes::CaseCommit::from_case(
            &case,
            0,
            at("2026-11-20T09:00:01Z"),
        ))
        .await
        .unwrap();
    let version = case.version();
    case.apply(event(
        "2026-11-21T09:00:00Z",
        EventKind::ConsentWithdrawn {
            consent_id: "c-1".into(),
        },
    ))
    .unwrap();
    store
        .commit(brygga::changes::CaseCommit::from_case(
            &case,
            version,
            at("2026-11-21T09:00:01Z"),
        ))
        .await
        .unwrap();
    // One recorded outside the case, with its audit record in the same transaction.
    let outside = ConsentDirective {
        id: "f-1".into(),
        scope: ConsentScope::Disclosure,
        provision: Provision::Deny,
        principals: vec![],
        recipients: vec![],
        categories: vec![],
        valid_from: None,
        valid_until: None,
        recorded_at: at("2026-11-22T09:00:00Z"),
        withdrawn_at: None,
        source: "fhir".into(),
        recorded_by: None,
        recorded_by_party: None,
    };
    let subject = ConsentSubject::Person(p.clone());
    assert!(
        store
            .record_consent(&subject, &outside, None, &[audit("record consent", &p)])
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_consent(&subject, &outside, None, &[audit("record consent", &p)])
            .await
            .unwrap(),
        "the same directive twice is recorded once"
    );
    let registry = store.consents_for(&p).await.unwrap();
    assert_eq!(registry.len(), 2);
    assert_eq!(registry[0].id, "c-1");
    assert_eq!(registry[0].withdrawn_at, Some(at("2026-11-21T09:00:00Z")));
    assert_eq!(registry[1].provision, Provision::Deny);
    assert_eq!(store.registry_for(&case).await.unwrap().len(), 2);
    assert_eq!(store.audit_for_person(&p).await.unwrap().len(), 1);
    // Filtered reads of the log.
    let by_person = store
        .audit_records(&brygga::store::AuditQuery {
            limit: 10,
            person: Some(p.clone()),
            organisation: Some("nobody".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_person.is_empty());
}

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

pub async fn closed_cases_with_nothing_left_to_do_are_deleted_after_their_retention(db: &TestDb) {
    let store = db.migrated().await;
    let cancelled_at = at("2026-11-21T10:00:00Z");
    // Three cases: cancelled and done; cancelled with a delivery still waiting; in hospital.
    let mut ids = Vec::new();
    for (i, number) in ["19811218-9876", "19121212-1212", "19400101-1115"]
        .iter()
        .enumerate()
    {
        let (mut case, mut commit) = new_case(&person(number));
        commit.received = Some(ReceivedMessage {
            source: "cosmic-link:SE2321000214-E1AV".into(),
            message_id: format!("msg-{i}"),
            receipt: serde_json::json!({ "status": "accepted" }),
        });
        if i == 1 {
            commit
                .outbox
                .push(outbox_entry(&case.events()[0], ostersund_unit(1)));
        }
        store.commit(commit).await.unwrap();
        if i < 2 {
            case.apply(event(
                "2026-11-21T10:00:00Z",
                EventKind::CaseCancelled {
                    reason: brygga::domain::sensitive::Sensitive::new("inte aktuellt".into()),
                },
            ))
            .unwrap();
            let commit = brygga::changes::CaseCommit::from_case(&case, 1, cancelled_at);
            store.commit(commit).await.unwrap();
        }
        ids.push(case.id());
    }
    let now = at("2026-12-30T00:00:00Z");
    // Not yet: every case changed after `before`.
    assert_eq!(
        store
            .prune_closed_cases(at("2026-11-21T09:00:00Z"), now, 10)
            .await
            .unwrap(),
        0
    );
    let audit_before = db.count("audit_log").await;
    assert_eq!(
        store
            .prune_closed_cases(at("2026-12-01T00:00:00Z"), now, 10)
            .await
            .unwrap(),
        1
    );
    assert!(store.load_case(ids[0]).await.unwrap().is_none());
    assert!(
        store.load_case(ids[1]).await.unwrap().is_some(),
        "a delivery still waits"
    );
    assert!(
        store.load_case(ids[2]).await.unwrap().is_some(),
        "still in hospital"
    );
    assert_eq!(db.count("events").await, 2 + 1, "the kept cases' events");
    assert_eq!(db.count("received_messages").await, 2);
    // The deletion is in the audit log, whose chain still holds.
    assert_eq!(db.count("audit_log").await, audit_before + 1);
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
    // Outside a pruning, events still cannot be deleted.
    let mut raw = db.raw().await;
    let err = raw
        .execute("DELETE FROM events")
        .await
        .expect_err("append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(db.count("retention_pruning").await, 0);
}

pub async fn old_audit_records_are_deleted_in_order_and_the_rest_still_verifies(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    for day in 1..=5 {
        store
            .append_audit(
                None,
                &[audit(&format!("read-{day}"), &p)],
                at(&format!("2026-11-0{day}T10:00:00Z")),
            )
            .await
            .unwrap();
    }
    let now = at("2026-12-01T00:00:00Z");
    // Nothing is older than the first record.
    assert_eq!(
        store
            .prune_audit(at("2026-11-01T00:00:00Z"), now, 100, u64::MAX)
            .await
            .unwrap(),
        0
    );
    // Nothing past what a signed checkpoint covers, however old.
    let before = at("2026-11-03T00:00:00Z");
    assert_eq!(store.prune_audit(before, now, 100, 0).await.unwrap(), 0);
    // Records of days 1 and 2, one page of one at a time.
    assert_eq!(
        store.prune_audit(before, now, 1, u64::MAX).await.unwrap(),
        1
    );
    assert_eq!(
        store.prune_audit(before, now, 1, u64::MAX).await.unwrap(),
        1
    );
    // The next (the first deletion's own record is newer) is not old enough.
    assert_eq!(
        store.prune_audit(before, now, 1, u64::MAX).await.unwrap(),
        0
    );
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.anchor, 2);
    // Days 3–5 and the two records of the deletions.
    assert_eq!(report.records, 5);
    assert_eq!(db.count("audit_log").await, 5);
    let deletions = store
        .audit_records(&brygga::store::AuditQuery {
            after: 0,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "delete audit records after their retention")
        .count();
    assert_eq!(deletions, 2);
    // Outside a pruning the log still cannot be changed.
    let mut raw = db.raw().await;
    let err = raw
        .execute("DELETE FROM audit_log")
        .await
        .expect_err("append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
}

pub async fn kept_resources_are_versioned_per_organisation_and_a_stale_version_writes_nothing(
    db: &TestDb,
) {
    use brygga::store::{ResourceWrite, ResourceWriteError};
    let write = |kind: &str,
                 id: &str,
                 expected: Option<u64>,
                 organisation: &str,
                 client_id: &str,
                 resource: serde_json::Value,
                 subject: Option<&str>| ResourceWrite {
        kind: kind.to_owned(),
        id: id.to_owned(),
        expected,
        organisation: organisation.to_owned(),
        client_id: client_id.to_owned(),
        resource,
        subject: subject.map(str::to_owned),
    };
    let store = db.migrated().await;
    let now = at("2026-11-23T12:00:00Z");
    let task = serde_json::json!({ "resourceType": "Task", "status": "requested", "meta": { "tag": [{ "code": "x" }] } });
    let first = store
        .write_resource(
            write(
                "Task",
                "t-1",
                None,
                "2380",
                "client",
                task.clone(),
                Some("Patient/example"),
            ),
            &[],
            now,
        )
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(first.resource["id"], "t-1");
    assert_eq!(first.resource["meta"]["versionId"], "1");
    assert_eq!(
        first.resource["meta"]["tag"][0]["code"], "x",
        "the client's meta is kept"
    );
    // Creating it again is a conflict, not a second version 1.
    assert!(matches!(
        store
            .write_resource(
                write("Task", "t-1", None, "2380", "client", task.clone(), None),
                &[],
                now
            )
            .await,
        Err(ResourceWriteError::VersionConflict { current: 1, .. })
    ));
    let mut changed = task.clone();
    changed["status"] = serde_json::json!("completed");
    let later = at("2026-11-24T12:00:00Z");
    let second = store
        .write_resource(
            write(
                "Task",
                "t-1",
                Some(1),
                "2380",
                "client",
                changed.clone(),
                Some("Patient/example"),
            ),
            &[audit("update task", &person("19811218-9876"))],
            later,
        )
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    // A change made on version 1 now writes nothing.
    assert!(matches!(
        store
            .write_resource(
                write(
                    "Task",
                    "t-1",
                    Some(1),
                    "2380",
                    "client",
                    changed.clone(),
                    None
                ),
                &[],
                later
            )
            .await,
        Err(ResourceWriteError::VersionConflict {
            expected: 1,
            current: 2,
            ..
        })
    ));
    // Another organisation neither sees nor changes it.
    assert!(
        store
            .resource_versions("Task", "t-1", "2309")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .write_resource(
                write(
                    "Task",
                    "t-1",
                    Some(2),
                    "2309",
                    "other",
                    changed.clone(),
                    None
                ),
                &[],
                later
            )
            .await,
        Err(ResourceWriteError::NotFound { .. })
    ));
    let versions = store
        .resource_versions("Task", "t-1", "2380")
        .await
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(versions[0].resource["status"], "requested");
    assert_eq!(versions[1].last_updated, later);
    let current = store
        .current_resources("Task", "2380", Some("Patient/example"))
        .await
        .unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].version, 2);
    assert!(
        store
            .current_resources("Task", "2380", Some("Patient/other"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .current_resources("CarePlan", "2380", None)
            .await
            .unwrap()
            .is_empty()
    );
    // Several writes are kept together or not at all: a stale one refuses the new one too.
    let refused = store
        .write_resources(
            vec![
                write(
                    "Patient",
                    "p-1",
                    None,
                    "2380",
                    "client",
                    serde_json::json!({ "resourceType": "Patient" }),
                    None,
                ),
                write(
                    "Task",
                    "t-1",
                    Some(1),
                    "2380",
                    "client",
                    changed.clone(),
                    None,
                ),
            ],
            &[],
            later,
        )
        .await;
    assert!(matches!(
        refused,
        Err(ResourceWriteError::VersionConflict { .. })
    ));
    assert!(
        store
            .resource_versions("Patient", "p-1", "2380")
            .await
            .unwrap()
            .is_empty()
    );
    let both = store
        .write_resources(
            vec![
                write(
                    "Patient",
                    "p-1",
                    None,
                    "2380",
                    "client",
                    serde_json::json!({ "resourceType": "Patient" }),
                    None,
                ),
                write(
                    "Task",
                    "t-1",
                    Some(2),
                    "2380",
                    "client",
                    changed.clone(),
                    None,
                ),
            ],
            &[],
            later,
        )
        .await
        .unwrap();
    assert_eq!(both.iter().map(|w| w.version).collect::<Vec<_>>(), [1, 3]);
    // The change's audit record is in the chain.
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
}

pub async fn a_case_person_is_found_by_the_id_of_their_patient(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (_, commit) = new_case(&p);
    store.commit(commit).await.unwrap();
    let id = brygga::formats::fhir::patient_id(&p);
    assert_eq!(store.person_of_patient(&id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        store.person_of_patient("no-such-patient").await.unwrap(),
        None
    );
}

pub async fn audit_records_of_reads_ride_in_a_batch_and_keep_the_chain(db: &TestDb) {
    use brygga::store::{AuditAppend, AuditQuery, GroupCommitter};
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let (case, commit) = new_case(&p);
    let read = AuditAppend {
        case_id: Some(case.id()),
        entries: vec![audit("read tasks", &p)],
        recorded_at: at("2026-11-20T08:02:00Z"),
    };
    // With a change, and alone.
    let (results, _) = store
        .commit_batch_with(vec![commit], &[], std::slice::from_ref(&read))
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    store
        .commit_batch_with(Vec::new(), &[], &[read.clone(), read])
        .await
        .unwrap();
    // Many concurrent reads through the group committer: every record lands, once.
    let committer = GroupCommitter::start(store.clone(), 64);
    let mut reads = Vec::new();
    for i in 0..40 {
        let (committer, p) = (committer.clone(), p.clone());
        reads.push(tokio::spawn(async move {
            committer
                .append_audit(
                    None,
                    &[audit(&format!("read {i}"), &p)],
                    at("2026-11-20T08:03:00Z"),
                )
                .await
        }));
    }
    for read in reads {
        read.await.unwrap().unwrap();
    }
    let records = store
        .audit_records(&AuditQuery {
            after: 0,
            limit: 1000,
            organisation: None,
            person: Some(p.clone()),
            from: None,
            to: None,
        })
        .await
        .unwrap();
    let reads = records
        .iter()
        .filter(|r| r.action.starts_with("read"))
        .count();
    assert_eq!(reads, 3 + 40, "{records:?}");
    let case_reads = records
        .iter()
        .filter(|r| r.action == "read tasks" && r.case_id == Some(case.id().to_string()))
        .count();
    assert_eq!(case_reads, 3);
    assert!(store.verify_audit_chain().await.unwrap().is_intact());
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

/// A PostgreSQL server that ends the gateway's sessions (a restart, a failover, an operator)
/// costs receiving's read nothing: a read that meets a broken connection is made again on a
/// new one.
pub async fn receiving_reads_again_on_a_new_connection_after_the_server_ended_its_sessions(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let received = ReceivedMessage {
        source: "cosmic-link:SE2321000214-E1AV".into(),
        message_id: "msg-0001".into(),
        receipt: serde_json::json!({ "status": "accepted" }),
    };
    let (_, mut commit) = new_case(&p);
    let case_id = commit.case_id;
    commit.received = Some(received.clone());
    store.commit(commit).await.unwrap();
    let read = || store.prior(&received.source, &received.message_id, case_id, &p);
    assert!(matches!(
        read().await.unwrap(),
        brygga::store::Prior::Received(_)
    ));
    db.end_other_sessions().await;
    for _ in 0..3 {
        assert!(matches!(
            read().await.unwrap(),
            brygga::store::Prior::Received(_)
        ));
    }
}

/// The committer counts as saturated while 32 or more changes wait for it (the delivery
/// workers then give way), and no longer once they are answered.
pub async fn the_committer_is_saturated_while_many_changes_wait_for_it(db: &TestDb) {
    use brygga::store::GroupCommitter;
    let store = db.migrated().await;
    let committer = GroupCommitter::start(store.clone(), 8);
    // Another session holds the write lock (SQLite) or the audit head's (PostgreSQL): the
    // committer's first batch waits for it, and the rest queue behind.
    let mut other = db.raw().await;
    let hold = match store.backend() {
        brygga::store::Backend::Sqlite => "BEGIN IMMEDIATE",
        brygga::store::Backend::Postgres => {
            "BEGIN; UPDATE audit_head SET turn = turn + 1 WHERE id = 1"
        }
    };
    other
        .execute(hold)
        .await
        .expect("another session takes the lock");
    assert!(!committer.saturated(), "idle");
    let p = person("19811218-9876");
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let committer = committer.clone();
            let (_, commit) = new_case(&p);
            tokio::spawn(async move { committer.commit(commit).await })
        })
        .collect();
    let saturated = async {
        while !committer.saturated() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), saturated)
        .await
        .expect("40 changes held by the lock make the committer saturated within 10 s");
    other.execute("COMMIT").await.expect("the lock let go");
    for task in tasks {
        let outcome = task.await.expect("the commit's task");
        assert!(
            matches!(outcome, Ok(CommitOutcome::Committed { .. })),
            "{outcome:?}"
        );
    }
    assert!(!committer.saturated(), "every change answered");
}

/// Waits, at most 10 s, until a session of the database waits for a lock in a statement that
/// starts with `prefix`.
async fn until_waiting_for_lock(raw: &mut sqlx::AnyConnection, prefix: &str) {
    let waiting = async {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE $1",
            )
            .bind(format!("{prefix}%"))
            .fetch_one(&mut *raw)
            .await
            .expect("the sessions");
            if waiting > 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("a session waits for the lock within 10 s");
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

/// Receiving's reads made at once (on PostgreSQL one statement for all of them): each message
/// gets its own — the receipt of its earlier copy, or its case with its events, or no case.
pub async fn concurrent_reads_before_deciding_each_get_their_own_message_and_case(db: &TestDb) {
    use brygga::store::Prior;
    let store = db.migrated().await;
    let p = person("19811218-9876");
    const CASES: usize = 12;
    let mut stored = Vec::new();
    for n in 0..CASES {
        let commit = new_case_received(&p, n);
        stored.push((commit.case_id, commit.events[0].id));
        store.commit(commit).await.unwrap();
    }
    let mut reads = Vec::new();
    for round in 0..3 {
        for (n, (case_id, event_id)) in stored.iter().copied().enumerate() {
            let store = store.clone();
            let p = p.clone();
            reads.push(tokio::spawn(async move {
                // An earlier copy, a new message for a stored case, and one for no case.
                let (message, case) = match (n + round) % 3 {
                    0 => (format!("m-{n}"), case_id),
                    1 => (format!("new-{n}-{round}"), case_id),
                    _ => (
                        format!("new-{n}-{round}"),
                        brygga::domain::case::CaseId::new(),
                    ),
                };
                let read = store.prior("api", &message, case, &p).await.unwrap();
                match ((n + round) % 3, read) {
                    (0, Prior::Received(receipt)) => assert_eq!(receipt["n"], n),
                    (
                        1,
                        Prior::New {
                            case: Some(found),
                            consents,
                            protected,
                        },
                    ) => {
                        assert!(!protected);
                        assert_eq!(found.id, case_id);
                        assert_eq!(found.version, 1);
                        assert_eq!(found.events.len(), 1);
                        assert_eq!(found.events[0].event.id, event_id);
                        assert!(consents.is_empty());
                    }
                    (2, Prior::New { case: None, .. }) => {}
                    (kind, other) => panic!("read {n} of kind {kind}: {other:?}"),
                }
            }));
        }
    }
    for read in reads {
        read.await.expect("a read");
    }
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

/// PostgreSQL: a change whose reads the server refuses (a message id holding a NUL character,
/// which PostgreSQL's text cannot) fails alone; the other changes of its batch are committed.
/// The group committer reads a batch in one statement, which that change fails for all.
pub async fn a_change_whose_reads_the_server_refuses_fails_alone_in_its_batch(db: &TestDb) {
    use brygga::store::GroupCommitter;
    let store = db.migrated().await;
    let committer = GroupCommitter::start(store.clone(), 8);
    let p = person("19811218-9876");
    let mut other = db.raw().await;
    let mut watcher = db.raw().await;
    // A first change waits for the lock another session holds; the next three gather behind
    // it, and are taken as one batch once it is written.
    other
        .execute("BEGIN; UPDATE audit_head SET turn = turn + 1 WHERE id = 1")
        .await
        .expect("another session takes the lock");
    let spawn = |commit: brygga::changes::CaseCommit| {
        let committer = committer.clone();
        tokio::spawn(async move { committer.commit(commit).await })
    };
    let first = spawn(new_case_received(&p, 0));
    until_waiting_for_lock(&mut watcher, "BEGIN").await;
    let mut bad = new_case_received(&p, 2);
    if let Some(received) = bad.received.as_mut() {
        received.message_id = "m-\u{0}".to_owned();
    }
    let batch = [
        spawn(new_case_received(&p, 1)),
        spawn(bad),
        spawn(new_case_received(&p, 3)),
    ];
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while committer.queued() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the three changes are queued within 10 s");
    other.execute("COMMIT").await.expect("the lock let go");

    let first = first.await.expect("the first change's task");
    assert!(
        matches!(first, Ok(CommitOutcome::Committed { .. })),
        "{first:?}"
    );
    let [good_1, bad, good_2] = batch;
    for good in [good_1, good_2] {
        let outcome = good.await.expect("a change's task");
        assert!(
            matches!(outcome, Ok(CommitOutcome::Committed { .. })),
            "{outcome:?}"
        );
    }
    let refused = bad.await.expect("the refused change's task");
    assert!(
        matches!(refused, Err(StoreError::Database(_))),
        "{refused:?}"
    );
    assert_eq!(db.count("cases").await, 3);
    assert_eq!(db.count("received_messages").await, 3);
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
}
