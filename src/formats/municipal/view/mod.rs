//! A serialisable value as the dialect writer reads it: every field in one flat arena, built by
//! a serde serializer in one walk (field names borrowed, every string in one buffer), instead
//! of the map per object and string per key a `serde_json::Value` allocates. Read through
//! [`Ref`], which answers what the writer asks of a value: a field at a canonical path, the
//! items of a list, a scalar as text, number or boolean.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::ser;
use serde_json::Value;

use super::path::CanonPath;

mod build;

use build::Builder;

/// A field's name: serde's own for a struct field, in the text buffer for a map key, none for
/// a list item or the root.
#[derive(Debug, Clone, Copy)]
enum Key {
    None,
    Static(&'static str),
    Text(u32, u32),
}

#[derive(Debug, Clone, Copy)]
enum Data {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(u32, u32),
    Object,
    Array,
}

/// One value: its key (and the key's [`tag`]), its data, and its place in the tree (0: none,
/// as the root is never a child).
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: Key,
    tag: u64,
    data: Data,
    first: u32,
    next: u32,
}

/// A value laid out flat: slot 0 is the root.
#[derive(Debug, Default)]
pub struct View {
    slots: Vec<Slot>,
    text: String,
}

/// Why a value could not be laid out (a map key that is not text, or the value's own
/// serialisation error).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error(message.to_string())
    }
}

impl View {
    /// Lays out `value` (what `serde_json::to_value` would make of it).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<View, Error> {
        let mut builder = Builder {
            view: View {
                slots: Vec::with_capacity(256),
                text: String::with_capacity(2048),
            },
            key: Key::None,
            stack: Vec::with_capacity(8),
        };
        value.serialize(&mut builder)?;
        if builder.view.slots.is_empty() {
            return Err(Error("the value serialised to nothing".to_owned()));
        }
        Ok(builder.view)
    }

    pub fn root(&self) -> Ref<'_> {
        Ref { view: self, at: 0 }
    }

    fn str(&self, start: u32, end: u32) -> &str {
        &self.text[start as usize..end as usize]
    }
}

/// A field name's length and first seven bytes in one word: names that differ there (most
/// fields of an object) are told apart by one comparison, without reading either name.
#[inline]
fn tag(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let mut word = [0u8; 8];
    match bytes.first_chunk::<8>() {
        Some(head) => word = *head,
        None => word[..bytes.len()].copy_from_slice(bytes),
    }
    word[7] = bytes.len().min(255) as u8;
    u64::from_le_bytes(word)
}

/// A value in a [`View`].
#[derive(Clone, Copy)]
pub struct Ref<'v> {
    view: &'v View,
    at: u32,
}

