//! `POST /municipal/{dialect}/v1/messages` over real HTTP: municipal steps in a discharge case,
//! receipts and error documents in each dialect's own form, idempotency, and a dialect added
//! as a folder with no change to the gateway.

use brygga::formats::xml::{self, Element};
use serde_json::Value;

use crate::helpers::{
    OSTERSUND, TestApp, copy_dir, receiver, repo_root, spawn_app, spawn_app_with, subscription,
};

fn cosmic_link(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("mappings/cosmic-link/examples").join(name)).unwrap()
}

fn example(dialect: &str, name: &str) -> Vec<u8> {
    std::fs::read(
        repo_root()
            .join("mappings/municipal")
            .join(dialect)
            .join("examples")
            .join(name),
    )
    .unwrap()
}

/// Posts as Östersund's case system to the municipal endpoints, as the region elsewhere.
async fn post(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    let client = if path.starts_with("/municipal/") {
        app.as_client(OSTERSUND).await
    } else {
        app.region().await
    };
    client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_municipal(app: &TestApp, dialect: &str, body: Vec<u8>) -> reqwest::Response {
    post(
        app,
        &format!("/municipal/{dialect}/v1/messages"),
        "application/xml",
        body,
    )
    .await
}

async fn post_cosmic_link(app: &TestApp, name: &str) {
    let response = post(
        app,
        "/cosmic-link/v1/messages",
        "application/xml",
        cosmic_link(name),
    )
    .await;
    assert_eq!(
        response.status(),
        200,
        "{name}: {}",
        response.text().await.unwrap()
    );
}

async fn events(app: &TestApp) -> u64 {
    app.store
        .table_counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(t, _)| *t == "events")
        .unwrap()
        .1
}

/// The text of the element at `path` (local names) below the root.
fn text_at(root: &Element, path: &[&str]) -> String {
    let mut here = root;
    for name in path {
        here = here
            .children
            .iter()
            .find(|c| c.name == *name)
            .unwrap_or_else(|| panic!("no <{name}> in <{}>", here.name));
    }
    here.text.to_string()
}

fn attribute(el: &Element, name: &str) -> String {
    el.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.to_string())
        .unwrap_or_else(|| panic!("no @{name} on <{}>", el.name))
}

/// Reads an XML answer, checking that it says it is XML.
async fn xml_answer(response: reqwest::Response) -> (u16, Element<'static>) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    // Kept for the rest of the test, so the tree can borrow it (a few KB per answer).
    let body: &'static [u8] = Vec::leak(response.bytes().await.unwrap().to_vec());
    assert!(
        content_type.starts_with("application/xml"),
        "{content_type}: {}",
        String::from_utf8_lossy(body)
    );
    let root =
        xml::parse(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    (status, root)
}

#[tokio::test]
async fn a_municipality_carries_its_steps_of_a_discharge_case_in_its_own_dialect() {
    let app = spawn_app().await;
    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    let mut case = None;
    let mut sequence = 1;
    for (dialect, name, kind) in [
        ("treserva-like", "02-kvittens.xml", "message_acknowledged"),
        (
            "lifecare-like",
            "03-planning-started.xml",
            "planning_started",
        ),
    ] {
        let (status, receipt) =
            xml_answer(post_municipal(&app, dialect, example(dialect, name)).await).await;
        assert_eq!(status, 200, "{dialect} {name}");
        sequence += 1;
        match dialect {
            "treserva-like" => {
                assert_eq!(receipt.name, "Mottagningskvitto");
                assert_eq!(attribute(&receipt, "status"), "mottaget");
                let event = receipt
                    .children
                    .iter()
                    .find(|c| c.name == "Handelse")
                    .unwrap();
                assert_eq!(attribute(event, "typ"), kind);
                assert_eq!(attribute(event, "lopnummer"), sequence.to_string());
                case = Some(text_at(&receipt, &["Arende"]));
            }
            _ => {
                assert_eq!(receipt.name, "Receipt");
                assert_eq!(attribute(&receipt, "status"), "accepted");
                assert_eq!(text_at(&receipt, &["EventKind"]), kind);
                assert_eq!(text_at(&receipt, &["Sequence"]), sequence.to_string());
                assert_eq!(Some(text_at(&receipt, &["CaseId"])), case, "one case");
            }
        }
    }
    // The person's consent to SIP, then the invitation it lets through.
    post_cosmic_link(&app, "07-samtycke-sip.xml").await;
    post_cosmic_link(&app, "08-utskrivningsklar.xml").await;
    post_cosmic_link(&app, "11-kallelse-sip.xml").await;
    sequence += 3;
    for name in [
        "10-svar-kallelse.xml",
        "11-beviljade-insatser.xml",
        "13-redo-att-ta-emot.xml",
    ] {
        let (status, receipt) =
            xml_answer(post_municipal(&app, "combine-like", example("combine-like", name)).await)
                .await;
        assert_eq!(status, 200, "{name}");
        sequence += 1;
        assert_eq!(receipt.name, "Kvitto");
        assert_eq!(text_at(&receipt, &["Status"]), "MOTTAGET");
        assert_eq!(
            text_at(&receipt, &["Registrerat", "Lopnummer"]),
            sequence.to_string()
        );
        assert_eq!(
            Some(text_at(&receipt, &["Registrerat", "Arende"])),
            case,
            "{name}: one case"
        );
    }
    let case_id = brygga::domain::case::CaseId::parse(case.as_deref().unwrap()).unwrap();
    let stored = app
        .store
        .load_case(case_id)
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    let kinds: Vec<&str> = stored.events().iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "admission_notice",
            "message_acknowledged",
            "planning_started",
            "consent_recorded",
            "ready_for_discharge",
            "sip_invitation",
            "sip_response",
            "services_decided",
            "ready_to_receive",
        ]
    );
    let formats: Vec<&str> = stored
        .events()
        .iter()
        .map(|e| e.source.format.as_str())
        .collect();
    assert_eq!(formats[1], "municipal:treserva-like");
    assert_eq!(formats[2], "municipal:lifecare-like");
    assert_eq!(formats[7], "municipal:combine-like");
    assert!(app.store.verify_audit_chain().await.unwrap().is_intact());
}

