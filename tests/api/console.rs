//! The web console over HTTP: sign-in with a local account (argon2id), the session cookie and
//! its limits, the overview as each role sees it, CSRF and cross-site refusals, the security
//! headers, Swedish and English, every sign-in audited; and `brygga user add`.

use std::io::Write;

use brygga::auth::Role;
use reqwest::StatusCode;

use crate::helpers::{AUDITOR, TestApp, repo_root, spawn_app_with};

pub(crate) const PASSWORD: &str = "a long enough password";

/// A gateway with six accounts: an operator, a coordinator and an auditor of the region, the
/// coordinators of Östersund and Krokom, and the county's follow-up.
pub(crate) async fn console_app() -> (TestApp, tempfile::TempDir) {
    console_app_with(|_| {}).await
}

pub(crate) async fn console_app_with(
    adjust: impl FnOnce(&mut brygga::config::Settings) + Send + 'static,
) -> (TestApp, tempfile::TempDir) {
    console_app_on(None, adjust).await
}

/// The same, on `backend`'s store (SQLite unless said).
pub(crate) async fn console_app_on(
    backend: Option<crate::helpers::Backend>,
    adjust: impl FnOnce(&mut brygga::config::Settings) + Send + 'static,
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.toml");
    let directory: brygga::config::Directory = toml::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/config/organisations.toml")).unwrap(),
    )
    .unwrap();
    for (username, name, organisation, role, county_statistics) in [
        (
            "anna",
            "Anna <Drift> Andersson",
            "SE2321000214-1000",
            Role::Operator,
            false,
        ),
        ("karin", "Karin Karlsson", "2380", Role::Coordinator, false),
        ("kalle", "Kalle Krokom", "2309", Role::Coordinator, false),
        (
            "rut",
            "Rut Regionsson",
            "SE2321000214-1000",
            Role::Coordinator,
            false,
        ),
        (
            "alva",
            "Alva Granskare",
            "SE2321000214-1000",
            Role::Auditor,
            false,
        ),
        // The county's follow-up group: every unit, small figures suppressed.
        (
            "folke",
            "Folke Följupp",
            "SE2321000214-1000",
            Role::FollowUp,
            true,
        ),
    ] {
        brygga::auth::add_account(
            &file,
            &directory,
            brygga::auth::NewAccount {
                username,
                name,
                organisation,
                role,
                county_statistics,
                password: PASSWORD,
            },
        )
        .unwrap();
    }
    let accounts = brygga::auth::load_accounts(&file, &directory).unwrap();
    let database = match backend {
        Some(crate::helpers::Backend::Postgres) => Some(crate::helpers::postgres_database().await),
        _ => None,
    };
    let app = spawn_app_with(move |settings| {
        if let Some(url) = database {
            settings.database.url = url;
        }
        settings.accounts = accounts;
        adjust(settings);
    })
    .await;
    (app, dir)
}

