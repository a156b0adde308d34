//! Who may change, record, read and see what: the gateway's access rules in one table, each
//! decided on what the gateway has stored — a resource's stored owner, author and subject, the
//! organisation that recorded a consent, the cases an organisation takes part in — never on
//! what a request body claims. Pure: the handlers gather the stored facts and ask here.
//!
//! `RULES` is the table as documentation (the README's Access section states each row); the
//! functions below decide the rows.

use serde_json::Value;

use crate::domain::party::{Organisation, Party};

/// One row of the access table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// What is done.
    pub action: &'static str,
    /// Who may do it, decided on stored facts.
    pub who: &'static str,
    /// The answer to anyone else.
    pub otherwise: &'static str,
}

/// The access rules, one row each.
pub const RULES: &[Rule] = &[
    Rule {
        action: "change a Task's status, business status or output",
        who: "the organisation of the Task's stored owner",
        otherwise: "403",
    },
    Rule {
        action: "change a Task's requester, owner, for or focus",
        who: "nobody: they are the step's, as the gateway stored it",
        otherwise: "422 naming the element",
    },
    Rule {
        action: "revise a CarePlan",
        who: "the organisation of the plan's stored author",
        otherwise: "403",
    },
    Rule {
        action: "change a CarePlan's subject or author",
        who: "nobody",
        otherwise: "422 naming the element",
    },
    Rule {
        action: "record a consent or an objection",
        who: "a principal that takes part in a case of the person (a relay for the organisations it carries)",
        otherwise: "403",
    },
    Rule {
        action: "let a consent permit a disclosure",
        who: "the disclosing organisation's own recorded consent: the discloser obtains consent, a receiver cannot grant itself access",
        otherwise: "the disclosure is withheld",
    },
    Rule {
        action: "record a withdrawal in a case (a `consent_withdrawn` step)",
        who: "any principal that takes part in the case: the person may tell either, and the step is in the case's history for both; it takes effect when the gateway receives it",
        otherwise: "403; a withdrawal dated in the future is refused with 422",
    },
    Rule {
        action: "withdraw a registry consent (`PUT /fhir/Consent/{id}`)",
        who: "the organisation that recorded it: a consent to disclose an organisation's information is that organisation's",
        otherwise: "403 naming the recorder",
    },
    Rule {
        action: "keep seeing the steps it sent",
        who: "the sending organisation, always: a withdrawn consent stops disclosures to others, never the sender's view of its own steps",
        otherwise: "—",
    },
    Rule {
        action: "read a consent",
        who: "the organisation that recorded it, or one that takes part in the case it was recorded in",
        otherwise: "404",
    },
    Rule {
        action: "record a missed deadline, a reminder or a deviation with the gateway's evidence",
        who: "the gateway only",
        otherwise: "422",
    },
    Rule {
        action: "read or add to a case",
        who: "an organisation that takes part in it; one that opened a case of its own sees in it only what was released into it",
        otherwise: "404, the same words as for a case that does not exist, audited",
    },
    Rule {
        action: "see the follow-up statistics",
        who: "a client: its own organisation's units; the county's follow-up (county_statistics): every unit, small figures suppressed",
        otherwise: "—",
    },
    Rule {
        action: "lift a person's protected identity",
        who: "a client registered with may_lift_protection whose organisation takes part in a case of the person, or the operator (brygga protection lift); audited with the reason",
        otherwise: "403",
    },
    Rule {
        action: "use a scope",
        who: "a token granted it, while the client's current registration still holds it",
        otherwise: "403",
    },
];

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request would change what cannot be changed (422), at `element`.
    #[error("{element}: {problem}")]
    Unchangeable { element: String, problem: String },
}

/// The party a reference the gateway rendered names: its HSA-id, and its municipality code
/// (an identifier with the SCB system or the gateway's municipality extension).
pub fn referenced_party(reference: &Value) -> Option<Party> {
    const HSA: [&str; 2] = ["urn:oid:1.2.752.29.4.19", "urn:oid:1.2.752.129.2.1.4.1"];
    const KOMMUNKOD: &str = "urn:oid:1.2.752.129.2.2.1.17";
    const EXT_MUNICIPALITY: &str = "urn:brygga:fhir:StructureDefinition:municipality";
    let identifier = &reference["identifier"];
    let system = identifier["system"].as_str();
    let value = identifier["value"].as_str();
    let mut hsa = None;
    let mut kommunkod = None;
    match (system, value) {
        (Some(s), Some(v)) if HSA.contains(&s) => {
            hsa = crate::domain::identifiers::HsaId::parse(v).ok()
        }
        (Some(KOMMUNKOD), Some(v)) => {
            kommunkod = crate::domain::identifiers::Kommunkod::parse(v).ok();
        }
        _ => {}
    }
    for extension in reference["extension"].as_array().into_iter().flatten() {
        if extension["url"].as_str() == Some(EXT_MUNICIPALITY) {
            kommunkod = extension["valueIdentifier"]["value"]
                .as_str()
                .and_then(|v| crate::domain::identifiers::Kommunkod::parse(v).ok());
        }
    }
    match (kommunkod, hsa) {
        (Some(kommunkod), unit) => Some(Party::Municipality { kommunkod, unit }),
        (None, Some(hsa_id)) => Some(Party::RegionUnit { hsa_id }),
        (None, None) => None,
    }
}

