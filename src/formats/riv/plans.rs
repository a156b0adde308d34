//! A case's plans as the contract carries them: every version of every SIP/SPU/SPLPTLRV plan
//! released to the reader becomes one `CarePlan` (header: document id, source system, title,
//! time, author; body: the plan as Swedish text, the participating units, the plan type), and
//! the request's filters (care units, period, source system, care contacts) choose among them.

use jiff::Timestamp;

use super::request::GetCarePlans;
use super::response::{Author, CarePlan, Content};
use crate::domain::event::{Event, EventKind, PlanType, ServiceType};
use crate::domain::identifiers::{HsaId, PersonId};
use crate::domain::party::{Party, Principal};
use crate::domain::time::stockholm;

/// What the mapping needs to know of a party beyond the event: its name and its care giver's
/// HSA-id (the region), from the organisation directory.
pub trait Parties {
    fn name(&self, party: &Party) -> Option<String>;
    fn care_giver(&self, party: &Party) -> Option<HsaId>;
}

/// The plans of one case, in the order they were made.
pub struct CasePlans<'a, P> {
    pub person: &'a PersonId,
    /// The gateway's HSA-id as a source system.
    pub source_system: &'a HsaId,
    /// The document id of version `version` (from 1) of plan `plan_id`.
    pub document_id: &'a dyn Fn(&str, u32) -> String,
    pub parties: &'a P,
}

impl<P: Parties> CasePlans<'_, P> {
    /// Every version of every plan among `events` (the case's events as released to the
    /// reader, in order). A plan made before the case was cancelled is marked nullified.
    pub fn plans<'e>(&self, events: impl IntoIterator<Item = &'e Event>) -> Vec<CarePlan> {
        let events: Vec<&Event> = events.into_iter().collect();
        let cancelled = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::CaseCancelled { .. }));
        let mut versions: Vec<(&str, u32)> = Vec::new();
        let mut plans = Vec::new();
        for event in events {
            let EventKind::SipPlan { plan_id, .. } = &event.kind else {
                continue;
            };
            let version = match versions.iter_mut().find(|(id, _)| id == plan_id) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    versions.push((plan_id, 1));
                    1
                }
            };
            if let Some(mut plan) = self.plan(event, version) {
                if cancelled {
                    plan.nullified = Some("Samordningsärendet har makulerats.".to_owned());
                }
                plans.push(plan);
            }
        }
        plans
    }

    fn plan(&self, event: &Event, version: u32) -> Option<CarePlan> {
        let EventKind::SipPlan {
            plan_id,
            plan_type,
            activities,
            overall_responsibility,
            next_of_kin_participated,
            follow_up_on,
        } = &event.kind
        else {
            return None;
        };
        let sender = event.source.sender.as_ref();
        let mut units: Vec<HsaId> = Vec::new();
        let mut add_unit = |party: Option<&Party>| {
            if let Some(unit) = party.and_then(unit_of)
                && !units.contains(&unit)
            {
                units.push(unit);
            }
        };
        add_unit(sender);
        for activity in activities {
            add_unit(activity.performer.as_ref());
        }
        let title = format!("{}, version {version}", title(*plan_type));
        let mut text = format!("{title}\n");
        text.push_str(&format!("Upprättad: {}", local_time(event.occurred_at)));
        if let Some(sender) = sender {
            text.push_str(&format!(" av {}", self.describe(sender)));
        }
        text.push('\n');
        text.push_str(&format!(
            "Övergripande ansvar: {}\n",
            principal(*overall_responsibility)
        ));
        text.push_str("Insatser:\n");
        for activity in activities {
            text.push_str("- ");
            text.push_str(activity.description.expose());
            match activity.responsible {
                Some(who) => text.push_str(&format!(" (ansvar: {}", principal(who))),
                None => text.push_str(" (andra aktörer"),
            }
            if let Some(performer) = &activity.performer {
                text.push_str(&format!(", utförs av {}", self.describe(performer)));
            }
            if let Some(service) = activity.service_type {
                text.push_str(&format!(", {}", service_name(service)));
            }
            text.push_str(")\n");
        }
        if let Some(day) = follow_up_on {
            text.push_str(&format!("Uppföljning: {day}\n"));
        }
        text.push_str(&format!(
            "Närstående deltog: {}\n",
            if *next_of_kin_participated {
                "ja"
            } else {
                "nej"
            }
        ));
        Some(CarePlan {
            document_id: (self.document_id)(plan_id, version),
            source_system: self.source_system.clone(),
            title: Some(title),
            document_time: Some(event.occurred_at),
            patient: self.person.clone(),
            author: Author {
                time: event.occurred_at,
                hsa_id: None,
                name: None,
                care_unit: sender.and_then(unit_of),
                care_giver: sender.and_then(|s| self.parties.care_giver(s)),
            },
            approved_for_patient: false,
            nullified: None,
            care_contact_id: None,
            content: vec![Content {
                id: Some(format!("{plan_id}-{version}")),
                media_type: "text/plain",
                value: text.into_bytes(),
            }],
            participating_care_units: units,
            plan_type: Some(*plan_type),
        })
    }

    fn describe(&self, party: &Party) -> String {
        let id = match party {
            Party::RegionUnit { hsa_id } => hsa_id.as_str().to_owned(),
            Party::Municipality {
                unit: Some(unit), ..
            } => unit.as_str().to_owned(),
            Party::Municipality { kommunkod, .. } => format!("kommun {kommunkod}"),
        };
        match self.parties.name(party) {
            Some(name) => format!("{name} ({id})"),
            None => id,
        }
    }
}

