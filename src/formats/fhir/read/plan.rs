//! Reading a CarePlan: a SIP/SPU plan, on its own or as the focus of a sip-plan Task.

use super::*;

impl<'a> Reader<'a> {
    /// A SIP/SPU plan and the case it names (if it does).
    pub(super) fn plan(
        &self,
        plan: Node<'a>,
    ) -> Result<(EventKind, String, Option<CaseReference>)> {
        plan.touch("id");
        plan.touch("status");
        plan.touch("intent");
        if let Some(meta) = plan.get("meta") {
            meta.touch("versionId");
            meta.touch("lastUpdated");
        }
        let case = extension(plan, EXT_CASE)?
            .map(|ext| case_reference(ext.required("valueIdentifier", "the case")?))
            .transpose()?;
        let identifier = plan
            .first("identifier")?
            .ok_or_else(|| plan.invalid("missing: CarePlan.identifier, the plan's id"))?;
        identifier.touch("system");
        let plan_id = identifier
            .required_str("value", "the plan's id")?
            .to_owned();
        let category = plan
            .first("category")?
            .ok_or_else(|| plan.invalid("missing: CarePlan.category, the plan type"))?;
        let overall = extension(plan, EXT_OVERALL)?.ok_or_else(|| {
            plan.invalid(format!(
                "missing the extension {EXT_OVERALL}: the principal with overall responsibility"
            ))
        })?;
        let overall_node = overall.required("valueCode", "region or municipality")?;
        let overall_responsibility = principal(overall_node)?.ok_or_else(|| {
            overall_node.invalid("overall responsibility is region or municipality")
        })?;
        let next_of_kin_participated = extension(plan, EXT_NEXT_OF_KIN)?
            .map(|e| e.required("valueBoolean", "true or false")?.bool())
            .transpose()?
            .unwrap_or(false);
        let follow_up_on = extension(plan, EXT_FOLLOW_UP)?
            .map(|e| e.required("valueDate", "the follow-up date")?.date())
            .transpose()?;
        let mut activities = Vec::new();
        if let Some(list) = plan.get("activity") {
            for activity in list.items()? {
                let detail = activity.required(
                    "detail",
                    "the activity's detail (brygga reads activity.detail, not activity.reference)",
                )?;
                detail.touch("status");
                detail.touch("kind");
                let responsible = extension(detail, EXT_RESPONSIBLE)?.ok_or_else(|| {
                    detail.invalid(format!(
                        "missing the extension {EXT_RESPONSIBLE}: region, municipality or other"
                    ))
                })?;
                let service_type = match detail.get("code") {
                    Some(code) => match code_in(code, SERVICE_TYPE)? {
                        Some(service) => Some(
                            serde_json::from_value::<ServiceType>(Value::String(
                                service.to_owned(),
                            ))
                            .map_err(|_| {
                                code.invalid(format!(
                                    "unknown service type {service:?}; expected HTJ, LSS, SABO, HSJV or BOENDESTOD"
                                ))
                            })?,
                        ),
                        None => None,
                    },
                    None => None,
                };
                activities.push(PlanActivity {
                    description: Sensitive::new(
                        detail
                            .required_str("description", "what is to be done")?
                            .to_owned(),
                    ),
                    responsible: principal(
                        responsible.required("valueCode", "region, municipality or other")?,
                    )?,
                    performer: detail
                        .first("performer")?
                        .map(|p| self.party(p))
                        .transpose()?,
                    service_type,
                });
            }
        }
        if activities.is_empty() {
            return Err(plan.invalid("missing: CarePlan.activity, the plan's services and actions"));
        }
        Ok((
            EventKind::SipPlan {
                plan_id: plan_id.clone(),
                plan_type: plan_type(category)?,
                activities,
                overall_responsibility,
                next_of_kin_participated,
                follow_up_on,
            },
            plan_id,
            case,
        ))
    }

    /// A CarePlan on its own (or alone in a Bundle): a plan posted by a FHIR client.
    pub(super) fn plan_message(&self, plan: Node<'a>) -> Result<CanonicalMessage> {
        let (kind, plan_id, case) = self.plan(plan)?;
        let case = case.ok_or_else(|| {
            plan.invalid(format!(
                "missing the extension {EXT_CASE}: the samordningsärende the plan belongs to"
            ))
        })?;
        let (person, _) = self.person(plan.required("subject", "the person (Patient)")?)?;
        let created = plan.get("created").map(|n| n.timestamp()).transpose()?;
        let updated = plan
            .get("meta")
            .and_then(|m| m.get("lastUpdated"))
            .map(|n| n.timestamp())
            .transpose()?;
        let sent_at = updated
            .or(created)
            .ok_or_else(|| plan.invalid("missing: CarePlan.created, when the plan was made"))?;
        let author = plan.required("author", "the unit that made the plan")?;
        let sender = self.party(author)?;
        let sender_name = author.optional_str("display")?.map(str::to_owned);
        let message_id = format!("CarePlan/{plan_id}@{sent_at}");
        let issuer = case.issuer.clone();
        Ok(Envelope {
            format: FORMAT,
            id_issuer: &issuer,
            message_id,
            case,
            person,
            sent_at,
            occurred_at: created.unwrap_or(sent_at),
            sender: Some(sender),
            sender_name,
        }
        .message(kind))
    }
}
