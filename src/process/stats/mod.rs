//! Follow-up statistics from case histories: per principal and unit, for a period of local
//! dates — the figures county follow-up groups ask for. Pure: the caller loads the cases.
//!
//! Attribution: the ward answers for its admission notices, ready-for-discharge decisions,
//! discharges, and the region's SIP-invitation and information-at-discharge deadlines; the
//! municipalities a case involves for payment-responsibility days and readmissions; the
//! inviter for invitations, the responder for answers, the sender for plans.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::calendar::{local_date, start_of};
use crate::domain::case::CoordinationCase;
use crate::domain::event::{Deadline, DeviationCause};
use crate::domain::party::{Party, Principal};

/// One principal's unit (a ward by HSA-id, a municipality by code).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Unit {
    pub principal: Principal,
    pub unit: String,
}

/// The figures for one unit (or the total).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub admission_notices: u64,
    pub admission_notices_on_time: u64,
    pub ready_for_discharge: u64,
    pub discharges: u64,
    /// Mean days from the ready-for-discharge decision to discharge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_ready_to_discharge: Option<f64>,
    /// Discharges by the days they came after the ready-for-discharge decision (the
    /// distribution of the mean above): under 1, 1–2, 2–3, 3–5, 5–10, 10 or more.
    pub ready_to_discharge_under_1_day: u64,
    pub ready_to_discharge_1_to_2_days: u64,
    pub ready_to_discharge_2_to_3_days: u64,
    pub ready_to_discharge_3_to_5_days: u64,
    pub ready_to_discharge_5_to_10_days: u64,
    pub ready_to_discharge_10_days_or_more: u64,
    pub sip_invitations: u64,
    pub sip_invitations_late: u64,
    pub sip_answers_accepted: u64,
    pub sip_answers_declined: u64,
    pub sip_answers_other_time: u64,
    /// Invitations where this party had not confirmed a participant in time.
    pub sip_attendance_unconfirmed: u64,
    pub plans: u64,
    pub information_at_discharge_late: u64,
    /// Discharges while an LVM decision held the person in hospital.
    pub discharged_during_lvm_hold: u64,
    /// LVM holds this municipality ended by arranging the transport (in the period), and the
    /// mean days from its decision to the transport arranged: how long the hospital held the
    /// person for it.
    pub lvm_holds_ended: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_held_for_lvm: Option<f64>,
    /// Days of payment responsibility: from its start to the discharge (or the period's end).
    pub payment_responsibility_days: f64,
    pub deadlines_missed: u64,
    pub readmissions_30_days: u64,
    /// Readmissions whose earlier stay ended without a SIP or discharge plan.
    pub readmissions_without_plan: u64,
    /// SIP meetings held, counted for the inviter.
    pub sip_meetings_held: u64,
    /// SIP meetings this party attended (with at least one person).
    pub sip_meetings_attended: u64,
    /// SIP meetings this party was invited to, did not decline, and did not attend.
    pub sip_meetings_absent: u64,
    /// SIP meetings this party came to without a function it was invited with (a physician
    /// invited, a curator sent).
    pub sip_functions_absent: u64,
    /// SIP meetings held where the person took part in their own planning (for the inviter).
    pub sip_meetings_person_participated: u64,
    /// Deviations addressed to this party.
    pub deviations_raised: u64,
    /// Deviations addressed to this party and answered (in the period).
    pub deviations_answered: u64,
    /// Mean days from a deviation to its answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_to_deviation_answer: Option<f64>,
    /// Reminders sent for unanswered deviations.
    pub deviation_reminders: u64,
    /// Of them, those that took the deviation up a level of the agreement's escalation ladder.
    pub deviations_escalated: u64,
    /// Deviations to this party as sender: a step it sent that could not be disclosed to a
    /// party that must receive it.
    pub steps_not_delivered: u64,
    /// Placements this municipality made (`placement`), of them in an emergency, and in a
    /// treatment home (HVB).
    pub placements: u64,
    pub placements_emergency: u64,
    pub placements_hvb: u64,
    /// Deviations to this party for planning that never happened (a discharge without any
    /// planning, a plan without a follow-up date).
    pub planning_missing: u64,
    /// The cases this unit's figures come from (for suppressing small figures).
    #[serde(skip)]
    pub cases: u64,
    #[serde(skip)]
    ready_to_discharge_sum: f64,
    #[serde(skip)]
    deviation_answer_sum: f64,
    #[serde(skip)]
    lvm_hold_sum: f64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.admission_notices += other.admission_notices;
        self.admission_notices_on_time += other.admission_notices_on_time;
        self.ready_for_discharge += other.ready_for_discharge;
        self.discharges += other.discharges;
        self.ready_to_discharge_sum += other.ready_to_discharge_sum;
        self.ready_to_discharge_under_1_day += other.ready_to_discharge_under_1_day;
        self.ready_to_discharge_1_to_2_days += other.ready_to_discharge_1_to_2_days;
        self.ready_to_discharge_2_to_3_days += other.ready_to_discharge_2_to_3_days;
        self.ready_to_discharge_3_to_5_days += other.ready_to_discharge_3_to_5_days;
        self.ready_to_discharge_5_to_10_days += other.ready_to_discharge_5_to_10_days;
        self.ready_to_discharge_10_days_or_more += other.ready_to_discharge_10_days_or_more;
        self.sip_invitations += other.sip_invitations;
        self.sip_invitations_late += other.sip_invitations_late;
        self.sip_answers_accepted += other.sip_answers_accepted;
        self.sip_answers_declined += other.sip_answers_declined;
        self.sip_answers_other_time += other.sip_answers_other_time;
        self.sip_attendance_unconfirmed += other.sip_attendance_unconfirmed;
        self.plans += other.plans;
        self.information_at_discharge_late += other.information_at_discharge_late;
        self.discharged_during_lvm_hold += other.discharged_during_lvm_hold;
        self.payment_responsibility_days += other.payment_responsibility_days;
        self.deadlines_missed += other.deadlines_missed;
        self.readmissions_30_days += other.readmissions_30_days;
        self.readmissions_without_plan += other.readmissions_without_plan;
        self.sip_meetings_held += other.sip_meetings_held;
        self.sip_meetings_attended += other.sip_meetings_attended;
        self.sip_meetings_absent += other.sip_meetings_absent;
        self.sip_functions_absent += other.sip_functions_absent;
        self.sip_meetings_person_participated += other.sip_meetings_person_participated;
        self.deviations_raised += other.deviations_raised;
        self.deviations_answered += other.deviations_answered;
        self.deviation_answer_sum += other.deviation_answer_sum;
        self.deviation_reminders += other.deviation_reminders;
        self.deviations_escalated += other.deviations_escalated;
        self.steps_not_delivered += other.steps_not_delivered;
        self.planning_missing += other.planning_missing;
        self.placements += other.placements;
        self.placements_emergency += other.placements_emergency;
        self.placements_hvb += other.placements_hvb;
        self.lvm_holds_ended += other.lvm_holds_ended;
        self.lvm_hold_sum += other.lvm_hold_sum;
        self.cases += other.cases;
    }

    /// Counts a discharge `waited` days after its ready-for-discharge decision.
    fn waited(&mut self, waited: f64) {
        let bucket = match waited {
            w if w < 1.0 => &mut self.ready_to_discharge_under_1_day,
            w if w < 2.0 => &mut self.ready_to_discharge_1_to_2_days,
            w if w < 3.0 => &mut self.ready_to_discharge_2_to_3_days,
            w if w < 5.0 => &mut self.ready_to_discharge_3_to_5_days,
            w if w < 10.0 => &mut self.ready_to_discharge_5_to_10_days,
            _ => &mut self.ready_to_discharge_10_days_or_more,
        };
        *bucket += 1;
        self.ready_to_discharge_sum += waited;
    }

    fn finish(&mut self) {
        self.days_ready_to_discharge = (self.discharges > 0 && self.ready_to_discharge_sum > 0.0)
            .then(|| round2(self.ready_to_discharge_sum / self.discharges as f64));
        self.payment_responsibility_days = round2(self.payment_responsibility_days);
        self.days_to_deviation_answer = (self.deviations_answered > 0)
            .then(|| round2(self.deviation_answer_sum / self.deviations_answered as f64));
        self.days_held_for_lvm = (self.lvm_holds_ended > 0)
            .then(|| round2(self.lvm_hold_sum / self.lvm_holds_ended as f64));
    }
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One row of the statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub unit: Unit,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The statistics of a period: a row per unit and the total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// First day of the period (local).
    pub from: Date,
    /// The day after the period (local).
    pub to: Date,
    pub cases: u64,
    pub total: Figures,
    pub rows: Vec<Row>,
}

