//! The replay's reports: a readable one for people (per step, passed or the differences) and
//! JUnit XML for CI systems (one test suite per scenario, one test case per step).

use std::fmt::Write;

use super::runner::ScenarioReport;

/// The readable report of `reports`.
pub fn text(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let mut failed = 0;
    for report in reports {
        let verdict = if report.passed() { "passed" } else { "FAILED" };
        let _ = writeln!(
            out,
            "{} — {} ({verdict}, {:.1} s)",
            report.path.display(),
            report.name,
            report.elapsed.as_secs_f64()
        );
        for step in &report.steps {
            if step.differences.is_empty() {
                let _ = writeln!(out, "  ok    {}", step.title);
            } else {
                let _ = writeln!(out, "  FAIL  {}", step.title);
                for difference in &step.differences {
                    let _ = writeln!(out, "          {difference}");
                }
            }
            let _ = writeln!(out, "          happened: {}", happened(&step.observed));
        }
        if let Some(error) = &report.error {
            let _ = writeln!(out, "  ERROR {error}");
        }
        if !report.passed() {
            failed += 1;
        }
    }
    let _ = writeln!(
        out,
        "{} of {} scenarios passed",
        reports.len() - failed,
        reports.len()
    );
    out
}

/// What a step showed, in one line: the outcome, the events, the deliveries per receiver.
fn happened(observed: &super::Observed) -> String {
    let mut parts = Vec::new();
    if let Some((outcome, detail)) = &observed.outcome {
        parts.push(
            if detail.is_empty() || *outcome == super::Outcome::Accepted {
                outcome.as_str().to_owned()
            } else {
                format!("{} ({detail})", outcome.as_str())
            },
        );
    }
    if let Some(read) = &observed.care_plans {
        parts.push(format!(
            "GetCarePlans {}{}: {} plan(s)",
            read.result,
            read.sub_code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default(),
            read.documents.len()
        ));
    }
    let events: Vec<String> = observed
        .events
        .iter()
        .map(|e| match (&e.missed, &e.cause) {
            (Some(deadline), _) => format!("{}({deadline})", e.kind),
            (_, Some(cause)) => format!("{}({cause})", e.kind),
            _ => e.kind.clone(),
        })
        .collect();
    parts.push(format!("events [{}]", events.join(", ")));
    let mut deliveries: Vec<(String, String, usize)> = Vec::new();
    for delivery in &observed.deliveries {
        match deliveries
            .iter_mut()
            .find(|(to, kind, _)| *to == delivery.to && *kind == delivery.kind)
        {
            Some(entry) => entry.2 += 1,
            None => deliveries.push((delivery.to.clone(), delivery.kind.clone(), 1)),
        }
    }
    let deliveries: Vec<String> = deliveries
        .into_iter()
        .map(|(to, kind, n)| {
            if n == 1 {
                format!("{kind} → {to}")
            } else {
                format!("{kind} → {to} ×{n}")
            }
        })
        .collect();
    parts.push(format!("deliveries [{}]", deliveries.join(", ")));
    if !observed.withheld.is_empty() {
        parts.push(format!("withheld from {}", observed.withheld.join(", ")));
    }
    if let Some(phase) = &observed.phase {
        parts.push(format!("phase {phase}"));
    }
    parts.extend(observed.notes.iter().cloned());
    parts.join("; ")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `reports` as JUnit XML.
pub fn junit(reports: &[ScenarioReport]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"brygga replay\">\n",
    );
    for report in reports {
        let failures = report
            .steps
            .iter()
            .filter(|s| !s.differences.is_empty())
            .count();
        let errors = usize::from(report.error.is_some());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
            escape(&report.name),
            escape(&report.path.display().to_string()),
            report.steps.len() + errors,
            report.elapsed.as_secs_f64()
        );
        for step in &report.steps {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&report.name),
                escape(&step.title)
            );
            if step.differences.is_empty() {
                out.push_str("/>\n");
            } else {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(&step.differences[0]),
                    escape(&step.differences.join("\n"))
                );
            }
        }
        if let Some(error) = &report.error {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"the scenario runs\">\n      <error message=\"{}\"/>\n    </testcase>",
                escape(&report.name),
                escape(error)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
