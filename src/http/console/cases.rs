//! The console's cases, for coordinators (and operators): finding a person's cases, and one
//! case's timeline — each step as it happened, whom it was released to and whom withheld
//! from and why, how each delivery went, each clock with its due time and whether it was met,
//! and the case's deviations.
//!
//! Personal data is shown only for a purpose the person states: the search and every opened
//! case are audited as the organisation's reads with that purpose. The personnummer travels in
//! a POST body, never in a URL (which proxies and access logs keep). A case the organisation
//! takes no part in is answered as one that does not exist.

use std::collections::HashMap;
use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::labels::{self, PURPOSES};
use super::page::{self, Page, escape, local, text};
use super::session::Session;
use super::{actor, follower, html, same_session, unavailable};
use crate::auth::Role;
use crate::config::Directory;
use crate::domain::case::CaseId;
use crate::domain::event::EventKind;
use crate::domain::party::Party;
use crate::http::router::AppState;
use crate::pipeline::{ClockState, Decided, ReceiveError, Timeline};

/// A party by the name the directory gives it (its code where the directory has none).
pub fn party_name(directory: &Directory, party: &Party) -> String {
    match party {
        Party::RegionUnit { hsa_id } => directory
            .region_unit(hsa_id)
            .map(|u| u.name.clone())
            .or_else(|| directory.region(hsa_id).map(|r| r.name.clone()))
            .unwrap_or_else(|| hsa_id.to_string()),
        Party::Municipality { kommunkod, unit } => {
            let municipality = directory.municipality(*kommunkod);
            let name = municipality
                .map(|m| m.name.clone())
                .unwrap_or_else(|| kommunkod.to_string());
            match unit {
                None => name,
                Some(unit) => {
                    let unit_name = municipality
                        .and_then(|m| m.units.iter().find(|u| u.hsa_id.as_ref() == Some(unit)))
                        .map(|u| u.name.clone())
                        .unwrap_or_else(|| unit.to_string());
                    format!("{unit_name}, {name}")
                }
            }
        }
    }
}

/// The purpose choice, `chosen` selected.
fn purpose_select(out: &mut String, lang: &str, chosen: Option<&str>) {
    let _ = write!(
        out,
        "<label for=\"purpose\">{}</label><select id=\"purpose\" name=\"purpose\" required>",
        text(lang, "purpose")
    );
    for (key, sv, en) in PURPOSES {
        let _ = write!(
            out,
            "<option value=\"{key}\"{}>{}</option>",
            if Some(*key) == chosen {
                " selected"
            } else {
                ""
            },
            if lang == "en" { en } else { sv }
        );
    }
    out.push_str("</select>");
}

/// The search form: a personnummer and a purpose.
fn search_form(out: &mut String, lang: &str, session: &Session, person: &str) {
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/console/cases\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"person\">{}</label><input type=\"text\" id=\"person\" name=\"person\" autocomplete=\"off\" inputmode=\"numeric\" required value=\"{}\">",
        escape(&session.csrf),
        text(lang, "person-number"),
        escape(person),
    );
    purpose_select(out, lang, None);
    let _ = write!(
        out,
        "<p><button type=\"submit\">{}</button></p></form>",
        text(lang, "find-cases")
    );
}

