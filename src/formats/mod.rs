//! Message formats: decoding bytes into typed messages and encoding them back. No IO.

pub mod xml;
