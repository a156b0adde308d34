//! Deadline policies: one TOML file per region–municipality agreement under
//! `mappings/policies/`, read and checked at start-up, and the deadline arithmetic they drive.
//! See `mappings/policies/README.md` for the format.

use jiff::civil::Time;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::Value;

use super::calendar::{Calendar, end_of, local_date};
use crate::domain::event::EventKind;
use crate::domain::identifiers::{HsaId, Kommunkod};
use crate::domain::party::Party;
use crate::domain::time::stockholm;

/// How days are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    Calendar,
    Working,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    move_to_working_day: bool,
    #[serde(default)]
    eves_are_holidays: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmissionNoticeFile {
    within_hours: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct DaysFile {
    days: u32,
    count: Count,
}

/// Which signs of planning that never happened raise a deviation (`[planning]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Planning {
    /// A discharge with no planning recorded before it (no planning started, no
    /// ready-for-discharge, no SIP, no information at discharge).
    #[serde(default = "yes")]
    pub discharge_without_planning: bool,
    /// A SIP or discharge plan without a follow-up date.
    #[serde(default = "yes")]
    pub plan_without_follow_up: bool,
    /// In a case of psychiatric inpatient care where substance abuse is reported (a 6 § LVM
    /// report), a SIP is assumed to be needed: the reporting unit invites to one within this
    /// many calendar days. 0 (the default): no such clock.
    #[serde(default)]
    pub sip_for_psychiatry_with_substance_abuse_days: u32,
}

