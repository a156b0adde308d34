//! HTTP: the only module that knows axum. Routes, middleware, error bodies and serving.

mod audit;
mod audit_event;
mod auth;
mod canonical;
mod capture;
mod careplan;
mod case_resources;
mod consent;
mod cosmic_link;
mod deliveries;
mod deviations;
mod error;
mod fhir;
mod health;
mod metadata;
mod metrics;
mod middleware;
mod municipal;
mod patient;
mod router;
mod search;
mod serve;
mod stats;
mod stored;
mod subscription;
mod task;
mod test_clock;
mod tls;
mod transaction;
mod translate;

pub use capture::{CaptureServer, Captured};
pub use error::ApiError;
pub use metrics::HttpMetrics;
pub use router::{AppState, router, with_layers};
pub use serve::{Bound, serve, shutdown_signal};
pub use tls::{Peer, TlsListener, server_config};
