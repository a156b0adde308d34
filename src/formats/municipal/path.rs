//! Paths and conditions of the mapping language: XML paths with namespace prefixes
//! (`Huvud/Avsandare/@kommunkod`, `cm:Arende/ct:Person`), canonical paths
//! (`event.person.name.given`) and conditions (`@typ = 'Kvittens'`, `Plats | Lank`).

use std::fmt;

use crate::formats::xml::Element;

/// The namespace the prefix `xml` is bound to by XML itself (`xml:lang`, `xml:space`): usable
/// in every dialect without a declaration, and never declared for another namespace.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// The namespace of namespace declarations (`xmlns:x`): no name is ever in it.
pub const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

/// The namespaces a dialect declares: prefix → URI, and the namespace of unprefixed names.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    pub default: Option<String>,
    pub prefixed: Vec<(String, String)>,
}

impl Namespaces {
    fn resolve(&self, prefix: Option<&str>) -> Result<Option<String>, String> {
        match prefix {
            None => Ok(self.default.clone()),
            Some("xml") => Ok(Some(XML_NAMESPACE.to_owned())),
            Some(p) => self
                .prefixed
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, uri)| Some(uri.clone()))
                .ok_or_else(|| format!("prefix {p:?} is not declared in [namespaces]")),
        }
    }

    /// Whether `uri` is one of the dialect's namespaces (`None`: no namespace).
    pub fn declares(&self, uri: Option<&str>) -> bool {
        match uri {
            None => self.default.is_none(),
            Some(uri) => {
                self.default.as_deref() == Some(uri) || self.prefixed.iter().any(|(_, u)| u == uri)
            }
        }
    }

    /// The prefix written for `uri` (`None`: unprefixed).
    pub fn prefix_of(&self, uri: Option<&str>) -> Option<&str> {
        let uri = uri?;
        if self.default.as_deref() == Some(uri) {
            return None;
        }
        if uri == XML_NAMESPACE {
            return Some("xml");
        }
        self.prefixed
            .iter()
            .find(|(_, u)| u == uri)
            .map(|(p, _)| p.as_str())
    }

    /// Every namespace URI, for error messages.
    pub fn all(&self) -> Vec<&str> {
        self.default
            .iter()
            .map(String::as_str)
            .chain(self.prefixed.iter().map(|(_, u)| u.as_str()))
            .collect()
    }

    /// An element's name as the dialect writes it (`cm:Arende`, `Huvud`).
    pub fn display(&self, element: &Element) -> String {
        match self.prefix_of(element.namespace.as_deref()) {
            Some(prefix) => format!("{prefix}:{}", element.name),
            None => element.name.to_owned(),
        }
    }
}

/// An element name with its namespace.
#[derive(Debug, Clone, Eq)]
pub struct Name {
    pub namespace: Option<String>,
    pub local: String,
    /// The prefix as written in the mapping (`None`: the default namespace).
    pub prefix: Option<String>,
    /// A path step's selection among repeated elements (`Deltagare[@kommer='1']`).
    pub filter: Option<Box<Filter>>,
    /// The name as a document is written with it: `prefix:local`, or `local`.
    pub qualified: Box<str>,
}

impl PartialEq for Name {
    /// The local name first: names of one dialect mostly share their namespace (a long URI)
    /// and differ in their local names.
    fn eq(&self, other: &Name) -> bool {
        self.local == other.local
            && self.prefix == other.prefix
            && self.namespace == other.namespace
            && self.filter == other.filter
    }
}

/// Which of the elements of one name a step takes: those with an attribute or child element
/// (`[@kommer]`, `[Roll]`), or with it of a value (`[@kommer='1']`, `[Roll='läkare']`). On
/// writing, the element is created with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub target: FilterTarget,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterTarget {
    Attribute(Name),
    Child(Name),
}

impl Filter {
    fn parse(text: &str, namespaces: &Namespaces) -> Result<Filter, String> {
        let (target, value) = match text.split_once('=') {
            Some((target, value)) => {
                let value = value.trim();
                let unquoted = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                    .ok_or_else(|| format!("[{text}]: the value is quoted, e.g. [@kommer='1']"))?;
                (target.trim(), Some(unquoted.to_owned()))
            }
            None => (text.trim(), None),
        };
        let target = match target.strip_prefix('@') {
            Some(attribute) => {
                FilterTarget::Attribute(Name::parse_attribute(attribute, namespaces)?)
            }
            None => FilterTarget::Child(Name::parse(target, namespaces)?),
        };
        Ok(Filter { target, value })
    }

