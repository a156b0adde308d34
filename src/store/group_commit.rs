//! Group commit: concurrent callers' commits share one database transaction, so one fsync
//! makes many messages durable. Each commit still succeeds or fails on its own (see
//! `Store::commit_batch`), and each caller is answered only after the transaction's commit,
//! which waits for the disk (SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit =
//! on`), has returned.
//!
//! On SQLite the delivery workers' claims and settlements go through the same queue and ride
//! in the batch's transaction: the database has one writer, and a claim taking its own turn
//! between two batches would hold up every message waiting in the next one. On PostgreSQL
//! they run on connections of their own, beside the commits.
//!
//! Measured and removed (`BENCHMARKS.md`, the load harness, three rounds side by side): a
//! syncer beside the committer that made each batch durable while the next was written, and
//! on PostgreSQL two lanes that read a batch ahead while the one before committed. Neither
//! moved accepted messages per second beyond the runs' own spread (under 10 % at 64 and 256
//! clients on both backends), so the committer is one loop: take what waits, write it, commit,
//! answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, oneshot};

use super::commit::{AuditAppend, Booked, Bookkeeping};
use super::error::StoreError;
use super::handle::Store;
use super::records::{CommitOutcome, OutboxItem};
use super::settle::Settlement;
use super::sql::Backend;
use super::write::Change;
use crate::changes::CaseCommit;

enum Job {
    Commit {
        change: Box<Change>,
        reply: oneshot::Sender<Result<CommitOutcome, StoreError>>,
    },
    Book {
        work: Bookkeeping,
        reply: oneshot::Sender<Result<Booked, StoreError>>,
    },
    Audit {
        append: AuditAppend,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// A handle to the committer task. Cloning shares the task; when every handle is dropped the
/// task finishes the batch in hand and ends.
#[derive(Clone, Debug)]
pub struct GroupCommitter {
    jobs: mpsc::Sender<Job>,
    store: Store,
    /// Changes handed to the committer and not answered yet (see `saturated`).
    waiting: Arc<AtomicUsize>,
}

/// Changes waiting for the committer at once from which it counts as saturated: senders are
/// then queueing for the writer, and the delivery workers give way (see `saturated`).
const SATURATED_AT: usize = 32;

/// Counts one change as waiting for as long as it lives (however its caller's wait ends).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl GroupCommitter {
    /// Starts the committer task on the current Tokio runtime. A batch holds at most
    /// `max_batch` commits; while one batch is being written the next one gathers.
    pub fn start(store: Store, max_batch: usize) -> GroupCommitter {
        GroupCommitter::start_counting(store, max_batch, crate::telemetry::Metrics::default())
    }

    /// As `start`, counting each batch into `metrics`: its size (`brygga_commit_batch_size`),
    /// how long its transaction took (`brygga_commit_seconds`) and the audit records it wrote
    /// (`brygga_audit_records_total`).
    pub fn start_counting(
        store: Store,
        max_batch: usize,
        metrics: crate::telemetry::Metrics,
    ) -> GroupCommitter {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        tokio::spawn(run(store.clone(), queue, max_batch, metrics));
        GroupCommitter {
            jobs,
            store,
            waiting: Arc::default(),
        }
    }

    /// Commits `commit` together with whatever else is waiting, and answers once it is durable.
    pub async fn commit(&self, commit: CaseCommit) -> Result<CommitOutcome, StoreError> {
        // The JSON and the audit records' hashed texts are made here, by each caller, not in
        // the batch's turn at the writer.
        let _waiting = Waiting::new(&self.waiting);
        let change = Change::prepare(commit)?;
        let (reply, answer) = oneshot::channel();
        self.send(Job::Commit {
            change: Box::new(change),
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::CommitterStopped)?
    }

    /// How many jobs are handed over and not yet taken into a batch. For the store's tests,
    /// which gather a batch behind a held lock.
    #[doc(hidden)]
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Whether incoming changes are queueing for the writer: at least `SATURATED_AT` handed to
    /// the committer and not answered yet. Each sender waits for its answer, so this many at
    /// once means the writer, or the cores it shares, cannot keep up with them. The delivery
    /// workers then give way (`delivery::worker`): under a burst the gateway takes in first,
    /// and delivers the backlog as the burst ends.
    pub fn saturated(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) >= SATURATED_AT
    }

    /// `Store::claim_outbox`, in the next batch on SQLite.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
        held_back: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        if self.store.backend() == Backend::Postgres {
            return self
                .store
                .claim_outbox(worker, now, lease, limit, held_back)
                .await;
        }
        let work = Bookkeeping::Claim {
            worker: worker.to_owned(),
            now,
            lease,
            limit,
            held_back: held_back.to_vec(),
        };
        match self.book(work).await? {
            Booked::Claimed(items) => Ok(items),
            Booked::Settled(_) => Err(StoreError::decode("claim result", "a settlement")),
        }
    }

    /// `Store::settle_outbox_batch`, in the next batch on SQLite.
    pub async fn settle_outbox_batch(
        &self,
        worker: &str,
        settlements: &[Settlement],
    ) -> Result<Vec<bool>, StoreError> {
        if self.store.backend() == Backend::Postgres {
            return self.store.settle_outbox_batch(worker, settlements).await;
        }
        let work = Bookkeeping::Settle {
            worker: worker.to_owned(),
            settlements: settlements.to_vec(),
        };
        match self.book(work).await? {
            Booked::Settled(held) => Ok(held),
            Booked::Claimed(_) => Err(StoreError::decode("settle result", "a claim")),
        }
    }

