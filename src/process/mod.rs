//! The coordination process engine: the Swedish calendar, deadline policies as data, the
//! clocks an event starts and stops, and the scheduler that fires due timers.

pub mod calendar;
pub mod policy;

pub use calendar::Calendar;
pub use policy::{Count, Policies, Policy, PolicyError};
