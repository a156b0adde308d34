//! The Cosmic Link contract (`urn:brygga:cosmic-link:1`): decoding messages into canonical
//! messages and encoding canonical messages back. See `mappings/cosmic-link/README.md`.

mod codes;
mod decode;
mod encode;

pub use codes::{CodeTables, CodeTablesError};
pub use decode::{CosmicLinkError, Decoded, GATEWAY_STEPS, GATEWAY_SYSTEM, decode, decode_sent};
pub use encode::{EncodeError, encode};

/// The contract's XML namespace.
pub const NAMESPACE: &str = "urn:brygga:cosmic-link:1";
/// The format's name in receipts, event sources and `brygga translate`.
pub const FORMAT: &str = "cosmic-link";
