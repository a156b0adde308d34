//! Domain tests: identifier parsers (examples and properties) and the coordination-case state machine.

mod case;
mod identifiers;