/// Days (with fractions) from `from` to `to`.
pub(super) fn days(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64() / 86_400.0
}

fn party_unit(party: &Party) -> Unit {
    match party {
        Party::RegionUnit { hsa_id } => Unit {
            principal: Principal::Region,
            unit: hsa_id.to_string(),
        },
        Party::Municipality { kommunkod, .. } => Unit {
            principal: Principal::Municipality,
            unit: kommunkod.to_string(),
        },
    }
}

pub mod facts;
pub mod forum;
mod tally;
use facts::{CaseFacts, PersonKeys, Units};
use tally::{Tally, discharges};

/// Computes the statistics of `[from, to)` from `cases` (all cases with events in the period,
/// and the persons' earlier cases for readmissions; extra cases do no harm).
pub fn compute(cases: &[CoordinationCase], from: Date, to: Date) -> Stats {
    let (mut units, keys) = (Units::default(), PersonKeys::default());
    let facts: Vec<CaseFacts> = cases
        .iter()
        .map(|case| CaseFacts::of(case, &mut units, &keys))
        .collect();
    compute_facts(&units, &facts.iter().collect::<Vec<_>>(), from, to)
}

/// As [`compute`], from the cases' facts (`facts::CaseFacts`), their units numbered in `units`.
pub fn compute_facts(units: &Units, cases: &[&CaseFacts], from: Date, to: Date) -> Stats {
    let (start, end) = (start_of(from), start_of(to));
    let within = |at: Timestamp| at >= start && at < end;
    let discharges = discharges(cases);
    let mut all_rows: HashMap<facts::UnitId, Figures> = HashMap::new();
    let mut counted_cases = 0;
    for case in cases {
        if !case.happened_between(start, end) {
            continue;
        }
        counted_cases += 1;
        let mut tally = Tally::new(case, start, end);
        for (at, fact) in case.facts.iter() {
            tally.read(*at, fact, within(*at), &discharges);
        }
        for (unit, figures) in tally.finish() {
            if figures != Figures::default() {
                let row = all_rows.entry(unit).or_default();
                row.add(&figures);
                row.cases += 1;
            }
        }
    }

    let mut all_rows: Vec<(&Unit, Figures)> = all_rows
        .into_iter()
        .map(|(unit, figures)| (units.unit(unit), figures))
        .collect();
    all_rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut total = Figures::default();
    let rows: Vec<Row> = all_rows
        .into_iter()
        .map(|(unit, mut figures)| {
            total.add(&figures);
            figures.finish();
            Row {
                unit: unit.clone(),
                figures,
            }
        })
        .collect();
    total.finish();
    Stats {
        from,
        to,
        cases: counted_cases,
        total,
        rows,
    }
}

