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
}

/// A group: a context element (or each of a repeated one) and a canonical context.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub xml: Option<XmlPath>,
    pub repeated: bool,
    pub field: Option<CanonPath>,
    pub min: usize,
    pub required: bool,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Value(ValueRule),
    /// An XML constant: checked on reading, written on writing.
    Fixed {
        xml: XmlPath,
        value: String,
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
    pub limits: Limits,
    pub envelope: Vec<Rule>,
    pub kinds: Vec<MessageKind>,
    pub receipt: Form,
    pub error: Form,
    pub tables: CodeTables,
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
            let dialect = load_dialect(&folder)?;
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

fn read(path: &Path) -> Result<String, DialectError> {
    std::fs::read_to_string(path).map_err(|e| DialectError::new(path, e.to_string()))
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

/// Compiles a dialect; an error names the file (relative to the dialect's folder) and the
/// problem.
fn compile(
    name: &str,
    spec: DialectSpec,
    tables: &CodeTables,
    messages: Vec<(std::path::PathBuf, String, MessageSpec)>,
) -> Result<Dialect, (String, String)> {
    let at = |file: &str| {
        let file = file.to_owned();
        move |problem: String| (file.clone(), problem)
    };
    let dialect_at = at("dialect.toml");
    let mut namespaces = Namespaces::default();
    for (prefix, uri) in &spec.namespaces {
        if uri.trim().is_empty() {
            return Err(dialect_at(format!(
                "[namespaces] {prefix}: the URI is empty"
            )));
        }
        if prefix == "default" {
            namespaces.default = Some(uri.clone());
        } else {
            namespaces.prefixed.push((prefix.clone(), uri.clone()));
        }
    }
    let root =
        Name::parse(&spec.root, &namespaces).map_err(|e| dialect_at(format!("root: {e}")))?;
    let defaults = Limits {
        max_bytes: 1024 * 1024,
        max_depth: 32,
        max_elements: 10_000,
    };
    let limits = match &spec.limits {
        None => defaults,
        Some(l) => Limits {
            max_bytes: l.max_bytes.unwrap_or(defaults.max_bytes),
            max_depth: l.max_depth.unwrap_or(defaults.max_depth),
            max_elements: l.max_elements.unwrap_or(defaults.max_elements),
        },
    };
    for (type_name, defaults) in &spec.types {
        let applies = match type_name.as_str() {
            "datetime" => defaults.layout.is_none(),
            "date" => defaults.layout.is_none() && defaults.zone.is_none(),
            "person-id" => defaults.format.is_none() && defaults.zone.is_none(),
            _ => {
                return Err(dialect_at(format!(
                    "[types.{type_name}]: defaults can be given for datetime, date and person-id"
                )));
            }
        };
        if !applies {
            return Err(dialect_at(format!(
                "[types.{type_name}]: datetime takes format and zone, date takes format, person-id takes layout"
            )));
        }
    }
    let compiler = Compiler {
        namespaces: &namespaces,
        tables,
        fragments: &spec.fragment,
        types: &spec.types,
    };
    let envelope = compiler
        .rules(&spec.envelope, "envelope", 0, true)
        .map_err(&dialect_at)?;
    let written = writes(&envelope);
    for required in [
        "event.source.message_id",
        "event.source.sender",
        "sent_at",
        "case.issuer",
        "case.value",
        "person",
    ] {
        if !written.contains(required) {
            return Err(dialect_at(format!(
                "[[envelope]] has no rule for {required}, which every message needs"
            )));
        }
    }
    let form = |form: &FormSpec, what: &str| -> Result<Form, (String, String)> {
        Ok(Form {
            root: Name::parse(&form.root, &namespaces)
                .map_err(|e| dialect_at(format!("[{what}] root: {e}")))?,
            rules: compiler
                .rules(&form.rule, &format!("[{what}] rule"), 0, false)
                .map_err(&dialect_at)?,
        })
    };
    let receipt = form(&spec.receipt, "receipt")?;
    let error = form(&spec.error, "error")?;

    let mut kinds: Vec<MessageKind> = Vec::new();
    for (path, stem, message) in messages {
        let file = format!(
            "messages/{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let message_at = at(&file);
        let kind = EventKind::NAMES
            .iter()
            .copied()
            .find(|k| *k == message.kind)
            .ok_or_else(|| {
                message_at(format!(
                    "kind {:?} is not a canonical event kind; expected one of {}",
                    message.kind,
                    EventKind::NAMES.join(", ")
                ))
            })?;
        let detect = conditions(&message.detect, &namespaces)
            .map_err(|e| message_at(format!("detect: {e}")))?;
        if detect.is_empty() {
            return Err(message_at("detect is empty".to_owned()));
        }
        if let Some(other) = kinds.iter().find(|k| {
            k.detect.iter().map(|c| &c.source).collect::<Vec<_>>()
                == detect.iter().map(|c| &c.source).collect::<Vec<_>>()
        }) {
            return Err(message_at(format!(
                "detect is the same as in messages/{}.toml; a document must be one kind",
                other.name
            )));
        }
        let context = message
            .context
            .as_deref()
            .map(|c| XmlPath::parse(c, &namespaces))
            .transpose()
            .map_err(|e| message_at(format!("context: {e}")))?;
        if context.as_ref().is_some_and(|c| c.attribute.is_some()) {
            return Err(message_at(
                "context names an element, not an attribute".to_owned(),
            ));
        }
        let occurred_at = message
            .occurred_at
            .as_deref()
            .map(CanonPath::parse)
            .transpose()
            .map_err(|e| message_at(format!("occurred_at: {e}")))?;
        let rules = compiler
            .rules(&message.rule, "rule", 0, true)
            .map_err(&message_at)?;
        if let Some(path) = &occurred_at {
            let mut all = written.clone();
            all.extend(writes(&rules));
            if !all.contains(&path.to_string()) {
                return Err(message_at(format!(
                    "occurred_at names {path}, which no rule of the message or the envelope sets"
                )));
            }
        }
        kinds.push(MessageKind {
            name: stem,
            kind,
            direction: message.direction,
            detect,
            context,
            occurred_at,
            rules,
        });
    }
    if kinds.is_empty() {
        return Err((
            "messages".to_owned(),
            "the folder has no message kinds (messages/*.toml)".to_owned(),
        ));
    }
    Ok(Dialect {
        name: name.to_owned(),
        description: spec.description,
        format: format!("{FORMAT_PREFIX}{name}"),
        namespaces,
        root,
        limits,
        envelope,
        kinds,
        receipt,
        error,
        tables: tables.clone(),
    })
}

fn conditions(spec: &OneOrMany, namespaces: &Namespaces) -> Result<Vec<Condition>, String> {
    spec.to_vec()
        .iter()
        .map(|c| Condition::parse(c, namespaces))
        .collect()
}

/// The canonical paths (from the message root) that top-level rules and field-less groups
/// set, for the start-up checks.
fn writes(rules: &[Rule]) -> BTreeSet<String> {
    fn walk(rules: &[Rule], prefix: &str, out: &mut BTreeSet<String>) {
        let join = |p: &CanonPath| {
            if prefix.is_empty() {
                p.to_string()
            } else {
                format!("{prefix}.{p}")
            }
        };
        for rule in rules {
            match &rule.body {
                Body::Value(v) => out.extend(v.field.iter().map(join)),
                Body::Const { field, .. } | Body::Copy { field, .. } => {
                    out.insert(join(field));
                }
                Body::Group(g) if !g.repeated => match &g.field {
                    Some(field) => {
                        let here = join(field);
                        out.insert(here.clone());
                        walk(&g.rules, &here, out);
                    }
                    None => walk(&g.rules, prefix, out),
                },
                Body::Group(g) => {
                    if let Some(field) = &g.field {
                        out.insert(join(field));
                    }
                }
                Body::Fixed { .. } | Body::Check { .. } => {}
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(rules, "", &mut out);
    out
}

struct Compiler<'a> {
    namespaces: &'a Namespaces,
    tables: &'a CodeTables,
    fragments: &'a BTreeMap<String, Vec<RuleSpec>>,
    types: &'a BTreeMap<String, TypeDefaults>,
}

/// Fragments may use fragments, this deep at most (a cycle is an error, not a hang).
const MAX_NESTING: usize = 8;

fn describe(spec: &RuleSpec) -> String {
    let show = |v: &OneOrMany| match v {
        OneOrMany::One(s) => format!("{s:?}"),
        OneOrMany::Many(v) => format!("{v:?}"),
    };
    if let Some(xml) = &spec.xml {
        format!(" (xml = {})", show(xml))
    } else if let Some(each) = &spec.each {
        format!(" (each = {each:?})")
    } else if let Some(field) = &spec.field {
        format!(" (field = {})", show(field))
    } else {
        String::new()
    }
}

fn json_of(value: &toml::Value) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("not a JSON value: {e}"))
}

impl Compiler<'_> {
    fn rules(
        &self,
        specs: &[RuleSpec],
        label: &str,
        depth: usize,
        top: bool,
    ) -> Result<Vec<Rule>, String> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let origin = format!("{label} {}{}", i + 1, describe(spec));
                self.rule(spec, &origin, depth, top)
                    .map_err(|e| format!("{origin}: {e}"))
            })
            .collect()
    }

    fn xml(&self, text: &str) -> Result<XmlPath, String> {
        XmlPath::parse(text, self.namespaces)
    }

    fn transform(&self, spec: &RuleSpec) -> Result<Transform, String> {
        let name = spec.value_type.as_deref().unwrap_or("string");
        if let Some(table) = &spec.table {
            if spec.value_type.is_some() {
                return Err("give either type or table, not both".to_owned());
            }
            let table = self.tables.get(table).ok_or_else(|| {
                let known: Vec<&str> = self.tables.names().collect();
                format!(
                    "table {table:?} is not in codes.toml (tables: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
            return Ok(Transform::Code(table.clone()));
        }
        let unused = |key: &str, present: bool| {
            if present {
                Err(format!("{key} does not apply to type {name}"))
            } else {
                Ok(())
            }
        };
        if !matches!(name, "date" | "datetime") {
            unused("format", spec.format.is_some())?;
        }
        if name != "datetime" {
            unused("zone", spec.zone.is_some())?;
        }
        if name != "person-id" {
            unused("layout", spec.layout.is_some())?;
        }
        if name != "string" {
            unused("max_length", spec.max_length.is_some())?;
        }
        let defaults = self.types.get(name).cloned().unwrap_or_default();
        let format = spec.format.clone().or(defaults.format);
        let zone = spec.zone.clone().or(defaults.zone);
        let layout = spec.layout.clone().or(defaults.layout);
        let transform = match name {
            "string" => Transform::String {
                max_length: spec.max_length,
            },
            "integer" => Transform::Integer,
            "boolean" => Transform::Boolean,
            "date" => Transform::Date {
                format: format.unwrap_or_else(|| "%Y-%m-%d".to_owned()),
            },
            "datetime" => {
                let zone = match zone.as_deref().unwrap_or("Europe/Stockholm") {
                    "Europe/Stockholm" => Zone::Stockholm,
                    "offset" => Zone::Offset,
                    "UTC" => Zone::Utc,
                    other => {
                        return Err(format!(
                            "zone {other:?} is not Europe/Stockholm, offset or UTC"
                        ));
                    }
                };
                let format = format.unwrap_or_else(|| match zone {
                    Zone::Offset => "%Y-%m-%dT%H:%M:%S%:z".to_owned(),
                    _ => "%Y-%m-%dT%H:%M:%S".to_owned(),
                });
                Transform::DateTime { format, zone }
            }
            "person-id" => {
                let layout = layout.as_deref().unwrap_or("YYYYMMDD-NNNC");
                Transform::PersonId {
                    layout: Layout::parse(layout).ok_or_else(|| {
                        format!(
                            "layout {layout:?} is not one of {}",
                            Layout::NAMES.join(", ")
                        )
                    })?,
                }
            }
            "hsa-id" => Transform::HsaId,
            "kommunkod" => Transform::Kommunkod,
            other => {
                return Err(format!(
                    "type {other:?} is not one of {} (or give a table)",
                    TYPES.join(", ")
                ));
            }
        };
        transform.check()?;
        Ok(transform)
    }

    fn rule(&self, spec: &RuleSpec, origin: &str, depth: usize, top: bool) -> Result<Rule, String> {
        let when = spec
            .when
            .as_ref()
            .map(|c| conditions(c, self.namespaces))
            .transpose()?
            .unwrap_or_default();
        let unless = spec
            .unless
            .as_ref()
            .map(|c| conditions(c, self.namespaces))
            .transpose()?
            .unwrap_or_default();
        let body = self.body(spec, origin, depth, top)?;
        Ok(Rule {
            origin: origin.to_owned(),
            when,
            unless,
            body,
        })
    }

    fn body(&self, spec: &RuleSpec, origin: &str, depth: usize, top: bool) -> Result<Body, String> {
        let fields = spec
            .field
            .as_ref()
            .map(|f| {
                f.to_vec()
                    .iter()
                    .map(|p| CanonPath::parse(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let xmls = spec
            .xml
            .as_ref()
            .map(|x| {
                x.to_vec()
                    .iter()
                    .map(|p| self.xml(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let is_group = spec.rules.is_some() || spec.fragment.is_some() || spec.each.is_some();
        let leaf_keys = spec.value_type.is_some()
            || spec.table.is_some()
            || spec.format.is_some()
            || spec.separator.is_some()
            || spec.default.is_some();

        if let Some(check) = &spec.check {
            if spec.xml.is_some() || spec.field.is_some() || is_group || leaf_keys {
                return Err("a check stands alone, with its message".to_owned());
            }
            let message = spec
                .message
                .clone()
                .ok_or("a check needs a message saying what the document lacks")?;
            return Ok(Body::Check {
                conditions: conditions(check, self.namespaces)?,
                message,
            });
        }
        if spec.message.is_some() {
            return Err("message belongs to a check".to_owned());
        }
        if let Some(copy) = &spec.copy {
            if !top {
                return Err("copy is allowed in top-level rules only".to_owned());
            }
            let [field] = fields.as_slice() else {
                return Err("copy needs exactly one field".to_owned());
            };
            if spec.xml.is_some() || is_group || leaf_keys || spec.constant.is_some() {
                return Err("copy takes only field (and conditions)".to_owned());
            }
            return Ok(Body::Copy {
                field: field.clone(),
                from: CanonPath::parse(copy)?,
            });
        }
        if let Some(constant) = &spec.constant {
            let [field] = fields.as_slice() else {
                return Err("const needs exactly one field".to_owned());
            };
            if spec.xml.is_some() || is_group || leaf_keys {
                return Err(
                    "const sets a canonical field without reading XML; it takes no xml or type"
                        .to_owned(),
                );
            }
            return Ok(Body::Const {
                field: field.clone(),
                value: json_of(constant)?,
            });
        }
        if let Some(fixed) = &spec.fixed {
            let [xml] = xmls.as_slice() else {
                return Err("fixed needs exactly one xml path".to_owned());
            };
            if spec.field.is_some() || is_group || leaf_keys {
                return Err("fixed takes only xml (and conditions)".to_owned());
            }
            return Ok(Body::Fixed {
                xml: xml.clone(),
                value: fixed.clone(),
            });
        }
        if is_group {
            if depth >= MAX_NESTING {
                return Err(format!(
                    "rules nest deeper than {MAX_NESTING} levels (does a fragment use itself?)"
                ));
            }
            if spec.xml.is_some() && spec.each.is_some() {
                return Err("give either xml (one element) or each (repeated), not both".to_owned());
            }
            if xmls.len() > 1 {
                return Err("a group has one xml path".to_owned());
            }
            if fields.len() > 1 {
                return Err("a group has one field".to_owned());
            }
            let each = spec.each.as_deref().map(|e| self.xml(e)).transpose()?;
            let xml = each.or_else(|| xmls.first().cloned());
            if xml.as_ref().is_some_and(|x| x.attribute.is_some()) {
                return Err("a group's xml names an element, not an attribute".to_owned());
            }
            let repeated = spec.each.is_some();
            if repeated && xml.as_ref().is_some_and(|x| x.absolute) {
                return Err("each takes a path relative to its context".to_owned());
            }
            if repeated && fields.is_empty() {
                return Err("each needs a field: the list it fills".to_owned());
            }
            let mut rules = Vec::new();
            if let Some(name) = &spec.fragment {
                let fragment = self.fragments.get(name).ok_or_else(|| {
                    let known: Vec<&str> = self.fragments.keys().map(String::as_str).collect();
                    format!(
                        "fragment {name:?} is not defined (fragments: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                })?;
                rules.extend(self.rules(
                    fragment,
                    &format!("fragment {name} rule"),
                    depth + 1,
                    false,
                )?);
            }
            if let Some(nested) = &spec.rules {
                rules.extend(self.rules(nested, &format!("{origin} › rule"), depth + 1, false)?);
            }
            if rules.is_empty() {
                if !repeated {
                    return Err("a group needs rules or use".to_owned());
                }
                // `each` of plain values: every element's own text is one list item.
                rules.push(Rule {
                    origin: origin.to_owned(),
                    when: Vec::new(),
                    unless: Vec::new(),
                    body: Body::Value(ValueRule {
                        xml: vec![self.xml(".")?],
                        field: vec![CanonPath::parse(".")?],
                        separator: None,
                        transform: self.transform(spec)?,
                        required: true,
                        default: None,
                    }),
                });
            } else if leaf_keys || spec.max_length.is_some() || spec.layout.is_some() {
                return Err("a group's values are typed by its rules".to_owned());
            }
            if spec.min.is_some() && !repeated {
                return Err("min belongs to each".to_owned());
            }
            return Ok(Body::Group(GroupRule {
                xml,
                repeated,
                field: fields.first().cloned(),
                min: spec.min.unwrap_or(0),
                required: spec.required,
                rules,
            }));
        }
        if spec.min.is_some() {
            return Err("min belongs to each".to_owned());
        }
        if xmls.is_empty() {
            return Err("a rule needs xml (or each, const, copy, fixed, check)".to_owned());
        }
        if fields.is_empty() {
            return Err("a rule reading xml needs a field (or fixed)".to_owned());
        }
        if xmls.len() > 1 && fields.len() > 1 {
            return Err(
                "either several xml paths into one field or one into several fields".to_owned(),
            );
        }
        if (xmls.len() > 1 || fields.len() > 1) != spec.separator.is_some() {
            return Err(if spec.separator.is_some() {
                "separator joins several xml paths or splits into several fields; this rule has one of each".to_owned()
            } else {
                "several xml paths or fields need a separator".to_owned()
            });
        }
        if spec.separator.as_deref() == Some("") {
            return Err("the separator is empty".to_owned());
        }
        let transform = self.transform(spec)?;
        if fields.len() > 1 && !matches!(transform, Transform::String { .. }) {
            return Err("splitting into several fields works on strings".to_owned());
        }
        let default = spec.default.as_ref().map(json_of).transpose()?;
        Ok(Body::Value(ValueRule {
            xml: xmls,
            field: fields,
            separator: spec.separator.clone(),
            transform,
            required: spec.required,
            default,
        }))
    }
}

/// The tests of a message kind's detection that say what is written: `path = 'value'` and
/// `path` (exists); the first alternative of each condition.
pub fn detect_writes(kind: &MessageKind) -> impl Iterator<Item = &Test> {
    kind.detect.iter().filter_map(|c| c.any.first())
}
