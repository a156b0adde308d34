//! A small, safe XML document model for the gateway's XML contracts.
//!
//! Documents are parsed with quick-xml's reader into an element tree that keeps each element's
//! namespace (`namespaces`: declarations read in the same pass as the attributes), line and
//! column. DOCTYPE declarations (and so entity
//! declarations and their expansion) are refused, as are references to undeclared entities.
//! While a decoder reads the tree it marks what it used; `unconsumed` then lists every element
//! and attribute nobody read, so unmapped input is reported rather than silently dropped.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::reader::Reader;

mod namespaces;
use namespaces::Scopes;

/// Where in the document something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a document could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error(
        "the document is not UTF-8 at {position} and declares no other encoding (e.g. <?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>)"
    )]
    NotUtf8 { position: Position },
    #[error(
        "the document declares the encoding {label:?}, which is not one the gateway reads (UTF-8, UTF-16 with a byte order mark, ISO-8859-1, windows-1252 and the other encodings of the WHATWG Encoding Standard)"
    )]
    UnknownEncoding { label: String },
    #[error("the document is not valid {encoding} at {position}")]
    InvalidBytes {
        encoding: &'static str,
        position: Position,
    },
    #[error("malformed XML at {position}: {message}")]
    Malformed { position: Position, message: String },
    #[error("a DOCTYPE declaration at {position} is not accepted (no DTDs or entity declarations)")]
    Doctype { position: Position },
    #[error("undeclared entity &{name}; at {position}")]
    UnknownEntity { name: String, position: Position },
    #[error("undeclared namespace prefix {prefix:?} at {position}")]
    UnknownPrefix { prefix: String, position: Position },
    #[error("the document has no root element")]
    Empty,
    #[error("elements nest deeper than {limit} levels at {position}")]
    TooDeep { limit: usize, position: Position },
    #[error("the document has {bytes} bytes; at most {limit} are accepted")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the document has more than {limit} elements (at {position})")]
    TooManyElements { limit: usize, position: Position },
}

impl XmlError {
    /// Where in the document the problem is, when it is at one place.
    pub fn position(&self) -> Option<Position> {
        match self {
            XmlError::Malformed { position, .. }
            | XmlError::Doctype { position }
            | XmlError::UnknownEntity { position, .. }
            | XmlError::UnknownPrefix { position, .. }
            | XmlError::TooDeep { position, .. }
            | XmlError::TooManyElements { position, .. }
            | XmlError::NotUtf8 { position }
            | XmlError::InvalidBytes { position, .. } => Some(*position),
            XmlError::UnknownEncoding { .. } | XmlError::Empty | XmlError::TooLarge { .. } => None,
        }
    }
}

/// How much a document may hold; larger or deeper documents are refused before they cost
/// more memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for Limits {
    /// 4 MiB, 64 levels, 100,000 elements: far above any process message.
    fn default() -> Self {
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_elements: 100_000,
        }
    }
}

/// One attribute: its namespace (an unprefixed attribute has none, whatever the element's
/// default namespace), local name, the name as the document wrote it, and value. Names and
/// values borrow the document's text `'d` where nothing had to be unescaped.
#[derive(Debug, Clone)]
pub struct Attribute<'d> {
    pub namespace: Option<Rc<str>>,
    pub name: &'d str,
    /// The prefix as written, if any (for messages: `prefix:name`).
    pub prefix: Option<&'d str>,
    pub value: Cow<'d, str>,
    used: Cell<bool>,
}

/// One element: namespace, local name, attributes, text and children, borrowing the
/// document's text `'d`.
#[derive(Debug, Clone)]
pub struct Element<'d> {
    /// Shared by every element of a document in the same namespace.
    pub namespace: Option<Rc<str>>,
    pub name: &'d str,
    pub attributes: Vec<Attribute<'d>>,
    pub children: Vec<Element<'d>>,
    /// The element's own text, with surrounding whitespace trimmed.
    pub text: Cow<'d, str>,
    pub position: Position,
    used: Cell<bool>,
    text_used: Cell<bool>,
}

