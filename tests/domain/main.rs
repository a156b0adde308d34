//! Domain tests: identifier parsers (examples and properties) the coordination-case state machine and the disclosure decision.

mod case;
mod decide;
mod identifiers;
