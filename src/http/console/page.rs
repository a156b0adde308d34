//! The console's HTML: one layout (skip link, header with who is signed in and the sign-out
//! form, navigation, `main`), the sign-in form, and the overview's sections — tables with
//! captions and header cells, numbers aligned, every text in Swedish and English. Everything
//! interpolated is escaped.

use std::fmt::Write;

use jiff::Timestamp;

use super::session::Session;
use crate::store::{DeviationState, Operations, QueueState};

/// `text` escaped for HTML text and attribute values (`&`, `<`, `>`, `"`, `'`).
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

pub use super::texts::text;

/// `at` in Swedish time, to the minute.
pub fn local(at: Timestamp) -> String {
    at.to_zoned_datetime(crate::domain::time::stockholm())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn age(since: Timestamp, now: Timestamp) -> String {
    let minutes = now.duration_since(since).as_secs().max(0) / 60;
    match minutes {
        0..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} d", minutes / 1440),
    }
}

fn head(out: &mut String, lang: &str, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} – brygga</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"><link rel=\"icon\" href=\"/console/assets/icon.svg\" type=\"image/svg+xml\"></head><body>",
        escape(title)
    );
}

/// The sign-in page, with a message and the username typed before.
pub fn login(
    lang: &'static str,
    message: Option<&str>,
    username: &str,
    providers: &[(usize, String)],
) -> String {
    let mut out = String::new();
    let title = text(lang, "sign-in");
    head(&mut out, lang, title);
    let other = if lang == "en" { "sv" } else { "en" };
    let _ = write!(
        out,
        "<header><span>brygga</span><a href=\"/console/login?lang={other}\" lang=\"{other}\">{}</a></header><main id=\"main\"><h1>{}</h1>",
        text(lang, "other-language"),
        escape(title)
    );
    if let Some(message) = message {
        let _ = write!(
            out,
            "<p class=\"message\" role=\"alert\">{}</p>",
            escape(message)
        );
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/console/login\"><input type=\"hidden\" name=\"lang\" value=\"{lang}\"><label for=\"username\">{}</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\"><label for=\"password\">{}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required><p><button type=\"submit\">{}</button></p></form></main></body></html>",
        text(lang, "username"),
        escape(username),
        text(lang, "password"),
        text(lang, "sign-in"),
    );
    // Sign-in through the identity providers configured for it, each a link that begins it.
    if !providers.is_empty() {
        out.truncate(out.len() - "</main></body></html>".len());
        let _ = write!(
            out,
            "<h2>{}</h2><ul class=\"providers\">",
            text(lang, "or-sign-in-with")
        );
        for (index, label) in providers {
            let _ = write!(
                out,
                "<li><a class=\"button\" href=\"/console/oidc/{index}/start?lang={lang}\">{} {}</a></li>",
                text(lang, "sign-in-with"),
                escape(label)
            );
        }
        out.push_str("</ul></main></body></html>");
    }
    out
}

/// A page saying a request was refused.
pub fn refused(lang: &'static str, message: &str) -> String {
    let mut out = String::new();
    head(&mut out, lang, text(lang, "refused"));
    let _ = write!(
        out,
        "<main id=\"main\"><h1>{}</h1><p class=\"message\" role=\"alert\">{}</p><p><a href=\"/console\">{}</a></p></main></body></html>",
        text(lang, "refused"),
        escape(message),
        text(lang, "overview"),
    );
    out
}

/// A page of a signed-in person.
pub struct Page {
    lang: &'static str,
    out: String,
}

