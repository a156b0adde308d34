//! Writing a judged batch: each accepted change's JSON texts made ready before the writer's
//! turn (`Change`), and its rows written with one multi-row statement (or a few) per table
//! (`write_accepted`): events, receipts, outbox rows and bodies, timers, audit records, the
//! indexes of consents and deviations, acknowledged deliveries and ended timers.

use std::collections::HashMap;

use sqlx::{Any, Transaction};

use super::audit::{AuditHead, PreparedAudit, audit_rows};
use super::error::StoreError;
use super::rows::{Param, Rows, Script, backend_of};
use super::sql::{millis, person_columns};
use crate::changes::CaseCommit;

/// What of a change can be made ready before the writer's turn: its JSON texts and its audit
/// records' hashed texts. The group committer's callers make it, concurrently, so that the
/// batch's transaction spends its time writing.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Prepared {
    receipt: Option<String>,
    events: Vec<String>,
    timers: Vec<String>,
    audit: Vec<PreparedAudit>,
}

impl Prepared {
    pub(super) fn of(commit: &CaseCommit) -> Result<Prepared, StoreError> {
        let case_id = commit.case_id.to_string();
        Ok(Prepared {
            receipt: commit
                .received
                .as_ref()
                .map(|m| serde_json::to_string(&m.receipt))
                .transpose()
                .map_err(|e| StoreError::decode("receipt", e))?,
            events: commit
                .events
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::decode("event", e))?,
            timers: commit
                .timers
                .iter()
                .map(|t| serde_json::to_string(&t.payload))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::decode("timer payload", e))?,
            audit: commit
                .audit
                .iter()
                .map(|entry| PreparedAudit::new(Some(&case_id), entry, commit.recorded_at))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A change with its JSON texts and audit records made ready (`Change::prepare`): by each
/// caller of the group committer, not in the batch's turn at the writer.
#[derive(Debug)]
pub(super) struct Change {
    commit: CaseCommit,
    prepared: Prepared,
}

impl Change {
    pub(super) fn prepare(commit: CaseCommit) -> Result<Change, StoreError> {
        let prepared = Prepared::of(&commit)?;
        Ok(Change { commit, prepared })
    }
}

impl std::ops::Deref for Change {
    type Target = CaseCommit;

    fn deref(&self) -> &CaseCommit {
        &self.commit
    }
}

/// Writes the accepted changes: one multi-row statement (or a few) per table, and the
/// statements that only some changes need (indexes, timer cancellations) one by one. The
/// audit records' statement is not run: it is left in the script answered, for the caller to
/// run with its own in the same round trip.
pub(super) async fn write_accepted(
    tx: &mut Transaction<'_, Any>,
    commits: &[&Change],
    head: &mut AuditHead,
    events_sent: HashMap<String, i64>,
    outbox_ids: Vec<i64>,
) -> Result<Script, StoreError> {
    let mut received = Rows::new(
        "INSERT INTO received_messages (source, message_id, case_id, received_at, receipt)",
        5,
        "",
    );
    let mut cases = Rows::new(
        "INSERT INTO cases (id, person_system, person_value, phase, version, created_at, \
         updated_at, reference_issuer, reference_value, patient_id, change_seq)",
        11,
        // The versions were checked under the head's lock: an existing case moves on, its
        // change number the lock holder's turn (migration 0019).
        "ON CONFLICT (id) DO UPDATE SET version = excluded.version, phase = excluded.phase, \
         updated_at = excluded.updated_at, change_seq = excluded.change_seq",
    );
    let mut events = Rows::new(
        "INSERT INTO events (case_id, seq, id, kind, occurred_at, recorded_at, body)",
        7,
        "",
    );
    let mut outbox = Rows::new(
        "INSERT INTO outbox (id, case_id, event_id, event_seq, destination, idempotency_key, \
         next_attempt_at, created_at, event_number, recipient)",
        10,
        "",
    );
    let mut payloads = Rows::new("INSERT INTO outbox_payloads (id, payload)", 2, "");
    let mut outbox_ids = outbox_ids.into_iter();
    let mut timers = Rows::new(
        "INSERT INTO timers (id, case_id, kind, due_at, payload, created_at)",
        6,
        "ON CONFLICT (id) DO NOTHING",
    );
    let mut audit = audit_rows();
    let mut numbers = EventNumbers {
        sent: events_sent,
        counted: HashMap::new(),
    };
    for commit in commits {
        let prepared = &commit.prepared;
        let case_id = commit.case_id.to_string();
        let now = millis(commit.recorded_at);
        if let (Some(message), Some(receipt)) = (&commit.received, &prepared.receipt) {
            received.push([
                message.source.as_str().into(),
                message.message_id.as_str().into(),
                case_id.as_str().into(),
                Param::Int(now),
                receipt.as_str().into(),
            ]);
        }
        let (system, value) = person_columns(&commit.person)?;
        let version = commit.expected_version + commit.events.len() as u64;
        cases.push([
            case_id.as_str().into(),
            system.into(),
            value.into(),
            commit.phase.as_str().into(),
            Param::Int(version as i64),
            Param::Int(now),
            Param::Int(now),
            commit.reference.as_ref().map(|r| r.issuer.as_str()).into(),
            commit.reference.as_ref().map(|r| r.value.as_str()).into(),
            crate::formats::fhir::patient_id(&commit.person).into(),
            Param::Int(head.turn as i64),
        ]);
        for (i, (event, body)) in commit.events.iter().zip(&prepared.events).enumerate() {
            let seq = commit.expected_version + 1 + i as u64;
            events.push([
                case_id.as_str().into(),
                Param::Int(seq as i64),
                event.id.to_string().into(),
                event.kind.name().into(),
                Param::Int(millis(event.occurred_at)),
                Param::Int(now),
                body.as_str().into(),
            ]);
        }
        for entry in &commit.outbox {
            let seq = commit
                .events
                .iter()
                .position(|e| e.id == entry.event_id)
                .map(|i| commit.expected_version + 1 + i as u64)
                .unwrap_or_default();
            let id = outbox_ids
                .next()
                .ok_or_else(|| StoreError::decode("outbox ids", "fewer than the batch's rows"))?;
            payloads.push([Param::Int(id), entry.payload.as_str().into()]);
            outbox.push([
                Param::Int(id),
                case_id.as_str().into(),
                entry.event_id.to_string().into(),
                Param::Int(seq as i64),
                entry.destination.as_str().into(),
                entry.idempotency_key.as_str().into(),
                Param::Int(millis(entry.not_before)),
                Param::Int(now),
                Param::Int(numbers.next(&entry.destination)),
                entry.idempotency_key.recipient().into(),
            ]);
        }
        for (timer, payload) in commit.timers.iter().zip(&prepared.timers) {
            timers.push([
                timer.id.as_str().into(),
                case_id.as_str().into(),
                timer.kind.as_str().into(),
                Param::Int(millis(timer.due_at)),
                payload.as_str().into(),
                Param::Int(now),
            ]);
        }
        for record in &prepared.audit {
            head.chain_prepared(&mut audit, record);
        }
    }
    // The multi-row statements go in as few round trips as the order allows: the statements
    // some changes need besides (run one by one) come after the case rows and before the
    // timers, and acknowledgements after the outbox rows.
    let mut script = Script::new(backend_of(tx));
    script.rows(received);
    script.rows(cases);
    script.rows(events);
    let beside: Vec<&&Change> = commits.iter().filter(|c| writes_beside(c)).collect();
    if !beside.is_empty() {
        script.run(tx).await?;
    }
    for commit in beside {
        let case_id = commit.case_id.to_string();
        let now = millis(commit.recorded_at);
        super::deviations::index_events(tx, &case_id, &commit.events).await?;
        super::consents::index_events(tx, &case_id, &commit.person, &commit.events).await?;
        // Before the new timers: a change that stops a clock and starts one of the same kind
        // keeps the new one.
        end_timers(tx, &case_id, commit, now).await?;
    }
    script.rows(timers);
    script.rows(outbox);
    script.rows(payloads);
    script.rows(numbers.counts());
    if commits.iter().any(|c| !c.acknowledged.is_empty()) {
        script.run(tx).await?;
        for commit in commits {
            acknowledge(tx, commit).await?;
        }
    }
    script.rows(audit);
    Ok(script)
}

/// Whether `commit` needs statements besides its rows: indexes of its deviations or consents,
/// or timers it ends.
fn writes_beside(commit: &CaseCommit) -> bool {
    !commit.cancel_timers.is_empty()
        || !commit.fired_timers.is_empty()
        || commit
            .events
            .iter()
            .any(|e| super::deviations::indexes(&e.kind) || super::consents::indexes(&e.kind))
}

/// Marks the deliveries `commit` acknowledges: acknowledged now, and done (a kvittens is the
/// receiver's receipt, whether or not its 2xx was seen). A kvittens from a municipality as a
/// whole covers the deliveries to its units.
async fn acknowledge(tx: &mut Transaction<'_, Any>, commit: &CaseCommit) -> Result<(), StoreError> {
    let now = millis(commit.recorded_at);
    let case_id = commit.case_id.to_string();
    for acknowledged in &commit.acknowledged {
        let units = if acknowledged.recipient.starts_with("municipality:")
            && !acknowledged.recipient.contains('/')
        {
            format!("{}/%", acknowledged.recipient)
        } else {
            // Matches no key: a unit's kvittens covers that unit only.
            String::new()
        };
        for event in &acknowledged.events {
            sqlx::query(
                "UPDATE outbox SET acknowledged_at = COALESCE(acknowledged_at, $1), \
                 finished_at = CASE WHEN status = 'delivered' THEN finished_at ELSE $1 END, \
                 claimed_by = CASE WHEN status = 'delivered' THEN claimed_by ELSE NULL END, \
                 claimed_until = CASE WHEN status = 'delivered' THEN claimed_until ELSE NULL END, \
                 status = 'delivered' \
                 WHERE case_id = $2 AND event_id = $3 \
                 AND (recipient = $4 OR recipient LIKE $5)",
            )
            .bind(now)
            .bind(case_id.as_str())
            .bind(event.to_string())
            .bind(acknowledged.recipient.as_str())
            .bind(units.as_str())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// The next event number of each subscription, for the outbox rows of one batch: on from
/// the count stored, which the batch then moves on.
struct EventNumbers {
    sent: HashMap<String, i64>,
    counted: HashMap<String, i64>,
}

impl EventNumbers {
    fn next(&mut self, subscription: &str) -> i64 {
        let counted = self.counted.entry(subscription.to_owned()).or_insert(0);
        *counted += 1;
        self.sent.get(subscription).copied().unwrap_or(0) + *counted
    }

    /// The statement adding the batch's events to each subscription's count.
    fn counts(&self) -> Rows {
        let mut upsert = Rows::new(
            "INSERT INTO subscription_events (subscription, events)",
            2,
            "ON CONFLICT (subscription) DO UPDATE \
             SET events = subscription_events.events + excluded.events",
        );
        for (subscription, count) in &self.counted {
            upsert.push([subscription.as_str().into(), Param::Int(*count)]);
        }
        upsert
    }
}

/// Cancels the timers `commit` stops and marks fired those it records the firing of.
async fn end_timers(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    commit: &CaseCommit,
    now: i64,
) -> Result<(), StoreError> {
    for kind in &commit.cancel_timers {
        sqlx::query(
            "UPDATE timers SET status = 'cancelled', finished_at = $1 \
             WHERE case_id = $2 AND kind = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(case_id)
        .bind(kind)
        .execute(&mut **tx)
        .await?;
    }
    for id in &commit.fired_timers {
        sqlx::query(
            "UPDATE timers SET status = 'fired', finished_at = $1, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $2 AND case_id = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .bind(case_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
