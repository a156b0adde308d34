//! Signed checkpoints of the audit log: the chain's head (and where its kept records begin)
//! signed with an Ed25519 key the database does not hold. A checkpoint exported to write-once
//! storage lets `brygga audit verify --checkpoint` tell a log that was truncated, rewound,
//! cut at its start or recomputed from the log the checkpoint saw — which the hash chain
//! alone cannot, since whoever can write the database can also recompute it. Pure: the store
//! reads the facts, this judges them.
//!
//! What it does not protect against: changes to records written after the newest checkpoint
//! the verifier holds (the interval between checkpoints is the window), an attacker who holds
//! the anchor key, and the loss of checkpoints that were never exported.

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer, Verifier};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The checkpoint format's name and version.
pub const FORMAT: &str = "brygga-audit-checkpoint/1";

/// One signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    /// The last record of the chain when it was made, and its hash.
    pub head_seq: u64,
    pub head_hash: String,
    /// Where the kept records began: the last record deleted after its retention (0: none).
    pub anchor_seq: u64,
    pub anchor_hash: String,
    pub made_at: Timestamp,
    /// The signing key's public half (base64 of its 32 bytes).
    pub public_key: String,
    /// Ed25519 over [`Checkpoint::signed_text`] (base64).
    pub signature: String,
}

/// The private key checkpoints are signed with (PKCS#8 PEM, as `openssl genpkey -algorithm
/// ed25519` writes it).
pub struct AnchorKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnchorKey(<private>)")
    }
}

/// The public key checkpoints are verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey(ed25519_dalek::VerifyingKey);

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl AnchorKey {
    /// Reads a PKCS#8 PEM Ed25519 private key.
    pub fn load(path: &std::path::Path) -> Result<AnchorKey, String> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("the audit anchor key {}: {e}", path.display()))?;
        ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map(AnchorKey)
            .map_err(|_| {
                format!(
                    "the audit anchor key {}: not an Ed25519 private key in PKCS#8 PEM (make one with `openssl genpkey -algorithm ed25519 -out FILE`)",
                    path.display()
                )
            })
    }

    /// A key from its 32 secret bytes (for tests).
    pub fn from_bytes(bytes: &[u8; 32]) -> AnchorKey {
        AnchorKey(ed25519_dalek::SigningKey::from_bytes(bytes))
    }

    pub fn trusted(&self) -> TrustedKey {
        TrustedKey(self.0.verifying_key())
    }

    /// Signs the head and anchor of a chain at `made_at`.
    pub fn sign(&self, head: (u64, &str), anchor: (u64, &str), made_at: Timestamp) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            format: FORMAT.to_owned(),
            head_seq: head.0,
            head_hash: head.1.to_owned(),
            anchor_seq: anchor.0,
            anchor_hash: anchor.1.to_owned(),
            made_at,
            public_key: b64().encode(self.0.verifying_key().as_bytes()),
            signature: String::new(),
        };
        let signature = self.0.sign(checkpoint.signed_text().as_bytes());
        checkpoint.signature = b64().encode(signature.to_bytes());
        checkpoint
    }
}

impl TrustedKey {
    /// Reads the key to trust: an Ed25519 public key (SPKI PEM), or the private key itself
    /// (PKCS#8 PEM), whose public half is taken.
    pub fn load(path: &std::path::Path) -> Result<TrustedKey, String> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("the audit anchor key {}: {e}", path.display()))?;
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem) {
            return Ok(TrustedKey(key));
        }
        AnchorKey::load(path).map(|key| key.trusted())
    }

    /// Whether `checkpoint` was signed by this key, as it reads.
    pub fn verifies(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        if checkpoint.format != FORMAT {
            return Err(format!(
                "not a checkpoint of this gateway's format ({FORMAT}): {:?}",
                checkpoint.format
            ));
        }
        if checkpoint.public_key != b64().encode(self.0.as_bytes()) {
            return Err("signed with another key than the trusted anchor key".to_owned());
        }
        let bytes: [u8; 64] = b64()
            .decode(&checkpoint.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "its signature is not 64 bytes of base64".to_owned())?;
        self.0
            .verify(
                checkpoint.signed_text().as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&bytes),
            )
            .map_err(|_| "its signature does not verify: it was changed after signing".to_owned())
    }
}