impl Page {
    /// A page titled `title`, `current` its entry in the navigation (`/console`, …).
    pub fn new(lang: &'static str, title: &str, session: &Session, current: &str) -> Page {
        let mut out = String::new();
        head(&mut out, lang, title);
        let other = if lang == "en" { "sv" } else { "en" };
        let mut entries = vec![("/console", text(lang, "overview"))];
        if session.role == crate::auth::Role::Operator {
            entries.push(("/console/deliveries", text(lang, "deliveries")));
            entries.push(("/console/conformance", text(lang, "conformance")));
        }
        if matches!(
            session.role,
            crate::auth::Role::Operator | crate::auth::Role::Coordinator
        ) {
            entries.push(("/console/deviations", text(lang, "deviations-title")));
            entries.push(("/console/cases", text(lang, "cases")));
        }
        if session.role == crate::auth::Role::Auditor {
            entries.push(("/console/audit", text(lang, "audit-log")));
        }
        entries.push(("/console/statistics", text(lang, "statistics")));
        let _ = write!(
            out,
            "<a class=\"skip\" href=\"#main\">{}</a><header><span>brygga</span><nav aria-label=\"{}\"><ul>",
            text(lang, "skip"),
            if lang == "en" { "Console" } else { "Konsolen" },
        );
        for (href, label) in entries {
            let _ = write!(
                out,
                "<li><a href=\"{href}\"{}>{label}</a></li>",
                if href == current {
                    " aria-current=\"page\""
                } else {
                    ""
                }
            );
        }
        let _ = write!(
            out,
            "</ul></nav><span class=\"who\">{} {} ({}, {})</span><a href=\"?lang={other}\" lang=\"{other}\">{}</a><form class=\"inline\" method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button class=\"quiet\" type=\"submit\">{}</button></form></header><main id=\"main\"><h1>{}</h1>",
            text(lang, "signed-in-as"),
            escape(&session.name),
            escape(&session.organisation.code()),
            text(lang, session.role.as_str()),
            text(lang, "other-language"),
            escape(&session.csrf),
            text(lang, "sign-out"),
            escape(title),
        );
        Page { lang, out }
    }

    /// Appends HTML the caller built (escaped where it interpolates).
    pub fn push(&mut self, html: &str) {
        self.out.push_str(html);
    }

