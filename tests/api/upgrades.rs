//! Rolling upgrades: a build runs on a schema a newer build migrated (its migrations left
//! alone, `/ready` saying which), refuses to start once the schema's floor says it is too old,
//! and every migration keeps to the expand-then-contract rules that promise this.

use std::path::Path;
use std::time::Duration;

use sqlx::{Connection, Executor};

use crate::helpers::{Gateway, ostersund_subscription, receiver, repo_root};

fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn sqlite(database: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite:{}", database.display()))
        .await
        .unwrap()
}

/// What a newer build's expanding migration leaves: a table and a column this build does not
/// know, and its row in the migrations table.
async fn migrate_as_a_newer_build(database: &Path) {
    let mut db = sqlite(database).await;
    db.execute(
        "CREATE TABLE care_plan_versions (id TEXT PRIMARY KEY, case_id TEXT NOT NULL); \
         ALTER TABLE cases ADD COLUMN plan_note TEXT; \
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9001, 'care plan versions', TRUE, X'00', 1);",
    )
    .await
    .unwrap();
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_runs_on_a_newer_schema_until_its_floor_is_raised() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("brygga.db");
    let migrated = crate::helpers::brygga_with_database(&database, &["migrate"]);
    assert!(migrated.status.success(), "{}", said(&migrated));
    migrate_as_a_newer_build(&database).await;

    // The dry run names the newer migration and applies nothing.
    let dry = crate::helpers::brygga_with_database(&database, &["migrate", "--dry-run"]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(said(&dry).contains("nothing to apply"), "{}", said(&dry));
    assert!(
        said(&dry).contains("newer than this build: [9001]"),
        "{}",
        said(&dry)
    );

    // Started with migrate_on_start (the example configuration's), it serves and works.
    let mut gateway = Gateway::start(dir.path(), &[]);
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );
    assert!(
        gateway
            .log
            .iter()
            .any(|l| l.contains("migrations of a newer build") && l.contains("9001")),
        "{:?}",
        gateway.log
    );
    let client = reqwest::Client::new();
    let ready: serde_json::Value = client
        .get(gateway.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["migrations"]["newer"], serde_json::json!([9001]));
    let token = gateway.region_token("upgrade-1").await;
    let body = std::fs::read(
        repo_root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap();
    let accepted = gateway.post_cosmic_link(&token, body).await.unwrap();
    assert_eq!(accepted.status(), 200);

    // The newer release contracts the schema: this build is below the floor. The running one
    // is no longer ready; a new start is refused, naming both migrations.
    let mut db = sqlite(&database).await;
    db.execute("UPDATE schema_floor SET needs = 9001")
        .await
        .unwrap();
    db.close().await.unwrap();
    let response = client.get(gateway.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let not_ready: serde_json::Value = response.json().await.unwrap();
    assert!(
        not_ready["reason"]
            .as_str()
            .unwrap()
            .contains("needs a brygga that knows migration 9001"),
        "{not_ready}"
    );
    gateway.terminate();
    assert!(gateway.wait_exit(Duration::from_secs(30)).is_some());
    let mut refused = Gateway::start(dir.path(), &[]);
    let status = refused
        .wait_exit(Duration::from_secs(60))
        .expect("it stops");
    assert!(!status.success());
    let log = refused.log.join("\n");
    let known = std::fs::read_dir(repo_root().join("migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        log.contains(&format!(
            "needs a brygga that knows migration 9001; this build knows up to {known}"
        )),
        "{log}"
    );
}

/// The previous release's binary (`deploy/upgrade/previous-release`), built by
/// `scripts/previous-release.sh` when missing, and the folder of its sources (its settings).
fn previous_release() -> (std::path::PathBuf, std::path::PathBuf) {
    let output = std::process::Command::new(repo_root().join("scripts/previous-release.sh"))
        .output()
        .expect("scripts/previous-release.sh runs");
    assert!(output.status.success(), "{}", said(&output));
    let binary = std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    (binary, repo_root().join("target/previous-release/src"))
}

async fn post_example(gateway: &Gateway, token: &str, example: &str, case: &str) -> u16 {
    let body = std::fs::read_to_string(
        repo_root()
            .join("mappings/cosmic-link/examples")
            .join(example),
    )
    .unwrap()
    .replace("SA-2026-004711", case)
    .replace("<MeddelandeId>CL-", &format!("<MeddelandeId>{case}-"));
    gateway
        .post_cosmic_link(token, body.into_bytes())
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A rolling upgrade on PostgreSQL, half done: this release migrated the database, and the
/// previous release's binary (with its own settings) runs beside this one. Each accepts steps
/// of cases the other began, both deliver, and the previous one is ready; rolled back (this
/// release stopped), the previous one carries on alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_release_runs_beside_this_one_on_this_schema() {
    let (previous, sources) = previous_release();
    let inbox = receiver().await;
    let database = crate::helpers::postgres_database().await;
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["migrate", "--config"])
        .arg(repo_root().join("deploy/config/brygga.toml"))
        .env("BRYGGA_DATABASE__URL", &database)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", said(&migrated));
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let subscriptions = ostersund_subscription(dirs[0].path(), &inbox.url, &["admission_notice"]);
    let env = |instance: &'static str| {
        vec![
            ("BRYGGA_DATABASE__URL", database.as_str()),
            (
                "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
                subscriptions.as_str(),
            ),
            ("BRYGGA_DELIVERY__INSTANCE_ID", instance),
        ]
    };
    let mut old = Gateway::start_build(
        &previous,
        &sources.join("deploy/config/brygga.toml"),
        dirs[0].path(),
        &env("previous"),
    );
    assert!(
        old.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "the previous release does not start on this schema: {:?}",
        old.log
    );
    let mut new = Gateway::start(dirs[1].path(), &env("current"));
    assert!(
        new.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        new.log
    );
    let ready = reqwest::get(old.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let old_token = old.region_token("upgrade-old").await;
    let new_token = new.region_token("upgrade-new").await;
    // Each begins a case and takes the next step of the other's.
    assert_eq!(
        post_example(&old, &old_token, "01-inskrivningsmeddelande.xml", "SA-OLD").await,
        200
    );
    assert_eq!(
        post_example(&new, &new_token, "01-inskrivningsmeddelande.xml", "SA-NEW").await,
        200
    );
    assert_eq!(
        post_example(&new, &new_token, "04-fast-vardkontakt.xml", "SA-OLD").await,
        200
    );
    assert_eq!(
        post_example(&old, &old_token, "04-fast-vardkontakt.xml", "SA-NEW").await,
        200
    );
    // Both admission notices reach Östersund's two units.
    let keys = |inbox: &crate::helpers::Receiver| {
        inbox
            .received()
            .iter()
            .map(|r| r.headers["idempotency-key"].clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    inbox.wait_for(4).await;
    assert_eq!(keys(&inbox), 4);
    // Rolled back: this release stops, the previous one serves alone.
    new.terminate();
    assert!(new.wait_exit(Duration::from_secs(30)).is_some());
    assert_eq!(
        post_example(&old, &old_token, "01-inskrivningsmeddelande.xml", "SA-BACK").await,
        200
    );
    inbox.wait_for(6).await;
    assert_eq!(keys(&inbox), 6);
    old.terminate();
    assert!(old.wait_exit(Duration::from_secs(30)).is_some());
}

/// The migrations keep to the rules of `deploy/README.md` (Upgrades): both backends have the
/// same versions, and from the floor's own migration on, one that removes or changes what a
/// build may use (drops, renames, type changes, new NOT NULL without default) raises the floor.
#[test]
fn every_contracting_migration_raises_the_schema_floor() {
    let versions = |backend: &str| -> Vec<(i64, String, String)> {
        let mut found: Vec<_> = std::fs::read_dir(repo_root().join("migrations").join(backend))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|path| {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                let version: i64 = name.split('_').next().unwrap().parse().unwrap();
                (version, name, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        found.sort();
        found
    };
    let sqlite = versions("sqlite");
    let postgres = versions("postgres");
    let numbers = |v: &[(i64, String, String)]| v.iter().map(|m| m.0).collect::<Vec<_>>();
    assert_eq!(numbers(&sqlite), numbers(&postgres));
    let floor = sqlite
        .iter()
        .find(|m| m.1.ends_with("_schema_floor.sql"))
        .expect("the floor's migration")
        .0;
    let mut checked = 0;
    for (version, name, text) in sqlite.iter().chain(&postgres) {
        if *version <= floor {
            continue;
        }
        checked += 1;
        // A rebuild that keeps every column (SQLite's way to change a table) says so.
        let declared = text.lines().any(|l| l.starts_with("-- expand-only:"));
        let raises = text
            .to_uppercase()
            .contains("UPDATE SCHEMA_FLOOR SET NEEDS");
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
            .to_uppercase();
        let contracting: Vec<&str> = code
            .split(';')
            .map(str::trim)
            .filter(|statement| contracts(statement))
            .collect();
        assert!(
            contracting.is_empty() || raises || declared,
            "{name} removes or changes what an older build uses without raising schema_floor: {contracting:?}"
        );
    }
    eprintln!("{checked} migrations after the floor's checked");
}

/// Whether a statement (upper-cased) takes away or changes what a build may use.
fn contracts(statement: &str) -> bool {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let has = |phrase: &str| statement.contains(phrase);
    match words.as_slice() {
        ["DROP", "TABLE", ..] | ["DROP", "VIEW", ..] => true,
        ["ALTER", "TABLE", ..] => {
            has(" DROP ")
                || has(" RENAME ")
                || has(" ALTER COLUMN ")
                || (has(" ADD ") && has(" NOT NULL") && !has(" DEFAULT "))
        }
        _ => false,
    }
}

#[test]
fn the_migration_rules_tell_expanding_from_contracting_statements() {
    for expanding in [
        "CREATE TABLE T (ID TEXT NOT NULL, N BIGINT NOT NULL)",
        "ALTER TABLE OUTBOX ADD COLUMN RECIPIENT TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE CASES ADD COLUMN NOTE TEXT",
        "CREATE INDEX OUTBOX_DUE ON OUTBOX (NEXT_ATTEMPT_AT)",
        "DROP INDEX OUTBOX_DUE",
        "UPDATE OUTBOX SET RECIPIENT = ''",
    ] {
        assert!(!contracts(expanding), "{expanding}");
    }
    for contracting in [
        "DROP TABLE OUTBOX",
        "ALTER TABLE OUTBOX DROP COLUMN RECIPIENT",
        "ALTER TABLE OUTBOX RENAME COLUMN RECIPIENT TO TO_WHOM",
        "ALTER TABLE OUTBOX_REBUILT RENAME TO OUTBOX",
        "ALTER TABLE OUTBOX ALTER COLUMN ATTEMPTS TYPE INTEGER",
        "ALTER TABLE CASES ADD COLUMN NOTE TEXT NOT NULL",
    ] {
        assert!(contracts(contracting), "{contracting}");
    }
}
