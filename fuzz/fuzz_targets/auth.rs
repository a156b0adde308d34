//! Fuzz target `auth`: `brygga::fuzzing::auth` on each input (see FUZZING.md).
#![no_main]

use std::sync::LazyLock;

static HARNESS: LazyLock<brygga::fuzzing::Harness> = LazyLock::new(brygga::fuzzing::Harness::new);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    brygga::fuzzing::auth(&HARNESS, data);
});
