//! Claiming and settling durable timers. A timer due while no gateway ran is claimed at the
//! next start; the claim query uses the partial index on pending due times, never a full scan.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::StoreError;
use super::handle::Store;
use super::records::TimerItem;
use super::sql::Backend;
use super::sql::{from_millis, millis};
use crate::domain::case::CaseId;

/// The claim statement, with `$lock` after the inner `SELECT` (row locks on PostgreSQL).
macro_rules! claim_timers_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE timers SET claimed_by = $1, claimed_until = $2 ",
            "WHERE id IN (SELECT id FROM timers WHERE status = 'pending' AND due_at <= $3 ",
            "AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY due_at, id LIMIT $4",
            $lock,
            ") RETURNING id, case_id, kind, due_at, payload"
        )
    };
}

fn timer_item(row: &AnyRow) -> Result<TimerItem, StoreError> {
    let case_id: String = row.try_get(1)?;
    let payload: String = row.try_get(4)?;
    Ok(TimerItem {
        id: row.try_get(0)?,
        case_id: CaseId::parse(&case_id).map_err(|e| StoreError::decode("case id", e))?,
        kind: row.try_get(2)?,
        due_at: from_millis(row.try_get(3)?)?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::decode("timer payload", e))?,
    })
}

/// One timer of a case as stored: its kind, due time, payload, and whether it is `pending`,
/// `fired` (it ran out) or `cancelled` (the step it waited for came), and when it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTimer {
    pub kind: String,
    pub due_at: Timestamp,
    pub payload: serde_json::Value,
    pub status: String,
    pub finished_at: Option<Timestamp>,
}

impl Store {
    /// Claims up to `limit` timers due at `now` for `worker` until `now + lease`, earliest first.
    pub async fn claim_due_timers(
        &self,
        worker: &str,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<TimerItem>, StoreError> {
        let now_ms = millis(now);
        let until = millis(now.saturating_add(lease).unwrap_or(now));
        let sql = match self.backend {
            // SQLite has a single writer, which serialises claims.
            Backend::Sqlite => claim_timers_sql!(""),
            Backend::Postgres => claim_timers_sql!(" FOR UPDATE SKIP LOCKED"),
        };
        let rows = sqlx::query(sql)
            .bind(worker)
            .bind(until)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await?;
        let mut items = rows.iter().map(timer_item).collect::<Result<Vec<_>, _>>()?;
        items.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(items)
    }

    /// Marks a claimed timer fired. False when the claim was lost or the timer was cancelled.
    pub async fn complete_timer(
        &self,
        id: &str,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE timers SET status = 'fired', finished_at = $1, claimed_by = NULL, claimed_until = NULL \
             WHERE id = $2 AND claimed_by = $3 AND status = 'pending'",
        )
        .bind(millis(now))
        .bind(id)
        .bind(worker)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// The earliest due time of any pending timer, so a scheduler can sleep until then.
    pub async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query("SELECT MIN(due_at) FROM timers WHERE status = 'pending'")
            .fetch_one(&self.reader)
            .await?;
        let due: Option<i64> = row.try_get(0)?;
        due.map(from_millis).transpose()
    }

    /// Every timer of a case, whatever became of it, earliest due first: what a case's
    /// timeline shows of its clocks.
    pub async fn timers_of_case(&self, case_id: CaseId) -> Result<Vec<CaseTimer>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, due_at, payload, status, finished_at FROM timers WHERE case_id = $1 ORDER BY due_at, id",
        )
        .bind(case_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get(2)?;
                let finished: Option<i64> = row.try_get(4)?;
                Ok(CaseTimer {
                    kind: row.try_get(0)?,
                    due_at: from_millis(row.try_get(1)?)?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::decode("timer payload", e))?,
                    status: row.try_get(3)?,
                    finished_at: finished.map(from_millis).transpose()?,
                })
            })
            .collect()
    }

    /// The pending timers of a case: `(kind, due_at)`, earliest first.
    pub async fn pending_timers(
        &self,
        case_id: CaseId,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, due_at FROM timers WHERE case_id = $1 AND status = 'pending' ORDER BY due_at, id",
        )
        .bind(case_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, from_millis(row.try_get(1)?)?)))
            .collect()
    }
}
