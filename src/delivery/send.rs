//! One attempt at one delivery: the released message encoded in its subscription's format
//! (a FHIR notification Bundle, Cosmic Link, a municipal dialect, canonical JSON), POSTed with
//! its idempotency key and sequence number, and the answer judged; subscription handshakes and
//! heartbeats. Nothing is settled here: the worker settles what an attempt answers.

use std::time::Duration;

use jiff::SignedDuration;
use serde_json::Value;

use super::fhir::{self, Kind, Notified};
use super::subscriptions::Subscription;
use super::worker::*;
use crate::formats::translate;
use crate::store::{OutboxItem, StoreError};

impl Deliverer {
    /// Makes one attempt at `item` (nothing is settled here).
    pub async fn deliver(&self, item: &OutboxItem) -> Delivered {
        let subscriptions = self.subscriptions.current();
        let Some(subscription) = subscriptions.get(&item.destination) else {
            return Delivered::Dead {
                reason: format!(
                    "subscription {:?} is no longer configured",
                    item.destination
                ),
            };
        };
        if !subscription.active {
            return Delivered::Dead {
                reason: "the subscription is off; redeliver once it is active again".to_owned(),
            };
        }
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
        let body = match self.encode(subscription, item, &payload) {
            Ok(body) => body,
            Err(e) => {
                return Delivered::Dead {
                    reason: format!("{} cannot carry this message: {e}", subscription.format),
                };
            }
        };
        let outcome = self.post(subscription, item, body).await;
        if outcome == Delivered::Done {
            self.last_sent.mark(&subscription.id, self.clock.now());
        }
        outcome
    }

    /// The body of `item` in its subscription's format, with its media type: for `fhir`, an
    /// event notification (the Subscriptions backport) around the rendered resources; for a
    /// municipal dialect, in the encoding the dialect writes.
    fn encode(
        &self,
        subscription: &Subscription,
        item: &OutboxItem,
        payload: &Payload,
    ) -> Result<(Vec<u8>, String), translate::TranslateError> {
        if subscription.format != translate::Format::Fhir {
            let written = translate::write(
                &subscription.format,
                &payload.message,
                &self.mappings,
                self.clock.today(),
            )?;
            return translate::sent(&subscription.format, written, &self.mappings);
        }
        let bundle = translate::fhir_bundle(&payload.message, &self.mappings)?;
        let number = item.event_number.unwrap_or(item.id as u64);
        let notification = fhir::notification(
            subscription,
            Kind::EventNotification,
            "active",
            number,
            Some(Notified {
                number,
                at: payload.message.event.occurred_at,
                bundle: &bundle,
            }),
            self.clock.now(),
        );
        let body = serde_json::to_string(&notification)? + "\n";
        Ok((
            body.into_bytes(),
            subscription.format.media_type().to_owned(),
        ))
    }

    /// Sends `subscription` a handshake (the backport's check that the endpoint answers),
    /// as a subscription `requested`: `Err` with the reason when it does not answer 2xx.
    pub async fn handshake(&self, subscription: &Subscription) -> Result<(), String> {
        // Made while the client waits for its answer: at most HANDSHAKE_TIMEOUT, well within
        // the server's request timeout, whatever the subscription's own timeout.
        let mut subscription = subscription.clone();
        subscription.timeout = subscription.timeout.min(HANDSHAKE_TIMEOUT);
        let subscription = &subscription;
        let events = self
            .store
            .subscription_events(&subscription.id)
            .await
            .map_err(|e| e.to_string())?;
        let body = fhir::notification(
            subscription,
            Kind::Handshake,
            "requested",
            events,
            None,
            self.clock.now(),
        );
        self.notify(subscription, &body).await?;
        self.last_sent.mark(&subscription.id, self.clock.now());
        Ok(())
    }

