//! Opening the store: backend choice, connection pools, SQLite pragmas, migrations, readiness.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use super::error::StoreError;
use super::handle::Store;
use super::sql::Backend;

// Migrations a newer build applied are left alone (`ignore_missing`): during a rolling upgrade
// the previous build keeps running on the new schema, as far as `schema_floor` allows.
static SQLITE_MIGRATIONS: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/sqlite")
};
static POSTGRES_MIGRATIONS: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/postgres")
};

/// The migrations of `backend`'s schema.
fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// How much room the database takes (`Store::footprint`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Footprint {
    pub bytes: u64,
    /// Of `bytes`, pages free for reuse (SQLite).
    pub free_bytes: u64,
    /// Rows per table (`Store::table_counts`).
    pub rows: Vec<(&'static str, u64)>,
    /// The message bodies waiting or kept in the outbox.
    pub message_bytes: u64,
}

impl Footprint {
    pub fn rows_of(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// Whether the store can serve: reachable, every migration this build knows applied, and a
/// schema this build may run on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    pub backend: &'static str,
    /// Of the migrations this build knows, those applied.
    pub applied_migrations: u64,
    pub known_migrations: u64,
    /// The newest migration this build knows.
    pub known_latest: i64,
    /// Migrations applied by a newer build that this one does not know.
    pub newer_migrations: Vec<i64>,
    /// The oldest migration a build must know to run on this schema (`schema_floor`): raised
    /// by a migration that removes what older builds use.
    pub schema_needs: Option<i64>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.problem().is_none()
    }

    /// The message when the schema needs a newer build than this one (`schema_floor`).
    pub fn too_old(&self) -> Option<String> {
        let needs = self.schema_needs.filter(|n| *n > self.known_latest)?;
        Some(format!(
            "the database's schema needs a brygga that knows migration {needs}; this build knows up to {}: run a newer build (deploy/README.md, Upgrades)",
            self.known_latest
        ))
    }

    /// Why the store cannot serve this build, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if let Some(too_old) = self.too_old() {
            return Some(too_old);
        }
        (self.applied_migrations < self.known_migrations).then(|| {
            format!(
                "{} of {} migrations applied; run `brygga migrate`",
                self.applied_migrations, self.known_migrations
            )
        })
    }
}

/// The writer's settings. `temp_store = MEMORY` keeps the statement and savepoint journals
/// (the pages a multi-row statement or a savepoint may have to put back) in memory: in a file
/// they were a third of the writer's writes.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 20000; \
     PRAGMA temp_store = MEMORY;";

/// PostgreSQL connections for writing, beside `max_connections` for reading: the group
/// committer's, and the occasional write of its own (a redelivery, a token's assertion, a
/// FHIR consent) beside it.
const POSTGRES_WRITERS: u32 = 4;

/// PostgreSQL connections for the delivery bookkeeping (`Store::begin_bookkeeping`): the
/// settlements and the pruning of finished rows.
const POSTGRES_BOOKKEEPERS: u32 = 2;

/// PostgreSQL connections for the delivery workers' claims (`Store::claimer`).
const POSTGRES_CLAIMERS: u32 = 2;

/// The settings of PostgreSQL's claim sessions. A claim's commit waits for the disk: see
/// `Store::claim_outbox`. Its one statement is planned once per session
/// (`force_generic_plan`), for any backlog: without a sort, a hash or a merge the only plan
/// left walks `outbox_due` in the claim's order, asks `outbox_pending_by_destination` once per
/// row whether the case has an earlier pending delivery, and stops at the limit, reading about
/// as many rows as it takes. Planned afresh on the statistics of the moment it once fetched and
/// sorted every pending row (a fresh table under a burst has none, and a table that had few
/// pending rows when last analysed has wrong ones): 90 ms per claim over 18,000.
pub const CLAIM_SESSION: &str = "SET synchronous_commit = on; SET enable_sort = off; \
     SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_bitmapscan = off; \
     SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan;";

