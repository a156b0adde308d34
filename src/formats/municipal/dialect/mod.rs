//! A dialect compiled from its folder: paths parsed, transforms built, code tables checked,
//! fragments expanded. Loading is the only IO; every error names the file, the entry and what
//! is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::codes::CodeTables;
use super::path::{CanonPath, Condition, Name, Namespaces, Test, XmlPath};
use super::spec::{
    DialectSpec, Direction, FormSpec, MessageSpec, OneOrMany, RuleSpec, TypeDefaults,
};
use super::transform::{Layout, TYPES, Transform, Zone};
use crate::domain::event::EventKind;
use crate::formats::xml::Limits;

mod compile;
mod detection;
mod fields;
mod items;
mod selectors;
use compile::compile;
pub use detection::DetectionIndex;

/// The prefix of a dialect's format name: `municipal:<dialect>`.
pub const FORMAT_PREFIX: &str = "municipal:";

/// A leaf rule: XML value(s) ↔ canonical field(s).
#[derive(Debug, Clone)]
pub struct ValueRule {
    pub xml: Vec<XmlPath>,
    pub field: Vec<CanonPath>,
    pub separator: Option<String>,
    pub transform: Transform,
    pub required: bool,
    pub default: Option<Value>,
    /// A path of the rule selects among the items a repeated group before it writes
    /// (`Deltagare[@ledare='ja']/@funktion` after `each = "Deltagare"`): written, the value
    /// must be an item's, and that item is marked (`items`).
    pub among_items: bool,
}

/// A group: a context element (or each of a repeated one) and a canonical context.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub xml: Option<XmlPath>,
    pub repeated: bool,
    pub field: Option<CanonPath>,
    pub min: usize,
    pub required: bool,
    /// One element (not `each`) selected among the items a repeated group before it writes
    /// (`xml = "Deltagare[@ledare='ja']"` after `each = "Deltagare"`): written, what the group
    /// writes must be an item's, and that item is marked (`items`).
    pub among_items: bool,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Value(ValueRule),
    /// An XML constant: checked on reading, written on writing.
    Fixed {
        xml: XmlPath,
        value: String,
        /// The path selects among the items of a list (as [`ValueRule::among_items`]): the
        /// constant goes on the item the rules before it marked.
        among_items: bool,
    },
    /// A canonical constant, set on reading.
    Const {
        field: CanonPath,
        value: Value,
    },
    /// A canonical field copied from another (a path from the message root), on reading.
    Copy {
        field: CanonPath,
        from: CanonPath,
    },
    /// Elements or attributes deliberately not read: marked as read, not written. `anywhere`:
    /// paths looked for from the context element and every element below it (`//@xsi:nil`).
    Ignore {
        xml: Vec<XmlPath>,
        anywhere: Vec<XmlPath>,
    },
    /// A condition the document must meet.
    Check {
        conditions: Vec<Condition>,
        message: String,
    },
    Group(GroupRule),
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where it was written (`messages/inskrivning.toml rule 3`), for messages.
    pub origin: String,
    pub when: Vec<Condition>,
    pub unless: Vec<Condition>,
    pub body: Body,
}

/// One message kind of the dialect.
#[derive(Debug, Clone)]
pub struct MessageKind {
    /// The file's name without `.toml` (`inskrivningsmeddelande`).
    pub name: String,
    /// The canonical event kind.
    pub kind: &'static str,
    pub direction: Direction,
    pub detect: Vec<Condition>,
    pub context: Option<XmlPath>,
    pub occurred_at: Option<CanonPath>,
    pub rules: Vec<Rule>,
}

/// A document the gateway writes in the dialect (its receipt, its error answer).
#[derive(Debug, Clone)]
pub struct Form {
    pub root: Name,
    pub rules: Vec<Rule>,
}

