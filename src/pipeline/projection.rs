//! The statistics' facts of every stored case, kept in memory (`StatsProjection`), so that a
//! period's figures are counted without reading a case: `/stats`, the console's charts and
//! `brygga stats` all count from it.
//!
//! How the facts follow the store:
//! - a case this process commits is noted as it is committed (`Steps::record_step` calls
//!   [`StatsProjection::note`]) and put in at the next catching up, without being read back;
//! - catching up (in the background every [`CATCH_UP_EVERY`], and before each computation)
//!   reads the id and version of the cases changed since it last looked — every case row
//!   carries the change number of the transaction that last wrote it (the audit head's turn,
//!   migration 0019), and the numbers follow the commits' order, so the cases above the highest
//!   number seen are exactly what is new — and loads the ones it does not hold at that version
//!   (another instance's, a timer's);
//! - every [`RECONCILE_EVERY`] it compares all its cases' versions with the store's, which
//!   drops the cases retention removed and loads any an older build changed during a rolling
//!   upgrade (such a build does not set the change number).
//!
//! The facts hold no personal data (`process::stats::facts`): units, times, counts, and each
//! person as a number keyed for this process only.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{RwLock, RwLockReadGuard};

use crate::domain::case::{CaseId, CoordinationCase};
use crate::process::stats::facts::{CaseFacts, PersonKeys, Units};
use crate::store::{Store, StoreError, StoredCase};

/// How often the facts are compared with the store's cases (see the module's documentation).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(600);

/// How often the facts catch up in the background (one indexed read when nothing changed).
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(2);

/// How many cases one read loads while catching up.
const PAGE: u32 = 1_000;

/// How many noted cases wait at most; beyond, a commit is not noted and its case is read from
/// the store instead (when nothing catches up, as in a command that does not serve).
const MOST_NOTED: usize = 20_000;

/// Every stored case's statistics facts, caught up with the store on use.
#[derive(Default)]
pub struct StatsProjection {
    held: RwLock<Held>,
    /// Held by the one catching up (or reconciling).
    catching: tokio::sync::Mutex<()>,
    /// The cases this process committed since the last catching up, as committed.
    noted: Mutex<Vec<CoordinationCase>>,
}

/// Counts only: the noted cases are whole cases, with personal data.
impl std::fmt::Debug for StatsProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsProjection")
            .field("held", &self.held.try_read().map(|held| held.len()).ok())
            .field(
                "noted",
                &self
                    .noted
                    .lock()
                    .map(|noted| noted.len())
                    .unwrap_or_default(),
            )
            .finish()
    }
}

/// The facts held, and how far they are caught up.
#[derive(Debug, Default)]
pub struct Held {
    units: Units,
    keys: PersonKeys,
    /// Each case's version and facts, by id (so that the figures are summed in one order).
    cases: BTreeMap<CaseId, (u64, CaseFacts)>,
    /// The highest change number caught up to; `None` before the first load.
    seen: Option<u64>,
}

impl Held {
    /// The units the facts name.
    pub fn units(&self) -> &Units {
        &self.units
    }

    /// Every case's facts, in case id order.
    pub fn cases(&self) -> impl Iterator<Item = &CaseFacts> {
        self.cases.values().map(|(_, facts)| facts)
    }

    /// The version of case `id` the facts are of, when it is held.
    pub fn version(&self, id: CaseId) -> Option<u64> {
        self.cases.get(&id).map(|(version, _)| *version)
    }

    /// How many cases are held.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// Puts the facts of `cases` in place of those held, unless a later version is held.
    fn put(&mut self, cases: impl IntoIterator<Item = CoordinationCase>) {
        for case in cases {
            let version = case.version();
            if self.version(case.id()).is_some_and(|held| held > version) {
                continue;
            }
            let facts = CaseFacts::of(&case, &mut self.units, &self.keys);
            self.cases.insert(case.id(), (version, facts));
        }
    }
}

/// Replays stored cases, for their facts.
fn replayed(cases: &[StoredCase]) -> Result<Vec<CoordinationCase>, StoreError> {
    cases.iter().map(StoredCase::to_case).collect()
}

impl StatsProjection {
    pub fn new() -> Self {
        StatsProjection::default()
    }

    /// Notes `case` as this process committed it, to be put in at the next catching up.
    pub fn note(&self, case: &CoordinationCase) {
        let mut noted = self.noted.lock().unwrap_or_else(|p| p.into_inner());
        if noted.len() < MOST_NOTED {
            noted.push(case.clone());
        }
    }

