//! Writing a canonical message (or the gateway's receipt or error answer) in a dialect: the
//! same rules, read the other way over the message laid out once in a flat view (`view`),
//! build an element tree that is written with the dialect's namespaces. No IO.

use std::borrow::Cow;
use std::cell::RefCell;

use jiff::civil::Date;
use quick_xml::escape::escape;
use serde_json::Value;

use super::dialect::{Body, Dialect, Form, GroupRule, Rule, ValueRule, detect_writes};
use super::error::WriteError;
use super::path::{CanonPath, Name, Namespaces, Test, XmlPath};
use super::view::{Ref, View};

mod node;

use crate::formats::canonical::CanonicalMessage;
use node::Node;

type Result<T> = std::result::Result<T, WriteError>;

/// What a written value is, for messages (built only when one is needed).
#[derive(Clone, Copy)]
enum Field<'d> {
    Paths(&'d [CanonPath]),
    Label(&'static str),
}

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Paths(paths) => {
                for (i, path) in paths.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{path}")?;
                }
                Ok(())
            }
            Field::Label(label) => f.write_str(label),
        }
    }
}

struct Writer<'d> {
    dialect: &'d Dialect,
    today: Date,
    /// What rules wrote at absolute paths, as trees under an empty root, merged into the
    /// document at the end.
    absolute: RefCell<Vec<Node<'d>>>,
    /// The document as the envelope wrote it: where a condition's absolute path is looked up
    /// while a message kind's rules are written.
    envelope: Option<Node<'d>>,
    /// The message's local codes (`EventSource::local_codes`), when it has any, and the
    /// canonical path of the object being written, to find them by.
    local_codes: Option<Ref<'d>>,
    at: RefCell<Vec<String>>,
}

/// XML 1.0 cannot carry most control characters.
fn check_text(text: &str, field: Field<'_>, xml: &XmlPath) -> Result<()> {
    // A control character is below U+0020, U+007F, or U+0080–U+009F (UTF-8 0xC2 0x80–0x9F):
    // text without those bytes needs no closer look.
    if classes(text) & CONTROL == 0 {
        return Ok(());
    }
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err(WriteError::Invalid {
            field: field.to_string(),
            xml: xml.to_string(),
            problem: format!(
                "holds the control character U+{:04X}, which XML cannot carry",
                c as u32
            ),
        }),
        None => Ok(()),
    }
}

impl<'d> Writer<'d> {
    /// The steps of `path` from the node `node` (an absolute path starts at the root, which
    /// is where the writer is when it writes one).
    fn steps(path: &'d XmlPath) -> &'d [Name] {
        if path.absolute {
            &path.elements[1..]
        } else {
            &path.elements
        }
    }

    /// A node standing for the document root, for a write at an absolute path; merged in at
    /// the end.
    fn detached_root(&self) -> Node<'d> {
        Node::new(&self.dialect.root)
    }

    fn put(
        &self,
        node: &mut Node<'d>,
        path: &'d XmlPath,
        text: Cow<'d, str>,
        field: Field<'d>,
        among_items: bool,
    ) -> Result<()> {
        check_text(&text, field, path)?;
        if path.absolute {
            let mut root = self.detached_root();
            Self::set(&mut root, path, text, field, among_items)?;
            self.absolute.borrow_mut().push(root);
            return Ok(());
        }
        Self::set(node, path, text, field, among_items)
    }

