//! The append-only, hash-chained audit log: appending (inside commits or alone), reading a
//! person's extract, and verifying the chain.
//!
//! Each record's hash is SHA-256 over its fields and the previous record's hash, so changing,
//! removing or reordering a record breaks every later hash. The head (last sequence number and
//! hash) lives in a one-row table that writers lock, which keeps the chain linear when several
//! gateway instances share PostgreSQL.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::error::StoreError;
use super::handle::Store;
use super::rows::{Param, Rows};
use super::sql::Backend;
use super::sql::{from_millis, millis, person_token};
use crate::changes::AuditEntry;
use crate::domain::case::CaseId;
use crate::domain::identifiers::PersonId;

/// The head's row on PostgreSQL, tagged 0 and shaped as a batch's other reads (a tag, three
/// texts, a number): `AuditHead::locked` reads it.
macro_rules! read_head_sql {
    () => {
        "SELECT 0, hash, CAST(turn AS TEXT), CAST(NULL AS TEXT), seq FROM audit_head WHERE id = 1"
    };
}

/// The head's lock: a write to its row, which stays locked until the transaction ends (on
/// SQLite it takes the database's write lock). Each holder counts its turn in `turn`
/// (migration 0012): a write that changes nothing else.
macro_rules! take_turn_sql {
    () => {
        "UPDATE audit_head SET turn = turn + 1 WHERE id = 1"
    };
}

/// The settings of a PostgreSQL transaction that judges changes (group commit, bulk commit):
/// its reads of receipts, versions and event counts look each key up by index, whatever the
/// statistics say. Its statements are kept prepared on the connection, and PostgreSQL may keep
/// a generic plan made while a table was small (a fresh database, or statistics taken before
/// the table grew): measured with 14,000 receipts, that was two sequential scans and two hash
/// joins per batch, each batch slower than the one before. The reads are lookups by primary
/// key, so switching the whole-table plans off costs nothing when the statistics are right.
/// `SET LOCAL`, so the session is left as it was.
macro_rules! judging_sql {
    () => {
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; \
         SET LOCAL enable_mergejoin = off; "
    };
}

/// The chain's head as read (and locked) at the start of a transaction.
#[derive(Debug, Clone)]
pub(super) struct AuditHead {
    seq: u64,
    hash: String,
    dirty: bool,
    /// The holder's turn (`take_turn_sql`): the change number of the cases it writes.
    pub(super) turn: u64,
}

impl AuditHead {
    pub(super) async fn lock(tx: &mut Transaction<'_, Any>) -> Result<Self, StoreError> {
        let mut script = super::rows::Script::new(super::rows::backend_of(tx));
        Self::lock_in(&mut script);
        match script.fetch(tx).await?.first() {
            Some(row) => Self::locked(row),
            None => Err(StoreError::decode("audit head", "missing")),
        }
    }

    /// Adds the head's lock to `script`, its row tagged 0 (see `AuditHead::locked`), so that a
    /// batch can take it in the same round trip as its reads (on SQLite).
    pub(super) fn lock_in(script: &mut super::rows::Script) {
        // A write to the head row, first thing in the transaction. On SQLite it takes the
        // database's write lock at once, so no other process can write between what this
        // transaction reads and what it writes; on PostgreSQL the row stays locked until the
        // transaction ends (writers queue in one order, so they cannot deadlock). Either way
        // the holder's turn is counted (see `take_turn_sql`).
        script.statement(
            concat!(
                take_turn_sql!(),
                " RETURNING 0, hash, CAST(turn AS TEXT), CAST(NULL AS TEXT), seq"
            ),
            Vec::new(),
        );
    }

