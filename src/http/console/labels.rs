//! The console's names for the process's things, in Swedish and English: each kind of step,
//! each clock, each reason a step is withheld, and the purposes a person may state for opening
//! a case.

use crate::domain::event::Deadline;

fn pick(lang: &str, (sv, en): (&'static str, &'static str)) -> &'static str {
    if lang == "en" { en } else { sv }
}

/// A step's kind (`EventKind::name`) as people call it.
pub fn step(lang: &str, kind: &str) -> &'static str {
    pick(
        lang,
        match kind {
            "admission_notice" => ("Inskrivningsmeddelande", "Admission notice"),
            "estimated_discharge_changed" => (
                "Beräknat utskrivningsdatum ändrat",
                "Estimated discharge date changed",
            ),
            "care_contact_appointed" => ("Fast vårdkontakt utsedd", "Care contact appointed"),
            "planning_started" => ("Planering påbörjad", "Planning started"),
            "ready_for_discharge" => ("Utskrivningsklar", "Ready for discharge"),
            "ready_for_discharge_revoked" => {
                ("Utskrivningsklar återtagen", "Ready for discharge revoked")
            }
            "sip_invitation" => ("Kallelse till SIP", "SIP invitation"),
            "sip_response" => ("Svar på kallelse till SIP", "Answer to a SIP invitation"),
            "sip_plan" => ("SIP-plan", "SIP plan"),
            "information_at_discharge" => {
                ("Information vid utskrivning", "Information at discharge")
            }
            "discharged" => ("Utskriven", "Discharged"),
            "case_cancelled" => ("Ärendet makulerat", "Case cancelled"),
            "consent_recorded" => ("Samtycke registrerat", "Consent recorded"),
            "consent_withdrawn" => ("Samtycke återkallat", "Consent withdrawn"),
            "lvm_report" => ("Anmälan enligt LVM", "LVM report"),
            "child_concern_report" => ("Orosanmälan om barn", "Child concern report"),
            "child_concern_feedback" => (
                "Återkoppling på orosanmälan",
                "Feedback on a child concern report",
            ),
            "lvm_decision" => ("Beslut enligt LVM", "LVM decision"),
            "lvm_transport_arranged" => ("Transport enligt LVM ordnad", "LVM transport arranged"),
            "lvm_certificate_requested" => {
                ("Läkarintyg enligt LVM begärt", "LVM certificate requested")
            }
            "lvm_certificate_issued" => {
                ("Läkarintyg enligt LVM utfärdat", "LVM certificate issued")
            }
            "placement" => ("Placering", "Placement"),
            "cost_split_agreed" => ("Kostnadsfördelning överenskommen", "Cost split agreed"),
            "deviation_raised" => ("Avvikelse upprättad", "Deviation raised"),
            "deviation_acknowledged" => ("Avvikelse kvitterad", "Deviation acknowledged"),
            "deviation_answered" => ("Avvikelse besvarad", "Deviation answered"),
            "deviation_reminder" => ("Påminnelse om avvikelse", "Deviation reminder"),
            "sip_meeting_held" => ("SIP-möte hållet", "SIP meeting held"),
            "services_decided" => ("Beslut om insatser", "Services decided"),
            "ready_to_receive" => ("Redo att ta emot", "Ready to receive"),
            "message_acknowledged" => ("Meddelande kvitterat", "Message acknowledged"),
            "deadline_missed" => ("Tidsfrist överskriden", "Deadline missed"),
            _ => ("Händelse", "Step"),
        },
    )
}

/// Where a case stands, as people say it.
pub fn phase(lang: &str, phase: crate::domain::case::Phase) -> &'static str {
    use crate::domain::case::Phase;
    pick(
        lang,
        match phase {
            Phase::New => ("nytt", "new"),
            Phase::Inpatient => ("inskriven i slutenvård", "inpatient"),
            Phase::ReadyForDischarge => ("utskrivningsklar", "ready for discharge"),
            Phase::Discharged => ("utskriven", "discharged"),
            Phase::Outpatient => ("öppen vård", "outpatient"),
            Phase::Cancelled => ("makulerat", "cancelled"),
        },
    )
}

