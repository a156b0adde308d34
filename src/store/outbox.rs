//! Claiming and settling outbox rows. Several workers (and gateway instances on PostgreSQL)
//! claim with `FOR UPDATE SKIP LOCKED` and a lease, so each row is worked by one at a time and a
//! crashed worker's rows come back when its lease ends. Per destination, only a case's earliest
//! unfinished row can be claimed, so its events arrive in order.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::StoreError;
use super::handle::Store;
use super::records::OutboxItem;
use super::settle::{Settlement, still_pending_sql};
use super::sql::Backend;
use super::sql::millis;
use crate::domain::case::CaseId;
use crate::domain::delivery::IdempotencyKey;
use crate::domain::event::EventId;

/// The claim statement, with `$kept` ending the question about a case's earlier delivery and
/// `$lock` after the inner `SELECT` (row locks on PostgreSQL).
macro_rules! claim_outbox_sql {
    ($kept:literal, $lock:literal) => {
        claim_outbox_sql!($kept, $lock, "")
    };
    ($kept:literal, $lock:literal, $held:literal) => {
        concat!(
            "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 ",
            "WHERE id IN (SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $3 ",
            "AND (o.claimed_until IS NULL OR o.claimed_until <= $3) ",
            $held,
            // Per destination, a case's rows go in order: only the earliest unfinished one.
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination = o.destination ",
            "AND p.case_id = o.case_id AND p.status = 'pending' ",
            // One probe of `outbox_pending_by_destination`, in its order, per row considered.
            "AND (p.event_seq, p.id) < (o.event_seq, o.id)",
            $kept,
            ") ",
            "ORDER BY o.next_attempt_at, o.id LIMIT $4",
            $lock,
            ") RETURNING id, case_id, event_id, event_seq, destination, idempotency_key, ",
            // A body gone missing reads as empty, which the worker dead-letters with the reason.
            "COALESCE((SELECT b.payload FROM outbox_payloads b WHERE b.id = outbox.id), ''), ",
            "attempts, created_at, event_number, attempts_settled"
        )
    };
}

/// The start of `Store::pending_outbox_after`'s statement, up to its destination's column.
macro_rules! peek_outbox_sql {
    () => {
        "SELECT id, case_id, event_id, event_seq, destination, idempotency_key, \
         COALESCE((SELECT b.payload FROM outbox_payloads b WHERE b.id = outbox.id), ''), \
         attempts, created_at, event_number, attempts_settled \
         FROM outbox WHERE id > $1 AND status = 'pending' AND "
    };
}

fn outbox_item(row: &AnyRow) -> Result<OutboxItem, StoreError> {
    let case_id: String = row.try_get(1)?;
    let event_id: String = row.try_get(2)?;
    let event_seq: i64 = row.try_get(3)?;
    let attempts: i64 = row.try_get(7)?;
    Ok(OutboxItem {
        id: row.try_get(0)?,
        case_id: CaseId::parse(&case_id).map_err(|e| StoreError::decode("case id", e))?,
        event_id: EventId(
            uuid::Uuid::parse_str(&event_id).map_err(|e| StoreError::decode("event id", e))?,
        ),
        event_seq: event_seq as u64,
        destination: row.try_get(4)?,
        idempotency_key: IdempotencyKey::parse(&row.try_get::<String, _>(5)?)
            .map_err(|e| StoreError::decode("idempotency key", e))?,
        payload: row.try_get(6)?,
        attempts: attempts as u64,
        created_at: super::sql::from_millis(row.try_get(8)?)?,
        event_number: row.try_get::<Option<i64>, _>(9)?.map(|n| n as u64),
        // Attempts were counted that no outcome was recorded for: the gateway stopped between
        // sending one and recording what came of it.
        possibly_delivered: attempts - 1 > row.try_get::<i64, _>(10)?,
    })
}

