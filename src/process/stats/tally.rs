//! One case's figures in a period, per unit: its facts read in order, each group of steps
//! (discharge, SIP, deviations, deadlines) by a method of its own.

use super::facts::{Answer, CaseFacts, Fact, UnitId};
use super::*;

/// Discharges per person (by key), for readmissions: (discharged at, had a plan).
pub(super) type Discharges = HashMap<u64, Vec<(Timestamp, bool)>>;

pub(super) fn discharges(cases: &[&CaseFacts]) -> Discharges {
    let mut discharges: Discharges = HashMap::new();
    for case in cases {
        if let Some(at) = case.discharged_at {
            discharges
                .entry(case.person)
                .or_default()
                .push((at, case.planned));
        }
    }
    discharges
}

/// One case's figures in the period, per unit, as its facts are read in order (each unit
/// counts the cases its figures come from).
pub(super) struct Tally<'c> {
    case: &'c CaseFacts,
    start: Timestamp,
    end: Timestamp,
    rows: BTreeMap<UnitId, Figures>,
    ready_at: Option<Timestamp>,
    payment_from: Option<Timestamp>,
}

impl<'c> Tally<'c> {
    pub(super) fn new(case: &'c CaseFacts, start: Timestamp, end: Timestamp) -> Self {
        Tally {
            case,
            start,
            end,
            rows: BTreeMap::new(),
            ready_at: None,
            payment_from: None,
        }
    }

    fn unit(&mut self, unit: UnitId) -> &mut Figures {
        self.rows.entry(unit).or_default()
    }

    /// Adds to the ward's figures, when the case has a ward.
    fn ward(&mut self, add: impl FnOnce(&mut Figures)) {
        if let Some(ward) = self.case.ward {
            add(self.unit(ward));
        }
    }

    /// Adds to the figures of each municipality of the case.
    fn municipalities(&mut self, add: impl Fn(&mut Figures)) {
        for unit in self.case.municipalities.iter() {
            add(self.rows.entry(*unit).or_default());
        }
    }

    /// Reads one fact that happened at `at`; `here` says whether that is in the period.
    pub(super) fn read(&mut self, at: Timestamp, fact: &Fact, here: bool, d: &Discharges) {
        self.discharge(fact, here, d);
        self.sip(fact, here);
        self.deviation(at, fact, here);
        self.deadline(fact, here);
        self.placement(fact, here);
        self.lvm_hold(at, fact, here);
    }

    /// Admissions (and readmissions within 30 days), readiness for discharge, discharges and the
    /// payment responsibility they end.
    fn discharge(&mut self, fact: &Fact, here: bool, discharges: &Discharges) {
        match fact {
            Fact::AdmissionNotice { admitted_at } if here => {
                let late = self.case.admission_late;
                self.ward(|f| {
                    f.admission_notices += 1;
                    if !late {
                        f.admission_notices_on_time += 1;
                    }
                });
                let earlier = discharges
                    .get(&self.case.person)
                    .and_then(|list| {
                        list.iter()
                            .filter(|(at, _)| at < admitted_at && days(*at, *admitted_at) <= 30.0)
                            .max_by_key(|(at, _)| *at)
                    })
                    .copied();
                if let Some((_, planned)) = earlier {
                    let readmitted = |f: &mut Figures| {
                        f.readmissions_30_days += 1;
                        if !planned {
                            f.readmissions_without_plan += 1;
                        }
                    };
                    self.ward(readmitted);
                    self.municipalities(readmitted);
                }
            }
            Fact::ReadyForDischarge { decided_at } => {
                self.ready_at = Some(*decided_at);
                self.payment_from = None;
                if here {
                    self.ward(|f| f.ready_for_discharge += 1);
                }
            }
            Fact::ReadyForDischargeRevoked => {
                self.ready_at = None;
                self.payment_from = None;
            }
            Fact::Discharged { discharged_at } => {
                if here {
                    let waited = self.ready_at.map(|r| days(r, *discharged_at));
                    self.ward(|f| {
                        f.discharges += 1;
                        if let Some(waited) = waited {
                            f.waited(waited.max(0.0));
                        }
                    });
                }
                if let Some(paying) = self.payment_from.take() {
                    self.pay(paying, (*discharged_at).min(self.end));
                }
            }
            _ => {}
        }
    }

    /// Counts the days of payment responsibility from `paying` to `until`, within the period,
    /// for each municipality of the case.
    fn pay(&mut self, paying: Timestamp, until: Timestamp) {
        let from = paying.max(self.start);
        if until > from {
            let paid = days(from, until);
            self.municipalities(|f| f.payment_responsibility_days += paid);
        }
    }

