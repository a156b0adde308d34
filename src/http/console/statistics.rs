//! The console's statistics: the follow-up figures as charts, month by month — admission
//! notices and SIP invitations on time, SIP attendance by principal and function, the days
//! from ready for discharge to discharge (distribution), deviations and answer times,
//! readmissions — each chart drawn from the table beside it (uPlot, vendored), and each table
//! as CSV.
//!
//! The figures are `/stats`'s (`pipeline::stats::release`), with its scoping: a person sees
//! their organisation's units, a follow-up account with `county_statistics` every unit with
//! small figures suppressed (shown `X`). Nothing here is personal data.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;

use super::page::{self, Page, escape, text};
use super::session::Session;
use super::{html, signed_in, unavailable};
use crate::auth::Role;
use crate::domain::party::Principal;
use crate::http::router::AppState;
use crate::pipeline::stats::{Scope, releases as releases_of};
use crate::process::stats::{Figures, Release, Unit};

/// How many months a page shows unless asked, and at most.
const MONTHS: u32 = 6;
const MOST_MONTHS: u32 = 24;

/// A figure as released: a value, suppressed, or nothing to show (a mean of nothing).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Value(f64),
    Suppressed,
    Empty,
}

impl Cell {
    fn minus(self, other: Cell) -> Cell {
        match (self, other) {
            (Cell::Value(a), Cell::Value(b)) => Cell::Value(a - b),
            (Cell::Suppressed, _) | (_, Cell::Suppressed) => Cell::Suppressed,
            _ => Cell::Empty,
        }
    }

    fn plus(self, other: Cell) -> Cell {
        match (self, other) {
            (Cell::Value(a), Cell::Value(b)) => Cell::Value(a + b),
            (Cell::Suppressed, _) | (_, Cell::Suppressed) => Cell::Suppressed,
            (Cell::Value(a), Cell::Empty) | (Cell::Empty, Cell::Value(a)) => Cell::Value(a),
            _ => Cell::Empty,
        }
    }

    /// As the table shows it: the CSV's figure with `lang`'s decimal sign, nothing as a dash.
    fn show(self, lang: &str) -> String {
        match self {
            Cell::Empty => "–".to_owned(),
            _ if lang == "sv" => self.csv().replace('.', ","),
            _ => self.csv(),
        }
    }

    /// As the CSV has it: a whole number bare, a mean to two decimals, suppressed `X`.
    fn csv(self) -> String {
        match self {
            Cell::Value(v) if v.fract() == 0.0 => format!("{v:.0}"),
            Cell::Value(v) => format!("{v:.2}"),
            Cell::Suppressed => "X".to_owned(),
            Cell::Empty => String::new(),
        }
    }
}

/// The figure `column` of `unit` (the total when `None`) in `release`.
fn cell(release: &Release, unit: Option<&Unit>, column: &str) -> Cell {
    let (row, figures): (Option<usize>, Option<&Figures>) = match unit {
        None => (None, Some(&release.stats.total)),
        Some(unit) => match release.stats.rows.iter().position(|r| &r.unit == unit) {
            Some(i) => (Some(i), Some(&release.stats.rows[i].figures)),
            None => (None, None),
        },
    };
    let Some(figures) = figures else {
        // The unit had nothing in this month: counts are nought, means are nothing.
        return if column.starts_with("days_") {
            Cell::Empty
        } else {
            Cell::Value(0.0)
        };
    };
    if release
        .suppressed
        .iter()
        .any(|(r, c)| *r == row && *c == column)
    {
        return Cell::Suppressed;
    }
    serde_json::to_value(figures)
        .ok()
        .and_then(|v| v.get(column).and_then(|v| v.as_f64()))
        .map(Cell::Value)
        .unwrap_or(Cell::Empty)
}