/// The claim statement on `backend` (`$1` worker, `$2` lease end, `$3` now, `$4` limit, times
/// in milliseconds): public for checks of its plan.
pub fn claim_statement(backend: Backend) -> &'static str {
    match backend {
        // SQLite has a single writer, which serialises claims.
        Backend::Sqlite => claim_outbox_sql!("", ""),
        // `OFFSET 0` keeps the question a subquery asked of each row, which PostgreSQL's
        // planner cannot turn into a join: a join planned on the empty table of a new
        // gateway's first claim read the whole index for each row, kept for every claim after
        // it (see `CLAIM_SESSION`).
        Backend::Postgres => claim_outbox_sql!(" OFFSET 0", " FOR UPDATE SKIP LOCKED"),
    }
}

/// The claim statement that also leaves the rows of the subscriptions in `$5` (a JSON array
/// of names: those whose circuit is open on this instance) where they are.
fn claim_statement_holding_back(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => claim_outbox_sql!(
            "",
            "",
            "AND o.destination NOT IN (SELECT value FROM json_each($5)) "
        ),
        Backend::Postgres => claim_outbox_sql!(
            " OFFSET 0",
            " FOR UPDATE SKIP LOCKED",
            "AND o.destination NOT IN (SELECT jsonb_array_elements_text(CAST($5 AS jsonb))) "
        ),
    }
}

/// Claims up to `limit` due rows for `worker` on `conn` (see `Store::claim_outbox`): one
/// statement, in the caller's transaction or in its own. `session` says whether `conn` is a
/// claim session of PostgreSQL's (`CLAIM_SESSION`), where the statement is kept prepared.
#[allow(clippy::too_many_arguments)]
pub(super) async fn claim_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    session: bool,
    worker: &str,
    now: Timestamp,
    lease: SignedDuration,
    limit: u32,
    held_back: &[String],
) -> Result<Vec<OutboxItem>, StoreError> {
    let now_ms = millis(now);
    let until = millis(now.saturating_add(lease).unwrap_or(now));
    let sql = if held_back.is_empty() {
        claim_statement(backend)
    } else {
        claim_statement_holding_back(backend)
    };
    // Planned once per claim session, whose settings leave one plan, good for any backlog
    // (see `CLAIM_SESSION`); elsewhere (SQLite's claims, which ride in the committer's
    // batches) at each claim, for the table as it is then.
    let mut query = sqlx::query(sql)
        .persistent(session)
        .bind(worker)
        .bind(until)
        .bind(now_ms)
        .bind(i64::from(limit));
    if !held_back.is_empty() {
        query = query.bind(serde_json::to_string(held_back).unwrap_or_else(|_| "[]".to_owned()));
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        match outbox_item(row) {
            Ok(item) => items.push(item),
            // A row that cannot be read goes to the dead letters with the reason: the others
            // are delivered (failing the claim would stop every delivery behind it).
            Err(error) => {
                let id: i64 = row.try_get(0)?;
                tracing::error!(outbox_id = id, %error, "a stored delivery cannot be read; dead-lettered");
                sqlx::query(
                    "UPDATE outbox SET status = 'dead', last_error = $1, finished_at = $2, \
                     claimed_by = NULL, claimed_until = NULL WHERE id = $3",
                )
                .bind(format!("the stored delivery cannot be read: {error}"))
                .bind(now_ms)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    items.sort_by_key(|i| i.id);
    Ok(items)
}

impl Store {
    /// Up to `limit` pending rows of subscription `destination` after row `after`, in row
    /// order, without claiming them: what waits in a paused subscription.
    pub async fn pending_outbox_after(
        &self,
        destination: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        // Through the row ids, from the last one looked at: only the rows written since are
        // read, however many are queued (on SQLite `+` keeps the planner off the index by
        // destination, which would sort the whole queue).
        let sql = match self.backend {
            Backend::Sqlite => {
                concat!(peek_outbox_sql!(), "+destination = $2 ORDER BY id LIMIT $3")
            }
            Backend::Postgres => {
                concat!(peek_outbox_sql!(), "destination = $2 ORDER BY id LIMIT $3")
            }
        };
        let rows = sqlx::query(sql)
            .bind(after)
            .bind(destination)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(outbox_item).collect()
    }

    /// Claims up to `limit` due rows for `worker` until `now + lease`, oldest due first, and
    /// counts the attempt.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
        held_back: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        if self.backend == Backend::Postgres {
            // One statement is a transaction of its own: one round trip, on a claim session
            // (`CLAIM_SESSION`). Its commit waits for the log's flush, so what it claimed
            // stays claimed after a crash, also rows whose last settlement did not wait (the
            // bookkeeping's). A claim that took none writes nothing and waits for nothing.
            let mut conn = self.claimer.acquire().await?;
            return claim_in(
                &mut conn,
                self.backend,
                true,
                worker,
                now,
                lease,
                limit,
                held_back,
            )
            .await;
        }
        // A lost claim only means the row is claimed again after a restart.
        let mut tx = self.begin_bookkeeping().await?;
        let items = claim_in(
            &mut tx,
            self.backend,
            false,
            worker,
            now,
            lease,
            limit,
            held_back,
        )
        .await?;
        tx.commit().await?;
        Ok(items)
    }

    /// Settles a row that `worker` holds: sets its status, and optionally the next attempt,
    /// the last error and the finish time, and releases the claim. False when the claim was
    /// lost (the lease ended and another worker took the row) or the row is already settled.
    async fn settle_outbox(
        &self,
        id: i64,
        worker: &str,
        status: &'static str,
        next_attempt_at: Option<Timestamp>,
        error: Option<&str>,
        finished_at: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let settlement = Settlement {
            id,
            status,
            next_attempt_at,
            error: error.map(str::to_owned),
            finished_at,
        };
        let held = self.settle_outbox_batch(worker, &[settlement]).await?;
        Ok(held.first().copied().unwrap_or(false))
    }

    /// Marks a claimed row delivered. False when the claim was lost (lease expired and another
    /// worker took it).
    pub async fn complete_outbox(
        &self,
        id: i64,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle_outbox(id, worker, "delivered", None, None, Some(now))
            .await
    }

    /// Releases a claimed row for another attempt at `next_attempt_at`, recording why this one
    /// failed.
    pub async fn retry_outbox(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.settle_outbox(
            id,
            worker,
            "pending",
            Some(next_attempt_at),
            Some(error),
            None,
        )
        .await
    }

    /// Moves a claimed row to the dead-letter state with the reason.
    pub async fn dead_letter_outbox(
        &self,
        id: i64,
        worker: &str,
        now: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.settle_outbox(id, worker, "dead", None, Some(reason), Some(now))
            .await
    }

    /// The status of every outbox row of a case, in event order: `(destination, event_seq,
    /// status)`.
    pub async fn outbox_status_for_case(
        &self,
        case_id: CaseId,
    ) -> Result<Vec<(String, u64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT destination, event_seq, status FROM outbox WHERE case_id = $1 ORDER BY event_seq, id",
        )
        .bind(case_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get(1)?;
                Ok((row.try_get(0)?, seq as u64, row.try_get(2)?))
            })
            .collect()
    }
}

