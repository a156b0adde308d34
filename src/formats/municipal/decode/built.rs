//! The canonical message as a document's rules build it, before serde types it: objects keyed
//! by the dialect's own field names (borrowed, never copied), values as JSON. Read into the
//! typed message by its own deserializer, with no `serde_json::Map` on the way, the event's
//! kind apart from the rest (`into_message`).

use std::borrow::Cow;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Value};

use crate::domain::event::{Event, EventId, EventKind, EventSource};
use crate::domain::identifiers::PersonId;
use crate::domain::party::Party;
use crate::formats::canonical::{CaseLocator, UnplacedMessage};

/// A key: a canonical field's name as the dialect spells it, or one the reader made.
pub(super) type Key<'r> = Cow<'r, str>;

/// An object, list or value being built.
#[derive(Debug, Clone)]
pub(super) enum Built<'r> {
    Value(Value),
    Object(Vec<(Key<'r>, Built<'r>)>),
    List(Vec<Built<'r>>),
}

impl PartialEq for Built<'_> {
    /// As JSON compares: objects by their keys, whatever the order they were set in.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Built::Value(a), Built::Value(b)) => a == b,
            (Built::List(a), Built::List(b)) => a == b,
            (Built::Object(a), Built::Object(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter()
                            .find(|(other, _)| other == k)
                            .is_some_and(|(_, w)| v == w)
                    })
            }
            _ => false,
        }
    }
}

impl<'r> Built<'r> {
    pub(super) fn object() -> Self {
        Built::Object(Vec::new())
    }