/// A browser-like client that follows no redirects and keeps no cookies of its own.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in; the session cookie (`name=value`).
pub(crate) async fn sign_in(app: &TestApp, username: &str) -> String {
    let response = browser()
        .post(app.url("/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([("username", username), ("password", PASSWORD)]).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], app.url("/console").as_str());
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

pub(crate) async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = browser().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if status.is_success() {
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-frame-options"], "DENY");
    }
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    (status, location.unwrap_or(body))
}

/// The session's CSRF token, from a page's sign-out form.
pub(crate) fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_person_signs_in_sees_the_overview_as_their_role_allows_and_signs_out() {
    let (app, _dir) = console_app().await;
    let (status, location) = page(&app, "/console", None).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, app.url("/console/login").as_str())
    );
    let (status, form) = page(&app, "/console/login", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains("<html lang=\"sv\">") && form.contains("Logga in"),
        "{form}"
    );
    assert!(
        form.contains("<label for=\"password\">Lösenord</label>"),
        "{form}"
    );

    // A wrong password and an unknown name are refused alike, with no session.
    for (username, password) in [("anna", "not the password at all"), ("nobody", PASSWORD)] {
        let response = browser()
            .post(app.url("/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([("username", username), ("password", password)])
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get("set-cookie").is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains("Fel användarnamn eller lösenord."), "{body}");
    }
    // A sign-in posted from another site is refused before any password is tried.
    let response = browser()
        .post(app.url("/console/login"))
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("username", "anna"), ("password", PASSWORD)]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());

    // The operator sees the queues and the deviations; her name is escaped.
    let cookie = sign_in(&app, "anna").await;
    let (status, overview) = page(&app, "/console", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    for text in [
        "<h1>Översikt</h1>",
        "Anna &lt;Drift&gt; Andersson (SE2321000214-1000, driftansvarig)",
        "Databasen: <span class=\"good\">svarar</span>",
        "Leveranser per prenumeration",
        "Avvikelser som väntar på svar",
        "<th scope=\"row\">Kommunen</th>",
    ] {
        assert!(overview.contains(text), "{text} in {overview}");
    }
    assert!(
        !overview.contains("<script"),
        "no script at all: {overview}"
    );
    // In English on asking, and from then on.
    let (_, english) = page(&app, "/console?lang=en", Some(&cookie)).await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("<h1>Overview</h1>"));
    let (_, still) = page(&app, "/console", Some(&cookie)).await;
    assert!(still.contains("<h1>Overview</h1>"), "{still}");

    // Signing out needs the session's CSRF token.
    let token = csrf(&overview);
    let logout = |csrf: String| {
        let cookie = cookie.clone();
        let url = app.url("/console/logout");
        async move {
            browser()
                .post(url)
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string([("csrf", csrf)]).unwrap())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(logout("0".repeat(64)).await, StatusCode::FORBIDDEN);
    let (status, _) = page(&app, "/console", Some(&cookie)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a refused sign-out leaves the session"
    );
    assert_eq!(logout(token).await, StatusCode::SEE_OTHER);
    let (status, location) = page(&app, "/console", Some(&cookie)).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, app.url("/console/login").as_str())
    );

    // A coordinator sees the deviations, not the delivery queues.
    let cookie = sign_in(&app, "karin").await;
    let (_, overview) = page(&app, "/console", Some(&cookie)).await;
    assert!(
        overview.contains("Avvikelser som väntar på svar"),
        "{overview}"
    );
    assert!(
        !overview.contains("Leveranser per prenumeration"),
        "{overview}"
    );

    // Every sign-in is audited, the refused ones too; no password is.
    let (status, audit) = app.get_json(AUDITOR, "/audit?limit=1000").await;
    assert_eq!(status, 200);
    let audit = audit.to_string();
    assert_eq!(audit.matches("\"console sign-in\"").count(), 2, "{audit}");
    // (The cross-site sign-in was refused before any account was looked at.)
    assert_eq!(
        audit.matches("console sign-in refused").count(),
        2,
        "{audit}"
    );
    assert!(audit.contains("console:anna") && audit.contains("console:unknown"));
    assert!(
        !audit.contains(PASSWORD) && !audit.contains("nobody"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_session_ends_when_idle_and_at_its_absolute_limit() {
    let (app, _dir) = console_app().await;
    let cookie = sign_in(&app, "anna").await;
    // Used every 25 minutes it lives on, until eight hours after sign-in.
    for _ in 0..19 {
        app.clock.advance(jiff::SignedDuration::from_mins(25));
        let (status, _) = page(&app, "/console", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
    }
    app.clock.advance(jiff::SignedDuration::from_mins(25));
    let (status, _) = page(&app, "/console", Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "past eight hours");

    let cookie = sign_in(&app, "anna").await;
    app.clock.advance(jiff::SignedDuration::from_mins(31));
    let (status, location) = page(&app, "/console", Some(&cookie)).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, app.url("/console/login").as_str())
    );
    // A made-up cookie is no session.
    let (status, _) = page(
        &app,
        "/console",
        Some(&format!("brygga_session={}", "a".repeat(64))),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[test]
fn user_add_writes_an_argon2id_account_the_configuration_accepts() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::copy_dir(&repo_root().join("deploy/config"), dir.path());
    let _ = std::fs::remove_file(dir.path().join("accounts.toml"));
    let config = dir.path().join("brygga.toml");
    let add = |role: &str, password: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
            .args(["--config", config.to_str().unwrap(), "user", "add"])
            .args(["--username", "anna", "--name", "Anna Andersson"])
            .args(["--organisation", "2380", "--role", role])
            .current_dir(repo_root())
            .env("BRYGGA_MAPPINGS_DIR", repo_root().join("mappings"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let added = add("coordinator", PASSWORD);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).starts_with("added account anna"));
    let written = std::fs::read_to_string(dir.path().join("accounts.toml")).unwrap();
    assert!(
        written.contains("password_hash = \"$argon2id$v=19$"),
        "{written}"
    );
    assert!(!written.contains(PASSWORD));
    let replaced = add("operator", PASSWORD);
    assert!(String::from_utf8_lossy(&replaced.stdout).starts_with("replaced account anna"));
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .current_dir(repo_root())
        .env("BRYGGA_MAPPINGS_DIR", repo_root().join("mappings"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A short password, an unknown role or organisation: refused, the file unchanged.
    let before = std::fs::read_to_string(dir.path().join("accounts.toml")).unwrap();
    for (role, password, words) in [
        ("operator", "short", "at least 12 characters"),
        ("admin", PASSWORD, "role \"admin\" is none of operator"),
    ] {
        let refused = add(role, password);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(words), "{words} in {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("accounts.toml")).unwrap(),
        before
    );
}

/// The folder of the browser tests' tools (`scripts/browser-tools.sh`).
pub(crate) fn browser_tools() -> std::path::PathBuf {
    let output = std::process::Command::new(repo_root().join("scripts/browser-tools.sh"))
        .output()
        .expect("scripts/browser-tools.sh runs");
    assert!(
        output.status.success(),
        "installing the browser tests' tools failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_the_console_signs_in_shows_the_queues_and_is_accessible() {
    // A receiver that refuses the admission notice's two messages, then takes what comes:
    // two dead letters for the operator to deliver again.
    let inbox = crate::helpers::receiver().await;
    inbox.answer_with(&[422, 422]);
    let url = inbox.url.clone();
    let (app, _dir) = console_app_with(move |settings| {
        let mut ostersund =
            crate::helpers::subscription("ostersund-treserva", "2380", &url, "canonical");
        ostersund.events = vec!["admission_notice".to_owned()];
        settings.subscriptions.0.push(ostersund);
    })
    .await;
    let case = app.admitted_case().await;
    inbox.wait_for(2).await;
    // A deviation the ward addresses to Östersund, for its coordinator to answer.
    ward_reports_deviation(
        &app,
        &case,
        "AVV-2026-40",
        "Kallelsen till SIP besvarades inte.",
    )
    .await;
    // The person is ready for discharge and the ward invites to a SIP without the person's
    // consent: the invitation is withheld from Östersund, as the timeline will show.
    app.post_cosmic_example("08-utskrivningsklar.xml").await;
    app.post_cosmic_example("11-kallelse-sip.xml").await;
    let screenshots = repo_root().join("target/screenshots");
    let env = vec![
        ("BRYGGA_URL", app.url("")),
        ("BRYGGA_USERNAME", "anna".to_owned()),
        ("BRYGGA_PASSWORD", PASSWORD.to_owned()),
        ("BRYGGA_COORDINATOR", "karin".to_owned()),
        ("BRYGGA_REGION_COORDINATOR", "rut".to_owned()),
        ("BRYGGA_OUTSIDER", "kalle".to_owned()),
        ("BRYGGA_AUDITOR", "alva".to_owned()),
        ("BRYGGA_PERSON", "198112189876".to_owned()),
        ("BRYGGA_TOOLS", browser_tools().display().to_string()),
        ("BRYGGA_SCREENSHOTS", screenshots.display().to_string()),
    ];
    let seen = crate::helpers::run_script(
        "node".into(),
        repo_root().join("tests/browser/console.mjs"),
        env,
    )
    .await;
    let pages = &seen["pages"];
    assert_eq!(pages["login"]["title"], "Logga in – brygga", "{seen}");
    assert_eq!(
        pages["refused"]["alert"],
        "Fel användarnamn eller lösenord."
    );
    assert_eq!(pages["overview"]["heading"], "Översikt");
    assert_eq!(pages["overview"]["first_tab"], "Hoppa till innehållet");
    let rows = pages["overview"]["queue_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{seen}");
    assert_eq!(rows[0][0], "ostersund-treserva");
    assert_eq!(rows[0][3], "2", "two dead letters: {seen}");
    // Delivered again from the deliveries page: the receiver has it.
    assert_eq!(pages["deliveries"]["dead_before"], 2, "{seen}");
    assert_eq!(pages["deliveries"]["delivered_after"], 1, "{seen}");
    assert_eq!(inbox.received().len(), 3);
    assert_eq!(
        pages["overview"]["deviation_rows"][0][0], "Regionen",
        "{seen}"
    );
    // The deviation answered from its page, as the API sees it.
    assert_eq!(pages["deviation"]["status"], "besvarad", "{seen}");
    assert_eq!(pages["deviation"]["answer_form_left"], 0);
    let (_, read) = app
        .get_json(
            crate::helpers::REGION,
            &format!("/cases/{case}/deviations/AVV-2026-40"),
        )
        .await;
    assert_eq!(read["status"], "answered", "{read}");
    assert_eq!(read["answer"], "Rutinen för kallelser är ändrad.");
    // The timeline: the steps in order, the invitation withheld from Östersund's units with
    // the reason, the clocks; refused to Krokom.
    let timeline = &pages["timeline"];
    assert_eq!(timeline["heading"], "Ärende SA-2026-004711", "{seen}");
    let steps: Vec<&str> = timeline["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .filter(|s| !s.starts_with("Avvikelse"))
        .collect();
    assert_eq!(
        &steps[..],
        &[
            "Inskrivningsmeddelande",
            "Utskrivningsklar",
            "Kallelse till SIP"
        ],
        "{seen}"
    );
    let withheld = timeline["withheld"].as_array().unwrap();
    assert!(
        withheld.iter().any(
            |row| row[0].as_str().unwrap().ends_with("Östersunds kommun")
                && row[1] == "inte utlämnad: samtycke till SIP saknas för mottagaren"
        ),
        "{seen}"
    );
    assert!(
        timeline["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row[0] == "Kallelse till SIP inom tre dagar"
                && row[3].as_str().unwrap().starts_with("hölls")),
        "{seen}"
    );
    // The statistics: six charts drawn, the admission notices' picture the table's numbers,
    // and those `/stats`'s for this month.
    let statistics = &pages["statistics"];
    assert_eq!(statistics["charts"], 6, "{seen}");
    assert_eq!(statistics["rendered"], 6, "{seen}");
    assert!(statistics["canvases"].as_u64().unwrap() >= 6, "{seen}");
    let table = statistics["table"].as_array().unwrap();
    assert_eq!(table.len(), 6, "six months: {seen}");
    for (k, series) in statistics["drawn"].as_array().unwrap().iter().enumerate() {
        let drawn: Vec<String> = series
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap().to_string())
            .collect();
        let shown: Vec<String> = table
            .iter()
            .map(|row| row[k + 1].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(drawn, shown, "series {k}: {seen}");
    }
    let (_, stats) = app
        .get_json(
            crate::helpers::REGION,
            "/stats?from=2026-11-01&to=2026-12-01",
        )
        .await;
    let november = table.last().unwrap();
    assert_eq!(november[0], "2026-11");
    assert_eq!(
        november[1],
        stats["total"]["admission_notices"].to_string(),
        "{stats}"
    );
    assert_eq!(pages["conformance"]["heading"], "Anslutning", "{seen}");
    assert!(
        pages["conformance"]["dialects"].as_u64().unwrap() >= 3,
        "{seen}"
    );
    // The auditor's extract shows the coordinator's read of the timeline.
    assert!(
        pages["audit"]["extract_actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "read timeline"),
        "{seen}"
    );
    assert_eq!(pages["outsider"]["status"], 404, "{seen}");
    assert_eq!(
        pages["outsider"]["alert"],
        "Ärendet finns inte, eller din organisation deltar inte i det."
    );
    for name in [
        "login",
        "overview",
        "deliveries",
        "deviation",
        "timeline",
        "statistics",
        "conformance",
        "outsider",
        "audit",
    ] {
        assert_eq!(
            pages[name]["violations"],
            serde_json::json!([]),
            "no serious or critical accessibility violation on the {name} page: {seen}"
        );
    }
    assert_eq!(pages["english"]["heading"], "Overview");
    assert_eq!(pages["english"]["lang"], "en");
    assert!(
        pages["signed_out"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/console/login")
    );
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
    for shot in [
        "console-login.png",
        "console-overview.png",
        "console-deliveries.png",
        "console-deviation.png",
        "console-timeline.png",
        "console-statistics.png",
    ] {
        assert!(screenshots.join(shot).is_file(), "{shot}");
    }
}

/// The ward reports deviation `id` of `case`, addressed to Östersund's social services.
async fn ward_reports_deviation(app: &TestApp, case: &str, id: &str, description: &str) {
    let response = app
        .region()
        .await
        .post(app.url(&format!("/cases/{case}/deviations")))
        .json(&serde_json::json!({
            "deviation_id": id,
            "by": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"},
            "addressed_to": {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-BIST"},
            "description": description
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// A form POST with the session's cookie, as a browser sends it.
async fn send_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(app.url(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

/// A form POST with the session's cookie: the status and the page answered.
pub(crate) async fn post_page(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = send_form(app, cookie, path, form).await;
    (response.status(), response.text().await.unwrap())
}

/// A form POST with the session's cookie; the status and the redirect's target.
pub(crate) async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = send_form(app, cookie, path, form).await;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location)
}

#[tokio::test]
async fn an_operator_sees_the_dead_letters_and_delivers_them_again() {
    let inbox = crate::helpers::receiver().await;
    inbox.answer_with(&[422, 422]);
    let url = inbox.url.clone();
    let (app, _dir) = console_app_with(move |settings| {
        let mut ostersund = crate::helpers::subscription("ostersund", "2380", &url, "canonical");
        ostersund.events = vec!["admission_notice".to_owned()];
        settings.subscriptions.0.push(ostersund);
    })
    .await;
    app.admitted_case().await;
    inbox.wait_for(2).await;
    let cookie = sign_in(&app, "anna").await;
    // The receiver refused both: two dead letters, with the receiver's answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dead = loop {
        let (status, list) = page(
            &app,
            "/console/deliveries?subscription=ostersund&status=dead",
            Some(&cookie),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if list.matches("class=\"bad\">död").count() == 2 {
            break list;
        }
        assert!(std::time::Instant::now() < deadline, "{list}");
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(100), inbox.wait_for(3)).await;
    };
    assert!(dead.contains("422"), "the last error: {dead}");
    assert!(
        dead.contains("aria-current=\"page\">Leveranser</a>"),
        "{dead}"
    );
    let first: String = dead
        .split("/console/deliveries/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let token = csrf(&dead);

    // Without the session's token, or as a coordinator: refused, nothing redelivered.
    let path = format!("/console/deliveries/{first}/redeliver");
    let (status, _) = post_form(&app, &cookie, &path, &[("csrf", "x")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let coordinator = sign_in(&app, "karin").await;
    let (status, _) = page(&app, "/console/deliveries", Some(&coordinator)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(inbox.received().len(), 2);

    // One dead letter again: it is delivered.
    let (status, location) = post_form(&app, &cookie, &path, &[("csrf", &token)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.ends_with("subscription=ostersund&redelivered=1"),
        "{location}"
    );
    inbox.wait_for(3).await;
    // All the others, once confirmed.
    let all = "/console/subscriptions/ostersund/redeliver";
    let (status, _) = post_form(&app, &cookie, all, &[("csrf", &token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not confirmed");
    let (status, location) =
        post_form(&app, &cookie, all, &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.ends_with("redelivered=1"), "{location}");
    inbox.wait_for(4).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, list) = page(
            &app,
            "/console/deliveries?subscription=ostersund&status=delivered",
            Some(&cookie),
        )
        .await;
        if list.matches("<td>levererad</td>").count() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{list}");
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(100), inbox.wait_for(5)).await;
    }
    let (_, audit) = app.get_json(AUDITOR, "/audit?limit=1000").await;
    let redeliveries: Vec<&serde_json::Value> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "redeliver")
        .collect();
    assert_eq!(redeliveries.len(), 2, "{audit}");
    assert!(redeliveries.iter().all(|r| r["actor"] == "console:anna"));
}

#[tokio::test]
async fn a_coordinator_answers_a_deviation_addressed_to_her_organisation_from_its_page() {
    let (app, _dir) = console_app().await;
    let case = app.admitted_case().await;
    // The ward reports a deviation addressed to Östersund's social services.
    ward_reports_deviation(
        &app,
        &case,
        "AVV-2026-31",
        "Kallelsen till <SIP> besvarades inte.",
    )
    .await;

    let karin = sign_in(&app, "karin").await;
    let (status, list) = page(&app, "/console/deviations", Some(&karin)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let path = format!("/console/cases/{case}/deviations/AVV-2026-31");
    assert!(list.contains(&format!("href=\"{path}\"")), "{list}");
    assert!(list.contains("ej kvitterad"), "{list}");
    // Another municipality's coordinator sees none of it, and cannot open it.
    let kalle = sign_in(&app, "kalle").await;
    let (_, theirs) = page(&app, "/console/deviations", Some(&kalle)).await;
    assert!(theirs.contains("Inga avvikelser."), "{theirs}");
    let (status, _) = page(&app, &path, Some(&kalle)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The operator of the region reads it, but it is not hers to answer.
    let anna = sign_in(&app, "anna").await;
    let (status, hers) = page(&app, &path, Some(&anna)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!hers.contains("/answer"), "{hers}");
    let (status, _) = post_form(
        &app,
        &anna,
        &format!("{path}/answer"),
        &[("csrf", &csrf(&hers)), ("answer", "Inte vårt.")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Karin opens it: the description escaped; she acknowledges, then answers.
    let (status, deviation) = page(&app, &path, Some(&karin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        deviation.contains("Kallelsen till &lt;SIP&gt; besvarades inte."),
        "{deviation}"
    );
    let token = csrf(&deviation);
    let (status, _) = post_form(
        &app,
        &karin,
        &format!("{path}/answer"),
        &[("csrf", &token), ("answer", " ")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty answer");
    let (status, back) = post_form(
        &app,
        &karin,
        &format!("{path}/acknowledgement"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(back.ends_with(&path), "{back}");
    let (_, acknowledged) = page(&app, &path, Some(&karin)).await;
    assert!(
        acknowledged.contains("kvitterad, ej besvarad"),
        "{acknowledged}"
    );
    let (status, _) = post_form(
        &app,
        &karin,
        &format!("{path}/answer"),
        &[
            ("csrf", &token),
            (
                "answer",
                "Kallelsen hade hamnat i fel funktionsbrevlåda; rutinen är ändrad.",
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The API sees it answered, by Östersund.
    let (status, read) = app
        .get_json(
            crate::helpers::REGION,
            &format!("/cases/{case}/deviations/AVV-2026-31"),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["status"], "answered", "{read}");
    assert_eq!(
        read["answer"],
        "Kallelsen hade hamnat i fel funktionsbrevlåda; rutinen är ändrad."
    );
    let (_, answered) = page(&app, "/console/deviations?status=answered", Some(&karin)).await;
    assert!(answered.contains(">besvarad<"), "{answered}");
    // Each read of the case from the console is audited as hers.
    let (_, audit) = app.get_json(AUDITOR, "/audit?limit=1000").await;
    assert!(
        audit["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["actor"] == "console:karin"
                && r["action"] == "read deviation (console)"
                && r["purpose"] == "uppföljning av avvikelser"),
        "{audit}"
    );
}

async fn the_overview_lists_the_deadlines_falling_due_within_a_day(
    backend: crate::helpers::Backend,
) {
    let (app, _dir) = console_app_on(Some(backend), |_| {}).await;
    let cookie = sign_in(&app, "karin").await;
    let (_, before) = page(&app, "/console", Some(&cookie)).await;
    assert!(
        before.contains("Inga tidsfrister inom 24 timmar."),
        "{before}"
    );
    let case = app.admitted_case().await;
    for name in [
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
    ] {
        app.post_cosmic_example(name).await;
    }
    let case = brygga::domain::case::CaseId::parse(&case).unwrap();
    let timers = app.store.pending_timers(case).await.unwrap();
    let now = app.clock.now();
    let (kind, due) = timers
        .iter()
        .find(|(_, at)| *at > now)
        .cloned()
        .expect("ready for discharge starts the deadline clocks");
    // Two hours before the next falls due, it is listed with its kind; those of later days,
    // and those already overdue, are not.
    let until = due.duration_since(app.clock.now()) - jiff::SignedDuration::from_hours(2);
    if until.is_positive() {
        app.clock.advance(until);
    }
    let cookie = sign_in(&app, "karin").await;
    let (status, overview) = page(&app, "/console", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let soon = app.clock.now() + jiff::SignedDuration::from_hours(24);
    let expected = timers
        .iter()
        .filter(|(k, at)| *k == kind && *at > app.clock.now() && *at <= soon)
        .count();
    assert!(expected >= 1);
    assert!(
        overview.contains(&format!(
            "<tr><th scope=\"row\">{kind}</th><td class=\"number\">{expected}</td></tr>"
        )),
        "{kind} ×{expected} in {overview}"
    );
}

on_both_backends!(the_overview_lists_the_deadlines_falling_due_within_a_day);
