//! `brygga conformance`: the document a region hands to its vendors. It runs what the gateway
//! ships against the gateway itself and reports, as Markdown or HTML:
//! - the message kinds each format carries, per direction (written from the canonical
//!   corpus `fixtures/municipal/canonical/`, and read back);
//! - the golden fixtures of each contract (a contract example read into the canonical
//!   message it must give) and its refused documents (each refused with its documented error);
//! - mapping coverage: of the elements the contracts' examples use, which the mapping reads
//!   and which it reports as not mapped;
//! - every scenario, passed or failed, with its differences (`crate::replay`).
//!
//! The fixtures are read as of the date they were written for (`AS_OF`), so that a birth date
//! or a deadline in them means the same every day.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde_json::Value;

use crate::config::Settings;
use crate::formats::Mappings;
use crate::formats::canonical::CanonicalMessage;
use crate::formats::translate::{self, Format};
use crate::replay::ScenarioReport;

/// The date the shipped fixtures are read as of.
pub const AS_OF: Date = jiff::civil::date(2026, 11, 23);

/// One format's support of one event kind.
#[derive(Debug, Clone)]
pub struct KindSupport {
    pub kind: String,
    /// Per format (in `Conformance::formats` order): written, and read back.
    pub support: Vec<(bool, bool)>,
}

/// A group of golden fixtures and how many passed.
#[derive(Debug, Clone)]
pub struct FixtureGroup {
    pub name: String,
    pub total: usize,
    pub failures: Vec<String>,
}

/// One contract's mapping coverage over the elements its examples use.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub contract: String,
    pub elements: BTreeSet<String>,
    pub not_mapped: BTreeSet<String>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Conformance {
    pub formats: Vec<String>,
    pub kinds: Vec<KindSupport>,
    pub fixtures: Vec<FixtureGroup>,
    pub coverage: Vec<Coverage>,
    pub scenarios: Vec<ScenarioReport>,
    /// The national platform's contracts served, as rows of what and how.
    pub national: Vec<(String, String)>,
}

