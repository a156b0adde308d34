//! OpenTelemetry traces over OTLP/HTTP, sent to a local OTLP receiver: a request's server span
//! follows the caller's `traceparent` and carries the step's case and event ids; the delivery
//! it causes is a client span whose trace context reaches the receiving system; and nothing
//! the spans carry is personal data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::helpers::{Gateway, cosmic_example, ostersund_subscription, receiver, repo_root};

/// An OTLP/HTTP traces endpoint on loopback that keeps every export it is sent.
struct Collector {
    url: String,
    exports: Arc<Mutex<Vec<Vec<u8>>>>,
    arrived: Arc<tokio::sync::Notify>,
}

async fn collector() -> Collector {
    let exports: Arc<Mutex<Vec<Vec<u8>>>> = Default::default();
    let arrived = Arc::new(tokio::sync::Notify::new());
    let (kept, told) = (exports.clone(), arrived.clone());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let (kept, told) = (kept.clone(), told.clone());
            async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                kept.lock().unwrap().push(body.to_vec());
                told.notify_waiters();
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Collector {
        url,
        exports,
        arrived,
    }
}

impl Collector {
    /// Every span exported so far.
    fn spans(&self) -> Vec<Span> {
        self.exports
            .lock()
            .unwrap()
            .iter()
            .flat_map(|body| {
                ExportTraceServiceRequest::decode(body.as_slice())
                    .expect("an OTLP protobuf export")
                    .resource_spans
            })
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    /// Waits (at most twenty seconds) until a span satisfies `wanted`.
    async fn span(&self, wanted: impl Fn(&Span) -> bool) -> Span {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrival = self.arrived.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if let Some(span) = self.spans().into_iter().find(&wanted) {
                return span;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrival).await.is_ok(),
                "no such span within twenty seconds; exported: {:?}",
                self.spans().iter().map(|s| &s.name).collect::<Vec<_>>()
            );
        }
    }
}

/// A span's attribute as text.
fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|value| match value {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(n) => n.to_string(),
            other => format!("{other:?}"),
        })
}

/// Posts the first Cosmic Link example with a caller's `traceparent`.
async fn post_traced(gateway: &Gateway, token: &str, traceparent: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(gateway.url("/cosmic-link/v1/messages"))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .header("traceparent", traceparent)
        .body(cosmic_example("01-inskrivningsmeddelande.xml"))
        .send()
        .await
        .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_the_callers_trace_and_nothing_personal() {
    let otlp = collector().await;
    let inbox = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let subscriptions = ostersund_subscription(dir.path(), &inbox.url, &["admission_notice"]);
    let mut gateway = Gateway::start(
        dir.path(),
        &[
            ("BRYGGA_TRACES__OTLP_ENDPOINT", otlp.url.as_str()),
            (
                "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
                subscriptions.as_str(),
            ),
            // The batch goes every 200 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );
    assert!(
        gateway
            .log
            .iter()
            .any(|l| l.contains("exporting traces over OTLP")),
        "{:?}",
        gateway.log
    );
    let token = gateway.region_token("traces").await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = post_traced(
        &gateway,
        &token,
        &format!("00-{caller_trace}-{caller_span}-01"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let receipt: serde_json::Value = response.json().await.unwrap();
    let case_id = receipt["case_id"].as_str().unwrap().to_owned();

    // The request: a server span in the caller's trace, under the caller's span, named by
    // the route template, with the step's ids and the status.
    let request = otlp
        .span(|s| s.name == "POST /cosmic-link/v1/messages")
        .await;
    assert_eq!(hex(&request.trace_id), caller_trace);
    assert_eq!(hex(&request.parent_span_id), caller_span);
    assert_eq!(request.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        attribute(&request, "case_id").as_deref(),
        Some(case_id.as_str())
    );
    assert!(attribute(&request, "event_id").is_some());
    assert_eq!(attribute(&request, "status").as_deref(), Some("200"));
    assert_eq!(
        attribute(&request, "route").as_deref(),
        Some("/cosmic-link/v1/messages")
    );

    // The delivery: a client span of the same case, whose context the receiver was sent.
    let delivery = otlp
        .span(|s| {
            s.name == "deliver ostersund" && attribute(s, "case_id").as_deref() == Some(&case_id)
        })
        .await;
    assert_eq!(delivery.kind, 3, "SPAN_KIND_CLIENT");
    let delivered = inbox.wait_for(1).await;
    let traceparent = delivered[0]
        .headers
        .get("traceparent")
        .expect("the delivery carries the trace context");
    assert!(
        traceparent.contains(&hex(&delivery.trace_id)),
        "{traceparent} is not of the delivery's trace {}",
        hex(&delivery.trace_id)
    );

    // Stopped, it sends what it still held; nothing exported names the person.
    gateway.terminate();
    assert!(gateway.wait_exit(Duration::from_secs(30)).is_some());
    let exported: Vec<u8> = otlp.exports.lock().unwrap().concat();
    let text = String::from_utf8_lossy(&exported);
    for personal in [
        "811218-9876",
        "8112189876",
        "Astrid",
        "Lindqvist",
        "Storgatan",
        "CL-2026-0001",
    ] {
        assert!(!text.contains(personal), "a span carries {personal}");
    }
    let resource = ExportTraceServiceRequest::decode(otlp.exports.lock().unwrap()[0].as_slice())
        .unwrap()
        .resource_spans[0]
        .resource
        .clone()
        .unwrap();
    assert!(
        resource.attributes.iter().any(|kv| kv.key == "service.name"
            && kv.value.as_ref().and_then(|v| v.value.clone())
                == Some(AnyValue::StringValue("brygga".to_owned()))),
        "{resource:?}"
    );
}

/// Without an endpoint nothing is exported and deliveries carry no trace headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_deliveries_carry_no_trace_context() {
    let inbox = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let subscriptions = ostersund_subscription(dir.path(), &inbox.url, &["admission_notice"]);
    let mut gateway = Gateway::start(
        dir.path(),
        &[(
            "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
            subscriptions.as_str(),
        )],
    );
    assert!(gateway.wait_for_log("brygga is serving", Duration::from_secs(60)));
    assert!(
        !gateway.log.iter().any(|l| l.contains("exporting traces")),
        "{:?}",
        gateway.log
    );
    let token = gateway.region_token("no-traces").await;
    let response = post_traced(
        &gateway,
        &token,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    .await;
    assert_eq!(response.status(), 200);
    let delivered = inbox.wait_for(1).await;
    assert!(!delivered[0].headers.contains_key("traceparent"));
    gateway.terminate();
    assert!(gateway.wait_exit(Duration::from_secs(30)).is_some());
}

#[test]
fn a_bad_otlp_endpoint_is_named_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["check-config", "--config"])
        .arg(repo_root().join("deploy/config/brygga.toml"))
        .env(
            "BRYGGA_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("b.db").display()),
        )
        .env("BRYGGA_TRACES__OTLP_ENDPOINT", "collector:4318")
        .env("BRYGGA_TRACES__SAMPLE_RATIO", "2")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("traces.otlp_endpoint"), "{said}");
    assert!(
        said.contains("traces.sample_ratio must be between 0.0 and 1.0, not 2"),
        "{said}"
    );
}
