//! Absolute URLs in FHIR answers: `fullUrl`, paging links and `Location` under the configured
//! public base URL, or under what a trusted reverse proxy says the client used — and never
//! under what an untrusted peer's headers say.

use serde_json::Value;

use crate::helpers::{OSTERSUND, TestApp, free_port, spawn_app_with};

const SEARCH: &str = "/fhir/Task?patient=198112189876&_count=2";

async fn search(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = app.as_client(OSTERSUND).await.get(app.url(url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

fn full_urls(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn answers_carry_absolute_urls_under_the_public_base_url_and_its_links_are_followed() {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.server.listen = ([127, 0, 0, 1], port).into();
        s.server.public_base_url = Some(format!("http://localhost:{port}/"));
        s.auth.token_url = Some(format!("http://127.0.0.1:{port}/auth/token"));
    })
    .await;
    app.admitted_case().await;
    let base = format!("http://localhost:{port}/fhir/");
    let first = search(&app, SEARCH, &[]).await;
    assert_eq!(first["total"], 3, "{first}");
    let mut ids = full_urls(&first);
    assert!(
        ids.iter().all(|u| u.starts_with(&format!("{base}Task/"))),
        "{ids:?}"
    );
    let links = first["link"].as_array().unwrap();
    assert!(
        links
            .iter()
            .all(|l| l["url"].as_str().unwrap().starts_with(&base)),
        "{links:?}"
    );
    // The next link is followed as it is given, through the public name.
    let second = search(&app, &next_link(&first).expect("a next link"), &[]).await;
    ids.extend(full_urls(&second));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every Task once: {ids:?}");
    assert_eq!(next_link(&second), None);

    let (_, statement) = app.get_json(OSTERSUND, "/fhir/metadata").await;
    assert_eq!(
        statement["implementation"]["url"],
        format!("http://localhost:{port}/fhir")
    );

    // A resource read names itself absolutely too.
    let task = ids[0].clone();
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(&task)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let location = response.headers()["content-location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{task}/_history/")),
        "{location}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_base_and_anyone_else_cannot() {
    let forwarded: [(&str, &str); 3] = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "gw.example.se"),
        ("x-forwarded-prefix", "/brygga"),
    ];
    let behind = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    behind.admitted_case().await;
    let found = search(&behind, SEARCH, &forwarded).await;
    assert!(
        full_urls(&found)
            .iter()
            .all(|u| u.starts_with("https://gw.example.se/brygga/fhir/Task/")),
        "{found}"
    );
    assert!(
        next_link(&found)
            .unwrap()
            .starts_with("https://gw.example.se/brygga/fhir/Task?"),
        "{found}"
    );
    // RFC 7239 says the same.
    let found = search(
        &behind,
        SEARCH,
        &[("forwarded", "for=192.0.2.1;proto=https;host=gw.example.se")],
    )
    .await;
    assert!(
        full_urls(&found)[0].starts_with("https://gw.example.se/fhir/Task/"),
        "{found}"
    );

    // Without a trusted proxy, the same headers change nothing.
    let direct = spawn_app_with(|_| {}).await;
    direct.admitted_case().await;
    let found = search(&direct, SEARCH, &forwarded).await;
    let own = direct.url("/fhir/Task/");
    assert!(
        full_urls(&found).iter().all(|u| u.starts_with(&own)),
        "{found}"
    );
}