/// One outbox row as operators and clients see it (without its payload).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub case_id: String,
    pub event_id: String,
    pub event_seq: u64,
    /// The subscription.
    pub subscription: String,
    /// The party it is for (`region-unit:<HSA-id>`, `municipality:<kommunkod>[/<HSA-id>]`).
    pub recipient: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// When the receiving party acknowledged the message (a kvittens naming it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    /// Only these subscriptions (empty: all).
    pub subscriptions: Vec<String>,
    pub case_id: Option<CaseId>,
    /// Rows after this id (paging).
    pub after: i64,
    pub limit: u32,
}

fn delivery_row(row: &AnyRow) -> Result<DeliveryRow, StoreError> {
    let seq: i64 = row.try_get(3)?;
    let attempts: i64 = row.try_get(6)?;
    let finished: Option<i64> = row.try_get(10)?;
    let acknowledged: Option<i64> = row.try_get(11)?;
    let event_id: String = row.try_get(2)?;
    let subscription: String = row.try_get(4)?;
    let key: String = row.try_get(12)?;
    let recipient = key
        .strip_prefix(&format!("{event_id}:{subscription}:"))
        .unwrap_or_default()
        .to_owned();
    Ok(DeliveryRow {
        id: row.try_get(0)?,
        case_id: row.try_get(1)?,
        event_id,
        event_seq: seq as u64,
        subscription,
        recipient,
        status: row.try_get(5)?,
        attempts: attempts as u64,
        last_error: row.try_get(7)?,
        created_at: super::sql::from_millis(row.try_get(8)?)?,
        next_attempt_at: super::sql::from_millis(row.try_get(9)?)?,
        finished_at: finished.map(super::sql::from_millis).transpose()?,
        acknowledged_at: acknowledged.map(super::sql::from_millis).transpose()?,
    })
}

