//! The attack suite: each hole an attack review found in the gateway's disclosure controls,
//! and the attacks it already withstood, as regression tests on both backends (SQLite and a
//! fresh PostgreSQL database), so that none can silently reopen. Each attack says what the
//! attacker tries and asserts what the gateway must answer and what it must not store.

use serde_json::{Value, json};

use crate::helpers::{Backend, OSTERSUND, REGION, TestApp, spawn_app_on};

on_both_backends!(
    duplicate_json_keys_are_refused_on_every_json_endpoint,
    steps_only_the_gateway_records_are_refused_from_clients,
    a_task_is_changed_only_by_its_stored_owner,
    a_plan_is_revised_only_by_its_stored_author,
    an_invitation_is_answered_only_by_a_party_it_invites,
    a_consent_is_recorded_only_by_a_principal_of_the_persons_cases,
    a_receiver_cannot_grant_itself_access,
    a_withdrawal_cannot_be_dated_ahead,
    a_case_of_ones_own_reveals_nothing_of_the_other_principal,
    unknown_and_foreign_cases_answer_alike,
    a_search_that_finds_nobody_is_audited,
    statistics_show_a_client_its_own_units_and_the_county_no_small_figures,
    a_cut_scope_takes_effect_at_once_on_every_instance_and_across_a_restart,
    a_rewritten_audit_log_is_found_by_its_signed_checkpoints,
    audit_records_are_pruned_only_below_a_signed_checkpoint,
    protected_identity_is_the_persons_in_every_case_and_format,
    protection_added_later_holds_until_lifted_by_a_principal_with_the_right,
    a_consent_does_not_open_a_case_of_its_own,
    forged_tokens_and_hostile_documents_are_refused_and_the_gateway_stays_whole,
);

const PNR_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";
const PERSONNUMMER: &str = "198112189876";

async fn app(backend: Backend) -> TestApp {
    spawn_app_on(backend, |_| {}).await
}

/// `client` sends `body` with `method` to `path`; the status and the body as JSON (or Null).
async fn send(
    app: &TestApp,
    client: &str,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = app
        .as_client(client)
        .await
        .request(method, app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn count(app: &TestApp, table: &str) -> u64 {
    app.store
        .table_counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(t, _)| *t == table)
        .map(|(_, n)| n)
        .unwrap_or_else(|| panic!("no table {table}"))
}

fn diagnostics(outcome: &Value) -> String {
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `{"type":"permit","type":"deny"}`: one reader would take permit, another deny. Every JSON
/// endpoint refuses a key named twice with 400, saying which, and stores nothing.
async fn duplicate_json_keys_are_refused_on_every_json_endpoint(backend: Backend) {
    let app = app(backend).await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let case = brygga::formats::canonical::CaseReference {
        issuer: "SE2321000214-1000".into(),
        value: "SA-2026-004711".into(),
    }
    .case_id();
    let received_before = count(&app, "received_messages").await;
    let consent = format!(
        r#"{{"resourceType": "Consent", "status": "active",
            "scope": {{"coding": [{{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}]}},
            "category": [{{"coding": [{{"system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": "sip"}}]}}],
            "patient": {{"identifier": {{"system": "{PNR_SYSTEM}", "value": "{PERSONNUMMER}"}}}},
            "dateTime": "2026-11-21",
            "provision": {{"type": "permit", "type": "deny"}}}}"#
    );
    let canonical = std::fs::read_to_string(
        crate::helpers::repo_root()
            .join("fixtures/cosmic-link/to-canonical/05-planering-paborjad.json"),
    )
    .unwrap()
    .replacen(
        "\"case\": {",
        "\"case\": {\"value\": \"SA-2026-004711\",",
        1,
    );
    let attempts: Vec<(&str, reqwest::Method, String, &str, String)> = vec![
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir/Consent".into(),
            "application/fhir+json",
            consent,
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir/Task".into(),
            "application/fhir+json",
            r#"{"resourceType": "Task", "status": "requested", "status": "completed", "intent": "order"}"#.into(),
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir/Subscription".into(),
            "application/fhir+json",
            r#"{"resourceType": "Subscription", "status": "requested", "reason": "x", "reason": "y", "criteria": "Task", "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:1/x", "payload": "application/fhir+json"}}"#.into(),
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir".into(),
            "application/fhir+json",
            r#"{"resourceType": "Bundle", "type": "transaction", "type": "batch", "entry": []}"#.into(),
        ),
        (
            REGION,
            reqwest::Method::POST,
            "/canonical/v1/messages".into(),
            "application/json",
            canonical,
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            format!("/cases/{case}/deviations"),
            "application/json",
            r#"{"by": {"type": "municipality", "kommunkod": "2380"}, "addressed_to": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"}, "description": "a", "description": "b"}"#.into(),
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/translate?from=canonical&to=fhir".into(),
            "application/json",
            r#"{"case": {}, "case": {}}"#.into(),
        ),
    ];
    for (client, method, path, content_type, body) in attempts {
        let (status, outcome) = send(&app, client, method, &path, content_type, body).await;
        assert_eq!(status, 400, "{path}: {outcome}");
        assert!(
            diagnostics(&outcome).contains("appears twice"),
            "{path}: {outcome}"
        );
    }
    assert_eq!(count(&app, "received_messages").await, received_before);
    assert_eq!(count(&app, "consents").await, 0);
    assert_eq!(count(&app, "fhir_subscriptions").await, 0);
}

