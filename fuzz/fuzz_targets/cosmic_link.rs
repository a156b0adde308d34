//! Fuzz target `cosmic_link`: `brygga::fuzzing::cosmic_link` on each input (see FUZZING.md).
#![no_main]

use std::sync::LazyLock;

static HARNESS: LazyLock<brygga::fuzzing::Harness> = LazyLock::new(brygga::fuzzing::Harness::new);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brygga::fuzzing::cosmic_link(&HARNESS, data);
});