/// Whether `plan` passes the request's filters.
pub fn wanted(request: &GetCarePlans, plan: &CarePlan) -> bool {
    if request
        .source_system
        .as_ref()
        .is_some_and(|s| *s != plan.source_system)
    {
        return false;
    }
    // The gateway keeps no care contact ids with its plans: asked for some, none is one of them.
    if !request.care_contact_ids.is_empty()
        && !request
            .care_contact_ids
            .iter()
            .any(|c| plan.care_contact_id.as_ref() == Some(c))
    {
        return false;
    }
    if !request.care_units.is_empty()
        && !request.care_units.iter().any(|unit| {
            plan.author.care_unit.as_ref() == Some(unit)
                || plan.participating_care_units.contains(unit)
        })
    {
        return false;
    }
    match (request.date_period, plan.document_time) {
        (Some((start, end)), Some(at)) => {
            let day = at.to_zoned_datetime(stockholm()).date();
            start <= day && day <= end
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn unit_of(party: &Party) -> Option<HsaId> {
    match party {
        Party::RegionUnit { hsa_id } => Some(hsa_id.clone()),
        Party::Municipality { unit, .. } => unit.clone(),
    }
}

fn title(plan_type: PlanType) -> &'static str {
    match plan_type {
        PlanType::Sip => "Samordnad individuell plan (SIP)",
        PlanType::Spu => "Samordnad plan vid utskrivning (SPU)",
        PlanType::Splptlrv => "Samordnad vårdplan, öppen psykiatrisk tvångsvård (SPLPTLRV)",
    }
}

fn principal(principal: Principal) -> &'static str {
    match principal {
        Principal::Region => "regionen",
        Principal::Municipality => "kommunen",
    }
}

fn service_name(service: ServiceType) -> &'static str {
    match service {
        ServiceType::Htj => "hemtjänst",
        ServiceType::Lss => "insatser enligt LSS",
        ServiceType::Sabo => "särskilt boende",
        ServiceType::Hsjv => "hemsjukvård",
        ServiceType::Boendestod => "boendestöd",
    }
}

fn local_time(at: Timestamp) -> String {
    at.to_zoned_datetime(stockholm())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}
