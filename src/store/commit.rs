//! Committing case changes: everything one accepted message changes (events, received message
//! id, outbox rows, timers, audit records) in one transaction, and many of them together in
//! one transaction (group commit).
//!
//! A batch is first written in bulk: the stored receipts and case versions of the whole batch
//! are read with two queries, each change is judged on them (a duplicate, a version conflict,
//! or accepted), and the accepted changes' rows are written with a few multi-row statements per
//! table. Should anything of that fail, the batch is written again change by change, each
//! under a savepoint, so the change that fails is the only one refused.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::audit::{AuditHead, audit_rows};
use super::error::StoreError;
use super::handle::Store;
use super::outbox::claim_in;
use super::records::CommitOutcome;
use super::records::OutboxItem;
use super::rows::{Param, Rows, Script, backend_of};
use super::settle::{Settlement, settle_in};
use super::write::{Change, write_accepted};
use crate::changes::CaseCommit;
use jiff::{SignedDuration, Timestamp};

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
    /// all of them). Each change succeeds or fails on its own (for example on a version
    /// conflict, which leaves the others to commit); its result says why it failed.
    pub async fn commit_batch(
        &self,
        commits: Vec<CaseCommit>,
    ) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
        Ok(self.commit_batch_with(commits, &[], &[]).await?.0)
    }

    /// As `commit_batch`, with delivery bookkeeping in the same transaction (after the
    /// changes, each under its own savepoint, so that one failing fails alone). The group
    /// committer puts SQLite's claims and settlements here: its one writer then never waits
    /// for them between two batches.
    ///
    /// `audits` (the audit records of reads, see `GroupCommitter::append_audit`) are chained
    /// after the changes' records, in the same durable transaction.
    pub async fn commit_batch_with(
        &self,
        commits: Vec<CaseCommit>,
        work: &[Bookkeeping],
        audits: &[AuditAppend],
    ) -> Result<Batched, StoreError> {
        let changes = commits
            .into_iter()
            .map(Change::prepare)
            .collect::<Result<_, _>>()?;
        let mut conn = self.writer_connection().await?;
        self.commit_batch_on(&mut conn, changes, work, audits).await
    }

    /// As `commit_batch_with`, on a writer connection the caller holds (the group committer
    /// keeps it from one batch to the next: a connection going back to the pool first takes a
    /// task's turn and a round trip to it). After an error the caller must let it go.
    pub(super) async fn commit_batch_on(
        &self,
        conn: &mut sqlx::pool::PoolConnection<Any>,
        commits: Vec<Change>,
        work: &[Bookkeeping],
        audits: &[AuditAppend],
    ) -> Result<Batched, StoreError> {
        if commits.is_empty() && audits.is_empty() {
            // Bookkeeping alone need not wait for the disk (see `begin_bookkeeping`).
            let booked = self.bookkeeping_on(conn, work).await?;
            return Ok((Vec::new(), booked));
        }
        match self.commit_bulk(conn, &commits, work, audits).await {
            Ok(results) => Ok(results),
            Err(error) => {
                // Nothing of the bulk transaction was written. One change of the batch may be
                // at fault (a constraint the checks did not foresee): write them one by one.
                tracing::warn!(error = %error, batch = commits.len(), "bulk commit failed; committing the batch change by change");
                self.commit_each(conn, &commits, work, audits).await
            }
        }
    }

    /// The bulk path: two reads for the whole batch, then a few statements per table.
    async fn commit_bulk(
        &self,
        conn: &mut AnyConnection,
        commits: &[Change],
        work: &[Bookkeeping],
        audits: &[AuditAppend],
    ) -> Result<Batched, StoreError> {
        // The head's lock first: it serialises every writer (on PostgreSQL across instances),
        // so the receipts, versions and event counts read next cannot change before this
        // transaction ends. On PostgreSQL the lock rides on the `BEGIN`, on SQLite on the
        // reads: one round trip before the reads, or none.
        let mut tx = AuditHead::begin(conn, self.backend).await?;
        let mut reads = Script::new(self.backend);
        AuditHead::read_in(&mut reads);
        Stored::reads(&mut reads, commits);
        Stored::ids(&mut reads, commits);
        let (stored, head) = Stored::sort(reads.fetch(&mut tx).await?)?;
        let head = head.ok_or_else(|| StoreError::decode("audit head", "missing"))?;
        let results = write_judged(&mut tx, commits, audits, head, stored).await?;
        let booked = book(&mut tx, self.backend, work).await?;
        tx.commit().await?;
        Ok((results, booked))
    }

    /// The careful path: each change under its own savepoint, written as a batch of one.
    async fn commit_each(
        &self,
        conn: &mut AnyConnection,
        commits: &[Change],
        work: &[Bookkeeping],
        audits: &[AuditAppend],
    ) -> Result<Batched, StoreError> {
        let mut tx = Transaction::begin(conn, None).await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let mut results = Vec::with_capacity(commits.len());
        for commit in commits {
            sqlx::query("SAVEPOINT brygga_commit")
                .execute(&mut *tx)
                .await?;
            let mut tentative = head.clone();
            let written = async {
                let (outcome, mut script) =
                    write_batch(&mut tx, std::slice::from_ref(commit), &mut tentative, None)
                        .await?;
                script.run(&mut tx).await?;
                Ok::<_, StoreError>(outcome)
            }
            .await;
            match written {
                Ok(mut outcome) => {
                    sqlx::query("RELEASE SAVEPOINT brygga_commit")
                        .execute(&mut *tx)
                        .await?;
                    head = tentative;
                    results.push(
                        outcome
                            .pop()
                            .unwrap_or_else(|| Err(StoreError::decode("commit result", "missing"))),
                    );
                }
                Err(error) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT brygga_commit")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("RELEASE SAVEPOINT brygga_commit")
                        .execute(&mut *tx)
                        .await?;
                    results.push(Err(error.classify()));
                }
            }
        }
        let mut script = Script::new(self.backend);
        append_audits(&mut script, &mut head, audits)?;
        head.store_in(&mut script);
        script.run(&mut tx).await?;
        let booked = book(&mut tx, self.backend, work).await?;
        tx.commit().await?;
        Ok((results, booked))
    }
}

