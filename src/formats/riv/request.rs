//! Reading a GetCarePlans request: the SOAP envelope, the `LogicalAddress` header and the
//! `GetCarePlans` element, each element checked against the contract's schema (names,
//! namespaces, order, how often, the value patterns), an error naming the element's path and
//! position.

use jiff::civil::Date;

use super::{CORE, REGISTRY, RESPONDER, SOAP_ENVELOPE, person_types};
use crate::domain::identifiers::{HsaId, PersonId, Personnummer, Samordningsnummer};
use crate::formats::xml::{self, Element, Position};

/// A GetCarePlans request as read.
#[derive(Debug, Clone, PartialEq)]
pub struct GetCarePlans {
    /// Who the request is addressed to (RIV-TA `LogicalAddress`).
    pub logical_address: String,
    /// Only plans of these care units (none: every unit).
    pub care_units: Vec<HsaId>,
    pub patient: PersonId,
    /// Only plans whose document time falls on these days, both included.
    pub date_period: Option<(Date, Date)>,
    /// Only plans from this source system.
    pub source_system: Option<HsaId>,
    pub care_contact_ids: Vec<String>,
}

/// What is wrong with a request, and where: answered as a SOAP fault (`Client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {problem}", position.map(|p| format!(" ({p})")).unwrap_or_default())]
pub struct RequestError {
    /// The element, as `/Envelope/Body/GetCarePlans/patientId/type`.
    pub path: String,
    pub position: Option<Position>,
    pub problem: String,
}

fn at(path: &str, element: &Element<'_>, problem: impl Into<String>) -> RequestError {
    RequestError {
        path: path.to_owned(),
        position: Some(element.position),
        problem: problem.into(),
    }
}

fn in_namespace(element: &Element<'_>, namespace: &str) -> bool {
    element.namespace.as_deref() == Some(namespace)
}

/// The children of a schema sequence: each `(name, min, max)` in order, in `namespace`;
/// elements of other namespaces are the sequence's `xs:any ##other` (skipped). Returns the
/// elements found for each entry.
fn sequence<'a, 'd>(
    parent: &'a Element<'d>,
    path: &str,
    namespace: &str,
    entries: &[(&str, usize, usize)],
) -> Result<Vec<Vec<&'a Element<'d>>>, RequestError> {
    let mut found: Vec<Vec<&Element<'d>>> = vec![Vec::new(); entries.len()];
    let mut next = 0;
    // The sequence ends with `xs:any namespace="##other"`: elements of another namespace are
    // allowed (and not read) after the named ones.
    let mut extension: Option<&Element<'d>> = None;
    for child in &parent.children {
        let child_path = format!("{path}/{}", child.name);
        let Some(child_namespace) = child.namespace.as_deref() else {
            return Err(at(
                &child_path,
                child,
                format!(
                    "has no namespace; expected {} in {namespace}",
                    names(entries)
                ),
            ));
        };
        if child_namespace != namespace {
            child.mark_all();
            extension.get_or_insert(child);
            continue;
        }
        if let Some(other) = extension {
            return Err(at(
                &child_path,
                child,
                format!(
                    "comes after <{}> of another namespace ({}), which the schema allows only after {}",
                    other.name,
                    other.namespace.as_deref().unwrap_or("none"),
                    names(entries)
                ),
            ));
        }
        match entries[next..]
            .iter()
            .position(|(name, ..)| *name == child.name)
        {
            Some(offset) => {
                let index = next + offset;
                // Every entry skipped over must allow none.
                if let Some((name, ..)) = entries[next..index]
                    .iter()
                    .zip(&found[next..index])
                    .find(|((_, min, _), got)| got.len() < *min)
                    .map(|(entry, _)| entry)
                {
                    return Err(at(
                        &child_path,
                        child,
                        format!("comes before the required <{name}>"),
                    ));
                }
                next = index;
                let (name, _, max) = entries[index];
                if found[index].len() == max {
                    return Err(at(
                        &child_path,
                        child,
                        format!("<{name}> may appear at most {max} time(s)"),
                    ));
                }
                found[index].push(child.mark());
            }
            None => {
                let problem = if entries.iter().any(|(name, ..)| *name == child.name) {
                    format!("is out of order; the order is {}", names(entries))
                } else {
                    format!("is not an element of {path}; expected {}", names(entries))
                };
                return Err(at(&child_path, child, problem));
            }
        }
    }
    for ((name, min, _), got) in entries.iter().zip(&found) {
        if got.len() < *min {
            return Err(at(path, parent, format!("<{name}> is missing")));
        }
    }
    Ok(found)
}