/// A client posts a missed deadline (or a reminder, or a deviation with the gateway's
/// evidence) to blame another party: refused with 422, nothing stored. Whom the gateway blames
/// is decided from what it stored, never from a message.
async fn steps_only_the_gateway_records_are_refused_from_clients(backend: Backend) {
    let app = app(backend).await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    app.post_cosmic_example("08-utskrivningsklar.xml").await;
    // The gateway's own missed deadlines may fire meanwhile; what a client sends is counted by
    // the messages received.
    let received_before = count(&app, "received_messages").await;
    let case = json!({"issuer": "SE2321000214-1000", "value": "SA-2026-004711"});
    let person = json!({"system": "personnummer", "value": PERSONNUMMER});
    let forged = [
        json!({
            "kind": "deadline_missed",
            "id": uuid::Uuid::new_v4(),
            "occurred_at": "2026-11-28T08:00:00Z",
            "deadline": "sip_invitation",
            "due_at": "2026-11-27T23:00:00Z",
            "party": {"type": "municipality", "kommunkod": "2380"},
            "source": {"format": "canonical", "message_id": "forged-1"},
        }),
        json!({
            "kind": "deviation_raised",
            "id": uuid::Uuid::new_v4(),
            "occurred_at": "2026-11-28T08:00:00Z",
            "deviation_id": "AV-forged",
            "addressed_to": {"type": "municipality", "kommunkod": "2380"},
            "description": "SIP-kallelsen skickades inte i tid",
            "cause": "deadline_missed",
            "source": {"format": "canonical", "message_id": "forged-2",
                       "sender": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"}},
        }),
    ];
    for event in forged {
        let message = json!({"case": case, "person": person, "sent_at": "2026-11-28T08:00:00Z", "event": event});
        for client in [REGION, OSTERSUND] {
            let (status, outcome) = send(
                &app,
                client,
                reqwest::Method::POST,
                "/canonical/v1/messages",
                "application/json",
                message.to_string(),
            )
            .await;
            assert!(
                status == 422 || status == 403 || status == 400,
                "{client}: {status} {outcome}"
            );
            if client == REGION {
                assert_eq!(status, 422, "{outcome}");
                assert!(
                    diagnostics(&outcome).contains("recorded by the gateway itself"),
                    "{outcome}"
                );
            }
        }
    }
    assert_eq!(count(&app, "received_messages").await, received_before);
}

/// Posts the first story's Cosmic Link examples up to and including `last`.
async fn story_until(app: &TestApp, last: &str) {
    let dir = crate::helpers::repo_root().join("mappings/cosmic-link/examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        app.post_cosmic_example(&name).await;
        if name == last {
            return;
        }
    }
    panic!("no example {last}");
}

/// The Tasks of the first story's person that `client` reads, with `code`.
async fn tasks(app: &TestApp, client: &str, code: &str) -> Vec<Value> {
    let (status, bundle) = app
        .get_json(
            client,
            &format!("/fhir/Task?patient={PNR_SYSTEM}|{PERSONNUMMER}&code={code}&_count=100"),
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

fn owner_value(task: &Value) -> &str {
    task["owner"]["identifier"]["value"]
        .as_str()
        .unwrap_or_default()
}

async fn put_task(app: &TestApp, client: &str, task: &Value) -> (u16, Value) {
    let version = task["meta"]["versionId"].as_str().unwrap();
    let response = app
        .as_client(client)
        .await
        .put(app.url(&format!("/fhir/Task/{}", task["id"].as_str().unwrap())))
        .header("content-type", "application/fhir+json")
        .header("if-match", format!("W/\"{version}\""))
        .body(task.to_string())
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Östersund takes the region's Task (its SIP invitation of "the region", which Östersund
/// reads as the inviter), sets it accepted and names its own unit as owner: 422 naming
/// Task.owner. Left as the region's, the change is the region's to make: 403, audited. The
/// same for an admission notice owned by the region's primary-care unit. Nothing is recorded.
async fn a_task_is_changed_only_by_its_stored_owner(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "13-kallelse-sip-fran-kommunen.xml").await;
    let received_before = count(&app, "received_messages").await;
    let invitation = tasks(&app, OSTERSUND, "sip-invitation")
        .await
        .into_iter()
        .find(|t| owner_value(t) == "SE2321000214-1000")
        .expect("Östersund reads its invitation of the region");
    let admission = tasks(&app, OSTERSUND, "admission-notice")
        .await
        .into_iter()
        .find(|t| owner_value(t) == "SE2321000214-E3HC")
        .expect("Östersund reads the admission notice's Task of the primary-care unit");
    let own_unit = json!({
        "type": "Organization",
        "identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2120002411-BIST"},
        "extension": [{"url": "urn:brygga:fhir:StructureDefinition:municipality",
            "valueIdentifier": {"system": "urn:oid:1.2.752.129.2.2.1.17", "value": "2380"}}],
    });
    for (task, status) in [(&invitation, "accepted"), (&admission, "in-progress")] {
        let mut taken = task.clone();
        taken["status"] = json!(status);
        taken["lastModified"] = json!("2026-11-25T12:00:00Z");
        taken["owner"] = own_unit.clone();
        let (code, outcome) = put_task(&app, OSTERSUND, &taken).await;
        assert_eq!(code, 422, "{outcome}");
        assert_eq!(
            outcome["issue"][0]["expression"][0], "Task.owner",
            "{outcome}"
        );
        // The requester, the person and the focus are the step's too.
        let mut retargeted = task.clone();
        retargeted["status"] = json!(status);
        retargeted["lastModified"] = json!("2026-11-25T12:00:00Z");
        retargeted["for"] = json!({"identifier": {"system": PNR_SYSTEM, "value": "198506124570"}});
        let (code, outcome) = put_task(&app, OSTERSUND, &retargeted).await;
        assert_eq!(code, 422, "{outcome}");
        assert_eq!(
            outcome["issue"][0]["expression"][0], "Task.for",
            "{outcome}"
        );
        // The stored owner left in place: not Östersund's to change.
        let mut changed = task.clone();
        changed["status"] = json!(status);
        changed["lastModified"] = json!("2026-11-25T12:00:00Z");
        let (code, outcome) = put_task(&app, OSTERSUND, &changed).await;
        assert_eq!(code, 403, "{outcome}");
    }
    assert_eq!(count(&app, "received_messages").await, received_before);
    let refusals = app
        .store
        .audit_records(&brygga::store::AuditQuery {
            after: 0,
            limit: 10_000,
            organisation: None,
            person: None,
            from: None,
            to: None,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.action.starts_with("access refused") && r.details.to_string().contains("/fhir/Task/")
        })
        .count();
    assert!(refusals >= 2, "each 403 is audited");
    // The owner itself may: the region's primary-care unit starts its planning.
    let mut started = admission.clone();
    started["status"] = json!("in-progress");
    started["lastModified"] = json!("2026-11-25T12:00:00Z");
    let (code, outcome) = put_task(&app, REGION, &started).await;
    assert_eq!(code, 200, "{outcome}");
}

/// Östersund revises the region's SIP plan (or moves it to another person): refused, 403 and
/// 422; the plan's author principal revises it.
async fn a_plan_is_revised_only_by_its_stored_author(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "18-plan-sip.xml").await;
    let (status, bundle) = app
        .get_json(
            OSTERSUND,
            &format!("/fhir/CarePlan?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    let plan = bundle["entry"][0]["resource"].clone();
    assert_eq!(plan["resourceType"], "CarePlan", "{bundle}");
    let received_before = count(&app, "received_messages").await;
    let put = |client: &'static str, plan: Value| {
        let app = &app;
        async move {
            let response = app
                .as_client(client)
                .await
                .put(app.url(&format!("/fhir/CarePlan/{}", plan["id"].as_str().unwrap())))
                .header("content-type", "application/fhir+json")
                .header(
                    "if-match",
                    format!("W/\"{}\"", plan["meta"]["versionId"].as_str().unwrap()),
                )
                .body(plan.to_string())
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut moved = plan.clone();
    moved["subject"] = json!({"identifier": {"system": PNR_SYSTEM, "value": "198506124570"}});
    let (code, outcome) = put(OSTERSUND, moved).await;
    assert_eq!(code, 422, "{outcome}");
    assert_eq!(outcome["issue"][0]["expression"][0], "CarePlan.subject");
    let mut revised = plan.clone();
    revised["description"] = json!("Reviderad av kommunen");
    let (code, outcome) = put(OSTERSUND, revised).await;
    assert_eq!(code, 403, "{outcome}");
    assert_eq!(count(&app, "received_messages").await, received_before);
}

/// The region invites only its psychiatric clinic; Östersund, a party of the case but not
/// invited, answers through a Task of its own as if invited: 422, not recorded. The invited
/// clinic's answer is recorded.
async fn an_invitation_is_answered_only_by_a_party_it_invites(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "10-utskrivningsklar-aterkallad.xml").await;
    let mut invitation: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::helpers::repo_root()
                .join("fixtures/cosmic-link/to-canonical/11-kallelse-sip.json"),
        )
        .unwrap(),
    )
    .unwrap();
    invitation["event"]["invitation_id"] = json!("K-ONLY-PSYK");
    invitation["event"]["id"] = json!(uuid::Uuid::new_v4());
    invitation["event"]["source"]["message_id"] = json!("CL-ONLY-PSYK");
    invitation["event"]["invited"] = json!([{"function": "Kurator",
        "party": {"type": "region_unit", "hsa_id": "SE2321000214-E2VC"}}]);
    let (code, outcome) = send(
        &app,
        REGION,
        reqwest::Method::POST,
        "/canonical/v1/messages",
        "application/json",
        invitation.to_string(),
    )
    .await;
    assert_eq!(code, 200, "{outcome}");
    let received_before = count(&app, "received_messages").await;
    let answer = |by: Value, id: &str| {
        json!({
            "resourceType": "Task", "id": id, "status": "accepted", "intent": "order",
            "lastModified": "2026-11-25T12:00:00Z",
            "code": {"coding": [{"system": "urn:brygga:fhir:CodeSystem:process-step", "code": "sip-invitation"}]},
            "groupIdentifier": {"system": "urn:brygga:case-reference:SE2321000214-1000", "value": "SA-2026-004711"},
            "for": {"identifier": {"system": PNR_SYSTEM, "value": PERSONNUMMER}},
            "owner": by,
            "input": [{"type": {"coding": [{"system": "urn:brygga:fhir:CodeSystem:task-input", "code": "invitation-id"}]},
                       "valueString": "K-ONLY-PSYK"}],
        })
    };
    let municipality = json!({"type": "Organization",
        "identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2120002411-BIST"},
        "extension": [{"url": "urn:brygga:fhir:StructureDefinition:municipality",
            "valueIdentifier": {"system": "urn:oid:1.2.752.129.2.2.1.17", "value": "2380"}}]});
    let (code, outcome) = send(
        &app,
        OSTERSUND,
        reqwest::Method::POST,
        "/fhir/Task",
        "application/fhir+json",
        answer(municipality, "answer-1").to_string(),
    )
    .await;
    assert_eq!(code, 422, "{outcome}");
    assert!(
        diagnostics(&outcome).contains("was not invited"),
        "{outcome}"
    );
    assert_eq!(count(&app, "received_messages").await, received_before);
    let clinic = json!({"type": "Organization",
        "identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000214-E2VC"}});
    let (code, outcome) = send(
        &app,
        REGION,
        reqwest::Method::POST,
        "/fhir/Task",
        "application/fhir+json",
        answer(clinic, "answer-2").to_string(),
    )
    .await;
    assert_eq!(code, 201, "{outcome}");
}

