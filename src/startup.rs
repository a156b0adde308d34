//! Building and running the gateway from its settings.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{self, AppState, HttpMetrics};
use crate::store::Store;

/// A gateway ready to serve: store opened (and migrated, if configured), port bound.
pub struct Application {
    settings: Settings,
    store: Store,
    listener: TcpListener,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::connect(&settings.database.url, settings.database.max_connections)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
        Ok(Application {
            settings,
            store,
            listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and closes the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = AppState {
            store: self.store.clone(),
            metrics: HttpMetrics::new(),
        };
        let router = http::router(state, &self.settings.server);
        let addr = self.listener.local_addr()?;
        tracing::info!(
            address = %addr,
            database = self.store.backend().as_str(),
            regions = self.settings.directory.regions.len(),
            municipalities = self.settings.directory.municipalities.len(),
            "brygga is serving"
        );
        let clean = http::serve(
            self.listener,
            router,
            shutdown,
            self.settings.server.shutdown_grace(),
        )
        .await?;
        self.store.close().await;
        tracing::info!(clean, "brygga stopped");
        Ok(())
    }
}
