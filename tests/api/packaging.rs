//! The deployment files hold: the Kubernetes manifests validate against the Kubernetes schemas
//! (kubernetes-validate, strict), the systemd unit passes `systemd-analyze verify` and its
//! exposure stays low, and the container file is multi-stage, runs unprivileged with a health
//! check, and configures a gateway that `check-config` accepts.

use std::process::Command;

use crate::helpers::{python_tool, repo_root};

#[test]
fn the_kubernetes_manifests_validate_against_the_schemas() {
    let dir = repo_root().join("deploy/kubernetes");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let output = Command::new(python_tool("kubernetes-validate"))
        .arg("--strict")
        .args(&files)
        .current_dir(&dir)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    for file in &files {
        let passed = report
            .lines()
            .any(|l| l.starts_with("INFO") && l.contains(file.as_str()) && l.contains("passed"));
        // The operator's resource has no schema in Kubernetes itself: it is the only one.
        let operator = file == "postgres-cluster.yaml"
            && report.contains(
                "Couldn't find schema for kind Cluster with api version postgresql.cnpg.io/v1",
            );
        assert!(passed || operator, "{file}:\n{report}");
    }
    assert!(
        !report.contains("ERROR") && !report.contains("FAIL"),
        "{report}"
    );
    // The deployment runs at least two instances, each claiming under its own name.
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    assert!(deployment.contains("replicas: 2"));
    assert!(deployment.contains("BRYGGA_DELIVERY__INSTANCE_ID"));
    assert!(deployment.contains("readOnlyRootFilesystem: true"));
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/systemd/brygga.service")).unwrap();
    // Verified as installed: its binary where the unit expects it is this build's.
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("brygga.service");
    std::fs::write(
        &installed,
        unit.replace("/usr/local/bin/brygga", env!("CARGO_BIN_EXE_brygga")),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&installed)
        .output()
        .expect("systemd-analyze runs");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&installed)
        .output()
        .expect("systemd-analyze runs");
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for brygga.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level:\n{report}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{report}");
    for setting in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=brygga",
    ] {
        assert!(unit.contains(setting), "{setting}");
    }
}

#[test]
fn the_container_file_builds_an_unprivileged_image_whose_settings_check() {
    let file = std::fs::read_to_string(repo_root().join("deploy/Containerfile")).unwrap();
    let stages = file.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    let user = file
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with("0") && !user.starts_with("root"),
        "{user}"
    );
    assert!(file.contains("HEALTHCHECK") && file.contains("/health"));
    // The settings the image's environment gives the example configuration are accepted (with
    // this checkout's mappings where the image has them, and a database in a temporary folder).
    let env: Vec<(String, String)> = file
        .split("ENV ")
        .nth(1)
        .expect("an ENV")
        .split('\n')
        .take_while(|l| !l.starts_with("USER"))
        .flat_map(|l| l.trim().trim_end_matches('\\').split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "BRYGGA_SERVER__LISTEN"),
        "{env:?}"
    );
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["check-config", "--config"])
        .arg(repo_root().join("deploy/config/brygga.toml"))
        .envs(env.iter().map(|(k, v)| {
            let v = match k.as_str() {
                "BRYGGA_MAPPINGS_DIR" => repo_root().join("mappings").display().to_string(),
                "BRYGGA_DATABASE__URL" => format!("sqlite://{}/brygga.db", data.path().display()),
                _ => v.clone(),
            };
            (k.clone(), v)
        }))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("0.0.0.0:8080"));
}
