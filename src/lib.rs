//! brygga: interoperability gateway between the region and the municipality for discharge
//! planning, SIP and the notifications both principals need on time.

pub mod config;
pub mod domain;
pub mod store;
