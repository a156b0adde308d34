//! Group commit: concurrent callers' commits share one database transaction, so one fsync
//! makes many messages durable. Each commit still succeeds or fails on its own (see
//! `Store::commit_batch`), and each caller is answered only after the transaction is on disk.
//!
//! On SQLite the delivery workers' claims and settlements go through the same queue and ride
//! in the batch's transaction: the database has one writer, and a claim taking its own turn
//! between two batches would hold up every message waiting in the next one. On PostgreSQL
//! they run on a connection of their own, beside the commits.

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, oneshot};

use super::commit::{AuditAppend, Booked, Bookkeeping};
use super::connect::{Backend, Store};
use super::error::StoreError;
use super::outbox::Settlement;
use super::records::{CaseCommit, CommitOutcome, OutboxItem};

enum Job {
    Commit {
        commit: Box<CaseCommit>,
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
}

impl GroupCommitter {
    /// Starts the committer task on the current Tokio runtime. A batch holds at most
    /// `max_batch` commits; while one batch is being written the next one gathers.
    pub fn start(store: Store, max_batch: usize) -> GroupCommitter {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        tokio::spawn(run(store.clone(), queue, max_batch));
        GroupCommitter { jobs, store }
    }

    /// Commits `commit` together with whatever else is waiting, and answers once it is durable.
    pub async fn commit(&self, mut commit: CaseCommit) -> Result<CommitOutcome, StoreError> {
        // The JSON and the audit records' hashed texts are made here, by each caller, not in
        // the batch's turn at the writer.
        commit.prepare()?;
        let (reply, answer) = oneshot::channel();
        self.send(Job::Commit {
            commit: Box::new(commit),
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::CommitterStopped)?
    }

    /// `Store::claim_outbox`, in the next batch on SQLite.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        if self.store.backend() == Backend::Postgres {
            return self.store.claim_outbox(worker, now, lease, limit).await;
        }
        let work = Bookkeeping::Claim {
            worker: worker.to_owned(),
            now,
            lease,
            limit,
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
        entries: &[super::records::AuditEntry],
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

async fn run(store: Store, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    // The writer connection, kept while batches follow one another: one going back to the pool
    // first waits for a task's turn and a round trip to it, and the next batch would wait too.
    let mut held = None;
    let mut turns = 0;
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let mut commits = Vec::with_capacity(jobs.len());
        let mut commit_replies = Vec::with_capacity(jobs.len());
        let mut work = Vec::new();
        let mut work_replies = Vec::new();
        let mut audits = Vec::new();
        let mut audit_replies = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Commit { commit, reply } => {
                    commits.push(*commit);
                    commit_replies.push(reply);
                }
                Job::Book { work: piece, reply } => {
                    work.push(piece);
                    work_replies.push(reply);
                }
                Job::Audit { append, reply } => {
                    audits.push(append);
                    audit_replies.push(reply);
                }
            }
        }
        let size = commits.len();
        let connection = match held.take() {
            Some(connection) => Ok(connection),
            None => store.writer_connection().await,
        };
        let outcome = match connection {
            Ok(mut connection) => {
                let outcome = store
                    .commit_batch_on(&mut connection, commits, &work, &audits)
                    .await;
                turns += 1;
                if outcome.is_ok() && !queue.is_empty() && turns < HOLD_FOR {
                    held = Some(connection);
                } else {
                    // After an error the connection goes back to the pool, whose release hook
                    // makes it durable again should the error have left it relaxed.
                    turns = 0;
                }
                outcome
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok((results, booked)) => {
                for reply in audit_replies {
                    let _ = reply.send(Ok(()));
                }
                for (reply, result) in commit_replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                for (reply, result) in work_replies.into_iter().zip(booked) {
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                // The transaction itself failed (connection lost, disk full): nothing of the
                // batch was written, and every caller hears so.
                tracing::error!(error = %error, batch = size, "group commit failed");
                let reason = error.to_string();
                for reply in commit_replies {
                    let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
                }
                for reply in work_replies {
                    let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
                }
                for reply in audit_replies {
                    let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
                }
            }
        }
    }
}
