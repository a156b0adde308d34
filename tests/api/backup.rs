//! Backup and restore of the embedded database: `brygga backup` while the gateway receives
//! messages gives a consistent copy (every message accepted before it began, the audit chain
//! intact), `brygga restore` puts it in place of a missing database and nothing else, and the
//! restored gateway has the same timers due as the one backed up. On PostgreSQL the routine
//! `deploy/README.md` documents (`pg_dump` while serving, `pg_restore` into an empty database,
//! `brygga migrate`, `brygga audit verify`) does the same.

use std::path::Path;
use std::time::Duration;

use crate::helpers::{Gateway, repo_root, run_brygga};

fn brygga(database: &Path, args: &[&str]) -> std::process::Output {
    crate::helpers::brygga_with_database(database, args)
}

fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn rows(database: &Path, sql: &'static str) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let mut db =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", database.display()))
            .await
            .unwrap();
    let found: Vec<(String, i64)> = sqlx::query_as(sql).fetch_all(&mut db).await.unwrap();
    db.close().await.unwrap();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_what_was_accepted_with_its_chain_and_timers() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("brygga.db");
    let mut gateway = Gateway::start(dir.path(), &[]);
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );
    let token = run_brygga(&[
        "token",
        "--client",
        "region-jh-cosmic",
        "--key",
        "deploy/config/example-keys/region-jh-cosmic.pem",
        "--url",
        &gateway.url("/auth/token"),
    ]);
    assert!(token.status.success(), "{}", said(&token));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let post = |name: &'static str| {
        let (client, token, url) = (
            client.clone(),
            token.clone(),
            gateway.url("/cosmic-link/v1/messages"),
        );
        async move {
            let body = std::fs::read(repo_root().join("mappings/cosmic-link/examples").join(name))
                .unwrap();
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/xml")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{name}");
        }
    };
    // The case's first steps, then a backup while the rest arrive.
    for name in ["01-inskrivningsmeddelande.xml", "04-fast-vardkontakt.xml"] {
        post(name).await;
    }
    let during = dir.path().join("during.db");
    let backup = {
        let (source, during) = (source.clone(), during.clone());
        tokio::task::spawn_blocking(move || {
            brygga(&source, &["backup", "--to", during.to_str().unwrap()])
        })
    };
    for name in [
        "05-planering-paborjad.xml",
        "06-andrad-beraknad-utskrivning.xml",
        "07-samtycke-sip.xml",
        "08-utskrivningsklar.xml",
        "11-kallelse-sip.xml",
    ] {
        post(name).await;
    }
    let backed_up = backup.await.unwrap();
    assert!(backed_up.status.success(), "{}", said(&backed_up));
    // A second backup once the messages have arrived and every timer due has fired (the
    // examples' deadlines lie in the past, and a fired clock may set another), the gateway
    // still serving: it then writes no timer the backup could miss.
    let due = "SELECT 'due', COUNT(*) FROM timers WHERE status = 'pending' \
               AND due_at <= CAST(strftime('%s', 'now') AS INTEGER) * 1000";
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while rows(&source, due).await[0].1 > 0 {
        assert!(std::time::Instant::now() < until, "timers still due");
        tokio::task::yield_now().await;
    }
    let after = dir.path().join("after.db");
    let output = brygga(&source, &["backup", "--to", after.to_str().unwrap()]);
    assert!(output.status.success(), "{}", said(&output));
    // A backup is never written over a file.
    let again = brygga(&source, &["backup", "--to", after.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(said(&again).contains("exists already"), "{}", said(&again));
    let nowhere = dir.path().join("no-such-folder/b.db");
    let missing = brygga(&source, &["backup", "--to", nowhere.to_str().unwrap()]);
    assert!(
        said(&missing).contains("does not exist"),
        "{}",
        said(&missing)
    );
    gateway.terminate();
    gateway.wait_exit(Duration::from_secs(30)).expect("exited");

    // The backup taken under load: at least the two messages accepted before it, at most all
    // seven, and a chain that holds.
    let restored = tempfile::tempdir().unwrap();
    let database = restored.path().join("brygga.db");
    let output = brygga(&database, &["restore", "--from", during.to_str().unwrap()]);
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        said(&output).contains("the audit chain intact"),
        "{}",
        said(&output)
    );
    let received = rows(
        &database,
        "SELECT 'received', COUNT(*) FROM received_messages",
    )
    .await[0]
        .1;
    assert!((2..=7).contains(&received), "{received}");
    let verify = brygga(&database, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", said(&verify));
    // What is no SQLite database is no backup, and nothing is put in place.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = brygga(
        &elsewhere.path().join("brygga.db"),
        &["restore", "--from", text.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("is not an SQLite database"),
        "{}",
        said(&refused)
    );
    assert!(!elsewhere.path().join("brygga.db").exists());
    // Restoring over a database is refused.
    let over = brygga(&database, &["restore", "--from", after.to_str().unwrap()]);
    assert!(!over.status.success());
    assert!(
        said(&over).contains("move the current database away"),
        "{}",
        said(&over)
    );

    // The backup taken after: every message, and the same timers due as the gateway had.
    let whole = tempfile::tempdir().unwrap();
    let database = whole.path().join("brygga.db");
    let output = brygga(&database, &["restore", "--from", after.to_str().unwrap()]);
    assert!(output.status.success(), "{}", said(&output));
    let received = rows(
        &database,
        "SELECT 'received', COUNT(*) FROM received_messages",
    )
    .await[0]
        .1;
    assert_eq!(received, 7);
    // Every timer with its due time (the examples' deadlines lie in the past, so the gateway
    // fired them at once; whether fired or not, each falls due when it did).
    let timers = "SELECT kind, due_at FROM timers ORDER BY kind, due_at";
    let restored_timers = rows(&database, timers).await;
    assert!(!restored_timers.is_empty());
    assert_eq!(restored_timers, rows(&source, timers).await);
}

/// A PostgreSQL client program of the installed server's version (`pg_dump`, `pg_restore`).
fn postgres_program(name: &str) -> std::path::PathBuf {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| Some(d.ok()?.path().join("bin").join(name)))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.components()
            .nth(4)
            .and_then(|c| c.as_os_str().to_str()?.parse::<u32>().ok())
    });
    found
        .pop()
        .unwrap_or_else(|| std::path::PathBuf::from(name))
}