impl<'v> Ref<'v> {
    fn slot(self) -> &'v Slot {
        &self.view.slots[self.at as usize]
    }

    fn children(self) -> Children<'v> {
        let slot = self.slot();
        let first = match slot.data {
            Data::Object | Data::Array => slot.first,
            _ => 0,
        };
        Children {
            view: self.view,
            next: first,
        }
    }

    fn key(self) -> Option<&'v str> {
        match self.slot().key {
            Key::None => None,
            Key::Static(key) => Some(key),
            Key::Text(start, end) => Some(self.view.str(start, end)),
        }
    }

    /// The field `key` of an object.
    pub fn child(self, key: &str) -> Option<Ref<'v>> {
        let slot = self.slot();
        if !matches!(slot.data, Data::Object) {
            return None;
        }
        let slots = &self.view.slots;
        let wanted = tag(key);
        let mut at = slot.first;
        while at != 0 {
            let child = &slots[at as usize];
            // Names of up to seven bytes are whole in the tag.
            let found = child.tag == wanted
                && (key.len() <= 7
                    || match child.key {
                        Key::Static(name) => name == key,
                        Key::Text(start, end) => self.view.str(start, end) == key,
                        Key::None => false,
                    });
            if found {
                return Some(Ref {
                    view: self.view,
                    at,
                });
            }
            at = child.next;
        }
        None
    }

    /// The value at `path` (a list item by its index), if there is one that is not null.
    pub fn get(self, path: &CanonPath) -> Option<Ref<'v>> {
        let mut here = self;
        for segment in &path.segments {
            here = match here.slot().data {
                Data::Array => here.children().nth(segment.parse::<usize>().ok()?)?,
                Data::Object => here.child(segment)?,
                _ => return None,
            };
        }
        (!here.is_null()).then_some(here)
    }

    pub fn is_null(self) -> bool {
        matches!(self.slot().data, Data::Null)
    }

    /// The items of a list; any other value is a list of itself.
    pub fn items(self) -> impl Iterator<Item = Ref<'v>> {
        let (list, single) = match self.slot().data {
            Data::Array => (Some(self.children()), None),
            _ => (None, Some(self)),
        };
        list.into_iter().flatten().chain(single)
    }

    /// Whether this is an object with at least one field.
    pub fn has_fields(self) -> bool {
        matches!(self.slot().data, Data::Object) && self.slot().first != 0
    }

    /// How many items [`Ref::items`] yields.
    pub fn item_count(self) -> usize {
        match self.slot().data {
            Data::Array => self.children().count(),
            _ => 1,
        }
    }

    pub fn as_str(self) -> Option<&'v str> {
        match self.slot().data {
            Data::Str(start, end) => Some(self.view.str(start, end)),
            _ => None,
        }
    }

    pub fn as_i64(self) -> Option<i64> {
        match self.slot().data {
            Data::I64(n) => Some(n),
            Data::U64(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self.slot().data {
            Data::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A scalar as the text JSON gives it (a string as it is); `None` for null, a list or
    /// an object.
    pub fn text(self) -> Option<Cow<'v, str>> {
        Some(match self.slot().data {
            Data::Str(start, end) => Cow::Borrowed(self.view.str(start, end)),
            Data::I64(n) => Cow::Owned(n.to_string()),
            Data::U64(n) => Cow::Owned(n.to_string()),
            Data::F64(n) => Cow::Owned(serde_json::Number::from_f64(n)?.to_string()),
            Data::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Data::Null | Data::Object | Data::Array => return None,
        })
    }

    /// What kind of value this is, for messages.
    pub fn kind(self) -> &'static str {
        match self.slot().data {
            Data::Null => "nothing",
            Data::Bool(_) => "a boolean",
            Data::I64(_) | Data::U64(_) | Data::F64(_) => "a number",
            Data::Str(..) => "a string",
            Data::Array => "a list",
            Data::Object => "an object",
        }
    }

    /// Whether this is the same value as `value` (a number by its value, an object by its
    /// fields in any order).
    pub fn equals(self, value: &Value) -> bool {
        match (self.slot().data, value) {
            (Data::Null, Value::Null) => true,
            (Data::Bool(a), Value::Bool(b)) => a == *b,
            (Data::Str(start, end), Value::String(b)) => self.view.str(start, end) == b,
            (Data::I64(a), Value::Number(b)) => b.as_i64() == Some(a),
            (Data::U64(a), Value::Number(b)) => b.as_u64() == Some(a),
            (Data::F64(a), Value::Number(b)) => b.as_f64() == Some(a),
            (Data::Array, Value::Array(items)) => {
                self.item_count() == items.len()
                    && self.children().zip(items).all(|(a, b)| a.equals(b))
            }
            (Data::Object, Value::Object(map)) => {
                self.children().count() == map.len()
                    && self.children().all(|c| {
                        c.key()
                            .and_then(|k| map.get(k))
                            .is_some_and(|v| c.equals(v))
                    })
            }
            _ => false,
        }
    }

    /// The value as JSON (for the rare reader that needs serde's own form).
    pub fn to_value(self) -> Value {
        match self.slot().data {
            Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(b),
            Data::I64(n) => n.into(),
            Data::U64(n) => n.into(),
            Data::F64(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            Data::Str(start, end) => Value::String(self.view.str(start, end).to_owned()),
            Data::Array => Value::Array(self.children().map(Ref::to_value).collect()),
            Data::Object => Value::Object(
                self.children()
                    .map(|c| (c.key().unwrap_or_default().to_owned(), c.to_value()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Ref<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

struct Children<'v> {
    view: &'v View,
    next: u32,
}

impl<'v> Iterator for Children<'v> {
    type Item = Ref<'v>;

    fn next(&mut self) -> Option<Ref<'v>> {
        if self.next == 0 {
            return None;
        }
        let at = self.next;
        self.next = self.view.slots[at as usize].next;
        Some(Ref {
            view: self.view,
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Whatever serde_json makes of a value, the view holds the same: compared field by field
    /// and turned back into JSON.
    #[test]
    fn holds_what_serde_json_makes() {
        #[derive(Serialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Tagged {
            Plain { name: String },
        }
        #[derive(Serialize)]
        enum External {
            Unit,
            New(u8),
            Tuple(i32, i32),
            Fields { a: bool },
        }
        #[derive(Serialize)]
        struct Inner {
            text: &'static str,
        }
        #[derive(Serialize)]
        struct Outer {
            number: i64,
            negative: i64,
            float: f64,
            nan: f64,
            missing: Option<u8>,
            list: Vec<External>,
            #[serde(flatten)]
            inner: Inner,
            tagged: Tagged,
            map: std::collections::BTreeMap<u32, char>,
            bytes: serde_bytes_like::Bytes,
            empty: Vec<u8>,
        }
        mod serde_bytes_like {
            pub struct Bytes(pub Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        let value = Outer {
            number: 7,
            negative: -3,
            float: 1.5,
            nan: f64::NAN,
            missing: None,
            list: vec![
                External::Unit,
                External::New(2),
                External::Tuple(1, -1),
                External::Fields { a: true },
            ],
            inner: Inner { text: "<Å&ä>\"" },
            tagged: Tagged::Plain {
                name: "Märta".into(),
            },
            map: [(3, 'x'), (10, 'y')].into_iter().collect(),
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
            empty: vec![],
        };
        let expected = serde_json::to_value(&value).unwrap();
        let view = View::of(&value).unwrap();
        assert!(view.root().equals(&expected));
        assert_eq!(view.root().to_value(), expected);

        let root = view.root();
        let at = |path: &str| {
            root.get(&CanonPath {
                segments: path.split('.').map(str::to_owned).collect(),
            })
        };
        assert_eq!(at("number").and_then(Ref::as_i64), Some(7));
        assert_eq!(at("negative").and_then(Ref::as_i64), Some(-3));
        assert_eq!(at("float").and_then(Ref::text).as_deref(), Some("1.5"));
        assert!(at("nan").is_none(), "NaN is null, as in JSON");
        assert!(at("missing").is_none());
        assert_eq!(at("list.0").and_then(Ref::as_str), Some("Unit"));
        assert_eq!(at("list.2.Tuple.1").and_then(Ref::as_i64), Some(-1));
        assert_eq!(at("list.3.Fields.a").and_then(Ref::as_bool), Some(true));
        assert!(at("list.4").is_none());
        assert_eq!(at("text").and_then(Ref::as_str), Some("<Å&ä>\""));
        assert_eq!(at("tagged.kind").and_then(Ref::as_str), Some("plain"));
        assert_eq!(at("map.10").and_then(Ref::as_str), Some("y"));
        assert_eq!(at("list").map(Ref::item_count), Some(4));
        assert!(at("list.3").is_some_and(Ref::has_fields));
        assert!(!at("list").is_some_and(Ref::has_fields));
        assert_eq!(at("list").map(|l| l.items().count()), Some(4));
        assert_eq!(at("number").map(|n| n.items().count()), Some(1));
        assert_eq!(at("empty").map(|l| l.items().count()), Some(0));
        assert_eq!(at("list.1").map(Ref::kind), Some("an object"));
        assert!(at("number.x").is_none());
        assert!(!root.equals(&json!({"number": 7})));
    }

    /// Field names are found by their tag (length and first seven bytes) and then compared
    /// whole: names alike in the tag, names of up to seven bytes, an empty name and names with
    /// non-ASCII letters are each found as themselves, struct fields and map keys alike.
    #[test]
    fn finds_each_field_by_its_whole_name() {
        let names = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefgh_",
            "occurred_at",
            "occurred_on",
            "occurred_at_x",
            "åäö",
            "åäöx",
            "\u{7f}",
        ];
        let map: std::collections::BTreeMap<&str, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let view = View::of(&map).unwrap();
        for (i, name) in names.iter().enumerate() {
            let found = view.root().child(name).and_then(Ref::as_i64);
            assert_eq!(found, Some(i as i64), "{name:?}");
        }
        for absent in ["abcdefgj", "occurred_in", "abcdef", "abcdefghi_", "åäo"] {
            assert!(view.root().child(absent).is_none(), "{absent:?}");
        }

        #[derive(Serialize)]
        struct Fields {
            occurred_at: u8,
            occurred_on: u8,
            at: u8,
        }
        let view = View::of(&Fields {
            occurred_at: 1,
            occurred_on: 2,
            at: 3,
        })
        .unwrap();
        let root = view.root();
        assert_eq!(root.child("occurred_on").and_then(Ref::as_i64), Some(2));
        assert_eq!(root.child("occurred_at").and_then(Ref::as_i64), Some(1));
        assert_eq!(root.child("at").and_then(Ref::as_i64), Some(3));
        assert!(root.child("occurred_xx").is_none());
        // A list item has no name: the empty name does not find it.
        let list = View::of(&vec![1, 2]).unwrap();
        assert!(list.root().child("").is_none());
    }

    #[test]
    fn a_key_that_is_not_text_is_refused() {
        let map: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let error = View::of(&map).expect_err("refused");
        assert_eq!(error.to_string(), "a map key is not text");
    }
}
