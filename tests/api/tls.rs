//! HTTPS and mutual TLS on loopback: a client bound to its certificate must present it, gets
//! tokens bound to it (RFC 8705), and may authenticate with the certificate alone; a token
//! bound to a certificate is refused over a connection without it.

use brygga::config::TlsSettings;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{KROKOM, OSTERSUND, TestApp, assertion, repo_root, spawn_app_with};

fn tls_file(name: &str) -> std::path::PathBuf {
    repo_root().join("fixtures/tls").join(name)
}

pub fn fingerprint(client: &str) -> String {
    let der = CertificateDer::from_pem_file(tls_file(&format!("{client}.pem"))).unwrap();
    hex::encode(Sha256::digest(der.as_ref()))
}

async fn tls_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.server.tls = Some(TlsSettings {
            certificate_file: tls_file("server.pem"),
            key_file: tls_file("server.key"),
            client_ca_file: Some(tls_file("ca.pem")),
        });
        for client in &mut settings.clients {
            if client.client_id == OSTERSUND {
                client.certificates = vec![fingerprint(OSTERSUND)];
            }
        }
    })
    .await
}

fn https(app: &TestApp, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", app.address.port())
}

/// An HTTPS client trusting the test CA, presenting `identity`'s certificate if given.
fn client(identity: Option<&str>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls_file("ca.pem")).unwrap()).unwrap();
    let mut builder = reqwest::Client::builder().add_root_certificate(ca);
    if let Some(name) = identity {
        let pem = std::fs::read(tls_file(&format!("{name}.identity.pem"))).unwrap();
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

async fn token_request(
    app: &TestApp,
    http: &reqwest::Client,
    form: &[(&str, String)],
) -> (u16, Value) {
    let response = http
        .post(https(app, "/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn assertion_form(app: &TestApp, client: &str, jti: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".to_owned()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        (
            "client_assertion",
            assertion(client, &https(app, "/auth/token"), app.clock.now(), jti),
        ),
    ]
}

#[tokio::test]
async fn the_gateway_serves_https_and_publishes_certificate_bound_tokens() {
    let app = tls_app().await;
    let response = client(None)
        .get(https(&app, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let smart: Value = client(None)
        .get(https(&app, "/.well-known/smart-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(smart["token_endpoint"], https(&app, "/auth/token"));
    assert_eq!(smart["tls_client_certificate_bound_access_tokens"], true);
    // Plain HTTP to the TLS port gets no answer.
    assert!(
        reqwest::Client::new()
            .get(app.url("/health"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_client_bound_to_its_certificate_must_present_it_and_its_tokens_go_only_with_it() {
    let app = tls_app().await;
    // Without the certificate the assertion alone is not enough.
    let (status, body) =
        token_request(&app, &client(None), &assertion_form(&app, OSTERSUND, "t-1")).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{body}"
    );
    // Nor is another client's certificate.
    let (status, _) = token_request(
        &app,
        &client(Some(KROKOM)),
        &assertion_form(&app, OSTERSUND, "t-2"),
    )
    .await;
    assert_eq!(status, 401);
    // With it, the token is bound to it.
    let own = client(Some(OSTERSUND));
    let (status, body) = token_request(&app, &own, &assertion_form(&app, OSTERSUND, "t-3")).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let ok = own
        .get(https(&app, "/deviations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The same token over a connection without the certificate (a stolen token) is refused.
    let stolen = client(None)
        .get(https(&app, "/deviations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 401);
    let outcome: Value = stolen.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("bound to a client certificate")
    );
    let stolen = client(Some(KROKOM))
        .get(https(&app, "/deviations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 401);
}

#[tokio::test]
async fn a_certificate_alone_authenticates_its_client_and_no_other() {
    let app = tls_app().await;
    let form = |id: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", id.to_owned()),
        ]
    };
    let (status, body) = token_request(&app, &client(Some(OSTERSUND)), &form(OSTERSUND)).await;
    assert_eq!(status, 200, "{body}");
    // Krokom's certificate does not make its holder Östersund; and Krokom has no certificate
    // registered, so it authenticates with an assertion.
    let (status, _) = token_request(&app, &client(Some(KROKOM)), &form(OSTERSUND)).await;
    assert_eq!(status, 401);
    let (status, body) = token_request(&app, &client(Some(KROKOM)), &form(KROKOM)).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("assertion"),
        "{body}"
    );
    let (status, _) =
        token_request(&app, &client(None), &assertion_form(&app, KROKOM, "k-1")).await;
    assert_eq!(status, 200);
}