#[tokio::test]
async fn the_same_message_sent_twice_gets_the_same_receipt_and_is_stored_once() {
    let app = spawn_app().await;
    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    let body = example("lifecare-like", "02-acknowledgement.xml");
    let first = post_municipal(&app, "lifecare-like", body.clone())
        .await
        .text()
        .await
        .unwrap();
    let before = events(&app).await;
    let second = post_municipal(&app, "lifecare-like", body)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(events(&app).await, before);
}

#[tokio::test]
async fn a_case_system_that_writes_latin_1_is_read_as_the_same_message() {
    let app = spawn_app().await;
    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    let utf8 = String::from_utf8(example("lifecare-like", "02-acknowledgement.xml")).unwrap();
    let latin1 = encoding_rs::WINDOWS_1252
        .encode(&utf8.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1))
        .0
        .into_owned();
    let first = post_municipal(&app, "lifecare-like", latin1).await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let before = events(&app).await;
    // The same message in UTF-8 is the same event: the same receipt, nothing stored again.
    let second = post_municipal(&app, "lifecare-like", utf8.clone().into_bytes()).await;
    assert_eq!(second.text().await.unwrap(), first);
    assert_eq!(events(&app).await, before);

    // Latin-1 that says it is UTF-8, or says nothing, is refused at its first byte that is
    // not UTF-8 …
    let bare = utf8.replacen(" encoding=\"UTF-8\"", "", 1);
    for text in [&utf8, &bare] {
        let latin1 = encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
        let (status, fault) = xml_answer(post_municipal(&app, "lifecare-like", latin1).await).await;
        assert_eq!(status, 400);
        let reason = text_at(&fault, &["Reason"]);
        assert!(
            reason.contains("not UTF-8 at line") && reason.contains("ISO-8859-1"),
            "{reason}"
        );
    }
    // … unless it says nothing and its Content-Type says what it is.
    let undeclared = encoding_rs::WINDOWS_1252.encode(&bare).0.into_owned();
    let path = "/municipal/lifecare-like/v1/messages";
    let labelled = post(
        &app,
        path,
        "application/xml; charset=ISO-8859-1",
        undeclared,
    )
    .await;
    assert_eq!(labelled.text().await.unwrap(), first);
    assert_eq!(events(&app).await, before);
}