/// Turns byte offsets into line and column, moving forward only, so a whole document costs one
/// pass however many elements it has.
struct Lines<'a> {
    input: &'a str,
    offset: usize,
    line: usize,
    /// Characters from the start of the line to `offset`.
    column: usize,
}

impl<'a> Lines<'a> {
    fn new(input: &'a str) -> Self {
        Lines {
            input,
            offset: 0,
            line: 1,
            column: 0,
        }
    }

    fn at(&mut self, byte: usize) -> Position {
        let byte = byte.min(self.input.len());
        if byte < self.offset {
            return position_of(self.input, byte);
        }
        // Each byte is looked at once, however long the lines: a document on one line costs
        // no more than a pretty-printed one. Newlines found by memchr (many bytes a step),
        // characters counted without a branch per byte.
        let bytes = &self.input.as_bytes()[self.offset..byte];
        // Not a UTF-8 continuation byte: a new character. ASCII (most markup) is told a
        // word at a time: one character a byte.
        let characters = |bytes: &[u8]| {
            if bytes.is_ascii() {
                bytes.len()
            } else {
                bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count()
            }
        };
        match memchr::memrchr(b'\n', bytes) {
            Some(last) => {
                // Mostly one element a line: the first newline is the last.
                self.line += match memchr::memchr(b'\n', bytes) {
                    Some(first) if first == last => 1,
                    _ => memchr::memchr_iter(b'\n', &bytes[..=last]).count(),
                };
                self.column = characters(&bytes[last + 1..]);
            }
            None => self.column += characters(bytes),
        }
        self.offset = byte;
        Position {
            line: self.line,
            column: self.column + 1,
        }
    }
}

/// `bytes` as text: an error at the line and column of the first byte that is not UTF-8.
pub(crate) fn utf8_text(bytes: &[u8]) -> Result<&str, XmlError> {
    std::str::from_utf8(bytes).map_err(|e| {
        // The part before the first byte that is not UTF-8 is.
        let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
        XmlError::NotUtf8 {
            position: end_of(valid),
        }
    })
}

/// The line and column just after the end of `text`.
pub(crate) fn end_of(text: &str) -> Position {
    position_of(text, text.len())
}

fn position_of(input: &str, byte: usize) -> Position {
    let byte = byte.min(input.len());
    let before = &input.as_bytes()[..byte];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Position { line, column }
}

fn resolve_entity(name: &str) -> Option<String> {
    let predefined = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    };
    if let Some(c) = predefined {
        return Some(c.to_string());
    }
    let code = if let Some(hex) = name.strip_prefix("#x") {
        u32::from_str_radix(hex, 16).ok()
    } else if let Some(dec) = name.strip_prefix('#') {
        dec.parse().ok()
    } else {
        None
    };
    code.and_then(char::from_u32).map(|c| c.to_string())
}

/// `part`, a slice of `input` that quick-xml handed out with a shorter lifetime, as a slice of
/// `input` itself, so the tree can borrow it. `None` if it is not inside `input`.
fn within<'d>(input: &'d str, part: &str) -> Option<&'d str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input.get(start..start + part.len())
}

/// `text.trim()`: the same Unicode whitespace cut, with the usual ASCII edges told without
/// decoding characters (a value or text is trimmed wherever it is read).
pub fn trim(text: &str) -> &str {
    trim_end(trim_start(text))
}

/// Whether an edge byte left by the ASCII cut may still be whitespace to `str::trim`: a
/// character that is not ASCII (U+00A0), or U+000B, which `trim_ascii` keeps.
fn maybe_whitespace(edge: Option<&u8>) -> bool {
    edge.is_some_and(|b| !b.is_ascii() || *b == 0x0B)
}

