//! Structured logging with `tracing`: human-readable or JSON lines, filter from configuration
//! or `RUST_LOG`. Log fields carry ids and statuses only, never personal data or bodies. And
//! the metrics registry every part of the gateway counts into (`/metrics`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Calling it again (as tests do) leaves the first in place.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Buckets for latencies, in seconds: from half a millisecond (an HTTP answer) to an hour (a
/// delivery retried until its receiver came back).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0, 3600.0,
];

/// The gateway's metrics registry. Each application has its own, so several can run in one
/// process (as in tests) without sharing counters; the HTTP layer, the delivery workers and the
/// timers count into the same one.
#[derive(Clone)]
pub struct Metrics {
    recorder: std::sync::Arc<metrics_exporter_prometheus::PrometheusRecorder>,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    /// Woken after each recording, for whoever waits for a count to change.
    recorded: std::sync::Arc<tokio::sync::Notify>,
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("static, non-empty bucket list")
            .build_recorder();
        let handle = recorder.handle();
        Metrics {
            recorder: std::sync::Arc::new(recorder),
            handle,
            recorded: Default::default(),
        }
    }

    /// Runs `f` with this registry as the metrics recorder.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        let out = metrics::with_local_recorder(self.recorder.as_ref(), f);
        self.recorded.notify_waiters();
        out
    }

    /// Resolves at the next recording after it is enabled (`Notified::enable`), so that a
    /// caller can check a count and then wait for it to change without missing a change.
    pub fn recorded(&self) -> tokio::sync::futures::Notified<'_> {
        self.recorded.notified()
    }

    /// What was counted, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