    fn t(&self, key: &str) -> &'static str {
        text(self.lang, key)
    }

    /// The database and the timers.
    pub fn health(&mut self, ready: bool, operations: Option<&Operations>, now: Timestamp) {
        let _ = write!(
            self.out,
            "<section aria-labelledby=\"health\"><h2 id=\"health\">{}</h2><ul><li>{}: <span class=\"{}\">{}</span></li>",
            self.t("health"),
            self.t("database"),
            if ready { "good" } else { "bad" },
            self.t(if ready { "ready" } else { "not-ready" }),
        );
        match operations {
            Some(o) => {
                let _ = write!(
                    self.out,
                    "<li>{}: {} {}, <span class=\"{}\">{} {}</span>{}</li>",
                    self.t("timers"),
                    o.timers_pending,
                    self.t("timers-pending"),
                    if o.timers_overdue > 0 { "bad" } else { "good" },
                    o.timers_overdue,
                    self.t("timers-overdue"),
                    o.oldest_overdue
                        .map(|at| format!(" ({})", age(at, now)))
                        .unwrap_or_default(),
                );
            }
            None => {
                let _ = write!(
                    self.out,
                    "<li class=\"bad\">{}</li>",
                    self.t("store-unreadable")
                );
            }
        }
        self.out.push_str("</ul></section>");
    }

    /// Each subscription's queue and this instance's circuit breaker for it.
    pub fn queues(
        &mut self,
        operations: Option<&Operations>,
        breakers: &[(String, u8)],
        paused: &[String],
        now: Timestamp,
    ) {
        let _ = write!(
            self.out,
            "<section aria-labelledby=\"queues\"><h2 id=\"queues\">{}</h2>",
            self.t("queues")
        );
        let queues: &[QueueState] = operations.map(|o| o.queues.as_slice()).unwrap_or(&[]);
        if queues.is_empty() {
            let _ = write!(self.out, "<p>{}</p></section>", self.t("no-queues"));
            return;
        }
        let _ = write!(
            self.out,
            "<table aria-labelledby=\"queues\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            self.t("subscription"),
            self.t("pending"),
            self.t("oldest"),
            self.t("dead"),
            self.t("delivered"),
            self.t("last-delivered"),
            self.t("breaker"),
        );
        for queue in queues {
            let breaker = breakers
                .iter()
                .find(|(name, _)| *name == queue.destination)
                .map(|(_, state)| *state)
                .unwrap_or(0);
            let _ = write!(
                self.out,
                "<tr><th scope=\"row\">{}</th><td class=\"number\">{}</td><td>{}</td><td class=\"number{}\">{}</td><td class=\"number\">{}</td><td>{}</td><td{}>{}</td></tr>",
                escape(&queue.destination),
                queue.pending,
                queue
                    .oldest_pending
                    .map(|at| age(at, now))
                    .unwrap_or_else(|| "–".to_owned()),
                if queue.dead > 0 { " bad" } else { "" },
                queue.dead,
                queue.delivered,
                queue
                    .last_delivered
                    .map(|at| format!("{} ({})", local(at), age(at, now)))
                    .unwrap_or_else(|| "–".to_owned()),
                if breaker == 1 || paused.contains(&queue.destination) {
                    " class=\"bad\""
                } else {
                    ""
                },
                if paused.contains(&queue.destination) {
                    self.t("paused")
                } else {
                    self.t(match breaker {
                        1 => "open",
                        2 => "half-open",
                        _ => "closed",
                    })
                },
            );
        }
        self.out.push_str("</tbody></table></section>");
    }

    /// The deadlines and reminders falling due in the next 24 hours, by kind.
    pub fn due_soon(&mut self, operations: Option<&Operations>) {
        let _ = write!(
            self.out,
            "<section aria-labelledby=\"due\"><h2 id=\"due\">{}</h2>",
            self.t("due-soon")
        );
        let due = operations
            .map(|o| o.due_within_a_day.as_slice())
            .unwrap_or(&[]);
        if due.is_empty() {
            let _ = write!(self.out, "<p>{}</p></section>", self.t("none-due"));
            return;
        }
        let _ = write!(
            self.out,
            "<table aria-labelledby=\"due\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th></tr></thead><tbody>",
            self.t("clock"),
            self.t("count"),
        );
        for (kind, count) in due {
            let _ = write!(
                self.out,
                "<tr><th scope=\"row\">{}</th><td class=\"number\">{count}</td></tr>",
                escape(kind)
            );
        }
        self.out.push_str("</tbody></table></section>");
    }

    /// The deviations waiting for an answer, by principal.
    pub fn deviations(&mut self, operations: Option<&Operations>) {
        let _ = write!(
            self.out,
            "<section aria-labelledby=\"deviations\"><h2 id=\"deviations\">{}</h2><table aria-labelledby=\"deviations\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\" class=\"number\">{}</th></tr></thead><tbody>",
            self.t("deviations"),
            self.t("principal"),
            self.t("unanswered"),
            self.t("unacknowledged"),
            self.t("escalated"),
        );
        let states: &[DeviationState] = operations.map(|o| o.deviations.as_slice()).unwrap_or(&[]);
        for principal in ["region", "municipality"] {
            let state = states.iter().find(|d| d.principal == principal);
            let _ = write!(
                self.out,
                "<tr><th scope=\"row\">{}</th><td class=\"number\">{}</td><td class=\"number\">{}</td><td class=\"number\">{}</td></tr>",
                self.t(principal),
                state.map_or(0, |d| d.unanswered),
                state.map_or(0, |d| d.unacknowledged),
                state.map_or(0, |d| d.escalated),
            );
        }
        self.out.push_str("</tbody></table></section>");
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</main></body></html>");
        self.out
    }

    /// The page, ending with the console's own scripts at `sources` (served from
    /// `/console/assets/`; nothing inline, nothing from elsewhere).
    pub fn finish_with_scripts(mut self, sources: &[&str]) -> String {
        self.out.push_str("</main>");
        for source in sources {
            let _ = write!(self.out, "<script src=\"{}\"></script>", escape(source));
        }
        self.out.push_str("</body></html>");
        self.out
    }
}
