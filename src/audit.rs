//! The audit log for people: records as FHIR R4 `AuditEvent` resources, and a person's log
//! extract (which organisations saw or received what about them, when, and on what basis), as
//! the patient data act requires (pure: the records come from `Store::audit_records`); and the
//! log verified against its signed checkpoints (`verify`, which reads the store).

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Directory;
use crate::domain::identifiers::systems;
use crate::domain::party::Organisation;
use crate::store::AuditRecord;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL: &str = "http://hl7.org/fhir/restful-interaction";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";

/// What kind of audit event an action is: the `type` and `subtype` codings, the `action`
/// code (C, R, U, D, E) and whether it was a refusal.
fn classify(action: &str) -> (Value, Option<Value>, &'static str, bool) {
    let verb = action.split_whitespace().next().unwrap_or("");
    let rest = |code: &str| {
        (
            json!({ "system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation" }),
            Some(json!({ "system": RESTFUL, "code": code })),
        )
    };
    match verb {
        "disclose" => (
            json!({ "system": DCM, "code": "110106", "display": "Export" }),
            None,
            "R",
            false,
        ),
        "receive" => (
            json!({ "system": DCM, "code": "110107", "display": "Import" }),
            None,
            "C",
            false,
        ),
        "deny" => (
            json!({ "system": DCM, "code": "110106", "display": "Export" }),
            None,
            "R",
            true,
        ),
        "login" => (
            json!({ "system": DCM, "code": "110114", "display": "User Authentication" }),
            None,
            "E",
            action != "login",
        ),
        "access" => {
            let (t, s) = rest("read");
            (t, s, "R", true)
        }
        "read" => {
            let (t, s) = rest("read");
            (t, s, "R", false)
        }
        "search" => {
            let (t, s) = rest("search-type");
            (t, s, "R", false)
        }
        "withdraw" => {
            let (t, s) = rest("update");
            (t, s, "U", false)
        }
        _ => {
            let (t, s) = rest("create");
            (t, s, "C", false)
        }
    }
}

/// The identifier of an organisation code (HSA-id or kommunkod).
fn organisation_identifier(code: &str) -> Value {
    match Organisation::parse(code) {
        Ok(Organisation::Municipality { .. }) => {
            json!({ "system": systems::KOMMUNKOD, "value": code })
        }
        _ => json!({ "system": systems::HSA_ID, "value": code }),
    }
}

/// One audit record as a FHIR R4 `AuditEvent`. The record's sequence number is its id; its
/// hash and the previous hash travel as entity details, so an export can be checked too.
pub fn audit_event(record: &AuditRecord) -> Value {
    let (kind, subtype, action, refused) = classify(&record.action);
    let mut agent = json!({
        "who": { "identifier": { "value": record.actor } },
        "name": record.actor,
        "requestor": true,
    });
    let mut agents = vec![];
    if let Some(organisation) = &record.organisation {
        agent["who"]["display"] = json!(record.actor);
        agents.push(agent);
        agents.push(json!({
            "type": { "text": "organisation" },
            "who": { "identifier": organisation_identifier(organisation) },
            "requestor": false,
        }));
    } else {
        agents.push(agent);
    }
    let mut details = vec![
        json!({ "type": "action", "valueString": record.action }),
        json!({ "type": "hash", "valueString": record.hash }),
        json!({ "type": "previous-hash", "valueString": record.prev_hash }),
    ];
    if let Some(basis) = &record.legal_basis {
        details.push(json!({ "type": "legal-basis", "valueString": basis }));
    }
    if let Some(case) = &record.case_id {
        details.push(json!({ "type": "case", "valueString": case }));
    }
    let mut entities = vec![json!({
        "type": { "system": ENTITY_TYPE, "code": "2", "display": "System Object" },
        "description": record.details.to_string(),
        "detail": details,
    })];
    if let Some(person) = &record.person
        && let Some((system, value)) = person.split_once('|')
    {
        entities.push(json!({
            "what": { "identifier": { "system": system, "value": value } },
            "type": { "system": ENTITY_TYPE, "code": "1", "display": "Person" },
            "role": { "system": OBJECT_ROLE, "code": "1", "display": "Patient" },
        }));
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": record.seq.to_string(),
        "type": kind,
        "action": action,
        "recorded": record.recorded_at.to_string(),
        "outcome": if refused { "4" } else { "0" },
        "purposeOfEvent": [{ "text": record.purpose }],
        "agent": agents,
        "source": { "observer": { "display": "brygga" } },
        "entity": entities,
    });
    if let Some(subtype) = subtype {
        event["subtype"] = json!([subtype]);
    }
    if refused {
        event["outcomeDesc"] = record
            .details
            .get("reason")
            .or_else(|| record.details.get("explanation"))
            .cloned()
            .unwrap_or(json!(record.action));
    }
    event
}

