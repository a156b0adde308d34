//! What a step showed against what its scenario expects: one line per difference, naming the
//! field and both values. Pure.

use serde_json::Value;

use super::scenario::{Expect, Outcome};

/// An event recorded during a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEvent {
    pub kind: String,
    /// The deadline of a `deadline_missed`.
    pub missed: Option<String>,
    /// The cause of a `deviation_raised`.
    pub cause: Option<String>,
    /// When a missed deadline was due, and the rule that set it.
    pub due: Option<jiff::Timestamp>,
    pub rule: Option<String>,
}

/// A delivery that arrived during a step.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDelivery {
    /// The receiver's organisation.
    pub to: String,
    /// The kind of the event it carries.
    pub kind: String,
    /// The delivery read back as a canonical message (or the FHIR JSON as delivered).
    pub content: Value,
}

/// Everything a step showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// For a step that sends: how the message was taken, and the refusal's message.
    pub outcome: Option<(Outcome, String)>,
    pub events: Vec<ObservedEvent>,
    pub deliveries: Vec<ObservedDelivery>,
    /// The phase of the scenario's case after the step.
    pub phase: Option<String>,
    /// Recipients the decision withheld the step from, with the reason.
    pub withheld: Vec<String>,
    /// The warnings of the step's receipt.
    pub warnings: Vec<String>,
    /// What the report should say of how the step was checked.
    pub notes: Vec<String>,
    /// The follow-up statistics' total from the scenario's start to the step, when asked for.
    pub stats: Option<Value>,
    /// The case's running clocks after the step: kind and due time.
    pub clocks: Vec<(String, jiff::Timestamp)>,
    /// What a read through GetCarePlans answered.
    pub care_plans: Option<ObservedPlans>,
}

/// The answer of a read through GetCarePlans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedPlans {
    pub result: String,
    pub sub_code: Option<String>,
    /// The plans' titles, in order.
    pub documents: Vec<String>,
}

