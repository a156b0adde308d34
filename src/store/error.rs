//! Store errors.

use crate::domain::case::{CaseId, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the case first; reload and try again.
    #[error("case {case_id} is at version {actual}, not {expected} as the commit expected")]
    VersionConflict {
        case_id: CaseId,
        expected: u64,
        actual: u64,
    },
    /// Stored events no longer replay; the database was changed outside brygga.
    #[error("case {case_id} does not replay: {source}")]
    Corrupt {
        case_id: CaseId,
        source: TransitionError,
    },
    /// A stored value could not be decoded.
    #[error("stored {what} could not be decoded: {detail}")]
    Decode { what: &'static str, detail: String },
    #[error("the database URL is not usable: {0}")]
    Url(String),
    #[error("the data directory {path} could not be created: {source}")]
    DataDirectory {
        path: String,
        source: std::io::Error,
    },
    /// The group-commit transaction failed as a whole; nothing of it was written.
    #[error("the commit's transaction failed and nothing was written: {0}")]
    BatchFailed(String),
    #[error(transparent)]
    Payload(#[from] crate::changes::PayloadError),
    /// The group committer has stopped (the gateway is shutting down).
    #[error("the store is shutting down")]
    CommitterStopped,
    /// The change would store something that is stored already under the same key (an event
    /// id, most often: a sender reused a message id for another message).
    #[error("already stored: {0}")]
    AlreadyStored(String),
    /// What this backend does not do (the reason names what to use instead).
    #[error("{0}")]
    Unsupported(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// A unique-key violation as `AlreadyStored`, anything else as it is.
    pub(crate) fn classify(self) -> Self {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                StoreError::AlreadyStored(e.message().to_owned())
            }
            other => other,
        }
    }

    pub(crate) fn decode(what: &'static str, detail: impl ToString) -> Self {
        StoreError::Decode {
            what,
            detail: detail.to_string(),
        }
    }
}
