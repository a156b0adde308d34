//! `[riv]`: the national platform's contract (RIV-TA GetCarePlans 2), off unless the
//! gateway's HSA-id as a producer is set.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::identifiers::HsaId;

/// The producer of GetCarePlans 2 (`http::riv`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RivSettings {
    /// The gateway's HSA-id as a source system: the `LogicalAddress` consumers address it by,
    /// and every plan's `sourceSystemHSAId`. Unset: the contract is not served.
    pub hsa_id: Option<String>,
    /// The CA certificates (PEM) the consumers' client certificates are issued under — the
    /// national platform's trust anchors — relative to the settings file. The consumer is the
    /// client whose `hsa_id` the certificate's subject names (`serialNumber`, else `CN`).
    pub trust_anchors_file: Option<PathBuf>,
}

impl RivSettings {
    /// The producer's HSA-id, when the contract is served.
    pub fn producer(&self) -> Option<HsaId> {
        self.hsa_id.as_deref().and_then(|id| HsaId::parse(id).ok())
    }

    /// What is wrong with these settings, each as `riv.<key>: …`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(id) = &self.hsa_id else {
            if self.trust_anchors_file.is_some() {
                problems.push(
                    "riv.trust_anchors_file is set but riv.hsa_id is not: the contract is served only with the gateway's HSA-id".to_owned(),
                );
            }
            return problems;
        };
        if let Err(e) = HsaId::parse(id) {
            problems.push(format!("riv.hsa_id: {id:?} {e}"));
        }
        if self.trust_anchors_file.is_none() {
            problems.push(
                "riv.trust_anchors_file: required with riv.hsa_id (the CA certificates the consumers' client certificates are issued under)".to_owned(),
            );
        }
        problems
    }
}
