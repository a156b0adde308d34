//! Reading a Task: one process step, reported by the party that took it (`Reader::task`),
//! or a Task the gateway sent and its owner changed (`Reader::task_update`). Each larger
//! step's fields are read by a function of its own from what every Task carries
//! (`TaskParts`).

use super::follow_up::code_of;
use super::*;
use crate::domain::event::{LvmGround, LvmSubstance};

/// What every step's Task carries, read once before the step's own fields.
pub(super) struct TaskParts<'a> {
    pub(super) task: Node<'a>,
    pub(super) code: Node<'a>,
    pub(super) step: &'a str,
    pub(super) status: &'a str,
    pub(super) status_node: Node<'a>,
    pub(super) case: CaseReference,
    pub(super) person: PersonId,
    /// The Patient resource, when the Task came with it (in a Bundle).
    pub(super) patient: Option<Node<'a>>,
    /// The sending unit; absent only on a step brygga wrote itself.
    pub(super) requester: Option<Node<'a>>,
    pub(super) sender: Option<Party>,
    pub(super) owner: Option<Node<'a>>,
    pub(super) owner_party: Option<Party>,
    pub(super) inputs: Inputs<'a>,
}

impl<'a> TaskParts<'a> {
    /// The municipality as a whole that owns the Task (a report made to it), by its code.
    pub(super) fn owned_municipality(&self, role: &str) -> Result<Kommunkod> {
        match self.owner(role)? {
            Party::Municipality {
                kommunkod,
                unit: None,
            } => Ok(kommunkod),
            _ => Err(self.task.invalid(format!(
                "Task.owner is {role}, identified by its municipality code"
            ))),
        }
    }

    /// The sending unit, which every step but brygga's own names.
    pub(super) fn sender(&self) -> Result<Party> {
        self.sender.clone().ok_or_else(|| {
            self.task
                .invalid("missing: Task.requester, the sending unit")
        })
    }

    /// The sender's element, for errors about it.
    pub(super) fn requester(&self) -> Node<'a> {
        self.requester.unwrap_or(self.task)
    }

    /// The Task's owner, which the step needs as `role`.
    pub(super) fn owner(&self, role: &str) -> Result<Party> {
        self.owner_party
            .clone()
            .ok_or_else(|| self.task.invalid(format!("missing: Task.owner, {role}")))
    }
}