/// A FHIR Consent to SIP for the first story's person.
fn sip_consent(provision: &str) -> Value {
    json!({
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": "sip"}]}],
        "patient": {"identifier": {"system": PNR_SYSTEM, "value": PERSONNUMMER}},
        "dateTime": "2026-11-25",
        "provision": {"type": provision}
    })
}

/// Krokom, which takes part in no case of the person, records their consent: 403, audited,
/// nothing stored.
async fn a_consent_is_recorded_only_by_a_principal_of_the_persons_cases(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "08-utskrivningsklar.xml").await;
    let consents_before = count(&app, "consents").await;
    let (code, outcome) = send(
        &app,
        crate::helpers::KROKOM,
        reqwest::Method::POST,
        "/fhir/Consent",
        "application/fhir+json",
        sip_consent("permit").to_string(),
    )
    .await;
    assert_eq!(code, 403, "{outcome}");
    assert!(
        diagnostics(&outcome).contains("takes part in none"),
        "{outcome}"
    );
    assert_eq!(count(&app, "consents").await, consents_before);
    let person =
        brygga::domain::identifiers::PersonId::parse_any(PERSONNUMMER, app.clock.today()).unwrap();
    let refused = app
        .store
        .audit_for_person(&person)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.organisation.as_deref() == Some("2309"))
        .count();
    let refusals = app
        .store
        .audit_records(&brygga::store::AuditQuery {
            after: 0,
            limit: 10_000,
            organisation: Some("2309".into()),
            person: None,
            from: None,
            to: None,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.starts_with("access refused"))
        .count();
    assert!(refused + refusals >= 1, "the refusal is audited");
}