    /// The facts, caught up with the store: what changed since the last catching up is put in
    /// first (every case the first time).
    pub async fn current(&self, store: &Store) -> Result<RwLockReadGuard<'_, Held>, StoreError> {
        let top = store.case_change_top().await?;
        if self.held.read().await.seen.is_none_or(|seen| seen < top) {
            self.catch_up(store, top).await?;
        }
        Ok(self.held.read().await)
    }

    /// Catches up to `top` (read before: anything changed while catching up has a higher
    /// number and is looked at again next time). One catching up at a time; the facts are
    /// locked only while cases are put in, so that computations go on meanwhile.
    async fn catch_up(&self, store: &Store, top: u64) -> Result<(), StoreError> {
        let _turn = self.catching.lock().await;
        let seen = self.held.read().await.seen;
        if seen.is_some_and(|seen| seen >= top) {
            return Ok(());
        }
        let started = Instant::now();
        match seen {
            None => self.load_all(store).await?,
            Some(seen) => {
                let noted =
                    std::mem::take(&mut *self.noted.lock().unwrap_or_else(|p| p.into_inner()));
                self.held.write().await.put(noted);
                let changed = store.case_versions(Some(seen)).await?;
                self.load_missing(store, &changed).await?;
            }
        }
        let mut held = self.held.write().await;
        held.seen = Some(top);
        if seen.is_none() {
            tracing::info!(
                cases = held.cases.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "statistics facts loaded"
            );
        }
        Ok(())
    }

    /// Reads every case, a page at a time.
    async fn load_all(&self, store: &Store) -> Result<(), StoreError> {
        // What was noted before is read with the rest.
        self.noted.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let mut after_id = None;
        loop {
            let page = store.cases_page(after_id, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after_id = Some(last.id);
            let cases = replayed(&page)?;
            self.held.write().await.put(cases);
        }
    }

    /// Loads the cases of `versions` not held at their version. Returns how many.
    async fn load_missing(
        &self,
        store: &Store,
        versions: &[(CaseId, u64)],
    ) -> Result<usize, StoreError> {
        let missing: Vec<CaseId> = {
            let held = self.held.read().await;
            versions
                .iter()
                .filter(|(id, version)| held.version(*id) != Some(*version))
                .map(|(id, _)| *id)
                .collect()
        };
        for chunk in missing.chunks(PAGE as usize) {
            let cases = replayed(&store.cases_loaded(chunk).await?)?;
            self.held.write().await.put(cases);
        }
        Ok(missing.len())
    }

    /// Compares the held cases' versions with the store's: drops the cases no longer stored,
    /// loads those held at another version or not at all. Returns how many were dropped and
    /// how many loaded.
    pub async fn reconcile(&self, store: &Store) -> Result<(usize, usize), StoreError> {
        // Caught up first, and no other catching up until done: a case made after the versions
        // are read is then not mistaken for one removed. (Computations go on meanwhile.)
        let top = store.case_change_top().await?;
        self.catch_up(store, top).await?;
        let _turn = self.catching.lock().await;
        let versions = store.case_versions(None).await?;
        let stored: HashSet<CaseId> = versions.iter().map(|(id, _)| *id).collect();
        let dropped = {
            let mut held = self.held.write().await;
            let before = held.cases.len();
            held.cases.retain(|id, _| stored.contains(id));
            before - held.cases.len()
        };
        let loaded = self.load_missing(store, &versions).await?;
        Ok((dropped, loaded))
    }

    /// Loads the facts at once (so that the first computation does not wait for it), catches
    /// up every [`CATCH_UP_EVERY`] (so that no computation waits for a day of changes) and
    /// reconciles every [`RECONCILE_EVERY`], until `stop` turns true.
    pub async fn run(
        self: std::sync::Arc<Self>,
        store: Store,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut reconciled = Instant::now();
        // Told once while it lasts, not every two seconds.
        let mut failing = false;
        loop {
            if reconciled.elapsed() < RECONCILE_EVERY {
                match self.current(&store).await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("the statistics facts are caught up again");
                    }
                    Ok(_) => {}
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "the statistics facts cannot be caught up; trying again every few seconds");
                    }
                    Err(_) => {}
                }
            } else {
                reconciled = Instant::now();
                match self.reconcile(&store).await {
                    Ok((0, 0)) => {}
                    Ok((dropped, loaded)) => tracing::info!(
                        dropped,
                        loaded,
                        "statistics facts reconciled with the store"
                    ),
                    Err(error) => {
                        tracing::warn!(%error, "the statistics facts cannot be reconciled")
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CATCH_UP_EVERY) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
