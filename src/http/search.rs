//! FHIR search as the gateway's resource endpoints share it: the query's parameters (an
//! unknown one ignored and reported in the Bundle, or with `Prefer: handling=strict` refused
//! by name), token, identifier and date matching, sorting by `_lastUpdated`, pages
//! of `_count` with `next` links that stay stable while new resources arrive, and the
//! `searchset` Bundle whose `total` counts what the caller may see.
//!
//! Pages are cursors, not offsets: `next` names the last resource of the page (its
//! `lastUpdated` and id), and the next page starts after it in the sort order. A resource
//! created or changed meanwhile sorts after every earlier one, so it is not skipped and
//! nothing shifts under a client paging forward.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::process::calendar::{end_of, start_of};

/// The most resources one page holds, and how many it holds unless `_count` says.
pub const MAX_COUNT: usize = 500;
pub const DEFAULT_COUNT: usize = 50;

/// The parameters every search takes besides its own.
const COMMON: &[&str] = &[
    "_count",
    "_sort",
    "_cursor",
    "_format",
    "_lastUpdated",
    "_id",
    "_summary",
    "_elements",
    "_total",
];

/// A search's query as sent, and whether the client wants an unknown parameter refused
/// (`Prefer: handling=strict`) or ignored (`handling=lenient`, FHIR's default).
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pairs: Vec<(String, String)>,
    strict: bool,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SearchQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<SearchQuery, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
                .map_err(|e| bad(format!("the query string cannot be read: {e}")))?;
        let strict = match super::shaping::prefer(&parts.headers, "handling").as_deref() {
            None | Some("lenient") => false,
            Some("strict") => true,
            Some(other) => {
                return Err(bad(format!("Prefer: handling={other}: strict or lenient")));
            }
        };
        Ok(SearchQuery { pairs, strict })
    }
}

#[cfg(test)]
impl SearchQuery {
    /// A query as if sent with `handling=strict`.
    pub fn strict(pairs: Vec<(String, String)>) -> SearchQuery {
        SearchQuery {
            pairs,
            strict: true,
        }
    }
}

fn bad(diagnostics: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: None,
    }
}

/// A search's query parameters, in the order given (a name may come more than once), and
/// what was ignored of the query.
#[derive(Debug, Clone)]
pub struct Params(Vec<(String, String)>, Vec<String>, bool);

impl Params {
    /// The query's parameters. One that is neither in `own` nor common is refused with the
    /// supported names (`handling=strict`) or left out and reported (lenient). A name may
    /// carry a modifier (`owner:identifier`); the name before it is checked.
    pub fn new(query: SearchQuery, resource: &str, own: &[&str]) -> Result<Params, ApiError> {
        let known = |name: &str| {
            let base = name.split(':').next().unwrap_or_default();
            own.contains(&base) || COMMON.contains(&base)
        };
        let supported = || {
            format!(
                "{resource} is searched by {}, and {}",
                own.join(", "),
                COMMON.join(", ")
            )
        };
        let (pairs, unknown): (Vec<_>, Vec<_>) =
            query.pairs.into_iter().partition(|(name, _)| known(name));
        if let Some((name, _)) = unknown.first()
            && query.strict
        {
            return Err(bad(format!(
                "search parameter {name:?} is not supported; {}",
                supported()
            )));
        }
        let ignored = unknown
            .into_iter()
            .map(|(name, _)| {
                format!(
                    "search parameter {name:?} is not supported and was ignored; {}",
                    supported()
                )
            })
            .collect();
        // Dates are read before anything is searched, so that a wrong one is refused even
        // where nothing would be compared with it.
        for (name, value) in &pairs {
            if DATES.contains(&name.as_str()) {
                dates_match(&[value.as_str()], None, name)?;
            }
        }
        Ok(Params(pairs, ignored, query.strict))
    }

    /// What of the query was not used or was narrowed, one sentence each (a lenient search's
    /// warnings).
    pub fn ignored(&self) -> &[String] {
        &self.1
    }

