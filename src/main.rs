//! brygga binary.
fn main() {}
