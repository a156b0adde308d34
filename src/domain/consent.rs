//! The consent registry's entries: what a person agreed to (or objected to), for whom, for
//! which information, for how long — and when they withdrew it.
//!
//! A directive comes from a case event (`consent_recorded`), a FHIR `Consent` or the API. The
//! disclosure decision (`crate::decide`) reads these; it never reads consent from anywhere else.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::event::ConsentScope;
use super::party::{Organisation, Party, Principal};

/// Whether a directive allows or forbids what it covers.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Provision {
    /// Consent: what the directive covers may be done.
    #[default]
    Permit,
    /// Objection (opt-out, or "not to this organisation"): what it covers may not be done on
    /// the strength of consent. Duties that break secrecy are not affected.
    Deny,
}

/// The kinds of information a disclosure consent can be limited to. Each event belongs to one
/// (see `crate::decide::category`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InformationCategory {
    /// The steps of discharge planning: estimates, readiness, discharge, care contacts.
    DischargePlanning,
    /// Coordinated individual planning: invitations, answers, meetings, plans.
    Sip,
    /// Health information: what the next provider needs to know at discharge.
    Health,
    /// That the person is or was in psychiatric care.
    Psychiatric,
    /// Social services' decisions and placements.
    SocialServices,
    /// Substance-abuse care (LVM).
    SubstanceAbuse,
    /// Deviation reports and their answers.
    Deviations,
}

impl InformationCategory {
    pub const ALL: &'static [InformationCategory] = &[
        InformationCategory::DischargePlanning,
        InformationCategory::Sip,
        InformationCategory::Health,
        InformationCategory::Psychiatric,
        InformationCategory::SocialServices,
        InformationCategory::SubstanceAbuse,
        InformationCategory::Deviations,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            InformationCategory::DischargePlanning => "discharge_planning",
            InformationCategory::Sip => "sip",
            InformationCategory::Health => "health",
            InformationCategory::Psychiatric => "psychiatric",
            InformationCategory::SocialServices => "social_services",
            InformationCategory::SubstanceAbuse => "substance_abuse",
            InformationCategory::Deviations => "deviations",
        }
    }
}

/// Whom a directive names: a party the gateway knows, or a reference it could not resolve
/// (kept, shown, and matching no recipient).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ConsentActor {
    Party(Party),
    Unresolved { reference: String },
}

/// A disclosure's recipient: the party and the organisation it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recipient {
    pub party: Party,
    /// `None` for a region unit the directory does not know.
    pub organisation: Option<Organisation>,
}

impl Recipient {
    pub fn principal(&self) -> Principal {
        self.party.principal()
    }

    /// Whether a directive naming `actor` names this recipient: the same party, its whole
    /// municipality, or its whole region (by the region's HSA-id).
    fn named_by(&self, actor: &ConsentActor) -> bool {
        let ConsentActor::Party(named) = actor else {
            return false;
        };
        if named == &self.party {
            return true;
        }
        match (named, &self.organisation) {
            (
                Party::Municipality {
                    kommunkod,
                    unit: None,
                },
                Some(Organisation::Municipality { kommunkod: own }),
            ) => kommunkod == own,
            (Party::RegionUnit { hsa_id }, Some(Organisation::Region { hsa_id: region })) => {
                hsa_id == region
            }
            _ => false,
        }
    }
}

/// Whom a registry entry is about: a person by their identifier, or a FHIR patient reference
/// the gateway could not resolve to one (kept and shown, never matched against a case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentSubject {
    Person(super::identifiers::PersonId),
    Reference(String),
}

/// One entry of a person's consent registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDirective {
    /// Unique for the person (the case system's or the FHIR resource's id).
    pub id: String,
    pub scope: ConsentScope,
    #[serde(default)]
    pub provision: Provision,
    /// The principals it is limited to; empty for both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<Principal>,
    /// The organisations or units it is limited to; empty for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<ConsentActor>,
    /// The information it is limited to; empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<InformationCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    /// When the gateway recorded it; it applies from then (or `valid_from`, if later).
    pub recorded_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<Timestamp>,
    /// Where it came from: `case <case id>` or `fhir`.
    pub source: String,
    /// The organisation that recorded it: the client's for a FHIR consent; for one recorded
    /// in a case, the sender's (resolved from `recorded_by_party` by the directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<Organisation>,
    /// The party that recorded it in a case (the step's sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by_party: Option<Party>,
}

impl ConsentDirective {
    /// Whether it is in force at `at`: recorded, within its period, not withdrawn.
    pub fn in_force_at(&self, at: Timestamp) -> bool {
        let from = match self.valid_from {
            Some(from) if from > self.recorded_at => from,
            _ => self.recorded_at,
        };
        at >= from
            && self.valid_until.is_none_or(|until| at < until)
            && self.withdrawn_at.is_none_or(|withdrawn| at < withdrawn)
    }

    /// Whether it covers `recipient` and information of `category`.
    pub fn covers(&self, recipient: &Recipient, category: InformationCategory) -> bool {
        (self.principals.is_empty() || self.principals.contains(&recipient.principal()))
            && (self.recipients.is_empty() || self.recipients.iter().any(|a| recipient.named_by(a)))
            && (self.categories.is_empty() || self.categories.contains(&category))
    }
}

impl ConsentDirective {
    /// The directives a case's events record, with their withdrawals applied; `source` names
    /// the case.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a super::event::Event>,
        source: &str,
    ) -> Vec<ConsentDirective> {
        use super::event::EventKind;
        let mut directives: Vec<ConsentDirective> = Vec::new();
        for event in events {
            match &event.kind {
                EventKind::ConsentRecorded {
                    consent_id,
                    scope,
                    provision,
                    principals,
                    recipients,
                    categories,
                    valid_from,
                    valid_until,
                } => directives.push(ConsentDirective {
                    id: consent_id.clone(),
                    scope: *scope,
                    provision: *provision,
                    principals: principals.clone(),
                    recipients: recipients
                        .iter()
                        .cloned()
                        .map(ConsentActor::Party)
                        .collect(),
                    categories: categories.clone(),
                    valid_from: *valid_from,
                    valid_until: *valid_until,
                    recorded_at: event.occurred_at,
                    withdrawn_at: None,
                    source: source.to_owned(),
                    recorded_by: None,
                    recorded_by_party: event.source.sender.clone(),
                }),
                EventKind::ConsentWithdrawn { consent_id } => {
                    for directive in directives.iter_mut().filter(|d| &d.id == consent_id) {
                        directive.withdrawn_at.get_or_insert(event.occurred_at);
                    }
                }
                _ => {}
            }
        }
        directives
    }
}
