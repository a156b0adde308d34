//! Reading a dialect's document into a canonical message: the rules build the canonical JSON
//! form, serde checks its shape. No IO. Input no rule read is returned as warnings.

use jiff::civil::Date;
use serde_json::{Map, Value};

use super::dialect::{Body, Dialect, GroupRule, MessageKind, Rule, ValueRule};
use super::error::MunicipalError;
use super::path::{CanonPath, Condition, Test, XmlPath};
use super::spec::Direction;
use super::transform::TransformError;
use crate::formats::canonical::{CanonicalMessage, event_id};
use crate::formats::xml::{self, Element, Position};

type Result<T> = std::result::Result<T, MunicipalError>;

/// A read document: the message, its kind in the dialect, and what was not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub message: CanonicalMessage,
    /// The dialect's name for the message kind (its file in `messages/`).
    pub kind: String,
    pub direction: Direction,
    pub warnings: Vec<String>,
}

/// A value read from the document: its text and where it is.
struct Located<'a, 'p> {
    text: &'a str,
    element: &'a Element,
    attribute: Option<&'p str>,
}

/// What a path found: an element, an attribute's value, or nothing (with the deepest element
/// that exists on the way).
enum Found<'a> {
    Element(&'a Element),
    Attribute(&'a Element, &'a str),
    Absent(&'a Element),
}

struct Reader<'a> {
    dialect: &'a Dialect,
    root: &'a Element,
    today: Date,
}

/// Finds the path of `target` below `el`, with `[n]` where siblings share a name.
fn path_below(reader: &Reader<'_>, el: &Element, target: &Element, path: &mut String) -> bool {
    if std::ptr::eq(el, target) {
        return true;
    }
    for child in &el.children {
        let len = path.len();
        path.push('/');
        path.push_str(&reader.dialect.namespaces.display(child));
        let same = el
            .children
            .iter()
            .filter(|c| c.name == child.name && c.namespace == child.namespace)
            .count();
        if same > 1 {
            let index = el
                .children
                .iter()
                .filter(|c| c.name == child.name && c.namespace == child.namespace)
                .position(|c| std::ptr::eq(c, child))
                .unwrap_or(0);
            path.push_str(&format!("[{}]", index + 1));
        }
        if path_below(reader, child, target, path) {
            return true;
        }
        path.truncate(len);
    }
    false
}

impl<'a> Reader<'a> {
    /// The absolute path of an element of the document (`/Meddelande/Insats[2]/Beskrivning`).
    fn path(&self, el: &Element) -> String {
        let mut path = format!("/{}", self.dialect.namespaces.display(self.root));
        path_below(self, self.root, el, &mut path);
        path
    }

    /// The path of `rest` below `el`, for what is missing there.
    fn path_to(&self, el: &Element, rest: &XmlPath) -> String {
        if rest.absolute {
            return rest.to_string();
        }
        format!("{}/{}", self.path(el), rest)
    }

