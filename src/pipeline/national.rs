//! The national platform's read of a person's plans (RIV-TA GetCarePlans 2): the same
//! disclosure decision and audit as any read of a case, the plans as the contract carries them
//! (`formats::riv`), and what the result tells the consumer of what was left out. Served by
//! `http::riv`; replayed by scenarios' `read` steps.

use serde_json::json;

use super::{Pipeline, ReceiveError};
use crate::auth::Caller;
use crate::changes::AuditEntry;
use crate::config::Directory;
use crate::domain::identifiers::HsaId;
use crate::domain::party::{Organisation, Party};
use crate::formats::fhir::careplan_id;
use crate::formats::riv::{self, CasePlans, ResultCode, RivResult};

/// What GetCarePlans answers.
#[derive(Debug, Clone, PartialEq)]
pub struct NationalRead {
    pub plans: Vec<riv::CarePlan>,
    pub result: RivResult,
}

/// The organisation directory as the plans' mapping asks it.
struct DirectoryParties<'a>(&'a Directory);

impl riv::Parties for DirectoryParties<'_> {
    fn name(&self, party: &Party) -> Option<String> {
        match party {
            Party::RegionUnit { hsa_id } => self.0.region_unit(hsa_id).map(|u| u.name.clone()),
            Party::Municipality { kommunkod, unit } => {
                let municipality = self.0.municipality(*kommunkod)?;
                match unit {
                    Some(unit) => municipality
                        .units
                        .iter()
                        .find(|u| u.hsa_id.as_ref() == Some(unit))
                        .map(|u| u.name.clone()),
                    None => Some(municipality.name.clone()),
                }
            }
        }
    }

    fn care_giver(&self, party: &Party) -> Option<HsaId> {
        match self.0.organisation_of(party)? {
            Organisation::Region { hsa_id } => Some(hsa_id),
            Organisation::Municipality { .. } => None,
        }
    }
}

impl Pipeline {
    /// GetCarePlans 2 answered for `consumer` (the consuming system's HSA-id), read as `caller`
    /// (the client registered for it) may read: the plans of the person's cases, filtered as
    /// `request` asks, and the result. Every case read is audited as any read is, and the
    /// disclosure once more under the `logId` the result carries. `producer`: the gateway's
    /// HSA-id as the plans' source system.
    pub async fn get_care_plans(
        &self,
        producer: &HsaId,
        caller: &Caller,
        consumer: &HsaId,
        request: &riv::GetCarePlans,
    ) -> Result<NationalRead, ReceiveError> {
        let reads = self
            .read_cases_of(
                &request.patient,
                &caller.organisation,
                &caller.client_id,
                "plans (GetCarePlans)",
            )
            .await?;
        let protected = reads.iter().any(|r| r.protected_identity());
        let parties = DirectoryParties(&self.directory);
        let mut plans = Vec::new();
        let mut withheld = 0usize;
        if !protected {
            for read in &reads {
                withheld += read.withheld_plans().len();
                let reference = read.reference();
                let document_id = |plan_id: &str, version: u32| {
                    format!(
                        "CarePlan/{}/_history/{version}",
                        careplan_id(reference, plan_id)
                    )
                };
                let case = CasePlans {
                    person: read.person(),
                    source_system: producer,
                    document_id: &document_id,
                    parties: &parties,
                };
                plans.extend(
                    case.plans(read.events().iter().map(|r| r.event()))
                        .into_iter()
                        .filter(|plan| riv::wanted(request, plan)),
                );
            }
        }
        let log_id = uuid::Uuid::new_v4().to_string();
        let (code, sub_code, message) = if protected {
            (
                ResultCode::Info,
                Some("PROTECTED_IDENTITY"),
                Some(
                    "The person has protected identity: plans are not disclosed through this service; ask the care giver responsible.",
                ),
            )
        } else if withheld > 0 {
            (
                ResultCode::Info,
                Some("BLOCKED_INFORMATION"),
                Some(
                    "Some plans are not disclosed to this consumer: the person has not consented to their disclosure, or has objected to it.",
                ),
            )
        } else {
            (ResultCode::Ok, None, None)
        };
        let result = RivResult {
            code,
            invalid_request: false,
            log_id: log_id.clone(),
            sub_code: sub_code.map(str::to_owned),
            message: message.map(str::to_owned),
        };
        self.committer
            .append_audit(
                None,
                &[AuditEntry {
                    actor: caller.client_id.clone(),
                    organisation: Some(caller.organisation.code()),
                    action: "disclose plans (GetCarePlans)".to_owned(),
                    person: Some(request.patient.clone()),
                    purpose: "samverkan vid utskrivning".to_owned(),
                    legal_basis: None,
                    details: json!({
                        "log_id": log_id,
                        "consumer": consumer.as_str(),
                        "plans": plans.len(),
                        "withheld": withheld,
                        "protected_identity": protected,
                    }),
                }],
                self.clock.now(),
            )
            .await?;
        Ok(NationalRead { plans, result })
    }
}
