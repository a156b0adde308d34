//! The national platform's GetCarePlans 2 over mutual TLS on loopback: a real SOAP client
//! (zeep, built from the WSDL the gateway serves at `?wsdl`) reads the plans of the shipped scenario 23 as the
//! registered consumers; every response validates against the contract's schema (xmllint); a
//! plan without the person's consent and the plans of a person with protected identity are not
//! disclosed; a consumer not known by a certificate of the platform's CA, or a request that
//! breaks the contract, gets a SOAP fault saying why; every read is audited under its `logId`.

use std::io::Write;

use brygga::config::{RivSettings, TlsSettings};
use serde_json::Value;

use crate::helpers::{AUDITOR, TestApp, cosmic_example, repo_root, spawn_app_at_with};

const PRODUCER: &str = "SE2321000214-BRYG";
const PERSON: &str = "198112189876";
const ACTION: &str = "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans";
/// Where the contract is served (the router's literal, which `check-config` and the
/// conformance report quote as `brygga::http::RIV_PATH`).
const PATH: &str = brygga::http::RIV_PATH;
/// The registered consumers (deploy/config/clients.toml): reading as the region, and as
/// Östersund.
const REGION_CONSUMER: &str = "riv-consumer";
const SCENARIO: &str = "fixtures/scenarios/23-plan-read-through-the-national-platform.toml";

fn tls_file(name: &str) -> std::path::PathBuf {
    repo_root().join("fixtures/tls").join(name)
}

/// A gateway speaking HTTPS, serving GetCarePlans as `PRODUCER` to consumers with
/// certificates of the test platform CA; the consumer certificate `riv-consumer` names the
/// region's consumer (`SE5565594230-NPO1`).
async fn riv_app() -> TestApp {
    spawn_app_at_with("2026-12-01T12:00:00Z", |settings| {
        settings.server.tls = Some(TlsSettings {
            certificate_file: tls_file("server.pem"),
            key_file: tls_file("server.key"),
            client_ca_file: Some(tls_file("ca.pem")),
        });
        settings.riv = RivSettings {
            hsa_id: Some(PRODUCER.to_owned()),
            trust_anchors_file: Some(tls_file("riv-ca.pem")),
        };
    })
    .await
}