    /// Whether the client asked for a strict search (`Prefer: handling=strict`): what a lenient
    /// search would narrow with a warning is then refused.
    pub fn strict(&self) -> bool {
        self.2
    }

    /// Reports how a lenient search narrowed the query.
    pub fn warn(&mut self, warning: String) {
        self.1.push(warning);
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The query string with `_cursor` replaced by `cursor` (left out without one), for links.
    pub fn query_with_cursor(&self, cursor: Option<&str>) -> String {
        self.0
            .iter()
            .filter(|(name, _)| name != "_cursor")
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain(cursor.map(|c| ("_cursor", c)))
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Whether a token search value (`code`, `system|code` or `|code`; several comma-separated)
/// matches one of `codings`.
pub fn token_matches(wanted: &str, codings: Option<&Vec<Value>>) -> bool {
    let codings = codings.map(Vec::as_slice).unwrap_or_default();
    wanted.split(',').any(|token| {
        codings.iter().any(|coding| {
            system_value_matches(
                token,
                coding.get("system").and_then(Value::as_str),
                coding.get("code").and_then(Value::as_str),
            )
        })
    })
}

/// The codes the query's `status` asks for (comma-separated), none when it asks for none;
/// each must be one of `allowed` (the element's required value set), another is refused,
/// naming the codes, since it could match nothing.
pub fn statuses(
    params: &Params,
    element: &str,
    allowed: &[&str],
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(wanted) = params.first("status") else {
        return Ok(None);
    };
    wanted
        .split(',')
        .map(|code| {
            if allowed.contains(&code) {
                Ok(code.to_owned())
            } else {
                Err(bad(format!(
                    "status={wanted}: {code:?} is not a code of {element} ({})",
                    allowed.join(", ")
                )))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Whether an identifier search value (`value` or `system|value`; several comma-separated)
/// matches one of `identifiers` (FHIR `Identifier` objects).
pub fn identifier_matches<'a>(
    wanted: &str,
    identifiers: impl IntoIterator<Item = &'a Value> + Clone,
) -> bool {
    wanted.split(',').any(|token| {
        identifiers.clone().into_iter().any(|identifier| {
            system_value_matches(
                token,
                identifier.get("system").and_then(Value::as_str),
                identifier.get("value").and_then(Value::as_str),
            )
        })
    })
}

fn system_value_matches(token: &str, system: Option<&str>, value: Option<&str>) -> bool {
    let (wanted_system, wanted_value) = match token.split_once('|') {
        Some((system, value)) => (Some(system), value),
        None => (None, token),
    };
    value == Some(wanted_value)
        && match wanted_system {
            None => true,
            Some("") => system.is_none(),
            Some(wanted) => system == Some(wanted),
        }
}

/// Whether a reference search value (`Type/id`, or `[system|]value` of the reference's
/// identifier) matches the `Reference` `reference`.
pub fn reference_matches(wanted: &str, reference: &Value) -> bool {
    wanted.split(',').any(|token| {
        reference.get("reference").and_then(Value::as_str) == Some(token)
            || reference
                .get("identifier")
                .is_some_and(|identifier| identifier_matches(token, std::iter::once(identifier)))
    })
}

/// The instants `[from, to)` a date search value (without its prefix) stands for: a whole day
/// in Europe/Stockholm for a date, one second for a date-time.
pub fn date_range(text: &str, name: &str) -> Result<(Timestamp, Timestamp), ApiError> {
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && !text.contains('T')
    {
        return Ok((start_of(date), end_of(date)));
    }
    let at: Timestamp = text.parse().map_err(|_| {
        bad(format!(
            "{name}={text}: a date (2026-12-01) or a date-time with its offset (2026-12-01T10:00:00+01:00), after an optional prefix eq, ne, gt, ge, lt or le"
        ))
    })?;
    let end = at
        .checked_add(jiff::SignedDuration::from_secs(1))
        .map_err(|e| bad(format!("{name}={text}: {e}")))?;
    Ok((at, end))
}

/// The date parameters of the gateway's searches (`[prefix]date` or date-time).
const DATES: &[&str] = &["_lastUpdated", "date", "period"];

/// Whether `at` satisfies every value of the date parameter `name` (each with an optional
/// prefix: `eq`, `ne`, `gt`, `ge`, `lt`, `le`). A resource without the date matches no value.
pub fn dates_match(values: &[&str], at: Option<Timestamp>, name: &str) -> Result<bool, ApiError> {
    for value in values {
        let (prefix, text) = match value.get(..2) {
            Some(p @ ("eq" | "ne" | "gt" | "ge" | "lt" | "le")) => (p, &value[2..]),
            Some("sa" | "eb" | "ap") => {
                return Err(bad(format!(
                    "{name}={value}: the prefixes sa, eb and ap are not supported; eq, ne, gt, ge, lt and le are"
                )));
            }
            _ => ("eq", *value),
        };
        let (from, to) = date_range(text, name)?;
        let Some(at) = at else {
            return Ok(false);
        };
        let matched = match prefix {
            "eq" => from <= at && at < to,
            "ne" => !(from <= at && at < to),
            "gt" => at >= to,
            "ge" => at >= from,
            "lt" => at < from,
            _ => at < to,
        };
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The date-time at `value` (a FHIR `dateTime` or `date` text), if it is one.
pub fn instant(value: &Value) -> Option<Timestamp> {
    let text = value.as_str()?;
    text.parse::<Timestamp>()
        .ok()
        .or_else(|| text.parse::<jiff::civil::Date>().ok().map(start_of))
}

/// One resource a search found.
#[derive(Debug, Clone)]
pub struct Hit {
    pub last_updated: Timestamp,
    pub id: String,
    pub resource: Value,
}

/// Whether `hit` passes `_id` and `_lastUpdated`.
pub fn common_filters(params: &Params, hit: &Hit) -> Result<bool, ApiError> {
    if let Some(ids) = params.first("_id")
        && !ids.split(',').any(|id| id == hit.id)
    {
        return Ok(false);
    }
    dates_match(
        &params.all("_lastUpdated"),
        Some(hit.last_updated),
        "_lastUpdated",
    )
}

/// The Bundle entry that reports what a lenient search ignored (`search.mode` outcome), if
/// it ignored anything.
pub fn ignored_outcome(params: &Params) -> Option<Value> {
    (!params.ignored().is_empty()).then(|| {
        json!({
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": params.ignored().iter().map(|warning| json!({
                    "severity": "warning",
                    "code": "not-supported",
                    "diagnostics": warning,
                })).collect::<Vec<_>>(),
            },
            "search": { "mode": "outcome" },
        })
    })
}

/// The page of `hits` the parameters ask for, as a `searchset` Bundle with `self` and `next`
/// links and `fullUrl`s absolute under `base`; `include` gives the resources `_include` adds
/// for the page's matches.
pub fn searchset(
    base: &super::Base,
    kind: &str,
    params: &Params,
    mut hits: Vec<Hit>,
    include: impl FnOnce(&[Hit]) -> Vec<Value>,
) -> Result<Value, ApiError> {
    let count = match params.first("_count") {
        None => DEFAULT_COUNT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_COUNT)
            .ok_or_else(|| bad(format!("_count={text}: 0 to {MAX_COUNT}")))?,
    };
    let descending = match params.first("_sort") {
        None | Some("_lastUpdated") => false,
        Some("-_lastUpdated") => true,
        Some(other) => {
            return Err(bad(format!(
                "_sort={other}: {kind} is sorted by _lastUpdated or -_lastUpdated"
            )));
        }
    };
    hits.sort_by(|a, b| (a.last_updated, &a.id).cmp(&(b.last_updated, &b.id)));
    if descending {
        hits.reverse();
    }
    let total = hits.len();
    let start = match params.first("_cursor") {
        None => 0,
        Some(cursor) => {
            let (millis, id) = cursor
                .split_once('.')
                .and_then(|(m, id)| Some((m.parse::<i64>().ok()?, id)))
                .and_then(|(m, id)| Some((Timestamp::from_millisecond(m).ok()?, id)))
                .ok_or_else(|| {
                    bad(format!(
                        "_cursor={cursor}: not a cursor of this gateway; follow the next link as it is given"
                    ))
                })?;
            let after = |hit: &Hit| {
                let key = (hit.last_updated, hit.id.as_str());
                if descending {
                    key < (millis, id)
                } else {
                    key > (millis, id)
                }
            };
            hits.iter().position(after).unwrap_or(hits.len())
        }
    };
    let page: Vec<Hit> = hits.into_iter().skip(start).collect();
    let more = page.len() > count;
    let page: Vec<Hit> = page.into_iter().take(count).collect();
    let mut links = vec![json!({
        "relation": "self",
        "url": base.fhir(&format!("{kind}?{}", params.query_with_cursor(params.first("_cursor")))),
    })];
    if more && let Some(last) = page.last() {
        let cursor = format!("{}.{}", last.last_updated.as_millisecond(), last.id);
        links.push(json!({
            "relation": "next",
            "url": base.fhir(&format!("{kind}?{}", params.query_with_cursor(Some(&cursor)))),
        }));
    }
    let included = include(&page);
    let outcome = ignored_outcome(params);
    let mut entries: Vec<Value> = page
        .into_iter()
        .map(|hit| {
            json!({
                "fullUrl": base.fhir(&format!("{kind}/{}", hit.id)),
                "resource": hit.resource,
                "search": { "mode": "match" },
            })
        })
        .collect();
    entries.extend(included.into_iter().map(|resource| {
        let kind = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = resource["id"].as_str().unwrap_or_default().to_owned();
        json!({
            "fullUrl": base.fhir(&format!("{kind}/{id}")),
            "resource": resource,
            "search": { "mode": "include" },
        })
    }));
    entries.extend(outcome);
    Ok(json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn dates_are_matched_with_their_prefixes_and_a_date_is_a_stockholm_day() {
        // 23:30 UTC on 30 November is 00:30 on 1 December in Stockholm.
        let late = at("2026-11-30T23:30:00Z");
        assert!(dates_match(&["2026-12-01"], late, "d").unwrap());
        assert!(!dates_match(&["2026-11-30"], late, "d").unwrap());
        assert!(dates_match(&["ge2026-12-01", "lt2026-12-02"], late, "d").unwrap());
        assert!(!dates_match(&["gt2026-12-01"], late, "d").unwrap());
        assert!(dates_match(&["le2026-12-01T00:30:00+01:00"], late, "d").unwrap());
        assert!(!dates_match(&["lt2026-12-01T00:30:00+01:00"], late, "d").unwrap());
        assert!(dates_match(&["ne2026-11-30"], late, "d").unwrap());
        assert!(!dates_match(&["2026-12-01"], None, "d").unwrap());
        let error = dates_match(&["sa2026-12-01"], late, "period").unwrap_err();
        assert!(error.to_string().contains("period=sa2026-12-01"), "{error}");
        let error = dates_match(&["yesterday"], late, "period").unwrap_err();
        assert!(error.to_string().contains("a date (2026-12-01)"), "{error}");
    }

    #[test]
    fn tokens_and_identifiers_match_with_or_without_their_system() {
        let codings = vec![json!({ "system": "urn:s", "code": "a" })];
        assert!(token_matches("a", Some(&codings)));
        assert!(token_matches("urn:s|a", Some(&codings)));
        assert!(token_matches("b,urn:s|a", Some(&codings)));
        assert!(!token_matches("urn:t|a", Some(&codings)));
        assert!(!token_matches("|a", Some(&codings)));
        assert!(!token_matches("a", None));
        let reference = json!({ "reference": "Organization/x", "identifier": { "system": "urn:oid:1", "value": "2380" } });
        assert!(reference_matches("Organization/x", &reference));
        assert!(reference_matches("2380", &reference));
        assert!(reference_matches("urn:oid:1|2380", &reference));
        assert!(!reference_matches("urn:oid:2|2380", &reference));
    }

    fn hits(n: usize) -> Vec<Hit> {
        (0..n)
            .map(|i| Hit {
                last_updated: Timestamp::from_second(1_800_000_000 + (i as i64 / 2)).unwrap(),
                id: format!("r{i}"),
                resource: json!({ "id": format!("r{i}") }),
            })
            .collect()
    }

    fn ids(bundle: &Value) -> Vec<String> {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn next(bundle: &Value) -> Option<Params> {
        let url = bundle["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")?["url"]
            .as_str()?
            .to_owned();
        let query = url.split_once('?').unwrap().1;
        let pairs = query
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_owned(), v.replace("%7C", "|"))
            })
            .collect();
        Some(Params::new(SearchQuery::strict(pairs), "T", &["patient"]).unwrap())
    }

    /// The page of `n` hits that `params` asks for, under a test base.
    fn page(params: &Params, n: usize) -> Result<Value, ApiError> {
        searchset(
            &super::super::Base::new("http://gw.test"),
            "T",
            params,
            hits(n),
            |_| Vec::new(),
        )
    }

    #[test]
    fn pages_follow_each_other_without_a_gap_or_a_repeat_even_as_resources_arrive() {
        let params = Params::new(
            SearchQuery::strict(vec![
                ("_count".into(), "3".into()),
                ("patient".into(), "s|v".into()),
            ]),
            "T",
            &["patient"],
        )
        .unwrap();
        let first = page(&params, 7).unwrap();
        assert_eq!(ids(&first), ["r0", "r1", "r2"]);
        assert_eq!(first["total"], 7);
        let params = next(&first).unwrap();
        assert_eq!(params.first("patient"), Some("s|v"));
        // Two more arrive before the client asks for the next page.
        let second = page(&params, 9).unwrap();
        assert_eq!(ids(&second), ["r3", "r4", "r5"]);
        let third = page(&next(&second).unwrap(), 9).unwrap();
        assert_eq!(ids(&third), ["r6", "r7", "r8"]);
        assert!(next(&third).is_none(), "{third}");
    }

    #[test]
    fn descending_order_and_bad_paging_parameters() {
        let params = Params::new(
            SearchQuery::strict(vec![
                ("_sort".into(), "-_lastUpdated".into()),
                ("_count".into(), "2".into()),
            ]),
            "T",
            &[],
        )
        .unwrap();
        let first = page(&params, 5).unwrap();
        assert_eq!(ids(&first), ["r4", "r3"]);
        let second = page(&next(&first).unwrap(), 5).unwrap();
        assert_eq!(ids(&second), ["r2", "r1"]);
        for (name, value, says) in [
            ("_count", "501", "0 to 500"),
            ("_sort", "status", "_lastUpdated or -_lastUpdated"),
            ("_cursor", "nonsense", "follow the next link"),
        ] {
            let params = Params::new(
                SearchQuery::strict(vec![(name.into(), value.into())]),
                "T",
                &[],
            )
            .unwrap();
            let error = page(&params, 1).unwrap_err();
            assert!(error.to_string().contains(says), "{error}");
        }
        let error = Params::new(
            SearchQuery::strict(vec![("colour".into(), "red".into())]),
            "T",
            &["patient"],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("\"colour\" is not supported"),
            "{error}"
        );
    }

    #[test]
    fn a_lenient_search_ignores_an_unknown_parameter_and_says_so() {
        let query = SearchQuery {
            pairs: vec![
                ("colour".into(), "red".into()),
                ("_count".into(), "1".into()),
            ],
            strict: false,
        };
        let params = Params::new(query, "T", &["patient"]).unwrap();
        let found = page(&params, 2).unwrap();
        assert_eq!(found["total"], 2);
        let entries = found["entry"].as_array().unwrap();
        let outcome = entries.last().unwrap();
        assert_eq!(outcome["search"]["mode"], "outcome");
        let warning = outcome["resource"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap();
        assert!(
            warning.contains("\"colour\" is not supported and was ignored"),
            "{warning}"
        );
        // The links name only what was used.
        assert_eq!(found["link"][0]["url"], "http://gw.test/fhir/T?_count=1");
    }
}
