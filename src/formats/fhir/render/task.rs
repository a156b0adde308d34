//! A step as Task content: its code, inputs, owners and status (`task_step`), read by the
//! group of steps it belongs to (discharge, SIP, LVM, the municipality's own, and in
//! `follow_up` the rest), and a SIP
//! plan's CarePlan.

use super::*;

/// What the Tasks of a step carry beyond the envelope.
pub(super) struct TaskStep<'a> {
    pub(super) code: &'static str,
    pub(super) inputs: Inputs<'a>,
    /// Each owner gets a Task with the common inputs plus its own.
    pub(super) owners: Vec<(Option<Reference<'a>>, Option<Input<'a>>)>,
    pub(super) status: &'static str,
    pub(super) business_status: Option<&'static str>,
    /// A sip-plan's CarePlan: its id (the Tasks' focus) and its entry.
    pub(super) plan: Option<(String, Entry<'a>)>,
}

/// The step `message` reports, as Task code, inputs, owners and status; a consent, which is
/// no Task's, is refused.
pub(super) fn task_step<'a>(
    message: &'a CanonicalMessage,
    codes: &'a FhirCodes,
    patient_id: &str,
    requester: &Option<Reference<'a>>,
) -> Result<TaskStep<'a>, RenderError> {
    match &message.event.kind {
        EventKind::ConsentRecorded { .. } | EventKind::ConsentWithdrawn { .. } => {
            return Err(RenderError::NotATask("a consent"));
        }
        // Each of these is a Task's, read below by the group of steps it belongs to.
        EventKind::AdmissionNotice { .. }
        | EventKind::EstimatedDischargeChanged { .. }
        | EventKind::CareContactAppointed { .. }
        | EventKind::PlanningStarted { .. }
        | EventKind::ReadyForDischarge { .. }
        | EventKind::ReadyForDischargeRevoked { .. }
        | EventKind::InformationAtDischarge { .. }
        | EventKind::Discharged { .. }
        | EventKind::CaseCancelled { .. }
        | EventKind::SipInvitation { .. }
        | EventKind::SipResponse { .. }
        | EventKind::SipPlan { .. }
        | EventKind::LvmReport { .. }
        | EventKind::LvmDecision { .. }
        | EventKind::LvmTransportArranged { .. }
        | EventKind::ServicesDecided { .. }
        | EventKind::ReadyToReceive { .. }
        | EventKind::MessageAcknowledged { .. }
        | EventKind::SipMeetingHeld { .. }
        | EventKind::ChildConcernReport { .. }
        | EventKind::ChildConcernFeedback { .. }
        | EventKind::LvmCertificateRequested { .. }
        | EventKind::LvmCertificateIssued { .. }
        | EventKind::Placement { .. }
        | EventKind::CostSplitAgreed { .. }
        | EventKind::DeviationRaised { .. }
        | EventKind::DeviationAcknowledged { .. }
        | EventKind::DeviationAnswered { .. }
        | EventKind::DeviationReminder { .. }
        | EventKind::DeadlineMissed { .. } => {}
    }
    let mut step = TaskStep {
        code: "",
        inputs: Inputs {
            codes,
            list: Vec::new(),
        },
        owners: vec![(None, None)],
        status: "completed",
        business_status: None,
        plan: None,
    };
    let code = discharge_step(&mut step, message)
        .or_else(|| sip_step(&mut step, message, patient_id, requester))
        .or_else(|| lvm_step(&mut step, message))
        .or_else(|| municipal_step(&mut step, message))
        .or_else(|| super::follow_up::follow_up_step(&mut step, message));
    // Every kind above is a Task's and read by one of the groups.
    step.code = code.ok_or(RenderError::NotATask("this step"))?;
    Ok(step)
}

