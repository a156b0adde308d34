//! The console's sign-in through an OpenID provider: a real one (npm `oidc-provider`) on
//! loopback, its login and consent pages in a real browser, the authorisation code flow with
//! PKCE back to the console, the person's organisation and role from the ID token; a person
//! without a console role refused; a callback whose state is not the browser's refused; every
//! sign-in audited.

use std::io::{BufRead, BufReader, Write};

use reqwest::StatusCode;

use crate::console::{browser, browser_tools, console_app_with};
use crate::helpers::{TestApp, repo_root};

const LABEL: &str = "Testinloggning";

/// The provider, serving until it is dropped, and its issuer URL.
struct Provider {
    child: std::process::Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider and a gateway that trusts it for the console's sign-in.
async fn provider_and_gateway() -> (Provider, TestApp, tempfile::TempDir) {
    let mut child = std::process::Command::new("node")
        .arg(repo_root().join("tests/browser/oidc-provider.mjs"))
        .env("BRYGGA_TOOLS", browser_tools())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs the OpenID provider");
    let mut stdin = child.stdin.take().unwrap();
    // Its lines, read on a thread of their own.
    let (lines, mut next_line) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        // Read to the end, whether or not anyone still listens: a provider writing to a
        // closed pipe would stop.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), next_line.recv())
            .await
            .expect("the provider answers within 30 s")
            .expect("the provider prints a line");
        serde_json::from_str(&line).unwrap()
    };
    let issuer = next().await["issuer"].as_str().unwrap().to_owned();
    let trusted = issuer.clone();
    let (app, dir) = console_app_with(move |settings| {
        settings.auth.issuers.push(brygga::config::ExternalIssuer {
            jwks_url: format!("{trusted}/jwks"),
            issuer: trusted,
            audience: "brygga".to_owned(),
            organisation_claim: "organisation".to_owned(),
            scope_claim: "scope".to_owned(),
            console: Some(brygga::config::ConsoleSignIn {
                client_id: "brygga-console".to_owned(),
                client_secret_env: None,
                label: LABEL.to_owned(),
                role_claim: "brygga_role".to_owned(),
                name_claim: "name".to_owned(),
                scopes: vec!["profile".to_owned()],
            }),
        });
    })
    .await;
    writeln!(stdin, "{}", app.url("/console/oidc/callback")).unwrap();
    stdin.flush().unwrap();
    assert_eq!(next().await["ready"], true);
    // (Standard input stays open while the provider serves: it ends when the child is killed.)
    std::mem::forget(stdin);
    (Provider { child, issuer }, app, dir)
}

async fn audited(app: &TestApp, action: &str) -> Vec<brygga::store::AuditRecord> {
    app.store
        .audit_records(&brygga::store::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

#[tokio::test]
async fn in_a_real_browser_a_person_signs_in_through_the_openid_provider() {
    let (provider, app, _dir) = provider_and_gateway().await;
    let screenshots = repo_root().join("target/screenshots");
    let seen = crate::helpers::run_script(
        "node".into(),
        repo_root().join("tests/browser/oidc.mjs"),
        vec![
            ("BRYGGA_URL", app.url("")),
            ("BRYGGA_LABEL", LABEL.to_owned()),
            ("BRYGGA_TOOLS", browser_tools().display().to_string()),
            ("BRYGGA_SCREENSHOTS", screenshots.display().to_string()),
        ],
    )
    .await;
    let signed_in = &seen["signed_in"];
    assert_eq!(signed_in["path"], "/console", "{seen}");
    assert_eq!(signed_in["heading"], "Översikt");
    assert_eq!(
        signed_in["who"], "Inloggad som Rut Regionsson (SE2321000214-1000, samordnare)",
        "{seen}"
    );
    assert_eq!(signed_in["cases_heading"], "Ärenden");
    // Known to the provider, but with no console role: refused, and told why.
    let stranger = seen["stranger"]["alert"].as_str().unwrap();
    assert!(stranger.contains("brygga_role"), "{seen}");
    let signed = audited(&app, "console sign-in").await;
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].actor, "console:oidc:rut.oidc");
    assert_eq!(signed[0].organisation.as_deref(), Some("SE2321000214-1000"));
    assert_eq!(signed[0].details["issuer"], provider.issuer.as_str());
    let refused = audited(&app, "console sign-in refused").await;
    assert!(
        refused.iter().any(|r| r.details["reason"]
            .as_str()
            .unwrap()
            .contains("brygga_role")),
        "{refused:?}"
    );
    assert!(screenshots.join("console-oidc-signed-in.png").is_file());
}

#[tokio::test]
async fn a_sign_in_is_bound_to_the_browser_that_began_it() {
    let (_provider, app, _dir) = provider_and_gateway().await;
    // The login page offers the provider.
    let login = browser()
        .get(app.url("/console/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("href=\"/console/oidc/0/start?lang=sv\""),
        "{login}"
    );
    // Beginning: to the provider, with PKCE (S256), a state and a nonce; the state in a
    // cookie of this browser.
    let started = browser()
        .get(app.url("/console/oidc/0/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let query: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert_eq!(query["client_id"], "brygga-console");
    assert_eq!(query["redirect_uri"], app.url("/console/oidc/callback"));
    assert!(query["scope"].starts_with("openid"));
    let cookie = started.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("oidc_state={}", query["state"])),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Another browser returning with that state (no cookie, or another's) is refused, and
    // the state is then spent for the one that began too.
    let state = &query["state"];
    for cookie in [None, Some("oidc_state=someone-elses")] {
        let mut request =
            browser().get(app.url(&format!("/console/oidc/callback?code=stolen&state={state}")));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("set-cookie").is_none());
    }
    assert_eq!(audited(&app, "console sign-in refused").await.len(), 2);
    // A provider that is not configured for the console.
    let response = browser()
        .get(app.url("/console/oidc/7/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
