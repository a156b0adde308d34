//! The audit log and access: searches audited, statistics without small figures, scopes cut at
//! once, a rewritten log found, pruning only below a signed checkpoint.

use super::*;

on_both_backends!(
    a_search_that_finds_nobody_is_audited,
    statistics_show_a_client_its_own_units_and_the_county_no_small_figures,
    a_cut_scope_takes_effect_at_once_on_every_instance_and_across_a_restart,
    a_rewritten_audit_log_is_found_by_its_signed_checkpoints,
    audit_records_are_pruned_only_below_a_signed_checkpoint,
);

/// Krokom looks a person up and finds nothing: the person's log extract shows that it looked.
async fn a_search_that_finds_nobody_is_audited(backend: Backend) {
    let app = app(backend).await;
    for path in [
        format!("/fhir/Task?patient={PNR_SYSTEM}|195504152389"),
        format!("/fhir/CarePlan?patient={PNR_SYSTEM}|195504152389"),
        format!("/fhir/Patient?identifier={PNR_SYSTEM}|195504152389"),
        format!("/fhir/Consent?patient={PNR_SYSTEM}|195504152389"),
    ] {
        let (code, found) = app.get_json(crate::helpers::KROKOM, &path).await;
        assert_eq!(code, 200, "{path}: {found}");
        assert_eq!(found["total"], 0, "{path}: {found}");
    }
    let person =
        brygga::domain::identifiers::PersonId::parse_any("195504152389", app.clock.today())
            .unwrap();
    let looked: Vec<String> = app
        .store
        .audit_for_person(&person)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.organisation.as_deref() == Some("2309"))
        .map(|r| r.action)
        .collect();
    assert_eq!(looked.len(), 4, "{looked:?}");
}

