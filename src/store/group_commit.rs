//! Group commit: concurrent callers' commits share one database transaction, so one fsync
//! makes many messages durable. Each commit still succeeds or fails on its own (savepoints in
//! `Store::commit_batch`), and each caller is answered only after the transaction is on disk.

use tokio::sync::{mpsc, oneshot};

use super::connect::Store;
use super::error::StoreError;
use super::records::{CaseCommit, CommitOutcome};

struct Job {
    commit: CaseCommit,
    reply: oneshot::Sender<Result<CommitOutcome, StoreError>>,
}

/// A handle to the committer task. Cloning shares the task; when every handle is dropped the
/// task finishes the batch in hand and ends.
#[derive(Clone, Debug)]
pub struct GroupCommitter {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommitter {
    /// Starts the committer task on the current Tokio runtime. A batch holds at most
    /// `max_batch` commits; while one batch is being written the next one gathers.
    pub fn start(store: Store, max_batch: usize) -> GroupCommitter {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        tokio::spawn(run(store, queue, max_batch));
        GroupCommitter { jobs }
    }

    /// Commits `commit` together with whatever else is waiting, and answers once it is durable.
    pub async fn commit(&self, commit: CaseCommit) -> Result<CommitOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { commit, reply })
            .await
            .map_err(|_| StoreError::CommitterStopped)?;
        answer.await.map_err(|_| StoreError::CommitterStopped)?
    }
}

async fn run(store: Store, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let (commits, replies): (Vec<CaseCommit>, Vec<_>) =
            jobs.drain(..).map(|job| (job.commit, job.reply)).unzip();
        let size = commits.len();
        match store.commit_batch(commits).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                // The transaction itself failed (connection lost, disk full): nothing of the
                // batch was written, and every caller hears so.
                tracing::error!(error = %error, batch = size, "group commit failed");
                let reason = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::BatchFailed(reason.clone())));
                }
            }
        }
    }
}
