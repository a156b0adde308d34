//! Deviations over real HTTP: reported, listed, acknowledged and answered by the addressed
//! party only; and steps in the canonical form.

use serde_json::{Value, json};

use crate::helpers::{TestApp, municipal_client, repo_root, spawn_app};

async fn admitted(app: &TestApp) -> String {
    app.admitted_case().await
}

/// Posts as the organisation of the body's `by` (the region when it names none).
async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let client = match body["by"]["kommunkod"].as_str() {
        Some(kommunkod) => app.as_client(municipal_client(kommunkod)).await,
        None => app.region().await,
    };
    let response = client.post(app.url(path)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.region().await.get(app.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn ward() -> Value {
    json!({"type": "region_unit", "hsa_id": "SE2321000214-E1AV"})
}

fn ostersund() -> Value {
    json!({"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-BIST"})
}

#[tokio::test]
async fn a_reported_deviation_is_acknowledged_and_answered_by_the_addressed_party_only() {
    let app = spawn_app().await;
    let case = admitted(&app).await;
    let (status, raised) = post(
        &app,
        &format!("/cases/{case}/deviations"),
        json!({
            "deviation_id": "AVV-2026-17",
            "by": ostersund(),
            "addressed_to": ward(),
            "description": "Informationen vid utskrivning saknade läkemedelslistan."
        }),
    )
    .await;
    assert_eq!(status, 201, "{raised}");
    assert_eq!(raised["status"], "open");
    assert_eq!(raised["cause"], "reported");
    // Routed to the region's patient-safety unit and Östersund's MAS.
    assert_eq!(
        raised["notify"],
        json!([
            {"type": "region_unit", "hsa_id": "SE2321000214-PSAK"},
            {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-MAS1"}
        ])
    );
    let (status, list) = get(&app, "/deviations").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    let (_, list) = get(&app, "/deviations?principal=region&unit=SE2321000214-E1AV").await;
    assert_eq!(list["count"], 1);
    let (_, list) = get(&app, "/deviations?principal=municipality&unit=2380").await;
    assert_eq!(list["count"], 0);

    let path = format!("/cases/{case}/deviations/AVV-2026-17");
    // The reporter cannot acknowledge a deviation addressed to the ward.
    let (status, outcome) = post(
        &app,
        &format!("{path}/acknowledgement"),
        json!({"by": ostersund()}),
    )
    .await;
    assert_eq!(status, 422, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("is addressed to region unit SE2321000214-E1AV")
    );
    for _ in 0..2 {
        let (status, acknowledged) = post(
            &app,
            &format!("{path}/acknowledgement"),
            json!({"by": ward()}),
        )
        .await;
        assert_eq!(status, 200, "{acknowledged}");
        assert_eq!(acknowledged["status"], "acknowledged");
    }
    let answer = json!({"by": ward(), "answer": "Checklistan för utskrivning är uppdaterad."});
    let (status, answered) = post(&app, &format!("{path}/answer"), answer.clone()).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["status"], "answered");
    assert_eq!(
        answered["answer"],
        "Checklistan för utskrivning är uppdaterad."
    );
    let (status, _) = post(&app, &format!("{path}/answer"), answer).await;
    assert_eq!(status, 409);
    let (_, one) = get(&app, &path).await;
    assert_eq!(one["status"], "answered");
    assert_eq!(get(&app, "/deviations").await.1["count"], 0);
    assert_eq!(get(&app, "/deviations?status=answered").await.1["count"], 1);
}

#[tokio::test]
async fn deviation_requests_that_cannot_be_met_say_why() {
    let app = spawn_app().await;
    let case = admitted(&app).await;
    let (status, outcome) = get(&app, &format!("/cases/{case}/deviations/none")).await;
    assert_eq!(status, 404, "{outcome}");
    let (status, _) = get(&app, "/cases/not-a-case/deviations/none").await;
    assert_eq!(status, 404);
    let (status, outcome) = post(
        &app,
        &format!("/cases/{case}/deviations/none/answer"),
        json!({"by": ward(), "answer": "?"}),
    )
    .await;
    assert_eq!(status, 404, "{outcome}");
    let (status, outcome) = post(
        &app,
        &format!("/cases/{case}/deviations"),
        json!({"by": ward(), "description": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("addressed_to"),
        "{outcome}"
    );
    let (status, outcome) = get(&app, "/deviations?status=late").await;
    assert_eq!(status, 400, "{outcome}");
    let (status, _) = get(&app, "/deviations?principal=region").await;
    assert_eq!(status, 400);
    let (status, outcome) = get(&app, "/deviations?principal=county&unit=23").await;
    assert_eq!(status, 400);
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("principal is region or municipality, not \"county\""),
        "{outcome}"
    );
}

#[tokio::test]
async fn a_canonical_message_is_received_like_any_other() {
    let app = spawn_app().await;
    let message: Value = serde_json::from_slice(
        &std::fs::read(
            repo_root().join("fixtures/cosmic-link/to-canonical/01-inskrivningsmeddelande.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let (status, receipt) = post(&app, "/canonical/v1/messages", message.clone()).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["kind"], "admission_notice");
    // The same message again: the same receipt.
    let (_, again) = post(&app, "/canonical/v1/messages", message).await;
    assert_eq!(again, receipt);
    let (status, outcome) = post(&app, "/canonical/v1/messages", json!({"case": {}})).await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("the canonical message is not valid"),
        "{outcome}"
    );
}

#[tokio::test]
async fn the_county_forum_sees_deviations_only_de_identified() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("pseudonym.key");
    std::fs::write(&key_file, [7u8; 32]).unwrap();
    let app = crate::helpers::spawn_app_with(move |settings| {
        settings.statistics.pseudonym_key_file = Some(key_file);
    })
    .await;
    let case = admitted(&app).await;
    let (status, _) = post(
        &app,
        &format!("/cases/{case}/deviations"),
        json!({
            "deviation_id": "AVV-2026-31",
            "by": ostersund(),
            "addressed_to": ward(),
            "description": "Astrid Lindqvist kom hem utan läkemedelslista."
        }),
    )
    .await;
    assert_eq!(status, 201);
    let path = "/deviations/export?from=2000-01-01&to=2100-01-01";
    let (status, export) = app.get_json("jamtland-uppfoljning", path).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["count"], 1, "{export}");
    let row = &export["deviations"][0];
    assert_eq!(row["cause"], "reported");
    assert_eq!(row["principal"], "region");
    assert_eq!(row["unit"], "SE2321000214-E1AV");
    assert_eq!(row["reminders"], 0);
    // A pseudonym, not the case: no case id, no reference, no person, no free text.
    let text = export.to_string();
    let pseudonym = row["case"].as_str().unwrap();
    assert_eq!(pseudonym.len(), 20, "{row}");
    for secret in [
        case.as_str(),
        "SA-2026-004711",
        "AVV-2026-31",
        "19811218",
        "Lindqvist",
        "läkemedelslista",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    // The same pseudonym in the next export.
    let (_, again) = app.get_json("jamtland-uppfoljning", path).await;
    assert_eq!(again["deviations"][0]["case"], pseudonym);
    // Only for the county's follow-up.
    let (status, refused) = app.get_json(crate::helpers::OSTERSUND, path).await;
    assert_eq!(status, 403, "{refused}");
}

#[tokio::test]
async fn without_a_pseudonym_key_the_export_says_what_to_configure() {
    let app = spawn_app().await;
    let (status, answer) = app
        .get_json("jamtland-uppfoljning", "/deviations/export")
        .await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer.to_string().contains("statistics.pseudonym_key_file"),
        "{answer}"
    );
}

#[test]
fn deviations_export_is_only_de_identified_and_needs_its_pseudonym_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("brygga.db").display());
    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, [3u8; 48]).unwrap();
    let run = |args: &[&str], key: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"));
        command
            .args(args)
            .arg("--config")
            .arg(repo_root().join("deploy/config/brygga.toml"))
            .env_remove("BRYGGA_CONFIG")
            .env("BRYGGA_DATABASE__URL", &url);
        if let Some(key) = key {
            command.env("BRYGGA_STATISTICS__PSEUDONYM_KEY_FILE", key);
        }
        command.output().unwrap()
    };
    let migrate = run(&["migrate"], None);
    assert!(migrate.status.success(), "{}", stderr_of(&migrate));
    let identified = run(&["deviations", "export"], Some(&key));
    assert!(!identified.status.success());
    assert!(
        stderr_of(&identified).contains("add --deidentified"),
        "{}",
        stderr_of(&identified)
    );
    let keyless = run(&["deviations", "export", "--deidentified"], None);
    assert!(!keyless.status.success());
    assert!(
        stderr_of(&keyless).contains("statistics.pseudonym_key_file"),
        "{}",
        stderr_of(&keyless)
    );
    let output = run(
        &[
            "deviations",
            "export",
            "--deidentified",
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-01",
        ],
        Some(&key),
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(
        csv.starts_with("case,deviation,raised_on,cause,deadline,principal,unit,"),
        "{csv}"
    );
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
