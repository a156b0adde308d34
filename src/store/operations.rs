//! What an operator watches, read from the store at a scrape: each subscription's queue
//! (pending, oldest pending, dead letters), the timers (pending, overdue), the deviations
//! waiting for an answer by principal, and the database's size. Aggregates only: no
//! identifiers of cases or people. And the embedded database's online backup.

use jiff::Timestamp;
use sqlx::Row;

use super::error::StoreError;
use super::handle::Store;
use super::sql::{Backend, from_millis, millis};

/// One subscription's (destination's) queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    pub destination: String,
    pub pending: u64,
    /// When the oldest pending row was accepted.
    pub oldest_pending: Option<Timestamp>,
    pub dead: u64,
    pub delivered: u64,
    /// When the last delivery of it was made (of those still kept).
    pub last_delivered: Option<Timestamp>,
}

/// The deviations of one principal that wait: unanswered, of those not yet acknowledged, and
/// of those reminded at least once (escalated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviationState {
    pub principal: String,
    pub unanswered: u64,
    pub unacknowledged: u64,
    pub escalated: u64,
}

/// The store's operational state at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    pub at: Timestamp,
    pub queues: Vec<QueueState>,
    pub timers_pending: u64,
    /// Pending timers already due: the timer workers are behind by these.
    pub timers_overdue: u64,
    /// When the longest-overdue pending timer fell due.
    pub oldest_overdue: Option<Timestamp>,
    /// The pending timers falling due in the next 24 hours, by kind (`sip_invitation`, …).
    pub due_within_a_day: Vec<(String, u64)>,
    pub deviations: Vec<DeviationState>,
    pub database_bytes: u64,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Store {
    /// The operational state at `now` (`Operations`), in a few aggregate queries on a reader.
    pub async fn operations(&self, now: Timestamp) -> Result<Operations, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let rows = sqlx::query(
            "SELECT destination, status, COUNT(*), MIN(created_at), MAX(finished_at) FROM outbox \
             GROUP BY destination, status ORDER BY destination",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut queues: Vec<QueueState> = Vec::new();
        for row in &rows {
            let destination: String = row.try_get(0)?;
            let status: String = row.try_get(1)?;
            let n = count(row.try_get(2)?);
            let oldest: Option<i64> = row.try_get(3)?;
            let last: Option<i64> = row.try_get(4)?;
            if queues.last().is_none_or(|q| q.destination != destination) {
                queues.push(QueueState {
                    destination,
                    pending: 0,
                    oldest_pending: None,
                    dead: 0,
                    delivered: 0,
                    last_delivered: None,
                });
            }
            let Some(queue) = queues.last_mut() else {
                continue;
            };
            match status.as_str() {
                "pending" => {
                    queue.pending = n;
                    queue.oldest_pending = oldest.map(from_millis).transpose()?;
                }
                "dead" => queue.dead = n,
                "delivered" => {
                    queue.delivered = n;
                    queue.last_delivered = last.map(from_millis).transpose()?;
                }
                _ => {}
            }
        }
        let row = sqlx::query(
            "SELECT COUNT(*), \
             COALESCE(SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), 0), \
             MIN(CASE WHEN due_at <= $1 THEN due_at END) \
             FROM timers WHERE status = 'pending'",
        )
        .bind(millis(now))
        .fetch_one(&mut *conn)
        .await?;
        let timers_pending = count(row.try_get(0)?);
        let timers_overdue = count(row.try_get::<i64, _>(1)?);
        let oldest_overdue: Option<i64> = row.try_get(2)?;
        let due_within_a_day = sqlx::query(
            "SELECT kind, COUNT(*) FROM timers \
             WHERE status = 'pending' AND due_at > $1 AND due_at <= $2 \
             GROUP BY kind ORDER BY kind",
        )
        .bind(millis(now))
        .bind(millis(now + jiff::SignedDuration::from_hours(24)))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get::<String, _>(0)?, count(row.try_get(1)?))))
        .collect::<Result<Vec<_>, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT principal, COUNT(*), \
             COALESCE(SUM(CASE WHEN acknowledged_at IS NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN reminders > 0 THEN 1 ELSE 0 END), 0) \
             FROM deviations WHERE answered_at IS NULL GROUP BY principal ORDER BY principal",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut deviations = Vec::with_capacity(rows.len());
        for row in &rows {
            deviations.push(DeviationState {
                principal: row.try_get(0)?,
                unanswered: count(row.try_get(1)?),
                unacknowledged: count(row.try_get(2)?),
                escalated: count(row.try_get(3)?),
            });
        }
        let database_bytes = match self.backend {
            Backend::Sqlite => {
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(&mut *conn)
                    .await?;
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(&mut *conn)
                    .await?;
                count(size * pages)
            }
            Backend::Postgres => count(
                sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut *conn)
                    .await?,
            ),
        };
        Ok(Operations {
            at: now,
            queues,
            timers_pending,
            timers_overdue,
            due_within_a_day,
            oldest_overdue: oldest_overdue.map(from_millis).transpose()?,
            deviations,
            database_bytes,
        })
    }
}

impl Store {
    /// Writes a consistent copy of the embedded (SQLite) database to `to`, which must not
    /// exist, while the gateway goes on serving: one read transaction (`VACUUM INTO`), so the
    /// copy holds every commit before it began and none after. PostgreSQL is backed up with
    /// its own tools (`pg_dump`, `pg_basebackup`; `deploy/README.md`).
    pub async fn backup_to(&self, to: &std::path::Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unsupported(
                "brygga backup copies the embedded SQLite database; back PostgreSQL up with pg_dump or pg_basebackup (deploy/README.md)".to_owned(),
            ));
        }
        let Some(path) = to.to_str() else {
            return Err(StoreError::Unsupported(format!(
                "the backup's path {} is not UTF-8",
                to.display()
            )));
        };
        // The readers are read-only connections, which SQLite does not let write even another
        // file; the writer's reads only: in WAL mode the snapshot blocks no writer, of this
        // process or of the gateway serving beside it.
        let mut conn = self.writer.acquire().await?;
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_owned())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
