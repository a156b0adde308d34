//! `brygga dialect check FOLDER`: a dialect as its author works on it. Each example is read,
//! what no rule reads is listed, and the message read is written back and read again, which
//! must give the same message (read ∘ write ∘ read = read).

use std::path::Path;

use jiff::civil::Date;
use serde_json::Value;

use super::{Dialect, decode, encode};

/// What one example showed.
#[derive(Debug, Clone)]
pub struct ExampleCheck {
    /// The example's file, relative to the dialect's folder.
    pub file: String,
    /// The canonical kind and the dialect's message file it was read as.
    pub kind: Option<(String, String)>,
    /// Why it could not be read, or written back, or read again.
    pub error: Option<String>,
    /// Input no rule reads.
    pub not_read: Vec<String>,
    /// Where the message read again differs from the first reading (`None`: the same).
    pub differs: Option<Difference>,
    /// The canonical message as first read (JSON), where the example read.
    pub read: Option<Value>,
}

impl ExampleCheck {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.not_read.is_empty() && self.differs.is_none()
    }
}

/// Reads each of the folder's `examples/*.xml` with `dialect`, writes the message back and
/// reads it again.
pub fn check_examples(dialect: &Dialect, folder: &Path, today: Date) -> Vec<ExampleCheck> {
    example_files(folder)
        .iter()
        .map(|path| {
            let file = path
                .strip_prefix(folder)
                .unwrap_or(path)
                .display()
                .to_string();
            let mut check = ExampleCheck {
                file,
                kind: None,
                error: None,
                not_read: Vec::new(),
                differs: None,
                read: None,
            };
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    check.error = Some(format!("cannot be read: {e}"));
                    return check;
                }
            };
            let first = match decode(dialect, &bytes, today) {
                Ok(first) => first,
                Err(e) => {
                    check.error = Some(e.to_string());
                    return check;
                }
            };
            check.kind = Some((
                first.message.event.kind.name().to_owned(),
                format!("messages/{}.toml", first.kind),
            ));
            check.not_read = first.warnings.clone();
            check.read = serde_json::to_value(&first.message).ok();
            let written = match encode(dialect, &first.message, today) {
                Ok(written) => written,
                Err(e) => {
                    check.error = Some(format!("cannot be written back: {e}"));
                    return check;
                }
            };
            // Written back as sent: in the dialect's encoding.
            let sent = match dialect.sent(&written) {
                Ok(sent) => sent,
                Err(e) => {
                    check.error = Some(format!("cannot be written back: {e}"));
                    return check;
                }
            };
            match decode(dialect, &sent, today) {
                Ok(again) => {
                    let b = serde_json::to_value(&again.message).unwrap_or(Value::Null);
                    let a = check.read.as_ref().unwrap_or(&Value::Null);
                    check.differs = first_difference(a, &b, "");
                }
                Err(e) => {
                    check.error = Some(format!("written back, it does not read: {e}"));
                }
            }
            check
        })
        .collect()
}

/// A dialect folder's `examples/*.xml`, in name order (none when it has no examples folder).
pub(super) fn example_files(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(folder.join("examples"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Where a message read again differs from its first reading: the canonical path, and the
/// two values as JSON. The values are the example's (perhaps a name or a personnummer):
/// `brygga dialect check` shows them to the dialect's author; a start-up error names only
/// the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub at: String,
    pub read: String,
    pub again: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: read {}, read again {}",
            self.at, self.read, self.again
        )
    }
}

/// The first path where `a` and `b` differ, with both values.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<Difference> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &join(k),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &join(&i.to_string()))),
        _ if a == b => None,
        _ => Some(Difference {
            at: at.to_owned(),
            read: a.to_string(),
            again: b.to_string(),
        }),
    }
}
