//! FHIR R4 `Consent` (in the style of IHE Privacy Consent on FHIR) → a consent directive of
//! the registry, and back. See `mappings/fhir/README.md` ("Consent").
//!
//! - `status` `active` is a directive in force; `inactive` one already withdrawn. Drafts,
//!   proposals, rejections and entries in error are not directives and are refused.
//! - What it is about: a `category` coding of `urn:brygga:fhir:CodeSystem:consent-scope`
//!   (`sip`, `disclosure`, `next-of-kin`), otherwise `scope` `patient-privacy` or `treatment`,
//!   which are disclosure.
//! - Permit or deny: `provision.type`, otherwise `policyRule` (`OPTIN`, `OPTOUT`, `OPTINR`,
//!   `OPTOUTE`), otherwise permit.
//! - Whom it covers: `provision.actor` with a recipient role (`PRCP`, `IRCP`); an actor the
//!   gateway cannot identify (no HSA-id or municipality code) is kept as unresolved and covers
//!   no one. Actors in other roles (custodian, consenter) do not limit it.
//! - Which information: `provision.class` or `provision.code` codings of
//!   `urn:brygga:fhir:CodeSystem:information-category`.
//! - For how long: `provision.period` (dates are whole days in Europe/Stockholm).
//! - Whose: `patient.identifier` with a Swedish person system, or else `patient.reference`,
//!   kept as an unresolved subject.

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use super::json::{Doc, Node, Result};
use super::read::{Reader, code_in};
use crate::domain::consent::{
    ConsentActor, ConsentDirective, ConsentSubject, InformationCategory, Provision,
};
use crate::domain::event::ConsentScope;
use crate::domain::party::Principal;

/// On `Consent.provision`: a principal the consent is limited to (valueCode `region` or
/// `municipality`), repeated for both.
pub const EXT_PRINCIPAL: &str = "urn:brygga:fhir:StructureDefinition:consent-principal";
/// The code system of what a consent is about.
pub const CONSENT_SCOPE: &str = "urn:brygga:fhir:CodeSystem:consent-scope";
/// The code system of information categories a consent can be limited to.
pub const INFORMATION_CATEGORY: &str = "urn:brygga:fhir:CodeSystem:information-category";
const HL7_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const RECIPIENT_ROLES: &[&str] = &["PRCP", "IRCP"];

/// A Consent read: whom it is about, the directive, and what was not mapped.
#[derive(Debug, Clone)]
pub struct ConsentRead {
    pub subject: ConsentSubject,
    pub directive: ConsentDirective,
    pub warnings: Vec<String>,
}

/// Reads a FHIR `Consent`. `id` is the registry id to give it (the resource's id from now on);
/// `now` is when the gateway records it.
pub fn read_consent(value: &Value, id: &str, today: Date, now: Timestamp) -> Result<ConsentRead> {
    let doc = Doc::new(value)?;
    let root = doc.root();
    let resource_type = root.required_str("resourceType", "the resource type")?;
    if resource_type != "Consent" {
        return Err(root
            .required("resourceType", "")?
            .invalid(format!("expected a Consent, not a {resource_type}")));
    }
    let reader = Reader {
        today,
        resources: Default::default(),
    };
    root.touch("id");
    root.touch("meta");
    root.touch("text");
    root.touch("dateTime");
    root.touch("organization");
    root.touch("performer");
    root.touch("sourceAttachment");
    root.touch("sourceReference");
    // The registry id is the gateway's; the sender's identifiers stay in the resource.
    root.touch("identifier");
    let subject = subject(
        &reader,
        root.required("patient", "the person the consent is about")?,
    )?;
    let directive = directive(&reader, root, id, now)?;
    let warnings = doc
        .unread()
        .into_iter()
        .map(|path| format!("{path}: not mapped; not enforced"))
        .collect();
    Ok(ConsentRead {
        subject,
        directive,
        warnings,
    })
}

