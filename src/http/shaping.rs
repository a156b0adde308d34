//! What a FHIR client may ask of an answer's shape, for every FHIR endpoint in one place:
//! `_summary` (`true`, `text`, `data`, `count`, `false`) and `_elements` on reads and searches
//! (the resources marked `SUBSETTED`), and `Prefer: return=minimal|representation|
//! OperationOutcome` on creates and updates. Also the `Prefer` header's parsing, which search
//! uses for `handling=strict|lenient`.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{ApiError, operation_outcome};
use super::fhir::fhir_json;

/// The value of preference `key` in the request's `Prefer` headers (`handling=strict`).
pub fn prefer(headers: &HeaderMap, key: &str) -> Option<String> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase())
}

/// The elements R4 marks `isSummary` for each resource type the gateway serves, beside
/// `id`, `meta` and `implicitRules`, which every subset keeps.
fn summary_elements(kind: &str) -> &'static [&'static str] {
    match kind {
        "Task" => &[
            "identifier",
            "instantiatesCanonical",
            "instantiatesUri",
            "basedOn",
            "groupIdentifier",
            "partOf",
            "status",
            "statusReason",
            "businessStatus",
            "intent",
            "priority",
            "code",
            "description",
            "focus",
            "for",
            "encounter",
            "executionPeriod",
            "authoredOn",
            "lastModified",
            "requester",
            "performerType",
            "owner",
            "location",
            "reasonCode",
            "reasonReference",
        ],
        "CarePlan" => &[
            "identifier",
            "instantiatesCanonical",
            "instantiatesUri",
            "basedOn",
            "replaces",
            "partOf",
            "status",
            "intent",
            "category",
            "title",
            "description",
            "subject",
            "encounter",
            "period",
            "created",
            "author",
            "contributor",
            "careTeam",
            "addresses",
        ],
        "Patient" => &[
            "identifier",
            "active",
            "name",
            "telecom",
            "gender",
            "birthDate",
            "deceasedBoolean",
            "deceasedDateTime",
            "address",
            "managingOrganization",
            "link",
        ],
        "Consent" => &[
            "identifier",
            "status",
            "scope",
            "category",
            "patient",
            "dateTime",
            "performer",
            "organization",
            "sourceAttachment",
            "sourceReference",
            "policyRule",
            "provision",
        ],
        "Subscription" => &["status", "contact", "end", "reason", "criteria", "channel"],
        "AuditEvent" => &[
            "type",
            "subtype",
            "action",
            "period",
            "recorded",
            "outcome",
            "outcomeDesc",
            "purposeOfEvent",
            "agent",
            "source",
            "entity",
        ],
        _ => &[],
    }
}

/// The elements a valid resource of `kind` must have (kept in every subset).
fn mandatory_elements(kind: &str) -> &'static [&'static str] {
    match kind {
        "Task" => &["status", "intent"],
        "CarePlan" => &["status", "intent", "subject"],
        "Consent" => &["status", "scope", "category"],
        "Subscription" => &["status", "reason", "criteria", "channel"],
        "AuditEvent" => &["type", "recorded", "agent", "source"],
        _ => &[],
    }
}

/// How a client asked the answer's resources to be cut.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `_summary=true`.
    Summary,
    /// `_summary=text`.
    Text,
    /// `_summary=data`.
    Data,
    /// `_summary=count`: a search's total, no resources.
    Count,
    /// `_elements=a,b`.
    Elements(Vec<String>),
}

fn bad(diagnostics: String, expression: &str) -> ApiError {
    ApiError::BadRequest {
        diagnostics,
        expression: Some(expression.to_owned()),
    }
}