    /// Writes `text` at `path` (its steps from `node`); `among_items`: the path selects among
    /// the items of a list, one of which must hold the value (`ValueRule::among_items`).
    fn set(
        node: &mut Node<'d>,
        path: &'d XmlPath,
        text: Cow<'d, str>,
        field: Field<'d>,
        among_items: bool,
    ) -> Result<()> {
        let target = node
            .at_value(
                Self::steps(path),
                path.attribute.as_ref(),
                &text,
                among_items,
            )
            .map_err(|step| no_item(field.to_string(), path, step, "this value"))?;
        match &path.attribute {
            Some(name) => match target.attributes.iter().find(|(n, _)| n.same(name)) {
                Some((_, existing)) if *existing != text => Err(WriteError::Invalid {
                    field: field.to_string(),
                    xml: path.to_string(),
                    problem: "another field was already written there".to_owned(),
                }),
                Some(_) => Ok(()),
                None => {
                    target.attributes.push((name, text));
                    Ok(())
                }
            },
            None => match &target.text {
                Some(existing) if *existing != text => Err(WriteError::Invalid {
                    field: field.to_string(),
                    xml: path.to_string(),
                    problem: "another field was already written there".to_owned(),
                }),
                _ => {
                    target.text = Some(text);
                    Ok(())
                }
            },
        }
    }

    /// Whether `test` holds in the document as written so far: a relative path in `node`,
    /// an absolute one in what the envelope wrote.
    fn test(&self, node: &Node<'d>, test: &Test) -> bool {
        let path = test.path();
        let found = if path.absolute {
            self.envelope
                .as_ref()
                .and_then(|root| root.lookup(&path.elements[1..], path.attribute.as_ref()))
        } else {
            node.lookup(&path.elements, path.attribute.as_ref())
        };
        match test {
            Test::Exists(_) => found.is_some_and(|v| path.attribute.is_none() || !v.is_empty()),
            Test::Absent(_) => !found.is_some_and(|v| path.attribute.is_none() || !v.is_empty()),
            Test::Equals(_, expected) => found.map(str::trim) == Some(expected.as_str()),
            Test::NotEquals(_, expected) => found.map(str::trim) != Some(expected.as_str()),
        }
    }

    /// A rule's `when` and `unless` on writing: evaluated against what is written before it.
    fn applies(&self, node: &Node<'d>, rule: &Rule) -> bool {
        let holds = |c: &super::path::Condition| c.any.iter().any(|t| self.test(node, t));
        rule.when.iter().all(holds) && !rule.unless.iter().any(holds)
    }

    fn write(&self, rules: &'d [Rule], value: Ref<'d>, node: &mut Node<'d>) -> Result<()> {
        for rule in rules {
            if !self.applies(node, rule) {
                continue;
            }
            match &rule.body {
                Body::Value(v) => self.value_rule(v, value, node)?,
                Body::Fixed {
                    xml,
                    value,
                    among_items,
                } => self.put(
                    node,
                    xml,
                    Cow::Borrowed(value),
                    Field::Label("a constant"),
                    *among_items,
                )?,
                Body::Group(g) => self.group(g, value, node)?,
                // Reading only: constants and copies are derived, checks and ignored input are
                // about the input.
                Body::Const { .. }
                | Body::Copy { .. }
                | Body::Check { .. }
                | Body::Ignore { .. } => {}
            }
        }
        Ok(())
    }

