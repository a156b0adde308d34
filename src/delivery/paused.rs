//! The subscriptions operators paused (`paused_subscriptions`), as this instance last read
//! them: the worker leaves their rows unclaimed, as it does those of an open circuit. Read
//! again at most once a second, so a pause made on another instance holds here within it; a
//! pause made here holds at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// How old the paused set may be before it is read again.
const FRESH: Duration = Duration::from_secs(1);

/// When the set was read, and the names read.
type Read = Option<(Instant, Vec<String>)>;

/// The paused subscriptions' names, shared by the worker and the console.
#[derive(Debug, Clone, Default)]
pub struct Paused {
    read: Arc<Mutex<Read>>,
}

impl Paused {
    fn slot(&self) -> std::sync::MutexGuard<'_, Read> {
        // A panic while holding the lock leaves nothing half-changed: the value is replaced
        // whole.
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The paused subscriptions: as read within the last second, else read now. When the store
    /// cannot be read, the last set read (nothing is resumed by a failing read).
    pub async fn names(&self, store: &Store) -> Vec<String> {
        if let Some((at, names)) = self.slot().as_ref()
            && at.elapsed() < FRESH
        {
            return names.clone();
        }
        match self.read(store).await {
            Ok(names) => names,
            Err(error) => {
                tracing::error!(%error, "the paused subscriptions could not be read");
                self.slot()
                    .as_ref()
                    .map(|(_, names)| names.clone())
                    .unwrap_or_default()
            }
        }
    }

    /// Reads the set now (after this instance changed it).
    pub async fn read(&self, store: &Store) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = store
            .paused_subscriptions()
            .await?
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        *self.slot() = Some((Instant::now(), names.clone()));
        Ok(names)
    }
}
