//! brygga: interoperability gateway between the region and the municipality for discharge
//! planning, SIP and the notifications both principals need on time.

pub mod anchor;
pub mod audit;
pub mod audit_watch;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod decide;
pub mod delivery;
pub mod domain;
pub mod formats;
pub mod fuzzing;
pub mod http;
pub mod pipeline;
pub mod process;
pub mod replay;
pub mod startup;
pub mod store;
pub mod telemetry;