/// Audit records to append in a group commit's transaction: those of a read of personal data,
/// or of a request refused, made durable with whatever else the batch writes.
#[derive(Debug, Clone)]
pub struct AuditAppend {
    pub case_id: Option<crate::domain::case::CaseId>,
    pub entries: Vec<crate::changes::AuditEntry>,
    pub recorded_at: Timestamp,
}

/// Judges and writes a batch's changes on what is stored (`write_batch`), then the audit
/// records of `audits` and the head's new position: the changes' results. The caller commits.
async fn write_judged(
    tx: &mut Transaction<'_, Any>,
    commits: &[Change],
    audits: &[AuditAppend],
    mut head: AuditHead,
    stored: Stored,
) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
    let (results, mut script) = if commits.is_empty() {
        (Vec::new(), Script::new(backend_of(tx)))
    } else {
        write_batch(tx, commits, &mut head, Some(stored)).await?
    };
    append_audits(&mut script, &mut head, audits)?;
    head.store_in(&mut script);
    script.run(tx).await?;
    Ok(results)
}

/// Chains every record of `audits` into `script`, in one multi-row statement.
fn append_audits(
    script: &mut Script,
    head: &mut AuditHead,
    audits: &[AuditAppend],
) -> Result<(), StoreError> {
    let mut rows = audit_rows();
    for append in audits {
        let case_id = append.case_id.map(|c| c.to_string());
        for entry in &append.entries {
            head.chain(&mut rows, case_id.as_deref(), entry, append.recorded_at)?;
        }
    }
    script.rows(rows);
    Ok(())
}

/// Delivery bookkeeping to do in a group commit's transaction.
#[derive(Debug, Clone)]
pub enum Bookkeeping {
    /// `Store::claim_outbox`.
    Claim {
        worker: String,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
        /// The subscriptions whose rows stay where they are (their circuit is open).
        held_back: Vec<String>,
    },
    /// `Store::settle_outbox_batch`.
    Settle {
        worker: String,
        settlements: Vec<Settlement>,
    },
}

/// What a piece of bookkeeping did.
#[derive(Debug)]
pub enum Booked {
    Claimed(Vec<OutboxItem>),
    Settled(Vec<bool>),
}

/// The results of a batch: one per change, one per piece of bookkeeping.
pub type Batched = (
    Vec<Result<CommitOutcome, StoreError>>,
    Vec<Result<Booked, StoreError>>,
);

