//! `[traces]`: OpenTelemetry trace export over OTLP/HTTP, off unless an endpoint is set.

use serde::{Deserialize, Serialize};

/// Where and how spans are exported (`crate::telemetry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// The OTLP/HTTP traces endpoint (protobuf), usually an OpenTelemetry Collector beside the
    /// gateway: `http://127.0.0.1:4318/v1/traces`. Unset: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// The spans' `service.name`.
    pub service_name: String,
    /// The share of new traces sampled, 0.0 to 1.0. A request whose `traceparent` says its
    /// caller sampled (or dropped) the trace is followed as the caller decided.
    pub sample_ratio: f64,
    /// How long one export may take before it is given up (seconds).
    pub timeout_seconds: u64,
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            otlp_endpoint: None,
            service_name: "brygga".to_owned(),
            sample_ratio: 1.0,
            timeout_seconds: 10,
        }
    }
}

impl TraceSettings {
    /// What is wrong with these settings, each as `traces.<key>: …`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(endpoint) = &self.otlp_endpoint {
            match url::Url::parse(endpoint) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                Ok(url) => problems.push(format!(
                    "traces.otlp_endpoint: {:?} is no http(s) URL with a host (scheme {:?})",
                    endpoint,
                    url.scheme()
                )),
                Err(error) => problems.push(format!(
                    "traces.otlp_endpoint: {endpoint:?} is no URL: {error}"
                )),
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            problems.push(format!(
                "traces.sample_ratio must be between 0.0 and 1.0, not {}",
                self.sample_ratio
            ));
        }
        if self.service_name.trim().is_empty() {
            problems.push("traces.service_name must not be empty".to_owned());
        }
        if self.timeout_seconds == 0 {
            problems.push("traces.timeout_seconds must be at least 1".to_owned());
        }
        problems
    }
}
