//! Retention: what only the past needs is deleted in the background, a page at a time —
//! finished deliveries with their message bodies, finished timers, old receipts, and closed
//! cases with everything of theirs but the audit log.

use jiff::Timestamp;
use serde_json::json;
use sqlx::Row;

use super::audit::{AuditHead, chain_entries};
use super::error::StoreError;
use super::handle::Store;
use super::sql::millis;
use crate::changes::AuditEntry;

impl Store {
    /// Deletes, a page at a time until none is left, what only the past needs: finished
    /// deliveries (with their message bodies), finished timers, and the receipts of messages
    /// received before `before` (a message sent again after that is recognised by its event id
    /// instead, and refused as a duplicate step). The case record (events, the audit log) is
    /// kept.
    pub async fn prune_finished(&self, before: Timestamp, page: u32) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        for (table, sql) in [
            (
                Table::Deliveries,
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status <> 'pending' \
                 AND finished_at < $1 ORDER BY id LIMIT $2)",
            ),
            (
                Table::Timers,
                "DELETE FROM timers WHERE id IN (SELECT id FROM timers WHERE status <> 'pending' \
                 AND finished_at < $1 LIMIT $2)",
            ),
            (
                Table::Receipts,
                "DELETE FROM received_messages WHERE (source, message_id) IN \
                 (SELECT source, message_id FROM received_messages WHERE received_at < $1 LIMIT $2)",
            ),
        ] {
            loop {
                let mut tx = self.begin_bookkeeping().await?;
                let done = sqlx::query(sql)
                    .bind(millis(before))
                    .bind(i64::from(page))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                match table {
                    Table::Deliveries => pruned.deliveries += done,
                    Table::Timers => pruned.timers += done,
                    Table::Receipts => pruned.receipts += done,
                }
                if done < u64::from(page) {
                    break;
                }
                // Let the commits between two pages have the writer.
                tokio::task::yield_now().await;
            }
        }
        Ok(pruned)
    }
}

enum Table {
    Deliveries,
    Timers,
    Receipts,
}

/// What one pruning deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub timers: u64,
    pub receipts: u64,
    /// Closed cases deleted (`Store::prune_closed_cases`).
    pub cases: u64,
    /// Audit records deleted (`Store::prune_audit`).
    pub audit_records: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.deliveries + self.timers + self.receipts + self.cases + self.audit_records
    }
}

impl Store {
    /// Deletes up to `limit` cases closed (discharged or cancelled) and untouched since
    /// `before`, with nothing left to do — no running clock, no delivery waiting, no deviation
    /// unanswered — together with their events, deliveries, timers, receipts, deviations and
    /// the consents recorded in them. The audit log keeps its records, and gets one per
    /// deleted case (recorded at `now`). Answers how many cases.
    pub async fn prune_closed_cases(
        &self,
        before: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "SELECT c.id, c.phase, c.updated_at FROM cases c \
             WHERE c.phase IN ('discharged', 'cancelled') AND c.updated_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM timers t WHERE t.case_id = c.id AND t.status = 'pending') \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.status = 'pending') \
             AND NOT EXISTS (SELECT 1 FROM deviations d WHERE d.case_id = c.id AND d.answered_at IS NULL) \
             ORDER BY c.updated_at LIMIT $2",
        )
        .bind(millis(before))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut head = AuditHead::lock(&mut tx).await?;
        sqlx::query("INSERT INTO retention_pruning (id) VALUES (1)")
            .execute(&mut *tx)
            .await?;
        let mut audit = Vec::with_capacity(rows.len());
        for row in &rows {
            let case_id: String = row.try_get(0)?;
            let phase: String = row.try_get(1)?;
            let updated_at: i64 = row.try_get(2)?;
            for sql in [
                "DELETE FROM events WHERE case_id = $1",
                "DELETE FROM outbox WHERE case_id = $1",
                "DELETE FROM timers WHERE case_id = $1",
                "DELETE FROM received_messages WHERE case_id = $1",
                "DELETE FROM deviations WHERE case_id = $1",
                "DELETE FROM consents WHERE source = 'case ' || $1",
                "DELETE FROM cases WHERE id = $1",
            ] {
                sqlx::query(sql).bind(&case_id).execute(&mut *tx).await?;
            }
            audit.push((
                case_id,
                AuditEntry {
                    actor: "brygga".to_owned(),
                    organisation: None,
                    action: "delete closed case after its retention".to_owned(),
                    person: None,
                    purpose: "gallring".to_owned(),
                    legal_basis: None,
                    details: json!({
                        "phase": phase,
                        "last_changed": super::sql::from_millis(updated_at)?,
                        "closed_before": before,
                    }),
                },
            ));
        }
        sqlx::query("DELETE FROM retention_pruning")
            .execute(&mut *tx)
            .await?;
        for (case_id, entry) in &audit {
            chain_entries(
                &mut tx,
                &mut head,
                Some(case_id),
                std::slice::from_ref(entry),
                now,
            )
            .await?;
        }
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

impl Store {
    /// Deletes the oldest audit records, in order, up to (at most `page` of them) the first
    /// one recorded at or after `before` — and never past `signed_through`, the head of a
    /// signed checkpoint the caller verified — and moves the anchor to the last one deleted so
    /// that the records kept still verify; the deletion is itself recorded (at `now`). Answers
    /// how many were deleted.
    pub async fn prune_audit(
        &self,
        before: Timestamp,
        now: Timestamp,
        page: u32,
        signed_through: u64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let anchor: i64 = sqlx::query_scalar("SELECT seq FROM audit_anchor WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT seq, hash, recorded_at FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        )
        .bind(anchor)
        .bind(i64::try_from(signed_through).unwrap_or(i64::MAX))
        .bind(i64::from(page))
        .fetch_all(&mut *tx)
        .await?;
        let cutoff = millis(before);
        let mut last = None;
        for row in &rows {
            let recorded_at: i64 = row.try_get(2)?;
            if recorded_at >= cutoff {
                break;
            }
            let seq: i64 = row.try_get(0)?;
            let hash: String = row.try_get(1)?;
            last = Some((seq, hash));
        }
        let Some((seq, hash)) = last else {
            return Ok(0);
        };
        sqlx::query("INSERT INTO retention_pruning (id) VALUES (1)")
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM audit_log WHERE seq > $1 AND seq <= $2")
            .bind(anchor)
            .bind(seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM retention_pruning")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE audit_anchor SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry {
            actor: "brygga".to_owned(),
            organisation: None,
            action: "delete audit records after their retention".to_owned(),
            person: None,
            purpose: "gallring".to_owned(),
            legal_basis: None,
            details: json!({
                "through_seq": seq,
                "through_hash": hash,
                "records": deleted,
                "recorded_before": before,
            }),
        };
        chain_entries(&mut tx, &mut head, None, std::slice::from_ref(&entry), now).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(deleted)
    }
}
