//! One case's figures in a period, per unit: its events read in order, each group of steps
//! (discharge, SIP, deviations, deadlines) by a method of its own.

use super::*;

/// Discharges per person, for readmissions: (discharged at, had a plan).
pub(super) type Discharges<'c> = HashMap<&'c PersonId, Vec<(Timestamp, bool)>>;

pub(super) fn discharges(cases: &[CoordinationCase]) -> Discharges<'_> {
    let mut discharges: Discharges<'_> = HashMap::new();
    for case in cases {
        if let Some(at) = case.state().discharged_at {
            let planned = case
                .events()
                .iter()
                .any(|e| matches!(e.kind, EventKind::SipPlan { .. }));
            discharges
                .entry(case.person())
                .or_default()
                .push((at, planned));
        }
    }
    discharges
}

/// One case's figures in the period, per unit, as its events are read in order (each unit
/// counts the cases its figures come from).
pub(super) struct Tally<'c> {
    case: &'c CoordinationCase,
    start: Timestamp,
    end: Timestamp,
    ward: Option<Unit>,
    municipalities: Vec<Unit>,
    rows: BTreeMap<Unit, Figures>,
    ready_at: Option<Timestamp>,
    payment_from: Option<Timestamp>,
    /// Deviation id → (raised at, addressed unit).
    raised: HashMap<&'c str, (Timestamp, Unit)>,
}

impl<'c> Tally<'c> {
    pub(super) fn new(case: &'c CoordinationCase, start: Timestamp, end: Timestamp) -> Self {
        let ward = case.events().iter().find_map(|e| match &e.kind {
            EventKind::AdmissionNotice { ward, .. } => Some(Unit {
                principal: Principal::Region,
                unit: ward.to_string(),
            }),
            _ => None,
        });
        let municipalities = case
            .municipalities()
            .iter()
            .map(|k| Unit {
                principal: Principal::Municipality,
                unit: k.to_string(),
            })
            .collect();
        Tally {
            case,
            start,
            end,
            ward,
            municipalities,
            rows: BTreeMap::new(),
            ready_at: None,
            payment_from: None,
            raised: HashMap::new(),
        }
    }

