//! `brygga replay` as a real process: the shipped scenarios (`fixtures/scenarios/`) all pass,
//! with a JUnit report; a scenario with a wrong expectation fails with a diff that names the
//! step and the field; a scenario that cannot run says where.

use crate::helpers::{repo_root, run_brygga};

#[test]
fn the_shipped_scenarios_pass_through_brygga_replay_with_a_junit_report() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("replay.xml");
    let output = run_brygga(&[
        "replay",
        "fixtures/scenarios",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scenarios = std::fs::read_dir(repo_root().join("fixtures/scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert!(scenarios >= 10, "at least ten scenarios ship");
    assert!(
        stdout.contains(&format!("{scenarios} of {scenarios} scenarios passed")),
        "{stdout}"
    );
    // Every step is reported with what happened.
    assert!(
        stdout.contains("happened: accepted; events [admission_notice]"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(report.matches("<testsuite ").count(), scenarios, "{report}");
    assert!(!report.contains("<failure"), "{report}");
    assert!(
        report.contains("name=\"Late admission notice\""),
        "{report}"
    );
}

#[test]
fn a_wrong_expectation_fails_with_a_diff_that_names_the_step_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let message = repo_root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml");
    let scenario = dir.path().join("wrong.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"name = "A wrong expectation"
start = "2026-11-20T08:30:00+01:00"

[[receiver]]
organisation = "2380"
format = "municipal:treserva-like"

[[step]]
name = "admission notice"
at = "+10m"
send = "cosmic-link"
file = "{}"
[step.expect]
events = ["admission_notice", "deadline_missed"]
[[step.expect.delivery]]
to = "2380"
kind = "admission_notice"
count = 2
[step.expect.delivery.content]
"event.person.name.family" = "Svensson"

[[step]]
name = "a day passes"
at = "+1d"
[step.expect]
events = []
"#,
            message.display()
        ),
    )
    .unwrap();
    let junit = dir.path().join("replay.xml");
    let output = run_brygga(&[
        "replay",
        scenario.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("1 of 1 scenarios failed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("FAIL  step 1 (+10m): admission notice"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "delivery 1 of admission_notice to 2380 at event.person.name.family: expected \"Svensson\", got \"Lindqvist\""
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "events: expected [admission_notice, deadline_missed], got [admission_notice]"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    step 2 (+1d): a day passes"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(report.matches("<failure").count(), 1, "{report}");
    assert!(report.contains("failures=\"1\""), "{report}");
}

#[test]
fn a_scenario_that_cannot_run_is_refused_before_any_runs_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("broken.toml");
    std::fs::write(
        &scenario,
        "name = \"broken\"\nstart = \"2026-11-20T08:30:00+01:00\"\n[[step]]\nat = \"tomorrow\"\n",
    )
    .unwrap();
    let output = run_brygga(&["replay", "fixtures/scenarios", scenario.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.toml"), "{stderr}");
    assert!(
        stderr.contains("\"tomorrow\" is neither a time after the start"),
        "{stderr}"
    );
    // Nothing ran: the shipped scenarios were not replayed either.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("scenarios passed"));
}

#[test]
fn a_receiver_outside_the_directory_stops_its_scenario_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("unknown.toml");
    std::fs::write(
        &scenario,
        "name = \"unknown receiver\"\nstart = \"2026-11-20T08:30:00+01:00\"\n[[receiver]]\norganisation = \"0180\"\nformat = \"canonical\"\n[[step]]\nat = \"+1h\"\n",
    )
    .unwrap();
    let output = run_brygga(&["replay", scenario.to_str().unwrap()]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "ERROR receiver 0180: not a region or municipality of the organisation directory"
        ),
        "{stdout}"
    );
}

#[test]
fn the_conformance_report_lists_kinds_fixtures_coverage_and_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let markdown = dir.path().join("conformance.md");
    let output = run_brygga(&[
        "conformance",
        "--scenarios",
        "fixtures/scenarios/07-protected-identity.toml",
        "--out",
        markdown.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        report.contains("**Result: everything passed.**"),
        "{report}"
    );
    // Kinds per format and direction: every step is carried by every format, both ways.
    let kinds: Vec<&str> = report
        .lines()
        .filter(|l| {
            l.starts_with("| `") && l.matches("| yes ").count() + l.matches("| — ").count() >= 4
        })
        .collect();
    assert_eq!(
        kinds.len(),
        brygga::domain::event::EventKind::NAMES.len(),
        "{report}"
    );
    for row in kinds {
        assert!(!row.contains('—'), "{row}");
    }
    assert!(
        report.contains("| Cosmic Link examples → canonical | 43 | 43 |"),
        "{report}"
    );
    assert!(
        report.contains("| Cosmic Link documents refused | 19 | 19 |"),
        "{report}"
    );
    assert!(
        report.contains("| Cosmic Link | 128 | 128 | none |"),
        "{report}"
    );
    assert!(
        report.contains(
            "| A person with protected identity (`07-protected-identity.toml`) | 1 | passed |"
        ),
        "{report}"
    );
    // The national platform's contract, its endpoint and (unset in the example
    // configuration) its logical address.
    assert!(
        report.contains("## The national platform")
            && report.contains("| endpoint | `POST /riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21` |")
            && report.contains("| logical address | not served by this configuration (`riv.hsa_id` unset) |")
            && report.contains("| consumers | 2 registered"),
        "{report}"
    );
    // Receivers are shown the headers and the three rules of receiving.
    assert!(
        report.contains("| `X-Brygga-Possibly-Delivered` |")
            && report.contains("- **Drop repeats by key**")
            && report.contains("- **Apply in sequence per case**")
            && report.contains("- **Answer 2xx only after storing**"),
        "{report}"
    );
    let html = dir.path().join("conformance.html");
    let output = run_brygga(&[
        "conformance",
        "--scenarios",
        "fixtures/scenarios/08-lvm-report.toml",
        "--html",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("<th>kind</th>") && page.contains("<td>admission_notice</td>"),
        "{page}"
    );
    assert!(
        page.contains("<li>Drop repeats by key: a delivery whose Idempotency-Key"),
        "{page}"
    );
}

#[test]
fn a_conformance_report_without_fixtures_is_refused_naming_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_brygga(&[
        "conformance",
        "--root",
        dir.path().to_str().unwrap(),
        "--scenarios",
        "fixtures/scenarios/08-lvm-report.toml",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no fixtures under") && stderr.contains("--root"),
        "{stderr}"
    );
}

#[test]
fn a_failing_scenario_fails_the_conformance_report_and_is_named_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let message = repo_root().join("mappings/cosmic-link/examples/22-lvm-anmalan.xml");
    let scenario = dir.path().join("wrong.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"Wrong on purpose\"\nstart = \"2026-11-22T11:00:00+01:00\"\n[[step]]\nname = \"report\"\nat = \"+20m\"\nsend = \"cosmic-link\"\nfile = \"{}\"\n[step.expect]\nphase = \"discharged\"\n",
            message.display()
        ),
    )
    .unwrap();
    let markdown = dir.path().join("conformance.md");
    let output = run_brygga(&[
        "conformance",
        "--scenarios",
        scenario.to_str().unwrap(),
        "--out",
        markdown.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let report = std::fs::read_to_string(&markdown).unwrap();
    assert!(report.contains("some checks FAILED"), "{report}");
    assert!(
        report.contains("| Wrong on purpose (`wrong.toml`) | 1 | FAILED |"),
        "{report}"
    );
    assert!(
        report.contains("- step 1 (+20m): report: phase: expected discharged, got outpatient"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_holds_no_personal_data_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("recorded");
    let folder = recording.clone();
    let app = crate::helpers::spawn_app_with(move |settings| {
        settings.recording.dir = Some(folder);
    })
    .await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    // Sent again: recorded as the duplicate it is.
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    // Sent in Latin-1, as it declares: recorded as the same document in UTF-8, saying so.
    let utf8 = std::fs::read_to_string(
        repo_root().join("mappings/cosmic-link/examples/05-planering-paborjad.xml"),
    )
    .unwrap();
    let latin1 = encoding_rs::WINDOWS_1252
        .encode(&utf8.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1))
        .0
        .into_owned();
    assert!(
        std::str::from_utf8(&latin1).is_err(),
        "Ö is one byte in Latin-1"
    );
    assert_eq!(app.post_cosmic_link(latin1).await.status(), 200);
    let scenario = std::fs::read_to_string(recording.join("scenario.toml")).unwrap();
    assert_eq!(scenario.matches("[[step]]").count(), 3, "{scenario}");
    assert!(scenario.contains("outcome = \"duplicate\""), "{scenario}");
    let mut files = vec![scenario.clone()];
    for entry in std::fs::read_dir(recording.join("messages")).unwrap() {
        files.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert_eq!(files.len(), 4);
    assert!(
        files.iter().any(|f| f.contains("Odensala hälsocentral")),
        "the Latin-1 document recorded as text"
    );
    for file in &files {
        assert!(
            !file.contains('\u{FFFD}') && !file.contains("ISO-8859-1"),
            "{file}"
        );
        for personal in [
            "198112189876",
            "811218-9876",
            "Lindqvist",
            "Astrid",
            "Storgatan",
            "831 30",
        ] {
            assert!(!file.contains(personal), "{personal} was recorded:\n{file}");
        }
    }
    // The recording is a scenario: it replays, each message taken as it was.
    let output = run_brygga(&["replay", recording.join("scenario.toml").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("  ok    step").count(), 3, "{stdout}");
    assert!(stdout.contains("happened: duplicate"), "{stdout}");
}

/// `brygga replay` of scenario 03 against the gateway at `base` as the region's Cosmic Link
/// client, its receivers on `port`.
async fn replay_scenario_03_against(base: String, port: u16) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        run_brygga(&[
            "replay",
            "fixtures/scenarios/03-sip-invitation-not-sent-in-time.toml",
            "--target",
            &base,
            "--client",
            "region-jh-cosmic",
            "--key",
            "deploy/config/example-keys/region-jh-cosmic.pem",
            "--receivers",
            &format!("127.0.0.1:{port}"),
        ])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_replays_against_a_running_gateway_moving_its_test_clock() {
    use brygga::delivery::{Subscription, Subscriptions};
    use brygga::domain::party::Organisation;
    let port = crate::helpers::free_port();
    let app = crate::helpers::spawn_app_with(move |settings| {
        settings.server.test_clock = true;
        settings.subscriptions = Subscriptions(vec![Subscription::new(
            "capture-2380",
            Organisation::parse("2380").unwrap(),
            format!("http://127.0.0.1:{port}/2380").parse().unwrap(),
            "canonical".parse().unwrap(),
        )]);
    })
    .await;
    let base = app.url("");
    let output = replay_scenario_03_against(base, port).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The gateway's clock was moved eight days on: the missed deadline's deviation reached
    // Östersund's receiver on this side.
    assert!(stdout.contains("1 of 1 scenarios passed"), "{stdout}");
    assert!(stdout.contains("deviation_raised → 2380"), "{stdout}");
    assert!(
        stdout.contains("not checked against a target: missed deadlines, deviations"),
        "{stdout}"
    );
    assert!(
        app.clock.now()
            >= "2026-11-28T08:30:00+01:00"
                .parse::<jiff::Timestamp>()
                .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_a_test_clock_is_replayed_only_in_real_time_when_asked() {
    let app = crate::helpers::spawn_app().await;
    // A gateway on the time of day (its tokens are judged by its clock), without a test clock.
    app.clock
        .advance(jiff::Timestamp::now().duration_since(app.clock.now()));
    let base = app.url("");
    let port = crate::helpers::free_port();
    let output = replay_scenario_03_against(base, port).await;
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("the target has no test clock (server.test_clock): add --real-time")
            && stdout.contains("this scenario spans +8d"),
        "{stdout}"
    );
}
