//! The operator's documents name only what exists: every `brygga …` command in
//! `deploy/RUNBOOK.md` and `deploy/README.md` is accepted by the command line as written (run
//! against a database of the example configuration, placeholders filled in), and every HTTP
//! call they name is an operation of the OpenAPI document with the query parameters it uses.

use std::collections::BTreeSet;

use crate::helpers::{brygga_with_database, repo_root};

/// The documents' text: the runbook and the deployment README.
fn documents() -> Vec<(&'static str, String)> {
    ["deploy/RUNBOOK.md", "deploy/README.md"]
        .into_iter()
        .map(|name| {
            (
                name,
                std::fs::read_to_string(repo_root().join(name)).unwrap(),
            )
        })
        .collect()
}

/// Every `brygga …` command: in backticks, or a line of a shell block.
fn commands(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, piece) in text.split('`').enumerate() {
        if i % 2 == 1 && piece.starts_with("brygga ") && !piece.contains('\n') {
            found.insert(piece.to_owned());
        }
    }
    let mut in_shell = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_shell = line == "```sh";
            continue;
        }
        if in_shell {
            // A line may chain commands (`a && b`); each brygga one counts.
            for part in line.split("&&") {
                let part = part.trim();
                if part.starts_with("brygga ") {
                    found.insert(part.to_owned());
                }
            }
        }
    }
    found
}

#[test]
fn every_command_the_runbook_names_is_accepted_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("brygga.db");
    let migrated = brygga_with_database(&database, &["migrate"]);
    assert!(migrated.status.success());
    let mut checked = 0;
    for (name, text) in documents() {
        for command in commands(&text) {
            let filled = command
                .replace("FILE", &dir.path().join("file").display().to_string())
                .replace("<name>", "ostersund")
                .replace("<id>", "1")
                .replace("$(date +%F)", "2026-12-06");
            // Paths of the examples stand for the operator's own: use the test's folder.
            let args: Vec<String> = filled
                .split_whitespace()
                .skip(1)
                .map(|a| {
                    if a.starts_with("/var/") {
                        dir.path().join("elsewhere.db").display().to_string()
                    } else {
                        a.to_owned()
                    }
                })
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = brygga_with_database(&database, &args);
            let said = String::from_utf8_lossy(&output.stderr);
            // Clap answers a command it does not know, or a flag it does not take, with 2.
            assert_ne!(
                output.status.code(),
                Some(2),
                "{name}: `{command}` is not a command brygga takes: {said}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} commands");
}

#[test]
fn every_http_call_the_runbook_names_is_in_the_contract() {
    let contract: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("mappings/openapi.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (name, text) in documents() {
        for (i, piece) in text.split('`').enumerate() {
            let Some((method, target)) = piece.split_once(' ') else {
                continue;
            };
            if i % 2 == 0 || !["GET", "POST", "PUT", "DELETE"].contains(&method) {
                continue;
            }
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let operation = &contract["paths"][path][method.to_lowercase()];
            assert!(
                operation.is_object(),
                "{name}: `{piece}` is no operation of the API"
            );
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    contract["paths"][path]["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten(),
                )
                .flat_map(|p| {
                    // An exploded object parameter's query keys are its properties.
                    let properties: Vec<&str> = p["schema"]["properties"]
                        .as_object()
                        .filter(|_| p["explode"] == true)
                        .map(|o| o.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    p["name"].as_str().into_iter().chain(properties)
                })
                .collect();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let key = pair.split('=').next().unwrap();
                assert!(
                    declared.contains(key),
                    "{name}: `{piece}` uses the query parameter {key}, which {method} {path} does not take ({declared:?})"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked} calls");
}