    /// Whether `element` is one the filter takes. What the filter looks at is read: it says
    /// which element this is, as a detection does.
    pub fn selects(&self, element: &Element) -> bool {
        let found = match &self.target {
            FilterTarget::Attribute(name) => element
                .attribute_in(name.namespace.as_deref(), &name.local)
                .map(crate::formats::xml::trim)
                .filter(|v| !v.is_empty()),
            FilterTarget::Child(name) => element
                .children
                .iter()
                .find(|c| name.matches(c))
                .map(|c| c.text()),
        };
        match (&self.value, found) {
            (None, found) => found.is_some(),
            (Some(value), found) => found == Some(value.as_str()),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            FilterTarget::Attribute(name) => write!(f, "[@{name}")?,
            FilterTarget::Child(name) => write!(f, "[{name}")?,
        }
        match &self.value {
            Some(value) => write!(f, "='{value}']"),
            None => f.write_str("]"),
        }
    }
}

impl Name {
    /// Whether `element` has this name (namespace and local name) and, for a step with a
    /// filter, is one the filter takes.
    pub fn matches(&self, element: &Element) -> bool {
        element.name == self.local
            && element.namespace.as_deref() == self.namespace.as_deref()
            && self.filter.as_ref().is_none_or(|f| f.selects(element))
    }

    /// A path step: a name, optionally with a filter (`Deltagare[@kommer='1']`).
    pub fn parse_step(text: &str, namespaces: &Namespaces) -> Result<Name, String> {
        let Some((name, rest)) = text.split_once('[') else {
            return Name::parse(text, namespaces);
        };
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| format!("{text:?}: a filter ends with ']'"))?;
        let mut step = Name::parse(name, namespaces)?;
        step.filter = Some(Box::new(Filter::parse(inner, namespaces)?));
        Ok(step)
    }

    /// An attribute's name: unprefixed is in no namespace (XML namespaces do not give an
    /// attribute the default namespace); `prefix:local` in the declared prefix's.
    pub fn parse_attribute(text: &str, namespaces: &Namespaces) -> Result<Name, String> {
        let (prefix, local) = match text.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, text),
        };
        if !is_xml_name(local) || prefix.is_some_and(|p| !is_xml_name(p)) {
            return Err(format!("{text:?} is not an attribute name"));
        }
        Ok(Name {
            namespace: match prefix {
                Some(p) => namespaces.resolve(Some(p))?,
                None => None,
            },
            local: local.to_owned(),
            prefix: prefix.map(str::to_owned),
            filter: None,
            qualified: text.into(),
        })
    }

    /// The same name: namespace and local name (the prefix is only how it is written).
    pub fn same(&self, other: &Name) -> bool {
        self.local == other.local && self.namespace == other.namespace
    }

    /// Parses `prefix:local` or `local`.
    pub fn parse(text: &str, namespaces: &Namespaces) -> Result<Name, String> {
        let (prefix, local) = match text.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, text),
        };
        if !is_xml_name(local) || prefix.is_some_and(|p| !is_xml_name(p)) {
            return Err(format!("{text:?} is not an XML element name"));
        }
        Ok(Name {
            namespace: namespaces.resolve(prefix)?,
            local: local.to_owned(),
            prefix: prefix.map(str::to_owned),
            filter: None,
            qualified: text.into(),
        })
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified)?;
        match &self.filter {
            Some(filter) => write!(f, "{filter}"),
            None => Ok(()),
        }
    }
}

fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A path to an element, an attribute, or the context element's own text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlPath {
    /// Starts at the document's root element (`/Meddelande/…`).
    pub absolute: bool,
    pub elements: Vec<Name>,
    /// The attribute, by namespace and local name: unprefixed (`@id`) is in no namespace,
    /// whatever the element's; prefixed (`@v:svarPa`) in the prefix's namespace.
    pub attribute: Option<Name>,
    /// As written, for messages.
    pub source: String,
}

