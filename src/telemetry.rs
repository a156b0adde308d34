//! Structured logging with `tracing`: human-readable or JSON lines, filter from configuration
//! or `RUST_LOG`. Log fields carry ids and statuses only, never personal data or bodies. The
//! same spans exported as OpenTelemetry traces over OTLP when `traces.otlp_endpoint` is set,
//! following a caller's W3C `traceparent` and passing one on with each delivery. And the
//! metrics registry every part of the gateway counts into (`/metrics`).

use std::io::IsTerminal;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings, TraceSettings};

/// Installs the global subscriber. Calling it again (as tests do) leaves the first in place.
pub fn init(settings: &LogSettings) {
    install(settings, None);
}

/// Installs the global subscriber of a serving gateway: the log, and with
/// `traces.otlp_endpoint` the export of its spans over OTLP. Keep the answer while serving:
/// dropped, it sends the spans still queued and stops the export.
pub fn init_serving(
    log: &LogSettings,
    traces: &TraceSettings,
    instance: &str,
) -> anyhow::Result<Traces> {
    let Some(endpoint) = &traces.otlp_endpoint else {
        install(log, None);
        return Ok(Traces(None));
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.as_str())
        .with_timeout(std::time::Duration::from_secs(traces.timeout_seconds))
        .build()
        .map_err(|e| anyhow::anyhow!("traces.otlp_endpoint {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(traces.service_name.clone())
        .with_attributes([
            opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            opentelemetry::KeyValue::new("service.instance.id", instance.to_owned()),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            traces.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    // Only the gateway's own spans: not those of the HTTP client that exports them.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("brygga"))
        .with_filter(
            tracing_subscriber::filter::Targets::new().with_target("brygga", tracing::Level::INFO),
        );
    install(log, Some(Box::new(layer)));
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    tracing::info!(endpoint = %endpoint, "exporting traces over OTLP");
    Ok(Traces(Some(provider)))
}

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn install(settings: &LogSettings, traces: Option<BoxedLayer>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt::layer()
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let log = match settings.format {
        LogFormat::Json => log
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => log.compact().with_filter(filter).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(traces)
        .with(log)
        .try_init();
}

/// The span export of a serving gateway (`init_serving`); dropping it flushes and stops it.
pub struct Traces(Option<SdkTracerProvider>);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

/// Reads a caller's `traceparent` (W3C Trace Context) from request headers.
pub struct HeaderExtractor<'a>(pub &'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Writes the current trace's `traceparent` into an outgoing request's headers.
pub struct HeaderInjector<'a>(pub &'a mut reqwest::header::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The W3C trace headers of the current span (none while traces are not exported), for a
/// request the gateway sends.
pub fn trace_headers() -> reqwest::header::HeaderMap {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut headers = reqwest::header::HeaderMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers))
    });
    headers
}

/// Makes `span` a child of the trace a caller's `traceparent` names, if it names one.
pub fn follow_caller(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    let _ = span.set_parent(parent);
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
