//! The delivery worker: claims due outbox rows, encodes each released message in its
//! subscription's format, POSTs it with an idempotency key and the event's sequence number,
//! and settles the row — delivered on 2xx; retried with exponential backoff and full jitter on
//! 408, 425, 429 (honouring `Retry-After`), 5xx, timeouts and connection errors; dead-lettered
//! with the reason on any other answer, on a message the format cannot carry, and once the row
//! is older than the subscription's maximum age.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use tokio::sync::watch;

use tracing::Instrument;

use super::breaker::{Breakers, Gate};
use super::subscriptions::RetryPolicy;
use crate::clock::Clock;
use crate::formats::Mappings;
use crate::formats::canonical::CanonicalMessage;
use crate::formats::translate;
use crate::store::{OutboxItem, Settlement, Store, StoreError};

/// How often an idle worker looks for due rows.
const POLL: Duration = Duration::from_millis(100);
/// The least time between two claims. Under load every commit wakes the worker; claiming at
/// most this often lets one claim take the rows of several commits (a claim is a write that
/// queues with them), and adds at most this much to a delivery's time.
const CLAIM_GAP: Duration = Duration::from_millis(5);
/// While incoming messages queue for the writer (`GroupCommitter::saturated`), the worker gives
/// way: it claims at most `YIELDING_CLAIM` rows, at most every `YIELDING_GAP` (320 deliveries
/// a second), so that the cores and the database go to taking messages in. Deliveries go on at
/// that pace, the oldest first, and at full pace again once the queue is gone.
const YIELDING_CLAIM: u32 = 16;
const YIELDING_GAP: Duration = Duration::from_millis(50);

/// How long after the last claim the next may be made: `CLAIM_GAP`, or `YIELDING_GAP` while
/// the writer is saturated.
fn claim_gap(saturated: bool) -> Duration {
    if saturated { YIELDING_GAP } else { CLAIM_GAP }
}

/// How many rows a claim may take: every free permit's worth, or at most `YIELDING_CLAIM`
/// while the writer is saturated.
fn claim_limit(free: u32, saturated: bool) -> u32 {
    if saturated {
        free.min(YIELDING_CLAIM)
    } else {
        free
    }
}
/// How often finished rows older than the retention are deleted (by the gateway's clock).
const PRUNE_EVERY: SignedDuration = SignedDuration::from_hours(1);
/// How long a handshake may take at most (the client that created the subscription waits).
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the API subscriptions are read again (for changes made on other instances).
const RELOAD: Duration = Duration::from_secs(5);

/// An outbox row's payload: the released message and the decision that released it (of
/// which the worker reads the recipient).
#[derive(Debug, Deserialize)]
pub struct Payload {
    pub message: CanonicalMessage,
    pub disclosure: Released,
}

/// What the worker reads of a payload's decision.
#[derive(Debug, Deserialize)]
pub struct Released {
    pub recipient: crate::domain::party::Party,
}

/// What became of one claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Done,
    Retry {
        at: Timestamp,
        error: String,
        /// The request went out and no answer came back (a timeout, a connection broken
        /// after sending): the receiver may have taken it, and the next attempt says so.
        maybe_reached: bool,
    },
    Dead {
        reason: String,
    },
    /// The claim was lost (the lease ended and another worker took the row): nothing settled.
    Lost,
    /// Not attempted: the subscription's circuit is open. The row goes back as it was (its
    /// attempt uncounted, its next attempt unchanged).
    Held,
}

/// The rows this instance is delivering now, whose leases it renews while they are on their
/// way (so that leases can be short without another instance taking a row mid-delivery).
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<std::sync::Mutex<std::collections::BTreeSet<i64>>>);

impl InFlight {
    fn insert(&self, id: i64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
    }

