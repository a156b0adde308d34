//! Laying a value out in a [`View`]: a serde serializer that appends each value as a slot
//! and links it to its parent's last child.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{Data, Error, Key, Slot, View};

/// An object or list being filled: its slot and its last child so far.
pub(super) struct Frame {
    at: u32,
    last: u32,
}

pub(super) struct Builder {
    pub(super) view: View,
    /// The key of the next value pushed.
    pub(super) key: Key,
    pub(super) stack: Vec<Frame>,
}

impl Builder {
    fn push(&mut self, data: Data) -> Result<u32, Error> {
        let at = u32::try_from(self.view.slots.len())
            .map_err(|_| Error("the value has too many fields".to_owned()))?;
        let key = std::mem::replace(&mut self.key, Key::None);
        let tag = match key {
            // No name's tag: 0xFF is never in UTF-8.
            Key::None => u64::MAX,
            Key::Static(name) => super::tag(name),
            Key::Text(start, end) => super::tag(self.view.str(start, end)),
        };
        self.view.slots.push(Slot {
            key,
            tag,
            data,
            first: 0,
            next: 0,
        });
        if let Some(frame) = self.stack.last_mut() {
            if frame.last == 0 {
                self.view.slots[frame.at as usize].first = at;
            } else {
                self.view.slots[frame.last as usize].next = at;
            }
            frame.last = at;
        }
        Ok(at)
    }

    fn text(&mut self, text: &str) -> Result<(u32, u32), Error> {
        let start = self.view.text.len();
        self.view.text.push_str(text);
        Ok((offset(start)?, offset(self.view.text.len())?))
    }

    fn open(&mut self, data: Data) -> Result<(), Error> {
        let at = self.push(data)?;
        self.stack.push(Frame { at, last: 0 });
        Ok(())
    }

    /// An enum variant with content: an object with the variant's name as its one key.
    fn open_variant(&mut self, variant: &'static str, data: Data) -> Result<(), Error> {
        self.open(Data::Object)?;
        self.key = Key::Static(variant);
        self.open(data)
    }

    fn close(&mut self, frames: usize) {
        for _ in 0..frames {
            self.stack.pop();
        }
    }
}

/// A place in the view's text.
fn offset(at: usize) -> Result<u32, Error> {
    u32::try_from(at).map_err(|_| Error("the value's text is too long".to_owned()))
}

/// An object or list being serialised; `frames`: how many levels it closes (two for an enum
/// variant with content).
pub struct Compound<'b> {
    builder: &'b mut Builder,
    frames: usize,
}

impl<'b> ser::Serializer for &'b mut Builder {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'b>;
    type SerializeTuple = Compound<'b>;
    type SerializeTupleStruct = Compound<'b>;
    type SerializeTupleVariant = Compound<'b>;
    type SerializeMap = Compound<'b>;
    type SerializeStruct = Compound<'b>;
    type SerializeStructVariant = Compound<'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.push(Data::Bool(v)).map(drop)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        // serde_json keeps a non-negative integer as unsigned.
        match u64::try_from(v) {
            Ok(u) => self.push(Data::U64(u)).map(drop),
            Err(_) => self.push(Data::I64(v)).map(drop),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.push(Data::U64(v)).map(drop)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        // JSON has no infinity or NaN: serde_json makes them null.
        let data = if v.is_finite() {
            Data::F64(v)
        } else {
            Data::Null
        };
        self.push(data).map(drop)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        let (start, end) = self.text(v)?;
        self.push(Data::Str(start, end)).map(drop)
    }
    /// A value serialised as its `Display` (a timestamp): written straight into the view's
    /// text, not into a string of its own first.
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        use std::fmt::Write;
        let start = self.view.text.len();
        write!(self.view.text, "{value}").map_err(|e| Error(e.to_string()))?;
        let (start, end) = (offset(start)?, offset(self.view.text.len())?);
        self.push(Data::Str(start, end)).map(drop)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.open(Data::Array)?;
        for byte in v {
            self.push(Data::U64((*byte).into()))?;
        }
        self.close(1);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.push(Data::Null).map(drop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.push(Data::Null).map(drop)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open(Data::Object)?;
        self.key = Key::Static(variant);
        value.serialize(&mut *self)?;
        self.close(1);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'b>, Error> {
        self.open(Data::Array)?;
        Ok(Compound {
            builder: self,
            frames: 1,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'b>, Error> {
        self.open_variant(variant, Data::Array)?;
        Ok(Compound {
            builder: self,
            frames: 2,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'b>, Error> {
        self.open(Data::Object)?;
        Ok(Compound {
            builder: self,
            frames: 1,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'b>, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'b>, Error> {
        self.open_variant(variant, Data::Object)?;
        Ok(Compound {
            builder: self,
            frames: 2,
        })
    }
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.builder)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.builder.key = Key::Static(key);
        value.serialize(&mut *self.builder)
    }

    fn end(self) -> Result<(), Error> {
        self.builder.close(self.frames);
        Ok(())
    }
}

/// The list-like compounds: each item is the next child.
macro_rules! items {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // Written straight into the view's text: no string of its own per key.
        let start = self.builder.view.text.len();
        key.serialize(KeyText(&mut self.builder.view.text))?;
        self.builder.key = Key::Text(offset(start)?, offset(self.builder.view.text.len())?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.builder)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// The struct-like compounds: each field is a child under its name.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// A map key as text, as serde_json takes it: a string, a character, a number or a boolean.
struct KeyText<'t>(&'t mut String);

fn not_text() -> Error {
    Error("a map key is not text".to_owned())
}

macro_rules! key_as_display {
    ($($method:ident: $type:ty),*) => {
        $(fn $method(self, v: $type) -> Result<(), Error> {
            self.0.push_str(&v.to_string());
            Ok(())
        })*
    };
}

impl ser::Serializer for KeyText<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    key_as_display!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char
    );

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(not_text())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_text())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_text())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_text())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_text())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_text())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(not_text())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_text())
    }
}
