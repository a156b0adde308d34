//! Prometheus metrics: request counts and latency histograms by route and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// The gateway's metrics registry. Each application has its own, so several can run in one
/// process (as in tests) without sharing counters.
#[derive(Clone)]
pub struct HttpMetrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl HttpMetrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("static, non-empty bucket list")
            .build_recorder();
        let handle = recorder.handle();
        HttpMetrics {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    /// Runs `f` with this registry as the metrics recorder.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts and times every request under its route template (never the concrete URI, which may
/// carry identifiers).
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    metrics.record(|| {
        let labels = [("method", method), ("route", route), ("status", status)];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed);
    });
    response
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(metrics): State<HttpMetrics>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics.render(),
    )
}