/// `/stats` once showed every organisation's units, with figures small enough to recognise a
/// person (one SIP answer at the psychiatric clinic). A client sees its own organisation's
/// units; the county's follow-up sees every unit with small figures suppressed.
async fn statistics_show_a_client_its_own_units_and_the_county_no_small_figures(backend: Backend) {
    let app = app(backend).await;
    story_until(&app, "20-utskriven.xml").await;
    let path = "/stats?from=2026-11-01&to=2026-12-01";
    let (code, own) = app.get_json(OSTERSUND, path).await;
    assert_eq!(code, 200, "{own}");
    let units = |stats: &Value| -> Vec<String> {
        stats["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["unit"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(units(&own), ["2380"], "{own}");
    assert!(!own.to_string().contains("SE2321000214-E2VC"), "{own}");
    let (_, region) = app.get_json(REGION, path).await;
    assert!(!units(&region).is_empty());
    assert!(
        units(&region)
            .iter()
            .all(|u| u.starts_with("SE2321000214-")),
        "{region}"
    );
    assert!(!region.to_string().contains("\"2380\""), "{region}");
    // The county: every unit, and no figure about one to four.
    let (code, county) = app.get_json("jamtland-uppfoljning", path).await;
    assert_eq!(code, 200, "{county}");
    assert!(units(&county).contains(&"2380".to_owned()));
    assert!(units(&county).contains(&"SE2321000214-E2VC".to_owned()));
    for row in county["rows"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&county["total"]))
    {
        for (name, value) in row.as_object().unwrap() {
            if let Some(n) = value.as_f64()
                && name != "payment_responsibility_days"
                && !name.starts_with("days_")
            {
                assert!(n == 0.0 || n >= 5.0, "{name} = {n} shown: {row}");
            }
        }
    }
    let psychiatry = county["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "SE2321000214-E2VC")
        .unwrap();
    assert_eq!(
        psychiatry["sip_answers_accepted"],
        Value::Null,
        "{psychiatry}"
    );
}

/// An access token for `client` from `app`, whose token endpoint's public URL is `token_url`.
async fn token_at(app: &TestApp, token_url: &str, client: &str, jti: &str) -> String {
    let assertion = crate::helpers::assertion(client, token_url, app.clock.now(), jti);
    let response = app.request_token(&assertion, None).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A token keeps working after its client's scopes were cut: no longer. The clients file is
/// read again when it changes, and a token's scopes are narrowed to the client's current
/// registration at every request — on every instance reading the file, and after a restart.
async fn a_cut_scope_takes_effect_at_once_on_every_instance_and_across_a_restart(backend: Backend) {
    let shared = tempfile::tempdir().unwrap();
    let config = crate::helpers::repo_root().join("deploy/config");
    std::fs::create_dir(shared.path().join("clients")).unwrap();
    for entry in std::fs::read_dir(config.join("clients")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            shared.path().join("clients").join(entry.file_name()),
        )
        .unwrap();
    }
    let clients_file = shared.path().join("clients.toml");
    std::fs::copy(config.join("clients.toml"), &clients_file).unwrap();
    std::fs::write(shared.path().join("token.key"), [7u8; 48]).unwrap();
    let database = match backend {
        Backend::Sqlite => format!("sqlite://{}", shared.path().join("brygga.db").display()),
        Backend::Postgres => crate::helpers::postgres_database().await,
    };
    const TOKEN_URL: &str = "http://gateway.test/auth/token";
    let started = std::sync::atomic::AtomicUsize::new(0);
    let instance = || {
        let database = database.clone();
        let clients_file = clients_file.clone();
        let key = shared.path().join("token.key");
        let n = started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::helpers::spawn_app_at_with("2026-11-28T12:00:00Z", move |settings| {
            settings.database.url = database;
            // Instances sharing a database have identities of their own.
            settings.delivery.instance_id = Some(format!("instance-{n}"));
            settings.auth.token_url = Some(TOKEN_URL.to_owned());
            settings.auth.token_key_file = Some(key);
            settings.clients =
                brygga::auth::load_clients(&clients_file, &settings.directory).unwrap();
            settings.clients_source = Some(clients_file);
        })
    };
    let a = instance().await;
    let b = instance().await;
    let region = token_at(&a, TOKEN_URL, REGION, "cut-0").await;
    let admitted = reqwest::Client::new()
        .post(a.url("/cosmic-link/v1/messages"))
        .bearer_auth(region)
        .header("content-type", "application/xml")
        .body(crate::helpers::cosmic_example(
            "01-inskrivningsmeddelande.xml",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), 200);
    // Östersund's token, from instance A, with every scope it is registered for.
    let token = token_at(&a, TOKEN_URL, OSTERSUND, "cut-1").await;
    let consent_search = |app: &TestApp| {
        let url = app.url(&format!(
            "/fhir/Consent?patient={PNR_SYSTEM}|{PERSONNUMMER}"
        ));
        let token = token.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(consent_search(&a).await, 200);
    assert_eq!(consent_search(&b).await, 200);
    // The registration cut: Östersund no longer reads consents.
    let text = std::fs::read_to_string(&clients_file).unwrap();
    let cut = text.replacen(
        "organisation = \"2380\"\nscopes = [\"system/Task.crus\", \"system/CarePlan.crus\", \"system/Consent.crus\",",
        "organisation = \"2380\"\nscopes = [\"system/Task.crus\", \"system/CarePlan.crus\",",
        1,
    );
    assert_ne!(cut, text, "the example registration changed shape");
    std::fs::write(&clients_file, cut).unwrap();
    assert_eq!(consent_search(&a).await, 403);
    assert_eq!(consent_search(&b).await, 403);
    // Still what the token and the registration both allow.
    let tasks = reqwest::Client::new()
        .get(b.url(&format!("/fhir/Task?patient={PNR_SYSTEM}|{PERSONNUMMER}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.status(), 200);
    // After a restart, on the same database and key.
    drop(a);
    drop(b);
    let c = instance().await;
    assert_eq!(consent_search(&c).await, 403);
}

/// The anchor key of the audit tests, and its PEM file in `dir`.
fn anchor_key(dir: &std::path::Path) -> (brygga::anchor::AnchorKey, std::path::PathBuf) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let secret = [42u8; 32];
    let pem = ed25519_dalek::SigningKey::from_bytes(&secret)
        .to_pkcs8_pem(Default::default())
        .unwrap();
    let path = dir.join("anchor.pem");
    std::fs::write(&path, pem.as_bytes()).unwrap();
    (brygga::anchor::AnchorKey::from_bytes(&secret), path)
}

/// A raw connection to `app`'s database, for going around the gateway as whoever can write
/// the database would.
async fn raw(app: &TestApp) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = app.database_url();
    let url = match url.strip_prefix("sqlite://") {
        Some(path) => format!("sqlite:{path}"),
        None => url,
    };
    sqlx::AnyConnection::connect(&url).await.unwrap()
}

async fn exec(conn: &mut sqlx::AnyConnection, sql: &str) {
    use sqlx::Executor;
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Record `seq`'s hash as the gateway computes it (`store::audit`).
fn record_hash(seq: i64, prev: &str, fields: &Value) -> String {
    use sha2::Digest;
    let array = fields.to_string();
    let tail = array.strip_prefix('[').unwrap();
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("[{seq},\"{prev}\",").as_bytes());
    hasher.update(tail.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whoever can write the database rewrites the audit log: truncates its tail and rewinds the
/// head; deletes its start and moves the anchor (the records "deleted after retention",
/// though retention is off); or changes a record and recomputes the whole chain. The chain
/// alone verifies after the last two; a signed checkpoint made before finds each.
async fn a_rewritten_audit_log_is_found_by_its_signed_checkpoints(backend: Backend) {
    use sqlx::Row;
    for attack in ["truncate", "delete the start", "recompute"] {
        let keys = tempfile::tempdir().unwrap();
        let (key, key_file) = anchor_key(keys.path());
        let app = spawn_app_on(backend, move |settings| {
            settings.audit.anchor_key_file = Some(key_file);
        })
        .await;
        story_until(&app, "05-planering-paborjad.xml").await;
        let ((head_seq, head_hash), (anchor_seq, anchor_hash)) =
            app.store.audit_head_and_anchor().await.unwrap();
        let checkpoint = key.sign(
            (head_seq, &head_hash),
            (anchor_seq, &anchor_hash),
            app.clock.now(),
        );
        app.store.record_checkpoint(&checkpoint).await.unwrap();
        let checkpoints = vec![("checkpoint.json".to_owned(), checkpoint.clone())];
        let trusted = key.trusted();
        let verified = brygga::audit::verify(&app.store, &checkpoints, Some(&trusted), false)
            .await
            .unwrap();
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
        app.post_cosmic_example("06-andrad-beraknad-utskrivning.xml")
            .await;

        let mut conn = raw(&app).await;
        let hash_of = |seq: i64| format!("SELECT hash FROM audit_log WHERE seq = {seq}");
        match attack {
            "truncate" => {
                let keep = head_seq as i64 - 3;
                let hash: String = sqlx::query_scalar(sqlx::AssertSqlSafe(hash_of(keep)))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                exec(&mut conn, "INSERT INTO retention_pruning (id) VALUES (1)").await;
                exec(
                    &mut conn,
                    &format!("DELETE FROM audit_log WHERE seq > {keep}"),
                )
                .await;
                exec(&mut conn, "DELETE FROM retention_pruning").await;
                exec(
                    &mut conn,
                    &format!("UPDATE audit_head SET seq = {keep}, hash = '{hash}' WHERE id = 1"),
                )
                .await;
            }
            "delete the start" => {
                let hash: String = sqlx::query_scalar(sqlx::AssertSqlSafe(hash_of(3)))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                exec(&mut conn, "INSERT INTO retention_pruning (id) VALUES (1)").await;
                exec(&mut conn, "DELETE FROM audit_log WHERE seq <= 3").await;
                exec(&mut conn, "DELETE FROM retention_pruning").await;
                exec(
                    &mut conn,
                    &format!("UPDATE audit_anchor SET seq = 3, hash = '{hash}' WHERE id = 1"),
                )
                .await;
            }
            _ => {
                // Record 2 changed, and every hash from it on recomputed.
                let rows = sqlx::query(
                    "SELECT seq, recorded_at, case_id, actor, organisation, action, person, purpose, legal_basis, details, prev_hash FROM audit_log WHERE seq >= 2 ORDER BY seq",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let mut prev: String = rows[0].get(10);
                let mut rewritten = Vec::new();
                for row in &rows {
                    let seq: i64 = row.get(0);
                    let actor: String = if seq == 2 {
                        "someone else".to_owned()
                    } else {
                        row.get(3)
                    };
                    let fields = json!([
                        row.get::<i64, _>(1),
                        row.get::<Option<String>, _>(2),
                        actor,
                        row.get::<Option<String>, _>(4),
                        row.get::<String, _>(5),
                        row.get::<Option<String>, _>(6),
                        row.get::<String, _>(7),
                        row.get::<Option<String>, _>(8),
                        row.get::<String, _>(9),
                    ]);
                    let hash = record_hash(seq, &prev, &fields);
                    rewritten.push((seq, fields, prev.clone(), hash.clone()));
                    prev = hash;
                }
                exec(&mut conn, "INSERT INTO retention_pruning (id) VALUES (1)").await;
                exec(&mut conn, "DELETE FROM audit_log WHERE seq >= 2").await;
                exec(&mut conn, "DELETE FROM retention_pruning").await;
                for (seq, f, prev_hash, hash) in &rewritten {
                    let text = |v: &Value| match v.as_str() {
                        Some(s) => format!("'{}'", s.replace('\'', "''")),
                        None => "NULL".to_owned(),
                    };
                    exec(
                        &mut conn,
                        &format!(
                            "INSERT INTO audit_log (seq, recorded_at, case_id, actor, organisation, action, person, purpose, legal_basis, details, prev_hash, hash) VALUES ({seq}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '{prev_hash}', '{hash}')",
                            f[0], text(&f[1]), text(&f[2]), text(&f[3]), text(&f[4]), text(&f[5]), text(&f[6]), text(&f[7]), text(&f[8])
                        ),
                    )
                    .await;
                }
                exec(
                    &mut conn,
                    &format!("UPDATE audit_head SET hash = '{prev}' WHERE id = 1"),
                )
                .await;
                // The chain alone is fooled.
                assert!(
                    app.store.verify_audit_chain().await.unwrap().is_intact(),
                    "the recomputed chain verifies on its own"
                );
            }
        }
        let verified = brygga::audit::verify(&app.store, &checkpoints, Some(&trusted), false)
            .await
            .unwrap();
        let expected = match attack {
            "truncate" => "truncated",
            "delete the start" => "retention is off",
            _ => "recomputed",
        };
        assert!(
            verified.problems.iter().any(|p| p.contains(expected)),
            "{attack}: {:?}",
            verified.problems
        );
    }
}

/// With a retention for audit records, nothing is deleted until a signed checkpoint covers
/// it, and never past the checkpoint's head.
async fn audit_records_are_pruned_only_below_a_signed_checkpoint(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let (key, _) = anchor_key(keys.path());
    // The gateway signs no checkpoint of its own here: the test makes them.
    let app = spawn_app_on(backend, |settings| settings.retention.audit_days = 1).await;
    story_until(&app, "05-planering-paborjad.xml").await;
    let before = app.clock.now() + jiff::SignedDuration::from_hours(1);
    // A forged checkpoint (another key) is not relied on.
    let forged = brygga::anchor::AnchorKey::from_bytes(&[1; 32]);
    let ((head_seq, head_hash), (anchor_seq, anchor_hash)) =
        app.store.audit_head_and_anchor().await.unwrap();
    app.store
        .record_checkpoint(&forged.sign(
            (head_seq, &head_hash),
            (anchor_seq, &anchor_hash),
            app.clock.now(),
        ))
        .await
        .unwrap();
    let verifies = |c: &brygga::anchor::Checkpoint| key.trusted().verifies(c).is_ok();
    let signed_through = app
        .store
        .checkpoints(50)
        .await
        .unwrap()
        .iter()
        .filter(|c| verifies(c))
        .map(|c| c.head_seq)
        .max()
        .unwrap_or(0);
    assert_eq!(signed_through, 0);
    assert_eq!(
        app.store
            .prune_audit(before, app.clock.now(), 10_000, signed_through)
            .await
            .unwrap(),
        0
    );
    // Signed with the anchor key: pruned up to its head, no further.
    let checkpoint = key.sign((5, "x"), (0, "0"), app.clock.now());
    assert!(verifies(&checkpoint));
    let pruned = app
        .store
        .prune_audit(before, app.clock.now(), 10_000, checkpoint.head_seq)
        .await
        .unwrap();
    assert_eq!(pruned, 5);
    let ((_, _), (anchor_now, _)) = app.store.audit_head_and_anchor().await.unwrap();
    assert_eq!(anchor_now, 5);
}