/// Does each piece of bookkeeping under its own savepoint: a piece that fails is undone alone.
pub(super) async fn book(
    tx: &mut Transaction<'_, Any>,
    backend: super::sql::Backend,
    work: &[Bookkeeping],
) -> Result<Vec<Result<Booked, StoreError>>, StoreError> {
    let mut done = Vec::with_capacity(work.len());
    for piece in work {
        sqlx::query("SAVEPOINT brygga_bookkeeping")
            .execute(&mut **tx)
            .await?;
        let result = match piece {
            Bookkeeping::Claim {
                worker,
                now,
                lease,
                limit,
                held_back,
            } => claim_in(tx, backend, false, worker, *now, *lease, *limit, held_back)
                .await
                .map(Booked::Claimed),
            Bookkeeping::Settle {
                worker,
                settlements,
            } => settle_in(tx, backend, worker, settlements)
                .await
                .map(Booked::Settled),
        };
        // A piece that went through keeps its savepoint: the next piece's nests inside it,
        // and the commit releases them all (a round trip less per piece).
        if result.is_err() {
            sqlx::query("ROLLBACK TO SAVEPOINT brygga_bookkeeping")
                .execute(&mut **tx)
                .await?;
        }
        done.push(result);
    }
    Ok(done)
}

/// Judges each change of `commits` on what is stored and on the changes before it (a
/// duplicate, a version conflict, or accepted) and writes the accepted ones, but for the
/// statement left in the script it answers (see `write_accepted`).
async fn write_batch(
    tx: &mut Transaction<'_, Any>,
    commits: &[Change],
    head: &mut AuditHead,
    stored: Option<Stored>,
) -> Result<(Vec<Result<CommitOutcome, StoreError>>, Script), StoreError> {
    let stored = match stored {
        Some(stored) => stored,
        None => {
            let mut reads = Script::new(backend_of(tx));
            Stored::reads(&mut reads, commits);
            Stored::ids(&mut reads, commits);
            Stored::sort(reads.fetch(tx).await?)?.0
        }
    };
    let Stored {
        receipts: stored_receipts,
        versions: stored_versions,
        events: stored_events,
        outbox_ids,
        ..
    } = stored;

    let mut results = Vec::with_capacity(commits.len());
    let mut accepted = Vec::with_capacity(commits.len());
    let mut batch_receipts: HashMap<(&str, &str), &Value> = HashMap::new();
    let mut batch_versions: HashMap<String, u64> = HashMap::new();
    for commit in commits {
        if let Some(received) = &commit.received {
            let key = (received.source.as_str(), received.message_id.as_str());
            let earlier = stored_receipts
                .get(&(key.0.to_owned(), key.1.to_owned()))
                .or_else(|| batch_receipts.get(&key).copied());
            if let Some(receipt) = earlier {
                results.push(Ok(CommitOutcome::Duplicate {
                    receipt: receipt.clone(),
                }));
                continue;
            }
        }
        let case_id = commit.case_id.to_string();
        let in_batch = batch_versions.get(&case_id).copied();
        let actual = in_batch
            .or_else(|| stored_versions.get(&case_id).copied())
            .unwrap_or(0);
        // A second change of a case in one batch was read before the first was written.
        if in_batch.is_some() || actual != commit.expected_version {
            results.push(Err(StoreError::VersionConflict {
                case_id: commit.case_id,
                expected: commit.expected_version,
                actual,
            }));
            continue;
        }
        if let Err(error) = check_outbox(commit) {
            results.push(Err(error));
            continue;
        }
        if let Some(received) = &commit.received {
            batch_receipts.insert(
                (received.source.as_str(), received.message_id.as_str()),
                &received.receipt,
            );
        }
        let last_seq = commit.expected_version + commit.events.len() as u64;
        batch_versions.insert(case_id, last_seq);
        accepted.push(commit);
        results.push(Ok(CommitOutcome::Committed {
            first_seq: commit.expected_version + 1,
            last_seq,
        }));
    }
    let script = write_accepted(tx, &accepted, head, stored_events, outbox_ids).await?;
    Ok((results, script))
}

/// What is stored for a batch's changes: the receipts of their received message ids, their
/// cases' versions (a case not stored yet is absent), and how many events their outbox rows'
/// subscriptions have been sent (read under the head's lock, as every writer of the counts
/// holds it).
#[derive(Debug, Default)]
struct Stored {
    receipts: HashMap<(String, String), Value>,
    versions: HashMap<String, u64>,
    events: HashMap<String, i64>,
    /// Ids for the batch's outbox rows, one for each of every change's (tag 4).
    outbox_ids: Vec<i64>,
}