impl Default for Planning {
    fn default() -> Self {
        Planning {
            discharge_without_planning: true,
            plan_without_follow_up: true,
            sip_for_psychiatry_with_substance_abuse_days: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SipMeetingFile {
    confirm_hours_before: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviationsFile {
    answer_within_days: u32,
    count: Count,
    remind_every_days: u32,
    #[serde(default = "default_max_reminders")]
    max_reminders: u32,
    #[serde(default)]
    escalation: Vec<EscalationLevel>,
}

fn default_max_reminders() -> u32 {
    6
}

impl Default for DeviationsFile {
    fn default() -> Self {
        DeviationsFile {
            answer_within_days: 14,
            count: Count::Calendar,
            remind_every_days: 7,
            max_reminders: default_max_reminders(),
            escalation: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InformationFile {
    latest: Latest,
}

/// When information at discharge is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Latest {
    /// By the end of the day of discharge.
    DayOfDischarge,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentCountFile {
    days: u32,
    count: Count,
    #[serde(default)]
    day_zero: Option<bool>,
    #[serde(default)]
    cutoff: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentFile {
    days: u32,
    count: Count,
    #[serde(default = "yes")]
    day_zero: bool,
    #[serde(default)]
    cutoff: Option<String>,
    #[serde(default)]
    psychiatric: Option<PaymentCountFile>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockFile {
    id: String,
    name: String,
    starts_on: String,
    #[serde(default, rename = "when")]
    conditions: toml::Table,
    stops_on: Vec<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    answered_by: Option<String>,
    days: u32,
    count: Count,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    id: String,
    name: String,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    care_providers: Vec<String>,
    #[serde(default)]
    municipalities: Vec<String>,
    calendar: CalendarFile,
    admission_notice: AdmissionNoticeFile,
    sip_invitation: DaysFile,
    sip_meeting: SipMeetingFile,
    information_at_discharge: InformationFile,
    payment_responsibility: PaymentFile,
    #[serde(default)]
    deviations: DeviationsFile,
    #[serde(default)]
    planning: Planning,
    #[serde(default, rename = "clock")]
    clocks: Vec<ClockFile>,
}

/// How the start of the municipality's payment responsibility is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCount {
    pub days: u32,
    pub count: Count,
    /// The day of the ready-for-discharge notice is day 0 (counting starts the next day);
    /// otherwise it is day 1.
    pub day_zero: bool,
    /// A notice after this local time counts as given the next day.
    pub cutoff: Option<Time>,
}

/// A clock of the agreement beyond the discharge law, started and stopped by events.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementClock {
    pub id: String,
    pub name: String,
    pub starts_on: &'static str,
    /// Fields of the starting event that must have these values.
    pub conditions: Vec<(String, Value)>,
    pub stops_on: Vec<&'static str>,
    /// The field that ties a stopping event to the clock it stops (e.g. `placement_id`).
    pub key: Option<String>,
    /// The field of the starting event naming the party that owes the stopping step (e.g.
    /// `to`, the unit asked for a certificate); the starting event's sender when `None`.
    pub answered_by: Option<String>,
    pub days: u32,
    pub count: Count,
}

/// How long the addressed party has to answer a deviation, and how it is reminded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviationRule {
    pub answer_within_days: u32,
    pub count: Count,
    pub remind_every_days: u32,
    pub max_reminders: u32,
    /// The escalation ladder, by the reminder each level comes with.
    pub escalation: Vec<EscalationLevel>,
}

/// One level of an agreement's escalation ladder (`[[deviations.escalation]]`): an unanswered
/// deviation goes to `contacts` with its `at_reminder`-th reminder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevel {
    /// The reminder (1, 2, …) the level comes with.
    pub at_reminder: u32,
    /// A short name: `manager`, `superior_manager`, `county_forum`, …
    pub level: String,
    /// What the level is, in the agreement's words.
    pub name: String,
    /// Whom the deviation goes to at this level. Of them, those of the addressed party's
    /// organisation are chosen (its manager); when none is, all of them (a county forum).
    #[serde(default)]
    pub contacts: Vec<Party>,
}

/// One agreement's deadlines.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub care_providers: Vec<HsaId>,
    pub municipalities: Vec<Kommunkod>,
    pub calendar: Calendar,
    pub move_to_working_day: bool,
    pub admission_notice_within: SignedDuration,
    pub sip_invitation_days: u32,
    pub sip_invitation_count: Count,
    /// Each invited party confirms who attends this long before the meeting.
    pub sip_confirm_before: SignedDuration,
    pub information_at_discharge: Latest,
    pub payment: PaymentCount,
    pub payment_psychiatric: PaymentCount,
    pub deviations: DeviationRule,
    pub planning: Planning,
    pub clocks: Vec<AgreementClock>,
    /// The function code table invitations and meetings are compared by
    /// (`Policies::with_functions`).
    pub functions: std::sync::Arc<super::functions::Functions>,
}

/// A policy file that cannot be used; names the file and the entry.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct PolicyError {
    pub file: String,
    pub problem: String,
}

fn kind_name(name: &str, entry: &str) -> Result<&'static str, String> {
    EventKind::NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| {
            format!(
                "{entry}: unknown event kind {name:?}; expected one of {}",
                EventKind::NAMES.join(", ")
            )
        })
}

fn cutoff(text: Option<&str>, entry: &str) -> Result<Option<Time>, String> {
    text.map(|t| {
        t.parse::<Time>()
            .map_err(|_| format!("{entry}: cutoff {t:?} is not a time of day (HH:MM)"))
    })
    .transpose()
}

impl Policy {
    fn from_file(file: PolicyFile) -> Result<(Policy, bool), String> {
        let care_providers = file
            .care_providers
            .iter()
            .enumerate()
            .map(|(i, s)| HsaId::parse(s).map_err(|e| format!("care_providers[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let municipalities = file
            .municipalities
            .iter()
            .enumerate()
            .map(|(i, s)| Kommunkod::parse(s).map_err(|e| format!("municipalities[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if !file.default && care_providers.is_empty() {
            return Err(
                "care_providers: an agreement names the region's care provider HSA-id(s); only the default policy has none"
                    .to_owned(),
            );
        }
        let p = &file.payment_responsibility;
        if p.days == 0 {
            return Err("payment_responsibility.days: must be at least 1".to_owned());
        }
        let payment = PaymentCount {
            days: p.days,
            count: p.count,
            day_zero: p.day_zero,
            cutoff: cutoff(p.cutoff.as_deref(), "payment_responsibility")?,
        };
        let payment_psychiatric = match &p.psychiatric {
            Some(psy) => PaymentCount {
                days: psy.days,
                count: psy.count,
                day_zero: psy.day_zero.unwrap_or(payment.day_zero),
                cutoff: match &psy.cutoff {
                    Some(_) => cutoff(psy.cutoff.as_deref(), "payment_responsibility.psychiatric")?,
                    None => payment.cutoff,
                },
            },
            None => payment.clone(),
        };
        if payment_psychiatric.days == 0 {
            return Err("payment_responsibility.psychiatric.days: must be at least 1".to_owned());
        }
        let d = &file.deviations;
        if d.answer_within_days == 0 || d.remind_every_days == 0 {
            return Err(
                "deviations: answer_within_days and remind_every_days must be at least 1"
                    .to_owned(),
            );
        }
        for (i, level) in d.escalation.iter().enumerate() {
            if level.at_reminder == 0 || level.at_reminder > d.max_reminders {
                return Err(format!(
                    "deviations.escalation[{i}] ({}): at_reminder must be 1 to max_reminders ({})",
                    level.level, d.max_reminders
                ));
            }
            if d.escalation[..i]
                .iter()
                .any(|other| other.at_reminder == level.at_reminder)
            {
                return Err(format!(
                    "deviations.escalation[{i}] ({}): another level comes with reminder {}",
                    level.level, level.at_reminder
                ));
            }
        }
        let deviations = DeviationRule {
            answer_within_days: d.answer_within_days,
            count: d.count,
            remind_every_days: d.remind_every_days,
            max_reminders: d.max_reminders,
            escalation: d.escalation.clone(),
        };
        let mut clocks = Vec::new();
        for (i, clock) in file.clocks.into_iter().enumerate() {
            let entry = format!("clock[{i}] ({})", clock.id);
            if clock.id.is_empty() || clock.id.contains([':', '/', ' ']) {
                return Err(format!(
                    "{entry}: id must be non-empty, without ':', '/' or spaces"
                ));
            }
            if clocks.iter().any(|c: &AgreementClock| c.id == clock.id) {
                return Err(format!("{entry}: the id is used twice"));
            }
            if clock.days == 0 {
                return Err(format!("{entry}: days must be at least 1"));
            }
            let stops_on = clock
                .stops_on
                .iter()
                .map(|k| kind_name(k, &format!("{entry}.stops_on")))
                .collect::<Result<Vec<_>, _>>()?;
            if stops_on.is_empty() {
                return Err(format!(
                    "{entry}.stops_on: name the event kind(s) that meet the deadline"
                ));
            }
            let conditions = clock
                .conditions
                .into_iter()
                .map(|(field, value)| {
                    serde_json::to_value(value)
                        .map(|v| (field, v))
                        .map_err(|e| format!("{entry}.when: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            clocks.push(AgreementClock {
                starts_on: kind_name(&clock.starts_on, &format!("{entry}.starts_on"))?,
                id: clock.id,
                name: clock.name,
                conditions,
                stops_on,
                key: clock.key,
                answered_by: clock.answered_by,
                days: clock.days,
                count: clock.count,
            });
        }
        Ok((
            Policy {
                id: file.id,
                name: file.name,
                care_providers,
                municipalities,
                calendar: Calendar {
                    eves_are_holidays: file.calendar.eves_are_holidays,
                },
                move_to_working_day: file.calendar.move_to_working_day,
                admission_notice_within: SignedDuration::from_hours(i64::from(
                    file.admission_notice.within_hours,
                )),
                sip_invitation_days: file.sip_invitation.days,
                sip_invitation_count: file.sip_invitation.count,
                sip_confirm_before: SignedDuration::from_hours(i64::from(
                    file.sip_meeting.confirm_hours_before,
                )),
                information_at_discharge: file.information_at_discharge.latest,
                payment,
                payment_psychiatric,
                deviations,
                planning: file.planning,
                clocks,
                functions: Default::default(),
            },
            file.default,
        ))
    }

    /// The end of the `days`-th counted day after `from` (the day of `from` is day 0), moved
    /// as the law moves a deadline (`Calendar::deadline_day_on_or_after`: off weekends, public
    /// holidays and the Midsummer, Christmas and New Year's eves) when the policy says so.
    /// Payment responsibility is not a deadline and never moves
    /// (`payment_responsibility_from`).
    fn days_after(&self, from: Timestamp, days: u32, count: Count) -> Timestamp {
        let mut day = self
            .calendar
            .nth_day_after(local_date(from), days, count == Count::Working);
        if self.move_to_working_day {
            day = Calendar::deadline_day_on_or_after(day);
        }
        end_of(day)
    }

    /// The latest time for an admission notice: `within_hours` after the admission (or after a
    /// later assessment that the person will need services). Elapsed hours: right across DST.
    pub fn admission_notice_due(&self, from: Timestamp) -> Timestamp {
        from.saturating_add(self.admission_notice_within)
            .unwrap_or(from)
    }

    /// The latest time for the SIP invitation after the ready-for-discharge decision.
    pub fn sip_invitation_due(&self, ready_at: Timestamp) -> Timestamp {
        self.days_after(
            ready_at,
            self.sip_invitation_days,
            self.sip_invitation_count,
        )
    }

    /// The latest time for an invited party to confirm who attends a meeting at `meeting_at`.
    pub fn sip_confirmation_due(&self, meeting_at: Timestamp) -> Timestamp {
        meeting_at
            .checked_sub(self.sip_confirm_before)
            .unwrap_or(meeting_at)
    }

    /// The latest time for information at discharge.
    pub fn information_at_discharge_due(&self, discharged_at: Timestamp) -> Timestamp {
        match self.information_at_discharge {
            Latest::DayOfDischarge => end_of(local_date(discharged_at)),
        }
    }

    /// When the municipality's payment responsibility begins for a person still in hospital
    /// after being ready for discharge at `ready_at`: the start of the day after the last
    /// counted day.
    pub fn payment_responsibility_from(&self, ready_at: Timestamp, psychiatric: bool) -> Timestamp {
        let rule = if psychiatric {
            &self.payment_psychiatric
        } else {
            &self.payment
        };
        let working = rule.count == Count::Working;
        let local = ready_at.to_zoned_datetime(stockholm());
        let mut day_zero = local.date();
        if rule.cutoff.is_some_and(|cutoff| local.time() > cutoff) {
            day_zero = self.calendar.nth_day_after(day_zero, 1, working);
        }
        let counted = if rule.day_zero {
            rule.days
        } else {
            rule.days - 1
        };
        end_of(self.calendar.nth_day_after(day_zero, counted, working))
    }

    /// When the `reminder`-th reminder (1, 2, …) of a deviation raised at `raised_at` is due
    /// if it is still unanswered; `None` past the policy's last reminder.
    pub fn deviation_reminder_due(&self, raised_at: Timestamp, reminder: u32) -> Option<Timestamp> {
        let rule = &self.deviations;
        if reminder == 0 || reminder > rule.max_reminders {
            return None;
        }
        let days = rule
            .answer_within_days
            .saturating_add((reminder - 1).saturating_mul(rule.remind_every_days));
        Some(self.days_after(raised_at, days, rule.count))
    }

    /// The escalation the `reminder`-th reminder of a deviation addressed to `addressed_to`
    /// comes with, if the ladder has a level there: to the level's contacts of the addressed
    /// party's organisation, or to all of them when none is.
    pub fn escalation_at(
        &self,
        reminder: u32,
        addressed_to: &Party,
        directory: &crate::config::Directory,
    ) -> Option<crate::domain::event::Escalation> {
        let level = self
            .deviations
            .escalation
            .iter()
            .find(|level| level.at_reminder == reminder)?;
        let organisation = directory.organisation_of(addressed_to);
        let own: Vec<Party> = level
            .contacts
            .iter()
            .filter(|c| organisation.is_some() && directory.organisation_of(c) == organisation)
            .cloned()
            .collect();
        Some(crate::domain::event::Escalation {
            level: level.level.clone(),
            name: level.name.clone(),
            to: if own.is_empty() {
                level.contacts.clone()
            } else {
                own
            },
        })
    }

    /// When a SIP is due in a psychiatric case with substance abuse reported at `reported_at`,
    /// if the policy assumes one is needed.
    pub fn dual_diagnosis_sip_due(&self, reported_at: Timestamp) -> Option<Timestamp> {
        let days = self.planning.sip_for_psychiatry_with_substance_abuse_days;
        (days > 0).then(|| self.days_after(reported_at, days, Count::Calendar))
    }

    /// The due time of an agreement clock started at `from`.
    pub fn clock_due(&self, clock: &AgreementClock, from: Timestamp) -> Timestamp {
        self.days_after(from, clock.days, clock.count)
    }

    fn covers(&self, care_provider: &str, municipality: Option<Kommunkod>) -> bool {
        self.care_providers
            .iter()
            .any(|c| c.as_str() == care_provider)
            && match municipality {
                Some(code) => self.municipalities.is_empty() || self.municipalities.contains(&code),
                None => true,
            }
    }
}

mod policies;
pub use policies::Policies;

#[cfg(test)]
mod tests;
