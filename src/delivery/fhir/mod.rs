//! FHIR R4 `Subscription` resources with the Subscriptions backport: what a client asks for
//! (read and checked, every problem with the element it is at), the resource as the gateway
//! shows it (status, version, header values masked), the subscription it becomes, and the
//! notification Bundles it is sent (handshake, heartbeat, event-notification).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::subscriptions::{Content, Notifications, RetryPolicy, Subscription};
use crate::domain::event::EventKind;
use crate::domain::identifiers::{HsaId, PersonId};
use crate::domain::party::Organisation;
use crate::domain::sensitive::Sensitive;
use crate::formats::translate::Format;
use crate::store::StoredSubscription;

mod notification;
#[cfg(test)]
mod tests;

pub use notification::{Kind, Notified, notification, status_bundle};

/// The one topic the gateway offers: every coordination event released to the subscriber's
/// organisation, filtered by event kind (`event=admission_notice,discharge_ready`).
pub const TOPIC: &str = "urn:brygga:fhir:SubscriptionTopic:coordination";
const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";
const FILTER_CRITERIA: &str = "backport-filter-criteria";
const HEARTBEAT_PERIOD: &str = "backport-heartbeat-period";
const TIMEOUT: &str = "backport-timeout";
const PAYLOAD_CONTENT: &str = "backport-payload-content";
/// How long a notification call may take at most, whatever the subscription asks.
const MAX_TIMEOUT: u64 = 60;
/// Headers the gateway sets itself: a subscription cannot name them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "transfer-encoding",
    "connection",
];
/// How a header's value is shown when the resource is read.
pub const MASK: &str = "***";

/// What is wrong with a requested subscription, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 400 for a malformed resource, 422 for one the gateway understands but does not offer.
    pub unsupported: bool,
    pub expression: String,
    pub diagnostics: String,
}

fn invalid(expression: &str, diagnostics: impl Into<String>) -> Problem {
    Problem {
        unsupported: false,
        expression: expression.to_owned(),
        diagnostics: diagnostics.into(),
    }
}

fn unsupported(expression: &str, diagnostics: impl Into<String>) -> Problem {
    Problem {
        unsupported: true,
        expression: expression.to_owned(),
        diagnostics: diagnostics.into(),
    }
}

/// A subscription as a client asks for it.
#[derive(Debug, Clone)]
pub struct Requested {
    /// False when the client asks for it `off`.
    pub on: bool,
    pub endpoint: reqwest::Url,
    /// The event kinds (empty: every kind).
    pub events: Vec<String>,
    /// Only the steps released to this unit.
    pub unit: Option<HsaId>,
    /// Only the cases of this person.
    pub person: Option<PersonId>,
    pub silent: bool,
    pub notifications: Notifications,
    pub headers: Vec<(String, Sensitive<String>)>,
    pub end: Option<Timestamp>,
    pub timeout: Duration,
    /// What is accepted but not acted on.
    pub warnings: Vec<String>,
}

fn extension<'a>(element: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    element?
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(&format!("{BACKPORT}{name}")))
}

fn seconds(extension: &Value, at: &str) -> Result<u64, Problem> {
    ["valueUnsignedInt", "valuePositiveInt", "valueInteger"]
        .iter()
        .find_map(|key| extension.get(*key))
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(at, "a number of seconds (valueUnsignedInt)"))
}

/// Every event kind whose notification carries a resource of `resource_type` (none: the
/// gateway never sends one).
fn kinds_carrying(resource_type: &str) -> Option<Vec<&'static str>> {
    const CONSENT: &[&str] = &["consent_recorded", "consent_withdrawn"];
    match resource_type {
        "Patient" => Some(EventKind::NAMES.to_vec()),
        "Task" => Some(
            EventKind::NAMES
                .iter()
                .copied()
                .filter(|k| !CONSENT.contains(k))
                .collect(),
        ),
        "CarePlan" => Some(vec!["sip_plan"]),
        "Consent" => Some(CONSENT.to_vec()),
        _ => None,
    }
}

/// What a subscription's criteria ask for.
#[derive(Debug, Clone, Default, PartialEq)]
struct Filters {
    /// The event kinds (empty: every kind).
    events: Vec<String>,
    /// Only the steps released to this unit.
    unit: Option<HsaId>,
    /// Only the cases of this person.
    person: Option<PersonId>,
    /// Nothing can match (a resource the gateway never sends).
    silent: bool,
    warnings: Vec<String>,
}