impl XmlPath {
    /// Parses `A/B/@c`, `@c`, `.`, `/Root/A` and prefixed names.
    pub fn parse(text: &str, namespaces: &Namespaces) -> Result<XmlPath, String> {
        let source = text.to_owned();
        let text = text.trim();
        if text.is_empty() {
            return Err("an XML path is empty".to_owned());
        }
        if text == "." {
            return Ok(XmlPath {
                absolute: false,
                elements: Vec::new(),
                attribute: None,
                source,
            });
        }
        let (absolute, rest) = match text.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut elements = Vec::new();
        let mut attribute = None;
        // A step's filter may hold a '/' in its quoted value.
        let steps: Vec<&str> = split_outside_quotes(rest, '/');
        for (i, step) in steps.iter().enumerate() {
            if let Some(name) = step.strip_prefix('@') {
                if i + 1 != steps.len() {
                    return Err(format!(
                        "{source:?}: an attribute (@{name}) can only be the last step"
                    ));
                }
                attribute = Some(
                    Name::parse_attribute(name, namespaces)
                        .map_err(|e| format!("{source:?}: {e}"))?,
                );
            } else {
                elements.push(
                    Name::parse_step(step, namespaces).map_err(|e| format!("{source:?}: {e}"))?,
                );
            }
        }
        if absolute && elements.is_empty() {
            return Err(format!(
                "{source:?}: an absolute path starts with the root element"
            ));
        }
        Ok(XmlPath {
            absolute,
            elements,
            attribute,
            source,
        })
    }

    /// The path without its attribute: the element it is on.
    pub fn element_part(&self) -> XmlPath {
        XmlPath {
            absolute: self.absolute,
            elements: self.elements.clone(),
            attribute: None,
            source: self.source.clone(),
        }
    }
}

impl fmt::Display for XmlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source.trim())
    }
}

/// A path into the canonical message's JSON form (`event.person.name.given`, `.` for the
/// context value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonPath {
    pub segments: Vec<String>,
}

impl CanonPath {
    pub fn parse(text: &str) -> Result<CanonPath, String> {
        let text = text.trim();
        if text == "." {
            return Ok(CanonPath {
                segments: Vec::new(),
            });
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(|s| {
            s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }) {
            return Err(format!(
                "{text:?} is not a canonical field path (lower-case names joined by '.', e.g. event.person.name.given)"
            ));
        }
        Ok(CanonPath { segments })
    }

    pub fn is_self(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn last(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }
}

impl fmt::Display for CanonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.segments.join("."))
        }
    }
}

/// One test of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// The element or attribute is present (with a value, for an attribute).
    Exists(XmlPath),
    /// It is absent.
    Absent(XmlPath),
    /// Its value (text or attribute) is this.
    Equals(XmlPath, String),
    NotEquals(XmlPath, String),
}

impl Test {
    pub fn path(&self) -> &XmlPath {
        match self {
            Test::Exists(p) | Test::Absent(p) | Test::Equals(p, _) | Test::NotEquals(p, _) => p,
        }
    }
}

/// Tests joined by `|`: the condition holds when any of them does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub any: Vec<Test>,
    pub source: String,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `path = 'value'` or `path != 'value'`: the path, whether negated, and the value. The
/// operator is the first outside quotes and outside a step's filter (`Falt[@namn='x'] = 'y'`).
fn comparison(atom: &str) -> Option<(&str, bool, &str)> {
    let mut quoted = false;
    let mut depth = 0usize;
    for (i, c) in atom.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth = depth.saturating_sub(1),
            '=' if !quoted && depth == 0 => {
                return Some(match atom[..i].strip_suffix('!') {
                    Some(path) => (path, true, &atom[i + 1..]),
                    None => (&atom[..i], false, &atom[i + 1..]),
                });
            }
            _ => {}
        }
    }
    None
}

fn quoted(value: &str, source: &str) -> Result<String, String> {
    let value = value.trim();
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .filter(|v| !v.contains('\''))
        .map(str::to_owned)
        .ok_or_else(|| format!("{source:?}: the value {value} is not in single quotes"))
}

