//! Group commit: concurrent callers' commits share one database transaction, so one fsync
//! makes many messages durable. Each commit still succeeds or fails on its own (see
//! `Store::commit_batch`), and each caller is answered only after the transaction is on disk.
//!
//! By default the log is made durable beside the writer, while the next batch is written: on
//! SQLite a thread of its own syncs the write-ahead log (`wal_sync`); on PostgreSQL the batches
//! commit without waiting for the log's flush (`synchronous_commit = off` in their
//! transaction), and a task of its own then commits a transaction of its own that does wait,
//! which flushes the log past every commit before it. Either way the answers of a batch wait
//! for the sync that covers it, not the writer.
//!
//! On SQLite the delivery workers' claims and settlements go through the same queue and ride
//! in the batch's transaction: the database has one writer, and a claim taking its own turn
//! between two batches would hold up every message waiting in the next one. On PostgreSQL
//! they run on a connection of their own, beside the commits.
//!
//! On PostgreSQL the batches go by two lanes, each on a writer connection of its own
//! (`run_lanes`): a batch's transaction begins, and its reads are made, while the batch before
//! still writes and commits on the other lane. The serial chain of batches is then each
//! batch's write and commit alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::commit::{AuditAppend, Booked, Bookkeeping, Written};
use super::connect::{Backend, Store};
use super::error::StoreError;
use super::outbox::Settlement;
use super::records::{CaseCommit, CommitOutcome, OutboxItem};
use super::wal_sync::WalFile;

/// Who makes the group committer's batches durable: who syncs SQLite's write-ahead log, or
/// flushes PostgreSQL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSync {
    /// A syncer beside the committer, while the committer writes the next batch; each batch
    /// is answered after the sync that covers it. SQLite: a thread of the gateway's, the
    /// batches written with `synchronous = NORMAL`. PostgreSQL: a task of the gateway's on a
    /// connection of its own, the batches committed with `synchronous_commit = off`.
    #[default]
    Overlapped,
    /// Each batch's commit (SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit =
    /// on`): the committer waits for the disk before it writes the next batch.
    InCommit,
}

