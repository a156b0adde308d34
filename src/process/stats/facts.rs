//! What the statistics need of one case, and nothing more: its events' times, the steps that
//! count (each with its units resolved and its references to earlier steps looked up), and the
//! person as a keyed number. Small enough that a gateway keeps every case's facts in memory
//! (`pipeline::projection`), so that a period's figures are counted without reading a case.
//! Holds no personal data: no personnummer, no names, no free text.

use std::collections::HashMap;
use std::hash::BuildHasher;

use jiff::Timestamp;

use super::Unit;
use crate::domain::case::CoordinationCase;
use crate::domain::event::{Deadline, DeviationCause, EventKind, SipAnswer};
use crate::domain::identifiers::PersonId;
use crate::domain::party::{Party, Principal};

/// A unit as a number of its [`Units`].
pub type UnitId = u32;

/// The units the facts name, each once: facts hold their numbers.
#[derive(Debug, Default, Clone)]
pub struct Units {
    units: Vec<Unit>,
    numbers: HashMap<Unit, UnitId>,
}

impl Units {
    /// The number of `unit`, given one when it is new.
    pub fn id(&mut self, unit: Unit) -> UnitId {
        if let Some(id) = self.numbers.get(&unit) {
            return *id;
        }
        let id = self.units.len() as UnitId;
        self.units.push(unit.clone());
        self.numbers.insert(unit, id);
        id
    }

    /// The unit numbered `id`.
    pub fn unit(&self, id: UnitId) -> &Unit {
        &self.units[id as usize]
    }

    /// How many units there are (the numbers are `0..len`).
    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    fn party(&mut self, party: &Party) -> UnitId {
        self.id(super::party_unit(party))
    }
}

/// A person as a number: a keyed hash of the identifier, the same for all the person's cases
/// under one key (readmissions join on it), meaningless without the key, which is never stored.
#[derive(Debug, Clone, Default)]
pub struct PersonKeys(std::collections::hash_map::RandomState);

impl PersonKeys {
    pub fn key(&self, person: &PersonId) -> u64 {
        self.0.hash_one(person)
    }
}

/// How a SIP invitation was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    Declined,
    OtherTime,
}

/// A step that counts in the statistics, with what counting it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    AdmissionNotice {
        admitted_at: Timestamp,
    },
    ReadyForDischarge {
        decided_at: Timestamp,
    },
    ReadyForDischargeRevoked,
    Discharged {
        discharged_at: Timestamp,
    },
    SipInvitation {
        from: UnitId,
    },
    SipResponse {
        responder: UnitId,
        answer: Answer,
    },
    SipMeetingHeld {
        /// Who sent the invitation the meeting was held for.
        inviter: Option<UnitId>,
        /// The units that came, each once, in order.
        attending: Box<[UnitId]>,
        person_participated: bool,
    },
    SipPlan {
        sender: Option<UnitId>,
    },
    DeviationRaised {
        addressed_to: UnitId,
        cause: DeviationCause,
    },
    DeviationAnswered {
        /// When the deviation answered was raised, and to whom (when it was raised before).
        raised: Option<(Timestamp, UnitId)>,
    },
    DeviationReminder {
        addressed_to: UnitId,
        escalated: bool,
    },
    DeadlineMissed {
        deadline: Deadline,
        due_at: Timestamp,
        party: Option<UnitId>,
    },
    Placement {
        by: UnitId,
        emergency: bool,
        hvb: bool,
    },
    LvmTransportArranged {
        /// When the LVM decision was made, and by whom.
        decided: Option<(Timestamp, UnitId)>,
    },
}

/// One case's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFacts {
    pub person: u64,
    /// The ward of the first admission notice.
    pub ward: Option<UnitId>,
    pub municipalities: Box<[UnitId]>,
    pub region_units: Box<[UnitId]>,
    pub discharged_at: Option<Timestamp>,
    /// Whether the case has a SIP plan (for readmissions after it).
    pub planned: bool,
    /// Whether the admission notice's deadline was missed.
    pub admission_late: bool,
    /// Every event's time, sorted.
    times: Box<[Timestamp]>,
    /// The steps that count, in the case's order, each with when it happened.
    pub facts: Box<[(Timestamp, Fact)]>,
}

