//! Opening the store: backend choice, connection pools, SQLite pragmas, migrations, readiness.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use super::error::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Whether the store can serve: reachable, and every migration applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    pub backend: &'static str,
    pub applied_migrations: u64,
    pub known_migrations: u64,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.applied_migrations >= self.known_migrations
    }
}

/// The store. Cloning is cheap (the pools are shared).
///
/// SQLite has one writer connection (so transactions never meet `SQLITE_BUSY` on upgrade) and
/// several read-only readers; PostgreSQL uses one pool for both.
#[derive(Clone, Debug)]
pub struct Store {
    pub(super) backend: Backend,
    pub(super) writer: AnyPool,
    pub(super) reader: AnyPool,
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

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
            let writer = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                        Ok(())
                    })
                })
                .connect_with(options.clone())
                .await?;
            let reader = AnyPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(acquire)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(sqlx::raw_sql(
                            "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;",
                        ))
                        .await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options);
            Ok(Store {
                backend: Backend::Sqlite,
                writer,
                reader,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options =
                AnyConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(acquire)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("SET synchronous_commit = on").await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?;
            Ok(Store {
                backend: Backend::Postgres,
                writer: pool.clone(),
                reader: pool,
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

    /// Applies pending migrations; safe to run from several instances at once (PostgreSQL
    /// takes an advisory lock, SQLite has one writer).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.backend.migrator().run(&self.writer).await?;
        Ok(())
    }

    /// Checks that the database answers and every migration is applied.
    pub async fn readiness(&self) -> Result<Readiness, StoreError> {
        let known = self.backend.migrator().iter().count() as u64;
        let table_exists: i64 = match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(&self.reader)
                .await?
                .try_get(0)?
            }
            Backend::Postgres => {
                sqlx::query("SELECT COUNT(*) FROM pg_tables WHERE tablename = '_sqlx_migrations'")
                    .fetch_one(&self.reader)
                    .await?
                    .try_get(0)?
            }
        };
        let applied: i64 = if table_exists == 0 {
            0
        } else {
            sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.reader)
                .await?
                .try_get(0)?
        };
        Ok(Readiness {
            backend: self.backend.as_str(),
            applied_migrations: applied as u64,
            known_migrations: known,
        })
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
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