impl Stats {
    /// The statistics as CSV: a header and a row per unit, then the total. The columns are
    /// the figures' JSON names, in [`CSV_COLUMNS`] order; a mean with nothing to average is
    /// empty.
    pub fn to_csv(&self) -> String {
        let mut out = format!("from,to,principal,unit,{}\n", CSV_COLUMNS.join(","));
        let mut line = |principal: &str, unit: &str, f: &Figures| {
            let json = serde_json::to_value(f).unwrap_or_default();
            out.push_str(&format!("{},{},{principal},{unit}", self.from, self.to));
            for column in CSV_COLUMNS {
                out.push(',');
                match json.get(column) {
                    Some(serde_json::Value::Null) | None => {}
                    Some(value) => out.push_str(&value.to_string()),
                }
            }
            out.push('\n');
        };
        for row in &self.rows {
            let principal = match row.unit.principal {
                Principal::Region => "region",
                Principal::Municipality => "municipality",
            };
            line(principal, &row.unit.unit, &row.figures);
        }
        line("all", "all", &self.total);
        out
    }
}

/// The figures' columns in the CSV form.
pub const CSV_COLUMNS: &[&str] = &[
    "admission_notices",
    "admission_notices_on_time",
    "ready_for_discharge",
    "discharges",
    "days_ready_to_discharge",
    "ready_to_discharge_under_1_day",
    "ready_to_discharge_1_to_2_days",
    "ready_to_discharge_2_to_3_days",
    "ready_to_discharge_3_to_5_days",
    "ready_to_discharge_5_to_10_days",
    "ready_to_discharge_10_days_or_more",
    "sip_invitations",
    "sip_invitations_late",
    "sip_answers_accepted",
    "sip_answers_declined",
    "sip_answers_other_time",
    "sip_attendance_unconfirmed",
    "sip_meetings_held",
    "sip_meetings_attended",
    "sip_meetings_absent",
    "sip_functions_absent",
    "sip_meetings_person_participated",
    "plans",
    "information_at_discharge_late",
    "discharged_during_lvm_hold",
    "lvm_holds_ended",
    "days_held_for_lvm",
    "payment_responsibility_days",
    "deadlines_missed",
    "deviations_raised",
    "deviations_answered",
    "days_to_deviation_answer",
    "deviation_reminders",
    "deviations_escalated",
    "steps_not_delivered",
    "planning_missing",
    "placements",
    "placements_emergency",
    "placements_hvb",
    "readmissions_30_days",
    "readmissions_without_plan",
];