impl Condition {
    /// Parses `path`, `not path`, `path = 'value'`, `path != 'value'`, joined by `|`.
    pub fn parse(text: &str, namespaces: &Namespaces) -> Result<Condition, String> {
        let mut any = Vec::new();
        for atom in split_outside_quotes(text, '|') {
            let atom = atom.trim();
            if atom.is_empty() {
                return Err(format!("{text:?}: an empty test"));
            }
            let test = if let Some((path, negated, value)) = comparison(atom) {
                let path = XmlPath::parse(path, namespaces)?;
                let value = quoted(value, text)?;
                match negated {
                    true => Test::NotEquals(path, value),
                    false => Test::Equals(path, value),
                }
            } else if let Some(path) = atom.strip_prefix("not ") {
                Test::Absent(XmlPath::parse(path, namespaces)?)
            } else {
                Test::Exists(XmlPath::parse(atom, namespaces)?)
            };
            any.push(test);
        }
        Ok(Condition {
            any,
            source: text.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespaces {
        Namespaces {
            default: Some("urn:a".into()),
            prefixed: vec![("ct".into(), "urn:ct".into())],
        }
    }

    #[test]
    fn a_comparison_may_test_a_step_that_selects_by_a_value() {
        let c = Condition::parse(
            "Falt[@namn='svar'] != 'nej' | Grupp[@namn='a/b']/Falt[@namn='x'] = 'j=a' | not Falt[@namn='y']",
            &ns(),
        )
        .unwrap();
        assert!(matches!(&c.any[0], Test::NotEquals(p, v) if p.elements.len() == 1 && v == "nej"));
        assert!(matches!(&c.any[1], Test::Equals(p, v) if p.elements.len() == 2 && v == "j=a"));
        assert!(matches!(&c.any[2], Test::Absent(p) if p.elements.len() == 1));
    }

    #[test]
    fn parses_element_attribute_and_prefixed_paths() {
        let p = XmlPath::parse("Huvud/ct:Person/@id", &ns()).unwrap();
        assert!(!p.absolute);
        assert_eq!(p.elements.len(), 2);
        assert_eq!(p.elements[0].namespace.as_deref(), Some("urn:a"));
        assert_eq!(p.elements[1].namespace.as_deref(), Some("urn:ct"));
        assert_eq!(p.attribute.as_ref().map(|a| a.local.as_str()), Some("id"));
        assert!(XmlPath::parse(".", &ns()).unwrap().elements.is_empty());
        assert!(XmlPath::parse("/Meddelande/Huvud", &ns()).unwrap().absolute);
    }

    #[test]
    fn the_xml_prefix_needs_no_declaration() {
        let p = XmlPath::parse("Person/@xml:lang", &ns()).unwrap();
        let attribute = p.attribute.unwrap();
        assert_eq!(attribute.namespace.as_deref(), Some(XML_NAMESPACE));
        assert_eq!(attribute.to_string(), "xml:lang");
        assert_eq!(ns().prefix_of(Some(XML_NAMESPACE)), Some("xml"));
    }

    #[test]
    fn refuses_bad_paths_with_a_reason() {
        assert!(
            XmlPath::parse("x:A", &ns())
                .unwrap_err()
                .contains("prefix \"x\" is not declared")
        );
        assert!(
            XmlPath::parse("@a/B", &ns())
                .unwrap_err()
                .contains("only be the last step")
        );
        assert!(XmlPath::parse("A//B", &ns()).is_err());
        assert!(CanonPath::parse("event..kind").is_err());
        assert!(CanonPath::parse("Event.kind").is_err());
    }

    #[test]
    fn parses_conditions() {
        let c = Condition::parse("@typ = 'a|b' | Plats | not Lank", &ns()).unwrap();
        assert_eq!(c.any.len(), 3);
        assert!(matches!(&c.any[0], Test::Equals(_, v) if v == "a|b"));
        assert!(matches!(&c.any[1], Test::Exists(_)));
        assert!(matches!(&c.any[2], Test::Absent(_)));
        assert!(Condition::parse("@typ = a", &ns()).is_err());
        assert!(matches!(
            &Condition::parse("Svar != 'ja'", &ns()).unwrap().any[0],
            Test::NotEquals(_, v) if v == "ja"
        ));
    }
}
