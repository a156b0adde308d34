//! Commits: one change, a batch, the group committer, and what a message reads before it is
//! decided.

use brygga::changes::{ReceivedMessage, TimerEntry};
use brygga::domain::event::EventKind;
use brygga::store::{CommitOutcome, StoreError};
use sqlx::Executor;

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
