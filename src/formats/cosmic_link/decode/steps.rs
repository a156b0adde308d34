//! Each process step's element read into its event, by group of steps (discharge, SIP, LVM,
//! the municipality's own); `decode` reads the head and the patient and hands the step here.

use super::*;

/// What every step is read with: its element, and what the head and the patient said.
pub(super) struct StepHead<'h> {
    pub(super) step: Node<'h>,
    pub(super) sent_at: Timestamp,
    /// `None` on a message brygga wrote itself (one of `GATEWAY_STEPS`).
    pub(super) sender: Option<&'h Party>,
    /// The sender's element, for errors that name it.
    pub(super) sender_node: Node<'h>,
    pub(super) codes: &'h CodeTables,
    pub(super) patient: Node<'h>,
    pub(super) person_id: &'h PersonId,
}

/// The steps of a discharge, from the admission notice to the discharge or the case's end.
pub(super) fn discharge_step(
    h: &StepHead<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<(Timestamp, EventKind)>> {
    let sender_node = h.sender_node;
    let step = h.step;
    let sent_at = h.sent_at;
    let codes = h.codes;
    let Some(sender) = h.sender else {
        return Ok(None);
    };
    let patient = h.patient;
    let person_id = h.person_id;
    Ok(Some(match step.el.name {
        "Inskrivningsmeddelande" => {
            let admitted_at = step.required("Inskriven")?.timestamp()?;
            // The region's ward admits: a sender with a kommunkod is a municipality's unit,
            // which no admission notice comes from (and which the notice could not name as
            // its ward when written again).
            let Party::RegionUnit { hsa_id: ward } = sender else {
                return Err(sender_node.invalid(
                    "an admission notice is sent by the region's ward (hsaId, no kommunkod)",
                ));
            };
            let ward = ward.clone();
            let recipients = step
                .children("Mottagare")
                .iter()
                .map(Node::party)
                .collect::<Result<Vec<_>>>()?;
            if recipients.is_empty() {
                return Err(CosmicLinkError::Missing {
                    path: step.path(),
                    position: step.el.position,
                    what: "at least one <Mottagare>".to_owned(),
                });
            }
            let kind = EventKind::AdmissionNotice {
                person: person(&patient, person_id.clone(), warnings)?,
                ward,
                admitted_at,
                assessed_at: step
                    .child("BedomdBehov")
                    .map(|n| n.timestamp())
                    .transpose()?,
                estimated_discharge: step
                    .child("BeraknadUtskrivning")
                    .map(|n| n.date())
                    .transpose()?,
                psychiatric: match step.child("Vardform") {
                    Some(node) => node.code(&codes.care_form)?,
                    None => false,
                },
                recipients,
            };
            (admitted_at, kind)
        }
        "AndradBeraknadUtskrivning" => (
            sent_at,
            EventKind::EstimatedDischargeChanged {
                estimated_discharge: step.required("BeraknadUtskrivning")?.date()?,
            },
        ),
        "FastVardkontakt" => (
            sent_at,
            EventKind::CareContactAppointed {
                unit: step.required("Enhet")?.hsa_attribute("hsaId")?,
                function: step.required_text("Funktion")?.to_owned(),
                name: step
                    .optional_text("Namn")?
                    .map(|n| Sensitive::new(n.to_owned())),
                staff_hsa_id: step
                    .child("Person")
                    .map(|n| n.hsa_attribute("hsaId"))
                    .transpose()?,
            },
        ),
        "PlaneringPaborjad" => {
            let by = match step.child("Part") {
                Some(node) => node.party()?,
                None => sender.clone(),
            };
            (sent_at, EventKind::PlanningStarted { by })
        }
        "Utskrivningsklar" => {
            let decided_at = step.required("Beslutad")?.timestamp()?;
            let physician = step
                .child("Lakare")
                .map(|n| n.hsa_attribute("hsaId"))
                .transpose()?;
            (
                decided_at,
                EventKind::ReadyForDischarge {
                    decided_at,
                    physician,
                },
            )
        }
        "UtskrivningsklarAterkallad" => (
            sent_at,
            EventKind::ReadyForDischargeRevoked {
                reason: step
                    .optional_text("Orsak")?
                    .map(|t| Sensitive::new(t.to_owned())),
            },
        ),
        "InformationVidUtskrivning" => (
            sent_at,
            EventKind::InformationAtDischarge {
                summary: Sensitive::new(step.required_text("Sammanfattning")?.to_owned()),
                care_contact: step
                    .child("FastVardkontakt")
                    .map(|n| n.hsa_attribute("hsaId"))
                    .transpose()?,
                planned_sip_at: step
                    .child("PlaneradSip")
                    .map(|n| n.timestamp())
                    .transpose()?,
                legal_basis: step
                    .child("Lagrum")
                    .map(|n| n.text().map(str::to_owned))
                    .transpose()?,
            },
        ),
        "Utskriven" => {
            let discharged_at = step.required("Tidpunkt")?.timestamp()?;
            (discharged_at, EventKind::Discharged { discharged_at })
        }
        "ArendeAvslutat" => (
            sent_at,
            EventKind::CaseCancelled {
                reason: Sensitive::new(step.required_text("Orsak")?.to_owned()),
            },
        ),
        _ => return Ok(None),
    }))
}

/// The steps of a SIP: the invitation, the answers, the meeting, the plan.
pub(super) fn sip_step(h: &StepHead<'_>) -> Result<Option<(Timestamp, EventKind)>> {
    let step = h.step;
    let sent_at = h.sent_at;
    let codes = h.codes;
    let Some(sender) = h.sender else {
        return Ok(None);
    };
    Ok(Some(match step.el.name {
        "KallelseSip" => {
            let place = match (step.child("Plats"), step.child("Lank")) {
                (Some(place), None) => MeetingPlace::Address {
                    description: Sensitive::new(place.text()?.to_owned()),
                },
                (None, Some(link)) => MeetingPlace::Link {
                    url: link.text()?.to_owned(),
                },
                (None, None) => {
                    return Err(CosmicLinkError::Missing {
                        path: step.path(),
                        position: step.el.position,
                        what: "<Plats> or <Lank>".to_owned(),
                    });
                }
                (Some(_), Some(link)) => {
                    return Err(link.invalid("give either <Plats> or <Lank>, not both"));
                }
            };
            let invited = step
                .children("Kallad")
                .iter()
                .map(|n| {
                    Ok(InvitedFunction {
                        party: n.party()?,
                        function: n.required_attribute("funktion")?.to_owned(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if invited.is_empty() {
                return Err(CosmicLinkError::Missing {
                    path: step.path(),
                    position: step.el.position,
                    what: "at least one <Kallad>".to_owned(),
                });
            }
            (
                sent_at,
                EventKind::SipInvitation {
                    invitation_id: step.required_attribute("id")?.to_owned(),
                    plan_type: step.code_attribute("plantyp", &codes.plan_type)?,
                    from: sender.clone(),
                    meeting_at: step.required("Tid")?.timestamp()?,
                    place,
                    invited,
                    consent_reference: step.optional_text("SamtyckeReferens")?.map(str::to_owned),
                    placement_id: step.optional_text("PlaceringReferens")?.map(str::to_owned),
                },
            )
        }
        "SipMoteHallet" => {
            let held_at = step.required("Hallet")?.timestamp()?;
            let attendees = step
                .children("Deltagare")
                .iter()
                .map(|n| {
                    Ok(Attendee {
                        party: n.party()?,
                        function: n.required_attribute("funktion")?.to_owned(),
                        name: Some(n.el.text())
                            .filter(|t| !t.is_empty())
                            .map(|t| Sensitive::new(t.to_owned())),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let flag = |name: &str| match step.child(name) {
                Some(node) => node.boolean(),
                None => Ok(false),
            };
            (
                held_at,
                EventKind::SipMeetingHeld {
                    invitation_id: step.required_attribute("kallelse")?.to_owned(),
                    held_at,
                    attendees,
                    person_participated: flag("PersonenDeltog")?,
                    next_of_kin_participated: flag("NarstaendeDeltog")?,
                },
            )
        }
        "SvarKallelse" | "SvarPaKommunensKallelse" => (
            sent_at,
            EventKind::SipResponse {
                invitation_id: step.required_attribute("kallelse")?.to_owned(),
                responder: sender.clone(),
                answer: answer(&step, codes)?,
                attending_function: step.optional_text("DeltagandeFunktion")?.map(str::to_owned),
                participants: step
                    .children("DeltagarSvar")
                    .iter()
                    .map(|n| {
                        Ok(ParticipantAnswer {
                            function: n.required_attribute("funktion")?.to_owned(),
                            name: n
                                .optional_text("Namn")?
                                .map(|t| Sensitive::new(t.to_owned())),
                            answer: answer(n, codes)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            },
        ),
        "Plan" => {
            let activities = step
                .children("Insats")
                .iter()
                .map(|n| {
                    Ok(PlanActivity {
                        description: Sensitive::new(n.required_text("Beskrivning")?.to_owned()),
                        responsible: n.required("Ansvarig")?.code(&codes.principal)?,
                        performer: n.child("Utforare").map(|p| p.party()).transpose()?,
                        service_type: n
                            .child("Insatstyp")
                            .map(|t| t.code(&codes.service_type))
                            .transpose()?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if activities.is_empty() {
                return Err(CosmicLinkError::Missing {
                    path: step.path(),
                    position: step.el.position,
                    what: "at least one <Insats>".to_owned(),
                });
            }
            let overall = step.required("OvergripandeAnsvar")?;
            let overall_responsibility = overall.code(&codes.principal)?.ok_or_else(|| {
                overall.invalid("overall responsibility lies with the region or the municipality")
            })?;
            (
                sent_at,
                EventKind::SipPlan {
                    plan_id: step.required_attribute("id")?.to_owned(),
                    plan_type: step.code_attribute("plantyp", &codes.plan_type)?,
                    activities,
                    overall_responsibility,
                    next_of_kin_participated: match step.child("NarstaendeDeltog") {
                        Some(node) => node.boolean()?,
                        None => false,
                    },
                    follow_up_on: step.child("Uppfoljning").map(|n| n.date()).transpose()?,
                },
            )
        }
        _ => return Ok(None),
    }))
}

/// The steps of an LVM hold: the report, the decision, the transport; and the certificate
/// social services ask for under 9 § LVM.
pub(super) fn lvm_step(h: &StepHead<'_>) -> Result<Option<(Timestamp, EventKind)>> {
    let sender_node = h.sender_node;
    let step = h.step;
    let sent_at = h.sent_at;
    let codes = h.codes;
    let Some(sender) = h.sender else {
        return Ok(None);
    };
    Ok(Some(match step.el.name {
        "LvmAnmalan" => {
            let municipality = step.required("Kommun")?;
            (
                sent_at,
                EventKind::LvmReport {
                    physician: step.required("Lakare")?.hsa_attribute("hsaId")?,
                    to_municipality: municipality
                        .kommunkod(municipality.required_attribute("kommunkod")?)?,
                    legal_basis: step.required_text("Lagrum")?.to_owned(),
                    report: Sensitive::new(step.required_text("Anmalan")?.to_owned()),
                    substances: step
                        .children("Missbruk")
                        .iter()
                        .map(|n| n.code(&codes.lvm_substance))
                        .collect::<Result<Vec<_>>>()?,
                    grounds: step
                        .children("Grund")
                        .iter()
                        .map(|n| n.code(&codes.lvm_ground))
                        .collect::<Result<Vec<_>>>()?,
                    voluntary_care_declined: step
                        .child("FrivilligVardAvbojd")
                        .map(|n| n.boolean())
                        .transpose()?,
                    immediate_custody_advised: step
                        .child("OmedelbartOmhandertagande")
                        .map(|n| n.boolean())
                        .transpose()?,
                },
            )
        }
        "LvmBeslut" => {
            if !matches!(sender, Party::Municipality { .. }) {
                return Err(sender_node
                    .invalid("an LVM decision is sent by the municipality, with its kommunkod"));
            }
            (
                sent_at,
                EventKind::LvmDecision {
                    decision_id: step.required_attribute("id")?.to_owned(),
                    decision: step.required("Beslut")?.code(&codes.lvm_decision)?,
                    by: sender.clone(),
                },
            )
        }
        "LvmLakarintygBegart" => {
            if !matches!(sender, Party::Municipality { .. }) {
                return Err(sender_node.invalid(
                    "a certificate under 9 § LVM is requested by the municipality, with its kommunkod",
                ));
            }
            (
                sent_at,
                EventKind::LvmCertificateRequested {
                    request_id: step.required_attribute("id")?.to_owned(),
                    by: sender.clone(),
                    to: step.required("Till")?.party()?,
                    reason: step.optional_sensitive("Syfte")?,
                },
            )
        }
        "LvmLakarintyg" => (
            sent_at,
            EventKind::LvmCertificateIssued {
                request_id: step.required_attribute("begaran")?.to_owned(),
                by: sender.clone(),
                to: step.required("Till")?.party()?,
                physician: step
                    .child("Lakare")
                    .map(|n| n.hsa_attribute("hsaId"))
                    .transpose()?,
                examined_at: step.child("Undersokt").map(|n| n.timestamp()).transpose()?,
            },
        ),
        "TransportOrdnad" => (
            sent_at,
            EventKind::LvmTransportArranged {
                decision_id: step.required_attribute("beslut")?.to_owned(),
                transport_at: step.child("Tid").map(|n| n.timestamp()).transpose()?,
            },
        ),
        _ => return Ok(None),
    }))
}

/// The municipality's own steps, acknowledgements and consents.
pub(super) fn municipal_step(h: &StepHead<'_>) -> Result<Option<(Timestamp, EventKind)>> {
    let step = h.step;
    let sent_at = h.sent_at;
    let codes = h.codes;
    let Some(sender) = h.sender else {
        return Ok(None);
    };
    Ok(Some(match step.el.name {
        "BeviljadeInsatser" => {
            let services = step
                .children("Insats")
                .iter()
                .map(|n| {
                    Ok(DecidedService {
                        service_type: n.required("Insatstyp")?.code(&codes.service_type)?,
                        description: n
                            .optional_text("Beskrivning")?
                            .map(|t| Sensitive::new(t.to_owned())),
                        extent: n.optional_text("Omfattning")?.map(str::to_owned),
                        starts_on: n.child("Fran").map(|d| d.date()).transpose()?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if services.is_empty() {
                return Err(CosmicLinkError::Missing {
                    path: step.path(),
                    position: step.el.position,
                    what: "at least one <Insats>".to_owned(),
                });
            }
            (
                sent_at,
                EventKind::ServicesDecided {
                    decision_id: step.required_attribute("beslut")?.to_owned(),
                    by: sender.clone(),
                    decided_on: step.child("Beslutsdatum").map(|n| n.date()).transpose()?,
                    services,
                },
            )
        }
        "RedoAttTaEmot" => (
            sent_at,
            EventKind::ReadyToReceive {
                by: sender.clone(),
                from: step
                    .child("FranOchMed")
                    .map(|n| n.timestamp())
                    .transpose()?,
            },
        ),
        "Kvittens" => (
            sent_at,
            EventKind::MessageAcknowledged {
                message_id: step.required_attribute("meddelande")?.to_owned(),
                by: sender.clone(),
            },
        ),
        "Samtycke" => (
            sent_at,
            EventKind::ConsentRecorded {
                consent_id: step.required_attribute("id")?.to_owned(),
                scope: step.code_attribute("omfattning", &codes.consent_scope)?,
                provision: match step.attribute("beslut") {
                    Some(_) => step.code_attribute("beslut", &codes.provision)?,
                    None => Default::default(),
                },
                principals: step
                    .children("Huvudman")
                    .iter()
                    .map(|n| {
                        n.code(&codes.principal)?.ok_or_else(|| {
                            n.invalid("a consent is limited to the region or the municipality, not another actor".to_owned())
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
                recipients: step
                    .children("Mottagare")
                    .iter()
                    .map(|n| n.party())
                    .collect::<Result<Vec<_>>>()?,
                categories: step
                    .children("Informationsslag")
                    .iter()
                    .map(|n| n.code(&codes.information_category))
                    .collect::<Result<Vec<_>>>()?,
                valid_from: step.child("GallerFran").map(|n| n.timestamp()).transpose()?,
                valid_until: step.child("GallerTill").map(|n| n.timestamp()).transpose()?,
            },
        ),
        "SamtyckeAterkallat" => (
            sent_at,
            EventKind::ConsentWithdrawn {
                consent_id: step.required_attribute("id")?.to_owned(),
            },
        ),
        _ => return Ok(None),
    }))
}