/// A client trusting the test CA, presenting `identity`'s certificate if given.
fn consumer(identity: Option<&str>) -> reqwest::Client {
    let mut builder = crate::helpers::http_client();
    if let Some(name) = identity {
        let pem = std::fs::read(tls_file(&format!("{name}.identity.pem"))).unwrap();
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

fn envelope(logical_address: &str, request: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:riv:itintegration:registry:1" xmlns:r="urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2" xmlns:c="urn:riv:clinicalprocess:logistics:logistics:3">
<soapenv:Header><urn:LogicalAddress>{logical_address}</urn:LogicalAddress></soapenv:Header>
<soapenv:Body><r:GetCarePlans>{request}</r:GetCarePlans></soapenv:Body>
</soapenv:Envelope>"#
    )
}

fn patient(person: &str) -> String {
    format!("<r:patientId><c:id>{person}</c:id><c:type>1.2.752.129.2.1.3.1</c:type></r:patientId>")
}

/// Posts `body` to the producer as `http` with `action`; the status and the answer.
async fn soap(
    app: &TestApp,
    http: &reqwest::Client,
    body: String,
    action: Option<&str>,
) -> (u16, String) {
    let mut request = http
        .post(app.url(PATH))
        .header("content-type", "text/xml; charset=utf-8")
        .body(body);
    if let Some(action) = action {
        request = request.header("soapaction", format!("\"{action}\""));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    (status, response.text().await.unwrap())
}

/// Reads `person`'s plans as `identity`; the response, checked against the contract's schema.
async fn read(app: &TestApp, identity: &str, request: &str) -> String {
    let (status, answer) = soap(
        app,
        &consumer(Some(identity)),
        envelope(PRODUCER, request),
        Some(ACTION),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    validate(&answer);
    answer
}

/// The `GetCarePlansResponse` element of a SOAP answer validated with xmllint against the
/// contract's schema.
fn validate(answer: &str) {
    let start = answer.find("<r:GetCarePlansResponse").expect(answer);
    let end =
        answer.find("</r:GetCarePlansResponse>").expect(answer) + "</r:GetCarePlansResponse>".len();
    let schema = repo_root().join(
        "mappings/riv/schemas/interactions/GetCarePlansInteraction/GetCarePlansResponder_2.0.xsd",
    );
    let mut child = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&schema)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("xmllint (libxml2-utils) checks the responses");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&answer.as_bytes()[start..end])
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the response does not validate against GetCarePlansResponder_2.0.xsd:\n{}\n{answer}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The texts of every `<tag>` in `xml`.
fn all(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .map(|rest| {
            rest.split(&close)
                .next()
                .unwrap()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

fn one(xml: &str, tag: &str) -> String {
    let found = all(xml, tag);
    assert_eq!(found.len(), 1, "one <{tag}> in {xml}");
    found[0].clone()
}

/// Posts every message of scenario 23 (in order, with its replacements) as the region's
/// Cosmic Link integration.
async fn post_scenario(app: &TestApp) {
    let scenario = brygga::replay::load(&repo_root().join(SCENARIO)).unwrap();
    for step in &scenario.steps {
        let (Some(format), Some(file)) = (&step.send, &step.file) else {
            continue;
        };
        assert_eq!(format, "cosmic-link");
        let mut text = std::fs::read_to_string(scenario.dir.join(file)).unwrap();
        for (from, to) in &step.replace {
            text = text.replace(from.as_str(), to);
        }
        let response = app.post_cosmic_link(text.into_bytes()).await;
        let status = response.status();
        assert!(
            status.is_success(),
            "{status}: {}",
            response.text().await.unwrap()
        );
    }
}

/// Runs the zeep consumer with `identity`'s certificate; what it read.
async fn zeep(app: &TestApp, identity: Option<&str>, care_unit: Option<&str>) -> Value {
    let mut env = vec![
        ("BRYGGA_RIV_URL", app.url(PATH)),
        // The description as the gateway serves it (`?wsdl`, its schemas at `?xsd=`).
        ("BRYGGA_WSDL", format!("{}?wsdl", app.url(PATH))),
        ("BRYGGA_CA", tls_file("ca.pem").display().to_string()),
        ("BRYGGA_LOGICAL_ADDRESS", PRODUCER.to_owned()),
        ("BRYGGA_PERSON", PERSON.to_owned()),
    ];
    if let Some(name) = identity {
        env.push((
            "BRYGGA_IDENTITY",
            tls_file(&format!("{name}.identity.pem"))
                .display()
                .to_string(),
        ));
    }
    if let Some(unit) = care_unit {
        env.push(("BRYGGA_CARE_UNIT", unit.to_owned()));
    }
    crate::helpers::run_client("zeep_getcareplans.py", env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_client_reads_the_scenarios_plans_over_mutual_tls() {
    let app = riv_app().await;
    post_scenario(&app).await;

    let read = zeep(&app, Some(REGION_CONSUMER), None).await;
    assert_eq!(read["result"]["resultCode"], "OK", "{read}");
    let plans = read["plans"].as_array().unwrap();
    let titles: Vec<&str> = plans
        .iter()
        .map(|p| p["documentTitle"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Samordnad individuell plan (SIP), version 1",
            "Samordnad individuell plan (SIP), version 2"
        ]
    );
    for (i, plan) in plans.iter().enumerate() {
        let id = plan["documentId"].as_str().unwrap();
        assert!(
            id.starts_with("CarePlan/") && id.ends_with(&format!("/_history/{}", i + 1)),
            "{id}"
        );
        assert_eq!(plan["sourceSystemHSAId"], PRODUCER);
        assert_eq!(plan["patientId"], PERSON);
        assert_eq!(plan["type"], "SIP");
        assert_eq!(plan["careUnit"], "SE2321000214-E3HC");
        assert_eq!(plan["careGiver"], "SE2321000214-1000");
        assert_eq!(plan["content"][0]["mediaType"], "text/plain");
    }
    // The same plan, as made and as revised; the units taking part named.
    let first = plans[0]["content"][0]["text"].as_str().unwrap();
    let second = plans[1]["content"][0]["text"].as_str().unwrap();
    assert!(
        first.contains("såromläggning två gånger i veckan"),
        "{first}"
    );
    assert!(
        second.contains("såromläggning tre gånger i veckan"),
        "{second}"
    );
    assert!(second.contains("Övergripande ansvar: kommunen"), "{second}");
    assert_eq!(
        plans[0]["documentId"]
            .as_str()
            .unwrap()
            .split("/_history")
            .next(),
        plans[1]["documentId"]
            .as_str()
            .unwrap()
            .split("/_history")
            .next()
    );
    let units: Vec<&str> = plans[1]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(
        units,
        [
            "SE2321000214-E3HC",
            "SE2120002411-HSJV",
            "SE2321000214-E2VC"
        ]
    );
    // The same id the FHIR API gives the plan.
    let (status, found) = app
        .get_json(
            crate::helpers::REGION,
            &format!(
                "/fhir/CarePlan?patient=http://electronichealth.se/identifier/personnummer|{PERSON}"
            ),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        format!(
            "CarePlan/{}",
            found["entry"][0]["resource"]["id"].as_str().unwrap()
        ),
        plans[0]["documentId"]
            .as_str()
            .unwrap()
            .split("/_history")
            .next()
            .unwrap()
    );

    // A filter on a unit of no plan finds none; one of the plan's units finds both versions.
    let read = zeep(&app, Some(REGION_CONSUMER), Some("SE2321000214-E1AV")).await;
    assert_eq!(read["result"]["resultCode"], "OK");
    assert_eq!(read["plans"].as_array().unwrap().len(), 0, "{read}");
    let read = zeep(&app, Some(REGION_CONSUMER), Some("SE2120002411-HSJV")).await;
    assert_eq!(read["plans"].as_array().unwrap().len(), 2, "{read}");

    // Without a certificate of the platform's CA, zeep gets the contract's fault.
    let read = zeep(&app, None, None).await;
    assert_eq!(read["code"], "soap:Client", "{read}");
    assert!(
        read["fault"]
            .as_str()
            .unwrap()
            .contains("no client certificate"),
        "{read}"
    );

    // Every response validates against the schema, and the read is audited under its logId.
    let answer = read_region(&app).await;
    let log_id = one(&answer, "c:logId");
    let (status, audit) = app.get_json(AUDITOR, "/audit?limit=1000").await;
    assert_eq!(status, 200);
    let text = audit.to_string();
    assert!(text.contains(&log_id), "the disclosure is audited: {audit}");
    assert!(text.contains("disclose plans (GetCarePlans)"), "{audit}");
    assert!(text.contains("read plans (GetCarePlans)"), "{audit}");
    assert!(
        !text.contains("såromläggning"),
        "no plan text in the audit log"
    );
}

async fn read_region(app: &TestApp) -> String {
    let answer = read(app, REGION_CONSUMER, &patient(PERSON)).await;
    assert_eq!(one(&answer, "c:resultCode"), "OK", "{answer}");
    assert_eq!(all(&answer, "c:documentTitle").len(), 2, "{answer}");
    answer
}

#[tokio::test]
async fn a_plan_without_consent_and_a_protected_person_are_not_disclosed() {
    let app = riv_app().await;
    app.admitted_case().await;
    let response = app
        .post_cosmic_link(cosmic_example("18-plan-sip.xml"))
        .await;
    assert!(response.status().is_success());
    // The region's consumer reads the region's own plan; Östersund's is told a plan is
    // blocked, and nothing of it.
    let answer = read(&app, REGION_CONSUMER, &patient(PERSON)).await;
    assert_eq!(all(&answer, "c:documentTitle").len(), 1, "{answer}");
    let answer = read(&app, "riv-consumer-ostersund", &patient(PERSON)).await;
    assert_eq!(one(&answer, "c:resultCode"), "INFO", "{answer}");
    assert_eq!(one(&answer, "c:subCode"), "BLOCKED_INFORMATION");
    assert!(all(&answer, "r:carePlan").is_empty(), "{answer}");
    assert!(!answer.contains("P-2026-0311"), "{answer}");
    // A person nobody has a case of: OK, nothing.
    let answer = read(&app, REGION_CONSUMER, &patient("195504152389")).await;
    assert_eq!(one(&answer, "c:resultCode"), "OK");
    assert!(all(&answer, "r:carePlan").is_empty());

    // A person with protected identity: no plan, even the region's own, and the result says
    // why.
    let protected = riv_app().await;
    let admission = String::from_utf8(cosmic_example("01-inskrivningsmeddelande.xml"))
        .unwrap()
        .replace(
            "</Patient>",
            "<SkyddadIdentitet>true</SkyddadIdentitet></Patient>",
        );
    assert!(
        protected
            .post_cosmic_link(admission.into_bytes())
            .await
            .status()
            .is_success()
    );
    assert!(
        protected
            .post_cosmic_link(cosmic_example("18-plan-sip.xml"))
            .await
            .status()
            .is_success()
    );
    let answer = read(&protected, REGION_CONSUMER, &patient(PERSON)).await;
    assert_eq!(one(&answer, "c:resultCode"), "INFO", "{answer}");
    assert_eq!(one(&answer, "c:subCode"), "PROTECTED_IDENTITY");
    assert!(all(&answer, "r:carePlan").is_empty(), "{answer}");
}

#[tokio::test]
async fn consumers_are_known_by_the_platforms_certificates_and_bad_requests_are_faults() {
    let app = riv_app().await;
    app.admitted_case().await;
    let request = || envelope(PRODUCER, &patient(PERSON));
    let fault = |answer: &str, words: &str| {
        assert_eq!(one(answer, "faultcode"), "soap:Client", "{answer}");
        let message = one(answer, "faultstring");
        assert!(message.contains(words), "{words:?} in {message:?}");
        assert!(
            !message.contains(PERSON),
            "the number is not quoted: {message}"
        );
    };
    for (identity, words) in [
        (None, "no client certificate was presented"),
        // The registered HSA-id, on a certificate of another CA (the gateway's client CA).
        (
            Some("riv-wrong-anchor"),
            "not one of the national platform's",
        ),
        (Some("riv-unregistered"), "SE5565594230-XXX9"),
        // A SMART client's certificate: of the client CA, naming no HSA-id.
        (
            Some("ostersund-treserva"),
            "not one of the national platform's",
        ),
    ] {
        let (status, answer) = soap(&app, &consumer(identity), request(), Some(ACTION)).await;
        assert_eq!(status, 500, "{answer}");
        fault(&answer, words);
    }
    // A SMART client's token is no way in either.
    let token_client = app.as_client(crate::helpers::REGION).await;
    let (status, answer) = soap(&app, &token_client, request(), Some(ACTION)).await;
    assert_eq!(status, 500);
    fault(&answer, "no client certificate");

    let http = consumer(Some(REGION_CONSUMER));
    let (_, answer) = soap(&app, &http, request(), None).await;
    fault(&answer, "SOAPAction");
    let (_, answer) = soap(&app, &http, request(), Some("urn:other")).await;
    fault(&answer, "SOAPAction");
    let (_, answer) = soap(
        &app,
        &http,
        envelope("SE2321000214-1000", &patient(PERSON)),
        Some(ACTION),
    )
    .await;
    fault(&answer, "LogicalAddress");
    let (_, answer) = soap(
        &app,
        &http,
        envelope(
            PRODUCER,
            &patient(PERSON).replace("1.2.752.129.2.1.3.1", "1.2.3"),
        ),
        Some(ACTION),
    )
    .await;
    fault(&answer, "/Envelope/Body/GetCarePlans/patientId/type");
    let (_, answer) = soap(
        &app,
        &http,
        envelope(
            PRODUCER,
            &format!(
                "{}<r:datePeriod><c:start>20261301</c:start><c:end>20261231</c:end></r:datePeriod>",
                patient(PERSON)
            ),
        ),
        Some(ACTION),
    )
    .await;
    fault(&answer, "datePeriod/start");
    let (_, answer) = soap(&app, &http, "<not-soap/>".to_owned(), Some(ACTION)).await;
    fault(&answer, "SOAP 1.1");
    let (_, answer) = soap(&app, &http, "<unclosed>".to_owned(), Some(ACTION)).await;
    assert_eq!(one(&answer, "faultcode"), "soap:Client", "{answer}");

    // Only the national service platform names the consumer it calls for, and only a
    // registered one; the read is then that consumer's.
    let original = |id: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-rivta-original-serviceconsumer-hsaid",
            id.parse().unwrap(),
        );
        headers
    };
    let through = |identity: &str, named: Option<&str>| {
        let mut builder = crate::helpers::http_client().identity(
            reqwest::Identity::from_pem(
                &std::fs::read(tls_file(&format!("{identity}.identity.pem"))).unwrap(),
            )
            .unwrap(),
        );
        if let Some(id) = named {
            builder = builder.default_headers(original(id));
        }
        builder.build().unwrap()
    };
    for (identity, named, words) in [
        (
            REGION_CONSUMER,
            Some("SE5565594230-NPO2"),
            "which only the national service platform may",
        ),
        ("riv-platform", None, "must name the consumer it calls for"),
        (
            "riv-platform",
            Some("SE5565594230-XXX9"),
            "SE5565594230-XXX9",
        ),
        (
            "riv-platform",
            Some("SE165565594230-1000"),
            "a platform, not a consumer",
        ),
        ("riv-platform", Some("not an HSA-id"), "is no HSA-id"),
    ] {
        let (status, answer) = soap(&app, &through(identity, named), request(), Some(ACTION)).await;
        assert_eq!(status, 500, "{answer}");
        fault(&answer, words);
    }
    let (status, answer) = soap(
        &app,
        &through("riv-platform", Some("SE5565594230-NPO1")),
        request(),
        Some(ACTION),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    validate(&answer);
    assert_eq!(one(&answer, "c:resultCode"), "OK", "{answer}");

    // Each consumer refused is audited, with what its certificate said and why.
    let (_, audit) = app
        .get_json(crate::helpers::AUDITOR, "/audit?limit=1000")
        .await;
    let refusals: Vec<&Value> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "refused GetCarePlans")
        .collect();
    assert!(refusals.len() >= 9, "{audit}");
    assert!(
        refusals
            .iter()
            .any(|r| r["actor"] == "riv:SE5565594230-XXX9"
                && r["details"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("not registered")),
        "{audit}"
    );
    assert!(
        refusals
            .iter()
            .any(|r| r["actor"] == "riv:unknown certificate")
    );

    // The faults' valid neighbour: the same request is answered.
    let answer = read(&app, REGION_CONSUMER, &patient(PERSON)).await;
    assert_eq!(one(&answer, "c:resultCode"), "OK", "{answer}");
}

#[test]
fn the_consumers_hsa_id_is_read_from_the_certificate_subject() {
    let der = |name: &str| {
        rustls_pki_types::CertificateDer::from_pem_file(tls_file(name))
            .unwrap()
            .to_vec()
    };
    use rustls_pki_types::pem::PemObject;
    let id = |name: &str| brygga::http::subject_hsa_id(&der(name)).map(|id| id.to_string());
    // serialNumber, as the platform's function certificates carry it; else CN.
    assert_eq!(id("riv-consumer.pem").unwrap(), "SE5565594230-NPO1");
    assert_eq!(id("riv-cn-only.pem").unwrap(), "SE5565594230-NPO3");
    let refused = id("ostersund-treserva.pem").unwrap_err();
    assert!(refused.contains("names no HSA-id"), "{refused}");
    let refused = brygga::http::subject_hsa_id(b"not a certificate").unwrap_err();
    assert!(refused.contains("cannot be read"), "{refused}");
}

#[tokio::test]
async fn the_service_description_is_served_with_its_schemas_at_the_gateway() {
    let app = riv_app().await;
    let http = crate::helpers::http_client().build().unwrap();
    let endpoint = app.url(PATH);
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{endpoint}?{query}");
        async move {
            let response = http.get(&url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, wsdl) = get("wsdl".to_owned()).await;
    assert_eq!(status, 200, "{wsdl}");
    assert!(wsdl.contains(&format!("location='{endpoint}'")), "{wsdl}");
    assert!(!wsdl.contains("tempuri"), "{wsdl}");
    // Every schema it imports is there, and theirs too; each is the shipped file but for its
    // imports' locations.
    let mut pending = vec![wsdl];
    let mut fetched = std::collections::BTreeSet::new();
    while let Some(document) = pending.pop() {
        for part in document.split("schemaLocation=").skip(1) {
            let quote = part.chars().next().unwrap();
            let location = part[1..].split(quote).next().unwrap();
            let query = location
                .strip_prefix(&format!("{endpoint}?"))
                .unwrap_or_else(|| panic!("{location} is not at {endpoint}"));
            if fetched.insert(query.to_owned()) {
                let (status, schema) = get(query.to_owned()).await;
                assert_eq!(status, 200, "{query}: {schema}");
                assert!(schema.contains("<xs:schema"), "{query}");
                pending.push(schema);
            }
        }
    }
    assert_eq!(fetched.len(), 4, "{fetched:?}");
    let (status, answer) = get("xsd=../../secrets.pem".to_owned()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("?wsdl"), "{answer}");
}
