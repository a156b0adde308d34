//! A JSON reader that records which elements were read, so that input the mapping does not
//! cover is reported (as FHIRPath-like paths) instead of being dropped in silence.
//!
//! Nodes carry no path; a path is computed only when an error or warning needs one.

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

/// Why a FHIR document could not be read into a canonical message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirReadError {
    #[error("not JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Model(String),
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

impl FhirReadError {
    /// The element (FHIRPath-like) the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            FhirReadError::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, FhirReadError>;

/// Hashes element addresses: distinct, already well spread once the alignment bits are mixed
/// in, so a multiply is enough (the default SipHash costs more than the lookups it guards).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8 | u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_right(29);
    }
}

type Addresses = HashSet<usize, BuildHasherDefault<AddressHasher>>;

/// A parsed document and the elements read from it so far.
pub struct Doc<'a> {
    root: &'a Value,
    root_name: &'a str,
    seen: RefCell<Addresses>,
}

fn address(value: &Value) -> usize {
    value as *const Value as usize
}

impl<'a> Doc<'a> {
    /// A document whose root is a resource (an object with a `resourceType`).
    pub fn new(root: &'a Value) -> Result<Doc<'a>> {
        let root_name = root
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or_else(|| FhirReadError::Invalid {
                path: "resourceType".to_owned(),
                problem: "missing: the document is not a FHIR resource".to_owned(),
            })?;
        let doc = Doc {
            root,
            root_name,
            seen: RefCell::new(Addresses::with_capacity_and_hasher(
                256,
                BuildHasherDefault::default(),
            )),
        };
        doc.mark(root);
        if let Some(resource_type) = root.get("resourceType") {
            doc.mark(resource_type);
        }
        Ok(doc)
    }

    pub fn root(&'a self) -> Node<'a> {
        Node {
            v: self.root,
            doc: self,
        }
    }

    fn mark(&self, value: &Value) {
        self.seen.borrow_mut().insert(address(value));
    }

    fn mark_all(&self, value: &Value) {
        self.mark(value);
        match value {
            Value::Object(map) => map.values().for_each(|v| self.mark_all(v)),
            Value::Array(items) => items.iter().for_each(|v| self.mark_all(v)),
            _ => {}
        }
    }

    fn is_seen(&self, value: &Value) -> bool {
        self.seen.borrow().contains(&address(value))
    }

    /// The path of `target` inside the document (`Bundle.entry[1].resource.input[0]`).
    fn path_of(&self, target: &Value) -> String {
        fn find(value: &Value, target: usize, path: &mut String) -> bool {
            if address(value) == target {
                return true;
            }
            let len = path.len();
            match value {
                Value::Object(map) => {
                    for (key, child) in map {
                        path.push('.');
                        path.push_str(key);
                        if find(child, target, path) {
                            return true;
                        }
                        path.truncate(len);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        path.push_str(&format!("[{i}]"));
                        if find(child, target, path) {
                            return true;
                        }
                        path.truncate(len);
                    }
                }
                _ => {}
            }
            false
        }
        let mut path = self.root_name.to_owned();
        find(self.root, address(target), &mut path);
        path
    }

    /// Every element that was never read, as paths; an unread object or array is reported once,
    /// not element by element.
    pub fn unread(&self) -> Vec<String> {
        fn walk(doc: &Doc<'_>, value: &Value, path: &mut String, out: &mut Vec<String>) {
            let len = path.len();
            match value {
                Value::Object(map) => {
                    for (key, child) in map {
                        path.push('.');
                        path.push_str(key);
                        if doc.is_seen(child) {
                            walk(doc, child, path, out);
                        } else {
                            out.push(path.clone());
                        }
                        path.truncate(len);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        path.push_str(&format!("[{i}]"));
                        if doc.is_seen(child) {
                            walk(doc, child, path, out);
                        } else {
                            out.push(path.clone());
                        }
                        path.truncate(len);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        let mut path = self.root_name.to_owned();
        walk(self, self.root, &mut path, &mut out);
        out
    }
}

/// One element of the document. Reading a child marks it as read.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub v: &'a Value,
    doc: &'a Doc<'a>,
}

/// Shows the path only: the value may be personal data.
impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.path())
    }
}

impl<'a> Node<'a> {
    pub fn path(&self) -> String {
        self.doc.path_of(self.v)
    }

    /// An error about this element.
    pub fn invalid(&self, problem: impl Into<String>) -> FhirReadError {
        FhirReadError::Invalid {
            path: self.path(),
            problem: problem.into(),
        }
    }

    /// The same element, marked as read with everything in it.
    pub fn consume(self) -> Node<'a> {
        self.doc.mark_all(self.v);
        self
    }

    /// The child `key`, if present (and not JSON null).
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let child = self.v.get(key).filter(|v| !v.is_null())?;
        self.doc.mark(child);
        Some(Node {
            v: child,
            doc: self.doc,
        })
    }

