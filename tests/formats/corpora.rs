//! The fuzz corpora replayed on stable through the library's own entry points
//! (`brygga::fuzzing`), so that every input a campaign kept — each a crash fixed, or a path it
//! found — is checked by the test command without a nightly compiler. `FUZZING.md` says how
//! the corpora were made.

use std::sync::LazyLock;

use brygga::fuzzing::{Harness, Outcome, TARGETS, corpus, replay};

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::new);

#[test]
fn every_corpus_input_keeps_its_targets_invariants() {
    let mut report = Vec::new();
    for (name, target) in TARGETS {
        let folder = corpus(name);
        let (accepted, refused) = replay(&HARNESS, *target, &folder);
        // Each corpus reaches past the first refusal: some of its inputs are read whole.
        assert!(
            accepted > 0,
            "no input of {} is accepted ({refused} refused)",
            folder.display()
        );
        report.push(format!("{name}: {accepted} accepted, {refused} refused"));
    }
    eprintln!("replayed {}", report.join(", "));
}

/// Each target's seeds include inputs it accepts: the corpora reach past the first refusal.
#[test]
fn the_harness_accepts_the_shipped_examples() {
    let example = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap();
    assert_eq!(
        brygga::fuzzing::cosmic_link(&HARNESS, &example),
        Outcome::Accepted
    );
    assert_eq!(brygga::fuzzing::xml(&HARNESS, &example), Outcome::Accepted);
    // A token signed with the gateway's key for it, and an assertion signed by the client.
    let token = "token\nHS256\nbrygga\nhttps://brygga.example/auth/token\nregion-jh-cosmic\nhttps://brygga.example\n300\n0\nsystem/Task.rs\nSE2321000214-1000\n\n";
    assert_eq!(
        brygga::fuzzing::auth(&HARNESS, token.as_bytes()),
        Outcome::Accepted
    );
    let assertion = "assertion\nES384\n\nregion-jh-cosmic\nregion-jh-cosmic\nhttps://brygga.example/auth/token\n120\n0\n\n\n\n";
    assert_eq!(
        brygga::fuzzing::auth(&HARNESS, assertion.as_bytes()),
        Outcome::Accepted
    );
    // The same claims with the signature of another key, or none, are refused.
    let unsigned = token.replacen("token", "raw", 1);
    assert_eq!(
        brygga::fuzzing::auth(&HARNESS, unsigned.as_bytes()),
        Outcome::Refused
    );
    let expired = token.replace("\n300\n0\n", "\n-10\n-400\n");
    assert_eq!(
        brygga::fuzzing::auth(&HARNESS, expired.as_bytes()),
        Outcome::Refused
    );
}
