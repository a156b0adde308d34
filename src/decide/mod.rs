//! The disclosure decision: may this event go to this recipient, on what basis, and with what
//! removed? One pure function, `decide`, answers for every outbound delivery and every read.
//!
//! The rules, one per kind of information (DESIGN.md sections 1 and 5):
//!
//! | information | without consent | with consent |
//! |---|---|---|
//! | admission notice, estimated discharge | the statutory minimum: name, personnummer, registered address, estimated discharge (not that the care is psychiatric) | in full |
//! | readiness, planning started, care contact, discharge | permitted (the law's duty to inform) | — |
//! | SIP invitation, answer, meeting, plan | denied: SIP needs the person's consent to SIP | permitted |
//! | information at discharge | denied, unless the event records a legal basis | permitted (disclosure consent for health information) |
//! | services decided, placements | denied | permitted (disclosure consent for social-services information) |
//!
//! Information that needs disclosure consent goes without it to the units of the organisation
//! it comes from (the region's own outpatient care, with a care relationship): that is not a
//! disclosure to the other principal. SIP always needs the person's consent.
//! | 6 § LVM report, report of concern for a child | permitted to the municipality it is addressed to, on the recorded legal basis; denied to anyone else | — |
//! | deviations, deadlines, acknowledgements, consent events | permitted (the principals' follow-up) | — |
//!
//! Across all of them: a person with protected identity never has an address disclosed and is
//! flagged to every recipient; a withdrawn consent stops counting at the moment of withdrawal;
//! an objection (a `deny` directive) covering the recipient defeats consent, never a duty.
//!
//! A `Disclosure` can only be made here, and only a `Disclosure` turns an event into a
//! `Released` one (`Disclosure::release`) — which is all the outbox and the read API accept.
//!
//! The decide stage is this module, and it does no IO: `decision` (the rules), `route` (every
//! recipient of a step's new events decided, and what is released turned into outbox rows and
//! audit records), `invitations` (the units an invitation of a whole region goes to) and
//! `parties` (whom a step goes to, and who takes part in a case).

mod decision;
pub mod invitations;
pub mod parties;
pub mod route;

pub use decision::*;