/// After the person withdrew the region's consent to disclose to Östersund, Östersund records
/// a consent of its own naming itself: the information at discharge (the region's) is still
/// withheld from it, and the receipt says whose consent it would have needed.
async fn a_receiver_cannot_grant_itself_access(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "18-plan-sip.xml").await;
    let mut consent = sip_consent("permit");
    consent["category"] = json!([{"coding": [{"system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": "disclosure"}]}]);
    let (code, outcome) = send(
        &app,
        OSTERSUND,
        reqwest::Method::POST,
        "/fhir/Consent",
        "application/fhir+json",
        consent.to_string(),
    )
    .await;
    assert_eq!(code, 201, "{outcome}");
    let receipt = app
        .post_cosmic_example("19-information-vid-utskrivning.xml")
        .await;
    let withheld = receipt["withheld"].as_array().cloned().unwrap_or_default();
    let to_ostersund = withheld
        .iter()
        .find(|w| w["recipient"]["kommunkod"] == "2380")
        .unwrap_or_else(|| panic!("withheld from Östersund: {receipt}"));
    assert!(
        to_ostersund["reason"]
            .as_str()
            .unwrap()
            .contains("recorded by municipality 2380"),
        "{receipt}"
    );
}

/// A withdrawal dated in the future would choose when disclosures stop: refused with 422
/// naming the element; the consent stays in force.
async fn a_withdrawal_cannot_be_dated_ahead(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "08-utskrivningsklar.xml").await;
    let withdrawal =
        String::from_utf8(crate::helpers::cosmic_example("09-samtycke-aterkallat.xml"))
            .unwrap()
            .replace("2026-11-24T14:30:00", "2027-01-15T08:00:00");
    let response = app.post_cosmic_link(withdrawal.into_bytes()).await;
    assert_eq!(response.status(), 422);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        diagnostics(&outcome).starts_with("Huvud/Skapad:"),
        "{outcome}"
    );
    // The consent is in force: the information at discharge reaches Östersund on it.
    let receipt = app
        .post_cosmic_example("19-information-vid-utskrivning.xml")
        .await;
    let withheld = receipt["withheld"].as_array().cloned().unwrap_or_default();
    assert!(
        withheld
            .iter()
            .all(|w| w["recipient"]["kommunkod"] != "2380"),
        "{receipt}"
    );
}

