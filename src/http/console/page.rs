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

/// The console's texts, by key, in `lang` (`sv` or `en`).
pub fn text(lang: &str, key: &str) -> &'static str {
    let (sv, en) = match key {
        "overview" => ("Översikt", "Overview"),
        "deliveries" => ("Leveranser", "Deliveries"),
        "status" => ("Status", "Status"),
        "all" => ("alla", "all"),
        "status-pending" => ("väntar", "pending"),
        "status-delivered" => ("levererad", "delivered"),
        "status-dead" => ("död", "dead"),
        "show" => ("Visa", "Show"),
        "delivery" => ("Leverans", "Delivery"),
        "recipient" => ("Mottagare", "Recipient"),
        "attempts" => ("Försök", "Attempts"),
        "last-error" => ("Senaste fel", "Last error"),
        "created" => ("Skapad", "Created"),
        "redeliver" => ("Leverera igen", "Deliver again"),
        "redeliver-all" => ("Leverera alla döda igen", "Deliver every dead letter again"),
        "confirm-all" => (
            "Jag vill leverera alla döda leveranser för prenumerationen igen",
            "I want every dead letter of the subscription delivered again",
        ),
        "not-confirmed" => (
            "Kryssa i rutan för att bekräfta.",
            "Tick the box to confirm.",
        ),
        "redelivered" => ("lades tillbaka i kön", "went back in the queue"),
        "no-deliveries" => ("Inga leveranser matchar.", "No delivery matches."),
        "operators-only" => ("Sidan är för driftansvariga.", "The page is for operators."),
        "case" => ("Ärende", "Case"),
        "deviations-title" => ("Avvikelser", "Deviations"),
        "due-soon" => (
            "Tidsfrister och påminnelser inom 24 timmar",
            "Deadlines and reminders due within 24 hours",
        ),
        "none-due" => (
            "Inga tidsfrister inom 24 timmar.",
            "No deadline within 24 hours.",
        ),
        "clock" => ("Tidsfrist", "Deadline"),
        "count" => ("Antal", "Count"),
        "deviation" => ("Avvikelse", "Deviation"),
        "cause" => ("Orsak", "Cause"),
        "addressed-to" => ("Riktad till", "Addressed to"),
        "raised" => ("Upprättad", "Raised"),
        "reminders" => ("Påminnelser", "Reminders"),
        "deviation-open" => ("ej kvitterad", "not acknowledged"),
        "deviation-acknowledged" => ("kvitterad, ej besvarad", "acknowledged, not answered"),
        "deviation-answered" => ("besvarad", "answered"),
        "no-deviations" => ("Inga avvikelser.", "No deviations."),
        "no-such-deviation" => (
            "Avvikelsen finns inte, eller hör till ett ärende din organisation inte deltar i.",
            "No such deviation, or it belongs to a case your organisation takes no part in.",
        ),
        "description" => ("Beskrivning", "Description"),
        "evidence" => ("Underlag", "Evidence"),
        "answer" => ("Svar", "Answer"),
        "acknowledge" => ("Kvittera", "Acknowledge"),
        "answer-label" => (
            "Vad har gjorts åt avvikelsen?",
            "What was done about the deviation?",
        ),
        "send-answer" => ("Skicka svar", "Send the answer"),
        "coordinators-only" => (
            "Sidan är för samordnare och driftansvariga.",
            "The page is for coordinators and operators.",
        ),
        "not-addressed" => (
            "Avvikelsen är inte riktad till din organisation.",
            "The deviation is not addressed to your organisation.",
        ),
        "answer-empty" => (
            "Skriv vad som har gjorts åt avvikelsen.",
            "Say what was done about the deviation.",
        ),
        "statistics" => ("Statistik", "Statistics"),
        "statistics-own" => (
            "Din organisations enheter, i ärenden den deltar i. Varje diagram ritas från tabellen under det.",
            "Your organisation's units, in the cases it takes part in. Each chart is drawn from the table below it.",
        ),
        "statistics-county" => (
            "Länets alla enheter. Varje diagram ritas från tabellen under det.",
            "Every unit of the county. Each chart is drawn from the table below it.",
        ),
        "suppressed-below" => (
            "Små tal undertrycks (X): antal och medelvärden som bygger på färre än",
            "Small figures are suppressed (X): counts and means resting on fewer than",
        ),
        "first-month" => ("Första månad (ÅÅÅÅ-MM)", "First month (YYYY-MM)"),
        "months" => ("Antal månader", "Number of months"),
        "month" => ("Månad", "Month"),
        "days" => ("Dagar", "Days"),
        "unit" => ("Enhet", "Unit"),
        "all-units" => ("alla", "all"),
        "download-csv" => ("Ladda ned som CSV", "Download as CSV"),
        "bad-months" => (
            "Antal månader är ett heltal från 1 till 24.",
            "The number of months is a whole number from 1 to 24.",
        ),
        "bad-from" => (
            "Första månad skrivs ÅÅÅÅ-MM, till exempel 2026-06.",
            "The first month is written YYYY-MM, for example 2026-06.",
        ),
        "no-such-chart" => ("Det diagrammet finns inte.", "No such chart."),
        "subscriptions" => ("Prenumerationer", "Subscriptions"),
        "pause-note" => (
            "En pausad prenumerations leveranser väntar i kön tills den återupptas; tidsfristerna löper ändå.",
            "A paused subscription's deliveries wait in the queue until it is resumed; the deadlines run all the same.",
        ),
        "change" => ("Ändra", "Change"),
        "paused" => ("pausad", "paused"),
        "active" => ("aktiv", "active"),
        "pause" => ("Pausa", "Pause"),
        "resume" => ("Återuppta", "Resume"),
        "was-paused" => ("pausades", "was paused"),
        "was-resumed" => ("återupptogs", "was resumed"),
        "no-such-subscription" => ("Prenumerationen finns inte.", "No such subscription."),
        "no-such-delivery" => ("Leveransen finns inte.", "No such delivery."),
        "cases" => ("Ärenden", "Cases"),
        "case-timeline" => ("Ärendets tidslinje", "The case's timeline"),
        "cases-intro" => (
            "Sök en persons ärenden som din organisation deltar i. Ange varför: sökningen och varje ärende du öppnar loggas med syftet.",
            "Find a person's cases that your organisation takes part in. Say why: the search and every case you open are logged with the purpose.",
        ),
        "person-number" => (
            "Personnummer, samordningsnummer eller reservnummer",
            "Personal, coordination or reserve number",
        ),
        "purpose" => ("Syfte", "Purpose"),
        "find-cases" => ("Sök ärenden", "Find cases"),
        "bad-person" => (
            "Ange ett giltigt personnummer, samordningsnummer eller reservnummer och ett syfte.",
            "Give a valid personal, coordination or reserve number and a purpose.",
        ),
        "no-cases" => (
            "Inga ärenden som din organisation deltar i.",
            "No case your organisation takes part in.",
        ),
        "no-such-case" => (
            "Ärendet finns inte, eller din organisation deltar inte i det.",
            "No such case, or your organisation takes no part in it.",
        ),
        "purpose-intro" => (
            "Ärendet innehåller personuppgifter. Ange varför du öppnar det; öppnandet loggas med syftet.",
            "The case holds personal data. Say why you open it; the opening is logged with the purpose.",
        ),
        "open-case" => ("Öppna ärendet", "Open the case"),
        "person" => ("Person", "Person"),
        "protected-identity" => ("skyddad identitet", "protected identity"),
        "phase" => ("Fas", "Phase"),
        "admitted" => ("Inskriven", "Admitted"),
        "ready-for-discharge" => ("Utskrivningsklar", "Ready for discharge"),
        "discharged" => ("Utskriven", "Discharged"),
        "steps" => ("Händelser", "Steps"),
        "steps-title" => ("Händelser i tidsordning", "Steps in order"),
        "hidden-steps" => (
            "Händelser som inte lämnats ut till din organisation",
            "Steps not disclosed to your organisation",
        ),
        "clocks" => ("Tidsfrister", "Deadlines"),
        "no-clocks" => ("Inga tidsfrister.", "No deadlines."),
        "for-whom" => ("För", "For"),
        "due" => ("Senast", "Due"),
        "outcome" => ("Utfall", "Outcome"),
        "clock-running" => ("pågår", "running"),
        "clock-overdue" => (
            "överskriden, registreras strax",
            "overdue, about to be recorded",
        ),
        "clock-met" => ("hölls", "met"),
        "clock-stopped" => ("avbruten", "stopped"),
        "clock-missed" => ("överskreds", "missed"),
        "clock-reminded" => ("påminnelse skickad", "reminder sent"),
        "from" => ("Från", "From"),
        "recorded" => ("registrerad", "recorded"),
        "no-recipients" => ("Ingen mottagare.", "No recipient."),
        "decision" => ("Beslut", "Decision"),
        "released" => ("utlämnad", "released"),
        "withheld" => ("inte utlämnad", "withheld"),
        "acknowledged" => ("kvitterad", "acknowledged"),
        "sign-in" => ("Logga in", "Sign in"),
        "or-sign-in-with" => (
            "Eller logga in med din organisations inloggning",
            "Or sign in with your organisation's sign-in",
        ),
        "sign-in-with" => ("Logga in med", "Sign in with"),
        "oidc-refused" => (
            "Inloggningen genom identitetsleverantören misslyckades",
            "The sign-in through the identity provider failed",
        ),
        "oidc-expired" => (
            "Inloggningen hörde inte till den här webbläsaren eller tog för lång tid. Börja om.",
            "The sign-in did not belong to this browser or took too long. Start again.",
        ),
        "signed-in-continue" => (
            "Du är inloggad. Fortsätt till konsolen.",
            "You are signed in. Go on to the console.",
        ),
        "sign-out" => ("Logga ut", "Sign out"),
        "username" => ("Användarnamn", "Username"),
        "password" => ("Lösenord", "Password"),
        "wrong" => (
            "Fel användarnamn eller lösenord.",
            "Wrong username or password.",
        ),
        "unavailable" => (
            "Inloggningen kunde inte loggas; försök igen om en stund.",
            "The sign-in could not be audited; try again in a moment.",
        ),
        "cross-site" => (
            "Formuläret skickades från en annan webbplats och avvisades.",
            "The form was sent from another site and was refused.",
        ),
        "csrf" => (
            "Formuläret hörde inte till din inloggning och avvisades. Ladda om sidan och försök igen.",
            "The form did not belong to your session and was refused. Reload the page and try again.",
        ),
        "skip" => ("Hoppa till innehållet", "Skip to the content"),
        "health" => ("Drift", "Health"),
        "database" => ("Databasen", "Database"),
        "ready" => ("svarar", "answers"),
        "not-ready" => ("svarar inte", "does not answer"),
        "timers" => ("Tidsfrister och påminnelser", "Deadlines and reminders"),
        "timers-pending" => ("väntar", "pending"),
        "timers-overdue" => ("försenade", "overdue"),
        "queues" => (
            "Leveranser per prenumeration",
            "Deliveries per subscription",
        ),
        "subscription" => ("Prenumeration", "Subscription"),
        "pending" => ("Väntar", "Pending"),
        "oldest" => ("Äldsta väntande", "Oldest pending"),
        "dead" => ("Ej levererade (döda)", "Dead letters"),
        "delivered" => ("Levererade", "Delivered"),
        "breaker" => ("Brytare", "Circuit"),
        "closed" => ("stängd", "closed"),
        "open" => (
            "öppen: mottagaren svarar inte",
            "open: the receiver does not answer",
        ),
        "half-open" => ("provar", "probing"),
        "no-queues" => ("Inga leveranser ännu.", "No deliveries yet."),
        "deviations" => (
            "Avvikelser som väntar på svar",
            "Deviations waiting for an answer",
        ),
        "principal" => ("Huvudman", "Principal"),
        "unanswered" => ("Obesvarade", "Unanswered"),
        "unacknowledged" => ("Ej kvitterade", "Not acknowledged"),
        "escalated" => ("Påminda eller eskalerade", "Reminded or escalated"),
        "region" => ("Regionen", "The region"),
        "municipality" => ("Kommunen", "The municipality"),
        "store-unreadable" => (
            "Databasen kunde inte läsas just nu.",
            "The database could not be read just now.",
        ),
        "signed-in-as" => ("Inloggad som", "Signed in as"),
        "other-language" => ("In English", "På svenska"),
        "refused" => ("Avvisat", "Refused"),
        "operator" => ("driftansvarig", "operator"),
        "coordinator" => ("samordnare", "coordinator"),
        "auditor" => ("granskare", "auditor"),
        "follow-up" => ("uppföljning", "follow-up"),
        _ => ("?", "?"),
    };
    if lang == "en" { en } else { sv }
}

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
        }
        if matches!(
            session.role,
            crate::auth::Role::Operator | crate::auth::Role::Coordinator
        ) {
            entries.push(("/console/deviations", text(lang, "deviations-title")));
            entries.push(("/console/cases", text(lang, "cases")));
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
            "<table aria-labelledby=\"queues\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            self.t("subscription"),
            self.t("pending"),
            self.t("oldest"),
            self.t("dead"),
            self.t("delivered"),
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
                "<tr><th scope=\"row\">{}</th><td class=\"number\">{}</td><td>{}</td><td class=\"number{}\">{}</td><td class=\"number\">{}</td><td{}>{}</td></tr>",
                escape(&queue.destination),
                queue.pending,
                queue
                    .oldest_pending
                    .map(|at| age(at, now))
                    .unwrap_or_else(|| "–".to_owned()),
                if queue.dead > 0 { " bad" } else { "" },
                queue.dead,
                queue.delivered,
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