/// The shapes the query asks for, applied in turn; none for the whole resource. `_summary`
/// and `_elements` together keep what both keep (a count stays a count).
fn shape_of(query: &str) -> Result<Vec<Shape>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let summary = pairs.iter().find(|(k, _)| k == "_summary").map(|(_, v)| v);
    let elements = pairs.iter().find(|(k, _)| k == "_elements").map(|(_, v)| v);
    if let Some(total) = pairs.iter().find(|(k, _)| k == "_total").map(|(_, v)| v)
        && !matches!(total.as_str(), "none" | "estimate" | "accurate")
    {
        return Err(bad(
            format!("_total={total}: none, estimate or accurate"),
            "_total",
        ));
    }
    let mut shapes = match summary.map(String::as_str) {
        Some("true") => vec![Shape::Summary],
        Some("text") => vec![Shape::Text],
        Some("data") => vec![Shape::Data],
        Some("count") => return Ok(vec![Shape::Count]),
        Some("false") | None => vec![],
        Some(other) => {
            return Err(bad(
                format!("_summary={other}: true, text, data, count or false"),
                "_summary",
            ));
        }
    };
    if let Some(list) = elements {
        let names: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            return Err(bad(
                "_elements names at least one element (top-level names, comma-separated: status,owner)"
                    .to_owned(),
                "_elements",
            ));
        }
        if let Some(wrong) = names.iter().find(|n| {
            !n.chars().all(|c| c.is_ascii_alphanumeric()) || n.starts_with(char::is_numeric)
        }) {
            return Err(bad(
                format!(
                    "_elements: {wrong:?} is not an element name (top-level names, comma-separated: status,owner)"
                ),
                "_elements",
            ));
        }
        shapes.push(Shape::Elements(names));
    }
    Ok(shapes)
}

/// Cuts one resource to `shape`, marking it `SUBSETTED`.
fn cut(resource: &mut Value, shape: &Shape) {
    let Some(map) = resource.as_object_mut() else {
        return;
    };
    let kind = map
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // A summary needs the type's summary elements; `count` is for searches. A resource the
    // gateway has no list for (the CapabilityStatement) is answered whole.
    match shape {
        Shape::Summary if summary_elements(&kind).is_empty() => return,
        Shape::Count => return,
        _ => {}
    }
    let always = ["resourceType", "id", "meta", "implicitRules"];
    let mandatory = mandatory_elements(&kind);
    let keep = |name: &str| -> bool {
        always.contains(&name)
            || mandatory.contains(&name)
            || match shape {
                Shape::Summary => summary_elements(&kind).contains(&name),
                Shape::Text => name == "text",
                Shape::Data => name != "text",
                Shape::Count => false,
                Shape::Elements(names) => names.iter().any(|n| n == name),
            }
    };
    let before = map.len();
    let kept: Map<String, Value> = std::mem::take(map)
        .into_iter()
        .filter(|(name, _)| keep(name))
        .collect();
    *map = kept;
    if map.len() < before {
        let meta = map.entry("meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let tags = meta.entry("tag").or_insert_with(|| json!([]));
            if let Some(tags) = tags.as_array_mut()
                && !tags.iter().any(|t| t["code"] == "SUBSETTED")
            {
                tags.push(json!({
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": "SUBSETTED",
                    "display": "subsetted",
                }));
            }
        }
    }
}

/// Applies `shape` to an answer's body: each matched resource of a search, or the resource.
fn reshape(body: &mut Value, shape: &Shape) {
    if body["resourceType"] != "Bundle" {
        cut(body, shape);
        return;
    }
    if *shape == Shape::Count {
        if let Some(map) = body.as_object_mut() {
            map.remove("entry");
        }
        return;
    }
    for entry in body["entry"].as_array_mut().into_iter().flatten() {
        if entry["search"]["mode"] == "match" {
            cut(&mut entry["resource"], shape);
        }
    }
}