/// `text.trim_start()`, as [`trim`].
fn trim_start(text: &str) -> &str {
    let cut = text.trim_ascii_start();
    if maybe_whitespace(cut.as_bytes().first()) {
        cut.trim_start()
    } else {
        cut
    }
}

/// `text.trim_end()`, as [`trim`].
fn trim_end(text: &str) -> &str {
    let cut = text.trim_ascii_end();
    if maybe_whitespace(cut.as_bytes().last()) {
        cut.trim_end()
    } else {
        cut
    }
}

/// Where the first `:` of `bytes` is: eight bytes a step (a name without a prefix is read
/// through), then byte by byte.
fn colon(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const COLONS: u64 = u64::from_ne_bytes([b':'; 8]);
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or_default()) ^ COLONS;
        // A byte of `word` is zero where the chunk has a colon.
        if word.wrapping_sub(ONES) & !word & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..].iter().position(|b| *b == b':').map(|i| at + i)
}

/// `name` split at its `:` into a prefix and a local name (`colon`). A name with more than one
/// is no name in a namespace-aware document: `Err`.
fn split_prefix(name: &str) -> Result<Option<(&str, &str)>, String> {
    let Some(at) = colon(name.as_bytes()) else {
        return Ok(None);
    };
    let (prefix, local) = (&name[..at], &name[at + 1..]);
    if prefix.is_empty() || local.is_empty() || local.contains(':') {
        return Err(format!(
            "{name:?} is not a name in a namespace (a prefix, one colon, a local name)"
        ));
    }
    Ok(Some((prefix, local)))
}

/// The first attribute whose namespace and local name an earlier one has, with that one. A
/// tag of many attributes is checked through a set, so that no document costs the square of
/// its size.
fn given_twice<'a, 'd>(
    attributes: &'a [Attribute<'d>],
) -> Option<(&'a Attribute<'d>, &'a Attribute<'d>)> {
    let key = |a: &'a Attribute<'d>| (a.namespace.as_deref(), a.name);
    if attributes.len() <= 16 {
        return attributes.iter().enumerate().find_map(|(i, again)| {
            let first = attributes[..i].iter().find(|a| key(a) == key(again))?;
            Some((first, again))
        });
    }
    let mut seen = std::collections::HashMap::with_capacity(attributes.len());
    attributes
        .iter()
        .find_map(|again| Some((seen.insert(key(again), again)?, again)))
}

