//! The domain: identifiers, organisations, the coordination case and its events. No IO.

pub mod case;
pub mod consent;
pub mod delivery;
pub mod event;
pub mod identifiers;
pub mod party;
pub mod schema;
pub mod sensitive;
pub mod time;