    fn remove(&self, id: i64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    fn ids(&self) -> Vec<i64> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

/// Signing the audit log's checkpoints: the key, how often, and where the files go.
#[derive(Clone)]
pub struct Anchoring {
    pub key: Arc<crate::anchor::AnchorKey>,
    pub every: SignedDuration,
    pub dir: Option<std::path::PathBuf>,
}

/// Delivers the outbox.
#[derive(Clone)]
pub struct Deliverer {
    pub store: Store,
    /// Claims and settlements go through it (on SQLite, in the group commit's transaction).
    pub committer: crate::store::GroupCommitter,
    pub subscriptions: super::Live,
    pub mappings: Arc<Mappings>,
    pub clock: Clock,
    /// This instance's name in claims.
    pub worker: String,
    pub http: reqwest::Client,
    /// How long a claim holds: longer than the slowest subscription's timeout.
    pub lease: SignedDuration,
    /// Deliveries in flight at most (and rows claimed at a time).
    pub batch: u32,
    pub breakers: Breakers,
    /// Finished deliveries (and their message bodies) are deleted this long after they
    /// finished; `None` keeps them.
    pub retention: Option<SignedDuration>,
    /// Closed cases with nothing left to do are deleted this long after their last change;
    /// `None` keeps them.
    pub case_retention: Option<SignedDuration>,
    /// Audit records are deleted this long after they were recorded, and only below a signed
    /// checkpoint; `None` keeps them.
    pub audit_retention: Option<SignedDuration>,
    /// Signing the audit log's checkpoints, when a key is configured.
    pub anchoring: Option<Anchoring>,
    /// The rows on their way now, whose leases are renewed.
    pub in_flight: InFlight,
    /// Woken when a commit wrote outbox rows, so that they go without waiting for the poll.
    pub ready: Arc<tokio::sync::Notify>,
    /// When each subscription was last sent something (by this instance): a heartbeat goes
    /// when a `fhir` subscription with a heartbeat period has had nothing for that long.
    pub last_sent: LastSent,
    /// For the deviations late deliveries raise: the deviation contacts.
    pub directory: Arc<crate::config::Directory>,
    /// A delivery still failing this long before its step's deadline raises a deviation.
    pub deadline_warning: SignedDuration,
    /// The deliveries (idempotency keys) this instance has raised a deviation for.
    pub late: Late,
    /// Where the outcomes are counted (`/metrics`).
    pub metrics: crate::telemetry::Metrics,
    /// The subscriptions operators paused: their rows stay queued, unclaimed.
    pub paused: super::Paused,
    /// The rows looked at in paused subscriptions, for their steps' deadlines.
    pub held: super::Held,
}

/// The deliveries a deviation was raised for, so that later failures do not raise it again
/// (the deviation's id is derived from the delivery: on another instance, or after a restart,
/// raising it again is recognised as a duplicate).
#[derive(Debug, Clone, Default)]
pub struct Late(Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Late {
    pub(super) fn contains(&self, key: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    pub(super) fn insert(&self, key: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
    }
}

/// When each subscription was last sent a notification, by subscription.
#[derive(Debug, Clone, Default)]
pub struct LastSent(Arc<std::sync::Mutex<std::collections::HashMap<String, Timestamp>>>);

impl LastSent {
    pub(super) fn mark(&self, subscription: &str, at: Timestamp) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(subscription.to_owned(), at);
    }

    /// Marks `subscription` as sent to now if it had nothing since `before`; answers whether
    /// it did (its heartbeat is due).
    pub(super) fn take_due(&self, subscription: &str, before: Timestamp, now: Timestamp) -> bool {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match all.get(subscription) {
            Some(last) if *last > before => false,
            // A subscription first seen now starts its period now.
            None => {
                all.insert(subscription.to_owned(), now);
                false
            }
            Some(_) => {
                all.insert(subscription.to_owned(), now);
                true
            }
        }
    }
}

/// `initial · 2^(attempt-1)`, capped at `max`, drawn at random below (full jitter).
pub fn backoff(policy: &RetryPolicy, attempt: u64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30) as u32;
    let ceiling = policy
        .initial_delay_seconds
        .saturating_mul(1u64 << exponent)
        .min(policy.max_delay_seconds)
        .saturating_mul(1000);
    let mut bytes = [0u8; 8];
    let random = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => ceiling / 2,
    };
    Duration::from_millis(random % ceiling.max(1)).max(Duration::from_millis(1))
}

impl Deliverer {
    /// Claims up to `limit` due rows and starts delivering each in its own task (so a slow
    /// receiver delays only itself); answers the tasks.
    async fn start_due(
        &self,
        limit: u32,
        permits: &Arc<tokio::sync::Semaphore>,
        settled: &tokio::sync::mpsc::UnboundedSender<(OutboxItem, Delivered)>,
    ) -> Result<usize, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        // The rows of a subscription whose circuit is open, or that an operator paused, stay
        // where they are, unclaimed.
        let mut held_back = self.breakers.held_back(now);
        held_back.extend(self.paused.names(&self.store).await);
        let items = self
            .committer
            .claim_outbox(&self.worker, now, self.lease, limit, &held_back)
            .await?;
        let count = items.len();
        for item in items {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                // More rows than permits (cannot happen: limit ≤ available); the lease returns it.
                break;
            };
            let this = self.clone();
            let settled = settled.clone();
            // Every line logged while delivering names the step's case and event.
            let span = tracing::info_span!(
                "delivery",
                otel.kind = "client",
                otel.name = %format!("deliver {}", item.destination),
                case_id = %item.case_id,
                event_id = %item.event_id,
                subscription = %item.destination,
            );
            tokio::spawn(
                async move {
                    let started = this.clock.now();
                    let outcome = match this.breakers.gate(&item.destination, started) {
                        // Claimed with others before the circuit opened, or while a probe is out.
                        Gate::Hold => Delivered::Held,
                        gate => {
                            this.in_flight.insert(item.id);
                            let outcome = this.deliver(&item).await;
                            let ok = !matches!(outcome, Delivered::Retry { .. });
                            if matches!(gate, Gate::Probe)
                                || !ok
                                || matches!(outcome, Delivered::Done)
                            {
                                this.breakers.record(
                                    &item.destination,
                                    ok,
                                    gate == Gate::Probe,
                                    started,
                                    this.clock.now(),
                                );
                            }
                            outcome
                        }
                    };
                    this.count(&item, &outcome);
                    this.watch_deadline(&item, &outcome).await;
                    // Settled together with the others that finish meanwhile: one transaction.
                    let _ = settled.send((item, outcome));
                    drop(permit);
                }
                .instrument(span),
            );
        }
        Ok(count)
    }

    /// Counts `outcome` of delivering `item` by subscription
    /// (`brygga_deliveries_total{subscription, outcome}`), and for a delivery made how long it
    /// took from the step's acceptance (`brygga_delivery_latency_seconds`).
    fn count(&self, item: &OutboxItem, outcome: &Delivered) {
        let name = match outcome {
            Delivered::Done => "delivered",
            Delivered::Retry { .. } => "retried",
            Delivered::Dead { .. } => "dead",
            Delivered::Lost => "lost",
            Delivered::Held => "held",
        };
        let latency = matches!(outcome, Delivered::Done).then(|| {
            self.clock
                .now()
                .duration_since(item.created_at)
                .as_secs_f64()
                .max(0.0)
        });
        let subscription = item.destination.clone();
        self.metrics.record(|| {
            metrics::counter!(
                "brygga_deliveries_total",
                "subscription" => subscription.clone(),
                "outcome" => name
            )
            .increment(1);
            if let Some(seconds) = latency {
                metrics::histogram!("brygga_delivery_latency_seconds", "subscription" => subscription)
                    .record(seconds);
            }
        });
    }

    /// Raises a deviation in the case when `item` is still failing as its step's deadline nears
    /// (within the deadline warning, or past it), or went to the dead letters; once per
    /// delivery.
    async fn watch_deadline(&self, item: &OutboxItem, outcome: &Delivered) {
        let (dead, error) = match outcome {
            Delivered::Retry { error, .. } => (false, error.as_str()),
            Delivered::Dead { reason } => (true, reason.as_str()),
            Delivered::Done | Delivered::Lost | Delivered::Held => return,
        };
        if self.late.contains(item.idempotency_key.as_str()) {
            return;
        }
        let Ok(payload) = serde_json::from_str::<Payload>(&item.payload) else {
            return;
        };
        // A step without a deadline that must reach its recipient raises its deviation when it
        // is dead-lettered: then nothing will bring it, and its sender must hear so at once.
        let deadline = translate::step_deadline(&payload.message, &self.mappings);
        let now = self.clock.now();
        match deadline {
            None if !dead
                || !crate::process::deviations::must_arrive(&payload.message.event.kind) =>
            {
                return;
            }
            Some(deadline) if !dead && now < deadline - self.deadline_warning => return,
            _ => {}
        }
        let recipient = payload.disclosure.recipient.clone();
        let late = crate::process::deviations::LateDelivery {
            key: item.idempotency_key.as_str(),
            subscription: &item.destination,
            recipient,
            attempts: item.attempts,
            last_error: error,
            deadline,
            dead,
            paused: false,
            at: now,
        };
        match self.raise_late(item, &late).await {
            Ok(()) => self.late.insert(item.idempotency_key.as_str()),
            Err(error) => {
                tracing::error!(case_id = %item.case_id, event_id = %item.event_id, %error, "the deviation for a late delivery could not be recorded; the next failure tries again")
            }
        }
    }

    /// Records the deviation for `late` in the case of `item` (its clocks, routing and audit
    /// as for any step).
    pub(super) async fn raise_late(
        &self,
        item: &OutboxItem,
        late: &crate::process::deviations::LateDelivery<'_>,
    ) -> Result<(), StoreError> {
        let steps = crate::pipeline::Steps {
            store: &self.store,
            policies: &self.mappings.policies,
            committer: &self.committer,
            directory: &self.directory,
            subscriptions: &self.subscriptions,
            clock: &self.clock,
            outbox_ready: Some(&self.ready),
            statistics: None,
        };
        steps
            .record_step(&mut super::late::LateStep { item, late })
            .await
    }

    /// Renews the leases of the rows on their way, a third of a lease before they end, until
    /// `stop`: a delivery that takes long keeps its row, and leases can be short, so a
    /// stopped instance's rows go to another (or to itself, restarted) within seconds.
    async fn renew_leases(self, mut stop: watch::Receiver<bool>) {
        let every = (self.lease / 3)
            .max(SignedDuration::from_millis(200))
            .unsigned_abs();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            let ids = self.in_flight.ids();
            if ids.is_empty() {
                continue;
            }
            let until = self.clock.now() + self.lease;
            if let Err(error) = self.store.renew_claims(&self.worker, &ids, until).await {
                tracing::warn!(%error, rows = ids.len(), "renewing delivery leases failed; trying again");
            }
        }
    }

    /// Signs a checkpoint of the audit log's head when the last one is older than the interval
    /// (and the head has moved), keeps it, and writes it to the checkpoint folder.
    pub async fn checkpoint(&self) -> Result<Option<crate::anchor::Checkpoint>, StoreError> {
        let Some(anchoring) = &self.anchoring else {
            return Ok(None);
        };
        let now = self.clock.now();
        let latest = self.store.checkpoints(1).await?.into_iter().next();
        let ((head_seq, head_hash), (anchor_seq, anchor_hash)) =
            self.store.audit_head_and_anchor().await?;
        if latest.as_ref().is_some_and(|c| {
            c.head_seq == head_seq || now.duration_since(c.made_at) < anchoring.every
        }) {
            return Ok(None);
        }
        let checkpoint =
            anchoring
                .key
                .sign((head_seq, &head_hash), (anchor_seq, &anchor_hash), now);
        self.store.record_checkpoint(&checkpoint).await?;
        if let Some(dir) = &anchoring.dir {
            let path = dir.join(format!("checkpoint-{head_seq}.json"));
            let written = serde_json::to_vec_pretty(&checkpoint)
                .map_err(std::io::Error::other)
                .and_then(|text| std::fs::write(&path, text));
            if let Err(error) = written {
                tracing::error!(%error, path = %path.display(), "writing the audit checkpoint failed");
            }
        }
        tracing::info!(head_seq, "audit log checkpoint signed");
        Ok(Some(checkpoint))
    }

    /// The newest checkpoint head whose signature verifies with the anchor key (0: none).
    async fn signed_through(&self) -> Result<u64, StoreError> {
        let Some(anchoring) = &self.anchoring else {
            return Ok(0);
        };
        let trusted = anchoring.key.trusted();
        Ok(self
            .store
            .checkpoints(50)
            .await?
            .iter()
            .filter(|c| trusted.verifies(c).is_ok())
            .map(|c| c.head_seq)
            .max()
            .unwrap_or(0))
    }

    /// Deletes what is older than the retention and finished: deliveries with their message
    /// bodies, timers, and the receipts of received messages (`Store::prune_finished`).
    /// Closed cases and audit records after their own retentions (`Store::prune_closed_cases`,
    /// `Store::prune_audit`).
    pub async fn prune(&self) -> Result<crate::store::Pruned, StoreError> {
        let now = self.clock.now();
        let mut pruned = match self.retention {
            Some(retention) => self.store.prune_finished(now - retention, 5_000).await?,
            None => Default::default(),
        };
        if let Some(retention) = self.case_retention {
            const PAGE: u32 = 200;
            loop {
                let done = self
                    .store
                    .prune_closed_cases(now - retention, now, PAGE)
                    .await?;
                pruned.cases += done;
                if done < u64::from(PAGE) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        if let Some(retention) = self.audit_retention {
            const PAGE: u32 = 10_000;
            let signed_through = self.signed_through().await?;
            loop {
                let done = self
                    .store
                    .prune_audit(now - retention, now, PAGE, signed_through)
                    .await?;
                pruned.audit_records += done;
                if done < u64::from(PAGE) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(pruned)
    }

    /// Settles finished deliveries as they come, many in one transaction, until every sender
    /// is gone.
    async fn settler(
        self,
        mut finished: tokio::sync::mpsc::UnboundedReceiver<(OutboxItem, Delivered)>,
    ) {
        let mut batch = Vec::with_capacity(256);
        while finished.recv_many(&mut batch, 256).await > 0 {
            let now = self.clock.now();
            let settlements: Vec<Settlement> = batch
                .iter()
                .filter_map(|(item, outcome)| {
                    let (status, next_attempt_at, error, finished_at) = match outcome {
                        Delivered::Done => ("delivered", None, None, Some(now)),
                        Delivered::Retry {
                            at,
                            error,
                            maybe_reached,
                        } => (
                            if *maybe_reached {
                                "unanswered"
                            } else {
                                "pending"
                            },
                            Some(*at),
                            Some(error.clone()),
                            None,
                        ),
                        Delivered::Dead { reason } => {
                            ("dead", None, Some(reason.clone()), Some(now))
                        }
                        // Handed back as it was: its attempt uncounted, its schedule kept.
                        Delivered::Held => ("held", None, None, None),
                        Delivered::Lost => return None,
                    };
                    Some(Settlement {
                        id: item.id,
                        status,
                        next_attempt_at,
                        error,
                        finished_at,
                    })
                })
                .collect();
            match self
                .committer
                .settle_outbox_batch(&self.worker, &settlements)
                .await
            {
                Ok(held) => {
                    for (item, _) in &batch {
                        self.in_flight.remove(item.id);
                    }
                    // A settled row lets its case's next row for the same subscription go.
                    self.ready.notify_one();
                    let mut held = held.into_iter();
                    for (item, outcome) in batch.drain(..) {
                        let outcome = match outcome {
                            Delivered::Lost => Delivered::Lost,
                            other if held.next().unwrap_or(false) => other,
                            _ => Delivered::Lost,
                        };
                        log(&item, &outcome);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, rows = batch.len(), "settling deliveries failed; their leases will return them");
                    for (item, _) in &batch {
                        self.in_flight.remove(item.id);
                    }
                    batch.clear();
                }
            }
        }
    }
}

fn log(item: &OutboxItem, outcome: &Delivered) {
    {
        match &outcome {
            Delivered::Done => {
                tracing::info!(destination = item.destination, case_id = %item.case_id, event_id = %item.event_id, seq = item.event_seq, "delivered")
            }
            Delivered::Retry { error, .. } => {
                tracing::warn!(destination = item.destination, case_id = %item.case_id, event_id = %item.event_id, seq = item.event_seq, attempts = item.attempts, %error, "delivery failed; will retry")
            }
            Delivered::Dead { reason } => {
                tracing::error!(destination = item.destination, case_id = %item.case_id, event_id = %item.event_id, seq = item.event_seq, %reason, "delivery dead-lettered")
            }
            Delivered::Lost => {
                tracing::warn!(destination = item.destination, case_id = %item.case_id, event_id = %item.event_id, seq = item.event_seq, "a delivery's claim was lost (its lease ended); another attempt will settle it")
            }
            Delivered::Held => {}
        }
    }
}

impl Deliverer {
    /// Runs until `stop` turns true: delivers what is due at start, then keeps claiming as
    /// deliveries finish, polling when there is nothing to do; prunes finished deliveries
    /// every hour. Deliveries in flight at the stop finish or return with their lease.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.batch.max(1) as usize));
        let (settled, finished) = tokio::sync::mpsc::unbounded_channel();
        let settler = tokio::spawn(self.clone().settler(finished));
        let renewer = tokio::spawn(self.clone().renew_leases(stop.clone()));
        // By the gateway's clock, so that a replay on a virtual clock prunes as time passes.
        let mut last_prune: Option<Timestamp> = None;
        let mut last_reload = std::time::Instant::now();
        let mut last_claim: Option<std::time::Instant> = None;
        loop {
            if last_reload.elapsed() > RELOAD {
                if let Err(error) = self.reload_subscriptions().await {
                    tracing::error!(%error, "reading the API subscriptions failed; keeping those in force");
                }
                last_reload = std::time::Instant::now();
            }
            self.heartbeats();
            self.watch_paused().await;
            let now = self.clock.now();
            if last_prune.is_none_or(|at| now.duration_since(at) >= PRUNE_EVERY) {
                if let Err(error) = self.checkpoint().await {
                    tracing::error!(%error, "signing an audit checkpoint failed");
                }
                match self.prune().await {
                    Ok(pruned) if pruned.total() == 0 => {}
                    Ok(pruned) => tracing::info!(
                        deliveries = pruned.deliveries,
                        timers = pruned.timers,
                        receipts = pruned.receipts,
                        cases = pruned.cases,
                        audit_records = pruned.audit_records,
                        "retention: finished rows, closed cases and old audit records pruned"
                    ),
                    Err(error) => tracing::error!(%error, "pruning finished rows failed"),
                }
                last_prune = Some(now);
            }
            let gap = claim_gap(self.committer.saturated());
            if let Some(wait) = last_claim.and_then(|at| gap.checked_sub(at.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            last_claim = Some(std::time::Instant::now());
            // Saturation looked at again: the wait may have ended it.
            let limit = claim_limit(
                permits.available_permits() as u32,
                self.committer.saturated(),
            );
            let started = match self.start_due(limit, &permits, &settled).await {
                Ok(n) => n,
                Err(error) => {
                    tracing::error!(%error, "claiming deliveries failed; trying again");
                    0
                }
            };
            // A claim that took as many rows as it could may have left more due: claim again
            // once permits are free. One that took fewer took every row due.
            if started > 0 && started == limit as usize && permits.available_permits() > 0 {
                continue;
            }
            // Every permit in use: claim again as soon as a delivery ends.
            let full = permits.available_permits() == 0;
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = self.ready.notified() => {}
                _ = permits.acquire(), if full => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                // Deliveries in flight hold a sender each: the settler ends after them.
                drop(settled);
                let _ = settler.await;
                let _ = renewer.await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the writer is saturated a claim takes at most 16 rows, 50 ms after the last;
    /// otherwise every free permit's worth, 5 ms after.
    #[test]
    fn claims_give_way_while_the_writer_is_saturated() {
        assert_eq!(
            (claim_limit(64, false), claim_gap(false)),
            (64, Duration::from_millis(5))
        );
        assert_eq!(
            (claim_limit(64, true), claim_gap(true)),
            (16, Duration::from_millis(50))
        );
        assert_eq!(claim_limit(3, true), 3);
    }

    #[test]
    fn backoff_grows_by_doubling_is_capped_and_drawn_below_its_ceiling() {
        let policy = RetryPolicy {
            initial_delay_seconds: 2,
            max_delay_seconds: 60,
            max_age_hours: 1,
        };
        for _ in 0..200 {
            assert!(backoff(&policy, 1) <= Duration::from_secs(2));
            assert!(backoff(&policy, 3) <= Duration::from_secs(8));
            assert!(backoff(&policy, 40) <= Duration::from_secs(60));
        }
        // Full jitter: the waits differ.
        let draws: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff(&policy, 10)).collect();
        assert!(draws.len() > 10);
    }
}
