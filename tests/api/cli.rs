//! The `brygga` binary: `check-config`, `migrate`, and `serve` with the shipped configuration.

use std::time::Duration;

use crate::helpers::{Gateway, copy_dir, repo_root, run_brygga};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_config_accepts_the_shipped_example() {
    let output = run_brygga(&["check-config"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(stdout.contains("municipalities: 8"), "{stdout}");
    assert!(
        stdout.contains("ostersund-treserva (municipality 2380)"),
        "{stdout}"
    );
}

#[test]
fn check_config_names_an_unknown_key_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("deploy/config/organisations.toml"),
        dir.path().join("organisations.toml"),
    )
    .unwrap();
    let config = dir.path().join("brygga.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:8080\"\nrequest_timout_seconds = 5\n",
    )
    .unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("request_timout_seconds"), "{message}");
    assert!(message.contains(config.to_str().unwrap()), "{message}");
}

#[test]
fn check_config_names_a_malformed_hsa_id_its_key_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let organisations =
        std::fs::read_to_string(repo_root().join("deploy/config/organisations.toml"))
            .unwrap()
            .replace("SE2321000214-E2VC", "SE2321000214-E2 VC");
    let orgs_path = dir.path().join("organisations.toml");
    std::fs::write(&orgs_path, organisations).unwrap();
    let config = dir.path().join("brygga.toml");
    std::fs::write(&config, "").unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("SE2321000214-E2 VC"), "{message}");
    assert!(message.contains("region[0].units[4].hsa_id"), "{message}");
    assert!(message.contains("invalid character ' '"), "{message}");
    assert!(message.contains(orgs_path.to_str().unwrap()), "{message}");
}