/// The value at `path` (`a.b.0.c`) of `value`.
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |node, key| match node {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The marker for a field that must not be there.
pub const ABSENT: &str = "<absent>";

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// Each expected warning's words must be in a warning of the receipt; none expected means
/// the receipt warns of nothing.
fn compare_warnings(wanted: &[String], got: &[String]) -> Vec<String> {
    if wanted.is_empty() && !got.is_empty() {
        return vec![format!("warnings: expected none, got {}", list(got))];
    }
    wanted
        .iter()
        .filter(|words| !got.iter().any(|w| w.contains(words.as_str())))
        .map(|words| format!("warnings: expected one with {words:?}, got {}", list(got)))
        .collect()
}

/// The differences between `expect` and `observed` (none: the step passed). `sends`: the step
/// sent a message (its outcome is then `accepted` unless the scenario says otherwise).
pub fn compare(expect: &Expect, sends: bool, observed: &Observed) -> Vec<String> {
    let mut differences = Vec::new();
    if sends {
        let wanted = expect.outcome.unwrap_or(Outcome::Accepted);
        match &observed.outcome {
            Some((got, detail)) if *got != wanted => differences.push(format!(
                "outcome: expected {}, got {}{}",
                wanted.as_str(),
                got.as_str(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            )),
            Some((_, detail)) => {
                if let Some(words) = &expect.refusal
                    && !detail.contains(words.as_str())
                {
                    differences.push(format!(
                        "refusal: expected a message with {words:?}, got {detail:?}"
                    ));
                }
            }
            None => differences.push("outcome: the message was not sent".to_owned()),
        }
    }
    if let Some(wanted) = &expect.warnings {
        differences.extend(compare_warnings(wanted, &observed.warnings));
    }
    if let Some(wanted) = &expect.care_plans {
        match &observed.care_plans {
            None => differences.push("care_plans: nothing was read".to_owned()),
            Some(got) => {
                if let Some(result) = &wanted.result
                    && *result != got.result
                {
                    differences.push(format!(
                        "care_plans.result: expected {result}, got {}",
                        got.result
                    ));
                }
                if let Some(code) = &wanted.sub_code
                    && got.sub_code.as_deref().unwrap_or("") != code
                {
                    differences.push(format!(
                        "care_plans.sub_code: expected {code:?}, got {:?}",
                        got.sub_code.as_deref().unwrap_or("")
                    ));
                }
                if let Some(documents) = &wanted.documents
                    && *documents != got.documents
                {
                    differences.push(format!(
                        "care_plans.documents: expected {}, got {}",
                        list(documents),
                        list(&got.documents)
                    ));
                }
            }
        }
    }
    if let Some(kinds) = &expect.events {
        let got: Vec<String> = observed.events.iter().map(|e| e.kind.clone()).collect();
        if &got != kinds {
            differences.push(format!(
                "events: expected {}, got {}",
                list(kinds),
                list(&got)
            ));
        }
    }
    if let Some(missed) = &expect.missed {
        // Deadlines that fall due at the same instant fire in either order: compared as a set.
        let mut got: Vec<String> = observed
            .events
            .iter()
            .filter_map(|e| e.missed.clone())
            .collect();
        got.sort();
        let mut missed = missed.clone();
        missed.sort();
        if got != missed {
            differences.push(format!(
                "missed deadlines: expected {}, got {}",
                list(&missed),
                list(&got)
            ));
        }
    }
    differences.extend(deadlines_and_clocks(expect, observed));
    for deviation in &expect.deviations {
        let raised: Vec<String> = observed
            .events
            .iter()
            .filter_map(|e| e.cause.clone())
            .collect();
        if !raised.contains(&deviation.cause) {
            differences.push(format!(
                "deviation {}: expected, but none was raised with that cause (raised: {})",
                deviation.cause,
                list(&raised)
            ));
        }
    }
    for expected in &expect.deliveries {
        let found: Vec<&ObservedDelivery> = observed
            .deliveries
            .iter()
            .filter(|d| d.to == expected.to && d.kind == expected.kind)
            .collect();
        let what = format!("deliveries of {} to {}", expected.kind, expected.to);
        match expected.count {
            Some(count) if found.len() != count => {
                let others: Vec<String> = observed
                    .deliveries
                    .iter()
                    .filter(|d| d.to == expected.to)
                    .map(|d| d.kind.clone())
                    .collect();
                differences.push(format!(
                    "{what}: expected {count}, got {} (all to {}: {})",
                    found.len(),
                    expected.to,
                    list(&others)
                ));
                continue;
            }
            None if found.is_empty() => {
                differences.push(format!("{what}: expected at least one, got none"));
                continue;
            }
            _ => {}
        }
        for (n, delivery) in found.iter().enumerate() {
            for (path, wanted) in &expected.content {
                let got = at_path(&delivery.content, path);
                let wanted_json = serde_json::to_value(wanted).unwrap_or(Value::Null);
                let problem = match (wanted_json.as_str() == Some(ABSENT), got) {
                    (true, None) => None,
                    (true, Some(value)) => Some(format!("expected absent, got {value}")),
                    (false, None) => Some(format!("expected {wanted_json}, got nothing")),
                    (false, Some(value)) if *value != wanted_json => {
                        Some(format!("expected {wanted_json}, got {value}"))
                    }
                    _ => None,
                };
                if let Some(problem) = problem {
                    differences.push(format!(
                        "delivery {} of {} to {} at {path}: {problem}",
                        n + 1,
                        expected.kind,
                        expected.to
                    ));
                }
            }
        }
    }
    for (figure, wanted) in &expect.stats {
        let wanted = serde_json::to_value(wanted).unwrap_or(Value::Null);
        let got = observed.stats.as_ref().and_then(|stats| stats.get(figure));
        let same = match (got.and_then(Value::as_f64), wanted.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => false,
        };
        if !same {
            differences.push(format!(
                "statistics {figure}: expected {wanted}, got {}",
                got.map_or("nothing (no such figure)".to_owned(), ToString::to_string)
            ));
        }
    }
    if let Some(phase) = &expect.phase
        && observed.phase.as_ref() != Some(phase)
    {
        differences.push(format!(
            "phase: expected {phase}, got {}",
            observed.phase.as_deref().unwrap_or("no case")
        ));
    }
    differences
}

/// The differences in the missed deadlines' due times and rules, and in the running clocks.
fn deadlines_and_clocks(expect: &Expect, observed: &Observed) -> Vec<String> {
    let mut differences = Vec::new();
    let local = |at: jiff::Timestamp| {
        at.to_zoned_datetime(crate::domain::time::stockholm())
            .strftime("%Y-%m-%d %H:%M:%S %:z")
            .to_string()
    };
    for wanted in &expect.deadlines {
        let due = wanted.due.map(|d| d.after(jiff::Timestamp::UNIX_EPOCH));
        let found = observed.events.iter().any(|e| {
            e.missed.as_deref() == Some(wanted.deadline.as_str())
                && due.is_none_or(|due| e.due == Some(due))
                && wanted
                    .rule
                    .as_ref()
                    .is_none_or(|rule| e.rule.as_ref() == Some(rule))
        });
        if !found {
            let got: Vec<String> = observed
                .events
                .iter()
                .filter(|e| e.missed.is_some())
                .map(|e| {
                    format!(
                        "{} due {} by {}",
                        e.missed.as_deref().unwrap_or_default(),
                        e.due.map(local).unwrap_or_default(),
                        e.rule.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            differences.push(format!(
                "deadline {}{}{}: expected missed, got {}",
                wanted.deadline,
                due.map(|d| format!(" due {}", local(d)))
                    .unwrap_or_default(),
                wanted
                    .rule
                    .as_ref()
                    .map(|r| format!(" by {r}"))
                    .unwrap_or_default(),
                list(&got)
            ));
        }
    }
    for wanted in &expect.clocks {
        let running: Vec<&(String, jiff::Timestamp)> = observed
            .clocks
            .iter()
            .filter(|(kind, _)| kind.starts_with(&wanted.kind))
            .collect();
        let shown = || {
            running
                .iter()
                .map(|(kind, due)| format!("{kind} due {}", local(*due)))
                .collect::<Vec<_>>()
        };
        match wanted.state {
            super::scenario::ClockState::Stopped if !running.is_empty() => {
                differences.push(format!(
                    "clock {}: expected stopped, running {}",
                    wanted.kind,
                    list(&shown())
                ))
            }
            super::scenario::ClockState::Running if running.is_empty() => differences.push(
                format!("clock {}: expected running, but none is", wanted.kind),
            ),
            super::scenario::ClockState::Running => {
                if let Some(due) = wanted.due.map(|d| d.after(jiff::Timestamp::UNIX_EPOCH))
                    && !running.iter().any(|(_, at)| *at == due)
                {
                    differences.push(format!(
                        "clock {}: expected due {}, running {}",
                        wanted.kind,
                        local(due),
                        list(&shown())
                    ));
                }
            }
            super::scenario::ClockState::Stopped => {}
        }
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::scenario::{ExpectedDelivery, ExpectedDeviation};
    use serde_json::json;

    fn observed() -> Observed {
        Observed {
            outcome: Some((Outcome::Accepted, String::new())),
            events: vec![
                ObservedEvent {
                    kind: "deadline_missed".into(),
                    missed: Some("sip_invitation".into()),
                    cause: None,
                    due: Some("2026-11-27T23:00:00Z".parse().unwrap()),
                    rule: Some("jamtland/sip_invitation".into()),
                },
                ObservedEvent {
                    kind: "deviation_raised".into(),
                    missed: None,
                    cause: Some("deadline_missed".into()),
                    due: None,
                    rule: None,
                },
            ],
            deliveries: vec![ObservedDelivery {
                to: "2380".into(),
                kind: "admission_notice".into(),
                content: json!({ "event": { "person": { "name": { "family": "Lindqvist" } } } }),
            }],
            phase: Some("inpatient".into()),
            clocks: vec![(
                "payment_responsibility".into(),
                "2026-11-28T23:00:00Z".parse().unwrap(),
            )],
            withheld: Vec::new(),
            warnings: vec!["the 6 § LVM report does not say what the person misuses".into()],
            notes: Vec::new(),
            stats: Some(json!({ "deadlines_missed": 1, "payment_responsibility_days": 0.5 })),
            care_plans: None,
        }
    }

    #[test]
    fn a_read_through_getcareplans_is_compared_by_result_sub_code_and_titles() {
        let read = Observed {
            care_plans: Some(ObservedPlans {
                result: "INFO".into(),
                sub_code: Some("BLOCKED_INFORMATION".into()),
                documents: vec!["SIP, version 1".into()],
            }),
            ..Observed::default()
        };
        let expect = |result: &str, sub_code: &str, documents: &[&str]| Expect {
            care_plans: Some(crate::replay::scenario::ExpectedPlans {
                result: Some(result.into()),
                sub_code: Some(sub_code.into()),
                documents: Some(documents.iter().map(|d| d.to_string()).collect()),
            }),
            ..Expect::default()
        };
        assert!(
            compare(
                &expect("INFO", "BLOCKED_INFORMATION", &["SIP, version 1"]),
                false,
                &read
            )
            .is_empty()
        );
        let differences = compare(&expect("OK", "", &[]), false, &read);
        assert_eq!(differences.len(), 3, "{differences:?}");
        assert!(differences[0].starts_with("care_plans.result: expected OK, got INFO"));
        assert_eq!(
            compare(&expect("OK", "", &[]), false, &Observed::default()),
            ["care_plans: nothing was read"]
        );
    }

    #[test]
    fn what_matches_passes_and_each_difference_names_its_field() {
        let mut expect = Expect {
            events: Some(vec!["deadline_missed".into(), "deviation_raised".into()]),
            missed: Some(vec!["sip_invitation".into()]),
            deviations: vec![ExpectedDeviation {
                cause: "deadline_missed".into(),
            }],
            deliveries: vec![ExpectedDelivery {
                to: "2380".into(),
                kind: "admission_notice".into(),
                count: Some(1),
                content: [
                    (
                        "event.person.name.family".to_owned(),
                        toml::Value::String("Lindqvist".into()),
                    ),
                    (
                        "event.person.registered_address".to_owned(),
                        toml::Value::String(ABSENT.into()),
                    ),
                ]
                .into(),
            }],
            phase: Some("inpatient".into()),
            ..Expect::default()
        };
        assert_eq!(compare(&expect, true, &observed()), Vec::<String>::new());
        let mut with_stats = expect.clone();
        with_stats.stats = [
            ("deadlines_missed".to_owned(), toml::Value::Integer(1)),
            (
                "payment_responsibility_days".to_owned(),
                toml::Value::Float(0.5),
            ),
        ]
        .into();
        assert_eq!(
            compare(&with_stats, true, &observed()),
            Vec::<String>::new()
        );
        with_stats.stats = [
            ("deadlines_missed".to_owned(), toml::Value::Integer(0)),
            ("no_such_figure".to_owned(), toml::Value::Integer(0)),
        ]
        .into();
        assert_eq!(
            compare(&with_stats, true, &observed()),
            [
                "statistics deadlines_missed: expected 0, got 1",
                "statistics no_such_figure: expected 0, got nothing (no such figure)",
            ]
        );

        expect.deliveries[0].content.insert(
            "event.person.name.family".into(),
            toml::Value::String("Svensson".into()),
        );
        expect.phase = Some("discharged".into());
        expect.outcome = Some(Outcome::Duplicate);
        expect.events = Some(vec!["deadline_missed".into()]);
        let differences = compare(&expect, true, &observed());
        assert_eq!(
            differences,
            [
                "outcome: expected duplicate, got accepted",
                "events: expected [deadline_missed], got [deadline_missed, deviation_raised]",
                "delivery 1 of admission_notice to 2380 at event.person.name.family: expected \"Svensson\", got \"Lindqvist\"",
                "phase: expected discharged, got inpatient",
            ]
        );
    }

    #[test]
    fn counts_absences_and_refusals_are_checked() {
        let mut seen = observed();
        seen.outcome = Some((Outcome::Refused, "the person number is not valid".into()));
        let expect = Expect {
            outcome: Some(Outcome::Refused),
            refusal: Some("check digit".into()),
            deliveries: vec![
                ExpectedDelivery {
                    to: "2380".into(),
                    kind: "sip_plan".into(),
                    count: Some(0),
                    content: Default::default(),
                },
                ExpectedDelivery {
                    to: "2380".into(),
                    kind: "discharged".into(),
                    count: None,
                    content: Default::default(),
                },
            ],
            deviations: vec![ExpectedDeviation {
                cause: "delivery_late".into(),
            }],
            ..Expect::default()
        };
        assert_eq!(
            compare(&expect, true, &seen),
            [
                "refusal: expected a message with \"check digit\", got \"the person number is not valid\"",
                "deviation delivery_late: expected, but none was raised with that cause (raised: [deadline_missed])",
                "deliveries of discharged to 2380: expected at least one, got none",
            ]
        );
    }

    #[test]
    fn each_expected_warning_is_looked_for_and_none_means_none() {
        let seen = observed();
        let expect = |warnings: &[&str]| Expect {
            warnings: Some(warnings.iter().map(|w| (*w).to_owned()).collect()),
            ..Expect::default()
        };
        assert!(compare(&expect(&["what the person misuses"]), true, &seen).is_empty());
        assert_eq!(
            compare(&expect(&["grounds"]), true, &seen),
            [
                "warnings: expected one with \"grounds\", got [the 6 § LVM report does not say what the person misuses]"
            ]
        );
        assert_eq!(
            compare(&expect(&[]), true, &seen),
            [
                "warnings: expected none, got [the 6 § LVM report does not say what the person misuses]"
            ]
        );
        assert!(compare(&Expect::default(), true, &seen).is_empty());
    }

    #[test]
    fn deadlines_and_clocks_are_checked_by_due_time_and_rule() {
        use crate::replay::scenario::{At, ClockState, ExpectedClock, ExpectedDeadline};
        let on = |text: &str| Some(At::parse(text).unwrap());
        let mut expect = Expect {
            deadlines: vec![ExpectedDeadline {
                deadline: "sip_invitation".into(),
                // Local Swedish time: the end of Friday 27 November is midnight.
                due: on("2026-11-28T00:00"),
                rule: Some("jamtland/sip_invitation".into()),
            }],
            clocks: vec![
                ExpectedClock {
                    kind: "payment_".into(),
                    state: ClockState::Running,
                    due: on("2026-11-28T23:00:00Z"),
                },
                ExpectedClock {
                    kind: "sip_attendance:".into(),
                    state: ClockState::Stopped,
                    due: None,
                },
            ],
            ..Expect::default()
        };
        assert_eq!(compare(&expect, true, &observed()), Vec::<String>::new());

        expect.deadlines[0].rule = Some("national/sip_invitation".into());
        expect.clocks[0].due = on("2026-11-27T23:00:00Z");
        expect.clocks[1].kind = "payment".into();
        assert_eq!(
            compare(&expect, true, &observed()),
            [
                "deadline sip_invitation due 2026-11-28 00:00:00 +01:00 by national/sip_invitation: expected missed, got [sip_invitation due 2026-11-28 00:00:00 +01:00 by jamtland/sip_invitation]",
                "clock payment_: expected due 2026-11-28 00:00:00 +01:00, running [payment_responsibility due 2026-11-29 00:00:00 +01:00]",
                "clock payment: expected stopped, running [payment_responsibility due 2026-11-29 00:00:00 +01:00]",
            ]
        );
    }
}
