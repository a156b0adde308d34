//! Municipal case-system XML through dialects defined as data: each folder under
//! `mappings/municipal/` is a dialect (namespaces, message kinds, mapping rules, code tables),
//! compiled at start-up and read and written by one engine. See `mappings/municipal/README.md`.

mod check;
mod codes;
mod decode;
mod dialect;
mod encode;
mod error;
mod model;
mod path;
mod pattern;
mod spec;
mod transform;
mod view;

pub use check::{Difference, ExampleCheck, check_examples};
pub use codes::{CodeTable, CodeTables, VOCABULARIES, Vocabulary};
pub use decode::{Decoded, decode, decode_sent, message_id_of, read_encoding};
pub use dialect::{Dialect, DialectError, Dialects, FORMAT_PREFIX, Form, MessageKind, load_folder};
pub use encode::{encode, write_form};
pub use error::{MunicipalError, WriteError};
pub use spec::{DialectSpec, Direction, MessageSpec};