/// Reads the filter parameters `event=a,b`, `unit=<HSA-id>` and `patient=<system>|<value>`
/// (with or without a `Type?` before them); the event kinds are `None` when not named.
fn parameters(query: &str, at: &str) -> Result<(Option<Vec<String>>, Filters), Problem> {
    let mut events = None;
    let mut filters = Filters::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "event" => {
                let mut kinds = Vec::new();
                for kind in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    if !EventKind::NAMES.contains(&kind) {
                        return Err(invalid(
                            at,
                            format!(
                                "event {kind:?} is not an event kind; the kinds are {}",
                                EventKind::NAMES.join(", ")
                            ),
                        ));
                    }
                    kinds.push(kind.to_owned());
                }
                if kinds.is_empty() {
                    return Err(invalid(at, "event= names no event kind"));
                }
                events = Some(kinds);
            }
            "unit" => {
                filters.unit = Some(
                    HsaId::parse(value)
                        .map_err(|e| invalid(at, format!("unit {value:?}: not an HSA-id: {e}")))?,
                );
            }
            "patient" => {
                filters.person = Some(patient(value).ok_or_else(|| {
                    invalid(
                        at,
                        "patient: <system>|<value> with a personnummer or samordningsnummer of twelve digits, e.g. http://electronichealth.se/identifier/personnummer|191212121212",
                    )
                })?);
            }
            _ => {
                return Err(unsupported(
                    at,
                    format!(
                        "{name:?}: notifications are filtered by event kind, unit and patient only, e.g. event=admission_notice&unit=SE2120002411-BIST"
                    ),
                ));
            }
        }
    }
    Ok((events, filters))
}

/// A person named as `<system>|<value>` in the twelve-digit form (no century to guess).
fn patient(value: &str) -> Option<PersonId> {
    let (system, number) = value.split_once('|')?;
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits != 12 {
        return None;
    }
    // The twelve-digit form needs no date to place it in its century.
    PersonId::from_system(system, number, jiff::civil::date(2000, 1, 1))
}

/// What `criteria` asks for: event kinds, unit, patient, whether it can match anything, and
/// warnings.
fn criteria(resource: &Value) -> Result<Filters, Problem> {
    let criteria = resource
        .get("criteria")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            invalid(
                "Subscription.criteria",
                format!(
                    "required: the topic {TOPIC} (with a backport-filter-criteria such as event=admission_notice), or a query such as Task?event=admission_notice"
                ),
            )
        })?;
    if criteria == TOPIC {
        let filters: Vec<&str> = resource
            .get("_criteria")
            .and_then(|c| c.get("extension"))
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter(|e| {
                        e.get("url").and_then(Value::as_str)
                            == Some(&format!("{BACKPORT}{FILTER_CRITERIA}"))
                    })
                    .filter_map(|e| e.get("valueString").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        const AT: &str = "Subscription._criteria.extension";
        return match filters.as_slice() {
            [] => Ok(Filters::default()),
            [filter] => {
                let query = filter.split_once('?').map_or(*filter, |(_, q)| q);
                let (events, filters) = parameters(query, AT)?;
                Ok(Filters {
                    events: events.unwrap_or_default(),
                    ..filters
                })
            }
            _ => Err(unsupported(
                AT,
                "give one backport-filter-criteria (it may name several kinds: event=a,b)",
            )),
        };
    }
    const AT: &str = "Subscription.criteria";
    let (resource_type, query) = criteria.split_once('?').unwrap_or((criteria, ""));
    let is_type = resource_type.starts_with(|c: char| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphabetic());
    if !is_type {
        return Err(unsupported(
            AT,
            format!(
                "{criteria:?} is neither a topic the gateway offers (there is one: {TOPIC}) nor a query on a resource type"
            ),
        ));
    }
    let Some(carrying) = kinds_carrying(resource_type) else {
        return Ok(Filters {
            silent: true,
            warnings: vec![format!(
                "Subscription.criteria: the gateway sends no {resource_type} resources; the subscription is kept (and gets heartbeats) but no event will be notified to it"
            )],
            ..Filters::default()
        });
    };
    let (asked, filters) = parameters(query, AT)?;
    let events = match asked {
        None if carrying.len() == EventKind::NAMES.len() => Vec::new(),
        None => carrying.iter().map(|k| (*k).to_owned()).collect(),
        Some(asked) => {
            let kept: Vec<String> = asked
                .into_iter()
                .filter(|k| carrying.contains(&k.as_str()))
                .collect();
            if kept.is_empty() {
                return Err(unsupported(
                    AT,
                    format!(
                        "none of these event kinds is sent as a {resource_type}; those that are: {}",
                        carrying.join(", ")
                    ),
                ));
            }
            kept
        }
    };
    Ok(Filters { events, ..filters })
}