    /// A write transaction on `conn` for a batch: on PostgreSQL its `BEGIN` takes the head's
    /// lock in the same round trip, so that every read after it (the next statement's
    /// snapshot) sees each writer before; `read_in` then reads the head. On SQLite it is a
    /// plain `BEGIN`, and `read_in` takes the lock. Only the group committer's task calls it
    /// (through `commit_batch_on`), and that task is not cancelled while the gateway runs: a
    /// future dropped while this `BEGIN` is on the way would leave the connection in a
    /// transaction that sqlx does not know of, holding the lock until the connection's next
    /// transaction ends.
    pub(super) async fn begin(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
    ) -> Result<Transaction<'_, Any>, StoreError> {
        use sqlx::SqlSafeStr;
        let statement = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(concat!("BEGIN; ", judging_sql!(), take_turn_sql!()).into_sql_str())
            }
        };
        Ok(Transaction::begin(conn, statement).await?)
    }

    /// Adds the head's read to `script`, in a transaction of `begin`: its row tagged 0 and
    /// shaped as the batch's other reads (tag, three texts, a number). On SQLite it is the
    /// lock of `lock_in`.
    pub(super) fn read_in(script: &mut super::rows::Script) {
        match script.backend() {
            Backend::Sqlite => Self::lock_in(script),
            Backend::Postgres => script.statement(read_head_sql!(), Vec::new()),
        }
    }

    /// The head from the row of `lock_in`'s or `read_in`'s statement.
    pub(super) fn locked(row: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        let seq: i64 = row.try_get(4)?;
        let turn: Option<String> = row.try_get(2)?;
        let turn = match turn {
            Some(turn) => turn
                .parse()
                .map_err(|_| StoreError::decode("audit head turn", turn))?,
            None => 0,
        };
        Ok(AuditHead {
            seq: seq as u64,
            hash: row.try_get(1)?,
            dirty: false,
            turn,
        })
    }

    /// Adds the head's new position to `script` (nothing when no record was chained).
    pub(super) fn store_in(&self, script: &mut super::rows::Script) {
        if self.dirty {
            script.statement(
                "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
                vec![
                    super::rows::Param::Int(self.seq as i64),
                    self.hash.as_str().into(),
                ],
            );
        }
    }

    pub(super) async fn store(&self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let mut script = super::rows::Script::new(super::rows::backend_of(tx));
        self.store_in(&mut script);
        script.run(tx).await
    }
}

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub case_id: Option<String>,
    pub actor: String,
    pub organisation: Option<String>,
    pub action: String,
    /// `system|value`, as in a FHIR token search.
    pub person: Option<String>,
    pub purpose: String,
    pub legal_basis: Option<String>,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of verifying the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditChainReport {
    /// The records verified (those kept).
    pub records: u64,
    /// The last record deleted by the audit log's retention (0: none); the chain verifies
    /// from its hash.
    pub anchor: u64,
    pub head_hash: String,
    /// The first record whose hash or link does not verify, if any.
    pub first_broken: Option<u64>,
}

impl AuditChainReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// An audit record made ready for the chain: everything but its place in it (sequence number
/// and previous hash), which only the commit knows. Preparing is the costly part (JSON, the
/// hashed text), so callers do it before they queue for the writer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PreparedAudit {
    recorded_at: i64,
    case_id: Option<String>,
    actor: String,
    organisation: Option<String>,
    action: String,
    person: Option<String>,
    purpose: String,
    legal_basis: Option<String>,
    details: String,
    /// The hashed text after `[seq,"prev_hash",`: the other fields as a JSON array's rest.
    tail: String,
}