    fn value_rule(&self, rule: &'d ValueRule, value: Ref<'d>, node: &mut Node<'d>) -> Result<()> {
        let field_name = Field::Paths(&rule.field);
        let invalid = |problem: String| WriteError::Invalid {
            field: field_name.to_string(),
            xml: rule.xml[0].to_string(),
            problem,
        };
        let write = |field: &CanonPath, v: Ref<'d>| match self.local_code(rule, field, v) {
            Some(code) => Ok(Cow::Borrowed(code)),
            None => rule.transform.write(v, self.today).map_err(&invalid),
        };
        // Most rules map one field: looked up once.
        let single = match rule.field.as_slice() {
            [field] => Some(value.get(field).map(|v| (field, v))),
            _ => None,
        };
        let text = if let Some(Some((field, v))) = single {
            write(field, v)?
        } else if single.is_none() && rule.field.iter().all(|f| value.get(f).is_some()) {
            let mut text = String::new();
            for (i, field) in rule.field.iter().enumerate() {
                if i > 0 {
                    text.push_str(rule.separator.as_deref().unwrap_or(""));
                }
                if let Some(v) = value.get(field) {
                    text.push_str(&write(field, v)?);
                }
            }
            Cow::Owned(text)
        } else if let Some(code) = rule.transform.write_absent() {
            Cow::Borrowed(code)
        } else if rule.required {
            return Err(WriteError::Missing {
                dialect: self.dialect.name.clone(),
                field: field_name.to_string(),
                xml: rule.xml[0].to_string(),
            });
        } else {
            return Ok(());
        };
        if rule.xml.len() == 1 {
            return self.put(node, &rule.xml[0], text, field_name, rule.among_items);
        }
        let separator = rule.separator.as_deref().unwrap_or("");
        let parts: Vec<&str> = text.splitn(rule.xml.len(), separator).collect();
        if parts.len() != rule.xml.len() {
            return Err(invalid(format!(
                "the value {text:?} does not split into {} parts at {separator:?}",
                rule.xml.len()
            )));
        }
        for (path, part) in rule.xml.iter().zip(parts) {
            self.put(
                node,
                path,
                Cow::Owned(part.to_owned()),
                field_name,
                rule.among_items,
            )?;
        }
        Ok(())
    }

    /// The local code the message was read with for `field`, when this rule's code table
    /// reads it as the value written (a round trip keeps the sender's code).
    fn local_code(
        &self,
        rule: &'d ValueRule,
        field: &CanonPath,
        value: Ref<'_>,
    ) -> Option<&'d str> {
        let (Some(codes), super::transform::Transform::Code(table)) =
            (self.local_codes, &rule.transform)
        else {
            return None;
        };
        let at = self.at.borrow();
        let key = at
            .iter()
            .chain(&field.segments)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(".");
        let code = codes.child(&key)?.as_str()?;
        matches!(table.decode(code), Some(Some(v)) if value.equals(v)).then_some(code)
    }

    /// Writes a group, keeping the canonical path of what it writes (for local codes).
    fn group(&self, rule: &'d GroupRule, value: Ref<'d>, node: &mut Node<'d>) -> Result<()> {
        // Only a message with local codes needs the path (most have none).
        let (Some(field), Some(_)) = (&rule.field, &self.local_codes) else {
            return self.group_at(rule, value, node);
        };
        let depth = self.at.borrow().len();
        self.at.borrow_mut().extend(field.segments.iter().cloned());
        let result = self.group_at(rule, value, node);
        self.at.borrow_mut().truncate(depth);
        result
    }

    fn group_at(&self, rule: &'d GroupRule, value: Ref<'d>, node: &mut Node<'d>) -> Result<()> {
        let context = match &rule.field {
            Some(field) => match value.get(field) {
                Some(found) => found,
                None if rule.required || rule.min > 0 => {
                    return Err(WriteError::Missing {
                        dialect: self.dialect.name.clone(),
                        field: field.to_string(),
                        xml: rule
                            .xml
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_else(|| ".".to_owned()),
                    });
                }
                None => return Ok(()),
            },
            None => value,
        };
        let Some(path) = &rule.xml else {
            return self.write(&rule.rules, context, node);
        };
        let steps = Self::steps(path);
        let Some((last, parents)) = steps.split_last() else {
            return self.write(&rule.rules, context, node);
        };
        if rule.repeated {
            let count = context.item_count();
            if count < rule.min {
                return Err(WriteError::Invalid {
                    field: rule
                        .field
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    xml: path.to_string(),
                    problem: format!(
                        "has {} items; the {} dialect needs at least {}",
                        count, self.dialect.name, rule.min
                    ),
                });
            }
            if count == 0 {
                return Ok(());
            }
            let parent = node.at(parents);
            for (i, item) in context.items().enumerate() {
                let mut element = Node::selected(last);
                if self.local_codes.is_none() {
                    self.write(&rule.rules, item, &mut element)?;
                } else {
                    self.at.borrow_mut().push(i.to_string());
                    let written = self.write(&rule.rules, item, &mut element);
                    self.at.borrow_mut().pop();
                    written?;
                }
                parent.children.push(element);
            }
            return Ok(());
        }
        let mut element = Node::selected(last);
        self.write(&rule.rules, context, &mut element)?;
        if rule.among_items {
            return Self::merge_into_item(rule, path, node.at(parents), last, element);
        }
        if !element.is_empty() || rule.required {
            let conflict = |at: String| WriteError::Invalid {
                field: rule
                    .field
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| ".".to_owned()),
                xml: path.to_string(),
                problem: format!("writes {at} with another value than a rule before it"),
            };
            if path.absolute {
                let mut root = self.detached_root();
                root.at(parents)
                    .child(last)
                    .merge(element, true)
                    .map_err(conflict)?;
                self.absolute.borrow_mut().push(root);
            } else {
                node.at(parents)
                    .child(last)
                    .merge(element, true)
                    .map_err(conflict)?;
            }
        }
        Ok(())
    }

    /// Merges what a group selecting among a list's items wrote (`element`, for the step
    /// `last`) into the item that holds it, marked: an element of its own would be read back
    /// as one more item. Nothing written (only the mark) is nothing to find.
    fn merge_into_item(
        rule: &'d GroupRule,
        path: &'d XmlPath,
        parent: &mut Node<'d>,
        last: &'d Name,
        element: Node<'d>,
    ) -> Result<()> {
        let field = || {
            rule.field
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| ".".to_owned())
        };
        // `Node::selected` gave the element its mark alone: the rules wrote nothing to find
        // the item by.
        if element.text.is_none() && element.attributes.len() + element.children.len() == 1 {
            if rule.required {
                return Err(WriteError::Invalid {
                    field: field(),
                    xml: path.to_string(),
                    problem: "the group writes nothing to find the list's item by".to_owned(),
                });
            }
            return Ok(());
        }
        let item = parent
            .item_holding(last, &element)
            .ok_or_else(|| no_item(field(), path, last, "what it writes"))?;
        item.merge(element, true).map_err(|at| WriteError::Invalid {
            field: field(),
            xml: path.to_string(),
            problem: format!("writes {at} with another value than a rule before it"),
        })
    }

    /// Merges what rules wrote at absolute paths into the document.
    fn merge_absolute(&self, root: &mut Node<'d>) -> Result<()> {
        for detached in self.absolute.take() {
            root.merge(detached, true)
                .map_err(|at| WriteError::Invalid {
                    field: "the message".to_owned(),
                    xml: format!("/{at}"),
                    problem: "is written twice with different values (by rules at absolute paths, or in every item of a list)".to_owned(),
                })?;
        }
        Ok(())
    }

    fn document(&self, node: &Node<'_>) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let namespaces = &self.dialect.namespaces;
        write_node(&mut out, node, 0, Some(namespaces));
        out
    }
}