    /// Sends `subscription` a status-only notification (handshake, heartbeat) once, without
    /// retrying: `Err` with the reason unless the receiver answers 2xx.
    async fn notify(&self, subscription: &Subscription, body: &Value) -> Result<(), String> {
        let media_type = subscription.format.media_type().to_owned();
        match self
            .request(subscription, body.to_string().into_bytes(), media_type)
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the endpoint answered {}", response.status())),
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {} s",
                subscription.timeout.as_secs()
            )),
            Err(e) if e.is_connect() => Err(format!("cannot connect: {}", without_url(&e))),
            Err(e) => Err(without_url(&e)),
        }
    }

    /// Sends a heartbeat to every `fhir` subscription in force whose heartbeat period passed
    /// with nothing sent; each in its own task.
    pub(super) fn heartbeats(&self) {
        let now = self.clock.now();
        for subscription in self.subscriptions.current().0.iter() {
            let Some(period) = subscription.notifications.heartbeat else {
                continue;
            };
            if subscription.format != translate::Format::Fhir
                || !subscription.takes_events(now)
                || !self.last_sent.take_due(&subscription.id, now - period, now)
            {
                continue;
            }
            let this = self.clone();
            let subscription = subscription.clone();
            tokio::spawn(async move {
                let events = this
                    .store
                    .subscription_events(&subscription.id)
                    .await
                    .unwrap_or_default();
                let body = fhir::notification(
                    &subscription,
                    Kind::Heartbeat,
                    "active",
                    events,
                    None,
                    this.clock.now(),
                );
                if let Err(error) = this.notify(&subscription, &body).await {
                    tracing::warn!(subscription = subscription.id, %error, "a heartbeat was not received");
                }
            });
        }
    }

    /// Puts the API subscriptions stored now in force beside the file's.
    pub async fn reload_subscriptions(&self) -> Result<(), StoreError> {
        let mut managed = Vec::new();
        for stored in self.store.all_subscriptions().await? {
            match fhir::subscription(&stored) {
                Ok(subscription) => managed.push(subscription),
                Err(error) => {
                    tracing::error!(id = stored.id, %error, "a stored subscription cannot be read; it is not in force")
                }
            }
        }
        self.subscriptions.set_managed(managed);
        Ok(())
    }

    /// A POST of `body` to `subscription`'s endpoint: its own HTTP client if it has one, its
    /// timeout, the body's media type, its bearer token and headers.
    fn request(
        &self,
        subscription: &Subscription,
        body: Vec<u8>,
        media_type: String,
    ) -> reqwest::RequestBuilder {
        let mut request = subscription
            .http
            .as_ref()
            .unwrap_or(&self.http)
            .post(subscription.endpoint.clone())
            .timeout(subscription.timeout)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(body);
        if let Some(token) = &subscription.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        for (name, value) in &subscription.headers {
            request = request.header(name.as_str(), value.expose());
        }
        request
    }

    async fn post(
        &self,
        subscription: &Subscription,
        item: &OutboxItem,
        (body, media_type): (Vec<u8>, String),
    ) -> Delivered {
        let request = self
            .request(subscription, body, media_type)
            // The delivery span's trace context, when traces are exported.
            .headers(crate::telemetry::trace_headers())
            .header("idempotency-key", item.idempotency_key.as_str())
            .header("x-brygga-case", item.case_id.to_string())
            .header("x-brygga-event", item.event_id.to_string())
            .header("x-brygga-sequence", item.event_seq.to_string())
            // Which attempt this is, and whether an earlier one may have reached the receiver
            // unrecorded: a receiver drops a repeated idempotency key either way.
            .header("x-brygga-attempt", item.attempts.to_string())
            .header(
                "x-brygga-possibly-delivered",
                if item.possibly_delivered {
                    "true"
                } else {
                    "false"
                },
            );
        let retry = |error: String, at_least: Option<Duration>, maybe_reached: bool| {
            let wait =
                backoff(&subscription.retry, item.attempts).max(at_least.unwrap_or_default());
            Delivered::Retry {
                at: self.clock.now()
                    + SignedDuration::try_from(wait).unwrap_or(SignedDuration::ZERO),
                error,
                maybe_reached,
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
                    // An answer that is not 2xx says it was not stored.
                    retry(
                        format!("the receiver answered {status}"),
                        retry_after(&response),
                        false,
                    )
                } else {
                    Delivered::Dead {
                        reason: format!("the receiver refused it: {status}"),
                    }
                }
            }
            // Before the timeout: a connection that timed out never carried the request.
            Err(e) if e.is_connect() => {
                retry(format!("cannot connect: {}", without_url(&e)), None, false)
            }
            Err(e) if e.is_timeout() => retry(
                format!("no answer within {} s", subscription.timeout.as_secs()),
                None,
                true,
            ),
            // The connection broke somewhere between sending and answering.
            Err(e) => retry(without_url(&e), None, true),
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