/// The first day of the month `today` is in, and the first day of the next month: the default
/// period.
pub fn this_month(today: Date) -> (Date, Date) {
    let first = today.first_of_month();
    let next = first
        .checked_add(jiff::Span::new().months(1))
        .unwrap_or(first);
    (first, next)
}

/// The local date an instant falls on.
pub fn date_of(at: Timestamp) -> Date {
    local_date(at)
}

/// Whether `unit` (a row of the statistics) is one of `organisation`'s: a unit of the region,
/// or the municipality itself.
pub fn belongs_to(
    unit: &Unit,
    organisation: &crate::domain::party::Organisation,
    directory: &crate::config::Directory,
) -> bool {
    use crate::domain::party::Organisation;
    match (organisation, unit.principal) {
        (Organisation::Region { hsa_id }, Principal::Region) => {
            crate::domain::identifiers::HsaId::parse(&unit.unit)
                .ok()
                .is_some_and(|unit| {
                    &unit == hsa_id
                        || directory
                            .region_of(&unit)
                            .is_some_and(|r| &r.hsa_id == hsa_id)
                })
        }
        (Organisation::Municipality { kommunkod }, Principal::Municipality) => {
            unit.unit == kommunkod.to_string()
        }
        _ => false,
    }
}

/// The statistics as released to a reader: an organisation sees its own units, in full; the
/// county's follow-up sees every unit, with small figures suppressed (`Release::county`).
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub stats: Stats,
    /// The suppressed cells: (row index, column); `None` as the row is the total.
    pub suppressed: std::collections::BTreeSet<(Option<usize>, &'static str)>,
    /// Figures about fewer than this many are suppressed (0: none is).
    pub threshold: u64,
    /// Whether the case count is suppressed.
    pub cases_suppressed: bool,
}

/// The columns that are means, and the count each is a mean over.
const MEANS: &[(&str, &str)] = &[
    ("days_ready_to_discharge", "discharges"),
    ("days_to_deviation_answer", "deviations_answered"),
    ("days_held_for_lvm", "lvm_holds_ended"),
];
/// Days summed over people: suppressed when the row's cases are few.
const SUMMED_DAYS: &str = "payment_responsibility_days";

fn figure(figures: &Figures, column: &str) -> Option<f64> {
    serde_json::to_value(figures).ok()?.get(column)?.as_f64()
}

impl Release {
    /// An organisation's own statistics: the rows of its units (`own`), and totals over them.
    pub fn organisation(mut stats: Stats, own: impl Fn(&Unit) -> bool) -> Release {
        stats.rows.retain(|row| own(&row.unit));
        let mut total = Figures::default();
        for row in &stats.rows {
            total.add(&row.figures);
        }
        total.finish();
        stats.total = total;
        Release {
            stats,
            suppressed: Default::default(),
            threshold: 0,
            cases_suppressed: false,
        }
    }

