//! Who receives a step beyond the parties it names. A municipality often invites "the
//! region" to a SIP without knowing which unit will come: such an invitation goes to the
//! region's units involved with the person (psychiatry, primary care), and the region answers
//! which function attends. Pure: the caller finds the units involved.

use std::collections::BTreeSet;

use crate::config::{Directory, RegionUnitKind};
use crate::domain::event::{Event, EventKind};
use crate::domain::identifiers::HsaId;
use crate::domain::party::Party;

/// The unit kinds an invitation to a region as a whole is routed to.
const SIP_UNIT_KINDS: &[RegionUnitKind] = &[
    RegionUnitKind::PsychiatricOutpatientClinic,
    RegionUnitKind::PsychiatricInpatientWard,
    RegionUnitKind::PrimaryCare,
];

/// The recipients of a SIP invitation: each invited party, except that a region invited as a
/// whole (by its care-provider HSA-id) becomes the region's psychiatry and primary-care units
/// among `involved` (the region units in the person's cases), or stays the region when none
/// is known. Empty for other events.
pub fn invitation_recipients(
    event: &Event,
    involved: &BTreeSet<HsaId>,
    directory: &Directory,
) -> Vec<Party> {
    let EventKind::SipInvitation { invited, .. } = &event.kind else {
        return Vec::new();
    };
    let mut recipients = Vec::new();
    for function in invited {
        let region = match &function.party {
            Party::RegionUnit { hsa_id } => directory.region(hsa_id),
            Party::Municipality { .. } => None,
        };
        let Some(region) = region else {
            recipients.push(function.party.clone());
            continue;
        };
        let units: Vec<Party> = region
            .units
            .iter()
            .filter(|u| involved.contains(&u.hsa_id) && SIP_UNIT_KINDS.contains(&u.kind))
            .map(|u| Party::RegionUnit {
                hsa_id: u.hsa_id.clone(),
            })
            .collect();
        if units.is_empty() {
            recipients.push(function.party.clone());
        } else {
            recipients.extend(units);
        }
    }
    recipients.sort();
    recipients.dedup();
    recipients
}
