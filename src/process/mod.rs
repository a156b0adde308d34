//! The coordination process engine: the Swedish calendar, deadline policies as data, the
//! clocks an event starts and stops, and the scheduler that fires due timers.

pub mod calendar;
pub mod clocks;
pub mod policy;
pub mod scheduler;
pub mod stats;

pub use calendar::Calendar;
pub use clocks::{ClockPlan, TimerPayload, plan};
pub use policy::{Count, Policies, Policy, PolicyError};
pub use scheduler::{Fired, Scheduler};