async fn json_of(response: Response) -> Option<(axum::http::response::Parts, Value)> {
    let is_fhir = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/fhir+json"));
    if !is_fhir {
        return None;
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.ok()?;
    let value = serde_json::from_slice(&bytes).ok()?;
    Some((parts, value))
}

fn rebuilt(mut parts: axum::http::response::Parts, body: &Value) -> Response {
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// Shapes FHIR answers as the request asks (`_summary`, `_elements`, `Prefer: return`).
pub async fn shape(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/fhir/") {
        return next.run(request).await;
    }
    let method = request.method().clone();
    if method == Method::GET {
        let shapes = match shape_of(request.uri().query().unwrap_or("")) {
            Ok(shapes) if shapes.is_empty() => return next.run(request).await,
            Ok(shapes) => shapes,
            Err(error) => return error.into_response(),
        };
        let response = next.run(request).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        return match json_of(response).await {
            Some((parts, mut body)) => {
                for shape in &shapes {
                    reshape(&mut body, shape);
                }
                rebuilt(parts, &body)
            }
            None => ApiError::Internal("an answer could not be shaped".into()).into_response(),
        };
    }
    if !matches!(method, Method::POST | Method::PUT) {
        return next.run(request).await;
    }
    let wanted = prefer(request.headers(), "return");
    let response = next.run(request).await;
    let status = response.status();
    match wanted.as_deref() {
        Some("minimal") if status.is_success() => {
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(header::CONTENT_TYPE);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::empty())
        }
        Some("operationoutcome") if status.is_success() => {
            let warnings: Vec<String> = response
                .headers()
                .get_all("x-brygga-warning")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            let (parts, _) = response.into_parts();
            let mut outcome = operation_outcome(
                "information",
                "informational",
                if status == StatusCode::CREATED {
                    "created"
                } else {
                    "updated"
                },
            );
            for warning in warnings {
                if let Some(issues) = outcome["issue"].as_array_mut() {
                    issues.push(json!({
                        "severity": "warning",
                        "code": "informational",
                        "diagnostics": warning,
                    }));
                }
            }
            let mut answer = fhir_json(status, outcome);
            for (name, value) in parts.headers.iter() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    answer.headers_mut().append(name, value.clone());
                }
            }
            answer
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Value {
        json!({
            "resourceType": "Task", "id": "t", "meta": { "versionId": "1" },
            "text": { "status": "generated", "div": "<div/>" },
            "status": "requested", "intent": "order", "owner": { "display": "x" },
            "input": [{ "type": { "text": "a" }, "valueString": "b" }],
        })
    }

    #[test]
    fn summaries_and_elements_keep_what_they_name_and_say_so() {
        let mut summary = task();
        cut(&mut summary, &Shape::Summary);
        assert!(summary.get("input").is_none() && summary.get("text").is_none());
        assert_eq!(summary["owner"]["display"], "x");
        assert_eq!(summary["meta"]["tag"][0]["code"], "SUBSETTED");
        let mut elements = task();
        cut(&mut elements, &Shape::Elements(vec!["input".into()]));
        let mut names: Vec<&String> = elements.as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(
            names,
            ["id", "input", "intent", "meta", "resourceType", "status"]
        );
        // Both cuts: what both keep, marked once.
        let mut both = task();
        cut(&mut both, &Shape::Summary);
        cut(&mut both, &Shape::Elements(vec!["owner".into()]));
        assert_eq!(both["owner"]["display"], "x");
        assert!(both.get("input").is_none());
        assert_eq!(both["meta"]["tag"].as_array().unwrap().len(), 1);
        let mut data = task();
        cut(&mut data, &Shape::Data);
        assert!(data.get("text").is_none() && data.get("input").is_some());
        // No summary list for the type, or a count asked of one resource: answered whole.
        let statement = json!({ "resourceType": "CapabilityStatement", "status": "active" });
        for shape in [Shape::Summary, Shape::Count] {
            let mut read = statement.clone();
            cut(&mut read, &shape);
            assert_eq!(read, statement);
        }
    }

    #[test]
    fn shapes_are_read_from_the_query_and_wrong_ones_refused() {
        assert_eq!(shape_of("_summary=count").unwrap(), [Shape::Count]);
        assert_eq!(shape_of("_summary=false&_count=2").unwrap(), []);
        assert_eq!(
            shape_of("_elements=status,owner").unwrap(),
            [Shape::Elements(vec!["status".into(), "owner".into()])]
        );
        // Together, both cuts; a count has nothing to cut.
        assert_eq!(
            shape_of("_summary=true&_elements=status").unwrap(),
            [Shape::Summary, Shape::Elements(vec!["status".into()])]
        );
        assert_eq!(
            shape_of("_elements=status&_summary=count").unwrap(),
            [Shape::Count]
        );
        for wrong in ["_summary=maybe", "_elements=a.b", "_total=all"] {
            assert!(shape_of(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn preferences_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "prefer",
            "respond-async, handling=STRICT; return=\"minimal\""
                .parse()
                .unwrap(),
        );
        assert_eq!(prefer(&headers, "handling").as_deref(), Some("strict"));
        assert_eq!(prefer(&headers, "return").as_deref(), Some("minimal"));
        assert_eq!(prefer(&headers, "wait"), None);
    }
}
