//! The store behaviour every backend must show, by subject.

mod audit;
mod commits;
mod deliveries;
mod order;
mod projection;
mod records;

pub use audit::*;
pub use commits::*;
pub use deliveries::*;
pub use order::*;
pub use projection::*;
pub use records::*;
