//! The coordination process engine: the Swedish calendar, deadline policies as data, the
//! clocks an event starts and stops, the deviations the gateway raises, `advance` (an event
//! with everything it causes) and the follow-up statistics of case histories. No IO.

pub mod calendar;
pub mod clocks;
pub mod deviations;
pub mod engine;
pub mod functions;
pub mod policy;
pub mod stats;

pub use calendar::Calendar;
pub use clocks::{ClockPlan, TimerPayload, plan};
pub use engine::{Context, Step, advance};
pub use policy::{Count, Policies, Policy, PolicyError};