/// The steps of a discharge: from the admission notice to the discharge (or the case's
/// cancellation).
fn discharge_step<'a>(
    step: &mut TaskStep<'a>,
    message: &'a CanonicalMessage,
) -> Option<&'static str> {
    let time = |t: &jiff::Timestamp| t.to_string();
    match &message.event.kind {
        EventKind::AdmissionNotice {
            admitted_at,
            assessed_at,
            estimated_discharge,
            psychiatric,
            recipients,
            ..
        } => {
            step.inputs
                .add("admitted-at", Typed::DateTime(time(admitted_at)));
            if let Some(at) = assessed_at {
                step.inputs.add("assessed-at", Typed::DateTime(time(at)));
            }
            if let Some(d) = estimated_discharge {
                step.inputs
                    .add("estimated-discharge", Typed::Date(d.to_string()));
            }
            step.inputs.add("psychiatric", Typed::Boolean(*psychiatric));
            step.owners = recipients
                .iter()
                .map(|r| (Some(party_reference(r)), None))
                .collect();
            step.status = "requested";
            Some("admission-notice")
        }
        EventKind::EstimatedDischargeChanged {
            estimated_discharge,
        } => {
            step.inputs.add(
                "estimated-discharge",
                Typed::Date(estimated_discharge.to_string()),
            );
            Some("estimated-discharge-changed")
        }
        EventKind::CareContactAppointed {
            unit,
            function,
            name,
            staff_hsa_id,
        } => {
            step.inputs.add("function", Typed::String(function));
            if let Some(name) = name {
                step.inputs.add("name", Typed::String(name.expose()));
            }
            if let Some(staff) = staff_hsa_id {
                step.inputs
                    .add("staff", Typed::Reference(staff_reference(staff)));
            }
            step.owners = vec![(Some(unit_reference(unit)), None)];
            Some("care-contact-appointed")
        }
        EventKind::PlanningStarted { by } => {
            step.owners = vec![(Some(party_reference(by)), None)];
            step.status = "in-progress";
            Some("planning-started")
        }
        EventKind::ReadyForDischarge {
            decided_at,
            physician,
        } => {
            step.inputs
                .add("decided-at", Typed::DateTime(time(decided_at)));
            if let Some(physician) = physician {
                step.inputs
                    .add("physician", Typed::Reference(staff_reference(physician)));
            }
            Some("ready-for-discharge")
        }
        EventKind::ReadyForDischargeRevoked { reason } => {
            if let Some(reason) = reason {
                step.inputs.add("reason", Typed::String(reason.expose()));
            }
            Some("ready-for-discharge-revoked")
        }
        EventKind::InformationAtDischarge {
            summary,
            care_contact,
            planned_sip_at,
            legal_basis,
        } => {
            step.inputs.add("summary", Typed::String(summary.expose()));
            if let Some(contact) = care_contact {
                step.inputs
                    .add("care-contact", Typed::Reference(unit_reference(contact)));
            }
            if let Some(at) = planned_sip_at {
                step.inputs.add("planned-sip-at", Typed::DateTime(time(at)));
            }
            if let Some(basis) = legal_basis {
                step.inputs.add("legal-basis", Typed::String(basis));
            }
            Some("information-at-discharge")
        }
        EventKind::Discharged { discharged_at } => {
            step.inputs
                .add("discharged-at", Typed::DateTime(time(discharged_at)));
            Some("discharged")
        }
        EventKind::CaseCancelled { reason } => {
            step.inputs.add("reason", Typed::String(reason.expose()));
            step.status = "cancelled";
            Some("case-cancelled")
        }
        _ => None,
    }
}

