//! RIV-TA GetCarePlans 2: the shipped request fixture read as a SOAP request, a response
//! written for a SIP plan and a nullified discharge plan, both checked against the contract's
//! schema with xmllint and against the golden response in `fixtures/riv/`.

use brygga::domain::event::PlanType;
use brygga::domain::identifiers::PersonId;
use brygga::formats::riv::{
    Author, CarePlan, Content, RESPONDER, ResultCode, RivResult, SOAP_ENVELOPE, decode_request,
    encode_fault, encode_response, response_body,
};

use crate::golden::{check_text, repo, validate};

const TODAY: jiff::civil::Date = jiff::civil::date(2026, 12, 6);

fn responder_xsd() -> std::path::PathBuf {
    repo().join(
        "mappings/riv/schemas/interactions/GetCarePlansInteraction/GetCarePlansResponder_2.0.xsd",
    )
}

/// The request fixture (the `GetCarePlans` element alone) in a SOAP envelope with the RIV-TA
/// address header, as a consumer sends it.
fn request_envelope() -> String {
    let body = std::fs::read_to_string(repo().join("fixtures/riv/GetCarePlans.xml")).unwrap();
    let body = body.trim_start_matches(|c| c != '\n').trim();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE}" xmlns:urn="urn:riv:itintegration:registry:1">
<soapenv:Header><urn:LogicalAddress>SE2321000214-1000</urn:LogicalAddress></soapenv:Header>
<soapenv:Body>{body}</soapenv:Body>
</soapenv:Envelope>"#
    )
}

#[test]
fn the_request_fixture_is_valid_and_read() {
    let fixture = std::fs::read(repo().join("fixtures/riv/GetCarePlans.xml")).unwrap();
    validate(&responder_xsd(), &fixture, "fixtures/riv/GetCarePlans.xml");
    let request = decode_request(request_envelope().as_bytes(), TODAY).unwrap();
    assert_eq!(request.logical_address, "SE2321000214-1000");
    assert_eq!(request.care_units.len(), 1);
    let PersonId::Personnummer(person) = &request.patient else {
        panic!("the fixture asks for a personnummer");
    };
    assert_eq!(person.as_digits(), "195504152389");
    assert_eq!(
        request.date_period,
        Some((
            jiff::civil::date(2026, 11, 1),
            jiff::civil::date(2026, 12, 31)
        ))
    );
}

fn plans() -> Vec<CarePlan> {
    let patient = PersonId::Personnummer("195504152389".parse().unwrap());
    let at: jiff::Timestamp = "2026-11-26T13:30:00Z".parse().unwrap();
    vec![
        CarePlan {
            document_id: "SIP-2026-0042".into(),
            source_system: "SE2321000214-BRYG".parse().unwrap(),
            title: Some("Samordnad individuell plan".into()),
            document_time: Some(at),
            patient: patient.clone(),
            author: Author {
                time: at,
                hsa_id: Some("SE2321000214-E3HC".parse().unwrap()),
                name: Some("Avdelning 3, Östersunds sjukhus & <akut>".into()),
                care_unit: Some("SE2321000214-E3HC".parse().unwrap()),
                care_giver: Some("SE2321000214-1000".parse().unwrap()),
            },
            approved_for_patient: false,
            nullified: None,
            care_contact_id: None,
            content: vec![Content {
                id: None,
                media_type: "text/plain",
                value: "Hemtjänst: kommunen. Hemsjukvård: kommunen."
                    .as_bytes()
                    .to_vec(),
            }],
            participating_care_units: vec![
                "SE2321000214-E3HC".parse().unwrap(),
                "SE2120002411-HSJV".parse().unwrap(),
            ],
            plan_type: Some(PlanType::Sip),
        },
        CarePlan {
            document_id: "SPU-2026-0007".into(),
            source_system: "SE2321000214-BRYG".parse().unwrap(),
            title: None,
            document_time: None,
            patient,
            author: Author {
                time: "2026-07-01T08:00:00Z".parse().unwrap(),
                hsa_id: None,
                name: None,
                care_unit: None,
                care_giver: None,
            },
            approved_for_patient: false,
            nullified: Some("replaced by a later version".into()),
            care_contact_id: Some("K-17".into()),
            content: Vec::new(),
            participating_care_units: Vec::new(),
            plan_type: Some(PlanType::Spu),
        },
    ]
}

fn ok() -> RivResult {
    RivResult {
        code: ResultCode::Ok,
        invalid_request: false,
        log_id: "7f1c3a52-1d0e-4c55-9a43-2f4e8a3b9d10".into(),
        sub_code: None,
        message: None,
    }
}

#[test]
fn a_response_validates_and_matches_its_golden_file() {
    let body = response_body(&plans(), &ok());
    validate(
        &responder_xsd(),
        body.as_bytes(),
        "the response to GetCarePlans",
    );
    check_text(&repo().join("fixtures/riv/GetCarePlansResponse.xml"), &body);
    // Times are Swedish: 13:30 UTC in November is 14:30, 08:00 UTC in July is 10:00.
    assert!(body.contains("<c:documentTime>20261126143000</c:documentTime>"));
    assert!(body.contains("<c:authorTime>20260701100000</c:authorTime>"));
    assert!(body.contains("Östersunds sjukhus &amp; &lt;akut&gt;"));
    let envelope = encode_response(&plans(), &ok());
    assert!(envelope.contains(&body) && envelope.contains(SOAP_ENVELOPE));
    assert!(envelope.contains(RESPONDER));
}

/// Every kind of result the contract defines validates: none, an error the consumer caused
/// (`INVALID_REQUEST`), information with a sub code and message.
#[test]
fn every_result_validates() {
    for result in [
        ok(),
        RivResult {
            code: ResultCode::Error,
            invalid_request: true,
            log_id: "a".into(),
            sub_code: None,
            message: Some("patientId/type <1.2.3> is not a person identifier type".into()),
        },
        RivResult {
            code: ResultCode::Info,
            invalid_request: false,
            log_id: "b".into(),
            sub_code: Some("PROTECTED_IDENTITY".into()),
            message: Some("some plans are not disclosed".into()),
        },
    ] {
        validate(
            &responder_xsd(),
            response_body(&[], &result).as_bytes(),
            &format!("a response with {:?}", result.code),
        );
    }
}

#[test]
fn a_fault_escapes_its_message() {
    let fault = encode_fault(true, "<patientId> & more");
    assert!(fault.contains("<faultcode>soap:Client</faultcode>"));
    assert!(fault.contains("&lt;patientId&gt; &amp; more"));
    assert!(encode_fault(false, "x").contains("soap:Server"));
    brygga::formats::xml::parse(fault.as_bytes()).expect("a fault is well-formed");
}