/// What a Consent says, whoever it is about: status, scope, permit or deny, recipients,
/// principals, categories and period. `id` becomes the directive's id.
pub(super) fn directive<'a>(
    reader: &Reader<'a>,
    root: Node<'a>,
    id: &str,
    now: Timestamp,
) -> Result<ConsentDirective> {
    let status = root.required("status", "the consent's status")?;
    let withdrawn_at = match status.str()? {
        "active" => None,
        "inactive" => Some(now),
        other => {
            return Err(status.invalid(format!(
                "is {other:?}: the gateway records consents in force (active) or withdrawn (inactive)"
            )));
        }
    };

    let consent_id = id.to_owned();
    let scope = scope(root)?;

    let provision_node = root.get("provision");
    let mut provision = match root.get("policyRule") {
        Some(rule) => match code_in(rule, ACT_CODE)? {
            Some("OPTIN" | "OPTINR") => Provision::Permit,
            Some("OPTOUT" | "OPTOUTE") => Provision::Deny,
            Some(other) => {
                return Err(rule.invalid(format!(
                    "policy rule {other:?} is not one the gateway enforces (OPTIN, OPTINR, OPTOUT, OPTOUTE)"
                )));
            }
            None => Provision::Permit,
        },
        None => Provision::Permit,
    };
    let mut recipients = Vec::new();
    let mut categories = Vec::new();
    let mut principals = Vec::new();
    let (mut valid_from, mut valid_until) = (None, None);
    if let Some(p) = provision_node {
        if let Some(kind) = p.get("type") {
            provision = match kind.str()? {
                "permit" => Provision::Permit,
                "deny" => Provision::Deny,
                _ => return Err(kind.invalid("expected permit or deny")),
            };
        }
        if let Some(period) = p.get("period") {
            valid_from = period.get("start").map(|n| instant(n, false)).transpose()?;
            valid_until = period.get("end").map(|n| instant(n, true)).transpose()?;
        }
        for actor in p.unread_items("actor")? {
            actor.mark();
            let role = actor.required("role", "the actor's role")?;
            let is_recipient =
                matches!(code_in(role, PARTICIPATION)?, Some(r) if RECIPIENT_ROLES.contains(&r));
            let reference = actor.required("reference", "the actor")?;
            if !is_recipient {
                reference.consume();
                continue;
            }
            recipients.push(self::actor(reader, reference)?);
        }
        for ext in p.unread_items("extension")? {
            if ext.v.get("url").and_then(Value::as_str) != Some(EXT_PRINCIPAL) {
                continue;
            }
            ext.mark();
            ext.touch("url");
            let code = ext.required("valueCode", "the principal")?;
            principals.push(match code.str()? {
                "region" => Principal::Region,
                "municipality" => Principal::Municipality,
                _ => return Err(code.invalid("expected region or municipality")),
            });
        }
        p.touch("action");
        p.touch("purpose");
        p.touch("securityLabel");
        for key in ["class", "code"] {
            for item in p.unread_items(key)? {
                item.mark();
                let code = code_in(item, INFORMATION_CATEGORY)?.ok_or_else(|| {
                    item.invalid(format!(
                        "limits the consent by a code the gateway does not know; use {INFORMATION_CATEGORY}"
                    ))
                })?;
                let category = InformationCategory::ALL
                    .iter()
                    .find(|c| c.as_str().replace('_', "-") == code)
                    .ok_or_else(|| {
                        item.invalid(format!("{code:?} is not an information category"))
                    })?;
                categories.push(*category);
            }
        }
    }
    Ok(ConsentDirective {
        id: consent_id,
        scope,
        provision,
        principals,
        recipients,
        categories,
        valid_from,
        valid_until,
        recorded_at: now,
        withdrawn_at,
        source: crate::formats::fhir::FORMAT.to_owned(),
        recorded_by: None,
        recorded_by_party: None,
    })
}

fn subject<'a>(reader: &Reader<'a>, patient: Node<'a>) -> Result<ConsentSubject> {
    patient.touch("display");
    patient.touch("type");
    if let Some(identifier) = patient.get("identifier") {
        identifier.mark();
        patient.touch("reference");
        return reader.person_id(identifier).map(ConsentSubject::Person);
    }
    match patient.optional_str("reference")? {
        Some(reference) => Ok(ConsentSubject::Reference(reference.to_owned())),
        None => Err(patient.invalid(
            "names no person: give an identifier (personnummer, samordningsnummer or reserve number) or a reference",
        )),
    }
}

fn scope(root: Node<'_>) -> Result<ConsentScope> {
    for category in root.unread_items("category")? {
        category.mark();
        if let Some(code) = code_in(category, CONSENT_SCOPE)? {
            // The brygga category says what it is about; the HL7 scope is context.
            root.touch("scope");
            return match code {
                "sip" => Ok(ConsentScope::Sip),
                "disclosure" => Ok(ConsentScope::Disclosure),
                "next-of-kin" => Ok(ConsentScope::NextOfKin),
                other => Err(category.invalid(format!(
                    "{other:?} is not a consent scope (sip, disclosure, next-of-kin)"
                ))),
            };
        }
        // Other categories (e.g. LOINC 59284-0, "Patient Consent") describe the document.
        category.consume();
    }
    let scope = root.required("scope", "what the consent is about")?;
    match code_in(scope, HL7_SCOPE)? {
        Some("patient-privacy" | "treatment") => Ok(ConsentScope::Disclosure),
        Some(other) => Err(scope.invalid(format!(
            "a {other:?} consent is not one the gateway enforces (patient-privacy, treatment, or a category of {CONSENT_SCOPE})"
        ))),
        None => Err(scope.invalid(format!("no coding of {HL7_SCOPE}"))),
    }
}