impl Checkpoint {
    /// What the signature covers.
    pub fn signed_text(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.format,
            self.head_seq,
            self.head_hash,
            self.anchor_seq,
            self.anchor_hash,
            self.made_at
        )
    }
}

/// What the store holds now, as far as a checkpoint asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNow {
    pub head_seq: u64,
    pub anchor_seq: u64,
    pub anchor_hash: String,
    /// The hash of the record at the checkpoint's head, if it is kept.
    pub hash_at_checkpoint: Option<String>,
}

/// What the log now says against one verified checkpoint: each problem in words.
pub fn judge(checkpoint: &Checkpoint, now: &ChainNow, retention_on: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let seen = format!(
        "the checkpoint of {} saw record {}",
        checkpoint.made_at, checkpoint.head_seq
    );
    if now.head_seq < checkpoint.head_seq {
        problems.push(format!(
            "the log was truncated or its head rewound: it ends at record {}, and {seen}",
            now.head_seq
        ));
    } else if checkpoint.head_seq > now.anchor_seq {
        match &now.hash_at_checkpoint {
            None => problems.push(format!("record {} is missing; {seen}", checkpoint.head_seq)),
            Some(hash) if *hash != checkpoint.head_hash => problems.push(format!(
                "record {} is not the one the checkpoint signed: the log was changed and its chain recomputed; {seen}",
                checkpoint.head_seq
            )),
            Some(_) => {}
        }
    } else if now.anchor_seq == checkpoint.head_seq && now.anchor_hash != checkpoint.head_hash {
        problems.push(format!(
            "the records kept begin after a record {} that is not the one the checkpoint signed",
            checkpoint.head_seq
        ));
    }
    if now.anchor_seq < checkpoint.anchor_seq {
        problems.push(format!(
            "the log now begins at record {}, before where it began when the checkpoint was made (after record {}): its start was rewritten",
            now.anchor_seq + 1,
            checkpoint.anchor_seq
        ));
    }
    if now.anchor_seq > checkpoint.anchor_seq && !retention_on {
        problems.push(format!(
            "records {} to {} were deleted, though the audit log's retention is off",
            checkpoint.anchor_seq + 1,
            now.anchor_seq
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AnchorKey {
        AnchorKey::from_bytes(&[9; 32])
    }

    fn now(head: u64, anchor: u64, hash: Option<&str>) -> ChainNow {
        ChainNow {
            head_seq: head,
            anchor_seq: anchor,
            anchor_hash: "a".repeat(64),
            hash_at_checkpoint: hash.map(str::to_owned),
        }
    }

    #[test]
    fn a_checkpoint_verifies_until_anything_in_it_changes() {
        let at: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let checkpoint = key().sign((100, "h100"), (0, "0"), at);
        assert_eq!(key().trusted().verifies(&checkpoint), Ok(()));
        let mut moved = checkpoint.clone();
        moved.head_seq = 90;
        assert!(key().trusted().verifies(&moved).is_err());
        let other = AnchorKey::from_bytes(&[8; 32]);
        assert!(other.trusted().verifies(&checkpoint).is_err());
    }

    #[test]
    fn truncation_recomputation_and_a_rewritten_start_are_told() {
        let at: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let checkpoint = key().sign((100, "h100"), (0, "0"), at);
        assert!(judge(&checkpoint, &now(120, 0, Some("h100")), false).is_empty());
        assert!(judge(&checkpoint, &now(80, 0, None), false)[0].contains("truncated"));
        assert!(judge(&checkpoint, &now(120, 0, Some("x")), false)[0].contains("recomputed"));
        assert!(
            judge(&checkpoint, &now(120, 10, Some("h100")), false)[0].contains("retention is off")
        );
        assert!(judge(&checkpoint, &now(120, 10, Some("h100")), true).is_empty());
    }
}