impl PreparedAudit {
    pub(super) fn new(
        case_id: Option<&str>,
        entry: &AuditEntry,
        recorded_at: Timestamp,
    ) -> Result<Self, StoreError> {
        let details = serde_json::to_string(&entry.details)
            .map_err(|e| StoreError::decode("audit details", e))?;
        let person = entry.person.as_ref().map(person_token);
        Ok(PreparedAudit::from_fields(
            millis(recorded_at),
            case_id.map(str::to_owned),
            entry.actor.clone(),
            entry.organisation.clone(),
            entry.action.clone(),
            person,
            entry.purpose.clone(),
            entry.legal_basis.clone(),
            details,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn from_fields(
        recorded_at: i64,
        case_id: Option<String>,
        actor: String,
        organisation: Option<String>,
        action: String,
        person: Option<String>,
        purpose: String,
        legal_basis: Option<String>,
        details: String,
    ) -> Self {
        // A JSON array is an unambiguous encoding of the fields (no separator collisions).
        let array = serde_json::to_string(&(
            recorded_at,
            &case_id,
            &actor,
            &organisation,
            &action,
            &person,
            &purpose,
            &legal_basis,
            &details,
        ))
        .unwrap_or_default();
        let tail = array.strip_prefix('[').unwrap_or(&array).to_owned();
        PreparedAudit {
            recorded_at,
            case_id,
            actor,
            organisation,
            action,
            person,
            purpose,
            legal_basis,
            details,
            tail,
        }
    }

    /// The record's hash at `seq` after `prev_hash`: SHA-256 of the JSON array
    /// `[seq, prev_hash, recorded_at, case_id, actor, organisation, action, person, purpose,
    /// legal_basis, details]`.
    fn hash(&self, seq: u64, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!("[{seq},\"{prev_hash}\",").as_bytes());
        hasher.update(self.tail.as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// The audit log's insert statement, for `Rows`.
pub(super) fn audit_rows() -> Rows {
    Rows::new(
        "INSERT INTO audit_log (seq, recorded_at, case_id, actor, organisation, action, person, \
         purpose, legal_basis, details, prev_hash, hash)",
        12,
        "",
    )
}

impl AuditHead {
    /// Chains one record onto the head: adds its row to `rows` and advances the head.
    pub(super) fn chain(
        &mut self,
        rows: &mut Rows,
        case_id: Option<&str>,
        entry: &AuditEntry,
        recorded_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.chain_prepared(rows, &PreparedAudit::new(case_id, entry, recorded_at)?);
        Ok(())
    }

    /// Chains one prepared record onto the head.
    pub(super) fn chain_prepared(&mut self, rows: &mut Rows, record: &PreparedAudit) {
        let seq = self.seq + 1;
        let hash = record.hash(seq, &self.hash);
        rows.push([
            Param::Int(seq as i64),
            Param::Int(record.recorded_at),
            record.case_id.as_deref().into(),
            record.actor.as_str().into(),
            record.organisation.as_deref().into(),
            record.action.as_str().into(),
            record.person.as_deref().into(),
            record.purpose.as_str().into(),
            record.legal_basis.as_deref().into(),
            record.details.as_str().into(),
            self.hash.as_str().into(),
            hash.as_str().into(),
        ]);
        self.seq = seq;
        self.hash = hash;
        self.dirty = true;
    }
}

/// Appends records to the chain inside `tx`, advancing `head`.
pub(super) async fn chain_entries(
    tx: &mut Transaction<'_, Any>,
    head: &mut AuditHead,
    case_id: Option<&str>,
    entries: &[AuditEntry],
    recorded_at: Timestamp,
) -> Result<(), StoreError> {
    let mut rows = audit_rows();
    for entry in entries {
        head.chain(&mut rows, case_id, entry, recorded_at)?;
    }
    rows.insert(tx).await
}

/// `SELECT` of every audit column, followed by `$tail`.
macro_rules! select_audit {
    ($tail:literal) => {
        concat!(
            "SELECT seq, recorded_at, case_id, actor, organisation, action, person, purpose, ",
            "legal_basis, details, prev_hash, hash FROM audit_log ",
            $tail
        )
    };
}

fn audit_record(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let seq: i64 = row.try_get(0)?;
    let details: String = row.try_get(9)?;
    Ok(AuditRecord {
        seq: seq as u64,
        recorded_at: from_millis(row.try_get(1)?)?,
        case_id: row.try_get(2)?,
        actor: row.try_get(3)?,
        organisation: row.try_get(4)?,
        action: row.try_get(5)?,
        person: row.try_get(6)?,
        purpose: row.try_get(7)?,
        legal_basis: row.try_get(8)?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::decode("audit details", e))?,
        prev_hash: row.try_get(10)?,
        hash: row.try_get(11)?,
    })
}

impl Store {
    /// Appends audit records that belong to no commit (for example reads of personal data).
    pub async fn append_audit(
        &self,
        case_id: Option<CaseId>,
        entries: &[AuditEntry],
        recorded_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let case_id = case_id.map(|c| c.to_string());
        chain_entries(&mut tx, &mut head, case_id.as_deref(), entries, recorded_at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every audit record about `person`, in order: the person's log extract.
    pub async fn audit_for_person(
        &self,
        person: &PersonId,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!("WHERE person = $1 ORDER BY seq"))
            .bind(person_token(person))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(audit_record).collect()
    }

    /// Every audit record of case `case_id` about `person` (its person), in order: through the
    /// index by person (the log has none by case, which would cost every commit).
    pub async fn audit_for_case_of(
        &self,
        case_id: CaseId,
        person: &PersonId,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!(
            "WHERE person = $1 AND case_id = $2 ORDER BY seq"
        ))
        .bind(person_token(person))
        .bind(case_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// Every audit record of a case, in order (reading the whole log: for tests and tools).
    pub async fn audit_for_case(&self, case_id: CaseId) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!("WHERE case_id = $1 ORDER BY seq"))
            .bind(case_id.to_string())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(audit_record).collect()
    }

    /// Recomputes every hash and link of the chain, a page at a time, and compares the end
    /// with the stored head — all in one read transaction, so that records committed while it
    /// reads (the gateway keeps working) are not taken for a head ahead of its chain.
    pub async fn verify_audit_chain(&self) -> Result<AuditChainReport, StoreError> {
        let mut tx = self.snapshot().await?;
        let (anchor_seq, anchor_hash) = read_point(&mut tx, "audit_anchor").await?;
        let walk = walk_chain(&mut tx, anchor_seq + 1, anchor_hash, None).await?;
        let head = read_point(&mut tx, "audit_head").await?;
        tx.commit().await?;
        let first_broken = walk.first_broken.or_else(|| walk.broken_at_head(&head));
        Ok(AuditChainReport {
            records: walk.next_seq - 1 - anchor_seq,
            anchor: anchor_seq,
            head_hash: head.1,
            first_broken,
        })
    }

    /// Verifies at most `limit` records of the chain after `from` (a record verified before:
    /// its sequence number and hash), or from the retention's anchor when `from` is `None` or
    /// was pruned since. Where it reaches the head, the head is compared too. A watcher calls
    /// it again with the point it answers, so the whole log is read once, not at every check.
    pub async fn verify_audit_since(
        &self,
        from: Option<&AuditPoint>,
        limit: u64,
    ) -> Result<AuditProgress, StoreError> {
        let mut tx = self.snapshot().await?;
        let anchor = read_point(&mut tx, "audit_anchor").await?;
        let (seq, hash) = match from {
            Some(point) if point.seq >= anchor.0 => (point.seq, point.hash.clone()),
            _ => anchor,
        };
        let walk = walk_chain(&mut tx, seq + 1, hash, Some(limit)).await?;
        let head = read_point(&mut tx, "audit_head").await?;
        tx.commit().await?;
        let first_broken = walk
            .first_broken
            .or_else(|| walk.at_end.then(|| walk.broken_at_head(&head)).flatten());
        Ok(AuditProgress {
            verified: AuditPoint {
                seq: walk.next_seq - 1,
                hash: walk.prev_hash,
            },
            records: walk.next_seq - 1 - seq,
            first_broken,
        })
    }

    /// A read transaction with one snapshot for all its statements.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.reader.begin().await?;
        if self.backend() == super::sql::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

/// A verified place in the audit chain: a record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPoint {
    pub seq: u64,
    pub hash: String,
}

/// What one `verify_audit_since` read: the last record verified, how many it read, and the
/// first record that does not verify, if one did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProgress {
    pub verified: AuditPoint,
    pub records: u64,
    pub first_broken: Option<u64>,
}

/// The sequence number and hash of the one-row table `audit_anchor` or `audit_head`.
async fn read_point(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &'static str,
) -> Result<(u64, String), StoreError> {
    let sql = match table {
        "audit_anchor" => "SELECT seq, hash FROM audit_anchor WHERE id = 1",
        _ => "SELECT seq, hash FROM audit_head WHERE id = 1",
    };
    let row = sqlx::query(sql).fetch_one(&mut **tx).await?;
    Ok((row.try_get::<i64, _>(0)? as u64, row.try_get(1)?))
}

/// Where a walk along the chain ended.
struct Walk {
    /// The sequence number the next record must have.
    next_seq: u64,
    /// The hash of the last record read (the next one links to it).
    prev_hash: String,
    first_broken: Option<u64>,
    /// Whether it read every record there is (not stopped by its limit).
    at_end: bool,
}

impl Walk {
    /// Whether the stored head disagrees with the end of a walk that read to it.
    fn broken_at_head(&self, (head_seq, head_hash): &(u64, String)) -> Option<u64> {
        (*head_seq != self.next_seq - 1 || *head_hash != self.prev_hash).then_some(self.next_seq)
    }
}

/// Reads the chain from record `next_seq` (which must link to `prev_hash`), a page at a time,
/// at most `limit` records, recomputing each hash and link.
async fn walk_chain(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    mut next_seq: u64,
    mut prev_hash: String,
    limit: Option<u64>,
) -> Result<Walk, StoreError> {
    const PAGE: u64 = 1000;
    let mut left = limit.unwrap_or(u64::MAX);
    let mut first_broken = None;
    let mut at_end = false;
    while left > 0 {
        let rows = sqlx::query(select_audit!("WHERE seq >= $1 ORDER BY seq LIMIT $2"))
            .bind(next_seq as i64)
            .bind(PAGE.min(left) as i64)
            .fetch_all(&mut **tx)
            .await?;
        at_end = (rows.len() as u64) < PAGE.min(left);
        left -= rows.len() as u64;
        for row in &rows {
            let r = audit_record(row)?;
            let details: String = row.try_get(9)?;
            let recomputed = PreparedAudit::from_fields(
                millis(r.recorded_at),
                r.case_id.clone(),
                r.actor.clone(),
                r.organisation.clone(),
                r.action.clone(),
                r.person.clone(),
                r.purpose.clone(),
                r.legal_basis.clone(),
                details,
            )
            .hash(r.seq, &r.prev_hash);
            if first_broken.is_none()
                && (r.seq != next_seq || r.prev_hash != prev_hash || recomputed != r.hash)
            {
                first_broken = Some(r.seq.min(next_seq));
            }
            prev_hash = r.hash;
            next_seq = r.seq + 1;
        }
        if at_end {
            break;
        }
    }
    Ok(Walk {
        next_seq,
        prev_hash,
        first_broken,
        at_end,
    })
}

impl Store {
    /// Marks a client assertion's `jti` used until it expires, and appends `login` (if it was
    /// unused) or `replay` (if it was used before) to the audit log — in one transaction, so a
    /// token is never issued without its record. Expired marks are pruned on the way. Answers
    /// whether the assertion was unused.
    pub async fn use_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
        login: &AuditEntry,
        replay: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        sqlx::query("DELETE FROM used_assertions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        let fresh = sqlx::query(
            "INSERT INTO used_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let entry = if fresh { login } else { replay };
        chain_entries(&mut tx, &mut head, None, std::slice::from_ref(entry), now).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(fresh)
    }
}

/// Which audit records to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Records after this sequence number (paging).
    pub after: u64,
    pub limit: u32,
    /// Only records naming this organisation (HSA-id or kommunkod).
    pub organisation: Option<String>,
    /// Only records about this person.
    pub person: Option<PersonId>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Store {
    /// Up to `limit` of `organisation`'s audit records before sequence number `before` (the
    /// newest without it), newest first: an auditor's page of the log.
    pub async fn audit_records_before(
        &self,
        before: Option<u64>,
        limit: u32,
        organisation: &str,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!(
            "WHERE organisation = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(organisation)
        .bind(before.map(|b| b as i64).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// Audit records in order, filtered and paged by sequence number.
    pub async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!(
            "WHERE seq > $1 AND ($2 IS NULL OR organisation = $2) AND ($3 IS NULL OR person = $3) \
             AND ($4 IS NULL OR recorded_at >= $4) AND ($5 IS NULL OR recorded_at < $5) \
             ORDER BY seq LIMIT $6"
        ))
        .bind(query.after as i64)
        .bind(query.organisation.as_deref())
        .bind(query.person.as_ref().map(person_token))
        .bind(query.from.map(millis))
        .bind(query.to.map(millis))
        .bind(i64::from(query.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// How many records the query's filters select (`after` and `limit` aside).
    pub async fn count_audit_records(&self, query: &AuditQuery) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM audit_log WHERE ($1 IS NULL OR organisation = $1) \
             AND ($2 IS NULL OR person = $2) AND ($3 IS NULL OR recorded_at >= $3) \
             AND ($4 IS NULL OR recorded_at < $4)",
        )
        .bind(query.organisation.as_deref())
        .bind(query.person.as_ref().map(person_token))
        .bind(query.from.map(millis))
        .bind(query.to.map(millis))
        .fetch_one(&self.reader)
        .await?
        .try_get(0)?;
        Ok(count as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_record_hashes_exactly_as_the_chain_always_has() {
        let entry = AuditEntry {
            actor: "SE2321000214-E1AV \"avd 6\"".to_owned(),
            organisation: None,
            action: "disclose admission_notice".to_owned(),
            person: None,
            purpose: "samverkan vid utskrivning — åäö\n\t\u{1}".to_owned(),
            legal_basis: Some("Lag (2017:612) 3 kap. 1 §".to_owned()),
            details: serde_json::json!({ "recipient": "2380", "note": "\\ \" </x>" }),
        };
        let at: Timestamp = "2026-11-20T08:00:05.123Z".parse().unwrap();
        let prev = "ab".repeat(32);
        let prepared = PreparedAudit::new(Some("case-1"), &entry, at).unwrap();
        // The definition the stored chains were written with.
        let details = serde_json::to_string(&entry.details).unwrap();
        let canonical = serde_json::json!([
            7u64,
            prev,
            millis(at),
            Some("case-1"),
            entry.actor,
            entry.organisation,
            entry.action,
            None::<&str>,
            entry.purpose,
            entry.legal_basis,
            details
        ])
        .to_string();
        assert_eq!(
            prepared.hash(7, &prev),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
    }
}
