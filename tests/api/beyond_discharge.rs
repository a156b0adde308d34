//! The steps beyond discharge planning over Cosmic Link and real HTTP: a report of concern for
//! a child and social services' feedback to the reporter, the SIP meeting held, a placement and
//! its cost split, a deviation with its acknowledgement and answer; and what only brygga
//! writes, refused from any client.

use serde_json::Value;

use crate::helpers::{REGION, TestApp, cosmic_example, repo_root, spawn_app_at};

/// The fourth story's examples (Lina Ekström), in order.
const STORY: &[&str] = &[
    "28-orosanmalan.xml",
    "29-aterkoppling-orosanmalan.xml",
    "30-samtycke-sip-psykiatrin.xml",
    "31-samtycke-sip-kommunen.xml",
    "32-samtycke-utlamnande-kommunen.xml",
    "33-kallelse-sip-psykiatrin.xml",
    "34-svar-kallelse-fran-kommunen.xml",
    "35-sip-mote-hallet.xml",
    "36-placering.xml",
    "37-kostnadsfordelning.xml",
    "38-avvikelse-fran-kommunen.xml",
    "39-avvikelse-kvitterad.xml",
    "40-avvikelsesvar.xml",
    "41-lakarintyg-begart.xml",
    "42-lakarintyg.xml",
];

const PATIENT: &str = "http://electronichealth.se/identifier/personnummer|198804172420";

fn from_brygga(name: &str) -> String {
    std::fs::read_to_string(
        repo_root()
            .join("mappings/cosmic-link/examples/from-brygga")
            .join(name),
    )
    .unwrap()
}

/// Posts the story's `names` in order, the clock moved to each message's own time first, as
/// when the steps happen one by one; their receipts.
async fn post_story(app: &TestApp, names: &[&str]) -> Vec<Value> {
    let codes = brygga::formats::Mappings::load(&repo_root().join("mappings"))
        .unwrap()
        .cosmic_link;
    let mut receipts = Vec::new();
    for name in names {
        let bytes = cosmic_example(name);
        let sent_at = brygga::formats::cosmic_link::decode(&bytes, &codes, app.clock.today())
            .unwrap()
            .message
            .sent_at;
        let ahead = sent_at.duration_since(app.clock.now());
        if ahead.is_positive() {
            app.clock.advance(ahead);
        }
        receipts.push(app.post_cosmic_example(name).await);
    }
    receipts
}