fn headers(channel: &Value) -> Result<Vec<(String, Sensitive<String>)>, Problem> {
    let Some(all) = channel.get("header") else {
        return Ok(Vec::new());
    };
    let all = all
        .as_array()
        .ok_or_else(|| invalid("Subscription.channel.header", "a list of \"Name: value\""))?;
    let mut headers = Vec::new();
    for (i, header) in all.iter().enumerate() {
        let at = format!("Subscription.channel.header[{i}]");
        let text = header
            .as_str()
            .ok_or_else(|| invalid(&at, "a string \"Name: value\""))?;
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| invalid(&at, "\"Name: value\" (no colon)"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(&at, format!("{name:?} is not an HTTP header name")));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(invalid(&at, "the value is not a valid HTTP header value"));
        }
        if RESERVED_HEADERS.contains(&name.as_str()) || name.starts_with("x-brygga-") {
            return Err(unsupported(
                &at,
                format!("{name} is set by the gateway on every notification"),
            ));
        }
        headers.push((name, Sensitive::new(value.to_owned())));
    }
    Ok(headers)
}

/// Reads a `Subscription` as a client writes it; `endpoint_allowed` says whether an endpoint
/// may be called (the gateway's policy).
pub fn read(
    resource: &Value,
    endpoint_allowed: impl Fn(&reqwest::Url) -> Result<(), String>,
) -> Result<Requested, Problem> {
    if resource.get("resourceType").and_then(Value::as_str) != Some("Subscription") {
        return Err(invalid(
            "Subscription.resourceType",
            "the body is not a Subscription",
        ));
    }
    let on = match resource.get("status").and_then(Value::as_str) {
        Some("requested" | "active") => true,
        Some("off") => false,
        Some("error") => {
            return Err(invalid(
                "Subscription.status",
                "error is set by the gateway; ask for requested (or off)",
            ));
        }
        Some(other) => {
            return Err(invalid(
                "Subscription.status",
                format!("{other:?}: use requested, active or off"),
            ));
        }
        None => return Err(invalid("Subscription.status", "required (requested)")),
    };
    let end = match resource.get("end") {
        None => None,
        Some(end) => Some(
            end.as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
                .ok_or_else(|| {
                    invalid(
                        "Subscription.end",
                        "an instant with a zone, e.g. 2027-01-01T00:00:00Z",
                    )
                })?,
        ),
    };
    let Filters {
        events,
        unit,
        person,
        silent,
        warnings,
    } = criteria(resource)?;
    let channel = resource
        .get("channel")
        .filter(|c| c.is_object())
        .ok_or_else(|| invalid("Subscription.channel", "required"))?;
    match channel.get("type").and_then(Value::as_str) {
        Some("rest-hook") => {}
        Some(other) => {
            return Err(unsupported(
                "Subscription.channel.type",
                format!("{other:?}: the gateway notifies by rest-hook only"),
            ));
        }
        None => return Err(invalid("Subscription.channel.type", "required (rest-hook)")),
    }
    let endpoint = channel
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Subscription.channel.endpoint", "required for rest-hook"))?;
    let endpoint = reqwest::Url::parse(endpoint)
        .map_err(|e| invalid("Subscription.channel.endpoint", format!("not a URL: {e}")))?;
    if !matches!(endpoint.scheme(), "http" | "https") {
        return Err(invalid(
            "Subscription.channel.endpoint",
            "use an http or https URL",
        ));
    }
    endpoint_allowed(&endpoint)
        .map_err(|reason| unsupported("Subscription.channel.endpoint", reason))?;
    let mut notifications = Notifications::default();
    match channel.get("payload").and_then(Value::as_str) {
        // R4: no payload, no body beyond the status.
        None => notifications.content = Content::Empty,
        Some(media) => {
            let base = media.split(';').next().unwrap_or("").trim();
            if !matches!(base, "application/fhir+json" | "application/json") {
                return Err(unsupported(
                    "Subscription.channel.payload",
                    format!("{media:?}: the gateway sends application/fhir+json"),
                ));
            }
        }
    }
    if let Some(content) = extension(channel.get("_payload"), PAYLOAD_CONTENT) {
        const AT: &str = "Subscription.channel._payload.extension";
        let code = content
            .get("valueCode")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(AT, "a valueCode"))?;
        notifications.content = Content::parse(code).ok_or_else(|| {
            invalid(
                AT,
                format!("{code:?}: use one of {}", Content::CODES.join(", ")),
            )
        })?;
    }
    if let Some(period) = extension(Some(channel), HEARTBEAT_PERIOD) {
        let period = seconds(period, "Subscription.channel.extension")?;
        if period == 0 {
            return Err(invalid(
                "Subscription.channel.extension",
                "the heartbeat period is at least 1 second",
            ));
        }
        notifications.heartbeat = Some(SignedDuration::from_secs(period as i64));
    }
    let timeout = match extension(Some(channel), TIMEOUT) {
        Some(timeout) => seconds(timeout, "Subscription.channel.extension")?.clamp(1, MAX_TIMEOUT),
        None => 10,
    };
    Ok(Requested {
        on,
        endpoint,
        events,
        unit,
        person,
        silent,
        notifications,
        headers: headers(channel)?,
        end,
        timeout: Duration::from_secs(timeout),
        warnings,
    })
}

