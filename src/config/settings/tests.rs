//! The settings' tests: defaults, overrides, environment variables and the errors that name
//! the key and the file.

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const DIRECTORY: &str = r#"
[[region]]
name = "Region Jämtland Härjedalen"
organisation_number = "232100-0214"
hsa_id = "SE2321000214-1000"
[[region.units]]
hsa_id = "SE2321000214-E1AV"
name = "Medicinavdelning 6"
kind = "inpatient_ward"

[[municipality]]
name = "Östersunds kommun"
kommunkod = "2380"
organisation_number = "212000-2411"
"#;

fn no_env() -> Env {
    Env::prefixed("BRYGGA_TEST_UNUSED_PREFIX_")
}

#[test]
fn a_minimal_file_takes_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "organisations.toml", DIRECTORY);
    let path = write(dir.path(), "brygga.toml", "");
    let settings = Settings::load_with_env(&path, no_env()).unwrap();
    assert_eq!(settings.server, ServerSettings::default());
    assert_eq!(settings.directory.regions[0].units.len(), 1);
}

#[test]
fn overrides_change_what_they_name_and_keep_what_files_loaded() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "organisations.toml", DIRECTORY);
    let path = write(dir.path(), "brygga.toml", "[delivery]\nbatch = 7\n");
    let settings = Settings::load_with_env(&path, no_env()).unwrap();
    let overrides: toml::Table =
        toml::from_str("[delivery]\ndeadline_warning_minutes = 600\n").unwrap();
    let scenario = dir.path().join("scenario.toml");
    let merged = settings.with_overrides(&overrides, &scenario).unwrap();
    assert_eq!(merged.delivery.deadline_warning_minutes, 600);
    assert_eq!(merged.delivery.batch, 7, "what is not named is kept");
    assert_eq!(merged.directory, settings.directory);
    assert_eq!(merged.source, settings.source);
    let wrong: toml::Table = toml::from_str("[delivery]\ndeadline_warning = 1\n").unwrap();
    let problems = settings.with_overrides(&wrong, &scenario).unwrap_err();
    assert!(
        problems[0].contains("deadline_warning") && problems[0].contains("scenario.toml"),
        "{problems:?}"
    );
}

#[test]
fn an_unknown_key_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "organisations.toml", DIRECTORY);
    let path = write(
        dir.path(),
        "brygga.toml",
        "[server]\nlisten = \"127.0.0.1:9000\"\nlisen = 1\n",
    );
    let message = Settings::load_with_env(&path, no_env())
        .unwrap_err()
        .to_string();
    assert!(message.contains("lisen"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn the_public_base_url_and_proxies_are_checked_and_name_the_token_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "organisations.toml", DIRECTORY);
    let path = write(
        dir.path(),
        "brygga.toml",
        "[server]\npublic_base_url = \"gw.example.se\"\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy\"]\n",
    );
    let message = Settings::load_with_env(&path, no_env())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("server.public_base_url: \"gw.example.se\" is not a URL"),
        "{message}"
    );
    assert!(
        message.contains("server.trusted_proxies: \"proxy\" is not an IP address"),
        "{message}"
    );
    let path = write(
        dir.path(),
        "brygga.toml",
        "[server]\npublic_base_url = \"https://gw.example.se/brygga/\"\n",
    );
    let settings = Settings::load_with_env(&path, no_env()).unwrap();
    assert_eq!(
        settings.token_url(),
        "https://gw.example.se/brygga/auth/token"
    );
}

#[test]
fn a_retired_key_says_it_is_gone_and_why() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "organisations.toml", DIRECTORY);
    let path = write(
        dir.path(),
        "brygga.toml",
        "[database]\npostgres_wal_sync = \"overlapped\"\n",
    );
    let message = Settings::load_with_env(&path, no_env())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`database.postgres_wal_sync` is no longer a setting"),
        "{message}"
    );
    assert!(message.contains("waits for the disk"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn a_malformed_hsa_id_names_the_key_the_value_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let directory = DIRECTORY.replace("SE2321000214-E1AV", "SE2321000214E1AV");
    let orgs = write(dir.path(), "organisations.toml", &directory);
    let path = write(dir.path(), "brygga.toml", "");
    let message = Settings::load_with_env(&path, no_env())
        .unwrap_err()
        .to_string();
    assert!(message.contains("SE2321000214E1AV"), "{message}");
    assert!(message.contains("hsa_id"), "{message}");
    assert!(message.contains(&orgs.display().to_string()), "{message}");
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail closure returns its own error type
fn environment_variables_override_the_file_and_unknown_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "organisations.toml", DIRECTORY);
    let path = write(
        dir.path(),
        "brygga.toml",
        "[server]\nlisten = \"127.0.0.1:9000\"\n",
    );
    figment::Jail::expect_with(|jail| {
        jail.set_env("BRYGGA_JAILTEST_SERVER__LISTEN", "127.0.0.1:9100");
        let settings = Settings::load_with_env(&path, Env::prefixed("BRYGGA_JAILTEST_"))
            .map_err(|e| e.to_string())?;
        assert_eq!(settings.server.listen.port(), 9100);
        jail.set_env("BRYGGA_JAILTEST_SERVER__PORT", "1");
        let message = Settings::load_with_env(&path, Env::prefixed("BRYGGA_JAILTEST_"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("port"), "{message}");
        Ok(())
    });
}

#[test]
fn a_missing_file_says_how_to_point_at_one() {
    let message = Settings::load_with_env(Path::new("no/such/brygga.toml"), no_env())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("no/such/brygga.toml") && message.contains("--config"),
        "{message}"
    );
}