/// The sum of `column` over the units of `principal` (among `unit` when one is chosen).
fn principal_sum(
    release: &Release,
    unit: Option<&Unit>,
    principal: Principal,
    column: &str,
) -> Cell {
    match unit {
        Some(unit) if unit.principal != principal => Cell::Empty,
        Some(unit) => cell(release, Some(unit), column),
        None => release
            .stats
            .rows
            .iter()
            .filter(|r| r.unit.principal == principal)
            .map(|r| cell(release, Some(&r.unit), column))
            .fold(Cell::Value(0.0), Cell::plus),
    }
}

/// One chart: its key (its CSV's name), title, whether its x axis is months (else the
/// distribution's buckets, over the whole period), and its series.
struct Chart {
    key: &'static str,
    title: (&'static str, &'static str),
    series: &'static [Series],
    by_month: bool,
}

/// One series of a chart: a label, and how its figure is had from a release.
struct Series {
    label: (&'static str, &'static str),
    figure: Figure,
}

enum Figure {
    Column(&'static str),
    /// The first less the second.
    Less(&'static str, &'static str),
    /// A column summed over one principal's units.
    Principal(Principal, &'static str),
    /// The days-to-discharge distribution's buckets (`BUCKETS`), over the whole period.
    Distribution,
}

impl Figure {
    fn of(&self, release: &Release, unit: Option<&Unit>) -> Cell {
        match self {
            Figure::Column(c) => cell(release, unit, c),
            Figure::Less(a, b) => cell(release, unit, a).minus(cell(release, unit, b)),
            Figure::Principal(p, c) => principal_sum(release, unit, *p, c),
            Figure::Distribution => Cell::Empty,
        }
    }
}

const fn series(sv: &'static str, en: &'static str, figure: Figure) -> Series {
    Series {
        label: (sv, en),
        figure,
    }
}

const CHARTS: &[Chart] = &[
    Chart {
        key: "admission-notices",
        title: (
            "Inskrivningsmeddelanden och hur många som kom i tid",
            "Admission notices, and how many came on time",
        ),
        by_month: true,
        series: &[
            series("Skickade", "Sent", Figure::Column("admission_notices")),
            series(
                "I tid",
                "On time",
                Figure::Column("admission_notices_on_time"),
            ),
        ],
    },
    Chart {
        key: "sip-invitations",
        title: (
            "Kallelser till SIP och hur många som gick ut i tid",
            "SIP invitations, and how many went out on time",
        ),
        by_month: true,
        series: &[
            series(
                "Kallelser",
                "Invitations",
                Figure::Column("sip_invitations"),
            ),
            series(
                "I tid",
                "On time",
                Figure::Less("sip_invitations", "sip_invitations_late"),
            ),
        ],
    },
    Chart {
        key: "attendance",
        title: (
            "Närvaro vid SIP-möten per huvudman och funktion",
            "Attendance at SIP meetings by principal and function",
        ),
        by_month: true,
        series: &[
            series(
                "Regionen närvarade",
                "The region attended",
                Figure::Principal(Principal::Region, "sip_meetings_attended"),
            ),
            series(
                "Regionen uteblev",
                "The region was absent",
                Figure::Principal(Principal::Region, "sip_meetings_absent"),
            ),
            series(
                "Regionen utan inbjuden funktion",
                "The region without an invited function",
                Figure::Principal(Principal::Region, "sip_functions_absent"),
            ),
            series(
                "Kommunen närvarade",
                "The municipality attended",
                Figure::Principal(Principal::Municipality, "sip_meetings_attended"),
            ),
            series(
                "Kommunen uteblev",
                "The municipality was absent",
                Figure::Principal(Principal::Municipality, "sip_meetings_absent"),
            ),
            series(
                "Kommunen utan inbjuden funktion",
                "The municipality without an invited function",
                Figure::Principal(Principal::Municipality, "sip_functions_absent"),
            ),
        ],
    },
    Chart {
        key: "ready-to-discharge",
        title: (
            "Dagar från utskrivningsklar till utskriven (hela perioden)",
            "Days from ready for discharge to discharge (the whole period)",
        ),
        by_month: false,
        series: &[series("Utskrivningar", "Discharges", Figure::Distribution)],
    },
    Chart {
        key: "deviations",
        title: (
            "Avvikelser, svar och dagar till svar",
            "Deviations, answers and days to answer",
        ),
        by_month: true,
        series: &[
            series("Upprättade", "Raised", Figure::Column("deviations_raised")),
            series(
                "Besvarade",
                "Answered",
                Figure::Column("deviations_answered"),
            ),
            series(
                "Dagar till svar (medel)",
                "Days to answer (mean)",
                Figure::Column("days_to_deviation_answer"),
            ),
        ],
    },
    Chart {
        key: "readmissions",
        title: (
            "Återinskrivningar inom 30 dagar",
            "Readmissions within 30 days",
        ),
        by_month: true,
        series: &[
            series(
                "Återinskrivningar",
                "Readmissions",
                Figure::Column("readmissions_30_days"),
            ),
            series(
                "Utan plan från förra vistelsen",
                "Without a plan from the stay before",
                Figure::Column("readmissions_without_plan"),
            ),
        ],
    },
];

/// The distribution's buckets: the column and its label.
const BUCKETS: &[(&str, &str)] = &[
    ("ready_to_discharge_under_1_day", "< 1"),
    ("ready_to_discharge_1_to_2_days", "1–2"),
    ("ready_to_discharge_2_to_3_days", "2–3"),
    ("ready_to_discharge_3_to_5_days", "3–5"),
    ("ready_to_discharge_5_to_10_days", "5–10"),
    ("ready_to_discharge_10_days_or_more", "≥ 10"),
];

/// The months shown and the unit chosen, from the query.
struct Choice {
    months: Vec<(Date, Date)>,
    unit: Option<Unit>,
    from: String,
    count: u32,
    unit_key: String,
}

fn choice(query: &HashMap<String, String>, today: Date) -> Result<Choice, &'static str> {
    let count = match query.get("months").filter(|m| !m.is_empty()) {
        None => MONTHS,
        Some(m) => m
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=MOST_MONTHS).contains(m))
            .ok_or("bad-months")?,
    };
    let first = match query.get("from").filter(|f| !f.is_empty()) {
        Some(text) => format!("{text}-01")
            .parse::<Date>()
            .map_err(|_| "bad-from")?,
        None => today
            .first_of_month()
            .checked_sub(jiff::Span::new().months(count as i64 - 1))
            .map_err(|_| "bad-from")?,
    };
    let mut months = Vec::new();
    let mut at = first;
    for _ in 0..count {
        let next = at
            .checked_add(jiff::Span::new().months(1))
            .map_err(|_| "bad-from")?;
        months.push((at, next));
        at = next;
    }
    let unit_key = query.get("unit").cloned().unwrap_or_default();
    let unit = match unit_key.split_once(':') {
        Some(("region", unit)) => Some(Unit {
            principal: Principal::Region,
            unit: unit.to_owned(),
        }),
        Some(("municipality", unit)) => Some(Unit {
            principal: Principal::Municipality,
            unit: unit.to_owned(),
        }),
        _ => None,
    };
    Ok(Choice {
        from: first.strftime("%Y-%m").to_string(),
        months,
        unit,
        count,
        unit_key: if unit_key.contains(':') {
            unit_key
        } else {
            String::new()
        },
    })
}