    /// Every unit's statistics for the county's follow-up. As in official statistics, a count
    /// of 1 to `threshold - 1` is suppressed, a mean over fewer than `threshold` and the days
    /// of payment responsibility of a unit with fewer than `threshold` cases too; where a
    /// column has one suppressed cell, the next smallest is suppressed as well, so that it
    /// cannot be computed back from the total (and the total, when nothing else can be).
    pub fn county(stats: Stats, threshold: u64) -> Release {
        let mut suppressed = std::collections::BTreeSet::new();
        let small = |v: f64| v > 0.0 && v < threshold as f64;
        if threshold > 0 {
            let rows: Vec<(Option<usize>, &Figures)> = stats
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| (Some(i), &r.figures))
                .chain(std::iter::once((None, &stats.total)))
                .collect();
            for (row, figures) in &rows {
                for &column in CSV_COLUMNS {
                    let Some(value) = figure(figures, column) else {
                        continue;
                    };
                    let hide = if let Some((_, base)) = MEANS.iter().find(|(m, _)| *m == column) {
                        figure(figures, base).is_some_and(|b| b < threshold as f64)
                    } else if column == SUMMED_DAYS {
                        value > 0.0 && figures.cases < threshold
                    } else {
                        small(value)
                    };
                    if hide {
                        suppressed.insert((*row, column));
                    }
                }
            }
            // Complementary suppression among the units of each column.
            for &column in CSV_COLUMNS {
                if MEANS.iter().any(|(m, _)| *m == column) {
                    continue;
                }
                let hidden = stats
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| suppressed.contains(&(Some(*i), column)))
                    .count();
                if hidden != 1 || suppressed.contains(&(None, column)) {
                    continue;
                }
                let next = stats
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !suppressed.contains(&(Some(*i), column)))
                    .filter_map(|(i, r)| figure(&r.figures, column).map(|v| (i, v)))
                    .filter(|(_, v)| *v > 0.0)
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                match next {
                    Some((i, _)) => suppressed.insert((Some(i), column)),
                    None => suppressed.insert((None, column)),
                };
            }
        }
        let cases_suppressed = threshold > 0 && small(stats.cases as f64);
        Release {
            stats,
            suppressed,
            threshold,
            cases_suppressed,
        }
    }

    /// The release as JSON: the statistics' shape, a suppressed figure `null` and named in
    /// its row's `suppressed`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::to_value(&self.stats).unwrap_or_default();
        let hide = |object: &mut serde_json::Value, row: Option<usize>| {
            let columns: Vec<&str> = CSV_COLUMNS
                .iter()
                .copied()
                .filter(|c| self.suppressed.contains(&(row, *c)))
                .collect();
            for column in &columns {
                object[*column] = serde_json::Value::Null;
            }
            if !columns.is_empty() {
                object["suppressed"] = serde_json::json!(columns);
            }
        };
        if let Some(rows) = json["rows"].as_array_mut() {
            for (i, row) in rows.iter_mut().enumerate() {
                hide(row, Some(i));
            }
        }
        hide(&mut json["total"], None);
        if self.cases_suppressed {
            json["cases"] = serde_json::Value::Null;
        }
        if self.threshold > 0 {
            json["suppression"] = serde_json::json!({
                "below": self.threshold,
                "rule": "a count of 1 to below-1, a mean over fewer than below and the payment-responsibility days of a unit with fewer than below cases are suppressed (null), and a second cell of a column where one is, so that none can be computed from the total",
            });
        }
        json
    }

    /// The release as CSV (`Stats::to_csv`), a suppressed figure written `X`.
    pub fn to_csv(&self) -> String {
        let csv = self.stats.to_csv();
        let mut lines = csv.lines();
        let mut out = String::new();
        if let Some(header) = lines.next() {
            out.push_str(header);
            out.push('\n');
        }
        let columns_at = 4;
        for (i, line) in lines.enumerate() {
            let row = if i < self.stats.rows.len() {
                Some(i)
            } else {
                None
            };
            let cells: Vec<String> = line
                .split(',')
                .enumerate()
                .map(
                    |(c, cell)| match c.checked_sub(columns_at).and_then(|k| CSV_COLUMNS.get(k)) {
                        Some(column) if self.suppressed.contains(&(row, *column)) => "X".to_owned(),
                        _ => cell.to_owned(),
                    },
                )
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}