/// Krokom opens a case of its own for the first story's person and invites "the region": the
/// receipt names the region only (never which of its units know the person), and Krokom reads
/// none of the consents the region and Östersund recorded.
async fn a_case_of_ones_own_reveals_nothing_of_the_other_principal(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "14-svar-kallelse.xml").await;
    let mut invitation: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::helpers::repo_root().join(
            "fixtures/municipal/treserva-like/to-canonical/26-kallelse-sip-fran-kommunen.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let krokom = json!({"type": "municipality", "kommunkod": "2309"});
    invitation["case"] = json!({"issuer": "2309", "value": "KRK-2026-0001"});
    invitation["event"]["from"] = krokom.clone();
    invitation["event"]["source"] =
        json!({"format": "canonical", "message_id": "KRK-1", "sender": krokom});
    invitation["event"]["id"] = json!(uuid::Uuid::new_v4());
    invitation["event"]["invited"] = json!([{"function": "Psykiatri",
        "party": {"type": "region_unit", "hsa_id": "SE2321000214-1000"}}]);
    invitation.as_object_mut().unwrap().remove("recipient");
    let (code, receipt) = send(
        &app,
        crate::helpers::KROKOM,
        reqwest::Method::POST,
        "/canonical/v1/messages",
        "application/json",
        invitation.to_string(),
    )
    .await;
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(
        receipt["routed_to"],
        json!([{"type": "region_unit", "hsa_id": "SE2321000214-1000"}]),
        "{receipt}"
    );
    let text = receipt.to_string();
    for unit in ["E2VC", "E3HC", "E1AV", "E2P1"] {
        assert!(
            !text.contains(unit),
            "the receipt names unit {unit}: {text}"
        );
    }
    let (code, found) = app
        .get_json(
            crate::helpers::KROKOM,
            &format!("/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(found["total"], 0, "{found}");
}

/// A kvittens into another organisation's case and one into a case that does not exist: the
/// same status and the same words, both audited.
async fn unknown_and_foreign_cases_answer_alike(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "01-inskrivningsmeddelande.xml").await;
    let kvittens = |case: &str| {
        let mut message: Value = serde_json::from_str(
            &std::fs::read_to_string(
                crate::helpers::repo_root()
                    .join("fixtures/cosmic-link/to-canonical/02-kvittens.json"),
            )
            .unwrap(),
        )
        .unwrap();
        message["case"]["value"] = json!(case);
        message["event"]["source"]["sender"] = json!({"type": "municipality", "kommunkod": "2309"});
        message["event"]["source"]["message_id"] = json!(format!("KRK-{case}"));
        message["event"]["id"] = json!(uuid::Uuid::new_v4());
        message["event"]["by"] = json!({"type": "municipality", "kommunkod": "2309"});
        message.to_string()
    };
    let mut answers = Vec::new();
    for case in ["SA-2026-004711", "SA-2026-999999"] {
        let (code, outcome) = send(
            &app,
            crate::helpers::KROKOM,
            reqwest::Method::POST,
            "/canonical/v1/messages",
            "application/json",
            kvittens(case),
        )
        .await;
        let case_id = brygga::formats::canonical::CaseReference {
            issuer: "SE2321000214-1000".into(),
            value: case.into(),
        }
        .case_id()
        .to_string();
        answers.push((code, diagnostics(&outcome).replace(&case_id, "<case>")));
    }
    assert_eq!(answers[0].0, 404, "{answers:?}");
    assert_eq!(answers[0], answers[1]);
    let refusals = app
        .store
        .audit_records(&brygga::store::AuditQuery {
            after: 0,
            limit: 10_000,
            organisation: Some("2309".into()),
            person: None,
            from: None,
            to: None,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "access refused: not found")
        .count();
    assert_eq!(refusals, 2, "both are audited");
}

/// Krokom looks a person up and finds nothing: the person's log extract shows that it looked.
async fn a_search_that_finds_nobody_is_audited(backend: Backend) {
    let app = app(backend).await;
    for path in [
        format!("/fhir/Task?patient={PNR_SYSTEM}|195504152389"),
        format!("/fhir/CarePlan?patient={PNR_SYSTEM}|195504152389"),
        format!("/fhir/Patient?identifier={PNR_SYSTEM}|195504152389"),
        format!("/fhir/Consent?patient={PNR_SYSTEM}|195504152389"),
    ] {
        let (code, found) = app.get_json(crate::helpers::KROKOM, &path).await;
        assert_eq!(code, 200, "{path}: {found}");
        assert_eq!(found["total"], 0, "{path}: {found}");
    }
    let person =
        brygga::domain::identifiers::PersonId::parse_any("195504152389", app.clock.today())
            .unwrap();
    let looked: Vec<String> = app
        .store
        .audit_for_person(&person)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.organisation.as_deref() == Some("2309"))
        .map(|r| r.action)
        .collect();
    assert_eq!(looked.len(), 4, "{looked:?}");
}

/// `/stats` once showed every organisation's units, with figures small enough to recognise a
/// person (one SIP answer at the psychiatric clinic). A client sees its own organisation's
/// units; the county's follow-up sees every unit with small figures suppressed.
async fn statistics_show_a_client_its_own_units_and_the_county_no_small_figures(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "20-utskriven.xml").await;
    let path = "/stats?from=2026-11-01&to=2026-12-01";
    let (code, own) = app.get_json(OSTERSUND, path).await;
    assert_eq!(code, 200, "{own}");
    let units = |stats: &Value| -> Vec<String> {
        stats["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["unit"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(units(&own), ["2380"], "{own}");
    assert!(!own.to_string().contains("SE2321000214-E2VC"), "{own}");
    let (_, region) = app.get_json(REGION, path).await;
    assert!(!units(&region).is_empty());
    assert!(
        units(&region)
            .iter()
            .all(|u| u.starts_with("SE2321000214-")),
        "{region}"
    );
    assert!(!region.to_string().contains("\"2380\""), "{region}");
    // The county: every unit, and no figure about one to four.
    let (code, county) = app.get_json("jamtland-uppfoljning", path).await;
    assert_eq!(code, 200, "{county}");
    assert!(units(&county).contains(&"2380".to_owned()));
    assert!(units(&county).contains(&"SE2321000214-E2VC".to_owned()));
    for row in county["rows"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&county["total"]))
    {
        for (name, value) in row.as_object().unwrap() {
            if let Some(n) = value.as_f64()
                && name != "payment_responsibility_days"
                && !name.starts_with("days_")
            {
                assert!(n == 0.0 || n >= 5.0, "{name} = {n} shown: {row}");
            }
        }
    }
    let psychiatry = county["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "SE2321000214-E2VC")
        .unwrap();
    assert_eq!(
        psychiatry["sip_answers_accepted"],
        Value::Null,
        "{psychiatry}"
    );
}

/// An access token for `client` from `app`, whose token endpoint's public URL is `token_url`.
async fn token_at(app: &TestApp, token_url: &str, client: &str, jti: &str) -> String {
    let assertion = crate::helpers::assertion(client, token_url, app.clock.now(), jti);
    let response = app.request_token(&assertion, None).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A token keeps working after its client's scopes were cut: no longer. The clients file is
/// read again when it changes, and a token's scopes are narrowed to the client's current
/// registration at every request — on every instance reading the file, and after a restart.
async fn a_cut_scope_takes_effect_at_once_on_every_instance_and_across_a_restart(backend: Backend) {
    let shared = tempfile::tempdir().unwrap();
    let config = crate::helpers::repo_root().join("deploy/config");
    std::fs::create_dir(shared.path().join("clients")).unwrap();
    for entry in std::fs::read_dir(config.join("clients")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            shared.path().join("clients").join(entry.file_name()),
        )
        .unwrap();
    }
    let clients_file = shared.path().join("clients.toml");
    std::fs::copy(config.join("clients.toml"), &clients_file).unwrap();
    std::fs::write(shared.path().join("token.key"), [7u8; 48]).unwrap();
    let database = match backend {
        Backend::Sqlite => format!("sqlite://{}", shared.path().join("brygga.db").display()),
        Backend::Postgres => crate::helpers::postgres_database().await,
    };
    const TOKEN_URL: &str = "http://gateway.test/auth/token";
    let started = std::sync::atomic::AtomicUsize::new(0);
    let instance = || {
        let database = database.clone();
        let clients_file = clients_file.clone();
        let key = shared.path().join("token.key");
        let n = started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::helpers::spawn_app_at_with("2026-11-28T12:00:00Z", move |settings| {
            settings.database.url = database;
            // Instances sharing a database have identities of their own.
            settings.delivery.instance_id = Some(format!("instance-{n}"));
            settings.auth.token_url = Some(TOKEN_URL.to_owned());
            settings.auth.token_key_file = Some(key);
            settings.clients =
                brygga::auth::load_clients(&clients_file, &settings.directory).unwrap();
            settings.clients_source = Some(clients_file);
        })
    };
    let a = instance().await;
    let b = instance().await;
    let region = token_at(&a, TOKEN_URL, REGION, "cut-0").await;
    let admitted = reqwest::Client::new()
        .post(a.url("/cosmic-link/v1/messages"))
        .bearer_auth(region)
        .header("content-type", "application/xml")
        .body(crate::helpers::cosmic_example(
            "01-inskrivningsmeddelande.xml",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), 200);
    // Östersund's token, from instance A, with every scope it is registered for.
    let token = token_at(&a, TOKEN_URL, OSTERSUND, "cut-1").await;
    let consent_search = |app: &TestApp| {
        let url = app.url(&format!(
            "/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"
        ));
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(consent_search(&a).await, 200);
    assert_eq!(consent_search(&b).await, 200);
    // The registration cut: Östersund no longer reads consents.
    let text = std::fs::read_to_string(&clients_file).unwrap();
    let cut = text.replacen(
        "organisation = \"2380\"\nscopes = [\"system/Task.crus\", \"system/CarePlan.crus\", \"system/Consent.crus\",",
        "organisation = \"2380\"\nscopes = [\"system/Task.crus\", \"system/CarePlan.crus\",",
        1,
    );
    assert_ne!(cut, text, "the example registration changed shape");
    std::fs::write(&clients_file, cut).unwrap();
    assert_eq!(consent_search(&a).await, 403);
    assert_eq!(consent_search(&b).await, 403);
    // Still what the token and the registration both allow.
    let tasks = reqwest::Client::new()
        .get(b.url(&format!("/fhir/Task?patient={PNR_SYSTEM}|{PERSONNUMMER}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.status(), 200);
    // After a restart, on the same database and key.
    drop(a);
    drop(b);
    let c = instance().await;
    assert_eq!(consent_search(&c).await, 403);
}

/// The anchor key of the audit tests, and its PEM file in `dir`.
fn anchor_key(dir: &std::path::Path) -> (brygga::anchor::AnchorKey, std::path::PathBuf) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let secret = [42u8; 32];
    let pem = ed25519_dalek::SigningKey::from_bytes(&secret)
        .to_pkcs8_pem(Default::default())
        .unwrap();
    let path = dir.join("anchor.pem");
    std::fs::write(&path, pem.as_bytes()).unwrap();
    (brygga::anchor::AnchorKey::from_bytes(&secret), path)
}

/// A raw connection to `app`'s database, for going around the gateway as whoever can write
/// the database would.
async fn raw(app: &TestApp) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = app.database_url();
    let url = match url.strip_prefix("sqlite://") {
        Some(path) => format!("sqlite:{path}"),
        None => url,
    };
    sqlx::AnyConnection::connect(&url).await.unwrap()
}

async fn exec(conn: &mut sqlx::AnyConnection, sql: &str) {
    use sqlx::Executor;
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Record `seq`'s hash as the gateway computes it (`store::audit`).
fn record_hash(seq: i64, prev: &str, fields: &Value) -> String {
    use sha2::Digest;
    let array = fields.to_string();
    let tail = array.strip_prefix('[').unwrap();
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("[{seq},\"{prev}\",").as_bytes());
    hasher.update(tail.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whoever can write the database rewrites the audit log: truncates its tail and rewinds the
/// head; deletes its start and moves the anchor (the records "deleted after retention",
/// though retention is off); or changes a record and recomputes the whole chain. The chain
/// alone verifies after the last two; a signed checkpoint made before finds each.
async fn a_rewritten_audit_log_is_found_by_its_signed_checkpoints(backend: Backend) {
    use sqlx::Row;
    for attack in ["truncate", "delete the start", "recompute"] {
        let keys = tempfile::tempdir().unwrap();
        let (key, key_file) = anchor_key(keys.path());
        let app = spawn_app_on(backend, move |settings| {
            settings.audit.anchor_key_file = Some(key_file);
        })
        .await;
        story_until(&app, "05-planering-paborjad.xml").await;
        let ((head_seq, head_hash), (anchor_seq, anchor_hash)) =
            app.store.audit_head_and_anchor().await.unwrap();
        let checkpoint = key.sign(
            (head_seq, &head_hash),
            (anchor_seq, &anchor_hash),
            app.clock.now(),
        );
        app.store.record_checkpoint(&checkpoint).await.unwrap();
        let checkpoints = vec![("checkpoint.json".to_owned(), checkpoint.clone())];
        let trusted = key.trusted();
        let verified = brygga::audit::verify(&app.store, &checkpoints, Some(&trusted), false)
            .await
            .unwrap();
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
        app.post_cosmic_example("06-andrad-beraknad-utskrivning.xml")
            .await;

        let mut conn = raw(&app).await;
        let hash_of = |seq: i64| format!("SELECT hash FROM audit_log WHERE seq = {seq}");
        match attack {
            "truncate" => {
                let keep = head_seq as i64 - 3;
                let hash: String = sqlx::query_scalar(sqlx::AssertSqlSafe(hash_of(keep)))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                exec(&mut conn, "INSERT INTO retention_pruning (id) VALUES (1)").await;
                exec(
                    &mut conn,
                    &format!("DELETE FROM audit_log WHERE seq > {keep}"),
                )
                .await;
                exec(&mut conn, "DELETE FROM retention_pruning").await;
                exec(
                    &mut conn,
                    &format!("UPDATE audit_head SET seq = {keep}, hash = '{hash}' WHERE id = 1"),
                )
                .await;
            }
            "delete the start" => {
                let hash: String = sqlx::query_scalar(sqlx::AssertSqlSafe(hash_of(3)))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                exec(&mut conn, "INSERT INTO retention_pruning (id) VALUES (1)").await;
                exec(&mut conn, "DELETE FROM audit_log WHERE seq <= 3").await;
                exec(&mut conn, "DELETE FROM retention_pruning").await;
                exec(
                    &mut conn,
                    &format!("UPDATE audit_anchor SET seq = 3, hash = '{hash}' WHERE id = 1"),
                )
                .await;
            }
            _ => {
                // Record 2 changed, and every hash from it on recomputed.
                let rows = sqlx::query(
                    "SELECT seq, recorded_at, case_id, actor, organisation, action, person, purpose, legal_basis, details, prev_hash FROM audit_log WHERE seq >= 2 ORDER BY seq",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let mut prev: String = rows[0].get(10);
                let mut rewritten = Vec::new();
                for row in &rows {
                    let seq: i64 = row.get(0);
                    let actor: String = if seq == 2 {
                        "someone else".to_owned()
                    } else {
                        row.get(3)
                    };
                    let fields = json!([
                        row.get::<i64, _>(1),
                        row.get::<Option<String>, _>(2),
                        actor,
                        row.get::<Option<String>, _>(4),
                        row.get::<String, _>(5),
                        row.get::<Option<String>, _>(6),
                        row.get::<String, _>(7),
                        row.get::<Option<String>, _>(8),
                        row.get::<String, _>(9),
                    ]);
                    let hash = record_hash(seq, &prev, &fields);
                    rewritten.push((seq, fields, prev.clone(), hash.clone()));
                    prev = hash;
                }
                exec(&mut conn, "INSERT INTO retention_pruning (id) VALUES (1)").await;
                exec(&mut conn, "DELETE FROM audit_log WHERE seq >= 2").await;
                exec(&mut conn, "DELETE FROM retention_pruning").await;
                for (seq, f, prev_hash, hash) in &rewritten {
                    let text = |v: &Value| match v.as_str() {
                        Some(s) => format!("'{}'", s.replace('\'', "''")),
                        None => "NULL".to_owned(),
                    };
                    exec(
                        &mut conn,
                        &format!(
                            "INSERT INTO audit_log (seq, recorded_at, case_id, actor, organisation, action, person, purpose, legal_basis, details, prev_hash, hash) VALUES ({seq}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '{prev_hash}', '{hash}')",
                            f[0], text(&f[1]), text(&f[2]), text(&f[3]), text(&f[4]), text(&f[5]), text(&f[6]), text(&f[7]), text(&f[8])
                        ),
                    )
                    .await;
                }
                exec(
                    &mut conn,
                    &format!("UPDATE audit_head SET hash = '{prev}' WHERE id = 1"),
                )
                .await;
                // The chain alone is fooled.
                assert!(
                    app.store.verify_audit_chain().await.unwrap().is_intact(),
                    "the recomputed chain verifies on its own"
                );
            }
        }
        let verified = brygga::audit::verify(&app.store, &checkpoints, Some(&trusted), false)
            .await
            .unwrap();
        let expected = match attack {
            "truncate" => "truncated",
            "delete the start" => "retention is off",
            _ => "recomputed",
        };
        assert!(
            verified.problems.iter().any(|p| p.contains(expected)),
            "{attack}: {:?}",
            verified.problems
        );
    }
}

/// With a retention for audit records, nothing is deleted until a signed checkpoint covers
/// it, and never past the checkpoint's head.
async fn audit_records_are_pruned_only_below_a_signed_checkpoint(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let (key, _) = anchor_key(keys.path());
    // The gateway signs no checkpoint of its own here: the test makes them.
    let app = spawn_app_on(backend, |settings| settings.retention.audit_days = 1).await;
    story_until(&app, "05-planering-paborjad.xml").await;
    let before = app.clock.now() + jiff::SignedDuration::from_hours(1);
    // A forged checkpoint (another key) is not relied on.
    let forged = brygga::anchor::AnchorKey::from_bytes(&[1; 32]);
    let ((head_seq, head_hash), (anchor_seq, anchor_hash)) =
        app.store.audit_head_and_anchor().await.unwrap();
    app.store
        .record_checkpoint(&forged.sign(
            (head_seq, &head_hash),
            (anchor_seq, &anchor_hash),
            app.clock.now(),
        ))
        .await
        .unwrap();
    let verifies = |c: &brygga::anchor::Checkpoint| key.trusted().verifies(c).is_ok();
    let signed_through = app
        .store
        .checkpoints(50)
        .await
        .unwrap()
        .iter()
        .filter(|c| verifies(c))
        .map(|c| c.head_seq)
        .max()
        .unwrap_or(0);
    assert_eq!(signed_through, 0);
    assert_eq!(
        app.store
            .prune_audit(before, app.clock.now(), 10_000, signed_through)
            .await
            .unwrap(),
        0
    );
    // Signed with the anchor key: pruned up to its head, no further.
    let checkpoint = key.sign((5, "x"), (0, "0"), app.clock.now());
    assert!(verifies(&checkpoint));
    let pruned = app
        .store
        .prune_audit(before, app.clock.now(), 10_000, checkpoint.head_seq)
        .await
        .unwrap();
    assert_eq!(pruned, 5);
    let ((_, _), (anchor_now, _)) = app.store.audit_head_and_anchor().await.unwrap();
    assert_eq!(anchor_now, 5);
}

/// A person is admitted with protected identity; a second case of theirs (another
/// samordningsärende) is opened by an admission notice that does not say so, with the address:
/// no address leaves for Östersund in any format it subscribes in, each format says the
/// identity is protected, and the FHIR Patient carries the restriction label.
async fn protected_identity_is_the_persons_in_every_case_and_format(backend: Backend) {
    let inboxes = [
        crate::helpers::receiver().await,
        crate::helpers::receiver().await,
        crate::helpers::receiver().await,
        crate::helpers::receiver().await,
    ];
    let formats = [
        "canonical",
        "cosmic-link",
        "fhir",
        "municipal:treserva-like",
    ];
    let urls: Vec<String> = inboxes.iter().map(|i| i.url.clone()).collect();
    let app = spawn_app_on(backend, move |settings| {
        for (n, (format, url)) in formats.iter().zip(&urls).enumerate() {
            let mut subscription =
                crate::helpers::subscription(&format!("ostersund-{n}"), "2380", url, format);
            subscription.events = vec!["admission_notice".to_owned()];
            settings.subscriptions.0.push(subscription);
        }
    })
    .await;
    let admission = String::from_utf8(crate::helpers::cosmic_example(
        "01-inskrivningsmeddelande.xml",
    ))
    .unwrap();
    let protected = admission.replace(
        "    </Folkbokforingsadress>\n",
        "    </Folkbokforingsadress>\n    <SkyddadIdentitet>true</SkyddadIdentitet>\n",
    );
    assert_ne!(protected, admission);
    let response = app.post_cosmic_link(protected.into_bytes()).await;
    assert_eq!(response.status(), 200);
    for inbox in &inboxes {
        inbox.wait_for(1).await;
    }
    // The second case: another samordningsärende, no flag, the address given.
    let second = admission
        .replace("SA-2026-004711", "SA-2026-005000")
        .replace("CL-2026-0001", "CL-2026-0500");
    let response = app.post_cosmic_link(second.into_bytes()).await;
    assert_eq!(response.status(), 200);
    for (inbox, format) in inboxes.iter().zip(formats) {
        let delivered = inbox
            .wait_until(|d| d.body.contains("SA-2026-005000"))
            .await;
        let body = &delivered.body;
        for located in ["Storgatan", "831 30"] {
            assert!(
                !body.contains(located),
                "{format} carries {located}: {body}"
            );
        }
        let says_protected = match format {
            "canonical" => {
                serde_json::from_str::<Value>(body).unwrap()["protected_identity"] == true
            }
            "cosmic-link" => body.contains("<SkyddadIdentitet>true</SkyddadIdentitet>"),
            "fhir" => body.contains("\"code\":\"R\"") || body.contains("\"code\": \"R\""),
            _ => body.contains("skyddadIdentitet=\"J\""),
        };
        assert!(says_protected, "{format} does not say so: {body}");
    }
    let (code, found) = app
        .get_json(
            OSTERSUND,
            &format!("/fhir/Patient?identifier={PNR_SYSTEM}|{PERSONNUMMER}"),
        )
        .await;
    assert_eq!(code, 200);
    let patient = &found["entry"][0]["resource"];
    assert_eq!(patient["meta"]["security"][0]["code"], "R", "{patient}");
    assert!(patient.get("address").is_none(), "{patient}");
}

/// The second story's person as Östersund reads them.
async fn jonas_patient(app: &TestApp) -> Value {
    let (code, found) = app
        .get_json(
            OSTERSUND,
            &format!("/fhir/Patient?identifier={PNR_SYSTEM}|198506124570"),
        )
        .await;
    assert_eq!(code, 200);
    found["entry"][0]["resource"].clone()
}

/// The second story's person is admitted without protection (the address goes to Östersund);
/// a later step says the identity is protected: from then on no address leaves for any case of
/// theirs, in reads too. Östersund may not lift it; the region, registered for it, may, with a
/// reason, audited.
async fn protection_added_later_holds_until_lifted_by_a_principal_with_the_right(backend: Backend) {
    let app = app(backend).await;
    app.post_cosmic_example("21-inskrivningsmeddelande-psykiatri.xml")
        .await;
    let before = jonas_patient(&app).await;
    assert!(before.get("address").is_some(), "{before}");
    // The LVM report, saying the identity is now protected.
    let report = String::from_utf8(crate::helpers::cosmic_example("22-lvm-anmalan.xml"))
        .unwrap()
        .replace(
            "    <Personnummer>19850612-4570</Personnummer>\n",
            "    <Personnummer>19850612-4570</Personnummer>\n    <SkyddadIdentitet>true</SkyddadIdentitet>\n",
        );
    let response = app.post_cosmic_link(report.into_bytes()).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert!(
        !receipt["warnings"].to_string().contains("SkyddadIdentitet"),
        "read, not left unmapped: {receipt}"
    );
    let after = jonas_patient(&app).await;
    assert_eq!(after["meta"]["security"][0]["code"], "R", "{after}");
    assert!(after.get("address").is_none(), "{after}");
    let person =
        brygga::domain::identifiers::PersonId::parse_any("198506124570", app.clock.today())
            .unwrap();
    assert!(app.store.person_protected(&person).await.unwrap());
    // Lifting: not Östersund's; the region's, with a reason.
    let lift =
        json!({"person": "19850612-4570", "reason": "Skyddet har upphört enligt Skatteverket"});
    let (code, outcome) = send(
        &app,
        OSTERSUND,
        reqwest::Method::POST,
        "/protection/lift",
        "application/json",
        lift.to_string(),
    )
    .await;
    assert_eq!(code, 403, "{outcome}");
    assert!(app.store.person_protected(&person).await.unwrap());
    let (code, outcome) = send(
        &app,
        REGION,
        reqwest::Method::POST,
        "/protection/lift",
        "application/json",
        lift.to_string(),
    )
    .await;
    assert_eq!(code, 200, "{outcome}");
    assert_eq!(outcome["lifted"], true);
    assert!(!app.store.person_protected(&person).await.unwrap());
    let lifted = app
        .store
        .audit_for_person(&person)
        .await
        .unwrap()
        .into_iter()
        .any(|r| r.action == "lift protected identity" && r.details["reason"] == lift["reason"]);
    assert!(lifted, "the lift is audited with its reason");
    let again = jonas_patient(&app).await;
    assert!(again.get("address").is_some(), "{again}");
}

/// A consent recorded into a case number nobody opened would make its sender "take part" in
/// a case of the person: answered as an unknown case, nothing stored.
async fn a_consent_does_not_open_a_case_of_its_own(backend: Backend) {
    let app = app(backend).await;
    let consent = String::from_utf8(crate::helpers::cosmic_example("03-samtycke.xml"))
        .unwrap()
        .replace("SA-2026-004711", "SA-2026-009999");
    let response = app.post_cosmic_link(consent.into_bytes()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(count(&app, "cases").await, 0);
    assert_eq!(count(&app, "consents").await, 0);
}

/// What the first attack review already found refused, kept so: forged, expired, replayed and
/// confused tokens; hostile XML (entities, external references, deep nesting) and JSON (deep
/// nesting, numbers out of range, not JSON). Each is refused, nothing is stored, the audit
/// chain stays intact and the gateway keeps answering.
async fn forged_tokens_and_hostile_documents_are_refused_and_the_gateway_stays_whole(
    backend: Backend,
) {
    let app = app(backend).await;
    let b64 = |bytes: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let real = app.token(REGION, None).await;
    let (header, rest) = real.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    let mut forged_claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    forged_claims["organisation"] = json!("2380");
    let tokens = [
        // alg none
        format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), claims),
        // the claims changed, the signature kept
        format!(
            "{header}.{}.{signature}",
            b64(forged_claims.to_string().as_bytes())
        ),
        // a signature of another key
        format!("{header}.{claims}.{}", b64(&[7u8; 32])),
        // not a JWT
        "not-a-token".to_owned(),
    ];
    for token in &tokens {
        let response = reqwest::Client::new()
            .get(app.url(&format!("/fhir/Task?patient={PNR_SYSTEM}|{PERSONNUMMER}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{token}");
    }
    // Expired: the same token after its lifetime.
    app.clock.advance(jiff::SignedDuration::from_secs(3_600));
    let response = reqwest::Client::new()
        .get(app.url("/stats"))
        .bearer_auth(&real)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let hostile_xml = [
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><CosmicLinkMeddelande xmlns="urn:brygga:cosmic-link:1">&b;</CosmicLinkMeddelande>"#.to_owned(),
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><CosmicLinkMeddelande xmlns="urn:brygga:cosmic-link:1">&e;</CosmicLinkMeddelande>"#.to_owned(),
        format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000)),
        "<CosmicLinkMeddelande xmlns=\"urn:brygga:cosmic-link:1\">\u{0}</CosmicLinkMeddelande>".to_owned(),
    ];
    for xml in &hostile_xml {
        for path in [
            "/cosmic-link/v1/messages",
            "/municipal/treserva-like/v1/messages",
        ] {
            let client = if path.starts_with("/municipal") {
                OSTERSUND
            } else {
                REGION
            };
            let (status, _) = send(
                &app,
                client,
                reqwest::Method::POST,
                path,
                "application/xml",
                xml.clone(),
            )
            .await;
            assert_eq!(status, 400, "{path}: {}", &xml[..xml.len().min(60)]);
        }
    }
    let hostile_json = [
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        r#"{"resourceType": "Consent", "status": 1e999}"#.to_owned(),
        "{\"resourceType\": \"Task\"".to_owned(),
        "\u{feff}\u{0}".to_owned(),
    ];
    for body in &hostile_json {
        for path in [
            "/fhir/Consent",
            "/fhir/Task",
            "/canonical/v1/messages",
            "/fhir",
        ] {
            let content_type = if path.starts_with("/canonical") {
                "application/json"
            } else {
                "application/fhir+json"
            };
            let (status, _) = send(
                &app,
                REGION,
                reqwest::Method::POST,
                path,
                content_type,
                body.clone(),
            )
            .await;
            assert_eq!(status, 400, "{path}: {}", &body[..body.len().min(40)]);
        }
    }
    for table in ["cases", "events", "consents", "received_messages"] {
        assert_eq!(count(&app, table).await, 0, "{table}");
    }
    assert!(app.store.verify_audit_chain().await.unwrap().is_intact());
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