    /// Absent, as JSON's `null` is for an optional field.
    pub(super) fn is_null(&self) -> bool {
        matches!(self, Built::Value(Value::Null))
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Built::Value(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    pub(super) fn fields_mut(&mut self) -> Option<&mut Vec<(Key<'r>, Built<'r>)>> {
        match self {
            Built::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// The field `key` of an object.
    pub(super) fn get(&self, key: &str) -> Option<&Built<'r>> {
        match self {
            Built::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The item `segment` (a list) or field `segment` (an object).
    pub(super) fn step(&self, segment: &str) -> Option<&Built<'r>> {
        match self {
            Built::List(items) => items.get(segment.parse::<usize>().ok()?),
            _ => self.get(segment),
        }
    }

    /// The same, as JSON.
    pub(super) fn to_value(&self) -> Value {
        match self {
            Built::Value(value) => value.clone(),
            Built::List(items) => Value::Array(items.iter().map(Built::to_value).collect()),
            Built::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// The fields of the object at `key` of `fields`, if it is one.
pub(super) fn fields_of<'f, 'r>(
    fields: &'f mut [(Key<'r>, Built<'r>)],
    key: &str,
) -> Option<&'f mut Vec<(Key<'r>, Built<'r>)>> {
    fields
        .iter_mut()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.fields_mut())
}

/// Sets `key` in `fields`, replacing what was there.
pub(super) fn insert<'r>(fields: &mut Vec<(Key<'r>, Built<'r>)>, key: Key<'r>, value: Built<'r>) {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some((_, existing)) => *existing = value,
        None => fields.push((key, value)),
    }
}

/// The object at `key` of `fields`, made empty if it is not there.
pub(super) fn child<'f, 'r>(
    fields: &'f mut Vec<(Key<'r>, Built<'r>)>,
    key: Key<'r>,
) -> &'f mut Built<'r> {
    let index = match fields.iter().position(|(k, _)| *k == key) {
        Some(index) => index,
        None => {
            fields.push((key, Built::object()));
            fields.len() - 1
        }
    };
    &mut fields[index].1
}

/// A message's fields besides its event, as `CanonicalMessage` reads them (its attributes
/// copied: a field added there fails to compile in `into_message`, and a test compares the
/// two readings over every canonical fixture).
#[derive(Deserialize)]
struct Head {
    case: CaseLocator,
    person: PersonId,
    sent_at: Timestamp,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    recipient: Option<Party>,
    #[serde(default)]
    protected_identity: bool,
}

/// An event's fields besides its id and kind, as `Event` reads them.
#[derive(Deserialize)]
struct EventHead {
    occurred_at: Timestamp,
    source: EventSource,
}

/// The field `key` of `fields`, taken out.
fn take<'r>(fields: &mut Vec<(Key<'r>, Built<'r>)>, key: &str) -> Option<Built<'r>> {
    let at = fields.iter().position(|(k, _)| k == key)?;
    Some(fields.swap_remove(at).1)
}

/// The typed message from what the rules built; `id`, when given, its event's id. Read in
/// parts: serde reads a flattened field (the event's kind, most of a message) through two
/// buffered copies of its input, and the kind alone through one. Where the parts are not
/// objects, serde reads the whole and names what is wrong.
pub(super) fn into_message(
    built: Built<'_>,
    id: Option<EventId>,
) -> Result<UnplacedMessage, Error> {
    let mut fields = match built {
        Built::Object(fields) => fields,
        other => return UnplacedMessage::deserialize(other),
    };
    let mut event = match take(&mut fields, "event") {
        Some(Built::Object(event)) => event,
        Some(other) => {
            fields.push((Cow::Borrowed("event"), other));
            return UnplacedMessage::deserialize(Built::Object(fields));
        }
        None => return Err(de::Error::missing_field("event")),
    };
    let head = Head::deserialize(Built::Object(fields))?;
    let given = take(&mut event, "id");
    let id = match (id, given) {
        (Some(id), _) => id,
        (None, Some(given)) => EventId::deserialize(given)?,
        (None, None) => return Err(de::Error::missing_field("id")),
    };
    let mut parts = Vec::with_capacity(2);
    for key in ["occurred_at", "source"] {
        if let Some(value) = take(&mut event, key) {
            parts.push((Cow::Borrowed(key), value));
        }
    }
    let event_head = EventHead::deserialize(Built::Object(parts))?;
    let kind = EventKind::deserialize(Built::Object(event))?;
    Ok(UnplacedMessage {
        case: head.case,
        person: head.person,
        sent_at: head.sent_at,
        sender_name: head.sender_name,
        recipient: head.recipient,
        protected_identity: head.protected_identity,
        event: Event {
            id,
            occurred_at: event_head.occurred_at,
            source: event_head.source,
            kind,
        },
    })
}

impl<'de> IntoDeserializer<'de, Error> for Built<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Built<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Built::Value(value) => value.deserialize_any(visitor),
            Built::List(items) => visitor.visit_seq(Items(items.into_iter())),
            Built::Object(fields) => visitor.visit_map(Fields {
                fields: fields.into_iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Built::Value(Value::Null) => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Built::Value(value) => value.deserialize_enum(name, variants, visitor),
            // An enum written as an object (`{"variant": {…}}`): rare enough to go through JSON.
            other => other.to_value().deserialize_enum(name, variants, visitor),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Items<'de>(std::vec::IntoIter<Built<'de>>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<'de> {
    fields: std::vec::IntoIter<(Key<'de>, Built<'de>)>,
    value: Option<Built<'de>>,
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        match key {
            Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)),
            Cow::Owned(key) => seed.deserialize(StringDeserializer::new(key)),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("a value asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Every shape reads as the same JSON reads through serde_json.
    #[test]
    fn a_built_value_reads_as_its_json_reads() {
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Colour {
            DeepRed,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Kind {
            Meeting { place: String, at: Option<u32> },
        }
        #[derive(Debug, PartialEq, Deserialize)]
        struct Outer {
            name: String,
            colour: Colour,
            missing: Option<String>,
            null: Option<String>,
            items: Vec<i64>,
            #[serde(flatten)]
            kind: Kind,
        }
        let built = Built::Object(vec![
            (Cow::Borrowed("name"), Built::Value(Value::from("Å"))),
            (
                Cow::Borrowed("colour"),
                Built::Value(Value::from("deep_red")),
            ),
            (Cow::Borrowed("null"), Built::Value(Value::Null)),
            (
                Cow::Owned("items".to_owned()),
                Built::List(vec![Built::Value(Value::from(-1)), Built::Value(2.into())]),
            ),
            (Cow::Borrowed("place"), Built::Value(Value::from("hemma"))),
            (Cow::Borrowed("kind"), Built::Value(Value::from("meeting"))),
            (Cow::Borrowed("at"), Built::Value(Value::from(7))),
        ]);
        let json = built.to_value();
        let typed = Outer::deserialize(built).unwrap();
        assert_eq!(typed, serde_json::from_value::<Outer>(json).unwrap());
        assert_eq!(
            typed.kind,
            Kind::Meeting {
                place: "hemma".to_owned(),
                at: Some(7)
            }
        );

        // A missing field is named as serde_json names it (the reader's hints rely on it).
        let error = Outer::deserialize(Built::Object(vec![])).unwrap_err();
        assert_eq!(error.to_string(), "missing field `name`");
        let error = Colour::deserialize(Built::Value(Value::from("blue"))).unwrap_err();
        assert!(
            error.to_string().contains("unknown variant `blue`"),
            "{error}"
        );
    }

    /// A JSON value as the rules would have built it.
    fn built(value: Value) -> Built<'static> {
        match value {
            Value::Object(fields) => Built::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), built(v)))
                    .collect(),
            ),
            Value::Array(items) => Built::List(items.into_iter().map(built).collect()),
            other => Built::Value(other),
        }
    }

