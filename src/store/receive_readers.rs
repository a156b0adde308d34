//! Reader connections kept outside sqlx's pool for the one read every received message makes
//! (`Store::prior`): the pool sends a connection a ping each time it comes back, a round
//! trip to the connection (SQLite's thread, PostgreSQL's server) as long as the read itself.
//!
//! A connection comes back only from a read that succeeded; one whose read failed, or was
//! dropped half-way (its request cancelled), is closed, as it may be broken or left in the
//! middle of a statement. The connections are taken from the reader pool (and
//! so opened with its settings) and detached from it.

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::StoreError;

/// The settings of PostgreSQL's receiving sessions, which make nothing but the reads of
/// `Store::prior`: each a lookup by index, whatever the statistics say. Made together for
/// several messages (`prior_reads`), a plan made on a table whose statistics were taken when
/// one case had all its events would read the whole table for each message.
const RECEIVING_SESSION: &str =
    "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off;";

/// Up to `size` reader connections, each lent to one read at a time.
#[derive(Debug)]
pub(super) struct ReceiveReaders {
    idle: std::sync::Mutex<Vec<AnyConnection>>,
    permits: Semaphore,
}

impl ReceiveReaders {
    pub(super) fn new(size: u32) -> Self {
        ReceiveReaders {
            idle: std::sync::Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1) as usize),
        }
    }

    /// A connection for one read: an idle one, or a new one from `pool`. Waits while all of
    /// them are lent; fails once `close` was called.
    pub(super) async fn acquire(&self, pool: &AnyPool) -> Result<Lent<'_>, StoreError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        let idle = self.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let mut conn = pool.acquire().await?.detach();
                if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
                    sqlx::Executor::execute(&mut conn, sqlx::raw_sql(RECEIVING_SESSION)).await?;
                }
                conn
            }
        };
        Ok(Lent {
            conn: Some(conn),
            home: self,
            _permit: permit,
        })
    }

    /// As `acquire`, with a new connection from `pool`, the idle ones closed: after a read
    /// failed on a connection that broke (a server restarted drops every connection at once).
    pub(super) async fn acquire_fresh(&self, pool: &AnyPool) -> Result<Lent<'_>, StoreError> {
        self.lock().clear();
        self.acquire(pool).await
    }

    /// Closes the idle connections, and makes every later `acquire` fail; a connection lent
    /// now is closed when it comes back.
    pub(super) async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.lock());
        for conn in idle {
            let _ = sqlx::Connection::close(conn).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AnyConnection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether `error` says the connection itself failed (not the statement): the read is then
/// worth trying once more on a new connection. Besides a broken socket, PostgreSQL's
/// "connection exception" (`08…`) and "operator intervention" (`57P…`: its server shutting
/// down, restarting or ending the session) errors.
pub(super) fn broke(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// A connection lent for one read. `done` gives it back; dropped without it, it is closed.
pub(super) struct Lent<'a> {
    conn: Option<AnyConnection>,
    home: &'a ReceiveReaders,
    _permit: SemaphorePermit<'a>,
}

impl Lent<'_> {
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        // Present until `done` or the drop, which both take `self`.
        self.conn.as_mut().expect("a lent connection")
    }

    /// Gives the connection back after a read that succeeded (its result read in full).
    pub(super) fn done(mut self) {
        if let Some(conn) = self.conn.take()
            && !self.home.permits.is_closed()
        {
            self.home.lock().push(conn);
        }
    }
}

impl std::fmt::Debug for Lent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn cache_size(conn: &mut AnyConnection) -> i64 {
        sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(conn)
            .await
            .expect("cache_size")
    }

    /// A connection given back serves the next read (its own settings still set); one dropped
    /// without `done` is closed, and the next read gets a new one; no more than `size` are
    /// lent at once; after `close` none is.
    #[tokio::test]
    async fn connections_come_back_only_from_reads_that_ended() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect_lazy("sqlite::memory:")
            .expect("a pool");
        let readers = ReceiveReaders::new(1);
        let mut lent = readers.acquire(&pool).await.expect("a connection");
        sqlx::query("PRAGMA cache_size = -1234")
            .execute(lent.conn())
            .await
            .expect("mark the connection");
        // Polled once, a second acquire waits: one at a time.
        tokio::select! {
            biased;
            _ = readers.acquire(&pool) => panic!("a second connection lent at once"),
            () = std::future::ready(()) => {}
        }
        lent.done();
        let mut again = readers.acquire(&pool).await.expect("the same connection");
        assert_eq!(cache_size(again.conn()).await, -1234, "the same connection");
        drop(again);
        let mut fresh = readers.acquire(&pool).await.expect("a new connection");
        assert_ne!(cache_size(fresh.conn()).await, -1234, "a new connection");
        fresh.done();
        readers.close().await;
        assert!(readers.acquire(&pool).await.is_err(), "closed");
    }
}