    /// The elements of the array `key`, not yet marked as read: an element nobody takes is
    /// reported whole.
    pub fn unread_items(&self, key: &str) -> Result<Vec<Node<'a>>> {
        let Some(list) = self.get(key) else {
            return Ok(Vec::new());
        };
        match list.v {
            Value::Array(items) => Ok(items.iter().map(|v| Node { v, doc: self.doc }).collect()),
            _ => Err(list.invalid("expected an array")),
        }
    }

    /// Marks this element (not what is in it) as read.
    pub fn mark(&self) {
        self.doc.mark(self.v);
    }

    /// Marks the child `key` and everything in it as read (bookkeeping brygga does not carry on).
    pub fn touch(&self, key: &str) {
        if let Some(child) = self.v.get(key) {
            self.doc.mark_all(child);
        }
    }

    /// The child `key`; `what` says what it is for when it is missing.
    pub fn required(&self, key: &str, what: &str) -> Result<Node<'a>> {
        self.get(key).ok_or_else(|| FhirReadError::Invalid {
            path: format!("{}.{key}", self.path()),
            problem: format!("missing: {what}"),
        })
    }

    /// A string's value without the whitespace around it, which FHIR says should be removed
    /// (and which the XML formats drop), so that a value reads the same in every format.
    pub fn str(&self) -> Result<&'a str> {
        self.doc.mark(self.v);
        match self.v.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s.trim()),
            Some(_) => Err(self.invalid("is empty")),
            None => Err(self.invalid("expected a string")),
        }
    }

    pub fn bool(&self) -> Result<bool> {
        self.doc.mark(self.v);
        self.v
            .as_bool()
            .ok_or_else(|| self.invalid("expected true or false"))
    }

    /// The elements of an array (a single value counts as one element).
    pub fn items(&self) -> Result<Vec<Node<'a>>> {
        match self.v {
            Value::Array(items) => Ok(items
                .iter()
                .map(|v| {
                    self.doc.mark(v);
                    Node { v, doc: self.doc }
                })
                .collect()),
            _ => Err(self.invalid("expected an array")),
        }
    }

    /// The first element of the array `key`, if any.
    pub fn first(&self, key: &str) -> Result<Option<Node<'a>>> {
        match self.get(key) {
            Some(list) => Ok(list.items()?.into_iter().next()),
            None => Ok(None),
        }
    }

    pub fn required_str(&self, key: &str, what: &str) -> Result<&'a str> {
        self.required(key, what)?.str()
    }

    pub fn optional_str(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key).map(|n| n.str()).transpose()
    }

    /// A FHIR `dateTime` or `instant` with a time and an offset.
    pub fn timestamp(&self) -> Result<Timestamp> {
        let text = self.str()?;
        text.parse().map_err(|_| {
            self.invalid(
                "expected a date-time with a time and an offset, e.g. 2026-03-02T09:15:00+01:00",
            )
        })
    }

    /// A FHIR `date` (YYYY-MM-DD).
    pub fn date(&self) -> Result<Date> {
        let text = self.str()?;
        if text.len() != 10 {
            return Err(self.invalid("expected a full date, YYYY-MM-DD"));
        }
        text.parse()
            .map_err(|_| self.invalid("expected a full date, YYYY-MM-DD"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_was_not_read_is_reported_once_per_subtree() {
        let value = json!({
            "resourceType": "Task",
            "status": "completed",
            "note": [{ "text": "x" }],
            "input": [{ "valueString": "a" }, { "valueString": "b", "extra": 1 }]
        });
        let doc = Doc::new(&value).unwrap();
        let root = doc.root();
        root.required_str("status", "the status").unwrap();
        let inputs = root.get("input").unwrap().items().unwrap();
        inputs[0].get("valueString").unwrap().str().unwrap();
        inputs[1].get("valueString").unwrap().str().unwrap();
        assert_eq!(doc.unread(), ["Task.input[1].extra", "Task.note"]);
    }

    #[test]
    fn errors_name_the_element() {
        let value = json!({
            "resourceType": "Bundle",
            "entry": [{ "resource": { "resourceType": "Task", "authoredOn": "2026-03-02" } }]
        });
        let doc = Doc::new(&value).unwrap();
        let task = doc.root().get("entry").unwrap().items().unwrap()[0]
            .get("resource")
            .unwrap();
        let error = task.get("authoredOn").unwrap().timestamp().unwrap_err();
        assert_eq!(error.path(), Some("Bundle.entry[0].resource.authoredOn"));
        let missing = task.required("status", "the Task's status").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "Bundle.entry[0].resource.status: missing: the Task's status"
        );
    }
}
