//! Delivery: subscriptions (who receives what, where, in which format) and the workers that
//! deliver the outbox rows the commit wrote — with an idempotency key and the event's sequence
//! number, in order per case and destination, retried with backoff and full jitter, and moved
//! to the dead letters after the subscription's maximum age.

mod breaker;
pub mod fhir;
mod held;
mod late;
mod paused;
mod send;
mod subscriptions;
mod worker;

pub use breaker::Breakers;
pub use held::Held;
pub use paused::Paused;
pub use subscriptions::{
    Content, Live, Notifications, RetryPolicy, Subscription, Subscriptions, load_subscriptions,
};
pub use worker::{Anchoring, Delivered, Deliverer, Payload, backoff};

/// The HTTP client settings every delivery call shares (rustls; the product's user agent).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(concat!("brygga/", env!("CARGO_PKG_VERSION")))
}