/// The error for a value (or what a group writes, `what`) that no item of the list holds,
/// where the dialect names it by marking an item (`step`: the selecting step).
fn no_item(field: String, path: &XmlPath, step: &Name, what: &str) -> WriteError {
    // The element's name without the step's selection (`Deltagare`).
    let element = &step.qualified;
    WriteError::Invalid {
        field,
        xml: path.to_string(),
        problem: format!(
            "is none of the list's items: the dialect names it by marking the {element} of the list that holds it, and no {element} written holds {what}"
        ),
    }
}

fn write_name(out: &mut String, name: &Name) {
    out.push_str(&name.qualified);
}

fn write_attribute(out: &mut String, prefix: &str, key: &str, value: &str) {
    out.push(' ');
    out.push_str(prefix);
    out.push_str(key);
    out.push_str("=\"");
    push_escaped(out, value);
    out.push('"');
}

/// A byte that must be escaped in text or an attribute's value.
const SPECIAL: u8 = 1;
/// A byte that may start a control character XML cannot carry (`check_text`).
const CONTROL: u8 = 2;

/// What each byte may be: [`SPECIAL`], [`CONTROL`] or neither.
const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        class[b] = CONTROL;
        b += 1;
    }
    class[0x7F] = CONTROL;
    class[0xC2] = CONTROL;
    class[b'<' as usize] = SPECIAL;
    class[b'>' as usize] = SPECIAL;
    class[b'&' as usize] = SPECIAL;
    class[b'"' as usize] = SPECIAL;
    class[b'\'' as usize] = SPECIAL;
    class
};

