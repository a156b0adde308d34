//! The consent registry over FHIR and its effect: the official R4 Consent examples are
//! accepted and read back; a consent withdrawn mid-case stops every later disclosure that
//! relied on it, while the law's duties to inform go on; the audit log shows each decision and
//! gives the person their extract.

use serde_json::{Value, json};

use crate::helpers::{
    AUDITOR, KROKOM, OSTERSUND, REGION, Receiver, TestApp, receiver, repo_root, spawn_app,
    spawn_app_with, subscription,
};

/// A gateway where Östersund subscribes (canonical form) to its deliveries.
async fn subscribed() -> (TestApp, Receiver) {
    let inbox = receiver().await;
    let url = inbox.url.clone();
    let app = spawn_app_with(move |settings| {
        settings
            .subscriptions
            .0
            .push(subscription("ostersund", "2380", &url, "canonical"));
    })
    .await;
    (app, inbox)
}

const PERSONNUMMER: &str = "198112189876";
const PNR_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";

async fn post_cosmic(app: &TestApp, name: &str) -> Value {
    app.post_cosmic_example(name).await
}

async fn post_consent(app: &TestApp, client: &str, consent: &Value) -> (u16, Value) {
    let response = app
        .as_client(client)
        .await
        .post(app.url("/fhir/Consent"))
        .header("content-type", "application/fhir+json")
        .json(consent)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(app: &TestApp, client: &str, path: &str) -> (u16, Value) {
    let response = app
        .as_client(client)
        .await
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn consent(scope: &str) -> Value {
    json!({
        "resourceType": "Consent",
        "status": "active",
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
        "category": [{ "coding": [{ "system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": scope }] }],
        "patient": { "identifier": { "system": PNR_SYSTEM, "value": PERSONNUMMER } },
        "dateTime": "2026-11-21",
        "provision": { "type": "permit" }
    })
}

#[tokio::test]
async fn the_official_r4_consent_examples_are_accepted_and_read_back_without_loss() {
    let app = spawn_app().await;
    let dir = repo_root().join("fixtures/fhir-r4-official");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("Consent-") {
            continue;
        }
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (status, created) = post_consent(&app, REGION, &original).await;
        assert_eq!(status, 201, "{name}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, read) = get(&app, REGION, &format!("/fhir/Consent/{id}")).await;
        assert_eq!(status, 200, "{name}");
        // Everything comes back but the server-assigned id and meta.
        let mut expected = original.clone();
        expected["id"] = json!(id);
        let mut read = read;
        assert_eq!(read["meta"]["versionId"], "1", "{name}");
        read.as_object_mut().unwrap().remove("meta");
        assert_eq!(read, expected, "{name}");
        // Its patient is a reference the gateway cannot resolve: no other organisation sees it.
        let (status, _) = get(&app, OSTERSUND, &format!("/fhir/Consent/{id}")).await;
        assert_eq!(status, 404, "{name}");
        // Found by the reference it names, by the organisation that recorded it only.
        let (status, found) = get(&app, REGION, "/fhir/Consent?patient=Patient/f001").await;
        assert_eq!(status, 200, "{name}: {found}");
        assert!(
            found["entry"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["resource"]["id"] == id.as_str()),
            "{name}: {found}"
        );
        let (_, theirs) = get(&app, OSTERSUND, "/fhir/Consent?patient=Patient/f001").await;
        assert_eq!(theirs["total"], 0, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[tokio::test]
async fn a_consent_that_is_not_in_force_or_names_no_person_is_refused_at_its_element() {
    let app = spawn_app().await;
    let mut draft = consent("sip");
    draft["status"] = json!("draft");
    let (status, outcome) = post_consent(&app, REGION, &draft).await;
    assert_eq!(status, 400);
    assert_eq!(outcome["issue"][0]["expression"][0], "Consent.status");
    let mut nobody = consent("sip");
    nobody["patient"] = json!({ "display": "someone" });
    let (status, outcome) = post_consent(&app, REGION, &nobody).await;
    assert_eq!(status, 400);
    assert_eq!(outcome["issue"][0]["expression"][0], "Consent.patient");
    let mut bad_number = consent("sip");
    bad_number["patient"]["identifier"]["value"] = json!("198112189875");
    let (status, outcome) = post_consent(&app, REGION, &bad_number).await;
    assert_eq!(status, 400);
    assert!(
        !outcome.to_string().contains("198112189875"),
        "the error does not echo the number: {outcome}"
    );
}

#[tokio::test]
async fn a_consent_withdrawn_mid_case_stops_every_later_disclosure_that_relied_on_it() {
    let (app, inbox) = subscribed().await;
    let admission = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case_id = admission["case_id"].as_str().unwrap().to_owned();
    let case = brygga::domain::case::CaseId::parse(&case_id).unwrap();
    // The person consents to SIP and to disclosure between the principals.
    let (status, sip) = post_consent(&app, REGION, &consent("sip")).await;
    assert_eq!(status, 201, "{sip}");
    let (_, disclosure) = post_consent(&app, REGION, &consent("disclosure")).await;
    for name in [
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
    ] {
        post_cosmic(&app, name).await;
    }
    let invitation = post_cosmic(&app, "11-kallelse-sip.xml").await;
    assert_eq!(invitation["withheld"], json!(null), "{invitation}");
    let outbox = app.store.outbox_status_for_case(case).await.unwrap();
    let seq = invitation["sequence"].as_u64().unwrap();
    let to_municipality = |outbox: &[(String, u64, String)], seq: u64| {
        outbox
            .iter()
            .filter(|(d, s, _)| *s == seq && d == "ostersund")
            .count()
    };
    assert_eq!(to_municipality(&outbox, seq), 2, "{outbox:?}");

    // The person withdraws both; the municipality sees them withdrawn.
    app.clock.advance(jiff::SignedDuration::from_mins(10));
    for created in [&sip, &disclosure] {
        let id = created["id"].as_str().unwrap();
        let mut withdrawn = created.clone();
        withdrawn["status"] = json!("inactive");
        let response = app
            .region()
            .await
            .put(app.url(&format!("/fhir/Consent/{id}")))
            .header("content-type", "application/fhir+json")
            .header("if-match", "W/\"1\"")
            .json(&withdrawn)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (status, found) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 2);
    assert!(
        found["entry"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["resource"]["status"] == "inactive")
    );
    // Krokom has no case with the person: it sees none of it.
    let (_, none) = get(
        &app,
        KROKOM,
        &format!("/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
    )
    .await;
    assert_eq!(none["total"], 0);

    // The plan and the information at discharge relied on consent: they no longer go.
    app.clock.advance(jiff::SignedDuration::from_mins(10));
    for name in ["18-plan-sip.xml", "19-information-vid-utskrivning.xml"] {
        let receipt = post_cosmic(&app, name).await;
        let withheld = receipt["withheld"].as_array().expect("withheld recipients");
        assert!(
            withheld
                .iter()
                .any(|w| w["recipient"]["kommunkod"] == "2380"
                    && w["reason"].as_str().unwrap().contains("withdrawn")),
            "{name}: {receipt}"
        );
        let outbox = app.store.outbox_status_for_case(case).await.unwrap();
        let seq = receipt["sequence"].as_u64().unwrap();
        assert_eq!(to_municipality(&outbox, seq), 0, "{name}: {outbox:?}");
    }
    // The discharge itself is the law's duty to inform, and still goes.
    let discharged = post_cosmic(&app, "20-utskriven.xml").await;
    let outbox = app.store.outbox_status_for_case(case).await.unwrap();
    assert!(to_municipality(&outbox, discharged["sequence"].as_u64().unwrap()) > 0);
    // What reached Östersund's system (which, like any receiver, applies each idempotency key
    // once): the steps before the withdrawal and the discharge, and nothing of the plan or the
    // summary.
    let expected = outbox.iter().filter(|(d, _, _)| d == "ostersund").count();
    let by_key = loop {
        let got = inbox.received();
        let by_key: std::collections::BTreeMap<String, String> = got
            .iter()
            .map(|r| {
                let kind = serde_json::from_str::<Value>(&r.body).unwrap()["event"]["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                (r.headers["idempotency-key"].clone(), kind)
            })
            .collect();
        if by_key.len() >= expected {
            break by_key;
        }
        inbox.wait_for(got.len() + 1).await;
    };
    let kinds: Vec<String> = by_key.into_values().collect();
    assert!(kinds.contains(&"sip_invitation".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"discharged".to_owned()), "{kinds:?}");
    assert!(
        !kinds
            .iter()
            .any(|k| k == "sip_plan" || k == "information_at_discharge"),
        "{kinds:?}"
    );

    // Every decision is in the audit log, the denials with their reason.
    let audit = app.store.audit_for_case(case).await.unwrap();
    let denied: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "deny information_at_discharge")
        .collect();
    assert!(!denied.is_empty());
    assert!(
        denied
            .iter()
            .all(|r| r.organisation.as_deref() == Some("2380")
                && r.details["reason"]["reason"] == "consent_withdrawn")
    );
    assert!(app.store.verify_audit_chain().await.unwrap().is_intact());

    // The auditor gives the person their extract: who received what, when, and why.
    let (status, extract) = get(
        &app,
        AUDITOR,
        &format!("/audit/extract?person={PERSONNUMMER}"),
    )
    .await;
    assert_eq!(status, 200);
    let lines = extract["lines"].as_array().unwrap();
    assert!(lines.iter().any(|l| l["what"] == "disclose sip_invitation"
        && l["organisation"] == "2380"
        && l["organisation_name"] == "Östersunds kommun"
        && l["legal_basis"].as_str().unwrap().starts_with("consent ")));
    assert!(lines.iter().any(|l| l["what"] == "deny sip_plan"));
    assert!(lines.iter().any(|l| l["what"] == "withdraw consent"));
    // A client that is not an auditor does not get it.
    let (status, _) = get(
        &app,
        OSTERSUND,
        &format!("/audit/extract?person={PERSONNUMMER}"),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_audit_log_is_exported_as_fhir_audit_events_the_models_read_without_loss() {
    let app = spawn_app().await;
    post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let (status, bundle) = get(&app, AUDITOR, "/audit?_format=fhir&limit=50").await;
    assert_eq!(status, 200);
    let entries = bundle["entry"].as_array().unwrap();
    assert!(entries.len() >= 3, "{bundle}");
    for entry in entries {
        let event = &entry["resource"];
        assert_eq!(event["resourceType"], "AuditEvent");
        assert_eq!(
            entry["fullUrl"],
            app.url(&format!(
                "/fhir/AuditEvent/{}",
                event["id"].as_str().unwrap()
            ))
        );
        let checked = brygga_fhir::check_value(event).unwrap();
        assert!(checked.lost.is_empty(), "{:?} in {event}", checked.lost);
    }
    assert!(
        entries
            .iter()
            .any(|e| e["resource"]["type"]["code"] == "110114"),
        "a login"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["resource"]["type"]["code"] == "110106"),
        "a disclosure"
    );
    // A municipality's client reads only what names its own organisation.
    let (status, own) = get(&app, OSTERSUND, "/audit?limit=1000").await;
    assert_eq!(status, 200);
    assert!(
        own["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["organisation"] == "2380")
    );
    let (status, _) = get(&app, OSTERSUND, "/audit?organisation=2309").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_consent_recorded_in_cosmic_link_permits_what_it_names_until_it_is_withdrawn() {
    let (app, _inbox) = subscribed().await;
    let admission = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case = brygga::domain::case::CaseId::parse(admission["case_id"].as_str().unwrap()).unwrap();
    post_cosmic(&app, "03-samtycke.xml").await;
    for name in [
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
    ] {
        post_cosmic(&app, name).await;
    }
    // The consent covers health information to Östersund: the summary goes there, on it.
    let information = post_cosmic(&app, "19-information-vid-utskrivning.xml").await;
    let seq = information["sequence"].as_u64().unwrap();
    let audit = app.store.audit_for_case(case).await.unwrap();
    let to_ostersund = audit
        .iter()
        .find(|r| {
            r.action == "disclose information_at_discharge"
                && r.organisation.as_deref() == Some("2380")
        })
        .expect("disclosed to Östersund");
    assert_eq!(
        to_ostersund.legal_basis.as_deref(),
        Some("consent SAM-2026-0042 (recorded by SE2321000214-1000)")
    );
    let outbox = app.store.outbox_status_for_case(case).await.unwrap();
    assert!(outbox.iter().any(|(d, s, _)| *s == seq && d == "ostersund"));
    // Withdrawn in Cosmic Link: the registry shows it withdrawn, and the next step relying on
    // it is withheld.
    app.clock.advance(jiff::SignedDuration::from_hours(30));
    post_cosmic(&app, "09-samtycke-aterkallat.xml").await;
    let registry = app.store.case_consents(case).await.unwrap();
    assert_eq!(registry.len(), 1);
    assert!(registry[0].directive.withdrawn_at.is_some());
    let (_, found) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
    )
    .await;
    assert_eq!(found["entry"][0]["resource"]["status"], "inactive");
    // It is readable as a resource of its own, but withdrawn (or not) only in its case.
    let id = found["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        found["entry"][0]["fullUrl"],
        app.url(&format!("/fhir/Consent/{id}"))
    );
    let (status, one) = get(&app, OSTERSUND, &format!("/fhir/Consent/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["category"][0]["coding"][0]["code"], "disclosure");
    let response = app
        .region()
        .await
        .put(app.url(&format!("/fhir/Consent/{id}")))
        .header("content-type", "application/fhir+json")
        .header(
            "if-match",
            format!("W/\"{}\"", one["meta"]["versionId"].as_str().unwrap()),
        )
        .json(&one)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn a_municipality_records_and_withdraws_a_consent_in_its_own_dialect() {
    let app = spawn_app().await;
    post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let post = |name: &'static str| {
        let app = &app;
        async move {
            app.as_client(OSTERSUND)
                .await
                .post(app.url("/municipal/treserva-like/v1/messages"))
                .header("content-type", "application/xml")
                .body(
                    std::fs::read(
                        repo_root()
                            .join("mappings/municipal/treserva-like/examples")
                            .join(name),
                    )
                    .unwrap(),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let response = post("06-samtycke.xml").await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (_, found) = get(
        &app,
        REGION,
        &format!("/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
    )
    .await;
    assert_eq!(found["total"], 1);
    let consent = &found["entry"][0]["resource"];
    assert_eq!(consent["status"], "active");
    assert_eq!(consent["category"][0]["coding"][0]["code"], "disclosure");
    app.clock.advance(jiff::SignedDuration::from_hours(80));
    assert_eq!(post("12-samtycke-aterkallat.xml").await.status(), 200);
    let (_, found) = get(
        &app,
        REGION,
        &format!("/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"),
    )
    .await;
    assert_eq!(found["entry"][0]["resource"]["status"], "inactive");
}

#[tokio::test]
async fn a_consent_has_a_version_as_recorded_and_one_withdrawn() {
    let app = spawn_app().await;
    // Recorded by a principal that takes part in a case of the person.
    app.admitted_case().await;
    let (status, created) = post_consent(&app, REGION, &consent("disclosure")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["meta"]["versionId"], "1");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/fhir/Consent/{id}");
    let mut withdrawn = created.clone();
    withdrawn["status"] = json!("inactive");
    let put = |version: &'static str| {
        let (app, path, withdrawn) = (&app, path.clone(), withdrawn.clone());
        async move {
            let response = app
                .as_client(REGION)
                .await
                .put(app.url(&path))
                .header("content-type", "application/fhir+json")
                .header("if-match", version)
                .json(&withdrawn)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let etag = response
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, etag, response.json::<Value>().await.unwrap())
        }
    };
    let (status, etag, answer) = put("W/\"1\"").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "inactive");
    assert_eq!(answer["meta"]["versionId"], "2");
    assert_eq!(etag.as_deref(), Some("W/\"2\""));
    // A withdrawal made on version 1 is refused now.
    let (status, _, outcome) = put("W/\"1\"").await;
    assert_eq!(status, 412, "{outcome}");
    let (status, first) = get(&app, REGION, &format!("{path}/_history/1")).await;
    assert_eq!(status, 200);
    assert_eq!(first["status"], "active");
    let (_, history) = get(&app, REGION, &format!("{path}/_history")).await;
    assert_eq!(history["total"], 2, "{history}");
    assert_eq!(history["entry"][0]["resource"]["status"], "inactive");
    let (status, _) = get(&app, REGION, &format!("{path}/_history/3")).await;
    assert_eq!(status, 404);
}

/// A consent to disclose an organisation's information is that organisation's to record and to
/// withdraw: another principal that sees it cannot withdraw it through the registry. And a
/// withdrawal stops disclosures, never an organisation's view of what it sent itself.
#[tokio::test]
async fn only_the_recorder_withdraws_a_consent_and_its_own_steps_stay_visible() {
    let (app, _inbox) = subscribed().await;
    post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let (_, sip) = post_consent(&app, REGION, &consent("sip")).await;
    let (_, disclosure) = post_consent(&app, REGION, &consent("disclosure")).await;
    for name in [
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
        "11-kallelse-sip.xml",
    ] {
        post_cosmic(&app, name).await;
    }
    let person = format!("/fhir/Task?patient={PNR_SYSTEM}|{PERSONNUMMER}");
    let (_, before) = get(&app, REGION, &person).await;
    let own_before = before["total"].as_u64().unwrap();
    assert!(own_before > 0, "{before}");

    // Östersund sees the region's consents, but cannot withdraw them.
    let withdraw = |client: &'static str, created: Value| {
        let app = &app;
        async move {
            let id = created["id"].as_str().unwrap().to_owned();
            let mut withdrawn = created.clone();
            withdrawn["status"] = json!("inactive");
            let response = app
                .as_client(client)
                .await
                .put(app.url(&format!("/fhir/Consent/{id}")))
                .header("content-type", "application/fhir+json")
                .header("if-match", "W/\"1\"")
                .json(&withdrawn)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, outcome) = withdraw(OSTERSUND, sip.clone()).await;
    assert_eq!(status, 403, "{outcome}");
    let says = outcome["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(says.contains("recorded by"), "{says}");
    let (_, still) = get(
        &app,
        REGION,
        &format!("/fhir/Consent/{}", sip["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(still["status"], "active", "{still}");
    assert_eq!(still["meta"]["versionId"], "1", "{still}");

    // The region withdraws them: its own steps stay in its view.
    for created in [sip, disclosure] {
        let (status, outcome) = withdraw(REGION, created).await;
        assert_eq!(status, 200, "{outcome}");
    }
    let (_, after) = get(&app, REGION, &person).await;
    assert_eq!(after["total"].as_u64().unwrap(), own_before, "{after}");
}
