//! The OpenAPI contract checked by a third-party fuzzer: schemathesis (installed by
//! `scripts/python-clients.sh`, configured by `tests/clients/schemathesis.toml`) reads the
//! gateway's `/openapi.json` and sends generated requests, schema-valid and schema-violating,
//! to every operation on loopback, checking each answer against the document: no 5xx, only
//! documented statuses, media types and bodies, valid data accepted and invalid refused, no
//! operation open without a token, 405 for undeclared methods. Bounded by examples per
//! operation and a fixed seed, so a failure is reproducible.

use crate::helpers::{OSTERSUND, python_tool, repo_root, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_contract_does_not_say() {
    let st = tokio::task::spawn_blocking(|| python_tool("st"))
        .await
        .unwrap();
    let app = spawn_app().await;
    app.admitted_case().await;
    let token = app.token(OSTERSUND, None).await;
    let schema = app.url("/openapi.json");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(st)
            .arg("--no-color")
            .arg("--config-file")
            .arg(repo_root().join("tests/clients/schemathesis.toml"))
            .arg("run")
            .arg(schema)
            .arg("--header")
            .arg(format!("Authorization: Bearer {token}"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found what the contract does not say:\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It ran, on every operation of the document but the SOAP service's two, its POST and its
    // `?wsdl` GET (schemathesis.toml: the national platform's contract is its WSDL, tested in
    // tests/api/riv.rs).
    let count = |label: &str| -> Option<String> {
        let line = report.lines().find(|l| l.trim_start().starts_with(label))?;
        Some(line.trim_start()[label.len()..].trim().to_owned())
    };
    let selected = count("Selected:").expect("a summary of the operations");
    let tested = count("Tested:").expect("a summary of the operations");
    let (chosen, all) = selected.split_once('/').unwrap();
    let number = |text: &str| text.trim().parse::<u32>().unwrap();
    assert_eq!(number(chosen) + 2, number(all), "{report}");
    assert_eq!(tested, chosen, "{report}");
    assert!(all.parse::<u32>().unwrap() > 50, "{report}");
    // What it did, for the test log.
    if let Some(cases) = report.lines().find(|l| l.contains(" generated, ")) {
        eprintln!("schemathesis: {} operations, {}", all, cases.trim());
    }
}