/// How often SQLite's write-ahead log is copied back into the database, beside the writer.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`). For SQLite the file and its
    /// directory are created when missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let acquire = Duration::from_secs(10);
        if url.starts_with("sqlite:") {
            let url = sqlite_url(url)?;
            let options =
                AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Url(e.to_string()))?;
            let relaxed = Arc::new(AtomicBool::new(false));
            let restore = relaxed.clone();
            let writer = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                // The connection is a thread of this process, not a socket that can break: a
                // ping before each batch would only cost the batch a round trip to it.
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                        Ok(())
                    })
                })
                // However a bookkeeping transaction ended (committed, failed, or its task
                // cancelled), the connection goes back durable, or is closed.
                .after_release(move |conn, _| {
                    let restore = restore.clone();
                    Box::pin(async move {
                        if restore.swap(false, Ordering::SeqCst) {
                            conn.execute("PRAGMA synchronous = FULL").await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options.clone())
                .await?;
            let reader = AnyPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(acquire)
                // As the writer's: a reader is a thread of this process (each message's
                // lookups would otherwise wait for a ping first).
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(sqlx::raw_sql(
                            "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;",
                        ))
                        .await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone());
            // Checkpoints run on a connection of their own, so the writer's commits never wait
            // for them (the writer checkpoints itself only as a backstop, at 20,000 pages).
            let checkpointer = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone());
            tokio::spawn(checkpoint(checkpointer, writer.clone()));
            Ok(Store {
                backend: Backend::Sqlite,
                bookkeeper: writer.clone(),
                claimer: writer.clone(),
                receiver: reader.clone(),
                writer,
                reader,
                relaxed,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options =
                AnyConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
            let pool = |size: u32, durability: &'static str| {
                AnyPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(acquire)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(sqlx::raw_sql(durability)).await?;
                            Ok(())
                        })
                    })
            };
            let durable = "SET synchronous_commit = on";
            // Writes have connections of their own: the group commit never queues behind
            // the requests' reads for a connection.
            let writer = pool(POSTGRES_WRITERS, durable)
                .connect_with(options.clone())
                .await?;
            let bookkeeper = pool(POSTGRES_BOOKKEEPERS, "SET synchronous_commit = off")
                .connect_lazy_with(options.clone());
            let claimer = pool(POSTGRES_CLAIMERS, CLAIM_SESSION).connect_lazy_with(options.clone());
            // Half the readers for receiving's read (`Store::prior`), not pinged before each use:
            // the ping is a round trip as long as the read. Measured side by side with 256
            // clients on PostgreSQL: about 3,000 messages/s with the ping, 3,900 without.
            let receiving = (max_connections / 2).max(1);
            let reader = pool(max_connections.saturating_sub(receiving).max(1), durable)
                .connect_lazy_with(options.clone());
            let receiver = pool(receiving, durable)
                .test_before_acquire(false)
                .connect_lazy_with(options);
            Ok(Store {
                backend: Backend::Postgres,
                writer,
                reader,
                receiver,
                bookkeeper,
                claimer,
                relaxed: Arc::default(),
            })
        } else {
            Err(StoreError::Url(
                "expected sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".to_owned(),
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The writer connection, for a caller that writes several transactions on it in a row
    /// (the group committer: see `Store::commit_batch_on`). Held, it is no other writer's.
    pub async fn writer_connection(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.writer.acquire().await?)
    }

    /// A write transaction whose commit does not wait for the disk: for the delivery
    /// bookkeeping (claims, leases, settlements), where losing the last moments in a crash only
    /// means a delivery is made again under its idempotency key. Everything committed durably
    /// before it stays durable, and the next durable commit makes it durable too (SQLite WAL
    /// with `synchronous = NORMAL`, made durable again when the writer goes back to its pool;
    /// PostgreSQL with `synchronous_commit = off`, on a session of the bookkeeping pool, whose
    /// connections are never used for anything durable).
    pub(super) async fn begin_bookkeeping(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                self.begin_relaxed(self.writer.acquire().await?.into())
                    .await
            }
            Backend::Postgres => Ok(self.bookkeeper.begin().await?),
        }
    }

    /// A relaxed transaction on a writer connection, `conn` (`bookkeeping_on`; on SQLite also
    /// `begin_bookkeeping`). On SQLite the relaxed mark is set first: the pool's release hook
    /// makes the connection durable again however the transaction ends. On PostgreSQL the
    /// relaxation is the transaction's own (`SET LOCAL`).
    async fn begin_relaxed<'c>(
        &self,
        mut conn: sqlx::pool::MaybePoolConnection<'c, sqlx::Any>,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                if !self.relaxed.swap(true, Ordering::SeqCst) {
                    (&mut *conn).execute("PRAGMA synchronous = NORMAL").await?;
                }
                Ok(sqlx::Transaction::begin(conn, None).await?)
            }
            Backend::Postgres => {
                // Two round trips, not one `BEGIN; SET LOCAL …` query: a claim whose task is
                // cancelled while its `BEGIN` is on the way would leave the connection in a
                // transaction that sqlx does not know of (it rolls back only a `BEGIN` it saw
                // answered), relaxed, and back in the pool.
                let mut tx = sqlx::Transaction::begin(conn, None).await?;
                tx.execute("SET LOCAL synchronous_commit = off").await?;
                Ok(tx)
            }
        }
    }

    /// Delivery bookkeeping on a held writer connection, not waiting for the disk (see
    /// `begin_bookkeeping`). On SQLite the connection is made durable again before this
    /// returns; should that fail, the relaxed mark stays set, and the pool's release hook
    /// restores it when the caller lets the connection go (which it must, on any error).
    pub(super) async fn bookkeeping_on(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        work: &[super::commit::Bookkeeping],
    ) -> Result<Vec<Result<super::commit::Booked, StoreError>>, StoreError> {
        let mut tx = self.begin_relaxed((&mut **conn).into()).await?;
        let booked = super::commit::book(&mut tx, self.backend, work).await?;
        tx.commit().await?;
        if self.backend == Backend::Sqlite {
            conn.execute("PRAGMA synchronous = FULL").await?;
            self.relaxed.store(false, Ordering::SeqCst);
        }
        Ok(booked)
    }

    /// The writer's durability setting as the database reports it: SQLite's `synchronous`
    /// (2 is FULL) or PostgreSQL's `synchronous_commit`. For operators and tests.
    pub async fn writer_durability(&self) -> Result<String, StoreError> {
        let mut conn = self.writer.acquire().await?;
        Ok(match self.backend {
            Backend::Sqlite => {
                let level: i64 = sqlx::query("PRAGMA synchronous")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                match level {
                    0 => "synchronous=OFF",
                    1 => "synchronous=NORMAL",
                    2 => "synchronous=FULL",
                    _ => "synchronous=EXTRA",
                }
                .to_owned()
            }
            Backend::Postgres => {
                let value: String = sqlx::query("SHOW synchronous_commit")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                format!("synchronous_commit={value}")
            }
        })
    }

    /// How much room the database takes: its size in bytes (SQLite: the pages in use and free
    /// ones, without the WAL; PostgreSQL: the database) and the rows of the tables that grow
    /// with traffic.
    pub async fn footprint(&self) -> Result<Footprint, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let (bytes, free_bytes) = match self.backend {
            Backend::Sqlite => {
                let pragma = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
                let size = pragma("PRAGMA page_size").fetch_one(&mut *conn).await?;
                let pages = pragma("PRAGMA page_count").fetch_one(&mut *conn).await?;
                let free = pragma("PRAGMA freelist_count")
                    .fetch_one(&mut *conn)
                    .await?;
                ((pages * size) as u64, (free * size) as u64)
            }
            Backend::Postgres => {
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut *conn)
                    .await?;
                (size as u64, 0)
            }
        };
        drop(conn);
        let rows = self.table_counts().await?;
        let mut conn = self.reader.acquire().await?;
        let message_bytes: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(LENGTH(payload)) AS BIGINT) FROM outbox_payloads")
                .fetch_one(&mut *conn)
                .await?;
        Ok(Footprint {
            bytes,
            free_bytes,
            rows,
            message_bytes: message_bytes.unwrap_or(0) as u64,
        })
    }

    /// Applies pending migrations; safe to run from several instances at once (PostgreSQL
    /// takes an advisory lock, SQLite has one writer).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator(self.backend).run(&self.writer).await?;
        let filled = self.fill_patient_ids().await?;
        if filled > 0 {
            tracing::info!(cases = filled, "cases given their person's FHIR Patient id");
        }
        Ok(())
    }

    /// Checks that the database answers, every migration is applied and this build may run on
    /// the schema.
    pub async fn readiness(&self) -> Result<Readiness, StoreError> {
        let known: Vec<i64> = migrator(self.backend).iter().map(|m| m.version).collect();
        let applied = self.applied_versions().await?;
        let schema_needs = if self.has_table("schema_floor").await? {
            let needs: i64 = sqlx::query("SELECT needs FROM schema_floor WHERE id = 1")
                .fetch_one(&self.reader)
                .await?
                .try_get(0)?;
            Some(needs)
        } else {
            None
        };
        Ok(Readiness {
            backend: self.backend.as_str(),
            applied_migrations: known.iter().filter(|v| applied.contains(v)).count() as u64,
            known_migrations: known.len() as u64,
            known_latest: known.iter().copied().max().unwrap_or(0),
            newer_migrations: applied
                .iter()
                .copied()
                .filter(|v| !known.contains(v))
                .collect(),
            schema_needs,
        })
    }

    /// Whether the database has the table `name`.
    async fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Backend::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE tablename = $1",
        };
        let n: i64 = sqlx::query(sql)
            .bind(name)
            .fetch_one(&self.reader)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }

    /// The versions of the migrations applied, in order (none without the migrations table).
    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        if !self.has_table("_sqlx_migrations").await? {
            return Ok(Vec::new());
        }
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version")
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|row| Ok(row.try_get::<i64, _>(0)?))
            .collect()
    }

    /// The migrations `migrate` would apply, in order: `(version, description)`. A database
    /// without the migrations table has all of them pending.
    pub async fn pending_migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let applied = self.applied_versions().await?;
        Ok(migrator(self.backend)
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect())
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        self.receiver.close().await;
        self.bookkeeper.close().await;
        self.claimer.close().await;
    }
}

/// Copies SQLite's write-ahead log into the database every `CHECKPOINT_EVERY` (passive: it
/// never blocks the writer or the readers) until the store is closed.
async fn checkpoint(pool: AnyPool, writer: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if writer.is_closed() {
            break;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %error, "checkpoint of the write-ahead log failed");
        }
    }
    pool.close().await;
}

/// Normalises a SQLite URL: creates the file's directory and asks for the file to be created.
fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.contains(":memory:") {
        return Err(StoreError::Url(
            "SQLite needs a file path (sqlite://data/brygga.db); an in-memory database would lose every message"
                .to_owned(),
        ));
    }
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::DataDirectory {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let query = if query.split('&').any(|p| p.starts_with("mode=")) {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    // `sqlite:PATH` rather than `sqlite://PATH`: URL parsing would treat the first path segment
    // as a host name and lower-case it.
    Ok(format!("sqlite:{path}?{query}"))
}