/// A clock as people call it.
pub fn deadline(lang: &str, deadline: Deadline) -> &'static str {
    pick(
        lang,
        match deadline {
            Deadline::AdmissionNotice => (
                "Inskrivningsmeddelande inom 24 timmar",
                "Admission notice within 24 hours",
            ),
            Deadline::SipInvitation => (
                "Kallelse till SIP inom tre dagar",
                "SIP invitation within three days",
            ),
            Deadline::InformationAtDischarge => (
                "Information senast vid utskrivning",
                "Information by discharge",
            ),
            Deadline::PaymentResponsibility => {
                ("Betalningsansvar inträder", "Payment responsibility begins")
            }
            Deadline::DeviationAnswer => ("Svar på avvikelse", "Answer to a deviation"),
            Deadline::SipAttendance => (
                "Bekräftelse av deltagare i SIP-möte",
                "Confirmation of who attends the SIP meeting",
            ),
            Deadline::PlanFollowUp => ("Uppföljning av plan", "Plan follow-up"),
            Deadline::LvmHold => ("Kvarhållande enligt LVM", "LVM hold"),
            Deadline::Agreement => ("Enligt överenskommelse", "By agreement"),
        },
    )
}

/// Why a step was withheld from a recipient (the denial's kind), in Swedish; in English the
/// decision's own explanation is shown beside it.
pub fn withheld(lang: &str, reason: &str) -> &'static str {
    pick(
        lang,
        match reason {
            "no_sip_consent" => (
                "samtycke till SIP saknas för mottagaren",
                "no consent to SIP covers the recipient",
            ),
            "no_consent" => (
                "samtycke eller registrerat lagstöd saknas",
                "no consent or recorded legal basis",
            ),
            "consent_withdrawn" => ("samtycket är återkallat", "the consent was withdrawn"),
            "objection" => (
                "personen har motsatt sig utlämnandet",
                "the person objected to the disclosure",
            ),
            "not_the_addressee" => (
                "en anmälan går bara till den kommun den är ställd till",
                "a report goes only to the municipality it is addressed to",
            ),
            "not_the_disclosers_consent" => (
                "samtycket registrerades av en annan organisation än den som lämnar ut",
                "the consent was recorded by another organisation than the discloser",
            ),
            _ => ("utlämnandet nekades", "the disclosure was denied"),
        },
    )
}

/// The purposes a person may state for opening a case: `(key, Swedish, English)`. The audit
/// record carries the Swedish text.
pub const PURPOSES: &[(&str, &str, &str)] = &[
    (
        "planning",
        "samordnad planering inför utskrivning",
        "coordinated planning for discharge",
    ),
    (
        "deviation",
        "utredning av avvikelse",
        "investigating a deviation",
    ),
    (
        "follow-up",
        "uppföljning av tidsfrister",
        "following up deadlines",
    ),
    (
        "delivery",
        "felsökning av leverans",
        "troubleshooting a delivery",
    ),
];

/// The purpose stated by its key: its text in `lang` and the audit's (Swedish) text.
pub fn purpose(lang: &str, key: &str) -> Option<(&'static str, &'static str)> {
    PURPOSES
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, sv, en)| (if lang == "en" { *en } else { *sv }, *sv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_and_clock_has_a_name_in_both_languages() {
        for kind in crate::domain::event::EventKind::NAMES {
            assert_ne!(step("sv", kind), "Händelse", "{kind}");
            assert_ne!(step("en", kind), "Step", "{kind}");
        }
        for clock in Deadline::ALL {
            assert_ne!(deadline("sv", *clock), deadline("en", *clock));
        }
        assert_eq!(
            purpose("en", "deviation").unwrap().1,
            "utredning av avvikelse"
        );
        assert!(purpose("sv", "curiosity").is_none());
    }
}
