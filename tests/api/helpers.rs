//! Spawning the gateway in-process and as a child process, with bounded waits.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use brygga::clock::Clock;
use brygga::config::{DatabaseSettings, LogSettings, ServerSettings, Settings};
use brygga::startup::Application;
use brygga::store::Store;

/// The repository root (where `deploy/config` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_settings(dir: &Path) -> Settings {
    Settings {
        server: ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerSettings::default()
        },
        database: DatabaseSettings {
            url: format!("sqlite://{}", dir.join("brygga.db").display()),
            ..DatabaseSettings::default()
        },
        log: LogSettings::default(),
        organisations_file: PathBuf::from("organisations.toml"),
        mappings_dir: repo_root().join("mappings"),
        // The example organisations (Jämtland), with their deviation contacts.
        directory: toml::from_str(
            &std::fs::read_to_string(repo_root().join("deploy/config/organisations.toml"))
                .expect("the example organisations"),
        )
        .expect("the example organisations parse"),
        source: dir.join("brygga.toml"),
    }
}

/// A gateway serving on a free loopback port until the returned handle is dropped.
pub struct TestApp {
    pub address: SocketAddr,
    pub store: Store,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut settings = test_settings(dir.path());
    adjust(&mut settings);
    // A fixed clock: the example messages' deadlines fall due only when a test moves it, never
    // because of the day the tests run.
    let clock = Clock::manual("2026-11-23T12:00:00Z".parse().expect("timestamp"));
    let app = Application::build_with_clock(settings, clock)
        .await
        .expect("build application");
    let address = app.local_addr().expect("bound address");
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        store,
        client: reqwest::Client::new(),
        _stop: stop,
        _dir: dir,
    }
}

/// A free loopback port (bound and released; the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The `brygga` binary as a child process, with its log lines readable as they arrive.
pub struct Gateway {
    pub child: Child,
    pub port: u16,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Gateway {
    /// Starts `brygga serve` with the shipped example configuration, on a free port and a
    /// database in `data_dir`.
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Gateway {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_brygga"));
        command
            .arg("serve")
            .arg("--config")
            .arg(repo_root().join("deploy/config/brygga.toml"))
            .env_remove("RUST_LOG")
            .env("BRYGGA_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "BRYGGA_DATABASE__URL",
                format!("sqlite://{}", data_dir.join("brygga.db").display()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn brygga");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Gateway {
            child,
            port,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a log line containing `needle`.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (at most `limit`) for the process to exit: its stderr closes when it does.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return self.child.wait().ok(),
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `brygga` binary to completion.
pub fn run_brygga(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("BRYGGA_CONFIG")
        .output()
        .expect("run brygga")
}

/// Copies the folder `from` (recursively) to `to`, e.g. the shipped mappings to adapt them.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}
