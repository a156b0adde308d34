//! What a step about to be recorded warns its sender of: the step is recorded all the same,
//! and the receipt says what the agreements or the law would have it carry or do otherwise
//! (an invitation without consent to SIP, ready for discharge during an LVM hold, an
//! examination asked past primary care, a sparse LVM report, a placement the case lacks).

use crate::config::Directory;
use crate::domain::case::CoordinationCase;
use crate::domain::event::EventKind;
use crate::domain::party::Party;
use crate::formats::canonical::CanonicalMessage;
use crate::formats::{cosmic_link, municipal};
use crate::store::registry_with;

use super::receive::Pipeline;

impl Pipeline {
    /// A ready-for-discharge notice while an LVM decision holds the person in hospital.
    pub(super) fn hold_warnings(
        message: &CanonicalMessage,
        case: &CoordinationCase,
    ) -> Vec<String> {
        if !matches!(message.event.kind, EventKind::ReadyForDischarge { .. })
            || case.state().lvm_holds.is_empty()
        {
            return Vec::new();
        }
        // Each hold with when its decision came, so the sender sees how long it has held.
        let holds: Vec<String> = case
            .state()
            .lvm_holds
            .iter()
            .map(|id| match case.lvm_decision(id).map(|e| e.occurred_at) {
                Some(at) => format!(
                    "{id}, holding since {}",
                    at.to_zoned_datetime(crate::domain::time::stockholm())
                        .strftime("%Y-%m-%d %H:%M")
                ),
                None => id.clone(),
            })
            .collect();
        vec![format!(
            "an LVM decision ({}) holds the person in hospital until transport to the LVM home \
             is arranged: ready for discharge is recorded, but the person may not leave before",
            holds.join("; ")
        )]
    }

    /// A request for a medical examination under 9 § LVM sent past primary care: the county
    /// agreements ask the primary-care centre first. Recorded all the same, with a warning.
    pub(super) fn certificate_warnings(
        message: &CanonicalMessage,
        directory: &Directory,
    ) -> Vec<String> {
        let EventKind::LvmCertificateRequested {
            to: Party::RegionUnit { hsa_id },
            ..
        } = &message.event.kind
        else {
            return Vec::new();
        };
        match directory.region_unit(hsa_id) {
            Some(unit) if unit.kind != crate::config::RegionUnitKind::PrimaryCare => vec![format!(
                "the agreements ask primary care first for a medical examination under 9 § LVM; \
                 {} ({hsa_id}) is not a primary-care unit",
                unit.name
            )],
            _ => Vec::new(),
        }
    }

    /// An invitation to a SIP without the person's consent to SIP, named where the sender
    /// would name it in its own format.
    pub(super) fn consent_warnings(
        &self,
        message: &CanonicalMessage,
        case: &CoordinationCase,
        stored: &[crate::domain::consent::ConsentDirective],
        now: jiff::Timestamp,
    ) -> Vec<String> {
        let EventKind::SipInvitation {
            consent_reference: None,
            ..
        } = &message.event.kind
        else {
            return Vec::new();
        };
        let consented = registry_with(case, stored.to_vec()).iter().any(|c| {
            c.scope == crate::domain::event::ConsentScope::Sip
                && c.provision == crate::domain::consent::Provision::Permit
                && c.in_force_at(now)
        });
        if consented {
            return Vec::new();
        }
        let format = message.event.source.format.as_str();
        let element = match format {
            cosmic_link::FORMAT => "KallelseSip/SamtyckeReferens".to_owned(),
            crate::formats::fhir::FORMAT => "Task.input (consent-reference)".to_owned(),
            _ => format
                .strip_prefix(municipal::FORMAT_PREFIX)
                .and_then(|name| self.mappings.municipal.get(name))
                .and_then(|d| d.xml_for("sip_invitation", "event.consent_reference"))
                .unwrap_or_else(|| "event.consent_reference".to_owned()),
        };
        vec![format!(
            "{element}: no consent to SIP is recorded in the case and the invitation names none; SIP needs the person's consent"
        )]
    }

    /// A 6 § LVM report that does not say what the person misuses or on which ground of 4 §
    /// LVM care is needed: social services cannot act on it (the municipalities' letter:
    /// reports too sparse to act on). Recorded, with a warning naming what is missing.
    pub(super) fn lvm_report_warnings(message: &CanonicalMessage) -> Vec<String> {
        let EventKind::LvmReport {
            substances,
            grounds,
            ..
        } = &message.event.kind
        else {
            return Vec::new();
        };
        let mut missing = Vec::new();
        if substances.is_empty() {
            missing.push("what the person misuses (substances)");
        }
        if grounds.is_empty() {
            missing.push("the grounds of 4 § LVM the physician finds (grounds)");
        }
        if missing.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "the 6 § LVM report does not say {}; social services need it to act on the report",
            missing.join(" or ")
        )]
    }

    /// A services decision without its date: recorded (the law asks the decision to be
    /// documented, not that its date travel with it), with a warning, since the follow-up
    /// counts from it.
    pub(super) fn decision_warnings(message: &CanonicalMessage) -> Vec<String> {
        match &message.event.kind {
            EventKind::ServicesDecided {
                decided_on: None, ..
            } => vec![
                "the services decision gives no decision date; it is recorded as decided when the message was sent"
                    .to_owned(),
            ],
            _ => Vec::new(),
        }
    }

    /// A SIP invitation naming a placement the case does not hold: the invitation is
    /// recorded, but its meeting meets no placement's SIP clock.
    pub(super) fn placement_warnings(
        message: &CanonicalMessage,
        case: &CoordinationCase,
    ) -> Vec<String> {
        let EventKind::SipInvitation {
            placement_id: Some(placement),
            ..
        } = &message.event.kind
        else {
            return Vec::new();
        };
        let known = case.events().iter().any(|e| {
            matches!(&e.kind, EventKind::Placement { placement_id, .. } if placement_id == placement)
        });
        if known {
            return Vec::new();
        }
        vec![format!(
            "the invitation names placement {placement}, which the case does not hold: its \
             meeting will not meet a placement's SIP clock"
        )]
    }
}