fn names(entries: &[(&str, usize, usize)]) -> String {
    entries
        .iter()
        .map(|(name, ..)| format!("<{name}>"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An element's text, which must not be empty; no child elements.
fn text<'a>(element: &'a Element<'_>, path: &str) -> Result<&'a str, RequestError> {
    if let Some(child) = element.children.first() {
        return Err(at(
            &format!("{path}/{}", child.name),
            child,
            "a text element has no child elements",
        ));
    }
    let text = element.text();
    if text.is_empty() {
        return Err(at(path, element, "is empty"));
    }
    Ok(text)
}

fn hsa_id(element: &Element<'_>, path: &str) -> Result<HsaId, RequestError> {
    text(element, path)?
        .parse()
        .map_err(|e| at(path, element, format!("is not an HSA-id: {e}")))
}

/// `DateType`: `YYYYMMDD`, years 1900–2099.
fn date(element: &Element<'_>, path: &str) -> Result<Date, RequestError> {
    let value = text(element, path)?;
    let valid = value.len() == 8
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value.starts_with("19") || value.starts_with("20"));
    valid
        .then(|| jiff::fmt::strtime::parse("%Y%m%d", value).and_then(|t| t.to_date()))
        .and_then(Result::ok)
        .ok_or_else(|| at(path, element, "is not a date of the form YYYYMMDD"))
}

/// Reads a GetCarePlans request (a whole SOAP 1.1 envelope).
pub fn decode_request(bytes: &[u8], today: Date) -> Result<GetCarePlans, RequestError> {
    decode_sent_request(bytes, None, today)
}

/// [`decode_request`] of a request that came labelled with an encoding (SOAP 1.1's
/// `text/xml; charset=…`), which counts when the envelope does not say its own.
pub fn decode_sent_request(
    bytes: &[u8],
    charset: Option<&str>,
    today: Date,
) -> Result<GetCarePlans, RequestError> {
    let refused = |e: xml::XmlError| RequestError {
        path: "/".to_owned(),
        position: e.position(),
        problem: e.to_string(),
    };
    let (document, limits) =
        crate::formats::encoding::utf8_within(bytes, charset, &xml::Limits::default())
            .map_err(refused)?;
    let root = xml::parse_within(&document, &limits).map_err(refused)?;
    if root.name != "Envelope" || !in_namespace(&root, SOAP_ENVELOPE) {
        return Err(at(
            &format!("/{}", root.name),
            &root,
            format!("a request is a SOAP 1.1 <Envelope> in {SOAP_ENVELOPE}"),
        ));
    }
    let parts = sequence(
        &root,
        "/Envelope",
        SOAP_ENVELOPE,
        &[("Header", 0, 1), ("Body", 1, 1)],
    )?;
    let header_path = "/Envelope/Header";
    let logical_address = match parts[0].first() {
        Some(header) => {
            let found = sequence(header, header_path, REGISTRY, &[("LogicalAddress", 1, 1)])?;
            text(found[0][0], &format!("{header_path}/LogicalAddress"))?
                .trim()
                .to_owned()
        }
        None => {
            return Err(at(
                "/Envelope",
                &root,
                "<Header> with the RIV-TA <LogicalAddress> is missing",
            ));
        }
    };
    let body = parts[1][0];
    let body_path = "/Envelope/Body";
    let found = sequence(body, body_path, RESPONDER, &[("GetCarePlans", 1, 1)])?;
    let request = found[0][0];
    let path = "/Envelope/Body/GetCarePlans";
    let fields = sequence(
        request,
        path,
        RESPONDER,
        &[
            ("careUnitHSAId", 0, usize::MAX),
            ("patientId", 1, 1),
            ("datePeriod", 0, 1),
            ("sourceSystemHSAId", 0, 1),
            ("careContactId", 0, usize::MAX),
        ],
    )?;
    let care_units = fields[0]
        .iter()
        .map(|e| hsa_id(e, &format!("{path}/careUnitHSAId")))
        .collect::<Result<Vec<_>, _>>()?;
    let patient = patient(fields[1][0], &format!("{path}/patientId"), today)?;
    let date_period = match fields[2].first() {
        Some(period) => {
            let period_path = format!("{path}/datePeriod");
            let parts = sequence(
                period,
                &period_path,
                CORE,
                &[("start", 1, 1), ("end", 1, 1)],
            )?;
            let start = date(parts[0][0], &format!("{period_path}/start"))?;
            let end = date(parts[1][0], &format!("{period_path}/end"))?;
            if end < start {
                return Err(at(&period_path, period, "ends before it starts"));
            }
            Some((start, end))
        }
        None => None,
    };
    let source_system = fields[3]
        .first()
        .map(|e| hsa_id(e, &format!("{path}/sourceSystemHSAId")))
        .transpose()?;
    let care_contact_ids = fields[4]
        .iter()
        .map(|e| text(e, &format!("{path}/careContactId")).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GetCarePlans {
        logical_address,
        care_units,
        patient,
        date_period,
        source_system,
        care_contact_ids,
    })
}

/// `PersonIdType`: `id` and `type` (an OID of the national platform).
fn patient(element: &Element<'_>, path: &str, today: Date) -> Result<PersonId, RequestError> {
    let parts = sequence(element, path, CORE, &[("id", 1, 1), ("type", 1, 1)])?;
    let id_path = format!("{path}/id");
    let id = text(parts[0][0], &id_path)?;
    let kind_path = format!("{path}/type");
    let kind = text(parts[1][0], &kind_path)?;
    // The number itself is never quoted back: it is personal data.
    let invalid = |e: &dyn std::fmt::Display| at(&id_path, parts[0][0], e.to_string());
    match kind {
        person_types::PERSONNUMMER => Personnummer::parse_on(id, today)
            .map(PersonId::Personnummer)
            .map_err(|e| invalid(&e)),
        person_types::SAMORDNINGSNUMMER => Samordningsnummer::parse_on(id, today)
            .map(PersonId::Samordningsnummer)
            .map_err(|e| invalid(&e)),
        other => Err(at(
            &kind_path,
            parts[1][0],
            format!(
                "{other:?} is not a person identifier type this producer answers for; expected {} (personnummer) or {} (samordningsnummer)",
                person_types::PERSONNUMMER,
                person_types::SAMORDNINGSNUMMER
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = jiff::civil::date(2026, 12, 6);

    fn envelope(header: &str, body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE}" xmlns:urn="{REGISTRY}" xmlns:urn1="{RESPONDER}" xmlns:urn2="{CORE}">
  <soapenv:Header>{header}</soapenv:Header>
  <soapenv:Body>{body}</soapenv:Body>
</soapenv:Envelope>"#
        )
    }

    const ADDRESS: &str = "<urn:LogicalAddress>SE2321000214-1000</urn:LogicalAddress>";

    fn request(inner: &str) -> String {
        envelope(
            ADDRESS,
            &format!("<urn1:GetCarePlans>{inner}</urn1:GetCarePlans>"),
        )
    }

    const PATIENT: &str = "<urn1:patientId><urn2:id>195504152389</urn2:id><urn2:type>1.2.752.129.2.1.3.1</urn2:type></urn1:patientId>";

    #[test]
    fn a_full_request_is_read() {
        let text = request(&format!(
            "<urn1:careUnitHSAId>SE2321000214-E3HC</urn1:careUnitHSAId>{PATIENT}\
             <urn1:datePeriod><urn2:start>20261101</urn2:start><urn2:end>20261130</urn2:end></urn1:datePeriod>\
             <urn1:sourceSystemHSAId>SE2321000214-BRYG</urn1:sourceSystemHSAId>\
             <urn1:careContactId>K-1</urn1:careContactId>\
             <x:extra xmlns:x=\"urn:example:other\">ignored</x:extra>"
        ));
        let read = decode_request(text.as_bytes(), TODAY).unwrap();
        assert_eq!(read.logical_address, "SE2321000214-1000");
        assert_eq!(read.care_units, vec!["SE2321000214-E3HC".parse().unwrap()]);
        assert!(matches!(read.patient, PersonId::Personnummer(_)));
        assert_eq!(
            read.date_period,
            Some((
                jiff::civil::date(2026, 11, 1),
                jiff::civil::date(2026, 11, 30)
            ))
        );
        assert_eq!(
            read.source_system,
            Some("SE2321000214-BRYG".parse().unwrap())
        );
        assert_eq!(read.care_contact_ids, vec!["K-1".to_owned()]);
    }

    #[test]
    fn an_envelope_that_names_no_encoding_is_read_in_its_content_types_charset() {
        // A comment in Latin-1 (Ö is one byte, not UTF-8), no declaration.
        let text =
            request(&format!("<!-- Östersund -->{PATIENT}")).replacen(" encoding=\"UTF-8\"", "", 1);
        let latin1 = encoding_rs::WINDOWS_1252.encode(&text).0.into_owned();
        let error = decode_request(&latin1, TODAY).unwrap_err();
        assert!(error.problem.contains("not UTF-8"), "{}", error.problem);
        let read = decode_sent_request(&latin1, Some("ISO-8859-1"), TODAY).unwrap();
        assert!(matches!(read.patient, PersonId::Personnummer(_)));
    }

    #[test]
    fn the_least_request_is_the_patient() {
        let read = decode_request(request(PATIENT).as_bytes(), TODAY).unwrap();
        assert!(read.care_units.is_empty() && read.date_period.is_none());
    }

    /// Each malformed request is refused naming the element and what is wrong with it, and
    /// never quoting the person's number.
    #[test]
    fn malformed_requests_name_the_element() {
        let cases = [
            (
                request(""),
                "/Envelope/Body/GetCarePlans (line 4, column 17): <patientId> is missing",
            ),
            (
                request(&format!(
                    "{PATIENT}<urn1:careUnitHSAId>SE2321000214-E3HC</urn1:careUnitHSAId>"
                )),
                "/Envelope/Body/GetCarePlans/careUnitHSAId (line 4, column",
            ),
            (
                request(&format!("{PATIENT}{PATIENT}")),
                "<patientId> may appear at most 1 time(s)",
            ),
            (
                request(
                    "<urn1:patientId><urn2:id>195504152388</urn2:id><urn2:type>1.2.752.129.2.1.3.1</urn2:type></urn1:patientId>",
                ),
                "/Envelope/Body/GetCarePlans/patientId/id",
            ),
            (
                request(
                    "<urn1:patientId><urn2:id>195504152389</urn2:id><urn2:type>1.2.3</urn2:type></urn1:patientId>",
                ),
                "/Envelope/Body/GetCarePlans/patientId/type",
            ),
            (
                request(&format!(
                    "{PATIENT}<urn1:datePeriod><urn2:start>20261301</urn2:start><urn2:end>20261130</urn2:end></urn1:datePeriod>"
                )),
                "/Envelope/Body/GetCarePlans/datePeriod/start",
            ),
            (
                request(&format!(
                    "{PATIENT}<urn1:datePeriod><urn2:start>20261201</urn2:start><urn2:end>20261130</urn2:end></urn1:datePeriod>"
                )),
                "datePeriod (line 4, column",
            ),
            (
                request(&format!("{PATIENT}<urn1:unknown>1</urn1:unknown>")),
                "/Envelope/Body/GetCarePlans/unknown",
            ),
            (
                request(
                    "<urn1:patientId><urn1:id>195504152389</urn1:id><urn2:type>1.2.752.129.2.1.3.1</urn2:type></urn1:patientId>",
                ),
                "/Envelope/Body/GetCarePlans/patientId/type (line 4, column 83): comes after <id> of another namespace",
            ),
            (
                envelope(
                    "",
                    &format!("<urn1:GetCarePlans>{PATIENT}</urn1:GetCarePlans>"),
                ),
                "<LogicalAddress> is missing",
            ),
            (
                envelope(
                    ADDRESS,
                    &format!("<urn1:GetCarePlan>{PATIENT}</urn1:GetCarePlan>"),
                ),
                "/Envelope/Body/GetCarePlan",
            ),
            ("<Envelope/>".to_owned(), "/Envelope"),
            (
                request(&format!("{PATIENT}<careContactId>1</careContactId>")),
                "/Envelope/Body/GetCarePlans/careContactId (line 4, column",
            ),
            ("<a><b></a>".to_owned(), "/"),
        ];
        for (text, expected) in cases {
            let error = decode_request(text.as_bytes(), TODAY)
                .expect_err(expected)
                .to_string();
            assert!(error.contains(expected), "{error}\nexpected: {expected}");
            assert!(
                !error.contains("195504152389") && !error.contains("195504152388"),
                "{error}"
            );
        }
    }
}