impl Stored {
    /// Adds the reads to `script`, each row shaped as the head's (a tag, three texts, a
    /// number) and tagged by its first column: 1 a receipt, 2 a version, 3 an event count
    /// (`ids` adds 4, an outbox row's id).
    fn reads(script: &mut Script, commits: &[Change]) {
        let mut keys = Rows::new(
            "SELECT 1, source, message_id, receipt, CAST(NULL AS BIGINT) FROM received_messages \
             WHERE (source, message_id) IN (",
            2,
            ")",
        );
        for received in commits.iter().filter_map(|c| c.received.as_ref()) {
            keys.push([
                received.source.as_str().into(),
                received.message_id.as_str().into(),
            ]);
        }
        script.rows(keys);
        let mut ids = Rows::new(
            "SELECT 2, id, CAST(NULL AS TEXT), CAST(NULL AS TEXT), version FROM cases \
             WHERE id IN (",
            1,
            ")",
        );
        for commit in commits {
            ids.push([commit.case_id.to_string().into()]);
        }
        script.rows(ids);
        let mut subscriptions = Rows::new(
            "SELECT 3, subscription, CAST(NULL AS TEXT), CAST(NULL AS TEXT), events \
             FROM subscription_events WHERE subscription IN (",
            1,
            ")",
        );
        let mut seen = std::collections::HashSet::new();
        for entry in commits.iter().flat_map(|c| &c.outbox) {
            if seen.insert(entry.destination.as_str()) {
                subscriptions.push([entry.destination.as_str().into()]);
            }
        }
        script.rows(subscriptions);
    }

    /// Adds the outbox rows' ids (tag 4) to `script`: taken under the head's lock, so that ids
    /// follow the order the batches commit in, whichever instance writes them.
    fn ids(script: &mut Script, commits: &[Change]) {
        // The outbox rows' ids, from the sequence: each row's body goes to `outbox_payloads`
        // under its id in the same statements.
        let entries = commits.iter().map(|c| c.outbox.len()).sum::<usize>();
        if entries > 0 {
            let sql = match script.backend() {
                // Under the write lock that the head's statement took: no other writer can
                // move the sequence before this transaction ends. The rows inserted with the
                // ids move it on (AUTOINCREMENT keeps the largest id ever used).
                super::sql::Backend::Sqlite => {
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                     SELECT 4, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
                     (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox') + i \
                     FROM n"
                }
                super::sql::Backend::Postgres => {
                    "SELECT 4, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
                     nextval((SELECT pg_get_serial_sequence('outbox', 'id'))) FROM generate_series(1, ?)"
                }
            };
            script.statement(sql, vec![Param::Int(entries as i64)]);
        }
    }

    /// Sorts the rows of `reads`, and the audit head's (tag 0, see `AuditHead::lock_in`).
    fn sort(rows: Vec<AnyRow>) -> Result<(Stored, Option<AuditHead>), StoreError> {
        let mut stored = Stored::default();
        let mut head = None;
        for row in rows {
            match row.try_get::<i64, _>(0)? {
                0 => head = Some(AuditHead::locked(&row)?),
                1 => {
                    let text: String = row.try_get(3)?;
                    let receipt = serde_json::from_str(&text)
                        .map_err(|e| StoreError::decode("receipt", e))?;
                    stored
                        .receipts
                        .insert((row.try_get(1)?, row.try_get(2)?), receipt);
                }
                2 => {
                    let version: i64 = row.try_get(4)?;
                    stored.versions.insert(row.try_get(1)?, version as u64);
                }
                3 => {
                    stored.events.insert(row.try_get(1)?, row.try_get(4)?);
                }
                4 => stored.outbox_ids.push(row.try_get(4)?),
                tag => {
                    return Err(StoreError::decode(
                        "batch read",
                        format!("row tagged {tag}"),
                    ));
                }
            }
        }
        // PostgreSQL's union answers in no particular order; the rows take the ids in order.
        stored.outbox_ids.sort_unstable();
        Ok((stored, head))
    }
}

/// Every outbox entry must be the delivery of an event of its own commit.
fn check_outbox(commit: &CaseCommit) -> Result<(), StoreError> {
    match commit
        .outbox
        .iter()
        .find(|entry| !commit.events.iter().any(|e| e.id == entry.event_id))
    {
        Some(entry) => Err(StoreError::decode(
            "outbox entry",
            format!("event {} is not part of this commit", entry.event_id),
        )),
        None => Ok(()),
    }
}