/// The element `start` opens at `depth`, its namespace declarations put in scope.
fn open<'d>(
    input: &'d str,
    start: &BytesStart<'_>,
    scopes: &mut Scopes<'d>,
    depth: usize,
    position: Position,
) -> Result<Element<'d>, XmlError> {
    let malformed = |message: String| XmlError::Malformed { position, message };
    // Read from `input` by a reader of `input`: always inside it.
    let tag = within(input, start).ok_or_else(|| malformed("unreadable tag".into()))?;
    let qualified = &tag[..start.name().as_ref().len()];
    let mut attributes = Vec::new();
    // Duplicates are found below, by expanded name, without quick-xml's list of keys.
    for attribute in Attributes::new(tag, qualified.len()).with_checks(false) {
        let attribute = attribute.map_err(|e| malformed(e.to_string()))?;
        let key: &'d str = attribute.key.into_inner();
        // Most values hold no reference and no line break or tab to normalise: taken as
        // written without quick-xml's normalising pass.
        let value = match attribute.value {
            Cow::Borrowed(raw)
                if !raw
                    .bytes()
                    .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r')) =>
            {
                Cow::Borrowed(raw)
            }
            _ => attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| malformed(e.to_string()))?,
        };
        if scopes.declare(key, &value, depth).map_err(malformed)? {
            continue;
        }
        let (prefix, name) = match split_prefix(key).map_err(&malformed)? {
            Some((prefix, name)) => (Some(prefix), name),
            None => (None, key),
        };
        attributes.push(Attribute {
            // Resolved once every declaration of the element is read, below.
            namespace: None,
            name,
            prefix,
            value,
            used: Cell::new(false),
        });
    }
    let unknown = |prefix: &str| XmlError::UnknownPrefix {
        prefix: prefix.to_owned(),
        position,
    };
    // The element's name before its attributes': an unknown prefix is named in document order.
    let split = split_prefix(qualified).map_err(malformed)?;
    let prefix = split.map(|(prefix, _)| prefix);
    let namespace = scopes
        .element(prefix)
        .map_err(|()| unknown(prefix.unwrap_or_default()))?;
    for attribute in &mut attributes {
        if let Some(prefix) = attribute.prefix {
            attribute.namespace = Some(scopes.prefixed(prefix).map_err(|()| unknown(prefix))?);
        }
    }
    // Two attributes of one name, however prefixed: which one counts would be a guess.
    if let Some((first, again)) = given_twice(&attributes) {
        let shown = |a: &Attribute| match a.prefix {
            Some(prefix) => format!("{prefix}:{}", a.name),
            None => a.name.to_owned(),
        };
        return Err(malformed(if shown(first) == shown(again) {
            format!("attribute {} appears twice on <{qualified}>", shown(again))
        } else {
            format!(
                "attributes {} and {} are one attribute (one namespace) on <{qualified}>",
                shown(first),
                shown(again)
            )
        }));
    }
    Ok(Element {
        namespace,
        name: split.map_or(qualified, |(_, local)| local),
        attributes,
        children: Vec::new(),
        text: Cow::Borrowed(""),
        position,
        used: Cell::new(false),
        text_used: Cell::new(false),
    })
}

/// Pops the innermost open element into its parent (or makes it the root).
fn close<'d>(stack: &mut Vec<Element<'d>>, root: &mut Option<Element<'d>>, scopes: &mut Scopes) {
    if let Some(mut element) = stack.pop() {
        scopes.close(stack.len());
        // Trimmed in place: leading whitespace is never kept (`parse_within`), trailing is cut.
        match &mut element.text {
            Cow::Borrowed(text) => *text = trim_end(text),
            Cow::Owned(text) => text.truncate(trim_end(text).len()),
        }
        match stack.last_mut() {
            Some(parent) => parent.children.push(element),
            None => *root = Some(element),
        }
    }
}

/// Adds `text` to the text of `element`; the first text borrows the document where it can.
/// Whitespace before an element's first text is not kept: indentation is dropped before its
/// line ends are normalised.
fn append<'d>(element: &mut Element<'d>, text: BytesText<'d>) {
    if element.text.is_empty() && text.bytes().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    let content = text.xml10_content();
    if element.text.is_empty() {
        // Leading whitespace is trimmed: none is kept before the first text.
        element.text = match content {
            Cow::Borrowed(text) => Cow::Borrowed(trim_start(text)),
            Cow::Owned(text) => Cow::Owned(trim_start(&text).to_owned()),
        };
    } else {
        element.text.to_mut().push_str(&content);
    }
}

/// Parses a whole document into its root element, within the default limits.
pub fn parse(bytes: &[u8]) -> Result<Element<'_>, XmlError> {
    parse_within(bytes, &Limits::default())
}