#[test]
fn check_config_explains_a_missing_file() {
    let output = run_brygga(&["check-config", "--config", "no/such/file.toml"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--config"), "{}", stderr(&output));
}

#[test]
fn help_explains_each_command() {
    let output = run_brygga(&["--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "serve",
        "migrate",
        "check-config",
        "translate",
        "stats",
        "audit",
        "token",
        "redeliver",
        "dialect",
    ] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn migrate_creates_and_migrates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db/brygga.db").display());
    let migrate = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
            .args(["migrate", "--config"])
            .arg(repo_root().join("deploy/config/brygga.toml"))
            .args(extra)
            .env("BRYGGA_DATABASE__URL", &url)
            .output()
            .unwrap()
    };
    let known = std::fs::read_dir(repo_root().join("migrations/sqlite"))
        .unwrap()
        .count();
    // A dry run lists what would be applied, and applies nothing.
    let planned = migrate(&["--dry-run"]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let listed = String::from_utf8_lossy(&planned.stdout).to_string();
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("would apply "))
            .count(),
        known,
        "{listed}"
    );
    assert!(
        listed.lines().next().unwrap().starts_with("would apply 1 "),
        "{listed}"
    );
    let output = migrate(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains(&format!("sqlite: {known} of {known} migrations applied"))
    );
    assert!(dir.path().join("db/brygga.db").is_file());
    let again = migrate(&["--dry-run"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("sqlite: nothing to apply"));
}

#[tokio::test]
async fn serve_runs_on_the_shipped_configuration_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::start(dir.path(), &[("BRYGGA_LOG__FORMAT", "json")]);
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );

    let client = reqwest::Client::new();
    let health = client.get(gateway.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = client.get(gateway.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // An identifier in the query string must not reach the log.
    let probe = client
        .get(gateway.url(
            "/health?identifier=http://electronichealth.se/identifier/personnummer|198112189876",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);

    gateway.terminate();
    let status = gateway
        .wait_exit(Duration::from_secs(30))
        .expect("exited within 30 s");
    assert!(status.success(), "{status:?}");
    let log = gateway.log.join("\n");
    assert!(log.contains("brygga stopped"), "{log}");
    assert!(
        !log.contains("198112189876"),
        "personal data in the log: {log}"
    );
    for line in &gateway.log {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }
}

#[test]
fn translate_prints_the_canonical_message_and_reports_errors_with_their_location() {
    let output = run_brygga(&[
        "translate",
        "--from",
        "cosmic-link",
        "--to",
        "canonical",
        "mappings/cosmic-link/examples/08-utskrivningsklar.xml",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("fixtures/cosmic-link/to-canonical/08-utskrivningsklar.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(printed, golden);

    let output = run_brygga(&[
        "translate",
        "--from",
        "cosmic-link",
        "--to",
        "canonical",
        "fixtures/cosmic-link/errors/invalid-personnummer-check-digit.xml",
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("/CosmicLinkMeddelande/Patient/Personnummer (line 10, column 5)"),
        "{message}"
    );

    let output = run_brygga(&["translate", "--from", "cosmic-link", "--to", "hl7v2", "-"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unknown format \"hl7v2\""),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_config_stops_on_a_broken_code_table_naming_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("deploy/config/organisations.toml"),
        dir.path().join("organisations.toml"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("mappings/cosmic-link")).unwrap();
    let codes = std::fs::read_to_string(repo_root().join("mappings/cosmic-link/codes.toml"))
        .unwrap()
        .replace("LSS = [\"LSS\"]", "LSSX = [\"LSS\"]");
    std::fs::write(dir.path().join("mappings/cosmic-link/codes.toml"), codes).unwrap();
    let config = dir.path().join("brygga.toml");
    std::fs::write(&config, "mappings_dir = \"mappings\"\n").unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("codes.toml")
            && message.contains("[service_type]")
            && message.contains("LSSX"),
        "{message}"
    );
}

#[test]
fn translate_writes_a_fhir_bundle_and_reads_it_back_to_the_same_cosmic_link_message() {
    let output = run_brygga(&[
        "translate",
        "--from",
        "cosmic-link",
        "--to",
        "fhir",
        "mappings/cosmic-link/examples/18-plan-sip.xml",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let bundle: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/cosmic-link/to-fhir/18-plan-sip.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(bundle, golden);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bundle.json");
    std::fs::write(&input, &output.stdout).unwrap();
    let back = run_brygga(&[
        "translate",
        "--from",
        "fhir",
        "--to",
        "cosmic-link",
        input.to_str().unwrap(),
    ]);
    assert!(back.status.success(), "{}", stderr(&back));
    let direct = run_brygga(&[
        "translate",
        "--from",
        "cosmic-link",
        "--to",
        "cosmic-link",
        "mappings/cosmic-link/examples/18-plan-sip.xml",
    ]);
    assert_eq!(
        String::from_utf8(back.stdout).unwrap(),
        String::from_utf8(direct.stdout).unwrap()
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&input)
            .unwrap()
            .replace("\"sip-plan\"", "\"sip-reminder\""),
    )
    .unwrap();
    let refused = run_brygga(&[
        "translate",
        "--from",
        "fhir",
        "--to",
        "canonical",
        broken.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("Bundle.entry[2].resource.code") && message.contains("sip-reminder"),
        "{message}"
    );
}

#[test]
fn stats_prints_csv_and_asks_for_migrations_on_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("brygga.db").display());
    let stats = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
            .arg("stats")
            .args(args)
            .arg("--config")
            .arg(repo_root().join("deploy/config/brygga.toml"))
            .env("BRYGGA_DATABASE__URL", &url)
            .output()
            .unwrap()
    };
    let unmigrated = stats(&[]);
    assert!(!unmigrated.status.success());
    assert!(
        stderr(&unmigrated).contains("brygga migrate"),
        "{}",
        stderr(&unmigrated)
    );

    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["migrate", "--config"])
        .arg(repo_root().join("deploy/config/brygga.toml"))
        .env("BRYGGA_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let output = stats(&["--from", "2026-11-01", "--to", "2026-12-01"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("from,to,principal,unit,"), "{csv}");
    assert!(
        lines[1].starts_with("2026-11-01,2026-12-01,all,all,0,"),
        "{csv}"
    );

    let bad = stats(&["--from", "November"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--from"), "{}", stderr(&bad));
}

/// A copy of the shipped mappings in a temporary folder, with a settings file that uses it.
fn mappings_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("mappings"), &dir.path().join("mappings"));
    std::fs::copy(
        repo_root().join("deploy/config/organisations.toml"),
        dir.path().join("organisations.toml"),
    )
    .unwrap();
    let config = dir.path().join("brygga.toml");
    std::fs::write(&config, "mappings_dir = \"mappings\"\n").unwrap();
    (dir, config)
}

#[test]
fn check_config_lists_the_dialects_and_reads_their_examples() {
    let output = run_brygga(&["check-config"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    for dialect in ["treserva-like", "lifecare-like", "combine-like"] {
        assert!(
            stdout.contains(&format!("municipal:      {dialect} (32 message kinds, 20 accepted from the municipality; 45 examples read)")),
            "{stdout}"
        );
    }
}

#[test]
fn a_broken_dialect_stops_check_config_naming_the_file_the_rule_and_the_problem() {
    let (dir, config) = mappings_copy();
    let file = dir
        .path()
        .join("mappings/municipal/lifecare-like/messages/services-granted.toml");
    let broken = std::fs::read_to_string(&file).unwrap().replace(
        "table = \"service_type\", required = true",
        "table = \"insatstyp\", required = true",
    );
    std::fs::write(&file, broken).unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(file.to_str().unwrap())
            && message
                .contains("rule 4 (each = \"Services/Service\") › rule 1 (xml = \"ServiceType\")")
            && message.contains("table \"insatstyp\" is not in codes.toml"),
        "{message}"
    );

    let (dir, config) = mappings_copy();
    let file = dir
        .path()
        .join("mappings/municipal/combine-like/dialect.toml");
    let broken = std::fs::read_to_string(&file).unwrap().replace(
        "xml = \"cm:Arende/cm:Brukare/ct:Personnummer\"",
        "xml = \"cm:Arende/cm:Brukare/cx:Personnummer\"",
    );
    std::fs::write(&file, broken).unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("combine-like/dialect.toml: envelope 8")
            && message.contains("prefix \"cx\" is not declared in [namespaces]"),
        "{message}"
    );
}

#[test]
fn check_config_stops_when_a_changed_mapping_no_longer_reads_its_examples() {
    let (dir, config) = mappings_copy();
    let file = dir
        .path()
        .join("mappings/municipal/treserva-like/messages/utskriven.toml");
    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("xml = \"Utskriven\"", "xml = \"Utskrivningstid\"");
    std::fs::write(&file, changed).unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("16-utskriven.xml")
            && message.contains("missing required element <Utskrivningstid>"),
        "{message}"
    );
    // The gateway does not start with what check-config refuses: the same check, the same words.
    let db = dir.path().join("brygga.db");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("BRYGGA_DATABASE__URL", format!("sqlite://{}", db.display()))
        .env("BRYGGA_SERVER__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("16-utskriven.xml")
            && message.contains("missing required element <Utskrivningstid>"),
        "{message}"
    );
}

#[test]
fn check_config_names_a_rules_unknown_field_and_a_value_of_the_wrong_type() {
    let cases = [
        // A typo: the nearest field is suggested.
        (
            "lifecare-like/messages/lvm-report.toml",
            "field = \"event.physician\"",
            "field = \"event.physican\"",
            &[
                "lvm-report.toml",
                "rule 1",
                "field event.physican",
                "did you mean physician?",
            ][..],
        ),
        // A field of another kind: the kind's own fields are listed.
        (
            "lifecare-like/messages/sip-response.toml",
            "field = \"event.reason\"",
            "field = \"event.attendees\"",
            &[
                "sip-response.toml",
                "\"attendees\" is not a field of event in a message of kind sip_response",
                "its fields: answer, attending_function",
            ][..],
        ),
        // A date-time read as a plain string.
        (
            "treserva-like/messages/kallelse-sip.toml",
            "field = \"event.meeting_at\"\ntype = \"datetime\"",
            "field = \"event.meeting_at\"",
            &[
                "kallelse-sip.toml",
                "field event.meeting_at: the field holds a datetime: read it with type = \"datetime\"",
            ][..],
        ),
        // A code table whose values the field cannot hold.
        (
            "combine-like/messages/kallelse.toml",
            "table = \"plan_type\"",
            "table = \"huvudman\"",
            &[
                "kallelse.toml",
                "field event.plan_type",
                "is not a value of the field",
            ][..],
        ),
    ];
    for (file, from, to, words) in cases {
        let (dir, config) = mappings_copy();
        let path = dir.path().join("mappings/municipal").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
        assert!(!output.status.success(), "{file}");
        let message = stderr(&output);
        for word in words {
            assert!(message.contains(word), "{word:?} not in {message}");
        }
    }
}

#[test]
fn dialect_check_reports_each_example_and_fails_on_one_that_no_longer_reads() {
    let output = run_brygga(&["dialect", "check", "mappings/municipal/lifecare-like"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("lifecare-like: 32 message kinds (20 accepted from the municipality), 45 examples")
            && printed.contains("ok    examples/01-admission-notice.xml: admission_notice (messages/admission-notice.toml)")
            && printed.contains("all 45 examples read cleanly and read the same when written back"),
        "{printed}"
    );

    // With --fields, every canonical field each example was read into.
    let output = run_brygga(&[
        "dialect",
        "check",
        "--fields",
        "mappings/municipal/lifecare-like",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    let first = printed
        .split("examples/02-")
        .next()
        .expect("the first example's lines");
    assert!(
        first.contains("\n          read: event.kind = \"admission_notice\"\n")
            && first.contains("\n          read: event.person.id.system = \"personnummer\"\n")
            && first.contains("\n          read: event.recipients.0.type = "),
        "{printed}"
    );
    assert!(
        printed.contains("all 45 examples read cleanly"),
        "{printed}"
    );

    // Written in US-ASCII, every example still reads back the same (Ö and é as references).
    let (dir, _) = mappings_copy();
    let ascii = dir.path().join("mappings/municipal/lifecare-like");
    let spec = std::fs::read_to_string(ascii.join("dialect.toml")).unwrap();
    std::fs::write(
        ascii.join("dialect.toml"),
        format!("encoding = \"US-ASCII\"\n{spec}"),
    )
    .unwrap();
    let output = run_brygga(&["dialect", "check", ascii.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}{}", stderr(&output));
    assert!(
        printed.contains("45 examples; written in US-ASCII")
            && printed.contains("all 45 examples read cleanly"),
        "{printed}"
    );

    let folder = dir.path().join("mappings/municipal/treserva-like");
    let file = folder.join("messages/utskriven.toml");
    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("xml = \"Utskriven\"", "xml = \"Utskrivningstid\"");
    std::fs::write(&file, changed).unwrap();
    let output = run_brygga(&["dialect", "check", folder.to_str().unwrap()]);
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("FAIL  examples/16-utskriven.xml:")
            && printed.contains("missing required element <Utskrivningstid>")
            && printed.contains("ok    examples/01-"),
        "{printed}"
    );
    assert!(
        stderr(&output).contains("1 of 45 examples failed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn translate_reads_and_writes_every_dialect() {
    let output = run_brygga(&[
        "translate",
        "--from",
        "municipal:combine-like",
        "--to",
        "municipal:treserva-like",
        "mappings/municipal/combine-like/examples/24-lvm-beslut.xml",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("typ=\"LvmBeslut\"") && printed.contains("beslut=\"OMH\""),
        "{printed}"
    );

    let output = run_brygga(&[
        "translate",
        "--from",
        "cosmic-link",
        "--to",
        "municipal:combine-like",
        "mappings/cosmic-link/examples/18-plan-sip.xml",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("<ct:Insatskod>HT01</ct:Insatskod>"),
        "{printed}"
    );

    let output = run_brygga(&[
        "translate",
        "--from",
        "municipal:lifecare-like",
        "--to",
        "canonical",
        "fixtures/municipal/lifecare-like/errors/timestamp-without-offset.xml",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("/Envelope/Header/Timestamp (line 6, column 5)"),
        "{}",
        stderr(&output)
    );
}

/// `brygga` with the example configuration on the database in `dir`.
fn brygga_on(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    crate::helpers::brygga_with_database(&dir.join("brygga.db"), args)
}

#[tokio::test]
async fn brygga_token_gets_a_token_the_gateway_accepts_and_audit_verify_finds_a_changed_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::start(dir.path(), &[]);
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );
    let token_url = gateway.url("/auth/token");
    let output = run_brygga(&[
        "token",
        "--client",
        "region-jh-cosmic",
        "--key",
        "deploy/config/example-keys/region-jh-cosmic.pem",
        "--url",
        &token_url,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let response = client
        .post(gateway.url("/cosmic-link/v1/messages"))
        .bearer_auth(&token)
        .header("content-type", "application/xml")
        .body(
            std::fs::read(
                repo_root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The wrong key for the client is refused with the endpoint's reason.
    let refused = run_brygga(&[
        "token",
        "--client",
        "region-jh-cosmic",
        "--key",
        "deploy/config/example-keys/ostersund-treserva.pem",
        "--url",
        &token_url,
    ]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("invalid_client"),
        "{}",
        stderr(&refused)
    );
    gateway.terminate();
    gateway.wait_exit(Duration::from_secs(30)).expect("exited");

    let verify = brygga_on(dir.path(), &["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("intact"));
    let extract = brygga_on(
        dir.path(),
        &["audit", "extract", "--person", "19811218-9876"],
    );
    assert!(extract.status.success(), "{}", stderr(&extract));
    let csv = String::from_utf8(extract.stdout).unwrap();
    assert!(csv.starts_with("at,organisation,organisation_name,actor,what,why,legal_basis"));
    assert!(csv.contains("\"disclose admission_notice\""), "{csv}");
    assert!(csv.contains("Östersunds kommun"), "{csv}");
    let export = brygga_on(dir.path(), &["audit", "export"]);
    let bundle: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert!(bundle["total"].as_u64().unwrap() >= 3);

    // Someone with access to the database changes a disclosure's recipient.
    {
        use sqlx::{Connection, Executor};
        let mut db = sqlx::SqliteConnection::connect(&format!(
            "sqlite://{}",
            dir.path().join("brygga.db").display()
        ))
        .await
        .unwrap();
        db.execute("DROP TRIGGER audit_append_only_update")
            .await
            .unwrap();
        db.execute("UPDATE audit_log SET organisation = '2309' WHERE seq = 3")
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    let verify = brygga_on(dir.path(), &["audit", "verify"]);
    assert!(!verify.status.success());
    assert!(
        stderr(&verify).contains("broken at record 3"),
        "{}",
        stderr(&verify)
    );
}

#[test]
fn check_config_names_a_subscription_whose_format_is_no_dialect() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("deploy/config/organisations.toml"),
        dir.path().join("organisations.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("subscriptions.toml"),
        "[[subscription]]\nid = \"viva\"\norganisation = \"2380\"\nendpoint = \"https://viva.example/in\"\nformat = \"municipal:viva-like\"\n",
    )
    .unwrap();
    let config = dir.path().join("brygga.toml");
    std::fs::write(
        &config,
        format!(
            "mappings_dir = {:?}\n",
            repo_root().join("mappings").display().to_string()
        ),
    )
    .unwrap();
    let output = run_brygga(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("subscription viva: format municipal:viva-like names no dialect"),
        "{message}"
    );
    assert!(message.contains("treserva-like"), "{message}");
}

#[test]
fn audit_anchor_signs_a_checkpoint_that_verify_holds_the_log_to() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("brygga.db").display());
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let key_file = dir.path().join("anchor.pem");
    std::fs::write(
        &key_file,
        key.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
    )
    .unwrap();
    let public_file = dir.path().join("anchor.pub.pem");
    std::fs::write(
        &public_file,
        key.verifying_key()
            .to_public_key_pem(Default::default())
            .unwrap(),
    )
    .unwrap();
    let brygga = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
            .args(args)
            .arg("--config")
            .arg(repo_root().join("deploy/config/brygga.toml"))
            .env("BRYGGA_DATABASE__URL", &url)
            .env("BRYGGA_AUDIT__ANCHOR_KEY_FILE", &key_file)
            .output()
            .unwrap()
    };
    assert!(brygga(&["migrate"]).status.success());
    let checkpoint = dir.path().join("checkpoint.json");
    let anchored = brygga(&["audit", "anchor", "--out", checkpoint.to_str().unwrap()]);
    assert!(anchored.status.success(), "{}", stderr(&anchored));
    let verified = brygga(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("1 signed checkpoint(s) verified"),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // With the public key alone, as an auditor holds it.
    let verified = brygga(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--public-key",
        public_file.to_str().unwrap(),
    ]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    // A checkpoint changed after signing is not trusted.
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let changed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut changed = changed;
    changed["head_seq"] = serde_json::json!(changed["head_seq"].as_u64().unwrap() + 7);
    std::fs::write(&checkpoint, changed.to_string()).unwrap();
    let refused = brygga(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("signature does not verify"),
        "{}",
        stderr(&refused)
    );
}