fn unit_key(unit: &Unit) -> String {
    match unit.principal {
        Principal::Region => format!("region:{}", unit.unit),
        Principal::Municipality => format!("municipality:{}", unit.unit),
    }
}

fn unit_name(state: &AppState, unit: &Unit) -> String {
    let directory = &state.pipeline.directory;
    match unit.principal {
        Principal::Region => crate::domain::identifiers::HsaId::parse(&unit.unit)
            .ok()
            .and_then(|id| {
                directory
                    .region_unit(&id)
                    .map(|u| u.name.clone())
                    .or_else(|| directory.region(&id).map(|r| r.name.clone()))
            }),
        Principal::Municipality => crate::domain::identifiers::Kommunkod::parse(&unit.unit)
            .ok()
            .and_then(|k| directory.municipality(k).map(|m| m.name.clone())),
    }
    .unwrap_or_else(|| unit.unit.clone())
}

/// The releases of each month and of the whole period, and when they were computed.
type Computed = (Vec<Release>, Release, jiff::Timestamp);

/// The releases of each month, and of the whole period, counted now from the cases' facts
/// (`pipeline::projection`).
async fn releases(
    state: &AppState,
    session: &Session,
    choice: &Choice,
) -> Result<Computed, crate::pipeline::stats::StatsError> {
    let scope = if session.county_statistics {
        Scope::County {
            suppress_below: state.statistics.suppress_below,
        }
    } else {
        Scope::Organisation(&session.organisation)
    };
    let pipeline = &state.pipeline;
    let (monthly, whole) = releases_of(
        &pipeline.statistics,
        &pipeline.store,
        &pipeline.directory,
        scope,
        &choice.months,
    )
    .await?;
    Ok((monthly, whole, pipeline.clock.now()))
}

