//! HTTP and command-line tests: the gateway in-process on a real socket, and the `brygga`
//! binary as a real process.

mod attacks;
mod cli;
mod consent;
mod cosmic_link;
mod crash;
mod delivery;
mod deviations;
mod examples;
mod fhir_audit;
mod fhir_careplan;
mod fhir_client;
mod fhir_official;
mod fhir_resources;
mod fhir_transaction;
mod helpers;
mod metadata;
mod municipal;
mod replay;
mod security;
mod service;
mod shutdown;
mod subscription;
mod tls;
