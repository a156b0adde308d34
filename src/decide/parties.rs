//! Whom a step goes to, and who takes part in a case: the parties an event names (or else
//! every party of its case), never its sender. No IO.

use crate::config::Directory;
use crate::domain::case::CoordinationCase;
use crate::domain::event::{Event, EventKind};
use crate::domain::party::{Organisation, Party};

/// The parties an event goes to: those it names (admission recipients, invited functions,
/// the deviation's addressee and contacts, a report's municipality), otherwise every party of
/// the case; never its sender. `routed_to` replaces the invited parties of an invitation the
/// gateway routed.
pub fn recipients(event: &Event, case: &CoordinationCase, routed_to: &[Party]) -> Vec<Party> {
    let mut parties: Vec<Party> = match &event.kind {
        EventKind::AdmissionNotice { recipients, .. } => recipients.clone(),
        EventKind::SipInvitation { invited, .. } if routed_to.is_empty() => {
            invited.iter().map(|f| f.party.clone()).collect()
        }
        EventKind::SipInvitation { .. } => routed_to.to_vec(),
        EventKind::DeviationRaised {
            addressed_to,
            notify,
            ..
        } => std::iter::once(addressed_to.clone())
            .chain(notify.iter().cloned())
            .collect(),
        EventKind::DeviationReminder {
            addressed_to,
            escalation,
            ..
        } => std::iter::once(addressed_to.clone())
            .chain(escalation.iter().flat_map(|e| e.to.iter().cloned()))
            .collect(),
        EventKind::ChildConcernFeedback { reporter, .. } => vec![reporter.clone()],
        EventKind::LvmCertificateRequested { to, .. }
        | EventKind::LvmCertificateIssued { to, .. } => vec![to.clone()],
        EventKind::LvmReport {
            to_municipality, ..
        }
        | EventKind::ChildConcernReport {
            to_municipality, ..
        } => vec![Party::Municipality {
            kommunkod: *to_municipality,
            unit: None,
        }],
        _ => case
            .region_units()
            .iter()
            .map(|hsa_id| Party::RegionUnit {
                hsa_id: hsa_id.clone(),
            })
            .chain(
                case.municipalities()
                    .iter()
                    .map(|&kommunkod| Party::Municipality {
                        kommunkod,
                        unit: None,
                    }),
            )
            .collect(),
    };
    if let Some(sender) = &event.source.sender {
        parties.retain(|p| p != sender && !same_municipality(p, sender));
    }
    parties.sort();
    parties.dedup();
    parties
}

/// A municipality does not send to itself, whichever of its units it names.
fn same_municipality(a: &Party, b: &Party) -> bool {
    matches!((a, b), (
        Party::Municipality { kommunkod: x, unit: None },
        Party::Municipality { kommunkod: y, .. },
    ) if x == y)
}

/// Whether `organisation` takes part in `case`: a municipality of the case, or the region of
/// one of its units.
pub fn participates(
    case: &CoordinationCase,
    organisation: &Organisation,
    directory: &Directory,
) -> bool {
    match organisation {
        Organisation::Municipality { kommunkod } => case.municipalities().contains(kommunkod),
        Organisation::Region { hsa_id } => case.region_units().iter().any(|unit| {
            unit == hsa_id
                || directory
                    .region_of(unit)
                    .is_some_and(|r| &r.hsa_id == hsa_id)
        }),
    }
}