/// A chart's table: its header row and its rows (a label, then a cell per series).
type Table = (Vec<String>, Vec<(String, Vec<Cell>)>);

fn table(
    chart: &Chart,
    lang: &str,
    choice: &Choice,
    monthly: &[Release],
    whole: &Release,
) -> Table {
    let pick = |(sv, en): (&'static str, &'static str)| if lang == "en" { en } else { sv };
    let unit = choice.unit.as_ref();
    if chart.by_month {
        let mut head = vec![text(lang, "month").to_owned()];
        head.extend(chart.series.iter().map(|s| pick(s.label).to_owned()));
        let rows = choice
            .months
            .iter()
            .zip(monthly)
            .map(|((from, _), release)| {
                (
                    from.strftime("%Y-%m").to_string(),
                    chart
                        .series
                        .iter()
                        .map(|s| s.figure.of(release, unit))
                        .collect(),
                )
            })
            .collect();
        (head, rows)
    } else {
        let head = vec![
            text(lang, "days").to_owned(),
            pick(chart.series[0].label).to_owned(),
        ];
        let rows = BUCKETS
            .iter()
            .map(|(column, label)| ((*label).to_owned(), vec![cell(whole, unit, column)]))
            .collect();
        (head, rows)
    }
}

fn reader(state: &AppState, headers: &HeaderMap) -> Result<Session, Box<Response>> {
    signed_in(state, headers, &Role::ALL, "refused")
}