/// The steps of a SIP: the invitation, the answers, the plan.
fn sip_step<'a>(
    step: &mut TaskStep<'a>,
    message: &'a CanonicalMessage,
    patient_id: &str,
    requester: &Option<Reference<'a>>,
) -> Option<&'static str> {
    let time = |t: &jiff::Timestamp| t.to_string();
    match &message.event.kind {
        EventKind::SipInvitation {
            invitation_id,
            plan_type,
            meeting_at,
            place,
            invited,
            consent_reference,
            placement_id,
            ..
        } => {
            step.inputs
                .add("invitation-id", Typed::String(invitation_id));
            step.inputs.add(
                "plan-type",
                Typed::Coding(Coding {
                    system: PLAN_TYPE,
                    code: plan_type_code(*plan_type),
                    display: None,
                }),
            );
            step.inputs
                .add("meeting-at", Typed::DateTime(time(meeting_at)));
            match place {
                MeetingPlace::Address { description } => step
                    .inputs
                    .add("meeting-place", Typed::String(description.expose())),
                MeetingPlace::Link { url } => step.inputs.add("meeting-link", Typed::Url(url)),
            }
            if let Some(reference) = consent_reference {
                step.inputs
                    .add("consent-reference", Typed::String(reference));
            }
            if let Some(placement) = placement_id {
                step.inputs.add("placement-id", Typed::String(placement));
            }
            step.status = "requested";
            // One Task per invited function, so that each can accept or decline its own.
            step.owners = invited
                .iter()
                .map(|f| {
                    let function = step.inputs.input("function", Typed::String(&f.function));
                    (Some(party_reference(&f.party)), Some(function))
                })
                .collect();
            Some("sip-invitation")
        }
        EventKind::SipResponse {
            invitation_id,
            responder,
            answer,
            attending_function,
            participants,
        } => {
            step.inputs
                .add("invitation-id", Typed::String(invitation_id));
            let (code, task_status) = match answer {
                SipAnswer::Accepted => ("accepted", "accepted"),
                SipAnswer::Declined { .. } => ("declined", "rejected"),
                SipAnswer::ProposedOtherTime { .. } => ("proposed-other-time", "received"),
            };
            step.inputs.add(
                "answer",
                Typed::Coding(Coding {
                    system: ANSWER,
                    code,
                    display: None,
                }),
            );
            match answer {
                SipAnswer::Accepted => {}
                SipAnswer::Declined { reason } => {
                    step.inputs.add("reason", Typed::String(reason.expose()))
                }
                SipAnswer::ProposedOtherTime {
                    proposed_at,
                    reason,
                } => {
                    step.inputs
                        .add("proposed-at", Typed::DateTime(time(proposed_at)));
                    if let Some(reason) = reason {
                        step.inputs.add("reason", Typed::String(reason.expose()));
                    }
                }
            }
            if let Some(function) = attending_function {
                step.inputs
                    .add("attending-function", Typed::String(function));
            }
            for participant in participants {
                super::follow_up::participant_answer(step, participant);
            }
            step.owners = vec![(Some(party_reference(responder)), None)];
            step.status = task_status;
            step.business_status = Some(code);
            Some("sip-response")
        }
        EventKind::SipPlan { .. } => {
            step.plan = care_plan(message, patient_id, requester);
            Some("sip-plan")
        }
        _ => None,
    }
}

/// The steps of an LVM hold: the report, the municipality's decision, the transport.
fn lvm_step<'a>(step: &mut TaskStep<'a>, message: &'a CanonicalMessage) -> Option<&'static str> {
    let time = |t: &jiff::Timestamp| t.to_string();
    match &message.event.kind {
        EventKind::LvmReport {
            physician,
            to_municipality,
            legal_basis,
            report,
            substances,
            grounds,
            voluntary_care_declined,
            immediate_custody_advised,
        } => {
            step.inputs
                .add("physician", Typed::Reference(staff_reference(physician)));
            step.inputs.add("legal-basis", Typed::String(legal_basis));
            step.inputs.add("report", Typed::String(report.expose()));
            for substance in substances {
                step.inputs
                    .add("substance", Typed::Code(substance.as_str()));
            }
            for ground in grounds {
                step.inputs.add("lvm-ground", Typed::Code(ground.as_str()));
            }
            if let Some(declined) = voluntary_care_declined {
                step.inputs
                    .add("voluntary-care-declined", Typed::Boolean(*declined));
            }
            if let Some(advised) = immediate_custody_advised {
                step.inputs
                    .add("immediate-custody-advised", Typed::Boolean(*advised));
            }
            step.owners = vec![(Some(municipality_reference(*to_municipality)), None)];
            step.status = "requested";
            Some("lvm-report")
        }
        EventKind::LvmDecision {
            decision_id,
            decision,
            ..
        } => {
            step.inputs.add("decision-id", Typed::String(decision_id));
            step.inputs
                .add("decision", Typed::Code(lvm_decision_code(*decision)));
            step.status = "requested";
            Some("lvm-decision")
        }
        EventKind::LvmTransportArranged {
            decision_id,
            transport_at,
        } => {
            step.inputs.add("decision-id", Typed::String(decision_id));
            if let Some(at) = transport_at {
                step.inputs.add("transport-at", Typed::DateTime(time(at)));
            }
            Some("lvm-transport-arranged")
        }
        _ => None,
    }
}