    /// Read in parts, every canonical message of the fixtures is what serde reads of the
    /// whole; the id given replaces the one built; what is missing is named as serde names it.
    #[test]
    fn a_message_read_in_parts_is_the_message_serde_reads() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/municipal/canonical");
        let mut read = 0;
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let whole = UnplacedMessage::deserialize(value.clone()).unwrap();
            let parts = into_message(built(value.clone()), None).unwrap();
            assert_eq!(parts, whole, "{}", path.display());
            let id = EventId(uuid::Uuid::from_u128(7));
            let given = into_message(built(value), Some(id)).unwrap();
            assert_eq!(given.event.id, id);
            assert_eq!(given.event.kind, whole.event.kind);
            read += 1;
        }
        assert!(read >= 20, "{read} messages");

        let message = || -> Value {
            serde_json::json!({
                "case": {"issuer": "SE2321000214-1000", "value": "SA-1"},
                "person": {"system": "personnummer", "value": "198112189876"},
                "sent_at": "2026-11-21T09:15:00Z",
                "event": {
                    "id": "69a2f34f-d338-5c72-b3e9-087f404314bf",
                    "kind": "estimated_discharge_changed",
                    "estimated_discharge": "2026-11-25",
                    "occurred_at": "2026-11-21T09:15:00Z",
                    "source": {"format": "municipal:x", "message_id": "M-1"}
                }
            })
        };
        assert!(into_message(built(message()), None).is_ok());
        let without = |path: &[&str]| {
            let mut value = message();
            let (last, parents) = path.split_last().unwrap();
            let mut here = &mut value;
            for key in parents {
                here = &mut here[*key];
            }
            here.as_object_mut().unwrap().remove(*last);
            into_message(built(value), None).unwrap_err().to_string()
        };
        assert_eq!(without(&["event"]), "missing field `event`");
        assert_eq!(without(&["person"]), "missing field `person`");
        assert_eq!(without(&["event", "id"]), "missing field `id`");
        assert_eq!(
            without(&["event", "occurred_at"]),
            "missing field `occurred_at`"
        );
        assert_eq!(
            without(&["event", "estimated_discharge"]),
            "missing field `estimated_discharge`"
        );
        let mut value = message();
        value["event"] = Value::from("not an object");
        assert!(into_message(built(value), None).is_err());
    }

    #[test]
    fn objects_are_equal_whatever_the_order_of_their_fields() {
        let a = Built::Object(vec![
            (Cow::Borrowed("a"), Built::Value(1.into())),
            (Cow::Borrowed("b"), Built::Value(2.into())),
        ]);
        let b = Built::Object(vec![
            (Cow::Owned("b".to_owned()), Built::Value(2.into())),
            (Cow::Borrowed("a"), Built::Value(1.into())),
        ]);
        assert_eq!(a, b);
        let c = Built::Object(vec![(Cow::Borrowed("a"), Built::Value(1.into()))]);
        assert_ne!(a, c);
        assert_ne!(a, Built::Value(Value::Null));
    }
}
