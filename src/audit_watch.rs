//! The audit chain watched while the gateway runs: every `audit.verify_seconds` the records
//! added since the last look are verified (hashes recomputed, links followed, the head
//! compared), and the whole chain from the retention's anchor at start and once a day. The
//! result is on `/metrics` (`brygga_audit_chain_intact`, `brygga_audit_verified_seq`,
//! `brygga_audit_last_verified_timestamp_seconds`) for the `BryggaAuditChainBroken` alert; a
//! break is logged with the first record that does not verify (a sequence number, nothing
//! about a person).

use std::time::Duration;

use tokio::sync::watch;

use crate::store::{AuditPoint, Store, StoreError};

/// Records read per transaction, so that a long log is verified in short reads.
const PAGE: u64 = 10_000;
/// The whole chain is read again this often.
const FULL_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Verifies the audit chain as it grows.
pub struct AuditWatch {
    pub store: Store,
    pub metrics: crate::telemetry::Metrics,
    /// How often the new records are verified.
    pub every: Duration,
    /// The last record verified; `None` reads from the anchor.
    verified: Option<AuditPoint>,
}

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// Every record up to `seq` verifies.
    Intact { seq: u64 },
    /// The record `seq` (or the head after it) does not verify.
    Broken { seq: u64 },
}

impl AuditWatch {
    pub fn new(store: Store, metrics: crate::telemetry::Metrics, every: Duration) -> Self {
        AuditWatch {
            store,
            metrics,
            every,
            verified: None,
        }
    }

    /// Verifies what was added since the last look (everything at the first), and records the
    /// result in the metrics.
    pub async fn look(&mut self) -> Result<Look, StoreError> {
        let look = loop {
            let progress = self
                .store
                .verify_audit_since(self.verified.as_ref(), PAGE)
                .await?;
            if let Some(seq) = progress.first_broken {
                // Read from the anchor again next time: a restored log then shows as intact.
                self.verified = None;
                break Look::Broken { seq };
            }
            let read = progress.records;
            let seq = progress.verified.seq;
            self.verified = Some(progress.verified);
            if read < PAGE {
                break Look::Intact { seq };
            }
            tokio::task::yield_now().await;
        };
        let (intact, seq) = match look {
            Look::Intact { seq } => (1.0, seq),
            Look::Broken { seq } => (0.0, seq),
        };
        let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
        self.metrics.record(|| {
            metrics::gauge!("brygga_audit_chain_intact").set(intact);
            if intact == 1.0 {
                metrics::gauge!("brygga_audit_verified_seq").set(seq as f64);
            }
            metrics::gauge!("brygga_audit_last_verified_timestamp_seconds").set(now);
        });
        Ok(look)
    }

    /// Looks at start and then every `every` until `stop` turns true; reads the whole chain
    /// again once a day.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut full = tokio::time::Instant::now();
        loop {
            if full.elapsed() >= FULL_EVERY {
                self.verified = None;
                full = tokio::time::Instant::now();
            }
            match self.look().await {
                Ok(Look::Intact { .. }) => {}
                Ok(Look::Broken { seq }) => tracing::error!(
                    first_broken = seq,
                    "the audit log's hash chain does not verify from this record: it was changed outside the gateway; run `brygga audit verify` and see the runbook"
                ),
                Err(error) => {
                    tracing::warn!(%error, "verifying the audit chain failed; trying again")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
