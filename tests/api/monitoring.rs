//! The monitoring files in `deploy/monitoring/` hold: the alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`), every metric they and the Grafana
//! dashboard name is one the gateway exports, and a real Prometheus on loopback scrapes a
//! running gateway and evaluates the rules against it.

use std::process::Command;

use serde_json::Value;

use crate::helpers::{TestApp, repo_root, spawn_app_with, subscription};

fn monitoring() -> std::path::PathBuf {
    repo_root().join("deploy/monitoring")
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(monitoring())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/prerequisites.sh installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program} {args:?}:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid_and_their_unit_tests_pass() {
    let checked = run("promtool", &["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = run("promtool", &["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// A gateway whose deliveries to Östersund wait (its system does not answer).
async fn waiting_gateway() -> TestApp {
    let app = spawn_app_with(|settings| {
        settings.subscriptions.0.push(subscription(
            "ostersund",
            "2380",
            "http://127.0.0.1:9/hook",
            "canonical",
        ));
    })
    .await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    app
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_name_is_exported() {
    let rules = std::fs::read_to_string(monitoring().join("alerts.yml")).unwrap();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring().join("dashboard.json")).unwrap(),
    )
    .unwrap();
    // The alert rules' expressions and the dashboard panels' queries.
    let mut expressions: Vec<String> = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:"))
        .map(str::to_owned)
        .collect();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            expressions.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(expressions.len() > 20, "{expressions:?}");
    let named: std::collections::BTreeSet<String> = expressions
        .iter()
        .flat_map(|e| e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| w.starts_with("brygga_"))
        // A histogram's series are its name with _bucket, _sum or _count.
        .map(|w| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| w.strip_suffix(suffix))
                .unwrap_or(w)
                .to_owned()
        })
        .collect();
    assert!(named.len() >= 15, "{named:?}");
    let app = waiting_gateway().await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Gauges are in every scrape; counters and histograms from their first value on.
    let sources = source_text(&repo_root().join("src"));
    let table = std::fs::read_to_string(repo_root().join("deploy/README.md")).unwrap();
    for name in &named {
        let scraped = text.contains(&format!("# TYPE {name} "));
        // Counters and histograms appear at their first value: then they are in the source.
        let counted = sources.contains(&format!("\"{name}\""));
        assert!(
            scraped || counted,
            "the rules name {name}, which /metrics does not export"
        );
        assert!(
            table.contains(&format!("`{name}`")),
            "{name} is not in deploy/README.md's table"
        );
    }
}

/// Every Rust source under `dir`, concatenated.
fn source_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&source_text(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text
}

/// A free port on loopback (bound, then released for Prometheus to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops the Prometheus server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_gateway_and_evaluates_the_rules() {
    let app = waiting_gateway().await;
    let target = app.url("").trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: brygga\n    static_configs:\n      - targets: ['{target}']\n",
            monitoring().join("alerts.yml").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus runs (scripts/prerequisites.sh installs it)");
    let _server = Server(child);
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            let response = http.get(path).send().await.ok()?;
            response.json::<Value>().await.ok()
        }
    };
    // Wait, at most thirty seconds, until Prometheus has scraped the queue and evaluated the
    // rules against it, checking after each of its scrapes.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let (queue, rules) = loop {
        // Each scrape of the gateway is a request it counts: the next check follows it.
        let scraped_again = app.metrics.recorded();
        tokio::pin!(scraped_again);
        scraped_again.as_mut().enable();
        let queue = get(format!(
            "{api}/query?query=max%20by%20(subscription)%20(brygga_outbox_pending)"
        ))
        .await;
        let rules = get(format!("{api}/rules")).await;
        let scraped = queue.as_ref().is_some_and(|q| {
            q["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        });
        let evaluated = rules.as_ref().is_some_and(|r| {
            r["data"]["groups"].as_array().is_some_and(|groups| {
                !groups.is_empty()
                    && groups.iter().all(|g| {
                        g["rules"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .all(|rule| rule["health"] == "ok")
                    })
            })
        });
        if scraped && evaluated {
            break (queue.unwrap(), rules.unwrap());
        }
        assert!(
            tokio::time::timeout_at(deadline, scraped_again)
                .await
                .is_ok(),
            "Prometheus did not scrape and evaluate within thirty seconds: {queue:?} {rules:?}"
        );
    };
    let series = &queue["data"]["result"][0];
    assert_eq!(series["metric"]["subscription"], "ostersund", "{queue}");
    assert!(series["value"][1].as_str().unwrap().parse::<f64>().unwrap() >= 1.0);
    // Every rule was evaluated; the store answers, so that alert is not pending or firing.
    let all: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let written = std::fs::read_to_string(monitoring().join("alerts.yml"))
        .unwrap()
        .matches("- alert: ")
        .count();
    assert_eq!(all.len(), written, "{rules}");
    let unreadable = all
        .iter()
        .find(|r| r["name"] == "BryggaStoreUnreadable")
        .unwrap();
    assert_eq!(unreadable["state"], "inactive", "{unreadable}");
}