async fn pg_rows(url: &str, sql: &'static str) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let found: Vec<(String, i64)> = sqlx::query_as(sql).fetch_all(&mut db).await.unwrap();
    db.close().await.unwrap();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_postgres_routine_restores_what_was_accepted() {
    let source = crate::helpers::postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::start(dir.path(), &[("BRYGGA_DATABASE__URL", source.as_str())]);
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );
    let token = gateway.region_token("pg-backup").await;
    for name in [
        "01-inskrivningsmeddelande.xml",
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
    ] {
        let body =
            std::fs::read(repo_root().join("mappings/cosmic-link/examples").join(name)).unwrap();
        let response = gateway.post_cosmic_link(&token, body).await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
    }
    // pg_dump while the gateway serves.
    let dump = dir.path().join("brygga.dump");
    let dumped = std::process::Command::new(postgres_program("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&source)
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{}", said(&dumped));
    gateway.terminate();
    gateway.wait_exit(Duration::from_secs(30)).expect("exited");

    let restored = crate::helpers::postgres_database().await;
    let output = std::process::Command::new(postgres_program("pg_restore"))
        .args(["--exit-on-error", "--dbname"])
        .arg(&restored)
        .arg(&dump)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", said(&output));
    let brygga = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
            .args(args)
            .current_dir(repo_root())
            .env_remove("BRYGGA_CONFIG")
            .env("BRYGGA_DATABASE__URL", &restored)
            .output()
            .unwrap()
    };
    let migrated = brygga(&["migrate"]);
    assert!(migrated.status.success(), "{}", said(&migrated));
    let verified = brygga(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", said(&verified));
    // Every message accepted before the dump, and what the gateway had made of them: the
    // source went on working after the dump (timers fired, reminders set), so the restored
    // rows are the source's as far as they go.
    let received = "SELECT message_id, 0::BIGINT FROM received_messages ORDER BY message_id";
    assert_eq!(pg_rows(&restored, received).await.len(), 4);
    assert_eq!(
        pg_rows(&restored, received).await,
        pg_rows(&source, received).await
    );
    for sql in [
        "SELECT kind, due_at FROM timers ORDER BY kind, due_at",
        "SELECT idempotency_key, 0::BIGINT FROM outbox ORDER BY idempotency_key",
        "SELECT hash, seq FROM audit_log ORDER BY seq",
    ] {
        let now = pg_rows(&source, sql).await;
        let back = pg_rows(&restored, sql).await;
        assert!(!back.is_empty() || sql.contains("outbox"), "{sql}");
        let missing: Vec<_> = back.iter().filter(|row| !now.contains(row)).collect();
        assert!(
            missing.is_empty(),
            "{sql}: restored rows the source never had: {missing:?}"
        );
    }
    let timers = pg_rows(&restored, "SELECT kind, due_at FROM timers ORDER BY kind").await;
    assert!(
        timers.iter().any(|(kind, _)| kind == "sip_invitation"),
        "{timers:?}"
    );
    // A gateway on the restored database is ready.
    let mut again = Gateway::start(dir.path(), &[("BRYGGA_DATABASE__URL", restored.as_str())]);
    assert!(again.wait_for_log("brygga is serving", Duration::from_secs(60)));
    let ready = reqwest::get(again.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    again.terminate();
    again.wait_exit(Duration::from_secs(30)).expect("exited");
}
