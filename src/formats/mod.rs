//! Message formats: decoding bytes into typed messages and encoding them back. No IO.

pub mod canonical;
pub mod cosmic_link;
pub mod encoding;
pub mod fhir;
mod mappings;
pub mod municipal;
pub mod riv;
pub mod strict_json;
pub mod translate;
pub mod xml;

pub use mappings::Mappings;