/// A compiled dialect.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// The folder's name (`treserva-like`).
    pub name: String,
    pub description: String,
    /// `municipal:<name>`, in event sources and `brygga translate`.
    pub format: String,
    pub namespaces: Namespaces,
    pub root: Name,
    /// The encoding its documents are written in (`encoding` in `dialect.toml`).
    pub encoding: crate::formats::encoding::Output,
    pub limits: Limits,
    pub envelope: Vec<Rule>,
    pub kinds: Vec<MessageKind>,
    pub receipt: Form,
    pub error: Form,
    pub tables: CodeTables,
    /// How many of the folder's `examples/*.xml` were read when it was loaded (each must read
    /// without error or warning, or the dialect is not loaded).
    pub examples_read: usize,
    /// Whether every message names its case in full (a required rule for `case.value` and for
    /// `case.issuer` in the envelope); otherwise the gateway places messages that do not
    /// (`pipeline/place.rs`).
    pub numbers_cases: bool,
    /// The attributes the dialect picks repeated elements by (`Falt[@namn='x']`): element and
    /// attribute. Paths in messages name such an element by its value, not its position.
    pub selectors: Vec<(Name, Name)>,
    /// The kinds by the value that tells them apart, where one element or attribute does.
    pub detection: Option<DetectionIndex>,
}

impl Dialect {
    /// A document written in this dialect (UTF-8 text, as `encode` and `write_form` write it)
    /// as its receivers take it: in the dialect's encoding, declared.
    pub fn sent<'a>(
        &self,
        document: &'a str,
    ) -> Result<std::borrow::Cow<'a, [u8]>, super::error::WriteError> {
        self.encoding
            .bytes(document)
            .map_err(|problem| super::error::WriteError::Invalid {
                field: "the document".to_owned(),
                xml: self.root.to_string(),
                problem,
            })
    }

    /// The media type of its documents: XML, with a charset unless they are UTF-8.
    pub fn media_type(&self) -> String {
        if self.encoding.is_utf8() {
            "application/xml".to_owned()
        } else {
            self.encoding.media_type("application/xml")
        }
    }

    /// The attribute `element` is picked by among its namesakes, if the dialect picks it so.
    pub fn selector(&self, element: &crate::formats::xml::Element) -> Option<&Name> {
        self.selectors
            .iter()
            .find(|(name, _)| {
                name.local == element.name
                    && name.namespace.as_deref() == element.namespace.as_deref()
            })
            .map(|(_, attribute)| attribute)
    }
}

impl Dialect {
    /// The first message kind that carries the canonical `kind` (the one written).
    pub fn kind_for(&self, kind: &str) -> Option<&MessageKind> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Where the message kind that carries `kind` keeps the canonical `field`, as the dialect
    /// writes it (`Innehall/SamtyckeReferens`), for messages that name an element.
    pub fn xml_for(&self, kind: &str, field: &str) -> Option<String> {
        fn find(rules: &[Rule], prefix: &str, base: &str, field: &str) -> Option<String> {
            let join = |a: &str, b: &str| {
                if a.is_empty() {
                    b.to_owned()
                } else {
                    format!("{a}/{b}")
                }
            };
            rules.iter().find_map(|rule| match &rule.body {
                Body::Value(v) if v.field.iter().any(|f| join_field(base, f) == field) => {
                    v.xml.first().map(|x| join(prefix, &x.source))
                }
                Body::Group(g) => {
                    let prefix = match &g.xml {
                        Some(x) => join(prefix, &x.source),
                        None => prefix.to_owned(),
                    };
                    let base = match &g.field {
                        Some(f) => join_field(base, f),
                        None => base.to_owned(),
                    };
                    find(&g.rules, &prefix, &base, field)
                }
                _ => None,
            })
        }
        fn join_field(base: &str, field: &CanonPath) -> String {
            if base.is_empty() {
                field.to_string()
            } else {
                format!("{base}.{field}")
            }
        }
        let message = self.kind_for(kind)?;
        let context = message
            .context
            .as_ref()
            .map(|c| c.source.clone())
            .unwrap_or_default();
        find(&message.rules, &context, "", field).or_else(|| find(&self.envelope, "", "", field))
    }
}

/// The dialects under `mappings/municipal/`, by name.
#[derive(Debug, Clone, Default)]
pub struct Dialects {
    dialects: BTreeMap<String, Dialect>,
}

