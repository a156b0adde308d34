//! Prometheus metrics at `/metrics`: request counts and latency by route and status; the steps
//! received by format and kind and refused by format and reason (counted here, as they
//! arrive); deliveries by outcome and their latency (counted by the delivery workers into the
//! same registry, `telemetry::Metrics`); each circuit breaker's state; and, read from the
//! store at each scrape, each subscription's queue, the timers, the deviations waiting by
//! principal, the database's size and the build. The names and their meaning are tabled in
//! `deploy/README.md`. Labels never carry personal data: formats, kinds, reasons,
//! subscription names and principals only.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use crate::telemetry::Metrics as HttpMetrics;

/// What the HTTP layer counts about the steps it receives.
impl HttpMetrics {
    /// A step accepted from `format` (`cosmic-link`, `canonical`, `fhir`, `municipal:<dialect>`).
    pub fn received(&self, format: &str, kind: &str) {
        let labels = [("format", format.to_owned()), ("kind", kind.to_owned())];
        self.record(|| metrics::counter!("brygga_steps_received_total", &labels).increment(1));
    }

    /// A step refused from `format`, by the class of its refusal.
    pub fn refused(&self, format: &str, error: &super::ApiError) {
        self.refused_with(format, error.status());
    }

    /// A step refused from `format` with `status`.
    pub fn refused_with(&self, format: &str, status: axum::http::StatusCode) {
        let reason = match status.as_u16() {
            400 => "invalid",
            401 => "unauthenticated",
            403 => "forbidden",
            404 => "unknown_case",
            409 => "conflict",
            413 => "too_large",
            415 => "media_type",
            422 => "unprocessable",
            503 => "unavailable",
            _ => "other",
        };
        let labels = [("format", format.to_owned()), ("reason", reason.to_owned())];
        self.record(|| metrics::counter!("brygga_steps_refused_total", &labels).increment(1));
    }

