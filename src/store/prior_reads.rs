//! PostgreSQL: the reads received messages make before they are decided (`Store::prior`),
//! made together. While one statement is on its way, the reads asked meanwhile gather, and go
//! as the next statement, each tagged with its place; each caller gets its own rows back.
//!
//! One read per message was a round trip each, and the server's work for a statement (its
//! message, its bind, its answer on the socket) cost four times the lookup itself: under load
//! a fifth of the server's time. A statement for several costs that once.

use sqlx::AnyPool;
use sqlx::any::AnyRow;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::connect::Store;
use super::receive_readers::ReceiveReaders;

/// The most reads one statement makes.
const MAX_READS: usize = 64;

/// One message's read: its sender's message id, its case, and its person (as a token).
pub(super) struct Ask {
    pub source: String,
    pub message_id: String,
    pub case_id: String,
    pub person: String,
    /// The rows of this read (each with its place first: see `statement`), or `None` when the
    /// statement for all of them failed: the caller then reads alone.
    pub reply: oneshot::Sender<Option<Vec<AnyRow>>>,
}

/// Starts the task that makes the reads, on the current Tokio runtime; it ends when every
/// sender is gone.
pub(super) fn start(reader: AnyPool, receiving: Arc<ReceiveReaders>) -> mpsc::Sender<Ask> {
    let (asks, queue) = mpsc::channel(MAX_READS * 4);
    tokio::spawn(run(reader, receiving, queue));
    asks
}

async fn run(reader: AnyPool, receiving: Arc<ReceiveReaders>, mut queue: mpsc::Receiver<Ask>) {
    let mut asks = Vec::with_capacity(MAX_READS);
    while queue.recv_many(&mut asks, MAX_READS).await > 0 {
        let mut answers = read(&reader, &receiving, &asks)
            .await
            .map(Some)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, reads = asks.len(), "reads made together failed; each is made alone");
                None
            });
        for (i, ask) in asks.drain(..).enumerate() {
            let rows = answers.as_mut().map(|all| std::mem::take(&mut all[i]));
            let _ = ask.reply.send(rows);
        }
    }
}

/// One statement for every read of `asks`, on a lent reader connection: each read's rows.
async fn read(
    reader: &AnyPool,
    receiving: &ReceiveReaders,
    asks: &[Ask],
) -> Result<Vec<Vec<AnyRow>>, super::error::StoreError> {
    // A power of two of places, the rest `NULL`s that match nothing: a connection sees a
    // handful of texts, each kept prepared.
    let slots = asks.len().next_power_of_two();
    let query = bound(
        statement(slots),
        slots,
        asks.iter().map(|ask| {
            [
                ask.source.as_str(),
                ask.message_id.as_str(),
                ask.case_id.as_str(),
                ask.person.as_str(),
            ]
        }),
    );
    let mut lent = receiving.acquire(reader).await?;
    let rows = query.fetch_all(lent.conn()).await?;
    lent.done();
    let mut each: Vec<Vec<AnyRow>> = (0..asks.len()).map(|_| Vec::new()).collect();
    for row in rows {
        let place: i64 = sqlx::Row::try_get(&row, 0)?;
        match each.get_mut(place as usize) {
            Some(rows) => rows.push(row),
            None => {
                return Err(super::error::StoreError::decode(
                    "reads made together",
                    format!("a row for place {place}"),
                ));
            }
        }
    }
    Ok(each)
}

/// `sql`, the statement for `slots` places (or its `EXPLAIN`), with each read's place and keys
/// (its sender's source and message id, its case, its person) bound, and the places left
/// `NULL`.
fn bound<'q>(
    sql: String,
    slots: usize,
    keys: impl Iterator<Item = [&'q str; 4]>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    let mut places = 0;
    for (i, [source, message_id, case_id, person]) in keys.take(slots).enumerate() {
        query = query
            .bind(i as i64)
            .bind(source)
            .bind(message_id)
            .bind(case_id)
            .bind(person);
        places += 1;
    }
    for _ in places..slots {
        query = query
            .bind(None::<i64>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>);
    }
    query
}

/// The reads of `Store::prior` for `slots` messages: each row that read's place, then its row
/// as the single read gives it (a tag, five texts, two numbers).
fn statement(slots: usize) -> String {
    let mut keys = String::with_capacity(slots * 32);
    for slot in 0..slots {
        if slot > 0 {
            keys.push_str(", ");
        }
        let n = slot * 5;
        keys.push_str(&format!(
            "(CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT), \
             CAST(${} AS TEXT))",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        ));
    }
    // Each part asks its table once per message (`LATERAL`), by its index, as the single read
    // does: joined whole, a plan made on a fresh table's statistics read all its events.
    format!(
        "WITH k (n, source, message_id, case_id, person) AS (VALUES {keys}) \
         SELECT k.n, 0, r.receipt, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
         CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) FROM k, LATERAL \
         (SELECT receipt FROM received_messages \
         WHERE source = k.source AND message_id = k.message_id OFFSET 0) r \
         UNION ALL SELECT k.n, 1, c.person_system, c.person_value, c.phase, c.reference_issuer, \
         c.reference_value, c.version, NULL FROM k, LATERAL (SELECT * FROM cases \
         WHERE id = k.case_id OFFSET 0) c \
         UNION ALL SELECT k.n, 2, e.body, NULL, NULL, NULL, NULL, e.seq, e.recorded_at \
         FROM k, LATERAL (SELECT body, seq, recorded_at FROM events \
         WHERE case_id = k.case_id OFFSET 0) e \
         UNION ALL SELECT k.n, 3, s.directive, s.consent_id, NULL, NULL, NULL, s.recorded_at, NULL \
         FROM k, LATERAL (SELECT directive, consent_id, recorded_at FROM consents \
         WHERE person = k.person OFFSET 0) s \
         UNION ALL SELECT k.n, 4, NULL, NULL, NULL, NULL, NULL, p.since, NULL \
         FROM k, LATERAL (SELECT since FROM protected_persons \
         WHERE person = k.person AND lifted_at IS NULL OFFSET 0) p"
    )
}

impl Store {
    /// PostgreSQL's plan for the reads of `slots` messages made together (`EXPLAIN`, each
    /// message asking for `api`/`m`, case `c` and person `p`), on a receiving session: for the
    /// store's tests, which require lookups by index whatever the statistics say.
    #[doc(hidden)]
    pub async fn prior_reads_plan(&self, slots: usize) -> Result<String, super::error::StoreError> {
        let slots = slots.max(1).next_power_of_two();
        let keys = std::iter::repeat(["api", "m", "c", "p"]);
        let mut lent = self.receiving.acquire(&self.reader).await?;
        let rows = bound(format!("EXPLAIN {}", statement(slots)), slots, keys)
            .fetch_all(lent.conn())
            .await?;
        lent.done();
        super::rows::plan_text(&rows)
    }
}