impl CaseFacts {
    /// The facts of `case`, its units numbered in `units`, its person keyed by `keys`.
    pub fn of(case: &CoordinationCase, units: &mut Units, keys: &PersonKeys) -> CaseFacts {
        let events = case.events();
        let ward = events.iter().find_map(|e| match &e.kind {
            EventKind::AdmissionNotice { ward, .. } => Some(Unit {
                principal: Principal::Region,
                unit: ward.to_string(),
            }),
            _ => None,
        });
        let mut raised: HashMap<&str, (Timestamp, UnitId)> = HashMap::new();
        let mut facts = Vec::new();
        for event in events {
            let fact = match &event.kind {
                EventKind::AdmissionNotice { admitted_at, .. } => Fact::AdmissionNotice {
                    admitted_at: *admitted_at,
                },
                EventKind::ReadyForDischarge { decided_at, .. } => Fact::ReadyForDischarge {
                    decided_at: *decided_at,
                },
                EventKind::ReadyForDischargeRevoked { .. } => Fact::ReadyForDischargeRevoked,
                EventKind::Discharged { discharged_at } => Fact::Discharged {
                    discharged_at: *discharged_at,
                },
                EventKind::SipInvitation { from, .. } => Fact::SipInvitation {
                    from: units.party(from),
                },
                EventKind::SipResponse {
                    responder, answer, ..
                } => Fact::SipResponse {
                    responder: units.party(responder),
                    answer: match answer {
                        SipAnswer::Accepted => Answer::Accepted,
                        SipAnswer::Declined { .. } => Answer::Declined,
                        SipAnswer::ProposedOtherTime { .. } => Answer::OtherTime,
                    },
                },
                EventKind::SipMeetingHeld {
                    invitation_id,
                    attendees,
                    person_participated,
                    ..
                } => {
                    let inviter = events.iter().find_map(|e| match &e.kind {
                        EventKind::SipInvitation {
                            invitation_id: id,
                            from,
                            ..
                        } if id == invitation_id => Some(from),
                        _ => None,
                    });
                    let mut attending: Vec<Unit> = attendees
                        .iter()
                        .map(|a| super::party_unit(&a.party))
                        .collect();
                    attending.sort();
                    attending.dedup();
                    Fact::SipMeetingHeld {
                        inviter: inviter.map(|party| units.party(party)),
                        attending: attending.into_iter().map(|u| units.id(u)).collect(),
                        person_participated: *person_participated,
                    }
                }
                EventKind::SipPlan { .. } => Fact::SipPlan {
                    sender: event.source.sender.as_ref().map(|p| units.party(p)),
                },
                EventKind::DeviationRaised {
                    deviation_id,
                    addressed_to,
                    cause,
                    ..
                } => {
                    let addressed_to = units.party(addressed_to);
                    raised.insert(deviation_id, (event.occurred_at, addressed_to));
                    Fact::DeviationRaised {
                        addressed_to,
                        cause: *cause,
                    }
                }
                EventKind::DeviationAnswered { deviation_id, .. } => Fact::DeviationAnswered {
                    raised: raised.get(deviation_id.as_str()).copied(),
                },
                EventKind::DeviationReminder {
                    addressed_to,
                    escalation,
                    ..
                } => Fact::DeviationReminder {
                    addressed_to: units.party(addressed_to),
                    escalated: escalation.is_some(),
                },
                EventKind::DeadlineMissed {
                    deadline,
                    due_at,
                    party,
                    ..
                } => Fact::DeadlineMissed {
                    deadline: *deadline,
                    due_at: *due_at,
                    party: party.as_ref().map(|p| units.party(p)),
                },
                EventKind::Placement {
                    placement_type,
                    emergency,
                    by,
                    ..
                } => Fact::Placement {
                    by: units.party(by),
                    emergency: *emergency,
                    hvb: placement_type.eq_ignore_ascii_case("HVB"),
                },
                EventKind::LvmTransportArranged { decision_id, .. } => {
                    let decided = case.lvm_decision(decision_id).and_then(|e| match &e.kind {
                        EventKind::LvmDecision { by, .. } => Some((e.occurred_at, by)),
                        _ => None,
                    });
                    Fact::LvmTransportArranged {
                        decided: decided.map(|(at, by)| (at, units.party(by))),
                    }
                }
                _ => continue,
            };
            facts.push((event.occurred_at, fact));
        }
        let mut times: Vec<Timestamp> = events.iter().map(|e| e.occurred_at).collect();
        times.sort_unstable();
        CaseFacts {
            person: keys.key(case.person()),
            ward: ward.map(|w| units.id(w)),
            municipalities: case
                .municipalities()
                .iter()
                .map(|k| {
                    units.id(Unit {
                        principal: Principal::Municipality,
                        unit: k.to_string(),
                    })
                })
                .collect(),
            region_units: case
                .region_units()
                .iter()
                .map(|h| {
                    units.id(Unit {
                        principal: Principal::Region,
                        unit: h.to_string(),
                    })
                })
                .collect(),
            discharged_at: case.state().discharged_at,
            planned: facts.iter().any(|(_, f)| matches!(f, Fact::SipPlan { .. })),
            admission_late: facts.iter().any(|(_, f)| {
                matches!(
                    f,
                    Fact::DeadlineMissed {
                        deadline: Deadline::AdmissionNotice,
                        ..
                    }
                )
            }),
            times: times.into(),
            facts: facts.into(),
        }
    }

    /// Whether any of the case's events happened in `[start, end)`.
    pub fn happened_between(&self, start: Timestamp, end: Timestamp) -> bool {
        let first = self.times.partition_point(|t| *t < start);
        self.times.get(first).is_some_and(|t| *t < end)
    }
}