#[tokio::test]
async fn a_document_that_breaks_the_dialect_is_answered_in_its_error_form_and_nothing_is_stored() {
    let app = spawn_app().await;
    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    let before = events(&app).await;
    let broken = String::from_utf8(example("treserva-like", "11-beviljade-insatser.xml"))
        .unwrap()
        .replace("kod=\"HTJ\"", "kod=\"XYZ\"");
    let (status, error) =
        xml_answer(post_municipal(&app, "treserva-like", broken.into_bytes()).await).await;
    assert_eq!(status, 400);
    assert_eq!(error.name, "Fel");
    assert_eq!(attribute(&error, "kod"), "FELAKTIGT");
    assert_eq!(
        text_at(&error, &["MeddelandeId"]),
        "TRS-2380-2026-0110",
        "names the message it refuses"
    );
    assert!(text_at(&error, &["Beskrivning"]).contains("unknown code \"XYZ\""));
    let place = error.children.iter().find(|c| c.name == "Plats").unwrap();
    assert_eq!(
        attribute(place, "sokvag"),
        "/Meddelande/Innehall/Insats[1]/@kod"
    );
    assert_eq!(attribute(place, "rad"), "12");

    let doctype = String::from_utf8(example("lifecare-like", "02-acknowledgement.xml"))
        .unwrap()
        .replacen(
            "?>",
            "?><!DOCTYPE Envelope SYSTEM \"http://example.org/x.dtd\">",
            1,
        );
    let (status, fault) =
        xml_answer(post_municipal(&app, "lifecare-like", doctype.into_bytes()).await).await;
    assert_eq!(status, 400);
    assert_eq!(attribute(&fault, "code"), "invalid");
    assert!(
        text_at(&fault, &["Reason"]).contains("DOCTYPE"),
        "{fault:?}"
    );
    assert_eq!(
        events(&app).await,
        before,
        "nothing of a refused message is stored"
    );
}

