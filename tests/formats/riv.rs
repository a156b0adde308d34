//! RIV-TA GetCarePlans 2: the shipped request fixture read as a SOAP request, a response
//! written for a SIP plan and a nullified discharge plan, both checked against the contract's
//! schema with xmllint and against the golden response in `fixtures/riv/`.

use brygga::domain::event::PlanType;
use brygga::domain::identifiers::{HsaId, PersonId};
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

/// The plan of the shipped canonical corpus (Cosmic Link's SIP plan example), as an event.
fn plan_event() -> brygga::domain::event::Event {
    let bytes =
        std::fs::read(repo().join("fixtures/municipal/canonical/cosmic-link-plan-sip.json"))
            .unwrap();
    brygga::formats::canonical::parse::<brygga::formats::canonical::CaseReference>(&bytes)
        .unwrap()
        .event
}

struct Names;

impl brygga::formats::riv::Parties for Names {
    fn name(&self, party: &brygga::domain::party::Party) -> Option<String> {
        matches!(party, brygga::domain::party::Party::RegionUnit { .. })
            .then(|| "Odensala hälsocentral".to_owned())
    }
    fn care_giver(&self, party: &brygga::domain::party::Party) -> Option<HsaId> {
        matches!(party, brygga::domain::party::Party::RegionUnit { .. })
            .then(|| HsaId::parse("SE2321000214-1000").unwrap())
    }
}

fn mapped(events: &[brygga::domain::event::Event]) -> Vec<CarePlan> {
    let person = PersonId::Personnummer("198112189876".parse().unwrap());
    let producer = HsaId::parse("SE2321000214-BRYG").unwrap();
    let id = |plan: &str, version: u32| format!("{plan}/{version}");
    brygga::formats::riv::CasePlans {
        person: &person,
        source_system: &producer,
        document_id: &id,
        parties: &Names,
    }
    .plans(events)
}

#[test]
fn each_version_of_a_plan_is_a_document_and_a_cancelled_case_nullifies_them() {
    let first = plan_event();
    let mut second = first.clone();
    second.occurred_at = first.occurred_at + jiff::SignedDuration::from_hours(24);
    let plans = mapped(&[first.clone(), second.clone()]);
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0].document_id, "P-2026-0311/1");
    assert_eq!(plans[1].document_id, "P-2026-0311/2");
    assert_eq!(
        plans[1].title.as_deref(),
        Some("Samordnad individuell plan (SIP), version 2")
    );
    assert_eq!(plans[1].document_time, Some(second.occurred_at));
    let plan = &plans[0];
    assert_eq!(plan.plan_type, Some(PlanType::Sip));
    assert_eq!(
        plan.author.care_unit.as_ref().unwrap().as_str(),
        "SE2321000214-E3HC"
    );
    assert_eq!(
        plan.author.care_giver.as_ref().unwrap().as_str(),
        "SE2321000214-1000"
    );
    let units: Vec<&str> = plan
        .participating_care_units
        .iter()
        .map(HsaId::as_str)
        .collect();
    assert_eq!(
        units,
        [
            "SE2321000214-E3HC",
            "SE2120002411-HSJV",
            "SE2321000214-E2VC"
        ]
    );
    let text = String::from_utf8(plan.content[0].value.clone()).unwrap();
    for line in [
        "av Odensala hälsocentral (SE2321000214-E3HC)",
        "Övergripande ansvar: kommunen",
        "- Hemtjänst morgon och kväll, hjälp med personlig omvårdnad. (ansvar: kommunen, utförs av kommun 2380, hemtjänst)",
        "- Dottern handlar och följer med till återbesök. (andra aktörer)",
        "Uppföljning: 2026-12-10",
        "Närstående deltog: ja",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(plans.iter().all(|p| p.nullified.is_none()));
    // The body validates as the contract has it.
    let body = response_body(&plans, &ok());
    validate(&responder_xsd(), body.as_bytes(), "the mapped plans");

    let mut cancelled = first.clone();
    cancelled.kind = brygga::domain::event::EventKind::CaseCancelled {
        reason: brygga::domain::sensitive::Sensitive::new("registrerad av misstag".to_owned()),
    };
    let plans = mapped(&[first, cancelled]);
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].nullified.as_deref(),
        Some("Samordningsärendet har makulerats.")
    );
}

#[test]
fn the_requests_filters_choose_among_the_plans() {
    let plan = &mapped(&[plan_event()])[0];
    let day = plan
        .document_time
        .unwrap()
        .to_zoned_datetime(brygga::domain::time::stockholm())
        .date();
    let envelope = |body: &str| {
        format!(
            r#"<s:Envelope xmlns:s="{SOAP_ENVELOPE}" xmlns:a="urn:riv:itintegration:registry:1" xmlns:r="{RESPONDER}" xmlns:c="urn:riv:clinicalprocess:logistics:logistics:3"><s:Header><a:LogicalAddress>SE2321000214-BRYG</a:LogicalAddress></s:Header><s:Body><r:GetCarePlans>{body}</r:GetCarePlans></s:Body></s:Envelope>"#
        )
    };
    let wanted = |before: &str, after: &str| {
        let request = envelope(&format!(
            "{before}<r:patientId><c:id>198112189876</c:id><c:type>1.2.752.129.2.1.3.1</c:type></r:patientId>{after}"
        ));
        let request = decode_request(request.as_bytes(), TODAY).unwrap();
        brygga::formats::riv::wanted(&request, plan)
    };
    let period = |start: jiff::civil::Date, end: jiff::civil::Date| {
        format!(
            "<r:datePeriod><c:start>{}</c:start><c:end>{}</c:end></r:datePeriod>",
            start.strftime("%Y%m%d"),
            end.strftime("%Y%m%d")
        )
    };
    let next = day.tomorrow().unwrap();
    let previous = day.yesterday().unwrap();
    assert!(wanted("", ""));
    assert!(wanted("", &period(day, day)), "both days are included");
    assert!(!wanted("", &period(next, next)));
    assert!(!wanted("", &period(previous, previous)));
    assert!(wanted(
        "<r:careUnitHSAId>SE2120002411-HSJV</r:careUnitHSAId>",
        ""
    ));
    assert!(wanted(
        "<r:careUnitHSAId>SE2321000214-E1AV</r:careUnitHSAId><r:careUnitHSAId>SE2321000214-E3HC</r:careUnitHSAId>",
        ""
    ));
    assert!(!wanted(
        "<r:careUnitHSAId>SE2321000214-E1AV</r:careUnitHSAId>",
        ""
    ));
    assert!(wanted(
        "",
        "<r:sourceSystemHSAId>SE2321000214-BRYG</r:sourceSystemHSAId>"
    ));
    assert!(!wanted(
        "",
        "<r:sourceSystemHSAId>SE2321000214-1000</r:sourceSystemHSAId>"
    ));
    assert!(!wanted("", "<r:careContactId>VK-1</r:careContactId>"));
}