    fn start(&self, el: &'a Element, path: &XmlPath) -> Option<&'a Element> {
        if !path.absolute {
            return Some(el);
        }
        Some(self.root).filter(|r| path.elements.first().is_some_and(|n| n.matches(r)))
    }

    /// Resolves `path` from `el`. With `strict`, a step that matches several elements is an
    /// error (a value is read from one); without, the first is taken (conditions). With
    /// `mark`, every element on the way is marked as read.
    fn find(&self, el: &'a Element, path: &XmlPath, strict: bool, mark: bool) -> Result<Found<'a>> {
        let Some(mut here) = self.start(el, path) else {
            return Ok(Found::Absent(self.root));
        };
        let steps = if path.absolute {
            &path.elements[1..]
        } else {
            &path.elements[..]
        };
        for name in steps {
            let mut matches = here.children.iter().filter(|c| name.matches(c));
            let Some(first) = matches.next() else {
                return Ok(Found::Absent(here));
            };
            if strict && let Some(second) = matches.next() {
                return Err(MunicipalError::Invalid {
                    path: self.path(second),
                    position: second.position,
                    problem: format!("<{name}> appears more than once; this dialect reads one"),
                });
            }
            if mark {
                first.mark();
            }
            here = first;
        }
        Ok(match &path.attribute {
            Some(name) => match here.peek_attribute(name) {
                Some(value) => Found::Attribute(here, value),
                None => Found::Absent(here),
            },
            None => Found::Element(here),
        })
    }

    /// The element `path` names below `el` (marked as read), if present.
    fn element(&self, el: &'a Element, path: &XmlPath) -> Result<Option<&'a Element>> {
        match self.find(el, path, true, true)? {
            Found::Element(found) => Ok(Some(found)),
            _ => Ok(None),
        }
    }

    /// The value `path` names below `el` (trimmed; empty counts as absent), marked as read.
    fn value<'p>(&self, el: &'a Element, path: &'p XmlPath) -> Result<Option<Located<'a, 'p>>> {
        match self.find(el, path, true, true)? {
            Found::Element(found) => {
                let text = found.text();
                Ok((!text.is_empty()).then_some(Located {
                    text,
                    element: found,
                    attribute: None,
                }))
            }
            Found::Attribute(found, _) => {
                let name = path.attribute.as_deref().unwrap_or("");
                let value = found.attribute(name).unwrap_or("").trim();
                Ok((!value.is_empty()).then_some(Located {
                    text: value,
                    element: found,
                    attribute: Some(name),
                }))
            }
            Found::Absent(_) => Ok(None),
        }
    }

    /// The path of a value, for messages.
    fn value_path(&self, located: &Located<'_, '_>) -> String {
        match located.attribute {
            Some(name) => format!("{}/@{name}", self.path(located.element)),
            None => self.path(located.element),
        }
    }

    fn test(&self, el: &'a Element, test: &Test) -> bool {
        let value = |path: &XmlPath| match self.find(el, path, false, false) {
            Ok(Found::Element(found)) => Some(found.text.as_str()),
            Ok(Found::Attribute(_, value)) => Some(value.trim()),
            _ => None,
        };
        match test {
            Test::Exists(path) => match self.find(el, path, false, false) {
                Ok(Found::Element(_)) => true,
                Ok(Found::Attribute(_, value)) => !value.trim().is_empty(),
                _ => false,
            },
            Test::Absent(path) => !self.test(el, &Test::Exists(path.clone())),
            Test::Equals(path, expected) => value(path) == Some(expected.as_str()),
            Test::NotEquals(path, expected) => value(path) != Some(expected.as_str()),
        }
    }

    fn holds(&self, el: &'a Element, condition: &Condition) -> bool {
        condition.any.iter().any(|t| self.test(el, t))
    }

    fn applies(&self, el: &'a Element, rule: &Rule) -> bool {
        rule.when.iter().all(|c| self.holds(el, c))
            && !rule.unless.iter().any(|c| self.holds(el, c))
    }

    /// The error for `path` missing below `el`, named from the deepest element that exists.
    fn missing(&self, el: &'a Element, path: &XmlPath) -> MunicipalError {
        let mut at = match self.start(el, path) {
            Some(start) => start,
            None => self.root,
        };
        let steps = if path.absolute && self.start(el, path).is_some() {
            &path.elements[1..]
        } else {
            &path.elements[..]
        };
        let mut rest = steps;
        while let Some((name, tail)) = rest.split_first() {
            match at.children.iter().find(|c| name.matches(c)) {
                Some(child) => {
                    at = child;
                    rest = tail;
                }
                None => break,
            }
        }
        let what = match (&path.attribute, rest.is_empty()) {
            (Some(attribute), true) => format!("required attribute {attribute}"),
            _ => {
                let names: Vec<String> = rest.iter().map(ToString::to_string).collect();
                format!("required element <{}>", names.join("/"))
            }
        };
        MunicipalError::Missing {
            path: self.path(at),
            position: at.position,
            what,
        }
    }

    /// Applies `rules` to the element `el`, writing into `out`. Top-level copies are returned
    /// for after all rules ran.
    fn apply<'r>(
        &self,
        rules: &'r [Rule],
        el: &'a Element,
        out: &mut Value,
        copies: &mut Vec<&'r Rule>,
    ) -> Result<()> {
        for rule in rules {
            if !self.applies(el, rule) {
                continue;
            }
            match &rule.body {
                Body::Value(v) => self.value_rule(v, el, out)?,
                Body::Fixed { xml, value } => match self.value(el, xml)? {
                    None => return Err(self.missing(el, xml)),
                    Some(found) if found.text != value => {
                        return Err(MunicipalError::Invalid {
                            path: self.value_path(&found),
                            position: found.element.position,
                            problem: format!("is {:?}; this dialect reads {value:?}", found.text),
                        });
                    }
                    Some(_) => {}
                },
                Body::Const { field, value } => {
                    set(out, field, value.clone(), || (self.path(el), el.position))?
                }
                Body::Copy { .. } => copies.push(rule),
                Body::Check {
                    conditions,
                    message,
                } => {
                    if !conditions.iter().all(|c| self.holds(el, c)) {
                        return Err(MunicipalError::Invalid {
                            path: self.path(el),
                            position: el.position,
                            problem: message.clone(),
                        });
                    }
                }
                Body::Group(g) => self.group(g, el, out, copies)?,
            }
        }
        Ok(())
    }

    fn value_rule(&self, rule: &ValueRule, el: &'a Element, out: &mut Value) -> Result<()> {
        let mut parts = Vec::with_capacity(rule.xml.len());
        for path in &rule.xml {
            parts.push((path, self.value(el, path)?));
        }
        let present = parts.iter().filter(|(_, v)| v.is_some()).count();
        if present == 0 {
            if rule.required {
                return Err(self.missing(el, &rule.xml[0]));
            }
            if let Some(default) = &rule.default {
                set(out, &rule.field[0], default.clone(), || {
                    (self.path(el), el.position)
                })?;
            }
            return Ok(());
        }
        if present < parts.len() {
            let (path, _) = parts.iter().find(|(_, v)| v.is_none()).unwrap_or(&parts[0]);
            return Err(self.missing(el, path));
        }
        let values: Vec<Located<'a, '_>> = parts.into_iter().filter_map(|(_, v)| v).collect();
        let at = values[0].element;
        // Paths are built only for messages. A value joined from several elements is named by
        // the element that holds them all.
        let path = || {
            let first = self.value_path(&values[0]);
            let mut common = first.as_str();
            for other in &values[1..] {
                let other = self.value_path(other);
                while !other.starts_with(common)
                    || other[common.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c != '/')
                {
                    common = common.rsplit_once('/').map(|(head, _)| head).unwrap_or("");
                }
            }
            common.to_owned()
        };
        let joined;
        let text = if values.len() > 1 {
            joined = values
                .iter()
                .map(|v| v.text)
                .collect::<Vec<_>>()
                .join(rule.separator.as_deref().unwrap_or(""));
            joined.as_str()
        } else {
            values[0].text
        };
        let where_ = || (path(), at.position);
        let read = |text: &str| {
            rule.transform
                .read(text, self.today)
                .map_err(|e| transform_error(e, path(), at.position))
        };
        if rule.field.len() > 1 {
            let separator = rule.separator.as_deref().unwrap_or("");
            let pieces: Vec<&str> = text.splitn(rule.field.len(), separator).collect();
            if pieces.len() < rule.field.len() || pieces.iter().any(|p| p.trim().is_empty()) {
                return Err(MunicipalError::Invalid {
                    path: path(),
                    position: at.position,
                    problem: format!(
                        "expected {} parts separated by {separator:?} ({})",
                        rule.field.len(),
                        rule.field
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            for (field, piece) in rule.field.iter().zip(pieces) {
                set(out, field, read(piece.trim())?, where_)?;
            }
            return Ok(());
        }
        let value = read(text)?;
        if value.is_null() {
            // A code that means "no value".
            return Ok(());
        }
        set(out, &rule.field[0], value, where_)
    }

    fn group<'r>(
        &self,
        rule: &'r GroupRule,
        el: &'a Element,
        out: &mut Value,
        copies: &mut Vec<&'r Rule>,
    ) -> Result<()> {
        if rule.repeated {
            let Some(path) = &rule.xml else {
                return Ok(());
            };
            let (parent, last) = match path.elements.split_last() {
                Some((last, parents)) => {
                    let parent_path = XmlPath {
                        absolute: path.absolute,
                        elements: parents.to_vec(),
                        attribute: None,
                        source: path.source.clone(),
                    };
                    let parent = if parents.is_empty() && !path.absolute {
                        Some(el)
                    } else {
                        self.element(el, &parent_path)?
                    };
                    (parent, last)
                }
                None => (Some(el), &path.elements[0]),
            };
            let items: Vec<&Element> = parent
                .map(|p| p.children.iter().filter(|c| last.matches(c)).collect())
                .unwrap_or_default();
            if items.len() < rule.min {
                let at = parent.unwrap_or(el);
                return Err(MunicipalError::Missing {
                    path: self.path(at),
                    position: at.position,
                    what: match rule.min {
                        1 => format!("at least one <{last}>"),
                        n => format!("at least {n} <{last}> (found {})", items.len()),
                    },
                });
            }
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                item.mark();
                let mut value = Value::Object(Map::new());
                self.apply(&rule.rules, item, &mut value, copies)?;
                list.push(value);
            }
            if let Some(field) = &rule.field {
                set(out, field, Value::Array(list), || {
                    (self.path(el), el.position)
                })?;
            }
            return Ok(());
        }
        let target = match &rule.xml {
            Some(path) => match self.element(el, path)? {
                Some(found) => found,
                None if rule.required => return Err(self.missing(el, path)),
                None => return Ok(()),
            },
            None => el,
        };
        match &rule.field {
            Some(field) => {
                let sub = entry(out, field).map_err(|problem| MunicipalError::Invalid {
                    path: self.path(target),
                    position: target.position,
                    problem,
                })?;
                self.apply(&rule.rules, target, sub, copies)
            }
            None => self.apply(&rule.rules, target, out, copies),
        }
    }
}

fn transform_error(error: TransformError, path: String, position: Position) -> MunicipalError {
    match error {
        TransformError::Invalid(problem) => MunicipalError::Invalid {
            path,
            position,
            problem,
        },
        TransformError::UnknownCode { code, expected } => MunicipalError::UnknownCode {
            path,
            position,
            code,
            expected,
        },
    }
}

/// The object at `path` in `root`, created (with the objects on the way) if absent.
fn entry<'v>(root: &'v mut Value, path: &CanonPath) -> std::result::Result<&'v mut Value, String> {
    let mut here = root;
    for segment in &path.segments {
        let Value::Object(map) = here else {
            return Err(format!(
                "canonical field {path} is inside a value that is not an object"
            ));
        };
        here = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !here.is_object() {
        return Err(format!(
            "canonical field {path} is set to a value and used as an object"
        ));
    }
    Ok(here)
}

/// Sets `path` in `root` to `value`; a second, different value for the same field is an error.
fn set(
    root: &mut Value,
    path: &CanonPath,
    value: Value,
    at: impl Fn() -> (String, Position),
) -> Result<()> {
    let conflict = |problem: String| {
        let (path, position) = at();
        MunicipalError::Invalid {
            path,
            position,
            problem,
        }
    };
    let Some((last, parents)) = path.segments.split_last() else {
        *root = value;
        return Ok(());
    };
    let mut here = root;
    for segment in parents {
        let Value::Object(map) = here else {
            return Err(conflict(format!(
                "canonical field {path} is inside a value that is not an object"
            )));
        };
        here = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(map) = here else {
        return Err(conflict(format!(
            "canonical field {path} is inside a value that is not an object"
        )));
    };
    match map.get(last) {
        Some(existing) if *existing != value => Err(conflict(format!(
            "gives {path} a second value; another element of the document already set it"
        ))),
        _ => {
            map.insert(last.clone(), value);
            Ok(())
        }
    }
}

/// The value at `path` in `root`.
pub fn get<'v>(root: &'v Value, path: &CanonPath) -> Option<&'v Value> {
    let mut here = root;
    for segment in &path.segments {
        here = here.as_object()?.get(segment)?;
    }
    (!here.is_null()).then_some(here)
}

fn check_namespaces(reader: &Reader<'_>, el: &Element) -> Result<()> {
    let namespaces = &reader.dialect.namespaces;
    if !namespaces.declares(el.namespace.as_deref()) {
        let expected = namespaces
            .all()
            .iter()
            .map(|u| format!("{u:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(MunicipalError::Namespace {
            dialect: reader.dialect.name.clone(),
            path: reader.path(el),
            position: el.position,
            found: el.namespace.clone().unwrap_or_else(|| "(none)".to_owned()),
            expected: if expected.is_empty() {
                "no namespace".to_owned()
            } else {
                expected
            },
        });
    }
    for child in &el.children {
        check_namespaces(reader, child)?;
    }
    Ok(())
}

/// Which message kind the document is: exactly one kind's detection must hold.
fn detect<'d>(reader: &Reader<'_>, dialect: &'d Dialect) -> Result<&'d MessageKind> {
    let root = reader.root;
    let mut matching = dialect
        .kinds
        .iter()
        .filter(|k| k.detect.iter().all(|c| reader.holds(root, c)));
    let Some(kind) = matching.next() else {
        return Err(unknown_kind(reader, dialect));
    };
    if let Some(other) = matching.next() {
        return Err(MunicipalError::UnknownKind {
            path: reader.path(root),
            position: root.position,
            problem: format!(
                "matches two message kinds, {} ({}) and {} ({}); a message is of one kind",
                kind.name,
                describe_detect(kind),
                other.name,
                describe_detect(other)
            ),
        });
    }
    // What identified the kind was read.
    for condition in &kind.detect {
        for test in &condition.any {
            if reader.test(root, test) {
                match reader.find(root, test.path(), false, true) {
                    Ok(Found::Element(el)) if matches!(test, Test::Equals(..)) => {
                        el.text();
                    }
                    Ok(Found::Attribute(el, _)) => {
                        el.attribute(test.path().attribute.as_deref().unwrap_or(""));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(kind)
}

fn describe_detect(kind: &MessageKind) -> String {
    kind.detect
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The error for a document that is none of the kinds, as precise as the detections allow.
fn unknown_kind(reader: &Reader<'_>, dialect: &Dialect) -> MunicipalError {
    let root = reader.root;
    let first_tests: Vec<&Test> = dialect
        .kinds
        .iter()
        .filter_map(|k| k.detect.first().and_then(|c| c.any.first()))
        .collect();
    let same_path = first_tests
        .first()
        .map(|t| t.path())
        .filter(|p| first_tests.iter().all(|t| t.path() == *p));
    if let Some(path) = same_path {
        let mut values: Vec<&str> = first_tests
            .iter()
            .filter_map(|t| match t {
                Test::Equals(_, v) => Some(v.as_str()),
                _ => None,
            })
            .collect();
        values.sort_unstable();
        let (at, found) = match reader.find(root, path, false, false) {
            Ok(Found::Element(el)) => (el, format!("{:?}", el.text)),
            Ok(Found::Attribute(el, v)) => (el, format!("{v:?}")),
            Ok(Found::Absent(el)) => (el, "absent".to_owned()),
            Err(_) => (root, "unreadable".to_owned()),
        };
        let shown = if path.attribute.is_some() {
            format!(
                "{}/@{}",
                reader.path(at),
                path.attribute.as_deref().unwrap_or("")
            )
        } else {
            reader.path_to(root, path)
        };
        return MunicipalError::UnknownKind {
            path: shown,
            position: at.position,
            problem: format!(
                "is {found}, which is not a message kind of the {} dialect; expected one of {}",
                dialect.name,
                values.join(", ")
            ),
        };
    }
    // Detection by which element is present: name the elements found where they would be.
    let mut expected: Vec<String> = first_tests
        .iter()
        .filter_map(|t| match t {
            Test::Exists(p) => p.elements.last().map(|n| format!("<{n}>")),
            _ => None,
        })
        .collect();
    expected.sort_unstable();
    let parent = first_tests.iter().find_map(|t| match t {
        Test::Exists(p) if !p.elements.is_empty() => {
            let mut parent = p.element_part();
            parent.elements.pop();
            Some(parent)
        }
        _ => None,
    });
    let (at, found) = match parent {
        Some(parent) if !parent.elements.is_empty() => {
            match reader.find(root, &parent, false, false) {
                Ok(Found::Element(el)) => (el, el),
                _ => (root, root),
            }
        }
        _ => (root, root),
    };
    let children: Vec<String> = found
        .children
        .iter()
        .map(|c| format!("<{}>", dialect.namespaces.display(c)))
        .collect();
    MunicipalError::UnknownKind {
        path: reader.path(at),
        position: at.position,
        problem: format!(
            "holds {}, which is not a message kind of the {} dialect; expected one of {}",
            if children.is_empty() {
                "nothing".to_owned()
            } else {
                children.join(", ")
            },
            dialect.name,
            expected.join(", ")
        ),
    }
}

/// The sender's key in message identity: a municipality's code, a region unit's HSA-id.
fn sender_key(json: &Value) -> Option<String> {
    let sender = json.pointer("/event/source/sender")?;
    sender
        .get("kommunkod")
        .or_else(|| sender.get("hsa_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Names, for a serde error about a missing field, the XML it is read from.
fn hint(dialect: &Dialect, kind: &MessageKind, problem: &str) -> String {
    let Some(field) = problem
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    else {
        return problem.to_owned();
    };
    fn find<'r>(rules: &'r [Rule], field: &str, out: &mut Vec<&'r str>) {
        for rule in rules {
            match &rule.body {
                Body::Value(v) if v.field.iter().any(|f| f.last() == Some(field)) => {
                    out.extend(v.xml.iter().map(|x| x.source.as_str()));
                }
                Body::Group(g) => {
                    if g.field.as_ref().and_then(CanonPath::last) == Some(field)
                        && let Some(xml) = &g.xml
                    {
                        out.push(xml.source.as_str());
                    }
                    find(&g.rules, field, out);
                }
                _ => {}
            }
        }
    }
    let mut sources = Vec::new();
    find(&kind.rules, field, &mut sources);
    find(&dialect.envelope, field, &mut sources);
    if sources.is_empty() {
        format!("it has no {field}, and no rule of the dialect sets it")
    } else {
        format!(
            "it has no {field} (read from {})",
            sources
                .iter()
                .map(|s| format!("<{s}>"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

/// Reads a document of `dialect`. `today` anchors the century of 10-digit personnummer.
pub fn decode(dialect: &Dialect, bytes: &[u8], today: Date) -> Result<Decoded> {
    let root = xml::parse_within(bytes, &dialect.limits)?;
    let reader = Reader {
        dialect,
        root: &root,
        today,
    };
    if !dialect.root.matches(&root) {
        return Err(MunicipalError::Root {
            dialect: dialect.name.clone(),
            found: match &root.namespace {
                Some(ns) => format!("{} xmlns=\"{ns}\"", root.name),
                None => root.name.clone(),
            },
            expected: match &dialect.root.namespace {
                Some(ns) => format!("{} xmlns=\"{ns}\"", dialect.root.local),
                None => dialect.root.local.clone(),
            },
        });
    }
    check_namespaces(&reader, &root)?;
    root.mark();
    let kind = detect(&reader, dialect)?;

    let mut json = Value::Object(Map::new());
    let mut copies = Vec::new();
    reader.apply(&dialect.envelope, &root, &mut json, &mut copies)?;
    let context = match &kind.context {
        Some(path) => reader
            .element(&root, path)?
            .ok_or_else(|| reader.missing(&root, path))?,
        None => &root,
    };
    reader.apply(&kind.rules, context, &mut json, &mut copies)?;
    // A copy fills a field the document left empty (e.g. the party acting is the sender).
    for rule in copies {
        if let Body::Copy { field, from } = &rule.body
            && get(&json, field).is_none()
            && let Some(value) = get(&json, from).cloned()
        {
            set(&mut json, field, value, || {
                (reader.path(&root), root.position)
            })?;
        }
    }

    let incomplete = |problem: String| MunicipalError::Incomplete {
        kind: kind.name.clone(),
        problem,
    };
    let occurred_at = kind
        .occurred_at
        .as_ref()
        .map(|p| get(&json, p))
        .unwrap_or_else(|| json.get("sent_at"))
        .cloned()
        .ok_or_else(|| {
            incomplete(format!(
                "it does not say when the event happened ({})",
                kind.occurred_at
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "sent_at".to_owned())
            ))
        })?;
    let message_id = json
        .pointer("/event/source/message_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Message ids are unique per sending system: the sender's (a municipality, a region unit),
    // or for what the gateway raised itself (no sender), the case's issuer's.
    let issuer = sender_key(&json)
        .or_else(|| {
            json.pointer("/case/issuer")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let event = json
        .as_object_mut()
        .and_then(|m| m.get_mut("event"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| incomplete("it has no event".to_owned()))?;
    event.insert("kind".to_owned(), Value::from(kind.kind));
    event.insert("occurred_at".to_owned(), occurred_at);
    if let Some(source) = event.get_mut("source").and_then(Value::as_object_mut) {
        source.insert("format".to_owned(), Value::from(dialect.format.as_str()));
    }
    if let Some(message_id) = &message_id {
        event.insert(
            "id".to_owned(),
            Value::from(event_id(&dialect.format, &issuer, message_id).to_string()),
        );
    }
    let message: CanonicalMessage = serde_json::from_value(json)
        .map_err(|e| incomplete(hint(dialect, kind, &e.to_string())))?;

    let warnings = root
        .unconsumed_named(|el| dialect.namespaces.display(el))
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(Decoded {
        message,
        kind: kind.name.clone(),
        direction: kind.direction,
        warnings,
    })
}

/// The message id of a document, read as far as the document allows (for an error answer
/// that names the message it refuses). Never fails.
pub fn message_id_of(dialect: &Dialect, bytes: &[u8]) -> Option<String> {
    let root = xml::parse_within(bytes, &dialect.limits).ok()?;
    let reader = Reader {
        dialect,
        root: &root,
        today: jiff::civil::date(2000, 1, 1),
    };
    fn find(rules: &[Rule]) -> Option<&XmlPath> {
        rules.iter().find_map(|rule| match &rule.body {
            Body::Value(v)
                if v.field
                    .iter()
                    .any(|f| f.to_string() == "event.source.message_id") =>
            {
                v.xml.first()
            }
            _ => None,
        })
    }
    let path = find(&dialect.envelope)?;
    match reader.find(&root, path, false, false).ok()? {
        Found::Element(el) => Some(el.text.clone()),
        Found::Attribute(_, value) => Some(value.trim().to_owned()),
        Found::Absent(_) => None,
    }
    .filter(|id| !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control))
}