/// The destination (outbox `destination`, `/deliveries?subscription=`) of an API
/// subscription.
pub fn destination(id: &str) -> String {
    format!("Subscription/{id}")
}

/// The subscription a stored resource stands for.
pub fn subscription(stored: &StoredSubscription) -> Result<Subscription, String> {
    let requested = read(&stored.resource, |_| Ok(())).map_err(|p| p.diagnostics)?;
    let organisation =
        Organisation::parse(&stored.organisation).map_err(|e| format!("organisation: {e}"))?;
    let mut subscription = Subscription::new(
        &destination(&stored.id),
        organisation,
        requested.endpoint,
        Format::Fhir,
    );
    subscription.events = requested.events;
    subscription.unit = requested.unit;
    subscription.person = requested.person;
    subscription.silent = requested.silent;
    subscription.notifications = requested.notifications;
    subscription.headers = requested.headers;
    subscription.end = requested.end;
    subscription.timeout = requested.timeout;
    subscription.retry = RetryPolicy::default();
    subscription.managed = true;
    subscription.active = stored.status == "active";
    Ok(subscription)
}

/// The status the subscription shows at `now`: `off` once it has ended.
pub fn status_at(stored: &StoredSubscription, now: Timestamp) -> &str {
    let ended = stored
        .resource
        .get("end")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .is_some_and(|end| end <= now);
    if ended { "off" } else { &stored.status }
}

/// The resource as the gateway shows it: its id, version, status and error, and each header's
/// value masked.
pub fn shown(stored: &StoredSubscription, now: Timestamp) -> Value {
    let mut resource = stored.resource.clone();
    resource["id"] = json!(stored.id);
    resource["meta"] = json!({
        "versionId": stored.version.to_string(),
        "lastUpdated": stored.updated_at.to_string(),
    });
    resource["status"] = json!(status_at(stored, now));
    match &stored.error {
        Some(error) => resource["error"] = json!(error),
        None => {
            if let Some(object) = resource.as_object_mut() {
                object.remove("error");
            }
        }
    }
    if let Some(headers) = resource
        .get_mut("channel")
        .and_then(|c| c.get_mut("header"))
        .and_then(Value::as_array_mut)
    {
        for header in headers {
            if let Some((name, _)) = header.as_str().and_then(|h| h.split_once(':')) {
                *header = json!(format!("{}: {MASK}", name.trim()));
            }
        }
    }
    resource
}

/// A header written back as read (its value masked) keeps the value stored before.
pub fn unmask(resource: &mut Value, before: &Value) {
    let stored: Vec<String> = before
        .get("channel")
        .and_then(|c| c.get("header"))
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let Some(headers) = resource
        .get_mut("channel")
        .and_then(|c| c.get_mut("header"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for header in headers {
        let Some((name, value)) = header.as_str().and_then(|h| h.split_once(':')) else {
            continue;
        };
        if value.trim() != MASK {
            continue;
        }
        let name = name.trim().to_ascii_lowercase();
        if let Some(old) = stored.iter().find(|h| {
            h.split_once(':')
                .is_some_and(|(n, _)| n.trim().to_ascii_lowercase() == name)
        }) {
            *header = json!(old);
        }
    }
}

/// A configured subscription shown as a `Subscription` resource (read-only).
pub fn configured(subscription: &Subscription) -> Value {
    let mut filter = Vec::new();
    if !subscription.events.is_empty() {
        filter.push(format!("event={}", subscription.events.join(",")));
    }
    if let Some(unit) = &subscription.unit {
        filter.push(format!("unit={unit}"));
    }
    let criteria = if filter.is_empty() {
        json!({ "criteria": TOPIC })
    } else {
        json!({
            "criteria": TOPIC,
            "_criteria": { "extension": [{
                "url": format!("{BACKPORT}{FILTER_CRITERIA}"),
                "valueString": filter.join("&"),
            }]},
        })
    };
    let mut resource = json!({
        "resourceType": "Subscription",
        "id": subscription.id,
        "meta": { "tag": [{ "system": "urn:brygga:subscription-source", "code": "configuration" }] },
        "status": "active",
        "reason": "defined in the gateway's subscriptions file",
        "channel": {
            "type": "rest-hook",
            "endpoint": subscription.endpoint.as_str(),
            "payload": subscription.format.media_type(),
        },
    });
    if let (Some(r), Some(c)) = (resource.as_object_mut(), criteria.as_object()) {
        r.extend(c.clone());
    }
    resource
}
