//! The pipeline: every way a step is recorded — a received message (decode → translate →
//! check against the case → commit), a step made through the API, a timer that fell due —
//! through one loop (`Steps::record_step`), and the read side of cases, with no HTTP in
//! sight. The HTTP handlers, the command line and the workers call it.

mod append;
mod national;
mod place;
pub mod projection;
mod read;
mod receive;
mod received;
mod record;
mod resources;
pub mod stats;
mod timeline;
mod timers;
mod warnings;

pub use append::API;
pub use national::NationalRead;
pub use read::{CaseRead, reader_party};
pub use receive::{Acting, Pipeline, Receipt, ReceiveError, Withheld};
pub use record::{Attempt, Made, StepSource, Steps, Stored};
pub use resources::{CaseResources, History, Version};
pub use timeline::{Clock, ClockState, Decided, Recipient, Step, Timeline};
pub use timers::{Fired, POLL, Scheduler};