    /// Admissions (and readmissions within 30 days), readiness for discharge, discharges and the
    /// payment responsibility they end.
    pub(super) fn discharge(&mut self, event: &'c Event, here: bool, discharges: &Discharges<'c>) {
        match &event.kind {
            EventKind::AdmissionNotice { admitted_at, .. } if here => {
                let late = self.case.events().iter().any(|e| {
                    matches!(
                        e.kind,
                        EventKind::DeadlineMissed {
                            deadline: Deadline::AdmissionNotice,
                            ..
                        }
                    )
                });
                bump(&mut self.rows, self.ward.as_ref(), |f| {
                    f.admission_notices += 1;
                    if !late {
                        f.admission_notices_on_time += 1;
                    }
                });
                let earlier = discharges
                    .get(self.case.person())
                    .and_then(|list| {
                        list.iter()
                            .filter(|(at, _)| at < admitted_at && days(*at, *admitted_at) <= 30.0)
                            .max_by_key(|(at, _)| *at)
                    })
                    .copied();
                if let Some((_, planned)) = earlier {
                    bump(&mut self.rows, self.ward.as_ref(), |f| {
                        f.readmissions_30_days += 1;
                        if !planned {
                            f.readmissions_without_plan += 1;
                        }
                    });
                    for unit in &self.municipalities {
                        let f = self.rows.entry(unit.clone()).or_default();
                        f.readmissions_30_days += 1;
                        if !planned {
                            f.readmissions_without_plan += 1;
                        }
                    }
                }
            }
            EventKind::ReadyForDischarge { decided_at, .. } => {
                self.ready_at = Some(*decided_at);
                self.payment_from = None;
                if here {
                    bump(&mut self.rows, self.ward.as_ref(), |f| {
                        f.ready_for_discharge += 1
                    });
                }
            }
            EventKind::ReadyForDischargeRevoked { .. } => {
                self.ready_at = None;
                self.payment_from = None;
            }
            EventKind::Discharged { discharged_at } => {
                if here {
                    let waited = self.ready_at.map(|r| days(r, *discharged_at));
                    bump(&mut self.rows, self.ward.as_ref(), |f| {
                        f.discharges += 1;
                        if let Some(waited) = waited {
                            f.waited(waited.max(0.0));
                        }
                    });
                }
                if let Some(paying) = self.payment_from.take() {
                    let (a, b) = (paying.max(self.start), (*discharged_at).min(self.end));
                    if b > a {
                        for unit in &self.municipalities {
                            self.rows
                                .entry(unit.clone())
                                .or_default()
                                .payment_responsibility_days += days(a, b);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// SIP invitations, answers, meetings held and plans.
    pub(super) fn sip(&mut self, event: &'c Event, here: bool) {
        match &event.kind {
            EventKind::SipInvitation { from, .. } if here => {
                self.rows
                    .entry(party_unit(from))
                    .or_default()
                    .sip_invitations += 1;
            }
            EventKind::SipResponse {
                responder, answer, ..
            } if here => {
                let f = self.rows.entry(party_unit(responder)).or_default();
                match answer {
                    SipAnswer::Accepted => f.sip_answers_accepted += 1,
                    SipAnswer::Declined { .. } => f.sip_answers_declined += 1,
                    SipAnswer::ProposedOtherTime { .. } => f.sip_answers_other_time += 1,
                }
            }
            EventKind::SipMeetingHeld {
                invitation_id,
                attendees,
                person_participated,
                ..
            } if here => {
                let inviter = self.case.events().iter().find_map(|e| match &e.kind {
                    EventKind::SipInvitation {
                        invitation_id: id,
                        from,
                        ..
                    } if id == invitation_id => Some(party_unit(from)),
                    _ => None,
                });
                bump(&mut self.rows, inviter.as_ref(), |f| {
                    f.sip_meetings_held += 1;
                    if *person_participated {
                        f.sip_meetings_person_participated += 1;
                    }
                });
                let mut attending: Vec<Unit> =
                    attendees.iter().map(|a| party_unit(&a.party)).collect();
                attending.sort();
                attending.dedup();
                for unit in attending {
                    self.rows.entry(unit).or_default().sip_meetings_attended += 1;
                }
            }
            EventKind::SipPlan { .. } if here => {
                if let Some(sender) = &event.source.sender {
                    self.rows.entry(party_unit(sender)).or_default().plans += 1;
                }
            }
            _ => {}
        }
    }

    /// Deviations raised, answered and reminded of.
    pub(super) fn deviation(&mut self, event: &'c Event, here: bool) {
        match &event.kind {
            EventKind::DeviationRaised {
                deviation_id,
                addressed_to,
                cause,
                ..
            } => {
                let unit = party_unit(addressed_to);
                if here {
                    let f = self.rows.entry(unit.clone()).or_default();
                    f.deviations_raised += 1;
                    match cause {
                        DeviationCause::AbsentFromMeeting => f.sip_meetings_absent += 1,
                        DeviationCause::AbsentByFunction => f.sip_functions_absent += 1,
                        DeviationCause::NotDelivered => f.steps_not_delivered += 1,
                        DeviationCause::PlanningMissing => f.planning_missing += 1,
                        _ => {}
                    }
                }
                self.raised.insert(deviation_id, (event.occurred_at, unit));
            }
            EventKind::DeviationAnswered { deviation_id, .. } if here => {
                if let Some((at, unit)) = self.raised.get(deviation_id.as_str()) {
                    let f = self.rows.entry(unit.clone()).or_default();
                    f.deviations_answered += 1;
                    f.deviation_answer_sum += days(*at, event.occurred_at).max(0.0);
                }
            }
            EventKind::DeviationReminder {
                addressed_to,
                escalation,
                ..
            } if here => {
                let f = self.rows.entry(party_unit(addressed_to)).or_default();
                f.deviation_reminders += 1;
                f.deviations_escalated += u64::from(escalation.is_some());
            }
            _ => {}
        }
    }

    /// Missed deadlines, by the party that missed them or the ward; a missed payment deadline
    /// starts the municipality's payment responsibility.
    pub(super) fn deadline(&mut self, event: &'c Event, here: bool) {
        match &event.kind {
            EventKind::DeadlineMissed {
                deadline,
                due_at,
                party: Some(party),
                ..
            } => {
                if here {
                    let f = self.rows.entry(party_unit(party)).or_default();
                    f.deadlines_missed += 1;
                    if *deadline == Deadline::SipAttendance {
                        f.sip_attendance_unconfirmed += 1;
                    }
                }
                if *deadline == Deadline::PaymentResponsibility {
                    self.payment_from = Some(*due_at);
                }
            }
            EventKind::DeadlineMissed {
                deadline, due_at, ..
            } => {
                if *deadline == Deadline::PaymentResponsibility {
                    self.payment_from = Some(*due_at);
                }
                if here {
                    bump(&mut self.rows, self.ward.as_ref(), |f| {
                        f.deadlines_missed += 1;
                        match deadline {
                            Deadline::SipInvitation => f.sip_invitations_late += 1,
                            Deadline::InformationAtDischarge => {
                                f.information_at_discharge_late += 1
                            }
                            Deadline::LvmHold => f.discharged_during_lvm_hold += 1,
                            _ => {}
                        }
                    });
                }
            }

            _ => {}
        }
    }

    /// The figures, with the payment responsibility of a person still in hospital at the
    /// period's end counted up to the end.
    /// A placement counts for the municipality that made it.
    pub(super) fn placement(&mut self, event: &'c Event, here: bool) {
        if let (
            true,
            EventKind::Placement {
                placement_type,
                emergency,
                by,
                ..
            },
        ) = (here, &event.kind)
        {
            let f = self.rows.entry(party_unit(by)).or_default();
            f.placements += 1;
            f.placements_emergency += u64::from(*emergency);
            f.placements_hvb += u64::from(placement_type.eq_ignore_ascii_case("HVB"));
        }
    }

    /// An LVM hold ended by its transport: for the municipality that decided, the days the
    /// hospital held the person from the decision.
    pub(super) fn lvm_hold(&mut self, event: &'c Event, here: bool) {
        let (true, EventKind::LvmTransportArranged { decision_id, .. }) = (here, &event.kind)
        else {
            return;
        };
        let decided = self
            .case
            .lvm_decision(decision_id)
            .and_then(|e| match &e.kind {
                EventKind::LvmDecision { by, .. } => Some((e.occurred_at, by)),
                _ => None,
            });
        if let Some((at, by)) = decided {
            let f = self.rows.entry(party_unit(by)).or_default();
            f.lvm_holds_ended += 1;
            f.lvm_hold_sum += days(at, event.occurred_at).max(0.0);
        }
    }

    pub(super) fn finish(mut self) -> BTreeMap<Unit, Figures> {
        if let Some(paying) = self.payment_from {
            let (a, b) = (paying.max(self.start), self.end);
            if b > a {
                for unit in &self.municipalities {
                    self.rows
                        .entry(unit.clone())
                        .or_default()
                        .payment_responsibility_days += days(a, b);
                }
            }
        }
        self.rows
    }
}
