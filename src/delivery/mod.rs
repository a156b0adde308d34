//! Delivery: subscriptions (who receives what, where, in which format) and the workers that
//! deliver the outbox rows the commit wrote — with an idempotency key and the event's sequence
//! number, in order per case and destination, retried with backoff and full jitter, and moved
//! to the dead letters after the subscription's maximum age.

mod subscriptions;
mod worker;

pub use subscriptions::{RetryPolicy, Subscription, Subscriptions, load_subscriptions};
pub use worker::{Breakers, Delivered, Deliverer, Payload, backoff};
