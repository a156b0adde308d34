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

use super::subscriptions::{RetryPolicy, Subscription, Subscriptions};
use crate::clock::Clock;
use crate::formats::Mappings;
use crate::formats::canonical::CanonicalMessage;
use crate::formats::translate;
use crate::store::{OutboxItem, Store, StoreError};

/// How often an idle worker looks for due rows.
const POLL: Duration = Duration::from_millis(100);

/// An outbox row's payload: the released message and the decision that released it.
#[derive(Debug, Deserialize)]
pub struct Payload {
    pub message: CanonicalMessage,
    pub disclosure: serde_json::Value,
}

/// What became of one claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Done,
    Retry {
        at: Timestamp,
        error: String,
    },
    Dead {
        reason: String,
    },
    /// The claim was lost (the lease ended and another worker took the row): nothing settled.
    Lost,
}

/// Delivers the outbox.
#[derive(Clone)]
pub struct Deliverer {
    pub store: Store,
    pub subscriptions: Arc<Subscriptions>,
    pub mappings: Arc<Mappings>,
    pub clock: Clock,
    /// This instance's name in claims.
    pub worker: String,
    pub http: reqwest::Client,
    /// How long a claim holds: longer than the slowest subscription's timeout.
    pub lease: SignedDuration,
    /// Rows claimed at a time.
    pub batch: u32,
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

/// The `Retry-After` of an answer, in seconds (the HTTP-date form is not used by receivers
/// that matter here and is treated as absent).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl Deliverer {
    /// Claims due rows and delivers them concurrently; answers how many were settled.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let items = self
            .store
            .claim_outbox(&self.worker, now, self.lease, self.batch)
            .await?;
        let count = items.len();
        let mut tasks = tokio::task::JoinSet::new();
        for item in items {
            let this = self.clone();
            tasks.spawn(async move {
                let outcome = this.deliver(&item).await;
                this.settle(&item, outcome).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => return Err(error),
                Err(error) => tracing::error!(%error, "a delivery task failed"),
            }
        }
        Ok(count)
    }

    async fn settle(&self, item: &OutboxItem, outcome: Delivered) -> Result<Delivered, StoreError> {
        let now = self.clock.now();
        let settled = match &outcome {
            Delivered::Done => {
                self.store
                    .complete_outbox(item.id, &self.worker, now)
                    .await?
            }
            Delivered::Retry { at, error } => {
                self.store
                    .retry_outbox(item.id, &self.worker, *at, error)
                    .await?
            }
            Delivered::Dead { reason } => {
                self.store
                    .dead_letter_outbox(item.id, &self.worker, now, reason)
                    .await?
            }
            Delivered::Lost => false,
        };
        match &outcome {
            Delivered::Done => {
                tracing::info!(destination = item.destination, case = %item.case_id, seq = item.event_seq, "delivered")
            }
            Delivered::Retry { error, .. } => {
                tracing::warn!(destination = item.destination, case = %item.case_id, seq = item.event_seq, attempts = item.attempts, %error, "delivery failed; will retry")
            }
            Delivered::Dead { reason } => {
                tracing::error!(destination = item.destination, case = %item.case_id, seq = item.event_seq, %reason, "delivery dead-lettered")
            }
            Delivered::Lost => {}
        }
        Ok(if settled { outcome } else { Delivered::Lost })
    }

    /// Makes one attempt at `item` (nothing is settled here).
    pub async fn deliver(&self, item: &OutboxItem) -> Delivered {
        let Some(subscription) = self.subscriptions.get(&item.destination) else {
            return Delivered::Dead {
                reason: format!(
                    "subscription {:?} is no longer configured",
                    item.destination
                ),
            };
        };
        let now = self.clock.now();
        let age = now.duration_since(item.created_at);
        let max_age = SignedDuration::from_hours(subscription.retry.max_age_hours as i64);
        if age > max_age {
            return Delivered::Dead {
                reason: format!(
                    "still not delivered after {} hours (the subscription's max_age_hours)",
                    subscription.retry.max_age_hours
                ),
            };
        }
        let payload: Payload = match serde_json::from_str(&item.payload) {
            Ok(payload) => payload,
            Err(e) => {
                return Delivered::Dead {
                    reason: format!("the outbox payload cannot be read: {e}"),
                };
            }
        };
        let body = match translate::write(
            &subscription.format,
            &payload.message,
            &self.mappings,
            self.clock.today(),
        ) {
            Ok(body) => body,
            Err(e) => {
                return Delivered::Dead {
                    reason: format!("{} cannot carry this message: {e}", subscription.format),
                };
            }
        };
        self.post(subscription, item, body).await
    }

    async fn post(
        &self,
        subscription: &Subscription,
        item: &OutboxItem,
        body: String,
    ) -> Delivered {
        let mut request = self
            .http
            .post(subscription.endpoint.clone())
            .timeout(subscription.timeout)
            .header(
                reqwest::header::CONTENT_TYPE,
                subscription.format.media_type(),
            )
            .header("idempotency-key", &item.idempotency_key)
            .header("x-brygga-case", item.case_id.to_string())
            .header("x-brygga-event", item.event_id.to_string())
            .header("x-brygga-sequence", item.event_seq.to_string())
            .body(body);
        if let Some(token) = &subscription.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        let retry = |error: String, at_least: Option<Duration>| {
            let wait =
                backoff(&subscription.retry, item.attempts).max(at_least.unwrap_or_default());
            Delivered::Retry {
                at: self.clock.now()
                    + SignedDuration::try_from(wait).unwrap_or(SignedDuration::ZERO),
                error,
            }
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return Delivered::Done;
                }
                let transient =
                    matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error();
                if transient {
                    retry(
                        format!("the receiver answered {status}"),
                        retry_after(&response),
                    )
                } else {
                    Delivered::Dead {
                        reason: format!("the receiver refused it: {status}"),
                    }
                }
            }
            Err(e) if e.is_timeout() => retry(
                format!("no answer within {} s", subscription.timeout.as_secs()),
                None,
            ),
            Err(e) if e.is_connect() => retry(format!("cannot connect: {}", without_url(&e)), None),
            Err(e) => retry(without_url(&e), None),
        }
    }

    /// Runs until `stop` turns true: delivers what is due at start, then keeps polling.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let worked = match self.deliver_due().await {
                Ok(n) => n,
                Err(error) => {
                    tracing::error!(%error, "delivering the outbox failed; trying again");
                    0
                }
            };
            if worked > 0 {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// An HTTP error's text without its URL (a receiver's URL may carry a secret in its query).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<endpoint>");
    }
    text
}