async fn post(app: &TestApp, body: impl Into<Vec<u8>>) -> (u16, Value) {
    let response = app.post_cosmic_link(body.into()).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The OperationOutcome's diagnostics.
fn diagnostics(outcome: &Value) -> &str {
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_steps_beyond_discharge_are_received_over_cosmic_link_and_kept_as_fhir_tasks() {
    let app = spawn_app_at("2026-11-26T08:00:00Z").await;
    let mut kinds = Vec::new();
    for (name, receipt) in STORY.iter().zip(post_story(&app, STORY).await) {
        assert_eq!(receipt["status"], "accepted", "{name}: {receipt}");
        assert!(receipt.get("withheld").is_none(), "{name}: {receipt}");
        kinds.push(receipt["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        [
            "child_concern_report",
            "child_concern_feedback",
            "consent_recorded",
            "consent_recorded",
            "consent_recorded",
            "sip_invitation",
            "sip_response",
            "sip_meeting_held",
            "placement",
            "cost_split_agreed",
            "deviation_raised",
            "deviation_acknowledged",
            "deviation_answered",
            "lvm_certificate_requested",
            "lvm_certificate_issued",
        ]
    );

    // The region reads the case as FHIR Tasks: the feedback is owned by the clinic that
    // reported, the meeting names who came in which function, the deviation is answered.
    let (status, bundle) = app
        .get_json(REGION, &format!("/fhir/Task?patient={PATIENT}&_count=50"))
        .await;
    assert_eq!(status, 200, "{bundle}");
    let tasks: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Task")
        .collect();
    let step = |code: &str| {
        tasks
            .iter()
            .find(|t| t["code"]["coding"][0]["code"] == code)
            .unwrap_or_else(|| panic!("no {code} Task in {bundle}"))
    };
    let feedback = step("child-concern-feedback");
    assert_eq!(
        feedback["owner"]["identifier"]["value"], "SE2321000214-E2VC",
        "{feedback}"
    );
    assert!(feedback.to_string().contains("investigation_opened"));
    let meeting = step("sip-meeting-held");
    let functions: Vec<&str> = meeting["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"]["coding"][0]["code"] == "attendee")
        .map(|i| i["extension"][0]["valueString"].as_str().unwrap())
        .collect();
    assert_eq!(
        functions,
        [
            "Socialsekreterare, vuxenenheten",
            "Kurator, psykiatrisk öppenvård"
        ]
    );
    let cost = step("cost-split-agreed");
    assert!(
        cost.to_string()
            .contains(r#""valueMoney":{"currency":"SEK","value":184000}"#),
        "{cost}"
    );
    let deviation = step("deviation-raised");
    assert_eq!(
        deviation["owner"]["identifier"]["value"],
        "SE2321000214-E2VC"
    );
    step("deviation-answered");
}

#[tokio::test]
async fn feedback_on_a_report_that_was_never_made_is_refused() {
    let app = spawn_app_at("2026-11-26T08:00:00Z").await;
    // The story's case, opened by the invitation instead of a report of concern.
    for name in [
        "30-samtycke-sip-psykiatrin.xml",
        "33-kallelse-sip-psykiatrin.xml",
    ] {
        let (status, body) = post(&app, cosmic_example(name)).await;
        if name.starts_with("30") {
            // A consent does not open a case.
            assert_eq!(status, 404, "{body}");
        } else {
            assert_eq!(status, 200, "{body}");
        }
    }
    let (status, body) = post(&app, cosmic_example("29-aterkoppling-orosanmalan.xml")).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        diagnostics(&body).contains("holds no report of concern for a child"),
        "{body}"
    );
}

#[tokio::test]
async fn what_brygga_writes_itself_is_refused_from_every_client() {
    let app = spawn_app_at("2026-11-26T08:00:00Z").await;
    post_story(&app, &STORY[..10]).await;
    // Its missed deadline, its deviation and its reminder, posted back.
    for name in [
        "tidsfrist-passerad.xml",
        "avvikelse.xml",
        "avvikelse-paminnelse.xml",
    ] {
        let (status, body) = post(&app, from_brygga(name)).await;
        assert_eq!(status, 422, "{name}: {body}");
        assert!(
            diagnostics(&body).contains("recorded by the gateway itself"),
            "{name}: {body}"
        );
    }
    // The same deviation dressed as one a principal reported, still without a sender.
    let dressed = from_brygga("avvikelse.xml")
        .replace(" orsak=\"TIDSFRIST\"", "")
        .replace("brygga-0193b6a1-5f0f", "CL-2026-0099");
    let (status, body) = post(&app, dressed).await;
    assert_eq!(status, 422, "{body}");
    assert!(diagnostics(&body).contains("names no sender"), "{body}");
}

#[tokio::test]
async fn a_principal_reports_its_own_deviations_only() {
    let app = spawn_app_at("2026-11-26T08:00:00Z").await;
    post_story(&app, &STORY[..10]).await;
    // The clinic sends a deviation that names Östersund as its reporter.
    let forged = std::str::from_utf8(&cosmic_example("38-avvikelse-fran-kommunen.xml"))
        .unwrap()
        .replace(
            r#"<Avsandare kommunkod="2380" hsaId="SE2120002411-BIST">Socialförvaltningen, biståndsenheten</Avsandare>"#,
            r#"<Avsandare hsaId="SE2321000214-E2VC">Psykiatriska öppenvårdsmottagningen Östersund</Avsandare>"#,
        )
        .replace(
            "<Adresserad hsaId=\"SE2321000214-E2VC\"/>",
            "<RapporteradAv kommunkod=\"2380\"/>\n    <Adresserad kommunkod=\"2380\"/>",
        );
    let (status, body) = post(&app, forged).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        diagnostics(&body).contains("a principal reports its own deviations"),
        "{body}"
    );
}

#[tokio::test]
async fn a_certificate_request_past_primary_care_is_recorded_with_a_warning() {
    let app = spawn_app_at("2026-12-14T08:00:00Z").await;
    // To the primary-care centre, as the agreements ask: no warning.
    let receipts = post_story(&app, &["41-lakarintyg-begart.xml"]).await;
    assert_eq!(
        receipts[0]["warnings"],
        serde_json::json!([]),
        "{}",
        receipts[0]
    );
    // Another request, to the psychiatric clinic.
    let past = std::str::from_utf8(&cosmic_example("41-lakarintyg-begart.xml"))
        .unwrap()
        .replace("OSD-2026-0170", "OSD-2026-0171")
        .replace("OSD-LVM-2026-007", "OSD-LVM-2026-008")
        .replace(
            "<Till hsaId=\"SE2321000214-E3HC\"/>",
            "<Till hsaId=\"SE2321000214-E2VC\"/>",
        );
    let (status, receipt) = post(&app, past).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["status"], "accepted");
    let warnings = receipt["warnings"].to_string();
    assert!(
        warnings.contains("primary care first")
            && warnings.contains("Psykiatriska öppenvårdsmottagningen Östersund"),
        "{receipt}"
    );
}

