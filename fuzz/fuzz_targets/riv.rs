//! Fuzz target `riv`: `brygga::fuzzing::riv` on each input (see FUZZING.md).
#![no_main]

use std::sync::LazyLock;

static HARNESS: LazyLock<brygga::fuzzing::Harness> = LazyLock::new(brygga::fuzzing::Harness::new);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brygga::fuzzing::riv(&HARNESS, data);
});
