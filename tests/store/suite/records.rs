//! What is kept beside the cases: the audit chain, timers, consents, used assertions, kept
//! resources, retention.

use brygga::changes::{ReceivedMessage, TimerEntry};
use brygga::domain::event::EventKind;
use jiff::SignedDuration;
use sqlx::Executor;

use crate::support::*;

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
