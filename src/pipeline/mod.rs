//! The inbound pipeline: decode → translate → check against the case → commit, with no HTTP in
//! sight. The HTTP handlers and the command line call it.

mod append;
mod read;
mod receive;
mod resources;

pub use append::API;
pub use read::{CaseRead, reader_party};
pub use receive::{Acting, Pipeline, Receipt, ReceiveError, Withheld};
pub use resources::{CaseResources, History, Version};