    /// SIP invitations, answers, meetings held and plans.
    fn sip(&mut self, fact: &Fact, here: bool) {
        if !here {
            return;
        }
        match fact {
            Fact::SipInvitation { from } => self.unit(*from).sip_invitations += 1,
            Fact::SipResponse { responder, answer } => {
                let f = self.unit(*responder);
                match answer {
                    Answer::Accepted => f.sip_answers_accepted += 1,
                    Answer::Declined => f.sip_answers_declined += 1,
                    Answer::OtherTime => f.sip_answers_other_time += 1,
                }
            }
            Fact::SipMeetingHeld {
                inviter,
                attending,
                person_participated,
            } => {
                if let Some(inviter) = inviter {
                    let f = self.unit(*inviter);
                    f.sip_meetings_held += 1;
                    if *person_participated {
                        f.sip_meetings_person_participated += 1;
                    }
                }
                for unit in attending.iter() {
                    self.unit(*unit).sip_meetings_attended += 1;
                }
            }
            Fact::SipPlan {
                sender: Some(sender),
            } => self.unit(*sender).plans += 1,
            _ => {}
        }
    }

    /// Deviations raised, answered and reminded of.
    fn deviation(&mut self, at: Timestamp, fact: &Fact, here: bool) {
        if !here {
            return;
        }
        match fact {
            Fact::DeviationRaised {
                addressed_to,
                cause,
            } => {
                let f = self.unit(*addressed_to);
                f.deviations_raised += 1;
                match cause {
                    DeviationCause::AbsentFromMeeting => f.sip_meetings_absent += 1,
                    DeviationCause::AbsentByFunction => f.sip_functions_absent += 1,
                    DeviationCause::NotDelivered => f.steps_not_delivered += 1,
                    DeviationCause::PlanningMissing => f.planning_missing += 1,
                    _ => {}
                }
            }
            Fact::DeviationAnswered {
                raised: Some((raised_at, unit)),
            } => {
                let f = self.unit(*unit);
                f.deviations_answered += 1;
                f.deviation_answer_sum += days(*raised_at, at).max(0.0);
            }
            Fact::DeviationReminder {
                addressed_to,
                escalated,
            } => {
                let f = self.unit(*addressed_to);
                f.deviation_reminders += 1;
                f.deviations_escalated += u64::from(*escalated);
            }
            _ => {}
        }
    }

    /// Missed deadlines, by the party that missed them or the ward; a missed payment deadline
    /// starts the municipality's payment responsibility.
    fn deadline(&mut self, fact: &Fact, here: bool) {
        let Fact::DeadlineMissed {
            deadline,
            due_at,
            party,
        } = fact
        else {
            return;
        };
        if *deadline == Deadline::PaymentResponsibility {
            self.payment_from = Some(*due_at);
        }
        if !here {
            return;
        }
        match party {
            Some(party) => {
                let f = self.unit(*party);
                f.deadlines_missed += 1;
                if *deadline == Deadline::SipAttendance {
                    f.sip_attendance_unconfirmed += 1;
                }
            }
            None => self.ward(|f| {
                f.deadlines_missed += 1;
                match deadline {
                    Deadline::SipInvitation => f.sip_invitations_late += 1,
                    Deadline::InformationAtDischarge => f.information_at_discharge_late += 1,
                    Deadline::LvmHold => f.discharged_during_lvm_hold += 1,
                    _ => {}
                }
            }),
        }
    }

    /// A placement counts for the municipality that made it.
    fn placement(&mut self, fact: &Fact, here: bool) {
        if let (true, Fact::Placement { by, emergency, hvb }) = (here, fact) {
            let f = self.unit(*by);
            f.placements += 1;
            f.placements_emergency += u64::from(*emergency);
            f.placements_hvb += u64::from(*hvb);
        }
    }

    /// An LVM hold ended by its transport: for the municipality that decided, the days the
    /// hospital held the person from the decision.
    fn lvm_hold(&mut self, at: Timestamp, fact: &Fact, here: bool) {
        if let (
            true,
            Fact::LvmTransportArranged {
                decided: Some((decided_at, by)),
            },
        ) = (here, fact)
        {
            let f = self.unit(*by);
            f.lvm_holds_ended += 1;
            f.lvm_hold_sum += days(*decided_at, at).max(0.0);
        }
    }

    /// The figures, with the payment responsibility of a person still in hospital at the
    /// period's end counted up to the end.
    pub(super) fn finish(mut self) -> BTreeMap<UnitId, Figures> {
        if let Some(paying) = self.payment_from.take() {
            self.pay(paying, self.end);
        }
        self.rows
    }
}
