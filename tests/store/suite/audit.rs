//! The audit log: append-only, one hash chain, a person's extract, retention below the anchor.

use sqlx::Executor;

use crate::support::*;

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
    let mut raw = rewriter(db).await;
    raw.execute("UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 3")
        .await
        .unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(report.first_broken, Some(3), "{report:?}");
}

/// The watcher's reads: a page at a time from the anchor, then only what was added, the head
/// compared where a read reaches it; a rewritten head is found at the next look, a rewritten
/// record at the next read from the anchor.
pub async fn the_audit_chain_is_verified_as_it_grows(db: &TestDb) {
    let store = db.migrated().await;
    let p = person("19811218-9876");
    let append = |n: usize| {
        let store = store.clone();
        let p = p.clone();
        async move {
            for i in 0..n {
                store
                    .append_audit(
                        None,
                        &[audit(&format!("read-{i}"), &p)],
                        at("2026-11-20T10:00:00Z"),
                    )
                    .await
                    .unwrap();
            }
        }
    };
    append(5).await;
    let first = store.verify_audit_since(None, 3).await.unwrap();
    assert_eq!(
        (first.records, first.verified.seq, first.first_broken),
        (3, 3, None)
    );
    let rest = store
        .verify_audit_since(Some(&first.verified), 3)
        .await
        .unwrap();
    assert_eq!(
        (rest.records, rest.verified.seq, rest.first_broken),
        (2, 5, None)
    );
    let nothing_new = store
        .verify_audit_since(Some(&rest.verified), 3)
        .await
        .unwrap();
    assert_eq!((nothing_new.records, nothing_new.first_broken), (0, None));
    append(2).await;
    let grown = store
        .verify_audit_since(Some(&rest.verified), 100)
        .await
        .unwrap();
    assert_eq!(
        (grown.records, grown.verified.seq, grown.first_broken),
        (2, 7, None)
    );

    let mut raw = rewriter(db).await;
    // A record already verified, rewritten: found when the chain is read from the anchor.
    raw.execute("UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 6")
        .await
        .unwrap();
    let whole = store.verify_audit_since(None, 100).await.unwrap();
    assert_eq!(whole.first_broken, Some(6));
    // The head moved to hide a removed record: found at the next look.
    raw.execute("UPDATE audit_head SET seq = 8").await.unwrap();
    let look = store
        .verify_audit_since(Some(&grown.verified), 100)
        .await
        .unwrap();
    assert_eq!(look.first_broken, Some(8), "{look:?}");
}

/// A connection of someone with write access to the database who turns off the trigger that
/// keeps audit records from being updated, as an attacker would.
async fn rewriter(db: &TestDb) -> sqlx::AnyConnection {
    let mut raw = db.raw().await;
    let statement = if db.url.starts_with("sqlite") {
        "DROP TRIGGER audit_append_only_update"
    } else {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_append_only"
    };
    raw.execute(statement).await.unwrap();
    raw
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