/// Parses a whole document into its root element, refusing one beyond `limits`.
pub fn parse_within<'d>(bytes: &'d [u8], limits: &Limits) -> Result<Element<'d>, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let input = utf8_text(bytes)?;
    let mut elements = 0usize;
    let mut reader = Reader::from_str(input);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element<'d>> = Vec::new();
    let mut root: Option<Element<'d>> = None;
    let mut lines = Lines::new(input);
    let mut scopes = Scopes::default();
    loop {
        let start_offset = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                return Err(XmlError::Malformed {
                    position: position_of(input, reader.error_position() as usize),
                    message: e.to_string(),
                });
            }
        };
        // Positions are counted for what has one (an element, and what is refused); the
        // other events' bytes are passed over by the next count.
        match event {
            Event::DocType(_) => {
                return Err(XmlError::Doctype {
                    position: lines.at(start_offset),
                });
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                let position = lines.at(start_offset);
                if root.is_some() {
                    return Err(XmlError::Malformed {
                        position,
                        message: "content after the root element".into(),
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                        position,
                    });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                        position,
                    });
                }
                let depth = stack.len() + 1;
                stack.push(open(input, start, &mut scopes, depth, position)?);
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, &mut scopes);
                }
            }
            Event::End(_) => close(&mut stack, &mut root, &mut scopes),
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    append(top, text);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.to_mut().push_str(&data.into_inner());
                }
            }
            Event::GeneralRef(reference) => {
                let name = reference.into_inner();
                let Some(text) = resolve_entity(&name) else {
                    return Err(XmlError::UnknownEntity {
                        name: name.into_owned(),
                        position: lines.at(start_offset),
                    });
                };
                if let Some(top) = stack.last_mut() {
                    top.text.to_mut().push_str(&text);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Malformed {
            position: position_of(input, input.len()),
            message: format!("element <{}> is not closed", open.name),
        });
    }
    root.ok_or(XmlError::Empty)
}

/// Something in the document that no decoder read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconsumed {
    /// `/Root/Child/@attribute` style path.
    pub path: String,
    pub position: Position,
}

impl fmt::Display for Unconsumed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) is not mapped and was ignored",
            self.path, self.position
        )
    }
}

