//! Reading a consent recorded (or withdrawn) in a case, as the gateway renders it.

use super::*;

impl<'a> Reader<'a> {
    /// A consent recorded (or withdrawn) in a case, as the gateway renders it: a Consent with
    /// the case reference, the message id and the case system's consent id.
    pub(super) fn consent_message(&self, consent: Node<'a>) -> Result<CanonicalMessage> {
        consent.touch("id");
        consent.touch("text");
        let case = match extension(consent, EXT_CASE)? {
            Some(ext) => case_reference(ext.required("valueIdentifier", "the samordningsärende")?)?,
            None => {
                return Err(consent.invalid(format!(
                    "missing the extension {EXT_CASE}: the samordningsärende the consent is recorded in (a consent outside a case goes to POST /fhir/Consent)"
                )));
            }
        };
        let mut message = None;
        let mut consent_id = None;
        for identifier in consent.unread_items("identifier")? {
            let system = identifier
                .v
                .get("system")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(rest) = system.strip_prefix(MESSAGE_ID) {
                identifier.mark();
                identifier.touch("system");
                let (format, id_issuer) = message_id_system(identifier, rest)?;
                message = Some((
                    format,
                    id_issuer,
                    identifier.required_str("value", "the message id")?,
                ));
            } else if system.starts_with(CONSENT_ID) {
                identifier.mark();
                identifier.touch("system");
                consent_id = Some(identifier.required_str("value", "the consent id")?);
            }
        }
        let (format, id_issuer, message_id) = message.ok_or_else(|| {
            consent.invalid(format!(
                "missing: an identifier of {MESSAGE_ID}<format>:<care provider>, the message id"
            ))
        })?;
        let consent_id = consent_id.ok_or_else(|| {
            consent.invalid(format!("missing: an identifier of {CONSENT_ID}<care provider>, the consent's id in the case"))
        })?;
        let (person, _) = self.person(consent.required("patient", "the person (Patient)")?)?;
        let occurred_at = consent
            .required("dateTime", "when the consent was given")?
            .timestamp()?;
        let sent_at = match consent.get("meta").and_then(|m| m.get("lastUpdated")) {
            Some(at) => at.timestamp()?,
            None => occurred_at,
        };
        let performer = consent.first("performer")?.ok_or_else(|| {
            consent.invalid("missing: Consent.performer, the unit that recorded it")
        })?;
        let sender = self.party(performer)?;
        let sender_name = performer.optional_str("display")?.map(str::to_owned);
        let kind = match consent.required_str("status", "the consent's status")? {
            "inactive" => {
                consent.touch("scope");
                consent.touch("category");
                consent.touch("provision");
                EventKind::ConsentWithdrawn {
                    consent_id: consent_id.to_owned(),
                }
            }
            _ => {
                let d = crate::formats::fhir::consent::directive(
                    self,
                    consent,
                    consent_id,
                    occurred_at,
                )?;
                let recipients = d
                    .recipients
                    .into_iter()
                    .map(|a| match a {
                        crate::domain::consent::ConsentActor::Party(p) => Ok(p),
                        crate::domain::consent::ConsentActor::Unresolved { reference } => Err(consent.invalid(format!(
                            "provision.actor {reference:?} is not an organisation the gateway can identify"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                EventKind::ConsentRecorded {
                    consent_id: consent_id.to_owned(),
                    scope: d.scope,
                    provision: d.provision,
                    principals: d.principals,
                    recipients,
                    categories: d.categories,
                    valid_from: d.valid_from,
                    valid_until: d.valid_until,
                }
            }
        };
        Ok(Envelope {
            format,
            id_issuer,
            message_id: message_id.to_owned(),
            case,
            person,
            sent_at,
            occurred_at,
            sender: Some(sender),
            sender_name,
        }
        .message(kind))
    }
}
