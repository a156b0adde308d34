//! Trust the record: who may change, answer, consent or see is decided on what the gateway stored,
//! never on what a request claims.

use super::*;

on_both_backends!(
    a_task_is_changed_only_by_its_stored_owner,
    a_plan_is_revised_only_by_its_stored_author,
    an_invitation_is_answered_only_by_a_party_it_invites,
    a_consent_is_recorded_only_by_a_principal_of_the_persons_cases,
    a_receiver_cannot_grant_itself_access,
    a_withdrawal_cannot_be_dated_ahead,
    a_case_of_ones_own_reveals_nothing_of_the_other_principal,
    unknown_and_foreign_cases_answer_alike,
    a_consent_does_not_open_a_case_of_its_own,
);

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
