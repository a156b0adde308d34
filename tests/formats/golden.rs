//! Golden-file helpers: directory walking, semantic comparison and re-blessing.

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file in `dir` whose name ends with `suffix`, sorted, so a new fixture is never skipped.
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *{suffix} fixtures in {}",
        dir.display()
    );
    files
}

/// Every Cosmic Link example: the stories a region posts, then what brygga writes itself
/// (`examples/from-brygga/`: missed deadlines, its deviations and reminders), which no client
/// posts but every format must carry.
pub fn cosmic_link_examples() -> Vec<PathBuf> {
    let dir = repo().join("mappings/cosmic-link/examples");
    let mut all = files(&dir, ".xml");
    all.extend(files(&dir.join("from-brygga"), ".xml"));
    all
}

fn create_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
}

fn blessing() -> bool {
    std::env::var_os("BLESS").is_some()
}

/// Compares `actual` with the JSON in `expected` as parsed values (or writes it when blessing).
pub fn check_json(expected: &Path, actual: &serde_json::Value) {
    if blessing() {
        let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
        create_parent(expected);
        std::fs::write(expected, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(expected).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with BLESS=1 to create it)",
            expected.display()
        )
    });
    let wanted: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        &wanted,
        actual,
        "{} differs from the output (BLESS=1 rewrites it):\n{}",
        expected.display(),
        serde_json::to_string_pretty(actual).unwrap()
    );
}

/// Compares `actual` with the text in `expected` (or writes it when blessing).
pub fn check_text(expected: &Path, actual: &str) {
    if blessing() {
        create_parent(expected);
        std::fs::write(expected, format!("{actual}\n")).unwrap();
        return;
    }
    let text = std::fs::read_to_string(expected).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with BLESS=1 to create it)",
            expected.display()
        )
    });
    assert_eq!(
        text.trim_end(),
        actual,
        "{} differs (BLESS=1 rewrites it)",
        expected.display()
    );
}

/// Validates `xml` against the XML Schema `schema` with xmllint (libxml2-utils).
pub fn validate(schema: &Path, xml: &[u8], what: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("xmllint is needed to check the XSD ({e}); install it with apt-get install libxml2-utils"));
    child.stdin.take().unwrap().write_all(xml).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{what} does not validate against {}:\n{}",
        schema.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}
