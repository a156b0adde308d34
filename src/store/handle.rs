//! The store's handle: its backend and connection pools. Defined here, below everything
//! that uses it; opened by `connect`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::AnyPool;

use super::sql::Backend;

/// The store. Cloning is cheap (the pools are shared).
///
/// Its connections, by what they do:
///
/// | pool | SQLite | PostgreSQL |
/// |---|---|---|
/// | `writer` | the one writer (transactions never meet `SQLITE_BUSY` on upgrade) | `POSTGRES_WRITERS`: the group committer's and the occasional write of its own |
/// | `reader` | `max_connections` read-only | half of `max_connections` |
/// | `receiver` | the readers | the other half, for receiving's read (`Store::prior`), not pinged before use |
/// | `bookkeeper` | the writer | `POSTGRES_BOOKKEEPERS`, commits not waiting for the disk |
/// | `claimer` | the writer | `POSTGRES_CLAIMERS`, one plan for any backlog (`CLAIM_SESSION`) |
///
/// SQLite's write-ahead log is checkpointed by a connection of its own besides.
#[derive(Clone, Debug)]
pub struct Store {
    pub(super) backend: Backend,
    pub(super) writer: AnyPool,
    pub(super) reader: AnyPool,
    pub(super) receiver: AnyPool,
    /// The delivery bookkeeping's connections (`begin_bookkeeping`): on PostgreSQL a pool of
    /// its own whose sessions commit without waiting for the disk, so that a settlement is one
    /// statement and one round trip, and no writer connection is ever left relaxed; on SQLite
    /// the writer. (PostgreSQL's claims wait for the disk: see `Store::claim_outbox`.)
    pub(super) bookkeeper: AnyPool,
    /// The delivery workers' claims (`Store::claim_outbox`): on PostgreSQL a pool of its own
    /// whose sessions wait for the disk (`synchronous_commit = on`) and plan the claim once,
    /// never with a sort or a hash (`CLAIM_SESSION`); on SQLite the writer.
    pub(super) claimer: AnyPool,
    /// Set while SQLite's writer runs a bookkeeping transaction without waiting for the disk
    /// (`begin_bookkeeping`); the writer is made durable again before it returns to the pool.
    pub(super) relaxed: Arc<AtomicBool>,
}