    /// Appends audit records (a read of personal data, a refused request) in the next batch,
    /// and answers once they are durable: concurrent reads share one transaction and one
    /// fsync, as messages do.
    pub async fn append_audit(
        &self,
        case_id: Option<crate::domain::case::CaseId>,
        entries: &[crate::changes::AuditEntry],
        recorded_at: Timestamp,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Audit {
            append: AuditAppend {
                case_id,
                entries: entries.to_vec(),
                recorded_at,
            },
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::CommitterStopped)?
    }

    async fn book(&self, work: Bookkeeping) -> Result<Booked, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Book { work, reply }).await?;
        answer.await.map_err(|_| StoreError::CommitterStopped)?
    }

    async fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::CommitterStopped)
    }
}

/// How many batches in a row the committer writes on the connection it holds before it lets
/// the connection go, so that other writers (a redelivery, a token's assertion) get a turn.
const HOLD_FOR: u32 = 8;

/// One batch's jobs, sorted by kind, each with its caller's reply.
#[derive(Default)]
struct Batch {
    commits: Vec<Change>,
    commit_replies: Vec<oneshot::Sender<Result<CommitOutcome, StoreError>>>,
    work: Vec<Bookkeeping>,
    work_replies: Vec<oneshot::Sender<Result<Booked, StoreError>>>,
    audits: Vec<AuditAppend>,
    audit_replies: Vec<oneshot::Sender<Result<(), StoreError>>>,
}

impl Batch {
    fn of(jobs: &mut Vec<Job>) -> Batch {
        let mut batch = Batch {
            commits: Vec::with_capacity(jobs.len()),
            commit_replies: Vec::with_capacity(jobs.len()),
            ..Batch::default()
        };
        for job in jobs.drain(..) {
            match job {
                Job::Commit { change, reply } => {
                    batch.commits.push(*change);
                    batch.commit_replies.push(reply);
                }
                Job::Book { work, reply } => {
                    batch.work.push(work);
                    batch.work_replies.push(reply);
                }
                Job::Audit { append, reply } => {
                    batch.audits.push(append);
                    batch.audit_replies.push(reply);
                }
            }
        }
        batch
    }

    /// The batch is committed: one result per change and per piece of bookkeeping.
    fn answer(
        self,
        results: Vec<Result<CommitOutcome, StoreError>>,
        booked: Vec<Result<Booked, StoreError>>,
    ) {
        for reply in self.audit_replies {
            let _ = reply.send(Ok(()));
        }
        for (reply, result) in self.commit_replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
        for (reply, result) in self.work_replies.into_iter().zip(booked) {
            let _ = reply.send(result);
        }
    }

    /// Nothing of the batch was written (the connection lost, the disk full): every caller
    /// hears why.
    fn fail(self, error: StoreError) {
        tracing::error!(error = %error, batch = self.commit_replies.len(), "group commit failed");
        let reason = match error {
            StoreError::BatchFailed(reason) => reason,
            other => other.to_string(),
        };
        for reply in self.commit_replies {
            let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
        }
        for reply in self.work_replies {
            let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
        }
        for reply in self.audit_replies {
            let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
        }
    }
}

/// The committer: takes what waits (at most `max_batch`), writes it in one transaction on the
/// writer connection, and answers each caller once the commit has returned.
async fn run(
    store: Store,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    metrics: crate::telemetry::Metrics,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    // The writer connection, kept while batches follow one another: one going back to the pool
    // first waits for a task's turn and a round trip to it, and the next batch would wait too.
    let mut held = None;
    let mut turns = 0;
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let mut batch = Batch::of(&mut jobs);
        let mut connection = match held.take() {
            Some(connection) => connection,
            None => match store.writer_connection().await {
                Ok(connection) => connection,
                Err(error) => {
                    batch.fail(error);
                    continue;
                }
            },
        };
        let size = batch.commits.len() + batch.work.len() + batch.audits.len();
        let audit_records = batch.commits.iter().map(|c| c.audit.len()).sum::<usize>()
            + batch.audits.iter().map(|a| a.entries.len()).sum::<usize>();
        let started = std::time::Instant::now();
        let outcome = store
            .commit_batch_on(
                &mut connection,
                std::mem::take(&mut batch.commits),
                &batch.work,
                &batch.audits,
            )
            .await;
        if outcome.is_ok() {
            let seconds = started.elapsed().as_secs_f64();
            metrics.record(|| {
                metrics::histogram!("brygga_commit_batch_size").record(size as f64);
                metrics::histogram!("brygga_commit_seconds").record(seconds);
                metrics::counter!("brygga_audit_records_total").increment(audit_records as u64);
            });
        }
        turns += 1;
        if outcome.is_ok() && !queue.is_empty() && turns < HOLD_FOR {
            held = Some(connection);
        } else {
            // After an error the connection goes back to the pool, whose release hook makes
            // it durable again should a bookkeeping transaction have left it relaxed.
            turns = 0;
        }
        match outcome {
            Ok((results, booked)) => batch.answer(results, booked),
            // The transaction itself failed (connection lost, disk full): nothing of the batch
            // was written, and every caller hears so.
            Err(error) => batch.fail(error),
        }
    }
}