/// Whether a reference sent in an update names what the stored one names: each identifying
/// part the sender gives (`reference`, the identifier's system and value, `type`, the
/// municipality extension) is the stored one's. A `display` may differ.
fn same_reference(stored: &Value, sent: &Value) -> bool {
    if stored.is_null() {
        return sent.is_null();
    }
    let Some(sent_object) = sent.as_object() else {
        return false;
    };
    let mut identifies = false;
    for (key, value) in sent_object {
        match key.as_str() {
            "display" => {}
            "reference" | "identifier" => {
                identifies = true;
                if stored.get(key) != Some(value) {
                    return false;
                }
            }
            _ => {
                if stored.get(key) != Some(value) {
                    return false;
                }
            }
        }
    }
    identifies
}

/// Refuses an update whose `elements` (references) are not the stored resource's.
pub fn unchanged(
    kind: &str,
    stored: &Value,
    sent: &Value,
    elements: &[&str],
) -> Result<(), Refusal> {
    for element in elements {
        if !same_reference(&stored[*element], &sent[*element]) {
            return Err(Refusal::Unchangeable {
                element: format!("{kind}.{element}"),
                problem: format!(
                    "{kind}.{element} is the step's as the gateway stored it and cannot be changed by an update; send it back as read"
                ),
            });
        }
    }
    Ok(())
}

/// The elements of a Task that an update cannot change.
pub const TASK_FIXED: &[&str] = &["requester", "owner", "for", "focus"];
/// The elements of a CarePlan that a revision cannot change.
pub const CAREPLAN_FIXED: &[&str] = &["subject", "author"];

/// Whether `caller` may change a Task whose stored owner is `owner` (resolved to its
/// organisation by the directory): only the owner's organisation changes its status.
pub fn may_change_task(caller: &Organisation, owner: Option<&Organisation>) -> Result<(), Refusal> {
    match owner {
        Some(owner) if owner == caller => Ok(()),
        Some(owner) => Err(Refusal::Forbidden(format!(
            "this Task is owned by {owner}; only its owner's organisation changes its status ({caller} may read it, not answer for it)"
        ))),
        None => Err(Refusal::Forbidden(
            "this Task has no owner the directory knows; nobody changes it through the API"
                .to_owned(),
        )),
    }
}

/// Whether `caller` may revise a CarePlan whose stored author belongs to `author`.
pub fn may_revise_plan(
    caller: &Organisation,
    author: Option<&Organisation>,
) -> Result<(), Refusal> {
    match author {
        Some(author) if author == caller => Ok(()),
        Some(author) => Err(Refusal::Forbidden(format!(
            "this plan was written by {author}; only its author's organisation revises it"
        ))),
        None => Err(Refusal::Forbidden(
            "this plan has no author the directory knows; nobody revises it through the API"
                .to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn region() -> Organisation {
        Organisation::parse("SE2321000214-1000").unwrap()
    }

    fn ostersund() -> Organisation {
        Organisation::parse("2380").unwrap()
    }

    #[test]
    fn only_the_owners_organisation_changes_a_task() {
        assert!(may_change_task(&region(), Some(&region())).is_ok());
        assert!(matches!(
            may_change_task(&ostersund(), Some(&region())),
            Err(Refusal::Forbidden(_))
        ));
        assert!(may_change_task(&ostersund(), None).is_err());
    }

    #[test]
    fn only_the_authors_organisation_revises_a_plan() {
        assert!(may_revise_plan(&ostersund(), Some(&ostersund())).is_ok());
        assert!(may_revise_plan(&region(), Some(&ostersund())).is_err());
    }

    #[test]
    fn a_reference_sent_back_as_read_is_unchanged_and_another_is_refused() {
        let stored = json!({"owner": {"type": "Organization", "display": "Region",
            "identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000214-1000"}}});
        let same = json!({"owner": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000214-1000"}, "display": "another name"}});
        assert!(unchanged("Task", &stored, &same, &["owner"]).is_ok());
        let other = json!({"owner": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2120002411-BIST"}}});
        let refused = unchanged("Task", &stored, &other, &["owner"]).unwrap_err();
        assert!(refused.to_string().starts_with("Task.owner:"), "{refused}");
        // Left out, or with only a display, it is not the stored owner either.
        assert!(unchanged("Task", &stored, &json!({}), &["owner"]).is_err());
        assert!(
            unchanged(
                "Task",
                &stored,
                &json!({"owner": {"display": "x"}}),
                &["owner"]
            )
            .is_err()
        );
        // An element the stored resource does not have cannot be added.
        assert!(
            unchanged(
                "Task",
                &json!({}),
                &json!({"focus": {"reference": "CarePlan/x"}}),
                &["focus"]
            )
            .is_err()
        );
        assert!(unchanged("Task", &json!({}), &json!({}), &["focus"]).is_ok());
    }

    #[test]
    fn rendered_references_name_their_party() {
        let unit = json!({"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2120002411-BIST"},
            "extension": [{"url": "urn:brygga:fhir:StructureDefinition:municipality",
                "valueIdentifier": {"system": "urn:oid:1.2.752.129.2.2.1.17", "value": "2380"}}]});
        assert_eq!(
            referenced_party(&unit).unwrap().to_string(),
            "municipality 2380 unit SE2120002411-BIST"
        );
        let region_unit = json!({"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000214-E1AV"}});
        assert!(matches!(
            referenced_party(&region_unit),
            Some(Party::RegionUnit { .. })
        ));
        assert_eq!(referenced_party(&json!({"display": "x"})), None);
    }

    #[test]
    fn every_rule_says_who_and_what_otherwise() {
        for rule in RULES {
            assert!(!rule.action.is_empty() && !rule.who.is_empty() && !rule.otherwise.is_empty());
        }
    }
}