#[tokio::test]
async fn an_lvm_report_that_does_not_say_the_misuse_or_its_ground_warns_its_sender() {
    let app = spawn_app_at("2026-11-22T10:00:00Z").await;
    // The structured report names substance and grounds: no warning.
    let receipts = post_story(&app, &["22-lvm-anmalan.xml"]).await;
    assert_eq!(
        receipts[0]["warnings"],
        serde_json::json!([]),
        "{}",
        receipts[0]
    );
    // A report of free text only, as the municipalities' letter complains of.
    let sparse = std::str::from_utf8(&cosmic_example("22-lvm-anmalan.xml"))
        .unwrap()
        .replace("CL-2026-0013", "CL-2026-0096")
        .replace("    <Missbruk>ALKOHOL</Missbruk>\n", "")
        .replace("    <Grund>4-1</Grund>\n", "")
        .replace("    <Grund>4-3</Grund>\n", "");
    let (status, receipt) = post(&app, sparse).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["status"], "accepted");
    let warnings = receipt["warnings"].to_string();
    assert!(
        warnings.contains("misuses (substances)") && warnings.contains("grounds of 4 § LVM"),
        "{receipt}"
    );
    // The recorded steps keep what each report said, and nothing it did not.
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    let reports: Vec<_> = app
        .store
        .load_case(case)
        .await
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .filter_map(|e| match e.event.kind {
            brygga::domain::event::EventKind::LvmReport {
                substances,
                grounds,
                voluntary_care_declined,
                ..
            } => Some((substances, grounds, voluntary_care_declined)),
            _ => None,
        })
        .collect();
    use brygga::domain::event::{LvmGround, LvmSubstance};
    assert_eq!(
        reports,
        [
            (
                vec![LvmSubstance::Alcohol],
                vec![LvmGround::HealthInDanger, LvmGround::RiskOfHarm],
                Some(true)
            ),
            (Vec::new(), Vec::new(), Some(true)),
        ]
    );
}

#[tokio::test]
async fn a_sip_invitation_naming_a_placement_the_case_lacks_warns_its_sender() {
    let app = spawn_app_at("2026-11-30T09:00:00Z").await;
    let receipts = post_story(
        &app,
        &[
            "28-orosanmalan.xml",
            "30-samtycke-sip-psykiatrin.xml",
            "31-samtycke-sip-kommunen.xml",
            "36-placering.xml",
            "43-kallelse-sip-efter-placering.xml",
        ],
    )
    .await;
    assert_eq!(
        receipts[4]["warnings"],
        serde_json::json!([]),
        "{}",
        receipts[4]
    );
    let unknown = std::str::from_utf8(&cosmic_example("43-kallelse-sip-efter-placering.xml"))
        .unwrap()
        .replace("OSD-2026-0175", "OSD-2026-0176")
        .replace("OSD-SIP-2026-131", "OSD-SIP-2026-132")
        .replace("OSD-PL-2026-031", "OSD-PL-2026-099");
    let (status, receipt) = post(&app, unknown).await;
    assert_eq!(status, 200, "{receipt}");
    assert!(
        receipt["warnings"]
            .to_string()
            .contains("names placement OSD-PL-2026-099, which the case does not hold"),
        "{receipt}"
    );
}
