//! A case as FHIR resources with their versions, as one reader may see them: each step's `Task`
//! as a delivery to the reader would carry it (version 1), then one version for every change
//! its owner made to it through the API (`PUT /fhir/Task/{id}`); each plan's `CarePlan`, one
//! version per plan message. References point at `Type/id`, the person's with its identifier
//! too, so a resource read can be changed and sent back as it is.
//!
//! A step's Task ends with its case, as the FHIR Task state machine allows: when the case is
//! cancelled every open Task becomes `cancelled`; when the person is discharged, the open
//! Tasks of the inpatient episode end — one being worked on (`in-progress`) as `completed`,
//! one never started as `cancelled` — each with a `statusReason`, as a version of its own.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::read::CaseRead;
use crate::domain::event::EventKind;
use crate::formats::Mappings;
use crate::formats::fhir::{apply_change, changed_task};
use crate::formats::translate;

/// One version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The resource, with `meta.versionId` and `meta.lastUpdated`.
    pub resource: Value,
    pub version: u32,
    /// When the gateway recorded the step, the change or the plan.
    pub last_updated: Timestamp,
}

/// A resource and its versions, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// `Task` or `CarePlan`.
    pub kind: &'static str,
    pub id: String,
    pub versions: Vec<Version>,
}

impl History {
    /// The current version.
    pub fn current(&self) -> &Version {
        // A history is made with its first version and only grows.
        &self.versions[self.versions.len() - 1]
    }

    /// Version `version`, if it exists.
    pub fn version(&self, version: u32) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == version)
    }

    fn push(&mut self, mut resource: Value, last_updated: Timestamp) {
        let version = self.versions.len() as u32 + 1;
        resource["meta"] = json!({
            "versionId": version.to_string(),
            "lastUpdated": last_updated.to_string(),
        });
        self.versions.push(Version {
            resource,
            version,
            last_updated,
        });
    }
}

/// Task statuses from which a Task can still move (not `completed`, `cancelled`, `failed`,
/// `rejected` or `entered-in-error`).
const OPEN: [&str; 7] = [
    "draft",
    "requested",
    "received",
    "accepted",
    "ready",
    "in-progress",
    "on-hold",
];

/// The steps of the inpatient episode, which discharge ends.
const INPATIENT_STEPS: [&str; 6] = [
    "admission-notice",
    "estimated-discharge-changed",
    "care-contact-appointed",
    "planning-started",
    "ready-for-discharge",
    "information-at-discharge",
];

/// Ends the open Tasks the end of the case (or its inpatient episode) leaves without a purpose.
fn end_open_tasks(found: &mut CaseResources, event: &EventKind, at: Timestamp) {
    let (cancelled, reason) = match event {
        EventKind::CaseCancelled { .. } => (true, "the case was cancelled"),
        EventKind::Discharged { .. } => (false, "the person was discharged"),
        _ => return,
    };
    for history in found.histories.iter_mut().filter(|h| h.kind == "Task") {
        let current = &history.current().resource;
        let status = current["status"].as_str().unwrap_or_default();
        let code = current["code"]["coding"][0]["code"]
            .as_str()
            .unwrap_or_default();
        if !OPEN.contains(&status) || (!cancelled && !INPATIENT_STEPS.contains(&code)) {
            continue;
        }
        let mut ended = current.clone();
        ended["status"] = json!(if !cancelled && status == "in-progress" {
            "completed"
        } else {
            "cancelled"
        });
        ended["statusReason"] = json!({ "text": reason });
        ended["lastModified"] = json!(at.to_string());
        history.push(ended, at);
    }
}

/// The Tasks and CarePlans of one case read, and the person's `Patient` as released with them.
#[derive(Debug, Clone, Default)]
pub struct CaseResources {
    pub histories: Vec<History>,
    pub patient: Option<Value>,
}

impl CaseResources {
    /// The histories of the resources of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a History> + 'a {
        self.histories.iter().filter(move |h| h.kind == kind)
    }

    /// The history of `kind/id`.
    pub fn find(&self, kind: &str, id: &str) -> Option<&History> {
        self.histories.iter().find(|h| h.kind == kind && h.id == id)
    }
}

/// Points every `reference` that names a Bundle entry (`urn:uuid:…`) at `Type/id` instead,
/// with the entry's identifier beside it when it has one (the person's).
fn resolve(value: &mut Value, by_url: &HashMap<String, (String, Option<Value>)>) {
    match value {
        Value::Object(map) => {
            let target = map
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| by_url.get(r))
                .cloned();
            if let Some((reference, identifier)) = target {
                map.insert("reference".to_owned(), json!(reference));
                if let Some(identifier) = identifier {
                    map.insert("identifier".to_owned(), identifier);
                }
                return;
            }
            map.values_mut().for_each(|item| resolve(item, by_url));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| resolve(item, by_url)),
        _ => {}
    }
}

impl CaseRead {
    /// The case's Tasks and CarePlans as this reader may see them. A change whose Task the
    /// reader may not see is shown as the step it reports, a Task of its own.
    pub fn resources(&self, mappings: &Mappings) -> CaseResources {
        let mut found = CaseResources::default();
        for (released, message) in self.events().iter().zip(self.messages()) {
            let event = released.event();
            let recorded = self.recorded_at(event.id).unwrap_or(event.occurred_at);
            end_open_tasks(&mut found, &event.kind, recorded);
            if let Some(target) = changed_task(event)
                && let Some(history) = found
                    .histories
                    .iter_mut()
                    .find(|h| h.kind == "Task" && h.id == target)
            {
                let mut next = history.current().resource.clone();
                if apply_change(&mut next, event) {
                    history.push(next, recorded);
                    continue;
                }
            }
            // A step FHIR does not carry as a Task (a consent) has none.
            let Ok(bundle) = translate::fhir_bundle(&message, mappings) else {
                continue;
            };
            let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
            let by_url: HashMap<String, (String, Option<Value>)> = entries
                .iter()
                .filter_map(|e| {
                    let url = e.get("fullUrl")?.as_str()?.to_owned();
                    let kind = e["resource"]["resourceType"].as_str()?;
                    let id = e["resource"]["id"].as_str()?;
                    let identifier = (kind == "Patient")
                        .then(|| e["resource"]["identifier"][0].clone())
                        .filter(|i| !i.is_null());
                    Some((url, (format!("{kind}/{id}"), identifier)))
                })
                .collect();
            for mut entry in entries {
                let resource = &mut entry["resource"];
                let kind = match resource["resourceType"].as_str() {
                    Some("Patient") => {
                        if found.patient.is_none() {
                            found.patient = Some(resource.take());
                        }
                        continue;
                    }
                    Some("Task") => "Task",
                    Some("CarePlan") => "CarePlan",
                    _ => continue,
                };
                resolve(resource, &by_url);
                let id = resource["id"].as_str().unwrap_or_default().to_owned();
                // A plan sent again is the next version of its CarePlan.
                match found
                    .histories
                    .iter_mut()
                    .find(|h| h.kind == kind && h.id == id)
                {
                    Some(history) => history.push(resource.take(), recorded),
                    None => {
                        let mut history = History {
                            kind,
                            id,
                            versions: Vec::new(),
                        };
                        history.push(resource.take(), recorded);
                        found.histories.push(history);
                    }
                }
            }
        }
        found
    }
}