#[tokio::test]
async fn a_message_that_only_goes_to_the_municipality_is_not_accepted_from_it() {
    let app = spawn_app().await;
    let (status, error) = xml_answer(
        post_municipal(
            &app,
            "combine-like",
            example("combine-like", "01-inskrivning.xml"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(text_at(&error, &["Felkod"]), "RIKTNING");
    assert!(
        text_at(&error, &["Beskrivning"]).contains("is a message to the municipality"),
        "{error:?}"
    );
    assert_eq!(events(&app).await, 0);
}

#[tokio::test]
async fn a_step_that_does_not_fit_the_case_answers_409_in_the_dialects_form() {
    let app = spawn_app().await;
    // Ready to receive the person home, in a case that does not exist: answered as one of
    // another organisation would be, 404.
    let (status, fault) = xml_answer(
        post_municipal(
            &app,
            "lifecare-like",
            example("lifecare-like", "13-ready-to-receive.xml"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert!(text_at(&fault, &["Reason"]).contains("that this client takes part in"));
    assert_eq!(events(&app).await, 0);
    // The transport for an LVM decision the case does not have: 409.
    post_cosmic_link(&app, "21-inskrivningsmeddelande-psykiatri.xml").await;
    let (status, fault) = xml_answer(
        post_municipal(
            &app,
            "lifecare-like",
            example("lifecare-like", "25-lvm-transport-arranged.xml"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(attribute(&fault, "code"), "conflict");
    assert!(text_at(&fault, &["Reason"]).contains("no LVM decision"));
    assert_eq!(events(&app).await, 1);
}

#[tokio::test]
async fn unknown_dialects_and_bodies_that_are_not_xml_are_refused_clearly() {
    let app = spawn_app().await;
    let response = post_municipal(&app, "viva-like", b"<x/>".to_vec()).await;
    assert_eq!(response.status(), 404);
    let outcome: Value = response.json().await.unwrap();
    let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(
        diagnostics.contains("no municipal dialect \"viva-like\""),
        "{diagnostics}"
    );
    assert!(
        diagnostics.contains("combine-like, faltlista, lifecare-like, socsys, treserva-like"),
        "{diagnostics}"
    );

    let response = post(
        &app,
        "/municipal/treserva-like/v1/messages",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    let (status, error) = xml_answer(response).await;
    assert_eq!(status, 415);
    assert_eq!(attribute(&error, "kod"), "FEL_MEDIETYP");
}

#[tokio::test]
async fn the_dialects_are_listed_with_their_message_kinds() {
    let app = spawn_app().await;
    let listing: Value = app
        .client
        .get(app.url("/municipal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dialects = listing["dialects"].as_array().unwrap();
    assert_eq!(dialects.len(), 5);
    let treserva = dialects
        .iter()
        .find(|d| d["name"] == "treserva-like")
        .unwrap();
    assert_eq!(treserva["endpoint"], "/municipal/treserva-like/v1/messages");
    assert_eq!(treserva["case_numbering"], "own");
    assert_eq!(treserva["encoding"], "UTF-8");
    let socsys = dialects.iter().find(|d| d["name"] == "socsys").unwrap();
    assert_eq!(socsys["case_numbering"], "placed");
    let kinds = treserva["message_kinds"].as_array().unwrap();
    assert!(
        kinds
            .iter()
            .any(|k| k["event"] == "services_decided" && k["direction"] == "inbound")
    );
    assert!(
        kinds
            .iter()
            .any(|k| k["event"] == "admission_notice" && k["direction"] == "outbound")
    );
}

#[tokio::test]
async fn translate_converts_between_dialects_cosmic_link_and_fhir() {
    let app = spawn_app().await;
    let response = app
        .region()
        .await
        .post(app.url("/translate?from=municipal:combine-like&to=fhir"))
        .body(example("combine-like", "03-planering-paborjad.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bundle: Value = response.json().await.unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");

    let response = app
        .region()
        .await
        .post(app.url("/translate?from=cosmic-link&to=municipal:lifecare-like"))
        .body(cosmic_link("08-utskrivningsklar.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("<MessageType>ReadyForDischarge</MessageType>"),
        "{text}"
    );

    let response = app
        .region()
        .await
        .post(app.url("/translate?from=municipal:viva-like&to=canonical"))
        .body(b"<x/>".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("no municipal dialect \"viva-like\"")
    );
}

/// The shipped mappings in a temporary folder, with the treserva-like dialect copied as
/// `name` as well: the folder, and the copy's folder to adapt.
fn treserva_copied_as(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let mappings = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("mappings"), mappings.path());
    let variant = mappings.path().join("municipal").join(name);
    copy_dir(
        &repo_root().join("mappings/municipal/treserva-like"),
        &variant,
    );
    (mappings, variant)
}

#[tokio::test]
async fn a_dialect_copied_under_a_new_name_is_served_with_no_change_to_the_gateway() {
    // A municipality's local variant: the treserva-like folder copied, with one local service
    // code added to its code table. No Rust, no rebuild: the gateway reads the folder at start.
    let (mappings, variant) = treserva_copied_as("ostersund-treserva");
    let codes = std::fs::read_to_string(variant.join("codes.toml"))
        .unwrap()
        .replace(
            "HTJ = [\"HTJ\", \"HT\"]",
            "HTJ = [\"HTJ\", \"HT\", \"HT-OSD\"]",
        );
    std::fs::write(variant.join("codes.toml"), codes).unwrap();
    let root = mappings.path().to_path_buf();
    let app = spawn_app_with(move |settings| settings.mappings_dir = root).await;

    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    let local = String::from_utf8(example("treserva-like", "11-beviljade-insatser.xml"))
        .unwrap()
        .replace("kod=\"HTJ\"", "kod=\"HT-OSD\"");
    let (status, receipt) =
        xml_answer(post_municipal(&app, "ostersund-treserva", local.clone().into_bytes()).await)
            .await;
    assert_eq!(status, 200, "{receipt:?}");
    let case_id = brygga::domain::case::CaseId::parse(&text_at(&receipt, &["Arende"])).unwrap();
    let stored = app
        .store
        .load_case(case_id)
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    let last = stored.events().last().unwrap();
    assert_eq!(last.source.format, "municipal:ostersund-treserva");
    assert_eq!(
        serde_json::to_value(&last.kind).unwrap()["services"][0]["service_type"],
        "HTJ",
        "the local code means home help"
    );
    // The original dialect does not know the local code.
    let (status, _) =
        xml_answer(post_municipal(&app, "treserva-like", local.into_bytes()).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_invitation_without_consent_is_warned_about_at_the_dialects_own_element() {
    let app = spawn_app().await;
    let without = String::from_utf8(example(
        "treserva-like",
        "26-kallelse-sip-fran-kommunen.xml",
    ))
    .unwrap()
    .replace(
        "    <SamtyckeReferens>OSD-SAMT-2026-0211</SamtyckeReferens>\n",
        "",
    );
    let response = post_municipal(&app, "treserva-like", without.into_bytes()).await;
    // The warnings are in headers too, as every endpoint gives them.
    let headers: Vec<String> = response
        .headers()
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    assert_eq!(headers.len(), 1, "{headers:?}");
    assert!(
        headers[0].starts_with("Innehall/SamtyckeReferens: no consent to SIP"),
        "{headers:?}"
    );
    let (status, receipt) = xml_answer(response).await;
    assert_eq!(status, 200);
    let warnings: Vec<&str> = receipt
        .children
        .iter()
        .filter(|c| c.name == "Varning")
        .map(|c| &*c.text)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("Innehall/SamtyckeReferens: no consent to SIP"),
        "{}",
        warnings[0]
    );
}

#[tokio::test]
async fn an_invitation_naming_a_consent_never_recorded_is_answered_with_whom_it_did_not_reach() {
    let app = spawn_app().await;
    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    // Östersund invites the region and its own home health care, naming a consent to SIP the
    // gateway has never recorded: the invitation goes to nobody.
    let (status, receipt) = xml_answer(
        post_municipal(
            &app,
            "treserva-like",
            example("treserva-like", "26-kallelse-sip-fran-kommunen.xml"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let withheld: Vec<(String, String)> = receipt
        .children
        .iter()
        .filter(|c| c.name == "Undanhallen")
        .map(|c| (attribute(c, "hsaId"), text_at(c, &["Orsak"])))
        .collect();
    let parties: Vec<&str> = withheld.iter().map(|(party, _)| party.as_str()).collect();
    assert!(parties.contains(&"SE2321000214-1000"), "{withheld:?}");
    assert!(parties.contains(&"SE2120002411-HSJV"), "{withheld:?}");
    assert!(
        withheld
            .iter()
            .all(|(_, reason)| reason.contains("consent")),
        "{withheld:?}"
    );
    // No clock waits for the parties it did not reach; the municipality is told by a
    // deviation addressed to it.
    let case_id = brygga::domain::case::CaseId::parse(&text_at(&receipt, &["Arende"])).unwrap();
    let timers = app.store.pending_timers(case_id).await.unwrap();
    assert!(
        !timers
            .iter()
            .any(|(kind, _)| kind.starts_with("sip_attendance:")),
        "{timers:?}"
    );
    let case = app
        .store
        .load_case(case_id)
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    let raised: Vec<String> = case
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            brygga::domain::event::EventKind::DeviationRaised {
                addressed_to,
                cause: brygga::domain::event::DeviationCause::NotDelivered,
                ..
            } => Some(addressed_to.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(raised, ["municipality 2380 unit SE2120002411-BIST"]);
}

/// What follows a document's XML declaration.
fn after_declaration(text: &str) -> &str {
    text.split_once("?>").map_or(text, |(_, rest)| rest)
}

#[tokio::test]
async fn a_dialect_that_writes_latin_1_answers_translates_and_delivers_in_latin_1() {
    // A case system that reads nothing but ISO-8859-1: the treserva-like folder copied with
    // `encoding = "ISO-8859-1"`, and a subscription in each of the two.
    let (mappings, variant) = treserva_copied_as("treserva-latin1");
    let spec = std::fs::read_to_string(variant.join("dialect.toml")).unwrap();
    std::fs::write(
        variant.join("dialect.toml"),
        format!("encoding = \"ISO-8859-1\"\n{spec}"),
    )
    .unwrap();
    let (utf8_inbox, latin1_inbox) = (receiver().await, receiver().await);
    let subscriptions = vec![
        subscription("utf8", "2380", &utf8_inbox.url, "municipal:treserva-like"),
        subscription(
            "latin1",
            "2380",
            &latin1_inbox.url,
            "municipal:treserva-latin1",
        ),
    ];
    let root = mappings.path().to_path_buf();
    let app = spawn_app_with(move |settings| {
        settings.mappings_dir = root;
        settings.subscriptions.0.extend(subscriptions);
    })
    .await;

    // Deliveries: the same document, in Latin-1 bytes, declared and labelled so.
    post_cosmic_link(&app, "01-inskrivningsmeddelande.xml").await;
    let utf8 = utf8_inbox.wait_for(1).await;
    let latin1 = latin1_inbox.wait_for(1).await;
    let sent = &latin1[0].bytes;
    assert_eq!(
        latin1[0].headers["content-type"],
        "application/xml; charset=ISO-8859-1"
    );
    assert!(sent.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"));
    assert!(
        sent.contains(&0xD6) && std::str::from_utf8(sent).is_err(),
        "Ö as one byte, not UTF-8"
    );
    let read = brygga::formats::encoding::utf8(sent, None).unwrap();
    let read = std::str::from_utf8(&read).unwrap();
    let same = utf8
        .iter()
        .find(|u| u.headers["x-brygga-event"] == latin1[0].headers["x-brygga-event"])
        .unwrap();
    assert_eq!(after_declaration(read), after_declaration(&same.body));

    // The dialect's own answers.
    let response = post_municipal(
        &app,
        "treserva-latin1",
        example("treserva-like", "02-kvittens.xml"),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=ISO-8859-1"
    );
    let status = response.status();
    let receipt = response.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&receipt));
    assert!(receipt.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"));

    // And a translation into it.
    let response = app
        .region()
        .await
        .post(app.url("/translate?from=cosmic-link&to=municipal:treserva-latin1"))
        .body(cosmic_link("01-inskrivningsmeddelande.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=ISO-8859-1"
    );
    let translated = response.bytes().await.unwrap();
    assert!(translated.contains(&0xD6) && std::str::from_utf8(&translated).is_err());
}