/// The municipality's own steps: services decided, ready to receive, a message acknowledged.
fn municipal_step<'a>(
    step: &mut TaskStep<'a>,
    message: &'a CanonicalMessage,
) -> Option<&'static str> {
    let time = |t: &jiff::Timestamp| t.to_string();
    match &message.event.kind {
        EventKind::ServicesDecided {
            decision_id,
            decided_on,
            services,
            ..
        } => {
            step.inputs.add("decision-id", Typed::String(decision_id));
            if let Some(decided_on) = decided_on {
                step.inputs
                    .add("decided-on", Typed::Date(decided_on.to_string()));
            }
            add_services(&mut step.inputs, services);
            Some("services-decided")
        }
        EventKind::ReadyToReceive { from, .. } => {
            if let Some(at) = from {
                step.inputs.add("ready-from", Typed::DateTime(time(at)));
            }
            Some("ready-to-receive")
        }
        EventKind::MessageAcknowledged { message_id, .. } => {
            step.inputs
                .add("acknowledged-message", Typed::String(message_id));
            Some("message-acknowledged")
        }

        _ => None,
    }
}

/// A SIP/SPU plan's CarePlan, with the id its Task's focus names.
fn care_plan<'a>(
    message: &'a CanonicalMessage,
    patient_id: &str,
    requester: &Option<Reference<'a>>,
) -> Option<(String, Entry<'a>)> {
    let case = &message.case;
    let time = |t: &jiff::Timestamp| t.to_string();
    let EventKind::SipPlan {
        plan_id,
        plan_type,
        activities,
        overall_responsibility,
        next_of_kin_participated,
        follow_up_on,
    } = &message.event.kind
    else {
        return None;
    };
    let plan_id_fhir = careplan_id(case, plan_id);
    let plan_uuid = derived_id("careplan", &[&case.issuer, plan_id]).to_string();
    let mut extension = vec![
        Extension {
            url: EXT_CASE,
            value: Typed::Identifier(Identifier {
                system: Cow::Owned(format!("{CASE_REFERENCE}{}", case.issuer)),
                value: Cow::Borrowed(&case.value),
            }),
        },
        Extension {
            url: EXT_OVERALL,
            value: Typed::Code(principal_code(Some(*overall_responsibility))),
        },
        Extension {
            url: EXT_NEXT_OF_KIN,
            value: Typed::Boolean(*next_of_kin_participated),
        },
    ];
    if let Some(d) = follow_up_on {
        extension.push(Extension {
            url: EXT_FOLLOW_UP,
            value: Typed::Date(d.to_string()),
        });
    }
    let activity = activities
        .iter()
        .map(|a| Activity {
            detail: ActivityDetail {
                extension: [Extension {
                    url: EXT_RESPONSIBLE,
                    value: Typed::Code(principal_code(a.responsible)),
                }],
                code: a
                    .service_type
                    .map(|service| concept(SERVICE_TYPE, service_type_code(service), None)),
                status: "scheduled",
                description: a.description.expose(),
                performer: a.performer.as_ref().map(|p| [party_reference(p)]),
            },
        })
        .collect();
    let care_plan = CarePlan {
        resource_type: "CarePlan",
        id: plan_id_fhir,
        extension,
        identifier: [Identifier {
            system: Cow::Owned(format!("{PLAN_ID}{}", case.issuer)),
            value: Cow::Borrowed(plan_id),
        }],
        status: "active",
        intent: "plan",
        category: [concept(PLAN_TYPE, plan_type_code(*plan_type), None)],
        subject: local_reference(patient_id),
        created: time(&message.sent_at),
        author: requester.clone(),
        activity,
    };
    Some((
        plan_uuid.clone(),
        Entry {
            full_url: format!("urn:uuid:{plan_uuid}"),
            resource: Resource::CarePlan(Box::new(care_plan)),
        },
    ))
}

/// A services decision's inputs: one per service, with its description, extent and start.
fn add_services<'a>(inputs: &mut Inputs<'a>, services: &'a [crate::domain::event::DecidedService]) {
    for service in services {
        let mut input = inputs.input(
            "service",
            Typed::Coding(Coding {
                system: SERVICE_TYPE,
                code: service_type_code(service.service_type),
                display: None,
            }),
        );
        if let Some(description) = &service.description {
            input.extension.push(Extension {
                url: EXT_SERVICE_DESCRIPTION,
                value: Typed::String(description.expose()),
            });
        }
        if let Some(extent) = &service.extent {
            input.extension.push(Extension {
                url: EXT_SERVICE_EXTENT,
                value: Typed::String(extent),
            });
        }
        if let Some(start) = service.starts_on {
            input.extension.push(Extension {
                url: EXT_SERVICE_START,
                value: Typed::Date(start.to_string()),
            });
        }
        inputs.list.push(input);
    }
}