impl Store {
    /// Deliveries in id order, filtered and paged.
    pub async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<DeliveryRow>, StoreError> {
        // One placeholder per subscription asked for ($5, $6, …); the SQL holds no input.
        let subscriptions = if query.subscriptions.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..query.subscriptions.len())
                .map(|i| format!("${}", i + 5))
                .collect();
            format!("AND destination IN ({}) ", marks.join(", "))
        };
        // A case's deliveries through its index (a few rows, sorted); all of them in id order.
        let case = if query.case_id.is_some() {
            "case_id = $3"
        } else {
            "$3 IS NULL"
        };
        let sql = format!(
            "SELECT id, case_id, event_id, event_seq, destination, status, attempts, last_error, \
             created_at, next_attempt_at, finished_at, acknowledged_at, idempotency_key FROM outbox \
             WHERE {case} AND id > $1 AND ($2 IS NULL OR status = $2) \
             {subscriptions}ORDER BY id LIMIT $4"
        );
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(query.after)
            .bind(query.status.as_deref())
            .bind(query.case_id.map(|c| c.to_string()))
            .bind(i64::from(query.limit));
        for subscription in &query.subscriptions {
            statement = statement.bind(subscription.as_str());
        }
        let rows = statement.fetch_all(&self.reader).await?;
        rows.iter().map(delivery_row).collect()
    }

    /// One delivery by id.
    pub async fn delivery(&self, id: i64) -> Result<Option<DeliveryRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, case_id, event_id, event_seq, destination, status, attempts, last_error, \
             created_at, next_attempt_at, finished_at, acknowledged_at, idempotency_key FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(delivery_row).transpose()
    }

    /// Puts a dead-lettered delivery back in the queue, due at `now`, with its audit record.
    /// Answers whether it was dead.
    pub async fn redeliver(
        &self,
        id: i64,
        now: Timestamp,
        audit: &crate::changes::AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = super::audit::AuditHead::lock(&mut tx).await?;
        let row = sqlx::query(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, attempts = 0, finished_at = NULL \
             WHERE id = $2 AND status = 'dead' RETURNING case_id",
        )
        .bind(millis(now))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let case_id: String = row.try_get(0)?;
        super::audit::chain_entries(
            &mut tx,
            &mut head,
            Some(&case_id),
            std::slice::from_ref(audit),
            now,
        )
        .await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Extends `worker`'s claims on the rows `ids` (on their way now) until `until`; answers
    /// how many it still held.
    pub async fn renew_claims(
        &self,
        worker: &str,
        ids: &[i64],
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut p = super::rows::Placeholders::new(self.backend);
        let (until_p, worker_p) = (p.next(), p.next());
        let list: Vec<String> = ids.iter().map(|_| p.next()).collect();
        let sql = format!(
            "UPDATE outbox SET claimed_until = {until_p} WHERE claimed_by = {worker_p} AND {} AND id IN ({})",
            still_pending_sql!(),
            list.join(", ")
        );
        // The text is made of constants and numbered placeholders.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(millis(until))
            .bind(worker);
        for id in ids {
            query = query.bind(*id);
        }
        let mut tx = self.begin_bookkeeping().await?;
        let renewed = query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(renewed)
    }

    /// Hands back every claim `worker` holds on deliveries and timers: a gateway restarted
    /// with the identity of one that stopped takes its work back at once instead of waiting
    /// for the leases. Answers how many rows (deliveries, timers) it released.
    pub async fn release_claims(&self, worker: &str) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin_bookkeeping().await?;
        let deliveries = sqlx::query(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL \
             WHERE claimed_by = $1 AND status = 'pending'",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let timers = sqlx::query(
            "UPDATE timers SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((deliveries, timers))
    }
}