fn actor<'a>(reader: &Reader<'a>, reference: Node<'a>) -> Result<ConsentActor> {
    let identified =
        reference.get("identifier").is_some() || reference.v.get("extension").is_some();
    if identified {
        return reader.party(reference).map(ConsentActor::Party);
    }
    reference.touch("display");
    match reference.optional_str("reference")? {
        Some(r) => Ok(ConsentActor::Unresolved {
            reference: r.to_owned(),
        }),
        None => {
            Err(reference.invalid("names no organisation: give its HSA-id or municipality code"))
        }
    }
}

/// A FHIR date or dateTime as an instant: a date is the start of that day in Stockholm, or
/// (for a period's end, `end`) the start of the next.
fn instant(node: Node<'_>, end: bool) -> Result<Timestamp> {
    let text = node.str()?;
    if text.len() > 10 {
        return node.timestamp();
    }
    let date = node.date()?;
    let day = if end {
        date.tomorrow()
            .map_err(|_| node.invalid("is out of range"))?
    } else {
        date
    };
    day.to_datetime(jiff::civil::Time::midnight())
        .to_zoned_datetime(crate::domain::time::stockholm())
        .map(|z| z.timestamp())
        .map_err(|_| node.invalid("is out of range"))
}

/// The registry entry as a FHIR `Consent` (the resource as received, with the gateway's id and
/// status, when it came as one).
pub fn consent_resource(
    resource_id: &str,
    subject: &str,
    directive: &ConsentDirective,
    received: Option<&Value>,
) -> Value {
    let status = if directive.withdrawn_at.is_some() {
        "inactive"
    } else {
        "active"
    };
    if let Some(received) = received {
        let mut resource = received.clone();
        resource["id"] = json!(resource_id);
        resource["status"] = json!(status);
        return resource;
    }
    let patient = match subject.split_once('|') {
        Some((system, value)) => json!({ "identifier": { "system": system, "value": value } }),
        None => json!({ "reference": subject }),
    };
    let scope_code = match directive.scope {
        ConsentScope::Sip => "sip",
        ConsentScope::Disclosure => "disclosure",
        ConsentScope::NextOfKin => "next-of-kin",
    };
    let mut provision = json!({
        "type": match directive.provision { Provision::Permit => "permit", Provision::Deny => "deny" },
    });
    let actors: Vec<Value> = directive
        .recipients
        .iter()
        .map(|a| {
            // A party as every resource names it: a municipality's unit by its HSA-id, with
            // the municipality in an extension.
            let reference = match a {
                ConsentActor::Party(party) => super::render::party_reference_value(party),
                ConsentActor::Unresolved { reference } => json!({ "reference": reference }),
            };
            json!({
                "role": { "coding": [{ "system": PARTICIPATION, "code": "PRCP" }] },
                "reference": reference,
            })
        })
        .collect();
    if !actors.is_empty() {
        provision["actor"] = json!(actors);
    }
    if !directive.principals.is_empty() {
        provision["extension"] = json!(
            directive
                .principals
                .iter()
                .map(|p| json!({
                    "url": EXT_PRINCIPAL,
                    "valueCode": match p { Principal::Region => "region", Principal::Municipality => "municipality" },
                }))
                .collect::<Vec<_>>()
        );
    }
    if !directive.categories.is_empty() {
        provision["class"] = json!(
            directive
                .categories
                .iter()
                .map(|c| json!({ "system": INFORMATION_CATEGORY, "code": c.as_str().replace('_', "-") }))
                .collect::<Vec<_>>()
        );
    }
    if directive.valid_from.is_some() || directive.valid_until.is_some() {
        let mut period = json!({});
        if let Some(from) = directive.valid_from {
            period["start"] = json!(from.to_string());
        }
        if let Some(until) = directive.valid_until {
            period["end"] = json!(until.to_string());
        }
        provision["period"] = period;
    }
    json!({
        "resourceType": "Consent",
        "id": resource_id,
        "status": status,
        "scope": { "coding": [{ "system": HL7_SCOPE, "code": "patient-privacy" }] },
        "category": [{ "coding": [{ "system": CONSENT_SCOPE, "code": scope_code }] }],
        "patient": patient,
        "dateTime": directive.recorded_at.to_string(),
        "provision": provision,
    })
}
