//! The HTTP service in-process: health, readiness, metrics, request ids, error bodies, limits.

use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn health_answers_ok_with_a_generated_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "region-jh-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "region-jh-4711");
}

#[tokio::test]
async fn ready_reports_the_database_and_its_migrations() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "sqlite");
    assert_eq!(body["migrations"]["applied"], body["migrations"]["known"]);
}

#[tokio::test]
async fn ready_is_503_until_migrations_are_applied() {
    let app = spawn_app_with(|s| s.database.migrate_on_start = false).await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["reason"].as_str().unwrap().contains("brygga migrate"),
        "{body}"
    );

    app.store.migrate().await.unwrap();
    assert_eq!(
        app.client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn ready_is_503_when_the_database_does_not_answer_while_health_stays_ok() {
    let app = spawn_app().await;
    app.store.close().await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["code"], "transient");
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.client.get(app.url("/health")).send().await.unwrap();
    }
    app.client
        .get(app.url("/no-such-thing"))
        .send()
        .await
        .unwrap();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains("no-such-thing"),
        "concrete paths never become labels"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_an_operation_outcome() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/fhir/Observation"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["severity"], "error");

    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_and_says_which_setting() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 1024).await;
    let response = app
        .client
        .post(app.url("/health"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["issue"][0]["code"], "too-costly");
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("body_limit_bytes")
    );
}

#[tokio::test]
async fn headers_too_many_or_too_large_answer_431_with_an_operation_outcome() {
    let app = spawn_app().await;
    let large = "x".repeat(40 * 1024);
    let too_many: Vec<(String, String)> = (0..80)
        .map(|i| (format!("x-extra-{i}"), "1".to_owned()))
        .collect();
    for (label, headers, says) in [
        ("large", vec![("x-large".to_owned(), large)], "bytes"),
        ("many", too_many, "header fields"),
    ] {
        let mut request = app.client.get(app.url("/fhir/metadata"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 431, "{label}");
        assert_eq!(response.headers()["content-type"], "application/fhir+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["resourceType"], "OperationOutcome", "{label}");
        assert_eq!(body["issue"][0]["code"], "too-long", "{label}");
        assert!(
            body["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(says),
            "{label}: {body}"
        );
    }
    // Within the limits, the same request is answered.
    let response = app
        .client
        .get(app.url("/fhir/metadata"))
        .header("x-large", "x".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_request_over_the_time_limit_answers_408_with_an_operation_outcome() {
    use axum::routing::get;
    use brygga::config::ServerSettings;
    use brygga::http::{HttpMetrics, with_layers};

    let server = ServerSettings {
        request_timeout_seconds: 1,
        ..ServerSettings::default()
    };
    let routes = axum::Router::new().route(
        "/stuck",
        get(|| async {
            std::future::pending::<()>().await;
            "never"
        }),
    );
    let metrics = HttpMetrics::new();
    let app = with_layers(routes, metrics.clone(), &server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let response = reqwest::get(format!("http://{address}/stuck"))
        .await
        .unwrap();
    assert_eq!(response.status(), 408);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["issue"][0]["code"], "timeout");
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("request_timeout_seconds")
    );
    assert!(
        metrics
            .render()
            .contains(r#"route="/stuck",status="408"} 1"#)
    );
}
