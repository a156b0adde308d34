//! Committing a case's events, outbox rows, timers and audit rows in one transaction, and
//! reading cases back.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::{AuditHead, chain_entry};
use super::connect::Store;
use super::error::StoreError;
use super::records::{CaseCommit, CommitOutcome, StoredCase, StoredEvent};
use crate::domain::case::{CaseId, Phase};
use crate::domain::event::Event;
use crate::domain::identifiers::PersonId;

/// The case ids in the first column of `rows`.
fn case_ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<CaseId>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            CaseId::parse(&id).map_err(|e| StoreError::decode("case id", e))
        })
        .collect()
}

pub(super) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(super) fn from_millis(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::decode("timestamp", e))
}

/// The person id as two columns: the serde tag (`personnummer`, …) and the value.
fn person_columns(person: &PersonId) -> Result<(String, String), StoreError> {
    let value = serde_json::to_value(person).map_err(|e| StoreError::decode("person id", e))?;
    let system = value["system"].as_str().unwrap_or_default().to_owned();
    Ok((system, person.value()))
}

fn person_from_columns(system: String, value: String) -> Result<PersonId, StoreError> {
    serde_json::from_value(serde_json::json!({ "system": system, "value": value }))
        .map_err(|e| StoreError::decode("person id", e))
}

fn phase_from_column(phase: String) -> Result<Phase, StoreError> {
    serde_json::from_value(Value::String(phase)).map_err(|e| StoreError::decode("case phase", e))
}

impl Store {
    /// Commits one case change atomically. A received message id seen before yields
    /// `CommitOutcome::Duplicate` with the earlier receipt and writes nothing.
    pub async fn commit(&self, commit: CaseCommit) -> Result<CommitOutcome, StoreError> {
        let mut results = self.commit_batch(vec![commit]).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(StoreError::decode("commit result", "missing")))
    }

    /// Commits several case changes in one database transaction (group commit: one fsync for
    /// all of them). Each change is isolated by a savepoint, so one that fails (for example on
    /// a version conflict) leaves the others to commit; its result says why it failed.
    pub async fn commit_batch(
        &self,
        commits: Vec<CaseCommit>,
    ) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
        let mut tx = self.writer.begin().await?;
        // Take the audit chain's head first: it serialises writers on PostgreSQL in one fixed
        // lock order, so two batches touching the same cases cannot deadlock.
        let mut head = AuditHead::lock(&mut tx, self.backend).await?;
        let mut results = Vec::with_capacity(commits.len());
        for commit in &commits {
            sqlx::query("SAVEPOINT brygga_commit")
                .execute(&mut *tx)
                .await?;
            let mut tentative = head.clone();
            match apply_commit(&mut tx, commit, &mut tentative).await {
                Ok(outcome) => {
                    sqlx::query("RELEASE SAVEPOINT brygga_commit")
                        .execute(&mut *tx)
                        .await?;
                    head = tentative;
                    results.push(Ok(outcome));
                }
                Err(error) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT brygga_commit")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("RELEASE SAVEPOINT brygga_commit")
                        .execute(&mut *tx)
                        .await?;
                    results.push(Err(error));
                }
            }
        }
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// The case with its events in order, or `None`.
    pub async fn load_case(&self, case_id: CaseId) -> Result<Option<StoredCase>, StoreError> {
        let id = case_id.to_string();
        let Some(row) = sqlx::query(
            "SELECT person_system, person_value, phase, version, reference_issuer, reference_value FROM cases WHERE id = $1",
        )
        .bind(&id)
        .fetch_optional(&self.reader)
        .await?
        else {
            return Ok(None);
        };
        let person = person_from_columns(row.try_get(0)?, row.try_get(1)?)?;
        let phase = phase_from_column(row.try_get(2)?)?;
        let version: i64 = row.try_get(3)?;
        let issuer: Option<String> = row.try_get(4)?;
        let value: Option<String> = row.try_get(5)?;
        let reference = issuer
            .zip(value)
            .map(|(issuer, value)| crate::formats::canonical::CaseReference { issuer, value });
        let rows = sqlx::query(
            "SELECT seq, recorded_at, body FROM events WHERE case_id = $1 ORDER BY seq",
        )
        .bind(&id)
        .fetch_all(&self.reader)
        .await?;
        let events = rows
            .iter()
            .map(stored_event)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(StoredCase {
            id: case_id,
            person,
            reference,
            phase,
            version: version as u64,
            events,
        }))
    }

    /// The ids of the cases about `person`, oldest first.
    pub async fn cases_for_person(&self, person: &PersonId) -> Result<Vec<CaseId>, StoreError> {
        let (system, value) = person_columns(person)?;
        let rows = sqlx::query(
            "SELECT id FROM cases WHERE person_system = $1 AND person_value = $2 ORDER BY created_at, id",
        )
        .bind(system)
        .bind(value)
        .fetch_all(&self.reader)
        .await?;
        case_ids(&rows)
    }

    /// The ids of the cases with an event that happened in `[from, to)`, for follow-up.
    pub async fn cases_with_events_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CaseId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT case_id FROM events WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY case_id",
        )
        .bind(millis(from))
        .bind(millis(to))
        .fetch_all(&self.reader)
        .await?;
        case_ids(&rows)
    }

    /// The receipt given for a received message, if it was received.
    pub async fn receipt(
        &self,
        source: &str,
        message_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query(
            "SELECT receipt FROM received_messages WHERE source = $1 AND message_id = $2",
        )
        .bind(source)
        .bind(message_id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            let text: String = row.try_get(0)?;
            serde_json::from_str(&text).map_err(|e| StoreError::decode("receipt", e))
        })
        .transpose()
    }

    /// Row counts per table, for operators and tests.
    pub async fn table_counts(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut counts = Vec::new();
        for table in [
            "cases",
            "events",
            "received_messages",
            "outbox",
            "timers",
            "consents",
            "used_assertions",
            "audit_log",
        ] {
            let n: i64 = // The table names are the constants above.
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&self.reader)
                .await?
                .try_get(0)?;
            counts.push((table, n as u64));
        }
        Ok(counts)
    }
}

