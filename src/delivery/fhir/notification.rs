//! The notification Bundles of the R4 Subscriptions backport: handshake, heartbeat and
//! event-notification, and a subscription's `$status`.

use super::*;

/// The kind of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Handshake,
    Heartbeat,
    EventNotification,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Handshake => "handshake",
            Kind::Heartbeat => "heartbeat",
            Kind::EventNotification => "event-notification",
        }
    }
}

/// One event in a notification: its number, when it happened, and the resources (a
/// rendered collection Bundle).
pub struct Notified<'a> {
    pub number: u64,
    pub at: Timestamp,
    pub bundle: &'a Value,
}

/// A notification Bundle (`history`, its first entry the backport's SubscriptionStatus as
/// `Parameters`) for `subscription`.
pub fn notification(
    subscription: &Subscription,
    kind: Kind,
    status: &str,
    events_since_start: u64,
    event: Option<Notified<'_>>,
    now: Timestamp,
) -> Value {
    let reference = if subscription.managed {
        subscription.id.clone()
    } else {
        destination(&subscription.id)
    };
    let content = subscription.notifications.content;
    let mut parameters =
        vec![json!({ "name": "subscription", "valueReference": { "reference": reference } })];
    if content != Content::Empty {
        parameters
            .push(json!({ "name": "topic", "valueCanonical": subscription.notifications.topic }));
    }
    parameters.push(json!({ "name": "status", "valueCode": status }));
    parameters.push(json!({ "name": "type", "valueCode": kind.code() }));
    parameters.push(json!({ "name": "events-since-subscription-start", "valueString": events_since_start.to_string() }));
    let mut entries = Vec::new();
    if let Some(event) = &event {
        let resources: Vec<&Value> = event
            .bundle
            .get("entry")
            .and_then(Value::as_array)
            .map(|all| all.iter().collect())
            .unwrap_or_default();
        let mut parts = vec![
            json!({ "name": "event-number", "valueString": event.number.to_string() }),
            json!({ "name": "timestamp", "valueInstant": event.at.to_string() }),
        ];
        if content != Content::Empty {
            // The focus is the step (a Task, CarePlan or Consent); the Patient is context.
            let url = |e: &Value| e.get("fullUrl").and_then(Value::as_str).map(str::to_owned);
            let is_patient = |e: &Value| {
                e.get("resource")
                    .and_then(|r| r.get("resourceType"))
                    .and_then(Value::as_str)
                    == Some("Patient")
            };
            if let Some(focus) = resources
                .iter()
                .find(|e| !is_patient(e))
                .and_then(|e| url(e))
            {
                parts.push(json!({ "name": "focus", "valueReference": { "reference": focus } }));
            }
            for context in resources
                .iter()
                .filter(|e| is_patient(e))
                .filter_map(|e| url(e))
            {
                parts.push(json!({ "name": "additional-context", "valueReference": { "reference": context } }));
            }
            for resource in &resources {
                let resource_type = resource
                    .get("resource")
                    .and_then(|r| r.get("resourceType"))
                    .and_then(Value::as_str)
                    .unwrap_or("Resource");
                let mut entry = json!({
                    "fullUrl": resource.get("fullUrl").cloned().unwrap_or(Value::Null),
                    "request": { "method": "PUT", "url": resource_type },
                    "response": { "status": "200" },
                });
                if content == Content::FullResource
                    && let Some(r) = resource.get("resource")
                {
                    entry["resource"] = r.clone();
                }
                entries.push(entry);
            }
        }
        parameters.push(json!({ "name": "notification-event", "part": parts }));
    }
    let status_id = uuid::Uuid::now_v7();
    entries.insert(
        0,
        json!({
            "fullUrl": format!("urn:uuid:{status_id}"),
            "resource": {
                "resourceType": "Parameters",
                "id": status_id.to_string(),
                "meta": { "profile": [format!("{BACKPORT}backport-subscription-status-r4")] },
                "parameter": parameters,
            },
            "request": { "method": "GET", "url": format!("{reference}/$status") },
            "response": { "status": "200" },
        }),
    );
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::now_v7().to_string(),
        "meta": { "profile": [format!("{BACKPORT}backport-subscription-notification-r4")] },
        "type": "history",
        "timestamp": now.to_string(),
        "entry": entries,
    })
}

/// The `$status` answer: the subscription's status as `Parameters` (a `searchset` Bundle
/// holds it).
pub fn status_bundle(reference: &str, topic: &str, status: &str, events: u64) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [{
            "resource": {
                "resourceType": "Parameters",
                "meta": { "profile": [format!("{BACKPORT}backport-subscription-status-r4")] },
                "parameter": [
                    { "name": "subscription", "valueReference": { "reference": reference } },
                    { "name": "topic", "valueCanonical": topic },
                    { "name": "status", "valueCode": status },
                    { "name": "type", "valueCode": "query-status" },
                    { "name": "events-since-subscription-start", "valueString": events.to_string() },
                ],
            },
            "search": { "mode": "match" },
        }],
    })
}