impl Conformance {
    pub fn passed(&self) -> bool {
        self.fixtures.iter().all(|g| g.failures.is_empty())
            && self.scenarios.iter().all(ScenarioReport::passed)
    }
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    found.sort();
    found
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs everything at `root` (the repository: `fixtures/`, `mappings/`) and the scenarios of
/// `scenarios`.
pub async fn build(
    settings: &Settings,
    root: &Path,
    scenarios: &Path,
) -> anyhow::Result<Conformance> {
    let mappings = settings.load_mappings()?;
    let mut formats: Vec<Format> = vec![Format::CosmicLink, Format::Canonical, Format::Fhir];
    formats.extend(
        mappings
            .municipal
            .names()
            .into_iter()
            .map(|name| Format::Municipal(name.to_owned())),
    );
    let kinds = kinds(
        &mappings,
        &formats,
        &root.join("fixtures/municipal/canonical"),
    );
    let mut fixtures = vec![
        golden(
            &mappings,
            "Cosmic Link examples → canonical",
            &Format::CosmicLink,
            &root.join("mappings/cosmic-link/examples"),
            "xml",
            &root.join("fixtures/cosmic-link/to-canonical"),
        ),
        golden(
            &mappings,
            "FHIR documents → canonical",
            &Format::Fhir,
            &root.join("fixtures/fhir/inputs"),
            "json",
            &root.join("fixtures/fhir/to-canonical"),
        ),
        refusals(
            &mappings,
            "Cosmic Link documents refused",
            &Format::CosmicLink,
            &root.join("fixtures/cosmic-link/errors"),
            "xml",
        ),
        refusals(
            &mappings,
            "FHIR documents refused",
            &Format::Fhir,
            &root.join("fixtures/fhir/errors"),
            "json",
        ),
    ];
    let mut coverage = vec![coverage_of(
        &mappings,
        "Cosmic Link",
        &Format::CosmicLink,
        &root.join("mappings/cosmic-link/examples"),
    )];
    for name in mappings.municipal.names() {
        let format = Format::Municipal(name.to_owned());
        fixtures.push(golden(
            &mappings,
            &format!("{name} examples → canonical"),
            &format,
            &root.join(format!("mappings/municipal/{name}/examples")),
            "xml",
            &root.join(format!("fixtures/municipal/{name}/to-canonical")),
        ));
        fixtures.push(refusals(
            &mappings,
            &format!("{name} documents refused"),
            &format,
            &root.join(format!("fixtures/municipal/{name}/errors")),
            "xml",
        ));
        coverage.push(coverage_of(
            &mappings,
            name,
            &format,
            &root.join(format!("mappings/municipal/{name}/examples")),
        ));
    }
    fixtures.retain(|g| g.total > 0);
    if fixtures.is_empty() || kinds.is_empty() {
        anyhow::bail!(
            "no fixtures under {}: run from the repository, or name it with --root",
            root.display()
        );
    }
    let mut reports = Vec::new();
    for file in crate::replay::scenario_files(scenarios).map_err(anyhow::Error::msg)? {
        let scenario = crate::replay::load(&file).map_err(anyhow::Error::msg)?;
        reports.push(crate::replay::run(&scenario, settings).await);
    }
    Ok(Conformance {
        formats: formats.iter().map(ToString::to_string).collect(),
        kinds,
        fixtures,
        coverage,
        scenarios: reports,
        national: national(settings),
    })
}

/// What the national platform's consumers are served (`http::riv`).
fn national(settings: &Settings) -> Vec<(String, String)> {
    let consumers = settings
        .clients
        .iter()
        .filter(|c| c.hsa_id.is_some() && !c.platform)
        .count();
    let platforms = settings.clients.iter().filter(|c| c.platform).count();
    [
        (
            "contract",
            "RIV-TA `clinicalprocess:logistics:logistics` GetCarePlans 2 (RIV-TA Basic Profile 2.1, SOAP 1.1)".to_owned(),
        ),
        ("endpoint", format!("`POST {}`", crate::http::RIV_PATH)),
        ("SOAP action", format!("`{}`", crate::formats::riv::SOAP_ACTION)),
        (
            "logical address",
            match settings.riv.producer() {
                Some(id) => format!("`{id}` (`riv.hsa_id`), also each plan's `sourceSystemHSAId`"),
                None => "not served by this configuration (`riv.hsa_id` unset)".to_owned(),
            },
        ),
        (
            "consumers",
            format!("{consumers} registered (`hsa_id` in the clients file), known by a client certificate issued under `riv.trust_anchors_file` whose subject (`serialNumber`, else `CN`) names the HSA-id (mutual TLS); directly, or through {platforms} national service platform(s) (`platform`) naming them in `x-rivta-original-serviceconsumer-hsaid`"),
        ),
        (
            "request",
            "read as `GetCarePlansResponder_2.0.xsd` has it: `patientId` (personnummer or samordningsnummer), `careUnitHSAId`, `datePeriod`, `sourceSystemHSAId`, `careContactId`; a request that breaks the schema is a SOAP fault (`soap:Client`) naming the element, line and column".to_owned(),
        ),
        (
            "response",
            "each version of each SIP/SPU/SPLPTLRV plan the consumer's organisation may read (the disclosure decision of every read): `documentId` (the FHIR CarePlan's id and version), title, time, author's care unit and care giver, the plan as `text/plain`, participating units, `typeOfCarePlanEnum`; `result` `OK`, or `INFO` with `PROTECTED_IDENTITY` (nothing disclosed) or `BLOCKED_INFORMATION` (plans withheld for want of consent); `logId` names the audit record".to_owned(),
        ),
        ("mapping", "`mappings/riv/README.md`".to_owned()),
    ]
    .into_iter()
    .map(|(what, how)| (what.to_owned(), how))
    .collect()
}

/// Each kind of the canonical corpus, written in every format and read back.
fn kinds(mappings: &Mappings, formats: &[Format], corpus: &Path) -> Vec<KindSupport> {
    let mut rows: Vec<KindSupport> = Vec::new();
    for file in files(corpus, "json") {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<CanonicalMessage>(&text) else {
            continue;
        };
        let kind = message.event.kind.name().to_owned();
        let support: Vec<(bool, bool)> = formats
            .iter()
            .map(
                |format| match translate::write(format, &message, mappings, AS_OF) {
                    Ok(written) => {
                        let read = translate::read(format, written.as_bytes(), mappings, AS_OF)
                            .is_ok_and(|(back, _)| back.event.kind.name() == kind);
                        (true, read)
                    }
                    Err(_) => (false, false),
                },
            )
            .collect();
        match rows.iter_mut().find(|r| r.kind == kind) {
            Some(row) => {
                for (have, new) in row.support.iter_mut().zip(support) {
                    have.0 |= new.0;
                    have.1 |= new.1;
                }
            }
            None => rows.push(KindSupport { kind, support }),
        }
    }
    rows.sort_by(|a, b| a.kind.cmp(&b.kind));
    rows
}

/// Each input of `inputs` read into the canonical message in `outputs` with its stem.
fn golden(
    mappings: &Mappings,
    name: &str,
    format: &Format,
    inputs: &Path,
    extension: &str,
    outputs: &Path,
) -> FixtureGroup {
    let mut group = FixtureGroup {
        name: name.to_owned(),
        total: 0,
        failures: Vec::new(),
    };
    for input in files(inputs, extension) {
        let expected = outputs.join(format!("{}.json", stem(&input)));
        let Ok(expected) = std::fs::read_to_string(&expected) else {
            continue;
        };
        group.total += 1;
        let expected: Value = serde_json::from_str(&expected).unwrap_or(Value::Null);
        let bytes = std::fs::read(&input).unwrap_or_default();
        match translate::read_unplaced(format, &bytes, mappings, AS_OF) {
            Ok((message, warnings))
                if {
                    // A golden is the message, or (FHIR) the message with the warnings its
                    // reading gives.
                    let actual = if expected.get("message").is_some() {
                        serde_json::json!({ "message": message, "warnings": warnings })
                    } else {
                        serde_json::to_value(&message).unwrap_or(Value::Null)
                    };
                    actual == expected
                } => {}
            Ok(_) => group.failures.push(format!(
                "{}: reads into another message than its golden",
                stem(&input)
            )),
            Err(error) => group
                .failures
                .push(format!("{}: refused: {error}", stem(&input))),
        }
    }
    group
}

/// Each document of `dir` refused with the error of its `.error` file.
fn refusals(
    mappings: &Mappings,
    name: &str,
    format: &Format,
    dir: &Path,
    extension: &str,
) -> FixtureGroup {
    let mut group = FixtureGroup {
        name: name.to_owned(),
        total: 0,
        failures: Vec::new(),
    };
    for input in files(dir, extension) {
        let Ok(expected) = std::fs::read_to_string(dir.join(format!("{}.error", stem(&input))))
        else {
            continue;
        };
        group.total += 1;
        let bytes = std::fs::read(&input).unwrap_or_default();
        match translate::read_unplaced(format, &bytes, mappings, AS_OF) {
            Ok(_) => group
                .failures
                .push(format!("{}: accepted, but must be refused", stem(&input))),
            Err(error) if error.to_string().trim() != expected.trim() => group.failures.push(
                format!("{}: refused with another error: {error}", stem(&input)),
            ),
            Err(_) => {}
        }
    }
    group
}

/// The element paths of an XML document (`/Root/Child/Leaf`).
fn element_paths(xml: &[u8]) -> BTreeSet<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut paths = BTreeSet::new();
    let mut buffer = Vec::new();
    loop {
        match reader.read_event_into(&mut buffer) {
            Ok(Event::Start(e)) => {
                stack.push(e.local_name().as_ref().to_owned());
                paths.insert(format!("/{}", stack.join("/")));
            }
            Ok(Event::Empty(e)) => {
                let name = e.local_name().as_ref().to_owned();
                paths.insert(format!("/{}/{name}", stack.join("/")).replace("//", "/"));
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buffer.clear();
    }
    paths
}

/// The elements `examples` use, and those the mapping reports as not mapped.
fn coverage_of(mappings: &Mappings, contract: &str, format: &Format, examples: &Path) -> Coverage {
    let mut coverage = Coverage {
        contract: contract.to_owned(),
        elements: BTreeSet::new(),
        not_mapped: BTreeSet::new(),
    };
    for example in files(examples, "xml") {
        let bytes = std::fs::read(&example).unwrap_or_default();
        coverage.elements.extend(element_paths(&bytes));
        if let Ok((_, warnings)) = translate::read_unplaced(format, &bytes, mappings, AS_OF) {
            for warning in warnings {
                if let Some(path) = warning
                    .split_whitespace()
                    .next()
                    .filter(|p| p.starts_with('/'))
                {
                    coverage.not_mapped.insert(path.to_owned());
                }
            }
        }
    }
    coverage
}

fn mark(yes: bool) -> &'static str {
    if yes { "yes" } else { "—" }
}

/// The report as Markdown.
pub fn markdown(report: &Conformance) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# brygga conformance report\n");
    let _ = writeln!(
        out,
        "Gateway version {}. Every fixture and scenario shipped with it, run against it; fixtures read as of {AS_OF}.\n",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "**Result: {}.**\n",
        if report.passed() {
            "everything passed"
        } else {
            "some checks FAILED (below)"
        }
    );
    let _ = writeln!(out, "## Message kinds per format\n");
    let _ = writeln!(
        out,
        "Each kind of the canonical corpus written in each format (out) and read back (in).\n"
    );
    let _ = write!(out, "| kind |");
    for format in &report.formats {
        let _ = write!(out, " {format} out | {format} in |");
    }
    let _ = writeln!(out);
    let _ = write!(out, "|---|");
    for _ in &report.formats {
        let _ = write!(out, "---|---|");
    }
    let _ = writeln!(out);
    for row in &report.kinds {
        let _ = write!(out, "| `{}` |", row.kind);
        for (written, read) in &row.support {
            let _ = write!(out, " {} | {} |", mark(*written), mark(*read));
        }
        let _ = writeln!(out);
    }
    receiving(&mut out);
    let _ = writeln!(out, "\n## The national platform\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    for (what, how) in &report.national {
        let _ = writeln!(out, "| {what} | {how} |");
    }
    let _ = writeln!(out, "\n## Golden fixtures\n");
    let _ = writeln!(out, "| group | passed | of |\n|---|---|---|");
    for group in &report.fixtures {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            group.name,
            group.total - group.failures.len(),
            group.total
        );
    }
    for group in report.fixtures.iter().filter(|g| !g.failures.is_empty()) {
        let _ = writeln!(out, "\nFailed in {}:\n", group.name);
        for failure in &group.failures {
            let _ = writeln!(out, "- {failure}");
        }
    }
    let _ = writeln!(out, "\n## Mapping coverage\n");
    let _ = writeln!(
        out,
        "Of the elements each contract's examples use, those the mapping reads; the others are reported to the sender as not mapped, never dropped in silence.\n"
    );
    let _ = writeln!(
        out,
        "| contract | elements used | mapped | not mapped |\n|---|---|---|---|"
    );
    for coverage in &report.coverage {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            coverage.contract,
            coverage.elements.len(),
            coverage.elements.len() - coverage.not_mapped.len(),
            if coverage.not_mapped.is_empty() {
                "none".to_owned()
            } else {
                coverage
                    .not_mapped
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    let _ = writeln!(out, "\n## Scenarios\n");
    let _ = writeln!(out, "| scenario | steps | result |\n|---|---|---|");
    for scenario in &report.scenarios {
        let _ = writeln!(
            out,
            "| {} (`{}`) | {} | {} |",
            scenario.name,
            scenario
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            scenario.steps.len(),
            if scenario.passed() {
                "passed"
            } else {
                "FAILED"
            }
        );
    }
    for scenario in report.scenarios.iter().filter(|s| !s.passed()) {
        let _ = writeln!(out, "\n{} failed:\n", scenario.name);
        for step in scenario.steps.iter().filter(|s| !s.differences.is_empty()) {
            for difference in &step.differences {
                let _ = writeln!(out, "- {}: {difference}", step.title);
            }
        }
        if let Some(error) = &scenario.error {
            let _ = writeln!(out, "- {error}");
        }
    }
    out
}

/// What a receiving system must do with the gateway's deliveries: the headers each carries
/// and the three rules of receiving (the same as the README's Delivery section and
/// `brygga receive --store`).
fn receiving(out: &mut String) {
    let _ = writeln!(out, "\n## Receiving deliveries\n");
    let _ = writeln!(
        out,
        "Each delivery is a POST in the subscription's format. Delivery is at least once: the same delivery can arrive more than once, under the same key.\n"
    );
    let _ = writeln!(out, "| header | what it says |\n|---|---|");
    for (header, meaning) in [
        (
            "Idempotency-Key",
            "the delivery: the same on every attempt, different for each step and recipient",
        ),
        ("X-Brygga-Case", "the case the step belongs to"),
        ("X-Brygga-Event", "the step (event) delivered"),
        (
            "X-Brygga-Sequence",
            "the step's number in its case: it grows, with gaps for steps not released to you",
        ),
        (
            "X-Brygga-Attempt",
            "1 for the first attempt, 2 for the next, …",
        ),
        (
            "X-Brygga-Possibly-Delivered",
            "true when an earlier attempt may have reached you (the gateway sent it and never learnt your answer)",
        ),
    ] {
        let _ = writeln!(out, "| `{header}` | {meaning} |");
    }
    let _ = writeln!(out, "\nThe three rules of receiving:\n");
    for rule in [
        "**Drop repeats by key**: a delivery whose `Idempotency-Key` you have taken before is answered 2xx and not applied again.",
        "**Apply in sequence per case**: a case's next step is sent only after the one before it is settled; a lower `X-Brygga-Sequence` after a higher one of the same case can only be a dead letter sent again, and must not overwrite the later state.",
        "**Answer 2xx only after storing**: a 2xx lets the gateway forget the delivery; answer it once the delivery is durably stored, and anything else (5xx, or no answer) when it is not.",
    ] {
        let _ = writeln!(out, "- {rule}");
    }
    let _ = writeln!(
        out,
        "\n`brygga receive --store DIR` is a receiver that follows all three: use it as the reference."
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The report as a standalone HTML page (the Markdown's content, its tables as tables).
pub fn html(report: &Conformance) -> String {
    let mut body = String::new();
    let mut in_table = false;
    let mut in_list = false;
    for line in markdown(report).lines() {
        let cells = |l: &str| -> Vec<String> {
            l.trim_matches('|')
                .split('|')
                .map(|c| escape(c.trim()).replace('`', ""))
                .collect()
        };
        if line.starts_with("|---") {
            continue;
        }
        if line.starts_with('|') {
            if !in_table {
                body.push_str("<table>\n<tr>");
                for cell in cells(line) {
                    let _ = write!(body, "<th>{cell}</th>");
                }
                body.push_str("</tr>\n");
                in_table = true;
            } else {
                body.push_str("<tr>");
                for cell in cells(line) {
                    let _ = write!(body, "<td>{cell}</td>");
                }
                body.push_str("</tr>\n");
            }
            continue;
        }
        if in_table {
            body.push_str("</table>\n");
            in_table = false;
        }
        if let Some(item) = line.strip_prefix("- ") {
            if !in_list {
                body.push_str("<ul>\n");
                in_list = true;
            }
            let _ = writeln!(
                body,
                "<li>{}</li>",
                escape(item).replace('`', "").replace("**", "")
            );
            continue;
        }
        if in_list {
            body.push_str("</ul>\n");
            in_list = false;
        }
        if let Some(title) = line.strip_prefix("## ") {
            let _ = writeln!(body, "<h2>{}</h2>", escape(title));
        } else if let Some(title) = line.strip_prefix("# ") {
            let _ = writeln!(body, "<h1>{}</h1>", escape(title));
        } else if !line.trim().is_empty() {
            let _ = writeln!(body, "<p>{}</p>", escape(line).replace("**", ""));
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    if in_list {
        body.push_str("</ul>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>brygga conformance report</title>\n<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em}}</style></head>\n<body>\n{body}</body>\n</html>\n"
    )
}