impl<'a> Reader<'a> {
    /// Reads the Tasks of one event (several where a step has one Task per recipient).
    pub(super) fn tasks(&self, tasks: &[Node<'a>]) -> Result<CanonicalMessage> {
        let mut first = self.task(tasks[0])?;
        for task in &tasks[1..] {
            merge(&mut first, self.task(*task)?).map_err(|problem| task.invalid(problem))?;
        }
        Ok(first)
    }

    /// A Task reporting one step (or, for a Task the gateway sent, its owner's change).
    fn task(&self, task: Node<'a>) -> Result<CanonicalMessage> {
        let code = task.required("code", "the process step")?;
        let step = required_code(code, PROCESS_STEP, "the process step")?;
        if !STEP_CODES.contains(&step) {
            return Err(code.invalid(format!(
                "unknown process step {step:?}; expected one of {}",
                STEP_CODES.join(", ")
            )));
        }
        let status_node = task.required("status", "the Task's status")?;
        let status = status_node.str()?;
        task.touch("intent");
        task.touch("priority");
        // The deadline is the gateway's own computation from the policy, not the sender's.
        task.touch("restriction");
        if let Some(meta) = task.get("meta") {
            meta.touch("versionId");
            meta.touch("lastUpdated");
        }
        let case = case_reference(task.required(
            "groupIdentifier",
            "the samordningsärende (urn:brygga:case-reference:<care provider HSA-id>)",
        )?)?;
        let (person, patient) = self.person(task.required("for", "the person (Patient)")?)?;
        let owner = task.get("owner");

        let is_update = matches!(
            (step, status),
            ("admission-notice" | "sip-invitation", s) if s != "requested"
        );
        if is_update {
            return self.task_update(task, step, status_node, case, person);
        }

        task.touch("id");
        let identifier = task.first("identifier")?.ok_or_else(|| {
            task.invalid(
                "missing: Task.identifier, the id of the message, which makes a re-sent Task idempotent",
            )
        })?;
        let system = identifier.required_str("system", "whose message id it is")?;
        let message_id = identifier
            .required_str("value", "the message id")?
            .to_owned();
        let (format, id_issuer) = match system.strip_prefix(MESSAGE_ID) {
            Some(rest) => message_id_system(identifier, rest)?,
            None => (FORMAT, system),
        };
        let sent_at = match (task.get("authoredOn"), task.get("lastModified")) {
            (Some(at), _) | (None, Some(at)) => at.timestamp()?,
            (None, None) => {
                return Err(task.invalid("missing: authoredOn, when the step was reported"));
            }
        };
        let occurred_at = match task.get("executionPeriod") {
            Some(period) => match period.get("start") {
                Some(start) => start.timestamp()?,
                None => sent_at,
            },
            None => sent_at,
        };
        let requester = task.get("requester");
        if requester.is_none() && !GATEWAY_STEP_CODES.contains(&step) {
            return Err(task.invalid("missing: Task.requester, the sending unit"));
        }
        let sender = requester.map(|r| self.party(r)).transpose()?;
        let sender_name = requester
            .map(|r| r.optional_str("display"))
            .transpose()?
            .flatten()
            .map(str::to_owned);
        let owner_party = owner.map(|o| self.party(o)).transpose()?;
        let inputs = Inputs::of(task, "input")?;
        let expected_status = match step {
            "admission-notice"
            | "sip-invitation"
            | "lvm-report"
            | "lvm-decision"
            | "child-concern-report"
            | "deviation-raised"
            | "deviation-reminder"
            | "lvm-certificate-requested" => "requested",
            "planning-started" => "in-progress",
            "case-cancelled" => "cancelled",
            "sip-response" => "",
            _ => "completed",
        };
        if !expected_status.is_empty() && status != expected_status {
            return Err(status_node.invalid(format!(
                "a {step} Task has the status {expected_status}, not {status}"
            )));
        }

        let parts = TaskParts {
            task,
            code,
            step,
            status,
            status_node,
            case,
            person,
            patient,
            requester,
            sender,
            owner,
            owner_party,
            inputs,
        };
        let kind = self.step_kind(&parts)?;
        let TaskParts {
            case,
            person,
            sender,
            ..
        } = parts;
        Ok(Envelope {
            format,
            id_issuer,
            message_id,
            case,
            person,
            sent_at,
            occurred_at,
            sender,
            sender_name,
        }
        .message(kind))
    }

    /// The step a Task reports, from its inputs, owner and requester.
    fn step_kind(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let inputs = &t.inputs;
        Ok(match t.step {
            "admission-notice" => self.admission_notice(t)?,
            "estimated-discharge-changed" => EventKind::EstimatedDischargeChanged {
                estimated_discharge: inputs
                    .required(task, "estimated-discharge", "valueDate")?
                    .date()?,
            },
            "care-contact-appointed" => self.care_contact_appointed(t)?,
            "planning-started" => EventKind::PlanningStarted {
                by: t.owner("the party that started its planning")?,
            },
            "ready-for-discharge" => EventKind::ReadyForDischarge {
                decided_at: inputs
                    .required(task, "decided-at", "valueDateTime")?
                    .timestamp()?,
                physician: inputs
                    .get("physician", "valueReference")?
                    .map(|r| self.staff(r))
                    .transpose()?,
            },
            "ready-for-discharge-revoked" => EventKind::ReadyForDischargeRevoked {
                reason: inputs.text("reason")?.map(Sensitive::new),
            },
            "sip-invitation" => self.sip_invitation(t)?,
            "sip-response" => self.sip_response(t)?,
            "sip-plan" => self.sip_plan(t)?,
            "information-at-discharge" => self.information_at_discharge(t)?,
            "discharged" => EventKind::Discharged {
                discharged_at: inputs
                    .required(task, "discharged-at", "valueDateTime")?
                    .timestamp()?,
            },
            "case-cancelled" => EventKind::CaseCancelled {
                reason: Sensitive::new(
                    inputs
                        .required(task, "reason", "valueString")?
                        .str()?
                        .to_owned(),
                ),
            },
            "lvm-report" => self.lvm_report(t)?,
            "lvm-decision" => self.lvm_decision(t)?,
            "lvm-transport-arranged" => EventKind::LvmTransportArranged {
                decision_id: inputs
                    .required(task, "decision-id", "valueString")?
                    .str()?
                    .to_owned(),
                transport_at: inputs.timestamp("transport-at")?,
            },
            "services-decided" => self.services_decided(t)?,
            "ready-to-receive" => EventKind::ReadyToReceive {
                by: t.sender()?,
                from: inputs.timestamp("ready-from")?,
            },
            "message-acknowledged" => EventKind::MessageAcknowledged {
                message_id: inputs
                    .required(task, "acknowledged-message", "valueString")?
                    .str()?
                    .to_owned(),
                by: t.sender()?,
            },

            other => match self.follow_up_step(t)? {
                Some(kind) => kind,
                None => {
                    return Err(t
                        .code
                        .invalid(format!("the process step {other:?} is not read")));
                }
            },
        })
    }

    fn admission_notice(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let requester = t.requester();
        let patient = t.patient;
        let inputs = &t.inputs;
        let sender = &t.sender()?;
        let person = &t.person;
        let kind = {
            let ward = match &sender {
                Party::RegionUnit { hsa_id } => hsa_id.clone(),
                Party::Municipality { .. } => {
                    return Err(requester.invalid(
                        "an admission notice is sent by a ward, identified by its HSA-id",
                    ));
                }
            };
            let patient = patient.ok_or_else(|| {
                    task.invalid(
                        "an admission notice needs the Patient resource with the person's name: send it in a Bundle",
                    )
                })?;
            EventKind::AdmissionNotice {
                person: self.person_details(person.clone(), patient)?,
                ward,
                admitted_at: inputs
                    .required(task, "admitted-at", "valueDateTime")?
                    .timestamp()?,
                assessed_at: inputs.timestamp("assessed-at")?,
                estimated_discharge: inputs
                    .get("estimated-discharge", "valueDate")?
                    .map(|n| n.date())
                    .transpose()?,
                psychiatric: inputs
                    .get("psychiatric", "valueBoolean")?
                    .map(|n| n.bool())
                    .transpose()?
                    .unwrap_or(false),
                recipients: vec![t.owner("the unit the notice is for")?],
            }
        };
        Ok(kind)
    }

    fn care_contact_appointed(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let owner = t.owner;
        let inputs = &t.inputs;
        Ok(EventKind::CareContactAppointed {
            unit: match owner {
                Some(owner) => self.region_unit(owner, "the care contact's unit")?,
                None => {
                    return Err(task.invalid("missing: Task.owner, the care contact's unit"));
                }
            },
            function: inputs
                .required(task, "function", "valueString")?
                .str()?
                .to_owned(),
            name: inputs.text("name")?.map(Sensitive::new),
            staff_hsa_id: inputs
                .get("staff", "valueReference")?
                .map(|r| self.staff(r))
                .transpose()?,
        })
    }

    fn sip_invitation(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let inputs = &t.inputs;
        let sender = &t.sender()?;
        let kind = {
            let place = match (
                inputs.get("meeting-place", "valueString")?,
                inputs.get("meeting-link", "valueUrl")?,
            ) {
                (Some(place), None) => MeetingPlace::Address {
                    description: Sensitive::new(place.str()?.to_owned()),
                },
                (None, Some(link)) => MeetingPlace::Link {
                    url: link.str()?.to_owned(),
                },
                (None, None) => {
                    return Err(task.invalid("missing the input meeting-place or meeting-link"));
                }
                (Some(_), Some(link)) => {
                    return Err(link.invalid("give meeting-place or meeting-link, not both"));
                }
            };
            EventKind::SipInvitation {
                invitation_id: inputs
                    .required(task, "invitation-id", "valueString")?
                    .str()?
                    .to_owned(),
                plan_type: plan_type(inputs.required(task, "plan-type", "valueCoding")?)?,
                from: sender.clone(),
                meeting_at: inputs
                    .required(task, "meeting-at", "valueDateTime")?
                    .timestamp()?,
                place,
                invited: vec![InvitedFunction {
                    party: t.owner("the invited party")?,
                    function: inputs
                        .required(task, "function", "valueString")?
                        .str()?
                        .to_owned(),
                }],
                consent_reference: inputs.text("consent-reference")?,
                placement_id: inputs.text("placement-id")?,
            }
        };
        Ok(kind)
    }

    fn sip_response(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let status = t.status;
        let status_node = t.status_node;
        let inputs = &t.inputs;
        let kind = {
            let answer_node = inputs.required(task, "answer", "valueCoding")?;
            let reason = inputs.text("reason")?.map(Sensitive::new);
            let (answer, task_status) = match required_code(answer_node, ANSWER, "the answer")? {
                "accepted" => (SipAnswer::Accepted, "accepted"),
                "declined" => (
                    SipAnswer::Declined {
                        reason: reason.ok_or_else(|| {
                            task.invalid("missing the input reason: why the invitation is declined")
                        })?,
                    },
                    "rejected",
                ),
                "proposed-other-time" => (
                    SipAnswer::ProposedOtherTime {
                        proposed_at: inputs
                            .required(task, "proposed-at", "valueDateTime")?
                            .timestamp()?,
                        reason,
                    },
                    "received",
                ),
                other => {
                    return Err(answer_node.invalid(format!(
                            "unknown answer {other:?}; expected accepted, declined or proposed-other-time"
                        )));
                }
            };
            if status != task_status {
                return Err(status_node.invalid(format!(
                    "an answer of this kind has the status {task_status}, not {status}"
                )));
            }
            if let Some(business) = task.get("businessStatus") {
                code_in(business, ANSWER)?;
            }
            EventKind::SipResponse {
                invitation_id: inputs
                    .required(task, "invitation-id", "valueString")?
                    .str()?
                    .to_owned(),
                responder: t.owner("the party that answers")?,
                answer,
                attending_function: inputs.text("attending-function")?,
                participants: self.participant_answers(t)?,
            }
        };
        Ok(kind)
    }

    fn sip_plan(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let case = &t.case;
        let kind = {
            let focus = task.required("focus", "the CarePlan")?;
            let plan = self.resolve(focus)?.ok_or_else(|| {
                focus.invalid("a sip-plan Task is read with its CarePlan: send both in a Bundle")
            })?;
            let (kind, _, plan_case) = self.plan(plan)?;
            if plan_case.is_some_and(|c| c != *case) {
                return Err(plan.invalid("the CarePlan names another case than the Task"));
            }
            plan.touch("created");
            plan.touch("author");
            plan.touch("subject");
            kind
        };
        Ok(kind)
    }

    fn information_at_discharge(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let inputs = &t.inputs;
        Ok(EventKind::InformationAtDischarge {
            summary: Sensitive::new(
                inputs
                    .required(task, "summary", "valueString")?
                    .str()?
                    .to_owned(),
            ),
            care_contact: inputs
                .get("care-contact", "valueReference")?
                .map(|r| self.region_unit(r, "the care contact"))
                .transpose()?,
            planned_sip_at: inputs.timestamp("planned-sip-at")?,
            legal_basis: inputs
                .get("legal-basis", "valueString")?
                .map(|n| n.str().map(str::to_owned))
                .transpose()?,
        })
    }

    fn lvm_report(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let inputs = &t.inputs;
        Ok(EventKind::LvmReport {
            physician: self.staff(inputs.required(task, "physician", "valueReference")?)?,
            to_municipality: t.owned_municipality("the municipality the report is for")?,
            legal_basis: inputs
                .required(task, "legal-basis", "valueString")?
                .str()?
                .to_owned(),
            report: Sensitive::new(
                inputs
                    .required(task, "report", "valueString")?
                    .str()?
                    .to_owned(),
            ),
            substances: inputs
                .all("substance", "valueCode")?
                .into_iter()
                .map(|(_, code)| code_of(code, LvmSubstance::ALL, LvmSubstance::as_str))
                .collect::<Result<_>>()?,
            grounds: inputs
                .all("lvm-ground", "valueCode")?
                .into_iter()
                .map(|(_, code)| code_of(code, LvmGround::ALL, LvmGround::as_str))
                .collect::<Result<_>>()?,
            voluntary_care_declined: inputs
                .get("voluntary-care-declined", "valueBoolean")?
                .map(|n| n.bool())
                .transpose()?,
            immediate_custody_advised: inputs
                .get("immediate-custody-advised", "valueBoolean")?
                .map(|n| n.bool())
                .transpose()?,
        })
    }

    fn lvm_decision(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let requester = t.requester();
        let inputs = &t.inputs;
        let sender = &t.sender()?;
        let kind = {
            if !matches!(sender, Party::Municipality { .. }) {
                return Err(requester.invalid(
                        "an LVM decision is sent by the municipality, identified by its municipality code",
                    ));
            }
            let decision = inputs.required(task, "decision", "valueCode")?;
            EventKind::LvmDecision {
                decision_id: inputs
                    .required(task, "decision-id", "valueString")?
                    .str()?
                    .to_owned(),
                decision: match decision.str()? {
                    "care" => LvmDecisionKind::Care,
                    "immediate-custody" => LvmDecisionKind::ImmediateCustody,
                    other => {
                        return Err(decision.invalid(format!(
                            "unknown LVM decision {other:?}; expected care or immediate-custody"
                        )));
                    }
                },
                by: sender.clone(),
            }
        };
        Ok(kind)
    }

    fn services_decided(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let task = t.task;
        let inputs = &t.inputs;
        let sender = &t.sender()?;
        let kind = {
            let mut services = Vec::new();
            for (item, coding) in inputs.all("service", "valueCoding")? {
                let service = required_code(coding, SERVICE_TYPE, "the service type")?;
                services.push(DecidedService {
                        service_type: serde_json::from_value::<ServiceType>(Value::String(
                            service.to_owned(),
                        ))
                        .map_err(|_| {
                            coding.invalid(format!(
                                "unknown service type {service:?}; expected HTJ, LSS, SABO, HSJV or BOENDESTOD"
                            ))
                        })?,
                        description: extension(item, EXT_SERVICE_DESCRIPTION)?
                            .map(|e| e.required_str("valueString", "the description"))
                            .transpose()?
                            .map(|t| Sensitive::new(t.to_owned())),
                        extent: extension(item, EXT_SERVICE_EXTENT)?
                            .map(|e| e.required_str("valueString", "the extent"))
                            .transpose()?
                            .map(str::to_owned),
                        starts_on: extension(item, EXT_SERVICE_START)?
                            .map(|e| e.required("valueDate", "the start date")?.date())
                            .transpose()?,
                    });
            }
            if services.is_empty() {
                return Err(task
                    .invalid("missing: at least one input service (valueCoding, a service type)"));
            }
            EventKind::ServicesDecided {
                decision_id: inputs
                    .required(task, "decision-id", "valueString")?
                    .str()?
                    .to_owned(),
                by: sender.clone(),
                decided_on: inputs
                    .get("decided-on", "valueDate")?
                    .map(|n| n.date())
                    .transpose()?,
                services,
            }
        };
        Ok(kind)
    }

    /// A Task the gateway sent, changed by its owner: an answer to an invitation, or the start
    /// of planning on an admission notice.
    fn task_update(
        &self,
        task: Node<'a>,
        step: &str,
        status_node: Node<'a>,
        case: CaseReference,
        person: PersonId,
    ) -> Result<CanonicalMessage> {
        let status = status_node.str()?;
        let id = task.required_str(
            "id",
            "the Task's id: a changed Task is a new version of a Task the gateway sent",
        )?;
        let changed_at = task
            .required("lastModified", "when the owner changed the Task")?
            .timestamp()?;
        // What the gateway sent stays as it was; the owner's change is status and output.
        for key in ["identifier", "authoredOn", "executionPeriod", "requester"] {
            task.touch(key);
        }
        let owner = task.required("owner", "the party that changed the Task")?;
        let by = self.party(owner)?;
        let sender_name = owner.optional_str("display")?.map(str::to_owned);
        let inputs = Inputs::of(task, "input")?;
        let outputs = Inputs::of(task, "output")?;
        let business = task
            .get("businessStatus")
            .map(|b| code_in(b, ANSWER))
            .transpose()?
            .flatten();
        let (kind, change) = match (step, status) {
            ("admission-notice", "in-progress") => (
                EventKind::PlanningStarted { by: by.clone() },
                "in-progress".to_owned(),
            ),
            ("admission-notice", _) => {
                return Err(status_node.invalid(format!(
                    "an admission-notice Task moves to in-progress when the owner starts its planning; the status {status} reports no step"
                )));
            }
            ("sip-invitation", _) => {
                let reason = task
                    .get("statusReason")
                    .map(|r| {
                        r.touch("coding");
                        r.required_str("text", "the reason in words")
                    })
                    .transpose()?
                    .map(|t| Sensitive::new(t.to_owned()));
                let answer = match (status, business) {
                    ("accepted", None | Some("accepted")) => SipAnswer::Accepted,
                    ("rejected", None | Some("declined")) => SipAnswer::Declined {
                        reason: reason.ok_or_else(|| FhirReadError::Invalid {
                            path: format!("{}.statusReason.text", task.path()),
                            problem: "missing: why the invitation is declined".to_owned(),
                        })?,
                    },
                    ("received", Some("proposed-other-time")) => SipAnswer::ProposedOtherTime {
                        proposed_at: outputs
                            .required(task, "proposed-at", "valueDateTime")?
                            .timestamp()?,
                        reason,
                    },
                    _ => {
                        return Err(status_node.invalid(format!(
                            "an answer to an invitation is status accepted, rejected, or received with businessStatus proposed-other-time; not {status}{}",
                            business.map(|b| format!(" with businessStatus {b}")).unwrap_or_default()
                        )));
                    }
                };
                let change = business.unwrap_or(status).to_owned();
                let invitation_id = inputs
                    .required(task, "invitation-id", "valueString")?
                    .str()?
                    .to_owned();
                (
                    EventKind::SipResponse {
                        invitation_id,
                        responder: by.clone(),
                        answer,
                        attending_function: outputs.text("attending-function")?,
                        participants: Vec::new(),
                    },
                    change,
                )
            }
            (other, _) => {
                return Err(status_node.invalid(format!(
                    "a {other} Task does not change status after it is sent"
                )));
            }
        };
        inputs.consume_known();
        let message_id = format!("Task/{id}/{change}@{changed_at}");
        let issuer = case.issuer.clone();
        Ok(Envelope {
            format: FORMAT,
            id_issuer: &issuer,
            message_id,
            case,
            person,
            sent_at: changed_at,
            occurred_at: changed_at,
            sender: Some(by),
            sender_name,
        }
        .message(kind))
    }
}