/// `GET /console/cases`: the search form.
pub async fn find_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match follower(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let mut out = format!("<p>{}</p>", text(lang, "cases-intro"));
    search_form(&mut out, lang, &session, "");
    let mut page = Page::new(lang, text(lang, "cases"), &session, "/console/cases");
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

#[derive(Debug, Deserialize)]
pub struct FindForm {
    csrf: String,
    person: String,
    purpose: String,
}

/// `POST /console/cases`: the person's cases the organisation takes part in, each read
/// audited with the stated purpose.
pub async fn find(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Form(form): Form<FindForm>,
) -> Response {
    let session = match follower(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = session.language;
    if let Err(refusal) = same_session(&session, &headers, &base, &form.csrf) {
        return *refusal;
    }
    let pipeline = &state.pipeline;
    let today = crate::process::stats::date_of(pipeline.clock.now());
    let mut out = String::new();
    let (Some(person), Some((_, audit_purpose))) = (
        crate::domain::identifiers::PersonId::parse_any(form.person.trim(), today),
        labels::purpose(lang, &form.purpose),
    ) else {
        let _ = write!(
            out,
            "<p class=\"message\" role=\"alert\">{}</p>",
            text(lang, "bad-person")
        );
        search_form(&mut out, lang, &session, form.person.trim());
        let mut page = Page::new(lang, text(lang, "cases"), &session, "/console/cases");
        page.push(&out);
        return html(StatusCode::BAD_REQUEST, page.finish());
    };
    let reads = match pipeline
        .read_cases_of_for(
            &person,
            &session.organisation,
            &actor(&session),
            "cases (console)",
            audit_purpose,
        )
        .await
    {
        Ok(reads) => reads,
        Err(error) => {
            tracing::error!(%error, "the console could not read a person's cases");
            return unavailable(lang);
        }
    };
    if reads.is_empty() {
        let _ = write!(out, "<p role=\"status\">{}</p>", text(lang, "no-cases"));
    } else {
        let _ = write!(
            out,
            "<table aria-label=\"{}\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th></tr></thead><tbody>",
            text(lang, "cases"),
            text(lang, "case"),
            text(lang, "phase"),
            text(lang, "admitted"),
            text(lang, "steps"),
        );
        for read in &reads {
            let state = read.case().state();
            let _ = write!(
                out,
                "<tr><th scope=\"row\"><a href=\"/console/cases/{}?purpose={}\">{}</a></th><td>{}</td><td>{}</td><td class=\"number\">{}</td></tr>",
                read.case_id(),
                escape(&form.purpose),
                escape(&read.reference().value),
                labels::phase(lang, state.phase),
                state
                    .admitted_at
                    .map(local)
                    .unwrap_or_else(|| "–".to_owned()),
                read.events().len(),
            );
        }
        out.push_str("</tbody></table>");
    }
    search_form(&mut out, lang, &session, "");
    let mut page = Page::new(lang, text(lang, "cases"), &session, "/console/cases");
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

/// `GET /console/cases/{case_id}?purpose=`: asks for the purpose, then shows the timeline.
pub async fn timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match follower(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let not_found = || {
        html(
            StatusCode::NOT_FOUND,
            page::refused(lang, text(lang, "no-such-case")),
        )
    };
    let Ok(case_id) = CaseId::parse(&case) else {
        return not_found();
    };
    let stated = query
        .get("purpose")
        .and_then(|key| labels::purpose(lang, key));
    let Some((shown_purpose, audit_purpose)) = stated else {
        // Nothing is read before the purpose is stated; one not on the list is said to be.
        let mut out = String::new();
        if query.contains_key("purpose") {
            let _ = write!(
                out,
                "<p class=\"message\" role=\"alert\">{}</p>",
                text(lang, "unknown-purpose")
            );
        }
        let _ = write!(
            out,
            "<form method=\"get\" action=\"/console/cases/{case_id}\"><p>{}</p>",
            text(lang, "purpose-intro")
        );
        purpose_select(&mut out, lang, None);
        let _ = write!(
            out,
            "<p><button type=\"submit\">{}</button></p></form>",
            text(lang, "open-case")
        );
        let mut page = Page::new(lang, text(lang, "case"), &session, "/console/cases");
        page.push(&out);
        return html(StatusCode::OK, page.finish());
    };
    let timeline = match state
        .pipeline
        .timeline(
            case_id,
            &session.organisation,
            &actor(&session),
            audit_purpose,
        )
        .await
    {
        Ok(timeline) => timeline,
        Err(ReceiveError::UnknownCase { .. }) => return not_found(),
        Err(error) => {
            tracing::error!(%error, "the console could not read a case's timeline");
            return unavailable(lang);
        }
    };
    let directory = &state.pipeline.directory;
    let now = state.pipeline.clock.now();
    let title = format!("{} {}", text(lang, "case"), timeline.read.reference().value);
    let mut page = Page::new(lang, &title, &session, "/console/cases");
    page.push(&render(&timeline, directory, lang, shown_purpose, now));
    if session.role == Role::Operator {
        page.push(&format!(
            "<p><a href=\"/console/deliveries?case={case_id}\">{}</a></p>",
            text(lang, "case-deliveries")
        ));
    }
    html(StatusCode::OK, page.finish())
}

/// The timeline's sections: the case, its clocks, its steps, its deviations.
fn render(
    timeline: &Timeline,
    directory: &Directory,
    lang: &str,
    purpose: &str,
    now: jiff::Timestamp,
) -> String {
    let read = &timeline.read;
    let state = read.case().state();
    let mut out = String::new();
    let person = if read.protected_identity() {
        text(lang, "protected-identity").to_owned()
    } else {
        read.person().value()
    };
    let when = |at: Option<jiff::Timestamp>| at.map(local).unwrap_or_else(|| "–".to_owned());
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        text(lang, "person"),
        escape(&person),
        text(lang, "phase"),
        labels::phase(lang, state.phase),
        text(lang, "admitted"),
        when(state.admitted_at),
        text(lang, "ready-for-discharge"),
        when(state.ready_for_discharge_at),
        text(lang, "discharged"),
        when(state.discharged_at),
        text(lang, "purpose"),
        escape(purpose),
    );
    if read.withheld_count() > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{}: {}</p>",
            text(lang, "hidden-steps"),
            read.withheld_count()
        );
    }
    clocks(&mut out, timeline, directory, lang, now);
    steps(&mut out, timeline, directory, lang);
    deviations(&mut out, timeline, directory, lang);
    out
}