/// `GET /console/statistics?from=YYYY-MM&months=N&unit=`.
pub async fn charts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match reader(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let title = text(lang, "statistics");
    let mut page = Page::new(lang, title, &session, "/console/statistics");
    let choice = match choice(&query, state.pipeline.clock.today()) {
        Ok(choice) => choice,
        Err(problem) => {
            page.push(&format!(
                "<p class=\"message\" role=\"alert\">{}</p>",
                text(lang, problem)
            ));
            return html(StatusCode::BAD_REQUEST, page.finish());
        }
    };
    let computed = match releases(&state, &session, &choice).await {
        Ok(made) => made,
        Err(error) => {
            tracing::error!(%error, "the console could not compute the statistics");
            return unavailable(lang);
        }
    };
    let (monthly, whole, computed_at) = &computed;
    let mut out = String::new();
    let _ = write!(
        out,
        "<p>{} {} {}.</p>",
        text(
            lang,
            if session.county_statistics {
                "statistics-county"
            } else {
                "statistics-own"
            }
        ),
        text(lang, "computed-at"),
        page::local(*computed_at),
    );
    if whole.threshold > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{} {}.</p>",
            text(lang, "suppressed-below"),
            whole.threshold
        );
    }
    // The choice of period and unit.
    let units: Vec<&Unit> = whole.stats.rows.iter().map(|r| &r.unit).collect();
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/console/statistics\" class=\"choice\"><label for=\"from\">{}</label><input type=\"text\" id=\"from\" name=\"from\" inputmode=\"numeric\" pattern=\"[0-9]{{4}}-[0-9]{{2}}\" value=\"{}\"><label for=\"months\">{}</label><input type=\"text\" id=\"months\" name=\"months\" inputmode=\"numeric\" value=\"{}\"><label for=\"unit\">{}</label><select id=\"unit\" name=\"unit\"><option value=\"\">{}</option>",
        text(lang, "first-month"),
        escape(&choice.from),
        text(lang, "months"),
        choice.count,
        text(lang, "unit"),
        text(lang, "all-units"),
    );
    for unit in units {
        let key = unit_key(unit);
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            escape(&key),
            if key == choice.unit_key {
                " selected"
            } else {
                ""
            },
            escape(&unit_name(&state, unit)),
        );
    }
    let _ = write!(
        out,
        "</select><p><button type=\"submit\">{}</button></p></form>",
        text(lang, "show")
    );
    let csv_query = format!(
        "from={}&amp;months={}&amp;unit={}&amp;lang={lang}",
        escape(&choice.from),
        choice.count,
        escape(&choice.unit_key)
    );
    for chart in CHARTS {
        let (head, rows) = table(chart, lang, &choice, monthly, whole);
        let title = if lang == "en" {
            chart.title.1
        } else {
            chart.title.0
        };
        let _ = write!(
            out,
            "<figure class=\"chart\" id=\"{key}\" data-kind=\"{}\"><figcaption><h2>{}</h2></figcaption><div class=\"plot\" aria-hidden=\"true\"></div><table><thead><tr>",
            if chart.by_month { "lines" } else { "bars" },
            escape(title),
            key = chart.key,
        );
        for (i, name) in head.iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"number\"" };
            let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", escape(name));
        }
        out.push_str("</tr></thead><tbody>");
        for (label, cells) in &rows {
            let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(label));
            for cell in cells {
                let _ = write!(out, "<td class=\"number\">{}</td>", cell.show(lang));
            }
            out.push_str("</tr>");
        }
        let _ = write!(
            out,
            "</tbody></table><p><a href=\"/console/statistics/{}.csv?{csv_query}\" download>{} ({})</a></p></figure>",
            chart.key,
            text(lang, "download-csv"),
            escape(title),
        );
    }
    page.push(&out);
    page.push("<link rel=\"stylesheet\" href=\"/console/assets/uPlot.min.css\">");
    html(
        StatusCode::OK,
        page.finish_with_scripts(&[
            "/console/assets/uPlot.iife.min.js",
            "/console/assets/charts.js",
        ]),
    )
}

/// `GET /console/statistics/{chart}.csv`: a chart's table as CSV (suppressed figures `X`).
pub async fn csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match reader(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let Some(chart) = file
        .strip_suffix(".csv")
        .and_then(|key| CHARTS.iter().find(|c| c.key == key))
    else {
        return html(
            StatusCode::NOT_FOUND,
            page::refused(lang, text(lang, "no-such-chart")),
        );
    };
    let choice = match choice(&query, state.pipeline.clock.today()) {
        Ok(choice) => choice,
        Err(problem) => {
            return html(
                StatusCode::BAD_REQUEST,
                page::refused(lang, text(lang, problem)),
            );
        }
    };
    let computed = match releases(&state, &session, &choice).await {
        Ok(made) => made,
        Err(error) => {
            tracing::error!(%error, "the console could not compute the statistics");
            return unavailable(lang);
        }
    };
    let (monthly, whole, _) = &computed;
    let (head, rows) = table(chart, lang, &choice, monthly, whole);
    let quote = |field: &str| {
        if field.contains([',', '"', '\n']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.to_owned()
        }
    };
    let mut out = head.iter().map(|h| quote(h)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&quote(&label));
        for cell in cells {
            out.push(',');
            out.push_str(&cell.csv());
        }
        out.push('\n');
    }
    let disposition = format!(
        "attachment; filename=\"brygga-{}-{}-{}.csv\"",
        chart.key, choice.from, choice.count
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        out,
    )
        .into_response()
}
