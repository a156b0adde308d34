//! Building and running the gateway from its settings.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Settings;
use crate::formats::Mappings;
use crate::http::{self, AppState, HttpMetrics};
use crate::pipeline::Pipeline;
use crate::pipeline::Scheduler;
use crate::store::{GroupCommitter, Store};

/// A gateway ready to serve: store opened (and migrated, if configured), port bound.
pub struct Application {
    settings: Settings,
    /// This instance's identity in its claims, and the lock that keeps it this process's.
    identity: (String, Option<std::fs::File>),
    /// The delivery workers' circuit breakers (a replay reads them to move its clock).
    breakers: crate::delivery::Breakers,
    /// The one registry everything this instance counts into (`/metrics`).
    metrics: HttpMetrics,
    store: Store,
    mappings: Arc<Mappings>,
    clock: Clock,
    listener: TcpListener,
    /// Where `run_until` hands the pipeline it builds (a replay drives it directly).
    pipeline_out: Option<tokio::sync::oneshot::Sender<Pipeline>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let clock = if settings.server.test_clock {
            tracing::warn!(
                "server.test_clock is set: the clock moves only through /test/clock; for test environments only"
            );
            Clock::manual(jiff::Timestamp::now())
        } else {
            Clock::System
        };
        Self::build_with_clock(settings, clock).await
    }

    /// Builds with an explicit clock (a manual one in tests and replays).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        let mappings = Arc::new(settings.load_mappings()?);
        settings
            .subscriptions
            .check_formats(&mappings)
            .map_err(anyhow::Error::msg)?;
        let store = Store::connect(&settings.database.url, settings.database.max_connections)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        check_schema(&store).await?;
        let identity = instance_identity(&settings)?;
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
        Ok(Application {
            identity,
            breakers: Default::default(),
            metrics: HttpMetrics::new(),
            settings,
            store,
            mappings,
            clock,
            listener,
            pipeline_out: None,
        })
    }

    /// The pipeline `run_until` will serve with, once it runs: for an in-process replay,
    /// which records messages through it as the gateway's operator.
    pub fn pipeline_handle(&mut self) -> tokio::sync::oneshot::Receiver<Pipeline> {
        let (out, handle) = tokio::sync::oneshot::channel();
        self.pipeline_out = Some(out);
        handle
    }

    /// What this instance counts (`/metrics`), to be watched as it changes.
    pub fn metrics(&self) -> HttpMetrics {
        self.metrics.clone()
    }

    /// The delivery workers' circuit breakers.
    pub fn breakers(&self) -> crate::delivery::Breakers {
        self.breakers.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and closes the store.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let metrics = self.metrics.clone();
        let committer = GroupCommitter::start_counting(self.store.clone(), 256, metrics.clone());
        let directory = Arc::new(self.settings.directory.clone());
        let subscriptions = crate::delivery::Live::new(self.settings.subscriptions.clone());
        let outbox_ready = Arc::new(tokio::sync::Notify::new());
        let pipeline = Pipeline {
            store: self.store.clone(),
            committer: committer.clone(),
            mappings: self.mappings.clone(),
            directory: directory.clone(),
            subscriptions: subscriptions.clone(),
            outbox_ready: outbox_ready.clone(),
            clock: self.clock.clone(),
            recorder: self.recorder()?,
            statistics: Arc::new(crate::pipeline::projection::StatsProjection::new()),
        };
        if let Some(out) = self.pipeline_out.take() {
            let _ = out.send(pipeline.clone());
        }
        let (stop_scheduler, stopped) = tokio::sync::watch::channel(false);
        let scheduler = Scheduler {
            store: self.store.clone(),
            committer,
            mappings: self.mappings.clone(),
            directory,
            subscriptions: subscriptions.clone(),
            clock: self.clock.clone(),
            worker: self.identity.0.clone(),
            lease: jiff::SignedDuration::from_secs(
                i64::try_from(self.settings.delivery.lease_seconds).unwrap_or(i64::MAX),
            ),
            outbox_ready: Some(outbox_ready.clone()),
            metrics: metrics.clone(),
        };
        self.release_claims(&scheduler.worker).await;
        let deliverer = self.deliverer(&scheduler, outbox_ready, &metrics)?;
        // Before migrations the table may be missing: the worker reads them again every few
        // seconds.
        if let Err(error) = deliverer.reload_subscriptions().await {
            tracing::warn!(%error, "the API subscriptions cannot be read yet");
        }
        let delivering = deliverer.clone();
        let deliverer = tokio::spawn(deliverer.run(stopped.clone()));
        let watching = (self.settings.audit.verify_seconds > 0).then(|| {
            let watch = crate::audit_watch::AuditWatch::new(
                self.store.clone(),
                metrics.clone(),
                std::time::Duration::from_secs(self.settings.audit.verify_seconds),
            );
            tokio::spawn(watch.run(stopped.clone()))
        });
        let projecting = tokio::spawn(
            pipeline
                .statistics
                .clone()
                .run(self.store.clone(), stopped.clone()),
        );
        let scheduler = tokio::spawn(scheduler.run(stopped));
        let auth = Arc::new(self.authenticator()?);
        let state = AppState {
            pipeline,
            metrics,
            auth,
            deliverer: delivering,
            delivery: Arc::new(self.settings.delivery.clone()),
            statistics: self.settings.statistics.clone(),
            pseudonym_key: match self.settings.statistics.pseudonym_key_file {
                Some(_) => Some(Arc::new(self.settings.pseudonym_key()?)),
                None => None,
            },
            public_urls: Arc::new(
                http::PublicUrls::new(
                    self.settings.server.public_base_url.as_deref(),
                    self.listener.local_addr()?,
                    self.settings.server.tls.is_some(),
                    &self.settings.server.trusted_proxies,
                )
                .map_err(anyhow::Error::msg)?,
            ),
            require_if_match: self.settings.server.require_if_match,
            keep_unknown_elements: self.settings.server.keep_unknown_elements,
            console: Arc::new(http::Console::new(
                self.settings.accounts.clone(),
                &self.settings.console,
            )),
            riv: http::Producer::new(&self.settings.riv, |p| self.settings.resolve(p))
                .map_err(anyhow::Error::msg)?,
            auth_clock: if self.settings.server.test_clock {
                Clock::System
            } else {
                self.clock.clone()
            },
        };
        if let Some(producer) = &state.riv
            && self.settings.server.tls.is_none()
        {
            tracing::warn!(producer = %producer.hsa_id, "GetCarePlans is configured (riv.hsa_id) but the gateway speaks plain HTTP: consumers are known by their client certificates, so none can be served until [server.tls] is configured");
        }
        let router = http::router(state, &self.settings.server);
        let addr = self.listener.local_addr()?;
        tracing::info!(
            address = %addr,
            database = self.store.backend().as_str(),
            regions = self.settings.directory.regions.len(),
            municipalities = self.settings.directory.municipalities.len(),
            "brygga is serving"
        );
        let bound = match &self.settings.server.tls {
            None => http::Bound::Plain(self.listener),
            Some(tls) => {
                let config = http::server_config(
                    tls,
                    self.settings.riv.trust_anchors_file.as_deref(),
                    |p| self.settings.resolve(p),
                )
                .map_err(anyhow::Error::msg)?;
                http::Bound::Tls(http::TlsListener::new(self.listener, config)?)
            }
        };
        let clean = http::serve(
            bound,
            router,
            shutdown,
            self.settings.server.shutdown_grace(),
        )
        .await?;
        let _ = stop_scheduler.send(true);
        // Only reads: stopped where it is rather than waited for.
        projecting.abort();
        let _ = projecting.await;
        if let Err(error) = scheduler.await {
            tracing::error!(%error, "the timer scheduler stopped abnormally");
        }
        if let Err(error) = deliverer.await {
            tracing::error!(%error, "the delivery worker stopped abnormally");
        }
        if let Some(watching) = watching
            && let Err(error) = watching.await
        {
            tracing::error!(%error, "the audit watch stopped abnormally");
        }
        self.store.close().await;
        tracing::info!(clean, "brygga stopped");
        Ok(())
    }

    /// The recorder of accepted messages as scenarios, when `recording.dir` is set.
    fn recorder(&self) -> anyhow::Result<Option<Arc<crate::replay::Recorder>>> {
        Ok(match &self.settings.recording.dir {
            Some(dir) => {
                let dir = self.settings.resolve(dir);
                tracing::warn!(folder = %dir.display(), "recording every accepted message as a scenario (recording.dir), personal data replaced by test identities");
                Some(Arc::new(
                    crate::replay::Recorder::new(dir.clone())
                        .map_err(|e| anyhow::anyhow!("recording.dir {}: {e}", dir.display()))?,
                ))
            }
            None => None,
        })
    }

    /// Takes back what this instance was doing when it last stopped (claims it held).
    async fn release_claims(&self, worker: &str) {
        match self.store.release_claims(worker).await {
            Ok((0, 0)) => {}
            Ok((deliveries, timers)) => tracing::info!(
                instance = worker,
                deliveries,
                timers,
                "took back the claims this instance held when it stopped"
            ),
            Err(error) => {
                tracing::warn!(%error, "the claims of this instance's last run could not be released; their leases return them")
            }
        }
    }

    /// The delivery worker, with the settings' batch, lease, retention and anchoring.
    fn deliverer(
        &self,
        scheduler: &Scheduler,
        ready: Arc<tokio::sync::Notify>,
        metrics: &HttpMetrics,
    ) -> anyhow::Result<crate::delivery::Deliverer> {
        Ok(crate::delivery::Deliverer {
            store: self.store.clone(),
            committer: scheduler.committer.clone(),
            subscriptions: scheduler.subscriptions.clone(),
            mappings: self.mappings.clone(),
            clock: self.clock.clone(),
            worker: scheduler.worker.clone(),
            http: crate::delivery::http_client_builder().build()?,
            lease: jiff::SignedDuration::from_secs(self.settings.delivery.lease_seconds as i64),
            batch: self.settings.delivery.batch,
            breakers: self.breakers.clone(),
            ready,
            last_sent: Default::default(),
            directory: scheduler.directory.clone(),
            deadline_warning: jiff::SignedDuration::from_mins(
                self.settings.delivery.deadline_warning_minutes as i64,
            ),
            late: Default::default(),
            metrics: metrics.clone(),
            paused: Default::default(),
            held: Default::default(),
            retention: days(self.settings.delivery.retention_days),
            case_retention: days(self.settings.retention.closed_cases_days),
            audit_retention: days(self.settings.retention.audit_days),
            in_flight: Default::default(),
            anchoring: self
                .settings
                .anchor_key()?
                .map(|key| crate::delivery::Anchoring {
                    key: Arc::new(key),
                    every: jiff::SignedDuration::from_mins(
                        self.settings.audit.checkpoint_minutes as i64,
                    ),
                    dir: self
                        .settings
                        .audit
                        .checkpoint_dir
                        .as_ref()
                        .map(|d| self.settings.resolve(d)),
                }),
        })
    }

    /// The authenticator: the token endpoint's URL (as clients must name it), the token key,
    /// the registered clients and the identity providers.
    fn authenticator(&self) -> anyhow::Result<crate::auth::Authenticator> {
        let token_url = self.settings.token_url_at(self.listener.local_addr()?);
        if self.settings.auth.token_url.is_none()
            && self.settings.server.public_base_url.is_none()
            && self.settings.server.listen.ip().is_unspecified()
        {
            tracing::warn!(%token_url, "auth.token_url is not set and the gateway listens on every address: clients must name this URL as their assertions' aud; set auth.token_url to the address they reach");
        }
        let key = self.settings.token_key()?;
        if self.settings.auth.token_key_file.is_none() {
            tracing::info!(
                "access tokens are signed with a secret made at start-up: they end with this process (set auth.token_key_file to share one between instances)"
            );
        }
        let mut auth = crate::auth::Authenticator::new(
            &self.settings.auth,
            token_url,
            self.settings.clients.clone(),
            &key,
            Arc::new(self.settings.directory.clone()),
        );
        if let Some(file) = &self.settings.clients_source {
            auth = auth.reading_clients_from(file.clone());
        }

        Ok(auth)
    }
}