fn clocks(
    out: &mut String,
    timeline: &Timeline,
    directory: &Directory,
    lang: &str,
    now: jiff::Timestamp,
) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"clocks\"><h2 id=\"clocks\">{}</h2>",
        text(lang, "clocks")
    );
    if timeline.clocks.is_empty() {
        let _ = write!(out, "<p>{}</p></section>", text(lang, "no-clocks"));
        return;
    }
    let _ = write!(
        out,
        "<table aria-labelledby=\"clocks\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        text(lang, "clock"),
        text(lang, "for-whom"),
        text(lang, "due"),
        text(lang, "outcome"),
    );
    for clock in &timeline.clocks {
        let (class, outcome) = match clock.state {
            ClockState::Running => (
                "none",
                format!(
                    "{} ({})",
                    text(lang, "clock-running"),
                    page::age(now, clock.due_at)
                ),
            ),
            ClockState::Overdue => ("bad", text(lang, "clock-overdue").to_owned()),
            ClockState::Met { at } => {
                ("good", format!("{} {}", text(lang, "clock-met"), local(at)))
            }
            ClockState::Stopped { at } => (
                "none",
                format!("{} {}", text(lang, "clock-stopped"), local(at)),
            ),
            ClockState::Missed => ("bad", text(lang, "clock-missed").to_owned()),
            ClockState::Reminded { at } => (
                "none",
                format!("{} {}", text(lang, "clock-reminded"), local(at)),
            ),
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"nowrap\">{}</td><td{}>{}</td></tr>",
            labels::deadline(lang, clock.deadline),
            clock
                .party
                .as_ref()
                .map(|p| escape(&party_name(directory, p)))
                .unwrap_or_else(|| "–".to_owned()),
            local(clock.due_at),
            if class == "none" {
                String::new()
            } else {
                format!(" class=\"{class}\"")
            },
            escape(&outcome),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn steps(out: &mut String, timeline: &Timeline, directory: &Directory, lang: &str) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"steps\"><h2 id=\"steps\">{}</h2><ol class=\"timeline\">",
        text(lang, "steps-title")
    );
    let case_id = timeline.read.case_id();
    for (n, step) in timeline.steps.iter().enumerate() {
        let event = &step.event;
        let _ = write!(
            out,
            "<li><h3 id=\"step-{n}\">{} <span class=\"when\">{}</span></h3><p>{}: {}",
            labels::step(lang, event.kind.name()),
            local(event.occurred_at),
            text(lang, "from"),
            event
                .source
                .sender
                .as_ref()
                .map(|p| escape(&party_name(directory, p)))
                .unwrap_or_else(|| "brygga".to_owned()),
        );
        if let Some(at) = step.recorded_at {
            let _ = write!(out, " · {} {}", text(lang, "recorded"), local(at));
        }
        match &event.kind {
            EventKind::DeadlineMissed { deadline, .. } => {
                let _ = write!(out, " · {}", labels::deadline(lang, *deadline));
            }
            EventKind::DeviationRaised { deviation_id, .. } => {
                let _ = write!(
                    out,
                    " · <a href=\"/console/cases/{case_id}/deviations/{}\">{}</a>",
                    super::deviations::url_segment(deviation_id),
                    escape(deviation_id)
                );
            }
            _ => {}
        }
        out.push_str("</p>");
        if step.recipients.is_empty() {
            let _ = write!(out, "<p>{}</p></li>", text(lang, "no-recipients"));
            continue;
        }
        let _ = write!(
            out,
            "<table aria-labelledby=\"step-{n}\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            text(lang, "recipient"),
            text(lang, "decision"),
            text(lang, "delivery"),
        );
        for recipient in &step.recipients {
            let decision = match &recipient.decided {
                Decided::Released { .. } => {
                    format!("<td class=\"good\">{}</td>", text(lang, "released"))
                }
                Decided::Withheld {
                    reason,
                    explanation,
                } => format!(
                    "<td class=\"bad withheld\">{}: {}{}</td>",
                    text(lang, "withheld"),
                    labels::withheld(lang, reason),
                    if lang == "en" && !explanation.is_empty() {
                        format!(" ({})", escape(explanation))
                    } else {
                        String::new()
                    }
                ),
            };
            let deliveries = recipient
                .deliveries
                .iter()
                .map(|d| {
                    let status = match d.status.as_str() {
                        "delivered" => text(lang, "status-delivered"),
                        "dead" => text(lang, "status-dead"),
                        _ => text(lang, "status-pending"),
                    };
                    let mut line = format!("{}: {status}", escape(&d.subscription));
                    if let Some(at) = d.finished_at {
                        let _ = write!(line, " {}", local(at));
                    }
                    if let Some(at) = d.acknowledged_at {
                        let _ = write!(line, ", {} {}", text(lang, "acknowledged"), local(at));
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("<br>");
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th>{decision}<td>{}</td></tr>",
                escape(&party_name(directory, &recipient.party)),
                if deliveries.is_empty() {
                    "–".to_owned()
                } else {
                    deliveries
                },
            );
        }
        out.push_str("</tbody></table></li>");
    }
    out.push_str("</ol></section>");
}

fn deviations(out: &mut String, timeline: &Timeline, directory: &Directory, lang: &str) {
    let read = &timeline.read;
    let raised: Vec<&str> = read
        .events()
        .iter()
        .filter_map(|r| match &r.event().kind {
            EventKind::DeviationRaised { deviation_id, .. } => Some(deviation_id.as_str()),
            _ => None,
        })
        .collect();
    let _ = write!(
        out,
        "<section aria-labelledby=\"case-deviations\"><h2 id=\"case-deviations\">{}</h2>",
        text(lang, "deviations-title")
    );
    if raised.is_empty() {
        let _ = write!(out, "<p>{}</p></section>", text(lang, "no-deviations"));
        return;
    }
    let _ = write!(out, "<ul>");
    for id in raised {
        let Some(deviation) = read.case().state().deviations.get(id) else {
            continue;
        };
        let status = if deviation.answered_at.is_some() {
            "deviation-answered"
        } else if deviation.acknowledged_at.is_some() {
            "deviation-acknowledged"
        } else {
            "deviation-open"
        };
        let _ = write!(
            out,
            "<li><a href=\"/console/cases/{}/deviations/{}\">{}</a>: {} · {} {} · {}</li>",
            read.case_id(),
            super::deviations::url_segment(id),
            escape(id),
            escape(&party_name(directory, &deviation.addressed_to)),
            text(lang, "raised"),
            local(deviation.raised_at),
            text(lang, status),
        );
    }
    out.push_str("</ul></section>");
}
