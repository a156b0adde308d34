//! Reading a dialect's document into a canonical message: the rules build the message's
//! canonical form (`built`: objects keyed by the dialect's field names, values as JSON), serde
//! checks its shape. No IO. Input no rule read is returned as warnings.

use std::borrow::Cow;

use jiff::civil::Date;
use serde::Deserialize;
use serde_json::Value;

use super::dialect::{Body, Dialect, GroupRule, MessageKind, Rule, ValueRule};
use super::error::MunicipalError;
use super::path::{CanonPath, Condition, Test, XmlPath};
use super::spec::Direction;
use super::transform::TransformError;
use crate::formats::canonical::{UnplacedMessage, event_id};
use crate::formats::xml::{self, Element, Position};

mod built;
mod reader;
use built::Built;
use reader::{Found, Reader};

type Result<T> = std::result::Result<T, MunicipalError>;

/// A read document: the message, its kind in the dialect, and what was not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The message; its case is whole when the dialect numbers cases
    /// ([`UnplacedMessage::placed`]), and otherwise found when the gateway receives it.
    pub message: UnplacedMessage,
    /// The dialect's name for the message kind (its file in `messages/`).
    pub kind: String,
    pub direction: Direction,
    pub warnings: Vec<String>,
}

/// A value that does not read, at `path`, named with the rule that reads it (`rule`: its file,
/// place and canonical field).
fn transform_error(
    error: TransformError,
    path: String,
    position: Position,
    rule: String,
) -> MunicipalError {
    match error {
        TransformError::Invalid(problem) => MunicipalError::Invalid {
            path,
            position,
            problem: format!("{problem} (read by {rule})"),
        },
        TransformError::UnknownCode { code, expected } => MunicipalError::UnknownCode {
            path,
            position,
            code,
            expected,
            rule,
        },
    }
}

/// The object at `path` in `root`, created (with the objects on the way) if absent.
fn entry<'v, 'r>(
    root: &'v mut Built<'r>,
    path: &'r CanonPath,
) -> std::result::Result<&'v mut Built<'r>, String> {
    let mut here = root;
    for segment in &path.segments {
        let Some(fields) = here.fields_mut() else {
            return Err(format!(
                "canonical field {path} is inside a value that is not an object"
            ));
        };
        here = built::child(fields, Cow::Borrowed(segment));
    }
    if here.fields_mut().is_none() {
        return Err(format!(
            "canonical field {path} is set to a value and used as an object"
        ));
    }
    Ok(here)
}

/// Sets the field at `segments` in `root` to `value`; a second, different value for the same
/// field is an error. `path` names the field in messages.
fn set<'r>(
    root: &mut Built<'r>,
    segments: &'r [String],
    value: Built<'r>,
    at: impl Fn() -> (String, Position),
) -> Result<()> {
    let path = || segments.join(".");
    let conflict = |problem: String| {
        let (path, position) = at();
        MunicipalError::Invalid {
            path,
            position,
            problem,
        }
    };
    let Some((last, parents)) = segments.split_last() else {
        *root = value;
        return Ok(());
    };
    let mut here = root;
    for segment in parents {
        here = match here {
            // An item of a list already read (a copy into each item of a group).
            Built::List(items) => {
                match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(item) => item,
                    None => {
                        return Err(conflict(format!(
                            "canonical field {} names an item the list does not have",
                            path()
                        )));
                    }
                }
            }
            Built::Object(fields) => built::child(fields, Cow::Borrowed(segment)),
            Built::Value(_) => {
                return Err(conflict(format!(
                    "canonical field {} is inside a value that is not an object",
                    path()
                )));
            }
        };
    }
    let Some(fields) = here.fields_mut() else {
        return Err(conflict(format!(
            "canonical field {} is inside a value that is not an object",
            path()
        )));
    };
    match fields.iter().find(|(k, _)| k == last) {
        Some((_, existing)) if *existing != value => Err(conflict(format!(
            "gives {} a second value; another element of the document already set it",
            path()
        ))),
        Some(_) => Ok(()),
        None => {
            fields.push((Cow::Borrowed(last), value));
            Ok(())
        }
    }
}

/// The value at `segments` in `root`.
fn get<'v, 'r>(root: &'v Built<'r>, segments: &[String]) -> Option<&'v Built<'r>> {
    let mut here = root;
    for segment in segments {
        here = here.step(segment)?;
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
            found: el.namespace.as_deref().unwrap_or("(none)").to_owned(),
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
    // Where one value tells the kinds apart, only those that test for the value read.
    let candidates: Box<dyn Iterator<Item = &'d MessageKind>> = match &dialect.detection {
        Some(index) => Box::new(
            index
                .kinds(reader.value_at(root, &index.path))
                .iter()
                .map(|i| &dialect.kinds[*i]),
        ),
        None => Box::new(dialect.kinds.iter()),
    };
    let mut matching = candidates.filter(|k| k.detect.iter().all(|c| reader.holds(root, c)));
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
                        if let Some(name) = &test.path().attribute {
                            el.attribute_in(name.namespace.as_deref(), &name.local);
                        }
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
                path.attribute
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
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
fn sender_key(json: &Built<'_>) -> Option<String> {
    let sender = json.get("event")?.get("source")?.get("sender")?;
    sender
        .get("kommunkod")
        .or_else(|| sender.get("hsa_id"))
        .and_then(Built::as_str)
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
    decode_sent(dialect, bytes, None, today)
}

/// The encoding a document that says nothing of its own is read in: the one it came labelled
/// with (`charset`), else, for a dialect that names an encoding its case system writes, that
/// one — unless the bytes are valid UTF-8, which they hardly ever are by chance in another
/// encoding, and which XML reads a silent document as.
pub fn read_encoding<'c>(
    dialect: &'c Dialect,
    bytes: &[u8],
    charset: Option<&'c str>,
) -> Option<&'c str> {
    if charset.is_some() || dialect.encoding.is_utf8() || std::str::from_utf8(bytes).is_ok() {
        return charset;
    }
    Some(dialect.encoding.label())
}