/// Refuses a schema that needs a newer build (`schema_floor`), and says when this build runs on
/// a schema a newer one migrated, as a rolling upgrade does.
async fn check_schema(store: &Store) -> anyhow::Result<()> {
    let readiness = store
        .readiness()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the database's migrations: {e}"))?;
    if let Some(too_old) = readiness.too_old() {
        anyhow::bail!(too_old);
    }
    if let Some(newest) = readiness.newer_migrations.last() {
        tracing::warn!(
            newer = readiness.newer_migrations.len(),
            newest,
            known = readiness.known_latest,
            "the schema carries migrations of a newer build; running on it as the upgrade rules allow for one release"
        );
    }
    Ok(())
}

/// A retention of `days` days; 0 keeps everything.
fn days(days: u64) -> Option<jiff::SignedDuration> {
    (days > 0).then(|| jiff::SignedDuration::from_hours(days as i64 * 24))
}

/// This instance's identity in its claims: `delivery.instance_id`; else one made once and kept
/// beside the SQLite database, locked for as long as this process runs (a second gateway on
/// the same state is refused); else a new one for this start.
fn instance_identity(settings: &Settings) -> anyhow::Result<(String, Option<std::fs::File>)> {
    if let Some(id) = &settings.delivery.instance_id {
        return Ok((id.clone(), None));
    }
    let url = &settings.database.url;
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|path| !path.is_empty() && !path.contains(":memory:"));
    let Some(database) = path else {
        return Ok((format!("brygga-{}", uuid::Uuid::now_v7()), None));
    };
    let dir = std::path::Path::new(database)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("the state directory {}: {e}", dir.display()))?;
    let lock_path = dir.join("instance-id.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!(
            "another gateway runs on the state in {} (its instance-id is locked): give this one a database of its own, or set delivery.instance_id",
            dir.display()
        );
    }
    let id_path = dir.join("instance-id");
    let id = match std::fs::read_to_string(&id_path) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => {
            let id = format!("brygga-{}", uuid::Uuid::now_v7());
            std::fs::write(&id_path, format!("{id}\n"))
                .map_err(|e| anyhow::anyhow!("{}: {e}", id_path.display()))?;
            id
        }
    };
    Ok((id, Some(lock)))
}