impl Dialects {
    pub fn get(&self, name: &str) -> Option<&Dialect> {
        self.dialects.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.dialects.keys().map(String::as_str).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Dialect> {
        self.dialects.values()
    }

    pub fn is_empty(&self) -> bool {
        self.dialects.is_empty()
    }

    /// Loads every dialect folder in `dir` (a folder with a `dialect.toml`); a missing `dir`
    /// means no dialects.
    pub fn load(dir: &Path) -> Result<Dialects, DialectError> {
        let mut dialects = BTreeMap::new();
        if !dir.is_dir() {
            return Ok(Dialects { dialects });
        }
        let entries = std::fs::read_dir(dir).map_err(|e| DialectError::new(dir, e.to_string()))?;
        let mut folders: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("dialect.toml").is_file())
            .collect();
        folders.sort();
        for folder in folders {
            let mut dialect = load_dialect(&folder)?;
            dialect.examples_read = read_examples(&dialect, &folder)?;
            dialects.insert(dialect.name.clone(), dialect);
        }
        Ok(Dialects { dialects })
    }
}

/// A dialect file that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct DialectError {
    pub file: String,
    pub problem: String,
}

impl DialectError {
    fn new(file: &Path, problem: String) -> Self {
        DialectError {
            file: file.display().to_string(),
            problem,
        }
    }
}

/// Checks the folder's examples with the dialect just compiled, as `brygga dialect check`
/// does: each is read, written back in the dialect and read again. A changed mapping is so
/// checked against the documents it must read and write, the same way whether the gateway
/// starts, `check-config` runs or the author checks the folder. An example that fails, reads
/// with a warning (input no rule reads), cannot be written back, is written as a document the
/// dialect refuses, or reads again as another message is an error naming the example.
/// Returns how many were read.
fn read_examples(dialect: &Dialect, folder: &Path) -> Result<usize, DialectError> {
    let today = crate::clock::Clock::System.today();
    let checks = super::check::check_examples(dialect, folder, today);
    let mut problems = Vec::new();
    for check in &checks {
        let name = &check.file;
        problems.extend(check.error.iter().map(|e| format!("{name}: {e}")));
        problems.extend(check.not_read.iter().map(|w| format!("{name}: {w}")));
        problems.extend(
            check
                .differs
                .iter()
                // The path only: the values are the example's, and this error is logged.
                .map(|d| {
                    format!(
                        "{name}: written back and read again, it differs at {} \
                         (`brygga dialect check` shows both values)",
                        d.at
                    )
                }),
        );
    }
    if problems.is_empty() {
        Ok(checks.len())
    } else {
        Err(DialectError::new(
            folder,
            format!(
                "{} problem(s) with the examples:\n{}",
                problems.len(),
                problems.join("\n")
            ),
        ))
    }
}

fn read(path: &Path) -> Result<String, DialectError> {
    std::fs::read_to_string(path).map_err(|e| DialectError::new(path, e.to_string()))
}

/// Compiles the dialect of one folder, without reading its examples (`brygga dialect check`
/// reads them itself, reporting each).
pub fn load_folder(folder: &Path) -> Result<Dialect, DialectError> {
    load_dialect(folder)
}

fn load_dialect(folder: &Path) -> Result<Dialect, DialectError> {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(DialectError::new(
            folder,
            "a dialect's folder name is its name in URLs and formats: lower-case letters, digits and '-'"
                .to_owned(),
        ));
    }
    let dialect_file = folder.join("dialect.toml");
    let spec: DialectSpec = toml::from_str(&read(&dialect_file)?)
        .map_err(|e| DialectError::new(&dialect_file, e.to_string()))?;
    let codes_file = folder.join("codes.toml");
    let tables = if codes_file.is_file() {
        CodeTables::parse(&read(&codes_file)?).map_err(|e| DialectError::new(&codes_file, e))?
    } else {
        CodeTables::default()
    };
    let messages_dir = folder.join("messages");
    let mut message_files: Vec<_> = std::fs::read_dir(&messages_dir)
        .map_err(|e| DialectError::new(&messages_dir, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    message_files.sort();
    let mut messages = Vec::new();
    for path in message_files {
        let spec: MessageSpec =
            toml::from_str(&read(&path)?).map_err(|e| DialectError::new(&path, e.to_string()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        messages.push((path, stem, spec));
    }
    compile(&name, spec, &tables, messages).map_err(|(file, problem)| DialectError {
        file: folder.join(file).display().to_string(),
        problem,
    })
}

/// The tests of a message kind's detection that say what is written: `path = 'value'` and
/// `path` (exists); the first alternative of each condition.
pub fn detect_writes(kind: &MessageKind) -> impl Iterator<Item = &Test> {
    kind.detect.iter().filter_map(|c| c.any.first())
}