fn stored_event(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    let seq: i64 = row.try_get(0)?;
    let recorded_at: i64 = row.try_get(1)?;
    let body: String = row.try_get(2)?;
    let event: Event = serde_json::from_str(&body).map_err(|e| StoreError::decode("event", e))?;
    Ok(StoredEvent {
        seq: seq as u64,
        recorded_at: from_millis(recorded_at)?,
        event,
    })
}

async fn current_version(tx: &mut Transaction<'_, Any>, case_id: &str) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT version FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64, _>(0)? as u64,
        None => 0,
    })
}

async fn apply_commit(
    tx: &mut Transaction<'_, Any>,
    commit: &CaseCommit,
    head: &mut AuditHead,
) -> Result<CommitOutcome, StoreError> {
    let case_id = commit.case_id.to_string();
    let now = millis(commit.recorded_at);

    if let Some(received) = &commit.received {
        let receipt = serde_json::to_string(&received.receipt)
            .map_err(|e| StoreError::decode("receipt", e))?;
        let inserted = sqlx::query(
            "INSERT INTO received_messages (source, message_id, case_id, received_at, receipt) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, message_id) DO NOTHING",
        )
        .bind(&received.source)
        .bind(&received.message_id)
        .bind(&case_id)
        .bind(now)
        .bind(receipt)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row = sqlx::query(
                "SELECT receipt FROM received_messages WHERE source = $1 AND message_id = $2",
            )
            .bind(&received.source)
            .bind(&received.message_id)
            .fetch_one(&mut **tx)
            .await?;
            let text: String = row.try_get(0)?;
            let receipt =
                serde_json::from_str(&text).map_err(|e| StoreError::decode("receipt", e))?;
            return Ok(CommitOutcome::Duplicate { receipt });
        }
    }

    let new_version = commit.expected_version + commit.events.len() as u64;
    let phase = commit.phase.as_str();
    let moved = if commit.expected_version == 0 {
        let (system, value) = person_columns(&commit.person)?;
        sqlx::query(
            "INSERT INTO cases (id, person_system, person_value, phase, version, created_at, updated_at, \
             reference_issuer, reference_value) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&case_id)
        .bind(system)
        .bind(value)
        .bind(phase)
        .bind(new_version as i64)
        .bind(now)
        .bind(commit.reference.as_ref().map(|r| r.issuer.as_str()))
        .bind(commit.reference.as_ref().map(|r| r.value.as_str()))
        .execute(&mut **tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query("UPDATE cases SET version = $1, phase = $2, updated_at = $3 WHERE id = $4 AND version = $5")
            .bind(new_version as i64)
            .bind(phase)
            .bind(now)
            .bind(&case_id)
            .bind(commit.expected_version as i64)
            .execute(&mut **tx)
            .await?
            .rows_affected()
    };
    if moved == 0 {
        return Err(StoreError::VersionConflict {
            case_id: commit.case_id,
            expected: commit.expected_version,
            actual: current_version(tx, &case_id).await?,
        });
    }

    let mut seq_of = HashMap::new();
    for (i, event) in commit.events.iter().enumerate() {
        let seq = commit.expected_version + 1 + i as u64;
        seq_of.insert(event.id, seq);
        let body = serde_json::to_string(event).map_err(|e| StoreError::decode("event", e))?;
        sqlx::query(
            "INSERT INTO events (case_id, seq, id, kind, occurred_at, recorded_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&case_id)
        .bind(seq as i64)
        .bind(event.id.to_string())
        .bind(event.kind.name())
        .bind(millis(event.occurred_at))
        .bind(now)
        .bind(body)
        .execute(&mut **tx)
        .await?;
    }

    super::deviations::index_events(tx, &case_id, &commit.events).await?;
    super::consents::index_events(tx, &case_id, &commit.person, &commit.events).await?;

    for entry in &commit.outbox {
        let Some(seq) = seq_of.get(&entry.event_id) else {
            return Err(StoreError::decode(
                "outbox entry",
                format!("event {} is not part of this commit", entry.event_id),
            ));
        };
        sqlx::query(
            "INSERT INTO outbox (case_id, event_id, event_seq, destination, idempotency_key, payload, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&case_id)
        .bind(entry.event_id.to_string())
        .bind(*seq as i64)
        .bind(&entry.destination)
        .bind(&entry.idempotency_key)
        .bind(&entry.payload)
        .bind(millis(entry.not_before))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }

    for kind in &commit.cancel_timers {
        sqlx::query(
            "UPDATE timers SET status = 'cancelled', finished_at = $1 \
             WHERE case_id = $2 AND kind = $3 AND status = 'pending'",
        )
        .bind(now)
        .bind(&case_id)
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
        .bind(&case_id)
        .execute(&mut **tx)
        .await?;
    }

    for timer in &commit.timers {
        let payload = serde_json::to_string(&timer.payload)
            .map_err(|e| StoreError::decode("timer payload", e))?;
        sqlx::query(
            "INSERT INTO timers (id, case_id, kind, due_at, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&timer.id)
        .bind(&case_id)
        .bind(&timer.kind)
        .bind(millis(timer.due_at))
        .bind(payload)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }

    for entry in &commit.audit {
        chain_entry(tx, head, Some(&case_id), entry, commit.recorded_at).await?;
    }

    Ok(CommitOutcome::Committed {
        first_seq: commit.expected_version + 1,
        last_seq: new_version,
    })
}
