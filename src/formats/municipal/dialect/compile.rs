//! Compiling a dialect's TOML into rules: paths parsed, fragments expanded, transforms built
//! and checked, code tables bound; every error names the file and the rule.

use super::*;
use crate::formats::municipal::path::{XML_NAMESPACE, XMLNS_NAMESPACE};

/// Compiles a dialect; an error names the file (relative to the dialect's folder) and the
/// problem.
pub(super) fn compile(
    name: &str,
    spec: DialectSpec,
    tables: &CodeTables,
    messages: Vec<(std::path::PathBuf, String, MessageSpec)>,
) -> Result<Dialect, (String, String)> {
    let at = |file: &str| {
        let file = file.to_owned();
        move |problem: String| (file.clone(), problem)
    };
    let dialect_at = at("dialect.toml");
    let (namespaces, root, limits) = header(&spec).map_err(&dialect_at)?;
    let encoding = match &spec.encoding {
        None => crate::formats::encoding::Output::utf8(),
        Some(label) => crate::formats::encoding::Output::parse(label)
            .map_err(|e| dialect_at(format!("encoding: {e}")))?,
    };
    // Names are markup, which has no character references: the root and prefixes must fit.
    // (Every other name is checked when the examples are written back, at load.)
    for name in
        std::iter::once(spec.root.as_str()).chain(spec.namespaces.keys().map(String::as_str))
    {
        if !encoding.holds(name) {
            return Err(dialect_at(format!(
                "encoding: the name {name:?} cannot be written in {}",
                encoding.label()
            )));
        }
    }
    let compiler = Compiler {
        namespaces: &namespaces,
        tables,
        fragments: &spec.fragment,
        types: &spec.types,
    };
    let mut envelope = compiler
        .rules(&spec.envelope, "envelope", 0)
        .map_err(&dialect_at)?;
    super::items::mark(&mut envelope).map_err(|e| dialect_at(format!("[[envelope]] {e}")))?;
    check_writes(&envelope).map_err(|e| dialect_at(format!("[[envelope]] {e}")))?;
    let envelope_model = super::super::model::envelope();
    super::fields::check(&envelope, &envelope_model, &envelope_model, "the envelope")
        .map_err(|e| dialect_at(format!("[[envelope]] {e}")))?;
    let written = writes(&envelope);
    for required in [
        "event.source.message_id",
        "event.source.sender",
        "sent_at",
        "person",
    ] {
        if !written.contains(required) {
            return Err(dialect_at(format!(
                "[[envelope]] has no rule for {required}, which every message needs"
            )));
        }
    }
    let form = |form: &FormSpec, what: &str| -> Result<Form, (String, String)> {
        Ok(Form {
            root: Name::parse(&form.root, &namespaces)
                .map_err(|e| dialect_at(format!("[{what}] root: {e}")))?,
            rules: compiler
                .rules(&form.rule, &format!("[{what}] rule"), 0)
                .map_err(&dialect_at)?,
        })
    };
    let receipt = form(&spec.receipt, "receipt")?;
    let error = form(&spec.error, "error")?;

    let mut kinds: Vec<MessageKind> = Vec::new();
    for (path, stem, message) in messages {
        let file = format!(
            "messages/{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let message_at = at(&file);
        let kind = message_kind(&compiler, &namespaces, &written, &kinds, stem, message)
            .map_err(&message_at)?;
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err((
            "messages".to_owned(),
            "the folder has no message kinds (messages/*.toml)".to_owned(),
        ));
    }
    let numbers_cases = ["case.value", "case.issuer"]
        .iter()
        .all(|field| required_in_envelope(&envelope, field));
    let selectors = super::selectors::collect(&envelope, &kinds);
    let detection = DetectionIndex::of(&kinds);
    Ok(Dialect {
        name: name.to_owned(),
        description: spec.description,
        format: format!("{FORMAT_PREFIX}{name}"),
        namespaces,
        root,
        encoding,
        limits,
        envelope,
        kinds,
        receipt,
        error,
        tables: tables.clone(),
        examples_read: 0,
        numbers_cases,
        selectors,
        detection,
    })
}

/// Whether a top-level envelope rule reads `field` and requires it.
fn required_in_envelope(envelope: &[Rule], field: &str) -> bool {
    envelope.iter().any(|rule| match &rule.body {
        Body::Value(v) => {
            v.required
                && rule.when.is_empty()
                && rule.unless.is_empty()
                && v.field.iter().any(|f| f.to_string() == field)
        }
        _ => false,
    })
}

/// The dialect's namespaces, root element and limits, and its type defaults checked.
fn header(spec: &DialectSpec) -> Result<(Namespaces, Name, Limits), String> {
    let mut namespaces = Namespaces::default();
    for (prefix, uri) in &spec.namespaces {
        if uri.trim().is_empty() {
            return Err(format!("[namespaces] {prefix}: the URI is empty"));
        }
        match (prefix.as_str(), uri.as_str()) {
            // Bound by XML itself; declaring it as bound changes nothing.
            ("xml", XML_NAMESPACE) => continue,
            ("xml", _) => {
                return Err(format!(
                    "[namespaces] xml: the prefix xml is bound to {XML_NAMESPACE} by XML itself (xml:lang needs no declaration); it cannot name {uri:?}"
                ));
            }
            ("xmlns", _) => {
                return Err(
                    "[namespaces] xmlns: the prefix xmlns only declares namespaces; give the namespace another prefix"
                        .to_owned(),
                );
            }
            (_, XML_NAMESPACE | XMLNS_NAMESPACE) => {
                return Err(format!(
                    "[namespaces] {prefix}: {uri} is reserved by XML (its names are written xml:…, e.g. xml:lang); no other prefix or default may name it"
                ));
            }
            _ => {}
        }
        if prefix == "default" {
            namespaces.default = Some(uri.clone());
        } else {
            namespaces.prefixed.push((prefix.clone(), uri.clone()));
        }
    }
    let root = Name::parse(&spec.root, &namespaces).map_err(|e| format!("root: {e}"))?;
    let defaults = Limits {
        max_bytes: 1024 * 1024,
        max_depth: 32,
        max_elements: 10_000,
    };
    let limits = match &spec.limits {
        None => defaults,
        Some(l) => Limits {
            max_bytes: l.max_bytes.unwrap_or(defaults.max_bytes),
            max_depth: l.max_depth.unwrap_or(defaults.max_depth),
            max_elements: l.max_elements.unwrap_or(defaults.max_elements),
        },
    };
    for (type_name, defaults) in &spec.types {
        let applies = match type_name.as_str() {
            "datetime" => defaults.layout.is_none(),
            "date" => defaults.layout.is_none() && defaults.zone.is_none(),
            "person-id" => defaults.format.is_none() && defaults.zone.is_none(),
            _ => {
                return Err(format!(
                    "[types.{type_name}]: defaults can be given for datetime, date and person-id"
                ));
            }
        };
        if !applies {
            return Err(format!(
                "[types.{type_name}]: datetime takes format and zone, date takes format, person-id takes layout"
            ));
        }
    }
    Ok((namespaces, root, limits))
}

/// One message kind of the dialect (`messages/<stem>.toml`), checked against the kinds
/// before it and what the envelope's rules write.
fn message_kind(
    compiler: &Compiler<'_>,
    namespaces: &Namespaces,
    written: &BTreeSet<String>,
    earlier: &[MessageKind],
    stem: String,
    message: MessageSpec,
) -> Result<MessageKind, String> {
    let kind = EventKind::NAMES
        .iter()
        .copied()
        .find(|k| *k == message.kind)
        .ok_or_else(|| {
            format!(
                "kind {:?} is not a canonical event kind; expected one of {}",
                message.kind,
                EventKind::NAMES.join(", ")
            )
        })?;
    let detect = conditions(&message.detect, namespaces).map_err(|e| format!("detect: {e}"))?;
    if detect.is_empty() {
        return Err("detect is empty".to_owned());
    }
    if let Some(other) = earlier.iter().find(|k| {
        k.detect.iter().map(|c| &c.source).collect::<Vec<_>>()
            == detect.iter().map(|c| &c.source).collect::<Vec<_>>()
    }) {
        return Err(format!(
            "detect is the same as in messages/{}.toml; a document must be one kind",
            other.name
        ));
    }
    let context = message
        .context
        .as_deref()
        .map(|c| XmlPath::parse(c, namespaces))
        .transpose()
        .map_err(|e| format!("context: {e}"))?;
    if context.as_ref().is_some_and(|c| c.attribute.is_some()) {
        return Err("context names an element, not an attribute".to_owned());
    }
    let occurred_at = message
        .occurred_at
        .as_deref()
        .map(CanonPath::parse)
        .transpose()
        .map_err(|e| format!("occurred_at: {e}"))?;
    let mut rules = compiler.rules(&message.rule, "rule", 0)?;
    check_writes(&rules)?;
    super::items::mark(&mut rules)?;
    let model = super::super::model::of_kind(kind)
        .ok_or_else(|| format!("kind {kind:?} has no canonical model"))?;
    super::fields::check(&rules, &model, &model, &format!("a message of kind {kind}"))?;
    if let Some(path) = &occurred_at {
        let mut all = written.clone();
        all.extend(writes(&rules));
        if !all.contains(&path.to_string()) {
            return Err(format!(
                "occurred_at names {path}, which no rule of the message or the envelope sets"
            ));
        }
    }
    Ok(MessageKind {
        name: stem,
        kind,
        direction: message.direction,
        detect,
        context,
        occurred_at,
        rules,
    })
}

/// Two rules of one list that write the same attribute or element text, neither with a
/// condition, would write it twice (or one value over another): refused at load, naming both.
/// Rules with `when`/`unless` are alternatives, decided as the document is written.
fn check_writes(rules: &[Rule]) -> Result<(), String> {
    let key = |path: &XmlPath| {
        let names: Vec<String> = path
            .elements
            .iter()
            .map(|n| {
                let filter = n
                    .filter
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!(
                    "{{{}}}{}{filter}",
                    n.namespace.as_deref().unwrap_or(""),
                    n.local
                )
            })
            .collect();
        let attribute = path
            .attribute
            .as_ref()
            .map(|a| (a.namespace.clone(), a.local.clone()));
        (path.absolute, names, attribute)
    };
    let mut seen: Vec<(_, &str, &XmlPath)> = Vec::new();
    for rule in rules {
        let unconditional = rule.when.is_empty() && rule.unless.is_empty();
        let paths: Vec<&XmlPath> = match &rule.body {
            Body::Value(value) => value
                .xml
                .iter()
                .filter(|p| p.elements.len() + usize::from(p.attribute.is_some()) > 0)
                .collect(),
            Body::Fixed { xml, .. } => vec![xml],
            Body::Group(group) => {
                check_writes(&group.rules)?;
                Vec::new()
            }
            _ => Vec::new(),
        };
        if !unconditional {
            continue;
        }
        for path in paths {
            let k = key(path);
            if let Some((_, origin, _)) = seen.iter().find(|(other, _, _)| *other == k) {
                return Err(format!(
                    "{} and {origin} both write {}: give one of them a when or unless, or another place",
                    rule.origin, path.source
                ));
            }
            seen.push((k, &rule.origin, path));
        }
    }
    Ok(())
}

fn conditions(spec: &OneOrMany, namespaces: &Namespaces) -> Result<Vec<Condition>, String> {
    spec.to_vec()
        .iter()
        .map(|c| Condition::parse(c, namespaces))
        .collect()
}

/// The canonical paths (from the message root) that top-level rules and field-less groups
/// set, for the start-up checks.
fn writes(rules: &[Rule]) -> BTreeSet<String> {
    fn walk(rules: &[Rule], prefix: &str, out: &mut BTreeSet<String>) {
        let join = |p: &CanonPath| {
            if prefix.is_empty() {
                p.to_string()
            } else {
                format!("{prefix}.{p}")
            }
        };
        for rule in rules {
            match &rule.body {
                Body::Value(v) => out.extend(v.field.iter().map(join)),
                Body::Const { field, .. } | Body::Copy { field, .. } => {
                    out.insert(join(field));
                }
                Body::Group(g) if !g.repeated => match &g.field {
                    Some(field) => {
                        let here = join(field);
                        out.insert(here.clone());
                        walk(&g.rules, &here, out);
                    }
                    None => walk(&g.rules, prefix, out),
                },
                Body::Group(g) => {
                    if let Some(field) = &g.field {
                        out.insert(join(field));
                    }
                }
                Body::Fixed { .. } | Body::Check { .. } | Body::Ignore { .. } => {}
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(rules, "", &mut out);
    out
}

struct Compiler<'a> {
    namespaces: &'a Namespaces,
    tables: &'a CodeTables,
    fragments: &'a BTreeMap<String, Vec<RuleSpec>>,
    types: &'a BTreeMap<String, TypeDefaults>,
}

/// Fragments may use fragments, this deep at most (a cycle is an error, not a hang).
const MAX_NESTING: usize = 8;

fn describe(spec: &RuleSpec) -> String {
    let show = |v: &OneOrMany| match v {
        OneOrMany::One(s) => format!("{s:?}"),
        OneOrMany::Many(v) => format!("{v:?}"),
    };
    if let Some(xml) = &spec.xml {
        format!(" (xml = {})", show(xml))
    } else if let Some(each) = &spec.each {
        format!(" (each = {each:?})")
    } else if let Some(field) = &spec.field {
        format!(" (field = {})", show(field))
    } else {
        String::new()
    }
}

fn json_of(value: &toml::Value) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("not a JSON value: {e}"))
}

impl Compiler<'_> {
    fn rules(&self, specs: &[RuleSpec], label: &str, depth: usize) -> Result<Vec<Rule>, String> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let origin = format!("{label} {}{}", i + 1, describe(spec));
                self.rule(spec, &origin, depth)
                    .map_err(|e| format!("{origin}: {e}"))
            })
            .collect()
    }

    fn xml(&self, text: &str) -> Result<XmlPath, String> {
        XmlPath::parse(text, self.namespaces)
    }

    fn transform(&self, spec: &RuleSpec) -> Result<Transform, String> {
        let name = spec.value_type.as_deref().unwrap_or("string");
        if let Some(table) = &spec.table {
            if spec.value_type.is_some() {
                return Err("give either type or table, not both".to_owned());
            }
            let table = self.tables.get(table).ok_or_else(|| {
                let known: Vec<&str> = self.tables.names().collect();
                format!(
                    "table {table:?} is not in codes.toml (tables: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
            return Ok(Transform::Code(table.clone()));
        }
        let unused = |key: &str, present: bool| {
            if present {
                Err(format!("{key} does not apply to type {name}"))
            } else {
                Ok(())
            }
        };
        if !matches!(name, "date" | "datetime") {
            unused("format", spec.format.is_some())?;
        }
        if name != "datetime" {
            unused("zone", spec.zone.is_some())?;
        }
        if name != "person-id" {
            unused("layout", spec.layout.is_some())?;
        }
        if name != "string" {
            unused("max_length", spec.max_length.is_some())?;
        }
        let defaults = self.types.get(name).cloned().unwrap_or_default();
        let format = spec.format.clone().or(defaults.format);
        let zone = spec.zone.clone().or(defaults.zone);
        let layout = spec.layout.clone().or(defaults.layout);
        let transform = match name {
            "string" => Transform::String {
                max_length: spec.max_length,
            },
            "integer" => Transform::Integer,
            "boolean" => Transform::Boolean,
            "date" => Transform::Date {
                format: format.unwrap_or_else(|| "%Y-%m-%d".to_owned()).into(),
            },
            "datetime" => {
                let zone = match zone.as_deref().unwrap_or("Europe/Stockholm") {
                    "Europe/Stockholm" => Zone::Stockholm,
                    "offset" => Zone::Offset,
                    "UTC" => Zone::Utc,
                    other => {
                        return Err(format!(
                            "zone {other:?} is not Europe/Stockholm, offset or UTC"
                        ));
                    }
                };
                let format = format.unwrap_or_else(|| match zone {
                    Zone::Offset => "%Y-%m-%dT%H:%M:%S%:z".to_owned(),
                    _ => "%Y-%m-%dT%H:%M:%S".to_owned(),
                });
                Transform::DateTime {
                    format: format.into(),
                    zone,
                }
            }
            "person-id" => {
                let layout = layout.as_deref().unwrap_or("YYYYMMDD-NNNC");
                Transform::PersonId {
                    layout: Layout::parse(layout).ok_or_else(|| {
                        format!(
                            "layout {layout:?} is not one of {}",
                            Layout::NAMES.join(", ")
                        )
                    })?,
                }
            }
            "hsa-id" => Transform::HsaId,
            "kommunkod" => Transform::Kommunkod,
            other => {
                return Err(format!(
                    "type {other:?} is not one of {} (or give a table)",
                    TYPES.join(", ")
                ));
            }
        };
        transform.check()?;
        Ok(transform)
    }

    fn rule(&self, spec: &RuleSpec, origin: &str, depth: usize) -> Result<Rule, String> {
        let when = spec
            .when
            .as_ref()
            .map(|c| conditions(c, self.namespaces))
            .transpose()?
            .unwrap_or_default();
        let unless = spec
            .unless
            .as_ref()
            .map(|c| conditions(c, self.namespaces))
            .transpose()?
            .unwrap_or_default();
        let body = self.body(spec, origin, depth)?;
        Ok(Rule {
            origin: origin.to_owned(),
            when,
            unless,
            body,
        })
    }

    fn body(&self, spec: &RuleSpec, origin: &str, depth: usize) -> Result<Body, String> {
        let fields = spec
            .field
            .as_ref()
            .map(|f| {
                f.to_vec()
                    .iter()
                    .map(|p| CanonPath::parse(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let xmls = spec
            .xml
            .as_ref()
            .map(|x| {
                x.to_vec()
                    .iter()
                    .map(|p| self.xml(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let is_group = spec.rules.is_some() || spec.fragment.is_some() || spec.each.is_some();
        let leaf_keys = spec.value_type.is_some()
            || spec.table.is_some()
            || spec.format.is_some()
            || spec.separator.is_some()
            || spec.default.is_some();

        if let Some(ignore) = &spec.ignore {
            if spec.xml.is_some()
                || spec.field.is_some()
                || is_group
                || leaf_keys
                || spec.check.is_some()
            {
                return Err(
                    "ignore stands alone (with when or unless): the paths it names are not read"
                        .to_owned(),
                );
            }
            let (mut xml, mut anywhere) = (Vec::new(), Vec::new());
            for path in ignore.to_vec() {
                match path.trim().strip_prefix("//") {
                    Some(rest) => {
                        let path = self.xml(rest)?;
                        if path.absolute || (path.elements.is_empty() && path.attribute.is_none()) {
                            return Err(format!(
                                "ignore {:?}: '//' is followed by an element or attribute name, looked for at any depth (//@xsi:nil, //Intern)",
                                path.source
                            ));
                        }
                        anywhere.push(path);
                    }
                    None => xml.push(self.xml(&path)?),
                }
            }
            return Ok(Body::Ignore { xml, anywhere });
        }
        if let Some(check) = &spec.check {
            if spec.xml.is_some() || spec.field.is_some() || is_group || leaf_keys {
                return Err("a check stands alone, with its message".to_owned());
            }
            let message = spec
                .message
                .clone()
                .ok_or("a check needs a message saying what the document lacks")?;
            return Ok(Body::Check {
                conditions: conditions(check, self.namespaces)?,
                message,
            });
        }
        if spec.message.is_some() {
            return Err("message belongs to a check".to_owned());
        }
        if let Some(copy) = &spec.copy {
            let [field] = fields.as_slice() else {
                return Err("copy needs exactly one field".to_owned());
            };
            if spec.xml.is_some() || is_group || leaf_keys || spec.constant.is_some() {
                return Err("copy takes only field (and conditions)".to_owned());
            }
            return Ok(Body::Copy {
                field: field.clone(),
                from: CanonPath::parse(copy)?,
            });
        }
        if let Some(constant) = &spec.constant {
            let [field] = fields.as_slice() else {
                return Err("const needs exactly one field".to_owned());
            };
            if spec.xml.is_some() || is_group || leaf_keys {
                return Err(
                    "const sets a canonical field without reading XML; it takes no xml or type"
                        .to_owned(),
                );
            }
            return Ok(Body::Const {
                field: field.clone(),
                value: json_of(constant)?,
            });
        }
        if let Some(fixed) = &spec.fixed {
            let [xml] = xmls.as_slice() else {
                return Err("fixed needs exactly one xml path".to_owned());
            };
            if spec.field.is_some() || is_group || leaf_keys {
                return Err("fixed takes only xml (and conditions)".to_owned());
            }
            return Ok(Body::Fixed {
                xml: xml.clone(),
                value: fixed.clone(),
                among_items: false,
            });
        }
        if is_group {
            return self.group_body(spec, origin, depth, xmls, fields, leaf_keys);
        }
        self.value_body(spec, xmls, fields)
    }

    /// A value rule's body: xml paths read into canonical fields, typed.
    fn value_body(
        &self,
        spec: &RuleSpec,
        xmls: Vec<XmlPath>,
        fields: Vec<CanonPath>,
    ) -> Result<Body, String> {
        if spec.min.is_some() {
            return Err("min belongs to each".to_owned());
        }
        if xmls.is_empty() {
            return Err("a rule needs xml (or each, const, copy, fixed, check)".to_owned());
        }
        if fields.is_empty() {
            return Err("a rule reading xml needs a field (or fixed)".to_owned());
        }
        if xmls.len() > 1 && fields.len() > 1 {
            return Err(
                "either several xml paths into one field or one into several fields".to_owned(),
            );
        }
        if (xmls.len() > 1 || fields.len() > 1) != spec.separator.is_some() {
            return Err(if spec.separator.is_some() {
                "separator joins several xml paths or splits into several fields; this rule has one of each".to_owned()
            } else {
                "several xml paths or fields need a separator".to_owned()
            });
        }
        if spec.separator.as_deref() == Some("") {
            return Err("the separator is empty".to_owned());
        }
        let transform = self.transform(spec)?;
        if fields.len() > 1 && !matches!(transform, Transform::String { .. }) {
            return Err("splitting into several fields works on strings".to_owned());
        }
        let default = spec.default.as_ref().map(json_of).transpose()?;
        Ok(Body::Value(ValueRule {
            xml: xmls,
            field: fields,
            separator: spec.separator.clone(),
            transform,
            required: spec.required,
            default,
            among_items: false,
        }))
    }

    /// A group's body: one element (`xml`) or a repeated one (`each`), its rules nested or a
    /// fragment's.
    fn group_body(
        &self,
        spec: &RuleSpec,
        origin: &str,
        depth: usize,
        xmls: Vec<XmlPath>,
        fields: Vec<CanonPath>,
        leaf_keys: bool,
    ) -> Result<Body, String> {
        if depth >= MAX_NESTING {
            return Err(format!(
                "rules nest deeper than {MAX_NESTING} levels (does a fragment use itself?)"
            ));
        }
        if spec.xml.is_some() && spec.each.is_some() {
            return Err("give either xml (one element) or each (repeated), not both".to_owned());
        }
        if xmls.len() > 1 {
            return Err("a group has one xml path".to_owned());
        }
        if fields.len() > 1 {
            return Err("a group has one field".to_owned());
        }
        let each = spec.each.as_deref().map(|e| self.xml(e)).transpose()?;
        let xml = each.or_else(|| xmls.first().cloned());
        if xml.as_ref().is_some_and(|x| x.attribute.is_some()) {
            return Err("a group's xml names an element, not an attribute".to_owned());
        }
        let repeated = spec.each.is_some();
        if repeated && xml.as_ref().is_some_and(|x| x.absolute) {
            return Err("each takes a path relative to its context".to_owned());
        }
        if repeated && fields.is_empty() {
            return Err("each needs a field: the list it fills".to_owned());
        }
        let mut rules = Vec::new();
        if let Some(name) = &spec.fragment {
            let fragment = self.fragments.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.fragments.keys().map(String::as_str).collect();
                format!(
                    "fragment {name:?} is not defined (fragments: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
            rules.extend(self.rules(fragment, &format!("fragment {name} rule"), depth + 1)?);
        }
        if let Some(nested) = &spec.rules {
            rules.extend(self.rules(nested, &format!("{origin} › rule"), depth + 1)?);
        }
        if rules.is_empty() {
            if !repeated {
                return Err("a group needs rules or use".to_owned());
            }
            // `each` of plain values: every element's own text is one list item.
            rules.push(Rule {
                origin: origin.to_owned(),
                when: Vec::new(),
                unless: Vec::new(),
                body: Body::Value(ValueRule {
                    xml: vec![self.xml(".")?],
                    field: vec![CanonPath::parse(".")?],
                    separator: None,
                    transform: self.transform(spec)?,
                    required: true,
                    default: None,
                    among_items: false,
                }),
            });
        } else if leaf_keys || spec.max_length.is_some() || spec.layout.is_some() {
            return Err("a group's values are typed by its rules".to_owned());
        }
        if spec.min.is_some() && !repeated {
            return Err("min belongs to each".to_owned());
        }
        Ok(Body::Group(GroupRule {
            xml,
            repeated,
            field: fields.first().cloned(),
            min: spec.min.unwrap_or(0),
            required: spec.required,
            among_items: false,
            rules,
        }))
    }
}