impl<'d> Element<'d> {
    /// Marks this element's presence as read, without its text, children or attributes.
    pub fn mark(&self) -> &Element<'d> {
        self.used.set(true);
        self
    }

    /// Marks this element, its attributes and everything below it as read: for content that is
    /// deliberately discarded (and reported by the caller).
    pub fn mark_all(&self) {
        self.used.set(true);
        self.text_used.set(true);
        for attribute in &self.attributes {
            attribute.used.set(true);
        }
        for child in &self.children {
            child.mark_all();
        }
    }

    /// The children with this local name, in order; each is marked as read.
    pub fn children_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element<'d>> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name == name)
            .map(Element::mark)
    }

    /// The first child with this local name, marked as read.
    pub fn child(&self, name: &str) -> Option<&Element<'d>> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(Element::mark)
    }

    /// The element's text, marked as read (with the element's presence).
    pub fn text(&self) -> &str {
        self.used.set(true);
        self.text_used.set(true);
        &self.text
    }

    /// The value of an unprefixed attribute (in no namespace), without marking it as read.
    pub fn peek_attribute(&self, name: &str) -> Option<&str> {
        self.peek_attribute_in(None, name)
    }

    /// The value of an unprefixed attribute (in no namespace), marked as read. An attribute of
    /// the same local name in a namespace is another attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attribute_in(None, name)
    }

    /// The value of the attribute `name` in `namespace`, without marking it as read.
    pub fn peek_attribute_in(&self, namespace: Option<&str>, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name && a.namespace.as_deref() == namespace)
            .map(|a| &*a.value)
    }

    /// The value of the attribute `name` in `namespace`, marked as read.
    pub fn attribute_in(&self, namespace: Option<&str>, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name && a.namespace.as_deref() == namespace)
            .map(|a| {
                a.used.set(true);
                &*a.value
            })
    }

    /// Every element, text and attribute below (and including) this one that was not read.
    pub fn unconsumed(&self) -> Vec<Unconsumed> {
        self.unconsumed_named(|el| el.name.to_owned())
    }

    /// As `unconsumed`, with each element's name in a path written by `name` (e.g. with the
    /// prefix a dialect uses for its namespace).
    pub fn unconsumed_named(&self, name: impl Fn(&Element<'d>) -> String) -> Vec<Unconsumed> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.collect_unconsumed(&name, &mut path, &mut out);
        out
    }

    fn collect_unconsumed<'a>(
        &'a self,
        name: &impl Fn(&Element<'d>) -> String,
        path: &mut Vec<&'a Element<'d>>,
        out: &mut Vec<Unconsumed>,
    ) {
        path.push(self);
        // Paths are built only for what is reported.
        let joined = |path: &[&Element<'d>]| {
            let names: Vec<String> = path.iter().map(|el| name(el)).collect();
            format!("/{}", names.join("/"))
        };
        if !self.used.get() {
            out.push(Unconsumed {
                path: joined(path),
                position: self.position,
            });
        } else {
            if !self.text.is_empty() && !self.text_used.get() {
                out.push(Unconsumed {
                    path: format!("{}/text()", joined(path)),
                    position: self.position,
                });
            }
            for attribute in &self.attributes {
                if !attribute.used.get() {
                    out.push(Unconsumed {
                        path: match &attribute.prefix {
                            Some(prefix) => {
                                format!("{}/@{prefix}:{}", joined(path), attribute.name)
                            }
                            None => format!("{}/@{}", joined(path), attribute.name),
                        },
                        position: self.position,
                    });
                }
            }
            for child in &self.children {
                child.collect_unconsumed(name, path, out);
            }
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The colon is found wherever it is, in names of every length, as a byte-by-byte search
    /// finds it.
    #[test]
    fn the_colon_is_found_wherever_it_is() {
        for length in 0..40 {
            let plain = "n".repeat(length);
            assert_eq!(colon(plain.as_bytes()), None, "{plain}");
            for at in 0..length {
                let mut name = plain.clone().into_bytes();
                name[at] = b':';
                assert_eq!(colon(&name), Some(at), "{length} {at}");
                if at + 1 < length {
                    name[at + 1] = b':';
                    assert_eq!(colon(&name), Some(at), "{length} {at} twice");
                }
            }
        }
        // Bytes around the colon's value and high bytes are no colon.
        assert_eq!(colon("9;;;;;;;;;:".as_bytes()), Some(10));
        assert_eq!(colon("åäöåäöåäö".as_bytes()), None);
        assert_eq!(colon(&[0xBA; 17]), None);
    }

    #[test]
    fn positions_counted_forward_match_those_counted_from_the_start() {
        for input in [
            "<a>\n  <b>åäö</b><c/>\n\n\t<ü x='ø'/>\n</a>",
            "<a><b>ååå</b><c>€€</c><d/></a>",
            "\n\n\n<a/>",
        ] {
            let mut lines = Lines::new(input);
            for byte in (0..=input.len()).filter(|b| input.is_char_boundary(*b)) {
                assert_eq!(
                    lines.at(byte),
                    position_of(input, byte),
                    "{input:?} at {byte}"
                );
            }
        }
    }

    #[test]
    fn parses_namespaces_text_attributes_and_positions() {
        let doc = "<?xml version=\"1.0\"?>\n<a xmlns=\"urn:x\" k=\"v &amp; w\">\n  <b>T&#229;g &lt;1&gt;</b>\n  <c/>\n</a>";
        let root = parse(doc.as_bytes()).unwrap();
        assert_eq!(root.namespace.as_deref(), Some("urn:x"));
        assert_eq!(root.attribute("k"), Some("v & w"));
        let b = root.child("b").unwrap();
        assert_eq!(b.text(), "Tåg <1>");
        assert_eq!(b.position, Position { line: 3, column: 3 });
        assert_eq!(b.namespace.as_deref(), Some("urn:x"));
        assert_eq!(
            root.mark().unconsumed(),
            vec![Unconsumed {
                path: "/a/c".into(),
                position: Position { line: 4, column: 3 }
            }]
        );
    }

    #[test]
    fn trimming_cuts_what_str_trim_cuts() {
        for text in [
            "",
            " ",
            "a",
            " a ",
            "\t\r\n a b \n",
            "\u{A0}a\u{A0}",
            " \u{A0} a \u{2003}",
            "\u{B}a\u{B}",
            "\u{85}x",
            "x\u{3000}",
            "åäö",
            " Ö ",
            "\u{C}a\u{C}",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
            assert_eq!(trim_start(text), text.trim_start(), "{text:?}");
            assert_eq!(trim_end(text), text.trim_end(), "{text:?}");
        }
    }

    #[test]
    fn a_name_with_two_colons_is_refused() {
        for document in [
            r#"<a:b:c xmlns:a="urn:x"/>"#,
            r#"<r xmlns:a="urn:x" a:b:c="1"/>"#,
            r#"<r :x="1"/>"#,
        ] {
            match parse(document.as_bytes()) {
                Err(XmlError::Malformed { message, .. }) => {
                    assert!(
                        message.contains("is not a name in a namespace"),
                        "{message}"
                    )
                }
                other => panic!("{document}: {other:?}"),
            }
        }
        let root = parse(br#"<a:r xmlns:a="urn:x" a:b="1" c="2"/>"#).unwrap();
        assert_eq!(root.name, "r");
        assert_eq!(root.attribute_in(Some("urn:x"), "b"), Some("1"));
        assert_eq!(root.attribute_in(None, "c"), Some("2"));
    }

    #[test]
    fn text_is_joined_trimmed_and_unescaped_whether_borrowed_or_not() {
        let doc = "<a p:k=\"x&#10;y\" xmlns:p=\"urn:p\">  one <b/> two\r\n</a>";
        let root = parse(doc.as_bytes()).unwrap();
        assert_eq!(root.text(), "one  two");
        assert_eq!(root.peek_attribute_in(Some("urn:p"), "k"), Some("x\ny"));
        assert_eq!(root.attributes[0].prefix, Some("p"));
        let root = parse(b"<a>\n  x &amp; <![CDATA[<y>]]> </a>").unwrap();
        assert_eq!(root.text(), "x & <y>");
        let root = parse(b"<p:a xmlns:p=\"urn:p\">\n   </p:a>").unwrap();
        assert_eq!((root.name, root.text()), ("a", ""));
    }

    /// Attribute values are normalised as XML 1.0 says (a tab or line break is a space,
    /// references resolved, a character reference kept as written); one with nothing to do
    /// borrows the document. Indentation is no text; text around children is.
    #[test]
    fn attribute_values_are_normalised_and_indentation_is_no_text() {
        let doc = "<a k=\"x\ty\r\nz\n\" m=\"plain \u{e5}\" n=\"&lt;&#x9;\">\n  <b/>\n  one <c/>  two\n</a>";
        let root = parse(doc.as_bytes()).unwrap();
        let value = |name: &str| {
            root.attributes
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.value.clone())
                .unwrap()
        };
        assert_eq!(value("k"), "x y z ");
        assert_eq!(value("m"), "plain \u{e5}");
        assert!(matches!(value("m"), Cow::Borrowed(_)));
        assert_eq!(value("n"), "<\t");
        assert_eq!(root.text, "one   two");
        let root = parse(b"<a>\n  <b>\n  </b>\n</a>").unwrap();
        assert_eq!(root.text, "");
        assert_eq!(root.children[0].text, "");
    }

    #[test]
    fn refuses_doctype_and_entity_declarations() {
        let doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY e \"boom\">]>\n<a>&e;</a>";
        assert_eq!(
            parse(doc.as_bytes()).unwrap_err(),
            XmlError::Doctype {
                position: Position { line: 2, column: 1 }
            }
        );
    }

    #[test]
    fn refuses_undeclared_entities_and_prefixes() {
        assert!(
            matches!(parse(b"<a>&e;</a>").unwrap_err(), XmlError::UnknownEntity { name, .. } if name == "e")
        );
        assert!(matches!(
            parse(b"<p:a/>").unwrap_err(),
            XmlError::UnknownPrefix { .. }
        ));
    }

    #[test]
    fn refuses_an_attribute_or_declaration_given_twice() {
        let refused = |document: &str| match parse(document.as_bytes()) {
            Err(XmlError::Malformed { message, position }) => (message, position),
            other => panic!("{document}: {other:?}"),
        };
        let (message, position) = refused("<r>\n  <a x=\"1\" y=\"2\" x=\"3\"/></r>");
        assert_eq!(message, "attribute x appears twice on <a>");
        assert_eq!((position.line, position.column), (2, 3));
        // Two prefixes of one namespace name one attribute.
        let (message, _) = refused(r#"<a xmlns:p="urn:u" xmlns:q="urn:u" p:x="1" q:x="2"/>"#);
        assert_eq!(
            message,
            "attributes p:x and q:x are one attribute (one namespace) on <a>"
        );
        // As many attributes as a large document holds, found in one pass.
        let many: String = (0..5000).map(|i| format!(" a{i}=\"\"")).collect();
        let (message, _) = refused(&format!("<a{many} a4999=\"\"/>"));
        assert_eq!(message, "attribute a4999 appears twice on <a>");
        assert_eq!(
            parse(format!("<a{many}/>").as_bytes())
                .unwrap()
                .attributes
                .len(),
            5000
        );
        let (message, _) = refused(r#"<a xmlns:p="urn:u" xmlns:p="urn:v"/>"#);
        assert_eq!(message, "the namespace prefix 'p' is declared twice");
        let (message, _) = refused(r#"<a xmlns="urn:u" xmlns="urn:u"/>"#);
        assert_eq!(message, "the default namespace is declared twice");
        // The same name unprefixed and in a namespace are two attributes; so are one prefix's
        // declarations on an element and on its child.
        let root =
            parse(br#"<a xmlns:p="urn:u" x="1" p:x="2"><b xmlns:p="urn:v" p:x="3"/></a>"#).unwrap();
        assert_eq!(root.peek_attribute("x"), Some("1"));
        assert_eq!(root.peek_attribute_in(Some("urn:u"), "x"), Some("2"));
        assert_eq!(
            root.children[0].peek_attribute_in(Some("urn:v"), "x"),
            Some("3")
        );
    }

    #[test]
    fn reports_malformed_documents_with_a_position() {
        let err = parse(b"<a>\n<b></a>").unwrap_err();
        assert!(
            matches!(
                err,
                XmlError::Malformed {
                    position: Position { line: 2, .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            parse(b"<a>").unwrap_err(),
            XmlError::Malformed { .. }
        ));
        assert_eq!(parse(b"").unwrap_err(), XmlError::Empty);
        assert_eq!(
            parse(&[b'<', 0xff, 0xfe]).unwrap_err(),
            XmlError::NotUtf8 {
                position: Position { line: 1, column: 2 }
            }
        );
    }

    #[test]
    fn refuses_documents_beyond_the_limits() {
        let limits = Limits {
            max_bytes: 64,
            max_depth: 3,
            max_elements: 4,
        };
        assert_eq!(
            parse_within(&[b' '; 65], &limits).unwrap_err(),
            XmlError::TooLarge {
                bytes: 65,
                limit: 64
            }
        );
        assert!(matches!(
            parse_within(b"<a><b><c><d/></c></b></a>", &limits).unwrap_err(),
            XmlError::TooDeep { limit: 3, .. }
        ));
        assert!(matches!(
            parse_within(b"<a><b/><b/><b/><b/></a>", &limits).unwrap_err(),
            XmlError::TooManyElements { limit: 4, .. }
        ));
        assert!(parse_within(b"<a><b/><b/><b/></a>", &limits).is_ok());
    }

    #[test]
    fn refuses_absurd_nesting() {
        let doc = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(
            parse(doc.as_bytes()).unwrap_err(),
            XmlError::TooDeep { .. }
        ));
    }
}