/// [`decode`] of a document that came labelled with an encoding (an HTTP `charset`), which
/// counts when the document does not say its own.
pub fn decode_sent(
    dialect: &Dialect,
    bytes: &[u8],
    charset: Option<&str>,
    today: Date,
) -> Result<Decoded> {
    let charset = read_encoding(dialect, bytes, charset);
    let (text, limits) = crate::formats::encoding::utf8_within(bytes, charset, &dialect.limits)?;
    let root = xml::parse_within(&text, &limits)?;
    let reader = Reader {
        dialect,
        root: &root,
        today,
        warnings: Default::default(),
        local_codes: Default::default(),
        kind: Default::default(),
    };
    if !dialect.root.matches(&root) {
        return Err(MunicipalError::Root {
            dialect: dialect.name.clone(),
            found: match &root.namespace {
                Some(ns) => format!("{} xmlns=\"{ns}\"", root.name),
                None => root.name.to_owned(),
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

    let mut copies = reader::Copies::default();
    let mut json = Built::object();
    reader.apply(&dialect.envelope, &root, &mut json, &mut copies)?;
    let context = match &kind.context {
        Some(path) => reader
            .element(&root, path)?
            .ok_or_else(|| reader.missing(&root, path))?,
        None => &root,
    };
    reader.kind.set(Some(&kind.name));
    reader.apply(&kind.rules, context, &mut json, &mut copies)?;
    // A copy fills a field the document left empty (e.g. the party acting is the sender).
    for (target, from) in &copies.pending {
        if get(&json, target).is_none()
            && let Some(value) = get(&json, &from.segments).cloned()
        {
            set(&mut json, target, value, || {
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
        .map(|p| get(&json, &p.segments))
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
        .get("event")
        .and_then(|e| e.get("source"))
        .and_then(|s| s.get("message_id"))
        .and_then(Built::as_str)
        .map(str::to_owned);
    // Message ids are unique per sending system: the sender's (a municipality, a region unit),
    // or for what the gateway raised itself (no sender), the case's issuer's.
    let issuer = sender_key(&json)
        .or_else(|| {
            json.get("case")
                .and_then(|c| c.get("issuer"))
                .and_then(Built::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    // A dialect without case numbering may name no case at all: the gateway places it.
    if json.get("case").is_none()
        && let Some(message) = json.fields_mut()
    {
        message.push(("case".into(), Built::object()));
    }
    let event = json
        .fields_mut()
        .and_then(|message| built::fields_of(message, "event"))
        .ok_or_else(|| incomplete("it has no event".to_owned()))?;
    built::insert(event, "kind".into(), Built::Value(kind.kind.into()));
    built::insert(event, "occurred_at".into(), occurred_at);
    if let Some(source) = built::fields_of(event, "source") {
        let format = Built::Value(dialect.format.as_str().into());
        built::insert(source, "format".into(), format);
        let local_codes = reader.local_codes.take();
        if !local_codes.is_empty() {
            let codes = local_codes
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Built::Value(v.into())))
                .collect();
            built::insert(source, "local_codes".into(), Built::Object(codes));
        }
    }
    let id = message_id
        .as_ref()
        .map(|message_id| event_id(&dialect.format, &issuer, message_id));
    if kind.kind == "sip_response" {
        overall_answer(event);
    }
    let message = built::into_message(json, id)
        .map_err(|e| incomplete(hint(dialect, kind, &e.to_string())))?;

    let mut warnings: Vec<String> = root
        .unconsumed_named(|el| dialect.namespaces.display(el))
        .iter()
        .map(ToString::to_string)
        .collect();
    warnings.extend(reader.warnings.take());
    Ok(Decoded {
        message,
        kind: kind.name.clone(),
        direction: kind.direction,
        warnings,
    })
}

/// A SIP answer that answers only per participant gets the whole response's answer from its
/// participants' (`domain::event::overall_answer`); one the document states stands.
fn overall_answer<'r>(event: &mut Vec<(built::Key<'r>, Built<'r>)>) {
    if event.iter().any(|(k, _)| k == "answer") {
        return;
    }
    let Some(Ok(participants)) = event
        .iter()
        .find(|(k, _)| k == "participants")
        .map(|(_, p)| Vec::<crate::domain::event::ParticipantAnswer>::deserialize(p.clone()))
    else {
        return;
    };
    if let Some(Value::Object(answer)) = crate::domain::event::overall_answer(&participants)
        .and_then(|a| serde_json::to_value(a).ok())
    {
        for (key, value) in answer {
            built::insert(event, Cow::Owned(key), Built::Value(value));
        }
    }
}

/// The message id of a document, read as far as the document allows (for an error answer
/// that names the message it refuses). Never fails.
pub fn message_id_of(dialect: &Dialect, bytes: &[u8], charset: Option<&str>) -> Option<String> {
    let charset = read_encoding(dialect, bytes, charset);
    let (text, limits) =
        crate::formats::encoding::utf8_within(bytes, charset, &dialect.limits).ok()?;
    let root = xml::parse_within(&text, &limits).ok()?;
    let reader = Reader {
        dialect,
        root: &root,
        today: jiff::civil::date(2000, 1, 1),
        warnings: Default::default(),
        local_codes: Default::default(),
        kind: Default::default(),
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
        Found::Element(el) => Some(el.text.to_string()),
        Found::Attribute(_, value) => Some(value.trim().to_owned()),
        Found::Absent(_) => None,
    }
    .filter(|id| !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control))
}
