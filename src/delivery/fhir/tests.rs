//! Reading, showing and notifying FHIR subscriptions, checked.

use super::*;

fn official() -> Value {
    serde_json::from_str(include_str!(
        "../../../fixtures/fhir-r4-official/Subscription-example.json"
    ))
    .unwrap()
}

#[test]
fn the_official_r4_example_is_read_and_kept_silent() {
    let requested = read(&official(), |_| Ok(())).unwrap();
    assert!(requested.on);
    assert!(requested.silent, "the gateway sends no Observation");
    assert_eq!(requested.warnings.len(), 1);
    assert_eq!(requested.headers.len(), 1);
    assert_eq!(requested.headers[0].0, "authorization");
    assert_eq!(
        requested.headers[0].1.expose(),
        "Bearer secret-token-abc-123"
    );
    assert_eq!(requested.end, Some("2021-01-01T00:00:00Z".parse().unwrap()));
}

#[test]
fn backport_criteria_filter_by_event_kind() {
    let mut resource = official();
    resource["criteria"] = json!(TOPIC);
    resource["_criteria"] = json!({ "extension": [{
        "url": format!("{BACKPORT}{FILTER_CRITERIA}"),
        "valueString": "event=admission_notice,discharged",
    }]});
    let requested = read(&resource, |_| Ok(())).unwrap();
    assert_eq!(requested.events, ["admission_notice", "discharged"]);
    assert!(!requested.silent);
    resource["_criteria"]["extension"][0]["valueString"] = json!("event=admitted");
    let problem = read(&resource, |_| Ok(())).unwrap_err();
    assert!(
        problem
            .diagnostics
            .contains("\"admitted\" is not an event kind")
    );
    assert_eq!(problem.expression, "Subscription._criteria.extension");
}

#[test]
fn criteria_narrow_to_a_unit_and_a_patient() {
    let mut resource = official();
    resource["criteria"] = json!(
        "Task?event=admission_notice&unit=SE2120002411-BIST&patient=http://electronichealth.se/identifier/personnummer|198112189876"
    );
    let requested = read(&resource, |_| Ok(())).unwrap();
    assert_eq!(requested.events, ["admission_notice"]);
    assert_eq!(requested.unit.unwrap().as_str(), "SE2120002411-BIST");
    assert_eq!(requested.person.unwrap().value(), "198112189876");
    resource["criteria"] =
        json!("Task?patient=http://electronichealth.se/identifier/personnummer|8112189876");
    let problem = read(&resource, |_| Ok(())).unwrap_err();
    assert!(problem.diagnostics.contains("twelve digits"), "{problem:?}");
    resource["criteria"] = json!("Task?unit=not-an-hsa-id");
    assert!(read(&resource, |_| Ok(())).is_err());
}

#[test]
fn queries_on_resources_the_gateway_sends_become_event_kinds() {
    let mut resource = official();
    resource["criteria"] = json!("Consent");
    assert_eq!(
        read(&resource, |_| Ok(())).unwrap().events,
        ["consent_recorded", "consent_withdrawn"]
    );
    resource["criteria"] = json!("Task?event=sip_plan,consent_recorded");
    assert_eq!(read(&resource, |_| Ok(())).unwrap().events, ["sip_plan"]);
    resource["criteria"] = json!("Task?code=http://loinc.org|1975-2");
    let problem = read(&resource, |_| Ok(())).unwrap_err();
    assert!(problem.unsupported);
    assert!(problem.diagnostics.contains("\"code\""));
    resource["criteria"] = json!("https://example.org/SubscriptionTopic/admissions");
    assert!(read(&resource, |_| Ok(())).unwrap_err().unsupported);
}

#[test]
fn channel_problems_name_the_element() {
    let cases = [
        (
            "/channel/type",
            json!("websocket"),
            "Subscription.channel.type",
        ),
        (
            "/channel/payload",
            json!("application/fhir+xml"),
            "Subscription.channel.payload",
        ),
        (
            "/channel/endpoint",
            json!("ftp://example.org/x"),
            "Subscription.channel.endpoint",
        ),
        (
            "/channel/header",
            json!(["Content-Type: text/plain"]),
            "Subscription.channel.header[0]",
        ),
        (
            "/channel/header",
            json!(["no colon"]),
            "Subscription.channel.header[0]",
        ),
        ("/status", json!("error"), "Subscription.status"),
        ("/end", json!("tomorrow"), "Subscription.end"),
    ];
    for (pointer, value, expression) in cases {
        let mut resource = official();
        *resource.pointer_mut(pointer).unwrap() = value;
        let problem = read(&resource, |_| Ok(())).unwrap_err();
        assert_eq!(problem.expression, expression, "{pointer}");
    }
    let refused = read(&official(), |_| Err("not allowed".to_owned())).unwrap_err();
    assert_eq!(refused.diagnostics, "not allowed");
}

#[test]
fn payload_content_heartbeat_and_timeout_come_from_the_backport_extensions() {
    let mut resource = official();
    resource["channel"]["_payload"] = json!({ "extension": [{
        "url": format!("{BACKPORT}{PAYLOAD_CONTENT}"), "valueCode": "id-only" }]});
    resource["channel"]["extension"] = json!([
        { "url": format!("{BACKPORT}{HEARTBEAT_PERIOD}"), "valueUnsignedInt": 60 },
        { "url": format!("{BACKPORT}{TIMEOUT}"), "valueUnsignedInt": 600 },
    ]);
    let requested = read(&resource, |_| Ok(())).unwrap();
    assert_eq!(requested.notifications.content, Content::IdOnly);
    assert_eq!(
        requested.notifications.heartbeat,
        Some(SignedDuration::from_secs(60))
    );
    assert_eq!(requested.timeout, Duration::from_secs(MAX_TIMEOUT));
}

#[test]
fn a_masked_header_written_back_keeps_its_stored_value() {
    let before = official();
    let stored = StoredSubscription {
        id: "x".into(),
        organisation: "2380".into(),
        client_id: "c".into(),
        status: "active".into(),
        resource: before.clone(),
        error: None,
        version: 1,
        created_at: "2026-12-01T00:00:00Z".parse().unwrap(),
        updated_at: "2026-12-01T00:00:00Z".parse().unwrap(),
    };
    let mut shown = shown(&stored, "2020-06-01T00:00:00Z".parse().unwrap());
    assert_eq!(shown["channel"]["header"][0], "Authorization: ***");
    assert_eq!(shown["status"], "active");
    unmask(&mut shown, &before);
    assert_eq!(
        shown["channel"]["header"][0],
        "Authorization: Bearer secret-token-abc-123"
    );
    // After its end, it shows off.
    assert_eq!(
        status_at(&stored, "2021-01-01T00:00:00Z".parse().unwrap()),
        "off"
    );
}
