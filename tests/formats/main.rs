//! Format tests driven by fixture files: golden pairs, error fixtures and round trips.
//! Set `BLESS=1` to rewrite the expected files from the current output.

mod corpora;
mod cosmic_link;
mod dialect_engine;
mod dialect_examples;
mod fhir_official;
mod fhir_read;
mod fhir_render;
mod generated;
mod golden;
mod municipal;
mod municipal_fuzz;
mod riv;
