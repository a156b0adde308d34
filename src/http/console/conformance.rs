//! The console's page of what the gateway offers the region's vendors, for operators: the
//! formats and their endpoints, each loaded municipal dialect with its message kinds and
//! directions, the deadline policies in force with their figures and agreement clocks, and
//! the national platform's contract when it is served. The full conformance report (every
//! fixture and scenario run against the build) is `brygga conformance --html`, named here.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::labels;
use super::page::{Page, escape, text};
use super::{html, signed_in};
use crate::auth::Role;
use crate::http::router::AppState;
use crate::process::policy::{Count, Policy};

fn count(lang: &str, count: Count) -> &'static str {
    match (count, lang) {
        (Count::Calendar, "en") => "calendar days",
        (Count::Calendar, _) => "kalenderdagar",
        (Count::Working, "en") => "working days",
        (Count::Working, _) => "arbetsdagar",
    }
}

fn hours(duration: jiff::SignedDuration) -> String {
    format!("{} h", duration.as_secs() / 3600)
}

/// `GET /console/conformance`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match signed_in(&state, &headers, &[Role::Operator], "operators-only") {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let mappings = &state.pipeline.mappings;
    let mut out = format!("<p>{}</p>", text(lang, "conformance-intro"));

    // The formats and where each is sent.
    let _ = write!(
        out,
        "<section aria-labelledby=\"formats\"><h2 id=\"formats\">{}</h2><table aria-labelledby=\"formats\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        text(lang, "formats"),
        text(lang, "format"),
        text(lang, "endpoint"),
        text(lang, "description"),
    );
    for (name, endpoint, description) in [
        (
            "Cosmic Link",
            "POST /cosmic-link/v1/messages",
            text(lang, "format-cosmic-link"),
        ),
        (
            "canonical",
            "POST /canonical/v1/messages",
            text(lang, "format-canonical"),
        ),
        ("FHIR R4", "/fhir", text(lang, "format-fhir")),
    ] {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{name}</th><td><code>{endpoint}</code></td><td>{description}</td></tr>"
        );
    }
    for dialect in mappings.municipal.iter() {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td><code>POST /municipal/{}/v1/messages</code></td><td>{}</td></tr>",
            escape(&dialect.name),
            escape(&dialect.name),
            escape(&dialect.description),
        );
    }
    out.push_str("</tbody></table></section>");

    // Each dialect's message kinds.
    let _ = write!(
        out,
        "<section aria-labelledby=\"dialects\"><h2 id=\"dialects\">{}</h2>",
        text(lang, "dialects"),
    );
    for dialect in mappings.municipal.iter() {
        let id = format!("dialect-{}", escape(&dialect.name));
        let _ = write!(
            out,
            "<h3 id=\"{id}\">{}</h3><p>{} · {}: {}</p><table aria-labelledby=\"{id}\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            escape(&dialect.name),
            escape(&dialect.format),
            text(lang, "case-numbering"),
            text(
                lang,
                if dialect.numbers_cases {
                    "numbering-own"
                } else {
                    "numbering-placed"
                }
            ),
            text(lang, "message"),
            text(lang, "step"),
            text(lang, "direction"),
        );
        for kind in &dialect.kinds {
            let direction = match kind.direction.as_str() {
                "inbound" => text(lang, "direction-in"),
                "outbound" => text(lang, "direction-out"),
                _ => text(lang, "direction-both"),
            };
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{direction}</td></tr>",
                escape(&kind.name),
                labels::step(lang, kind.kind),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");

    // The policies in force.
    let policies = &mappings.policies;
    let _ = write!(
        out,
        "<section aria-labelledby=\"policies\"><h2 id=\"policies\">{}</h2><table aria-labelledby=\"policies\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        text(lang, "policies"),
        text(lang, "policy"),
        text(lang, "applies-to"),
        labels::deadline(lang, crate::domain::event::Deadline::AdmissionNotice),
        labels::deadline(lang, crate::domain::event::Deadline::SipInvitation),
        labels::deadline(lang, crate::domain::event::Deadline::PaymentResponsibility),
        labels::deadline(lang, crate::domain::event::Deadline::DeviationAnswer),
        text(lang, "agreement-clocks"),
    );
    for policy in std::iter::once(&policies.default).chain(&policies.agreements) {
        policy_row(&mut out, lang, policy);
    }
    out.push_str("</tbody></table></section>");

    // The national platform.
    let _ = write!(
        out,
        "<section aria-labelledby=\"national\"><h2 id=\"national\">{}</h2>",
        text(lang, "national")
    );
    match &state.riv {
        Some(producer) => {
            let _ = write!(
                out,
                "<p>GetCarePlans 2 (<code>clinicalprocess:logistics:logistics</code>): <code>POST /riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21</code>, {} <code>{}</code>; {}</p>",
                text(lang, "logical-address"),
                escape(producer.hsa_id.as_str()),
                text(lang, "national-consumers"),
            );
        }
        None => {
            let _ = write!(out, "<p>{}</p>", text(lang, "national-off"));
        }
    }
    out.push_str("</section>");
    let mut page = Page::new(
        lang,
        text(lang, "conformance"),
        &session,
        "/console/conformance",
    );
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

fn policy_row(out: &mut String, lang: &str, policy: &Policy) {
    let mut applies: Vec<String> = policy
        .care_providers
        .iter()
        .map(|h| h.to_string())
        .chain(policy.municipalities.iter().map(|k| k.to_string()))
        .collect();
    if applies.is_empty() {
        applies.push(text(lang, "everyone").to_owned());
    }
    let clocks = policy
        .clocks
        .iter()
        .map(|c| format!("{} ({} {})", escape(&c.name), c.days, count(lang, c.count)))
        .collect::<Vec<_>>()
        .join("<br>");
    let _ = write!(
        out,
        "<tr><th scope=\"row\">{} <span class=\"when\">({})</span></th><td>{}</td><td>{}</td><td>{} {}</td><td>{} {}</td><td>{} {}</td><td>{}</td></tr>",
        escape(&policy.name),
        escape(&policy.id),
        escape(&applies.join(", ")),
        hours(policy.admission_notice_within),
        policy.sip_invitation_days,
        count(lang, policy.sip_invitation_count),
        policy.payment.days,
        count(lang, policy.payment.count),
        policy.deviations.answer_within_days,
        count(lang, policy.deviations.count),
        if clocks.is_empty() {
            "–".to_owned()
        } else {
            clocks
        },
    );
}
