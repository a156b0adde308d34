//! The statistics' facts kept in memory: caught up with what any instance commits by the
//! cases' change numbers, reconciled with what they miss (an older build's writes, cases
//! retention removed), and counting what a fresh read of the cases counts.

use brygga::domain::case::CaseId;
use brygga::domain::event::EventKind;
use brygga::pipeline::projection::StatsProjection;
use brygga::process::stats::{compute, compute_facts};

use crate::support::*;

/// Cancels `case` (at version `version`) and commits it on `store`.
async fn cancel(store: &brygga::store::Store, case: &mut brygga::domain::case::CoordinationCase) {
    let version = case.version();
    case.apply(event(
        "2026-11-21T10:00:00Z",
        EventKind::CaseCancelled {
            reason: brygga::domain::sensitive::Sensitive::new("inte aktuellt".into()),
        },
    ))
    .unwrap();
    let commit = brygga::changes::CaseCommit::from_case(case, version, at("2026-11-21T10:00:05Z"));
    store.commit(commit).await.unwrap();
}

async fn change_number(db: &TestDb, id: CaseId) -> i64 {
    let mut raw = db.raw().await;
    sqlx::query_scalar("SELECT change_seq FROM cases WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&mut raw)
        .await
        .unwrap()
}

pub async fn statistics_facts_follow_every_instances_commits_and_reconcile(db: &TestDb) {
    let store = db.migrated().await;
    let other = db.second_instance().await;
    let projection = StatsProjection::new();
    let held = projection.current(store).await.unwrap();
    assert!(held.is_empty());
    drop(held);

    // A case committed here, then one committed by another instance: each caught up.
    let (mut first, commit) = new_case(&person("19811218-9876"));
    store.commit(commit).await.unwrap();
    let top = store.case_change_top().await.unwrap();
    assert!(top > 0, "a commit numbers its case");
    assert_eq!(projection.current(store).await.unwrap().len(), 1);
    let (mut second, commit) = new_case(&person("19121212-1212"));
    other.commit(commit).await.unwrap();
    assert!(store.case_change_top().await.unwrap() > top);
    let changed = store.case_versions(Some(top)).await.unwrap();
    assert_eq!(
        changed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![second.id()],
        "only the case changed after the number"
    );
    {
        let held = projection.current(store).await.unwrap();
        assert_eq!(held.len(), 2);
        let facts: Vec<_> = held.cases().collect();
        let (from, to) = ("2026-11-01".parse().unwrap(), "2026-12-01".parse().unwrap());
        let counted = compute_facts(held.units(), &facts, from, to);
        assert_eq!(counted.total.admission_notices, 2);
        // The same figures as the cases read whole.
        let mut cases = Vec::new();
        for id in [first.id(), second.id()] {
            cases.push(
                store
                    .load_case(id)
                    .await
                    .unwrap()
                    .unwrap()
                    .to_case()
                    .unwrap(),
            );
        }
        assert_eq!(counted, compute(&cases, from, to));
    }

    // A change whose case keeps its old change number (as an older build writes it) is not
    // seen by catching up; the reconciliation finds it by its version.
    let before = change_number(db, first.id()).await;
    let first_as_made = first.clone();
    cancel(&other, &mut first).await;
    assert!(change_number(db, first.id()).await > before);
    let mut raw = db.raw().await;
    sqlx::query("UPDATE cases SET change_seq = $1 WHERE id = $2")
        .bind(before)
        .bind(first.id().to_string())
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        projection.current(store).await.unwrap().version(first.id()),
        Some(1)
    );
    assert_eq!(projection.reconcile(store).await.unwrap(), (0, 1));
    assert_eq!(
        projection.current(store).await.unwrap().version(first.id()),
        Some(2)
    );
    // A case noted as committed is put in without being read, but never over a later version.
    let (third, commit) = new_case(&person("19400101-1115"));
    store.commit(commit).await.unwrap();
    projection.note(&third);
    projection.note(&first_as_made);
    let held = projection.current(store).await.unwrap();
    assert_eq!((held.len(), held.version(third.id())), (3, Some(1)));
    assert_eq!(held.version(first.id()), Some(2));
    drop(held);
    // (The third case goes as the others, cancelled and removed.)
    let mut third = third;
    cancel(store, &mut third).await;

    // A case retention removed is dropped by the reconciliation.
    cancel(store, &mut second).await;
    let pruned = store
        .prune_closed_cases(at("2026-12-01T00:00:00Z"), at("2026-12-30T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(pruned, 3);
    assert_eq!(projection.current(store).await.unwrap().len(), 3);
    assert_eq!(projection.reconcile(store).await.unwrap(), (3, 0));
    assert!(projection.current(store).await.unwrap().is_empty());
}