    /// Counts `result` of receiving a step from `format` (and puts an accepted step's case and
    /// event on the request's log lines).
    pub fn step(&self, format: &str, result: &Result<crate::pipeline::Receipt, super::ApiError>) {
        match result {
            Ok(receipt) => {
                super::middleware::record_step(receipt);
                self.received(format, &receipt.kind);
            }
            Err(error) => self.refused(format, error),
        }
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

/// Appends one gauge family (`# HELP`, `# TYPE`, samples) to `out`.
fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A label set `{name="value",…}`, values escaped as the text format requires.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The gauges read from the store (`Store::operations`), in the text format.
pub fn operations_text(operations: &crate::store::Operations) -> String {
    let mut out = String::new();
    let age = |at: Option<jiff::Timestamp>| {
        at.map_or(0.0, |at| {
            operations.at.duration_since(at).as_secs_f64().max(0.0)
        })
    };
    let per_queue = |value: &dyn Fn(&crate::store::QueueState) -> f64| -> Vec<(String, f64)> {
        operations
            .queues
            .iter()
            .map(|q| (labels(&[("subscription", &q.destination)]), value(q)))
            .collect()
    };
    gauge(
        &mut out,
        "brygga_outbox_pending",
        "Deliveries waiting, per subscription",
        &per_queue(&|q| q.pending as f64),
    );
    gauge(
        &mut out,
        "brygga_outbox_oldest_pending_age_seconds",
        "Age of the oldest delivery waiting, per subscription (0 when none waits)",
        &per_queue(&|q| age(q.oldest_pending)),
    );
    gauge(
        &mut out,
        "brygga_outbox_dead",
        "Dead letters, per subscription",
        &per_queue(&|q| q.dead as f64),
    );
    gauge(
        &mut out,
        "brygga_outbox_delivered",
        "Deliveries made and still kept (retention prunes them), per subscription",
        &per_queue(&|q| q.delivered as f64),
    );
    gauge(
        &mut out,
        "brygga_dead_letters",
        "Dead letters, all subscriptions",
        &[(
            String::new(),
            operations.queues.iter().map(|q| q.dead).sum::<u64>() as f64,
        )],
    );
    gauge(
        &mut out,
        "brygga_timers_pending",
        "Deadline timers not yet fired",
        &[(String::new(), operations.timers_pending as f64)],
    );
    gauge(
        &mut out,
        "brygga_timers_overdue",
        "Pending timers already due: the timer workers' lag",
        &[(String::new(), operations.timers_overdue as f64)],
    );
    gauge(
        &mut out,
        "brygga_timer_lag_seconds",
        "How long the longest-overdue pending timer has been due (0 when none is)",
        &[(String::new(), age(operations.oldest_overdue))],
    );
    for (name, help, value) in [
        (
            "brygga_deviations_unanswered",
            "Deviations waiting for an answer, per principal addressed",
            (|d: &crate::store::DeviationState| d.unanswered)
                as fn(&crate::store::DeviationState) -> u64,
        ),
        (
            "brygga_deviations_unacknowledged",
            "Unanswered deviations not yet acknowledged, per principal addressed",
            |d| d.unacknowledged,
        ),
        (
            "brygga_deviations_escalated",
            "Unanswered deviations reminded at least once, per principal addressed",
            |d| d.escalated,
        ),
    ] {
        let samples: Vec<(String, f64)> = ["region", "municipality"]
            .iter()
            .map(|principal| {
                let n = operations
                    .deviations
                    .iter()
                    .find(|d| d.principal == *principal)
                    .map_or(0, value);
                (labels(&[("principal", principal)]), n as f64)
            })
            .collect();
        gauge(&mut out, name, help, &samples);
    }
    gauge(
        &mut out,
        "brygga_database_bytes",
        "Size of the database",
        &[(String::new(), operations.database_bytes as f64)],
    );
    gauge(
        &mut out,
        "brygga_build_info",
        "The running build (always 1)",
        &[(
            labels(&[
                ("version", env!("CARGO_PKG_VERSION")),
                (
                    "commit",
                    option_env!("BUILD_GIT_COMMIT").unwrap_or("unknown"),
                ),
            ]),
            1.0,
        )],
    );
    out
}

/// `GET /metrics` in the Prometheus text format: what this instance counted, then the state
/// read from the store (shared by every instance on one database). A store that cannot be
/// read leaves its gauges out and says so in `brygga_store_readable`.
pub async fn render(
    metrics: HttpMetrics,
    pipeline: crate::pipeline::Pipeline,
    breakers: crate::delivery::Breakers,
) -> impl IntoResponse {
    let mut text = metrics.render();
    let states: Vec<(String, f64)> = breakers
        .states(pipeline.clock.now())
        .into_iter()
        .map(|(name, state)| (labels(&[("subscription", &name)]), f64::from(state)))
        .collect();
    gauge(
        &mut text,
        "brygga_circuit_state",
        "This instance's circuit breaker per subscription it has sent to: 0 closed, 1 open, 2 half-open",
        &states,
    );
    // As `/ready` answers: the database answers and carries every migration this build knows.
    let ready = matches!(pipeline.store.readiness().await, Ok(r) if r.is_ready());
    gauge(
        &mut text,
        "brygga_ready",
        "Whether this instance is ready (as /ready answers): 1 ready, 0 not",
        &[(String::new(), f64::from(u8::from(ready)))],
    );
    match pipeline.store.operations(pipeline.clock.now()).await {
        Ok(operations) => {
            text.push_str(&operations_text(&operations));
            gauge(
                &mut text,
                "brygga_store_readable",
                "Whether the store answered this scrape",
                &[(String::new(), 1.0)],
            );
        }
        Err(error) => {
            tracing::warn!(error = %error, "metrics: the store could not be read");
            gauge(
                &mut text,
                "brygga_store_readable",
                "Whether the store answered this scrape",
                &[(String::new(), 0.0)],
            );
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
}