/// The classes of `text`'s bytes, together (a table lookup per byte, no branch).
fn classes(text: &str) -> u8 {
    text.bytes().fold(0, |all, b| all | CLASS[b as usize])
}

/// Appends `text` with XML's special characters escaped, as quick-xml's `escape` writes them;
/// most values have none and are copied whole.
fn push_escaped(out: &mut String, text: &str) {
    if classes(text) & SPECIAL != 0 {
        out.push_str(&escape(text));
    } else {
        out.push_str(text);
    }
}

/// Two spaces per level, up to the deepest a document is written.
const INDENT: &str = "                                                                ";

fn indent(out: &mut String, depth: usize) {
    let width = 2 * depth;
    if width <= INDENT.len() {
        out.push_str(&INDENT[..width]);
    } else {
        (0..depth).for_each(|_| out.push_str("  "));
    }
}

/// Writes `node` indented by `depth`; the root declares the dialect's `namespaces`.
fn write_node(out: &mut String, node: &Node<'_>, depth: usize, namespaces: Option<&Namespaces>) {
    indent(out, depth);
    out.push('<');
    write_name(out, node.name);
    if let Some(namespaces) = namespaces {
        if let Some(default) = &namespaces.default {
            write_attribute(out, "", "xmlns", default);
        }
        for (prefix, uri) in &namespaces.prefixed {
            write_attribute(out, "xmlns:", prefix, uri);
        }
    }
    for (key, value) in &node.attributes {
        out.push(' ');
        write_name(out, key);
        out.push_str("=\"");
        push_escaped(out, value);
        out.push('"');
    }
    match (&node.text, node.children.is_empty()) {
        (None, true) => out.push_str("/>\n"),
        (Some(text), true) => {
            out.push('>');
            push_escaped(out, text);
            out.push_str("</");
            write_name(out, node.name);
            out.push_str(">\n");
        }
        (text, false) => {
            out.push('>');
            if let Some(text) = text {
                push_escaped(out, text);
            }
            out.push('\n');
            for child in &node.children {
                write_node(out, child, depth + 1, None);
            }
            indent(out, depth);
            out.push_str("</");
            write_name(out, node.name);
            out.push_str(">\n");
        }
    }
}

/// Whether any of `rules` (or of their groups) has a `when`/`unless` on an absolute path.
fn absolute_conditions(rules: &[Rule]) -> bool {
    rules.iter().any(|rule| {
        rule.when
            .iter()
            .chain(&rule.unless)
            .any(|c| c.any.iter().any(|t| t.path().absolute))
            || matches!(&rule.body, Body::Group(g) if absolute_conditions(&g.rules))
    })
}