/// A lock the syncer holds while it syncs: a test holding it keeps batches committed but not
/// yet durable.
#[doc(hidden)]
pub type Gate = Arc<tokio::sync::Mutex<()>>;

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
    /// `GroupCommitter::durable`: answered once every batch before it is durable.
    Barrier {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// A handle to the committer task. Cloning shares the task; when every handle is dropped the
/// task finishes the batch in hand and ends.
#[derive(Clone, Debug)]
pub struct GroupCommitter {
    jobs: mpsc::Sender<Job>,
    store: Store,
    /// Set when a sync of SQLite's log failed: the committer writes nothing more. (A failed
    /// flush on PostgreSQL fails its batches only: the server keeps its log, and the next
    /// flush is tried on a new connection.)
    broken: Arc<Mutex<Option<String>>>,
    /// Whether a batch can be seen by readers before it is durable (the log synced by the
    /// syncer): then `durable` waits for the syncer.
    overlapped: bool,
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
        GroupCommitter::start_with(store, max_batch, LogSync::default())
    }

    /// As `start`, with the log synced as `sync` says.
    pub fn start_with(store: Store, max_batch: usize, sync: LogSync) -> GroupCommitter {
        GroupCommitter::start_gated(store, max_batch, sync, None)
    }

    /// As `start_with`; the syncer holds `gate` while it syncs (tests hold it to keep batches
    /// committed but not yet durable). For the store's tests only.
    #[doc(hidden)]
    pub fn start_gated(
        store: Store,
        max_batch: usize,
        sync: LogSync,
        gate: Option<Gate>,
    ) -> GroupCommitter {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        let broken: Arc<Mutex<Option<String>>> = Arc::default();
        let overlapped = sync == LogSync::Overlapped;
        tokio::spawn(run(
            store.clone(),
            queue,
            max_batch,
            overlapped,
            broken.clone(),
            gate,
        ));
        GroupCommitter {
            jobs,
            store,
            broken,
            overlapped,
            waiting: Arc::default(),
        }
    }

    /// Why the committer accepts nothing more, if it does not: a sync of SQLite's log failed,
    /// and only a restart makes it write again. For the readiness check.
    pub fn stopped(&self) -> Option<String> {
        why_broken(&self.broken)
    }

    /// Commits `commit` together with whatever else is waiting, and answers once it is durable.
    pub async fn commit(&self, mut commit: CaseCommit) -> Result<CommitOutcome, StoreError> {
        // The JSON and the audit records' hashed texts are made here, by each caller, not in
        // the batch's turn at the writer.
        let _waiting = Waiting::new(&self.waiting);
        commit.prepare()?;
        let (reply, answer) = oneshot::channel();
        self.send(Job::Commit {
            commit: Box::new(commit),
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

    /// Answers once everything committed before the call is durable. A caller that answers
    /// from what it read (a message id seen before is answered with its stored receipt) calls
    /// it first: on SQLite a batch is visible to readers from its commit, a few milliseconds
    /// before the syncer has made it durable, and a power loss then would lose a message whose
    /// resending had been answered 2xx. Immediate where commits are durable when visible
    /// (`LogSync::InCommit`).
    pub async fn durable(&self) -> Result<(), StoreError> {
        if !self.overlapped {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Job::Barrier { reply }).await?;
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

/// Batches committed and waiting for the log's sync, at most: beyond them the committer waits
/// for the disk before it writes another.
const AWAITING_SYNC: usize = 4;

/// A caller waiting for a result of type `T`, and its result.
type Answer<T> = (
    oneshot::Sender<Result<T, StoreError>>,
    Result<T, StoreError>,
);

/// The answers of one batch, given once the batch is durable.
struct Answers {
    commits: Vec<Answer<CommitOutcome>>,
    work: Vec<Answer<Booked>>,
    audits: Vec<oneshot::Sender<Result<(), StoreError>>>,
    /// `GroupCommitter::durable` calls made before the batch's jobs were taken.
    barriers: Vec<oneshot::Sender<Result<(), StoreError>>>,
    /// Whether the batch wrote what must be durable before anyone hears of it (changes, audit
    /// records). Bookkeeping alone waits only for the batches before it, whose rows it may
    /// have claimed.
    durable: bool,
}

impl Answers {
    fn send(self) {
        for reply in self.audits {
            let _ = reply.send(Ok(()));
        }
        for (reply, result) in self.commits {
            let _ = reply.send(result);
        }
        for (reply, result) in self.work {
            let _ = reply.send(result);
        }
        for reply in self.barriers {
            let _ = reply.send(Ok(()));
        }
    }

    /// The batch was written but the disk did not confirm it: a change that would have been
    /// accepted is answered with the error (its sender sends it again, and is answered with the
    /// receipt should the change have been kept); one refused stays refused.
    fn fail(self, reason: &str) {
        for reply in self.audits {
            let _ = reply.send(Err(StoreError::NotConfirmed(reason.to_owned())));
        }
        for (reply, result) in self.commits {
            let _ = reply.send(result.and(Err(StoreError::NotConfirmed(reason.to_owned()))));
        }
        for (reply, _) in self.work {
            let _ = reply.send(Err(StoreError::NotConfirmed(reason.to_owned())));
        }
        for reply in self.barriers {
            let _ = reply.send(Err(StoreError::NotConfirmed(reason.to_owned())));
        }
    }
}

/// Why the committer writes nothing more: a sync of the log failed (see `sync_log`).
fn why_broken(broken: &Mutex<Option<String>>) -> Option<String> {
    broken.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The thread that syncs SQLite's log (see `wal_sync`): one sync for every batch that
/// committed while the last one ran, then their answers. After a failed sync it answers every
/// batch with the error, and `broken` stops the committer writing more.
fn sync_log(
    mut wal: WalFile,
    mut pending: mpsc::Receiver<Answers>,
    broken: Arc<Mutex<Option<String>>>,
    gate: Option<Gate>,
) {
    let mut batches = Vec::with_capacity(AWAITING_SYNC);
    while pending.blocking_recv_many(&mut batches, AWAITING_SYNC) > 0 {
        let _gate = gate.as_ref().map(|g| g.blocking_lock());
        let outcome = match why_broken(&broken) {
            Some(reason) => Err(reason),
            None if batches.iter().any(|b| b.durable) => wal.sync().map_err(|error| {
                let reason = format!(
                    "syncing the write-ahead log failed ({error}); the gateway accepts nothing more until it is restarted"
                );
                tracing::error!(error = %error, "sync of SQLite's write-ahead log failed; refusing further writes");
                *broken.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                reason
            }),
            None => Ok(()),
        };
        match outcome {
            Ok(()) => batches.drain(..).for_each(Answers::send),
            Err(reason) => batches.drain(..).for_each(|b| b.fail(&reason)),
        }
    }
}

/// The task that flushes PostgreSQL's log for the batches committed without waiting for it:
/// one flush for every batch that committed while the last one ran, then their answers (see
/// `Store::flush_log`). A flush that fails answers its batches with the error: they may or may
/// not be durable, so their senders send them again and are answered with the receipt should
/// they have been kept. The server keeps its log whatever became of the connection, so the
/// next flush is tried on a new one and the committer goes on.
async fn flush_log(store: Store, mut pending: mpsc::Receiver<Answers>, gate: Option<Gate>) {
    let mut batches = Vec::with_capacity(AWAITING_SYNC);
    let mut connection = None;
    while pending.recv_many(&mut batches, AWAITING_SYNC).await > 0 {
        let _gate = match &gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        // A barrier flushes too: the lanes hand it over as they take it, perhaps before the
        // answers of a batch that committed before it (its commit seen by the barrier's
        // caller), and a flush after the barrier covers every commit before it.
        let outcome = if batches.iter().any(|b| b.durable || !b.barriers.is_empty()) {
            store.flush_log(&mut connection).await
        } else {
            Ok(())
        };
        match outcome {
            Ok(()) => batches.drain(..).for_each(Answers::send),
            Err(error) => {
                tracing::error!(error = %error, "flushing PostgreSQL's log failed; the batches it would have made durable are answered with the error");
                let reason = format!("flushing the database's log failed ({error})");
                batches.drain(..).for_each(|b| b.fail(&reason));
            }
        }
    }
}

/// One batch's jobs, sorted by kind, each with its caller's reply.
#[derive(Default)]
struct Batch {
    commits: Vec<CaseCommit>,
    commit_replies: Vec<oneshot::Sender<Result<CommitOutcome, StoreError>>>,
    work: Vec<Bookkeeping>,
    work_replies: Vec<oneshot::Sender<Result<Booked, StoreError>>>,
    audits: Vec<AuditAppend>,
    audit_replies: Vec<oneshot::Sender<Result<(), StoreError>>>,
    barriers: Vec<oneshot::Sender<Result<(), StoreError>>>,
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
                Job::Commit { commit, reply } => {
                    batch.commits.push(*commit);
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
                Job::Barrier { reply } => batch.barriers.push(reply),
            }
        }
        batch
    }

    /// The batch's barriers, answered by the syncer: they write nothing and wait for the
    /// batches committed before them, not for this one's writes.
    fn take_barriers(&mut self) -> Answers {
        Answers {
            commits: Vec::new(),
            work: Vec::new(),
            audits: Vec::new(),
            barriers: std::mem::take(&mut self.barriers),
            durable: false,
        }
    }

    /// Whether the batch writes what must be durable before anyone hears of it (told from the
    /// replies: the changes may have been handed to the writer already).
    fn durable(&self) -> bool {
        !self.commit_replies.is_empty() || !self.audit_replies.is_empty()
    }

    /// The batch's answers once it is written: one result per change and per piece of
    /// bookkeeping.
    fn answers(
        self,
        results: Vec<Result<CommitOutcome, StoreError>>,
        booked: Vec<Result<Booked, StoreError>>,
    ) -> Answers {
        let durable = self.durable();
        Answers {
            commits: self.commit_replies.into_iter().zip(results).collect(),
            work: self.work_replies.into_iter().zip(booked).collect(),
            audits: self.audit_replies,
            barriers: Vec::new(),
            durable,
        }
    }

    /// Nothing of the batch was written (the connection lost, the disk full, an earlier sync
    /// failed): every caller hears why.
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

/// A lane's turn to read its batch ahead (PostgreSQL, see `run_lanes`): handed on by the lane
/// whose batch has just taken the head's lock, with what that batch will have written once it
/// knows whether it committed (`None`: it did not, or it does not know).
struct Baton {
    before: oneshot::Receiver<Option<Written>>,
}

/// The group committer on PostgreSQL: two lanes, each on a writer connection of its own, take
/// the batches in turn. A batch's reads (and its transaction's `BEGIN`) are made while the
/// batch before still writes and commits on the other lane; its statement then waits at the
/// head's lock, and the batch is written as soon as the one before has ended. The round trips
/// and the server's work of the reads leave the serial chain of batches, which is then each
/// batch's write and commit alone. What the batch before wrote is laid over reads made before
/// it committed; should anyone else have committed in between (another instance), the reads
/// are made again under the lock (`Store::finish_ahead`).
async fn run_lanes(
    store: Store,
    queue: mpsc::Receiver<Job>,
    max_batch: usize,
    syncer: Option<mpsc::Sender<Answers>>,
) {
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    let (to_first, first_batons) = mpsc::channel(1);
    let (to_second, second_batons) = mpsc::channel(1);
    let (nothing_before, before) = oneshot::channel();
    let _ = nothing_before.send(None);
    let _ = to_first.send(Baton { before }).await;
    tokio::join!(
        lane(
            store.clone(),
            queue.clone(),
            max_batch,
            syncer.clone(),
            first_batons,
            to_second,
        ),
        lane(store, queue, max_batch, syncer, second_batons, to_first),
    );
}

/// One lane of `run_lanes`: for each baton it gets, a batch read ahead, written and committed
/// on the lane's connection.
async fn lane(
    store: Store,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
    syncer: Option<mpsc::Sender<Answers>>,
    mut batons: mpsc::Receiver<Baton>,
    next: mpsc::Sender<Baton>,
) {
    let relaxed = syncer.is_some();
    let mut jobs = Vec::with_capacity(max_batch);
    let mut held: Option<sqlx::pool::PoolConnection<sqlx::Any>> = None;
    while let Some(baton) = batons.recv().await {
        // Only the lane holding the baton takes jobs: the batches keep the order of the queue.
        if queue.lock().await.recv_many(&mut jobs, max_batch).await == 0 {
            // Every handle is gone: this lane ends, and the other with it (its batons' sender).
            return;
        }
        let mut batch = Batch::of(&mut jobs);
        if !batch.barriers.is_empty() {
            hand_over(&syncer, batch.take_barriers()).await;
        }
        // `GroupCommitter::claim_outbox` and `settle_outbox_batch` send none on PostgreSQL,
        // where the bookkeeping has connections of its own.
        let booked = batch
            .work
            .iter()
            .map(|_| {
                Err(StoreError::BatchFailed(
                    "delivery bookkeeping goes to its own connections on PostgreSQL, not to the group commit"
                        .to_owned(),
                ))
            })
            .collect();
        if !batch.durable() {
            let _ = next.send(baton).await;
            hand_over(&syncer, batch.answers(Vec::new(), booked)).await;
            continue;
        }
        let mut conn = match held.take() {
            Some(conn) => conn,
            None => match store.writer_connection().await {
                Ok(conn) => conn,
                Err(error) => {
                    let _ = next.send(baton).await;
                    batch.fail(error);
                    continue;
                }
            },
        };
        let results = write_in_lane(
            &store,
            &mut conn,
            &batch.commits,
            &batch.audits,
            relaxed,
            baton,
            &next,
        )
        .await;
        match results {
            Ok(results) => {
                // Kept while batches follow one another, let go when none waits: the pool's
                // other writers (a redelivery, another committer on the same database) get it.
                // The queue is locked while the other lane waits in it for jobs: none wait.
                let waiting = queue.try_lock().is_ok_and(|queue| !queue.is_empty());
                if waiting {
                    held = Some(conn);
                }
                hand_over(&syncer, batch.answers(results, booked)).await;
            }
            Err(error) => {
                // Closed, so that a transaction it may have left open (holding the head's
                // lock) ends now, not at the connection's next use.
                let _ = conn.close().await;
                batch.fail(error);
            }
        }
    }
}

/// Writes a lane's batch on `conn` in bulk (`write_ahead`), or, should that fail, change by
/// change, so that a change at fault (one the checks did not foresee, one whose reads the
/// server refuses) is the only one refused. On a broken connection that fails too, and the
/// whole batch hears why. The changes' results.
async fn write_in_lane(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    commits: &[CaseCommit],
    audits: &[AuditAppend],
    relaxed: bool,
    baton: Baton,
    next: &mpsc::Sender<Baton>,
) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
    let error = match write_ahead(store, conn, commits, audits, relaxed, baton, next).await {
        Ok(results) => return Ok(results),
        Err(error) => error,
    };
    tracing::warn!(error = %error, batch = commits.len(), "bulk commit failed; committing the batch change by change");
    store.commit_each_on(conn, commits, audits).await
}

/// Reads a lane's batch ahead on `conn` (`Store::read_ahead`), hands a baton to the lane after
/// once the batch holds the head's lock, and writes and commits the batch once the batch
/// before has ended (`Store::finish_ahead`): the changes' results. Should it fail, nothing of
/// the batch was written (or whether its commit was is not known), and the lane after has been
/// told so: it reads again under the lock.
async fn write_ahead(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    commits: &[CaseCommit],
    audits: &[AuditAppend],
    relaxed: bool,
    baton: Baton,
    next: &mpsc::Sender<Baton>,
) -> Result<Vec<Result<CommitOutcome, StoreError>>, StoreError> {
    let (tx, ahead) = match store.read_ahead(conn, commits, relaxed).await {
        Ok(read) => read,
        Err(error) => {
            // The batch after reads as this one would have, after the same batch before (and
            // should this batch commit change by change first, tells so from the turns).
            let _ = next.send(baton).await;
            return Err(error);
        }
    };
    // This batch holds the head's lock: the next one may read ahead.
    let (tell_after, after) = oneshot::channel();
    let _ = next.send(Baton { before: after }).await;
    let before = baton.before.await.ok().flatten();
    match store.finish_ahead(tx, commits, audits, ahead, before).await {
        Ok((results, written)) => {
            let _ = tell_after.send(Some(written));
            Ok(results)
        }
        Err(error) => {
            let _ = tell_after.send(None);
            Err(error)
        }
    }
}

async fn run(
    store: Store,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    overlapped: bool,
    broken: Arc<Mutex<Option<String>>>,
    gate: Option<Gate>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    // The writer connection, kept while batches follow one another: one going back to the pool
    // first waits for a task's turn and a round trip to it, and the next batch would wait too.
    let mut held = None;
    let mut turns = 0;
    // Unless told otherwise, the log's syncs are the syncer's: SQLite's thread, PostgreSQL's
    // task.
    let syncer = match store.sqlite_file() {
        _ if !overlapped => None,
        None => {
            let (to_sync, pending) = mpsc::channel(AWAITING_SYNC);
            tokio::spawn(flush_log(store.clone(), pending, gate));
            Some(to_sync)
        }
        Some(file) => {
            let (to_sync, pending) = mpsc::channel(AWAITING_SYNC);
            let wal = WalFile::new(file);
            let broken = broken.clone();
            match std::thread::Builder::new()
                .name("brygga-wal-sync".to_owned())
                .spawn(move || sync_log(wal, pending, broken, gate))
            {
                Ok(_) => Some(to_sync),
                Err(error) => {
                    tracing::warn!(error = %error, "no thread for the write-ahead log's syncs; each commit syncs it itself");
                    None
                }
            }
        }
    };
    if store.backend() == Backend::Postgres {
        return run_lanes(store, queue, max_batch, syncer).await;
    }
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let mut batch = Batch::of(&mut jobs);
        // Barriers write nothing and wait for the batches before them, not for this one's
        // writes: they follow it to the syncer whatever becomes of it.
        let barriers = batch.take_barriers();
        if batch.commits.is_empty() && batch.work.is_empty() && batch.audits.is_empty() {
            hand_over(&syncer, barriers).await;
            continue;
        }
        let outcome = match why_broken(&broken) {
            Some(reason) => Err(StoreError::BatchFailed(reason)),
            None => {
                let connection = match held.take() {
                    Some(connection) => Ok(connection),
                    None => match store.writer_connection().await {
                        Ok(mut connection) if syncer.is_some() => store
                            .relax_writer(&mut connection)
                            .await
                            .map(|()| connection),
                        other => other,
                    },
                };
                match connection {
                    Ok(mut connection) => {
                        let outcome = store
                            .commit_batch_on(
                                &mut connection,
                                std::mem::take(&mut batch.commits),
                                &batch.work,
                                &batch.audits,
                                syncer.is_some(),
                            )
                            .await;
                        turns += 1;
                        if outcome.is_ok() && !queue.is_empty() && turns < HOLD_FOR {
                            held = Some(connection);
                        } else {
                            // After an error the connection goes back to the pool, whose release
                            // hook makes it durable again should it have been left relaxed.
                            turns = 0;
                        }
                        outcome
                    }
                    Err(error) => Err(error),
                }
            }
        };
        match outcome {
            Ok((results, booked)) => hand_over(&syncer, batch.answers(results, booked)).await,
            // The transaction itself failed (connection lost, disk full), or an earlier sync
            // did: nothing of the batch was written, and every caller hears so.
            Err(error) => batch.fail(error),
        }
        if !barriers.barriers.is_empty() {
            hand_over(&syncer, barriers).await;
        }
    }
}

/// Gives a batch's answers to the syncer, which answers them after the sync that covers them,
/// or, without one (each commit synced), answers them now.
async fn hand_over(syncer: &Option<mpsc::Sender<Answers>>, answers: Answers) {
    match syncer {
        Some(to_sync) => {
            if let Err(unsent) = to_sync.send(answers).await {
                unsent.0.fail("the write-ahead log's syncer has stopped");
            }
        }
        None => answers.send(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where commits are durable once visible, a barrier is answered at once, without a turn at
    /// the committer.
    #[tokio::test]
    async fn a_barrier_is_immediate_when_each_commit_syncs() {
        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}", dir.path().join("in-commit.db").display());
        let store = Store::connect(&url, 4).await.expect("a store");
        store.migrate().await.expect("migrations");
        let committer = GroupCommitter::start_with(store, 8, LogSync::InCommit);
        assert!(!committer.overlapped);
        committer.durable().await.expect("the barrier");
    }
}
