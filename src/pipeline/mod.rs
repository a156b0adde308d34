//! The inbound pipeline: decode → translate → check against the case → commit, with no HTTP in
//! sight. The HTTP handlers and the command line call it.

mod append;
mod receive;

pub use append::API;
pub use receive::{Pipeline, Receipt, ReceiveError, Withheld};