/// A `searchset` Bundle of AuditEvents.
pub fn audit_bundle(records: &[AuditRecord]) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": records.len(),
        "entry": records.iter().map(|r| json!({
            "fullUrl": format!("AuditEvent/{}", r.seq),
            "resource": audit_event(r),
            "search": { "mode": "match" },
        })).collect::<Vec<_>>(),
    })
}

/// One line of a person's log extract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtractLine {
    pub at: jiff::Timestamp,
    /// The organisation's code and, when the directory knows it, its name.
    pub organisation: Option<String>,
    pub organisation_name: Option<String>,
    /// Who acted: a client id, or `brygga` for the gateway's own disclosures.
    pub actor: String,
    /// What happened, e.g. `disclose admission_notice`, `read deviation`, `deny sip_invitation`.
    pub what: String,
    pub why: String,
    pub legal_basis: Option<String>,
}

/// The person's log extract from their audit records, oldest first.
pub fn extract(records: &[AuditRecord], directory: &Directory) -> Vec<ExtractLine> {
    records
        .iter()
        .map(|r| ExtractLine {
            at: r.recorded_at,
            organisation: r.organisation.clone(),
            organisation_name: r.organisation.as_deref().and_then(
                |code| match Organisation::parse(code).ok()? {
                    Organisation::Region { hsa_id } => {
                        directory.region(&hsa_id).map(|r| r.name.clone())
                    }
                    Organisation::Municipality { kommunkod } => {
                        directory.municipality(kommunkod).map(|m| m.name.clone())
                    }
                },
            ),
            actor: r.actor.clone(),
            what: r.action.clone(),
            why: r.purpose.clone(),
            legal_basis: r.legal_basis.clone(),
        })
        .collect()
}

/// The audit log verified: its hash chain, and the chain against each signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub chain: crate::store::AuditChainReport,
    /// Every problem found, in words; none when the log is intact.
    pub problems: Vec<String>,
}

/// Verifies the audit log's hash chain and, for each of `checkpoints` (named by their source,
/// e.g. the file), that `trusted` signed it and that the log still holds what it saw: not
/// truncated or rewound, not recomputed, its start not rewritten. `retention_on`: whether the
/// configuration lets records be deleted after their retention at all.
pub async fn verify(
    store: &crate::store::Store,
    checkpoints: &[(String, crate::anchor::Checkpoint)],
    trusted: Option<&crate::anchor::TrustedKey>,
    retention_on: bool,
) -> Result<Verification, crate::store::StoreError> {
    let chain = store.verify_audit_chain().await?;
    let mut problems = Vec::new();
    if let Some(seq) = chain.first_broken {
        problems.push(format!(
            "the chain is broken at record {seq}: a record from there on was changed, removed or reordered"
        ));
    }
    if chain.anchor > 0 && !retention_on {
        problems.push(format!(
            "records 1 to {} are gone, though the audit log's retention is off: its start was deleted",
            chain.anchor
        ));
    }
    for (source, checkpoint) in checkpoints {
        let Some(trusted) = trusted else {
            problems.push(format!(
                "{source}: no key to verify it with (audit.anchor_key_file, or --public-key)"
            ));
            continue;
        };
        if let Err(problem) = trusted.verifies(checkpoint) {
            problems.push(format!("{source}: {problem}"));
            continue;
        }
        let now = store.chain_now(checkpoint).await?;
        for problem in crate::anchor::judge(checkpoint, &now, retention_on) {
            problems.push(format!("{source}: {problem}"));
        }
    }
    Ok(Verification { chain, problems })
}