/// Writes `message` in `dialect`, as the first message kind that carries its event.
pub fn encode<C: serde::Serialize>(
    dialect: &Dialect,
    message: &CanonicalMessage<C>,
    today: Date,
) -> Result<String> {
    let kind_name = message.event.kind.name();
    let kind = dialect
        .kind_for(kind_name)
        .ok_or_else(|| WriteError::NoKind {
            dialect: dialect.name.clone(),
            kind: kind_name.to_owned(),
        })?;
    let view = View::of(message).map_err(|e| WriteError::Invalid {
        field: "the message".to_owned(),
        xml: dialect.root.to_string(),
        problem: e.to_string(),
    })?;
    let value = view.root();
    let mut writer = Writer {
        dialect,
        today,
        absolute: RefCell::new(Vec::new()),
        envelope: None,
        local_codes: value
            .child("event")
            .and_then(|e| e.child("source"))
            .and_then(|s| s.child("local_codes"))
            .filter(|codes| codes.has_fields()),
        at: RefCell::new(Vec::new()),
    };
    let mut root = Node::new(&dialect.root);
    // The values that name the kind come first (a type attribute, a header element); the
    // elements whose presence names it follow the envelope, where the kind's content goes.
    for test in detect_writes(kind) {
        if let Test::Equals(path, v) = test {
            writer.put(
                &mut root,
                path,
                Cow::Borrowed(v),
                Field::Label("the message kind"),
                false,
            )?;
        }
    }
    writer.write(&dialect.envelope, value, &mut root)?;
    writer.merge_absolute(&mut root)?;
    for test in detect_writes(kind) {
        if let Test::Exists(path) = test {
            root.at(Writer::steps(path));
        }
    }
    // Only a kind with a condition on an absolute path needs the envelope kept aside.
    if absolute_conditions(&kind.rules) {
        writer.envelope = Some(root.clone());
    }
    // The kind's rules write into the context element as it stands (the envelope or the
    // detection may have written into it): nothing there is written twice.
    let context = match &kind.context {
        Some(context) => root.at(Writer::steps(context)),
        None => &mut root,
    };
    writer.write(&kind.rules, value, context)?;
    writer.merge_absolute(&mut root)?;
    Ok(writer.document(&root))
}

/// Writes one of the dialect's own documents (`receipt`, `error`) from its JSON form.
pub fn write_form(dialect: &Dialect, form: &Form, value: &Value, today: Date) -> Result<String> {
    let view = View::of(value).map_err(|e| WriteError::Invalid {
        field: "the message".to_owned(),
        xml: form.root.to_string(),
        problem: e.to_string(),
    })?;
    let writer = Writer {
        dialect,
        today,
        absolute: RefCell::new(Vec::new()),
        envelope: None,
        local_codes: None,
        at: RefCell::new(Vec::new()),
    };
    let mut root = Node::new(&form.root);
    writer.write(&form.rules, view.root(), &mut root)?;
    writer.merge_absolute(&mut root)?;
    Ok(writer.document(&root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_as_quick_xml_escapes_it() {
        for text in [
            "",
            "plain",
            "a<b",
            "x & y",
            "\"quoted\" 'single'",
            "<>&\"'",
            "åäö é ü",
            "\u{A0}",
            "tab\tnewline\n",
        ] {
            let mut out = String::from("=");
            push_escaped(&mut out, text);
            assert_eq!(out, format!("={}", escape(text)), "{text:?}");
        }
    }

    #[test]
    fn control_characters_xml_cannot_carry_are_refused_and_others_pass() {
        let path = XmlPath::parse("A", &Namespaces::default()).unwrap();
        let field = Field::Label("a constant");
        for text in [
            "plain",
            "tab\there",
            "line\r\nbreak",
            "åäö",
            "\u{A0}\u{A9}",
            "€",
        ] {
            assert!(check_text(text, field, &path).is_ok(), "{text:?}");
        }
        for (text, code) in [
            ("a\u{1}b", "U+0001"),
            ("\u{1B}[0m", "U+001B"),
            ("del\u{7F}", "U+007F"),
            ("next line \u{85}", "U+0085"),
            ("\u{9F}", "U+009F"),
        ] {
            let error = check_text(text, field, &path).unwrap_err().to_string();
            assert!(error.contains(code), "{text:?}: {error}");
        }
    }
}
