//! The document reader: a dialect's paths found in the document, values read and typed,
//! rules applied into the canonical form (`built`), and every read marked as consumed.

use super::*;
use crate::formats::municipal::path::Name;
use crate::formats::municipal::transform::Transform;
use smallvec::SmallVec;

/// A value read from the document: its text and where it is.
pub(super) struct Located<'a, 'p> {
    pub(super) text: &'a str,
    pub(super) element: &'a Element<'a>,
    pub(super) attribute: Option<&'p super::super::path::Name>,
}

/// What a path found: an element, an attribute's value, or nothing (with the deepest element
/// that exists on the way).
pub(super) enum Found<'a> {
    Element(&'a Element<'a>),
    Attribute(&'a Element<'a>, &'a str),
    Absent(&'a Element<'a>),
}

/// The copies a document's rules ask for, done after every rule ran (the field copied from
/// may be read after the copy's rule): each with the absolute canonical path it fills.
#[derive(Default)]
pub(super) struct Copies<'r> {
    /// Where the rules being applied write: the canonical path of the group item.
    prefix: Vec<String>,
    pub(super) pending: Vec<(Vec<String>, &'r CanonPath)>,
}

impl Copies<'_> {
    fn within<T>(&mut self, segments: &[String], f: impl FnOnce(&mut Self) -> T) -> T {
        let depth = self.prefix.len();
        self.prefix.extend(segments.iter().cloned());
        let result = f(self);
        self.prefix.truncate(depth);
        result
    }
}

pub(super) struct Reader<'a> {
    pub(super) dialect: &'a Dialect,
    pub(super) root: &'a Element<'a>,
    pub(super) today: Date,
    /// What the reading itself warns of (a local time the clocks show twice).
    pub(super) warnings: std::cell::RefCell<Vec<String>>,
    /// Local codes read that are not the code the dialect writes for their value, by the
    /// canonical field they fill (`EventSource::local_codes`).
    pub(super) local_codes: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
    /// The message kind whose rules are being applied (`None`: the envelope's), to name the
    /// file of a rule whose value does not read.
    pub(super) kind: std::cell::Cell<Option<&'a str>>,
}

/// How `child` is told from its namesakes among `siblings`: by the attribute the dialect
/// selects it by (`[@namn='beslutid']`) where its value is the child's alone, else by position.
fn step_selector(reader: &Reader<'_>, siblings: &[&Element], child: &Element) -> String {
    if let Some(attribute) = reader.dialect.selector(child) {
        fn value_of<'e>(
            e: &'e Element,
            attribute: &crate::formats::municipal::path::Name,
        ) -> Option<&'e str> {
            e.peek_attribute_in(attribute.namespace.as_deref(), &attribute.local)
        }
        let value_of = |e| value_of(e, attribute);
        if let Some(value) = value_of(child).filter(|v| !v.contains('\''))
            && siblings
                .iter()
                .filter(|s| value_of(s) == Some(value))
                .count()
                == 1
        {
            return format!("[@{attribute}='{value}']");
        }
    }
    let index = siblings
        .iter()
        .position(|c| std::ptr::eq(*c, child))
        .unwrap_or(0);
    format!("[{}]", index + 1)
}

/// Finds the path of `target` below `el`, with `[n]` (or the dialect's selector) where
/// siblings share a name.
pub(super) fn path_below(
    reader: &Reader<'_>,
    el: &Element,
    target: &Element,
    path: &mut String,
) -> bool {
    if std::ptr::eq(el, target) {
        return true;
    }
    for child in &el.children {
        let len = path.len();
        path.push('/');
        path.push_str(&reader.dialect.namespaces.display(child));
        let siblings: Vec<&Element> = el
            .children
            .iter()
            .filter(|c| c.name == child.name && c.namespace == child.namespace)
            .collect();
        if siblings.len() > 1 {
            path.push_str(&step_selector(reader, &siblings, child));
        }
        if path_below(reader, child, target, path) {
            return true;
        }
        path.truncate(len);
    }
    false
}

impl<'a> Reader<'a> {
    /// The absolute path of an element of the document (`/Meddelande/Insats[2]/Beskrivning`).
    pub(super) fn path(&self, el: &Element) -> String {
        let mut path = format!("/{}", self.dialect.namespaces.display(self.root));
        path_below(self, self.root, el, &mut path);
        path
    }

    /// The path of `rest` below `el`, for what is missing there.
    pub(super) fn path_to(&self, el: &Element, rest: &XmlPath) -> String {
        if rest.absolute {
            return rest.to_string();
        }
        format!("{}/{}", self.path(el), rest)
    }

    pub(super) fn start(&self, el: &'a Element<'a>, path: &XmlPath) -> Option<&'a Element<'a>> {
        self.start_of(el, path.absolute, &path.elements)
    }

    /// Where `elements` start: `el`, or for an absolute path the root if it is the first.
    fn start_of(
        &self,
        el: &'a Element<'a>,
        absolute: bool,
        elements: &[Name],
    ) -> Option<&'a Element<'a>> {
        if !absolute {
            return Some(el);
        }
        Some(self.root).filter(|r| elements.first().is_some_and(|n| n.matches(r)))
    }

    /// Resolves `path` from `el`. With `strict`, a step that matches several elements is an
    /// error (a value is read from one); without, the first is taken (conditions). With
    /// `mark`, every element on the way is marked as read.
    pub(super) fn find(
        &self,
        el: &'a Element<'a>,
        path: &XmlPath,
        strict: bool,
        mark: bool,
    ) -> Result<Found<'a>> {
        let found = self.find_steps(el, path.absolute, &path.elements, strict, mark)?;
        Ok(match (&path.attribute, found) {
            (Some(name), Found::Element(here)) => {
                match here.peek_attribute_in(name.namespace.as_deref(), &name.local) {
                    Some(value) => Found::Attribute(here, value),
                    None => Found::Absent(here),
                }
            }
            (_, found) => found,
        })
    }

    /// [`Reader::find`] of the element at `elements` (absolute: from the root).
    fn find_steps(
        &self,
        el: &'a Element<'a>,
        absolute: bool,
        elements: &[Name],
        strict: bool,
        mark: bool,
    ) -> Result<Found<'a>> {
        let Some(mut here) = self.start_of(el, absolute, elements) else {
            return Ok(Found::Absent(self.root));
        };
        let steps = if absolute { &elements[1..] } else { elements };
        for name in steps {
            let mut matches = here.children.iter().filter(|c| name.matches(c));
            let Some(first) = matches.next() else {
                return Ok(Found::Absent(here));
            };
            if strict && let Some(second) = matches.next() {
                return Err(MunicipalError::Invalid {
                    path: self.path(second),
                    position: second.position,
                    problem: format!("<{name}> appears more than once; this dialect reads one"),
                });
            }
            if mark {
                first.mark();
            }
            here = first;
        }
        Ok(Found::Element(here))
    }

    /// The element `path` names below `el` (marked as read), if present.
    pub(super) fn element(
        &self,
        el: &'a Element<'a>,
        path: &XmlPath,
    ) -> Result<Option<&'a Element<'a>>> {
        match self.find(el, path, true, true)? {
            Found::Element(found) => Ok(Some(found)),
            _ => Ok(None),
        }
    }

    /// The value `path` names below `el` (trimmed; empty counts as absent), marked as read.
    pub(super) fn value<'p>(
        &self,
        el: &'a Element<'a>,
        path: &'p XmlPath,
    ) -> Result<Option<Located<'a, 'p>>> {
        match self.find(el, path, true, true)? {
            Found::Element(found) => {
                let text = found.text();
                Ok((!text.is_empty()).then_some(Located {
                    text,
                    element: found,
                    attribute: None,
                }))
            }
            Found::Attribute(found, _) => {
                let Some(name) = path.attribute.as_ref() else {
                    return Ok(None);
                };
                let value = crate::formats::xml::trim(
                    found
                        .attribute_in(name.namespace.as_deref(), &name.local)
                        .unwrap_or(""),
                );
                Ok((!value.is_empty()).then_some(Located {
                    text: value,
                    element: found,
                    attribute: Some(name),
                }))
            }
            Found::Absent(_) => Ok(None),
        }
    }

    /// The path of a value, for messages.
    pub(super) fn value_path(&self, located: &Located<'_, '_>) -> String {
        match located.attribute {
            Some(name) => format!("{}/@{name}", self.path(located.element)),
            None => self.path(located.element),
        }
    }

    pub(super) fn test(&self, el: &'a Element<'a>, test: &Test) -> bool {
        match test {
            Test::Exists(path) => self.exists(el, path),
            Test::Absent(path) => !self.exists(el, path),
            Test::Equals(path, expected) => self.value_at(el, path) == Some(expected.as_str()),
            Test::NotEquals(path, expected) => self.value_at(el, path) != Some(expected.as_str()),
        }
    }

    /// Whether `path` finds an element, or an attribute with a value.
    fn exists(&self, el: &'a Element<'a>, path: &XmlPath) -> bool {
        match self.find(el, path, false, false) {
            Ok(Found::Element(_)) => true,
            Ok(Found::Attribute(_, value)) => !crate::formats::xml::trim(value).is_empty(),
            _ => false,
        }
    }

    /// What a condition compares at `path`: the element's text or the attribute's trimmed value.
    pub(super) fn value_at(&self, el: &'a Element<'a>, path: &XmlPath) -> Option<&'a str> {
        match self.find(el, path, false, false) {
            Ok(Found::Element(found)) => Some(&*found.text),
            Ok(Found::Attribute(_, value)) => Some(crate::formats::xml::trim(value)),
            _ => None,
        }
    }

    pub(super) fn holds(&self, el: &'a Element<'a>, condition: &Condition) -> bool {
        condition.any.iter().any(|t| self.test(el, t))
    }

    pub(super) fn applies(&self, el: &'a Element<'a>, rule: &Rule) -> bool {
        rule.when.iter().all(|c| self.holds(el, c))
            && !rule.unless.iter().any(|c| self.holds(el, c))
    }

    /// The error for `path` missing below `el`, named from the deepest element that exists.
    pub(super) fn missing(&self, el: &'a Element<'a>, path: &XmlPath) -> MunicipalError {
        let mut at = match self.start(el, path) {
            Some(start) => start,
            None => self.root,
        };
        let steps = if path.absolute && self.start(el, path).is_some() {
            &path.elements[1..]
        } else {
            &path.elements[..]
        };
        let mut rest = steps;
        while let Some((name, tail)) = rest.split_first() {
            match at.children.iter().find(|c| name.matches(c)) {
                Some(child) => {
                    at = child;
                    rest = tail;
                }
                None => break,
            }
        }
        let what = match (&path.attribute, rest.is_empty()) {
            (Some(attribute), true) => format!("required attribute {attribute}"),
            _ => {
                let names: Vec<String> = rest.iter().map(ToString::to_string).collect();
                format!("required element <{}>", names.join("/"))
            }
        };
        MunicipalError::Missing {
            path: self.path(at),
            position: at.position,
            what,
        }
    }

    /// Applies `rules` to the element `el`, writing into `out`. Copies are collected in
    /// `copies`, for after all rules ran.
    pub(super) fn apply<'r>(
        &self,
        rules: &'r [Rule],
        el: &'a Element<'a>,
        out: &mut Built<'r>,
        copies: &mut Copies<'r>,
    ) -> Result<()> {
        for rule in rules {
            if !self.applies(el, rule) {
                continue;
            }
            match &rule.body {
                Body::Value(v) => self.value_rule(v, el, out, &copies.prefix, &rule.origin)?,
                Body::Fixed { xml, value, .. } => match self.value(el, xml)? {
                    None => return Err(self.missing(el, xml)),
                    Some(found) if found.text != value => {
                        return Err(MunicipalError::Invalid {
                            path: self.value_path(&found),
                            position: found.element.position,
                            problem: format!("is {:?}; this dialect reads {value:?}", found.text),
                        });
                    }
                    Some(_) => {}
                },
                Body::Const { field, value } => {
                    set(out, &field.segments, Built::Value(value.clone()), || {
                        (self.path(el), el.position)
                    })?
                }
                Body::Copy { field, from } => {
                    let mut target = copies.prefix.clone();
                    target.extend(field.segments.iter().cloned());
                    copies.pending.push((target, from));
                }
                Body::Ignore { xml, anywhere } => {
                    for path in xml {
                        self.ignore(el, path);
                    }
                    if !anywhere.is_empty() {
                        self.ignore_anywhere(el, anywhere);
                    }
                }
                Body::Check {
                    conditions,
                    message,
                } => {
                    if !conditions.iter().all(|c| self.holds(el, c)) {
                        return Err(MunicipalError::Invalid {
                            path: self.path(el),
                            position: el.position,
                            problem: message.clone(),
                        });
                    }
                }
                Body::Group(g) => self.group(g, el, out, copies)?,
            }
        }
        Ok(())
    }

    /// Marks as read every element `path` names below `el` (with everything below it), or
    /// the attribute it names on each.
    fn ignore(&self, el: &'a Element<'a>, path: &XmlPath) {
        let Some(start) = self.start(el, path) else {
            return;
        };
        let steps = if path.absolute {
            &path.elements[1..]
        } else {
            &path.elements[..]
        };
        let mut here = vec![start];
        for name in steps {
            here = here
                .into_iter()
                .flat_map(|e| e.children.iter().filter(|c| name.matches(c)))
                .map(Element::mark)
                .collect();
        }
        for found in here {
            match &path.attribute {
                Some(name) => {
                    found.attribute_in(name.namespace.as_deref(), &name.local);
                }
                None => found.mark_all(),
            }
        }
    }

    /// [`Reader::ignore`] of each of `paths` from `el` and from every element below it.
    fn ignore_anywhere(&self, el: &'a Element<'a>, paths: &[XmlPath]) {
        for path in paths {
            self.ignore(el, path);
        }
        for child in &el.children {
            self.ignore_anywhere(child, paths);
        }
    }

    /// The rule that reads a value, for an error about the value: its file, its place there
    /// and the canonical field (`messages/inskrivning.toml rule 3 (xml = "Tid"), field
    /// event.admitted_at`).
    fn rule_of(&self, origin: &str, prefix: &[String], rule: &ValueRule) -> String {
        let file = match self.kind.get() {
            Some(kind) if !origin.starts_with("fragment ") => format!("messages/{kind}.toml"),
            _ => "dialect.toml".to_owned(),
        };
        let fields: Vec<String> = rule
            .field
            .iter()
            .map(|field| {
                prefix
                    .iter()
                    .chain(&field.segments)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        format!("{file} {origin}, field {}", fields.join(", "))
    }

    /// Reads one value rule; `prefix` is the canonical path of the object it writes into,
    /// `origin` where the rule is written (for errors).
    pub(super) fn value_rule<'r>(
        &self,
        rule: &'r ValueRule,
        el: &'a Element<'a>,
        out: &mut Built<'r>,
        prefix: &[String],
        origin: &str,
    ) -> Result<()> {
        // Most rules read one element or attribute: no list is allocated for them.
        let mut parts: SmallVec<[_; 2]> = SmallVec::with_capacity(rule.xml.len());
        for path in &rule.xml {
            parts.push((path, self.value(el, path)?));
        }
        let present = parts.iter().filter(|(_, v)| v.is_some()).count();
        if present == 0 {
            if rule.required {
                return Err(self.missing(el, &rule.xml[0]));
            }
            if let Some(default) = &rule.default {
                set(
                    out,
                    &rule.field[0].segments,
                    Built::Value(default.clone()),
                    || (self.path(el), el.position),
                )?;
            }
            return Ok(());
        }
        if present < parts.len() {
            let (path, _) = parts.iter().find(|(_, v)| v.is_none()).unwrap_or(&parts[0]);
            return Err(self.missing(el, path));
        }
        let values: SmallVec<[Located<'a, '_>; 2]> =
            parts.into_iter().filter_map(|(_, v)| v).collect();
        let at = values[0].element;
        // Paths are built only for messages. A value joined from several elements is named by
        // the element that holds them all.
        let path = || {
            let first = self.value_path(&values[0]);
            let mut common = first.as_str();
            for other in &values[1..] {
                let other = self.value_path(other);
                while !other.starts_with(common)
                    || other[common.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c != '/')
                {
                    common = common.rsplit_once('/').map(|(head, _)| head).unwrap_or("");
                }
            }
            common.to_owned()
        };
        let joined;
        let text = if values.len() > 1 {
            joined = values
                .iter()
                .map(|v| v.text)
                .collect::<Vec<_>>()
                .join(rule.separator.as_deref().unwrap_or(""));
            joined.as_str()
        } else {
            values[0].text
        };
        let where_ = || (path(), at.position);
        let read = |text: &str| {
            let (value, twice) = rule.transform.read_noting(text, self.today).map_err(|e| {
                transform_error(e, path(), at.position, self.rule_of(origin, prefix, rule))
            })?;
            if let Some(local) = twice {
                let where_ = format!("{} (line {})", path(), at.position.line);
                self.warnings
                    .borrow_mut()
                    .push(crate::domain::time::twice_warning(
                        &where_,
                        local,
                        crate::domain::time::Offsets::NotInLayout,
                    ));
            }
            Ok::<_, MunicipalError>(value)
        };
        if rule.field.len() > 1 {
            let separator = rule.separator.as_deref().unwrap_or("");
            let pieces: Vec<&str> = text.splitn(rule.field.len(), separator).collect();
            if pieces.len() < rule.field.len() || pieces.iter().any(|p| p.trim().is_empty()) {
                return Err(MunicipalError::Invalid {
                    path: path(),
                    position: at.position,
                    problem: format!(
                        "expected {} parts separated by {separator:?} (read by {})",
                        rule.field.len(),
                        self.rule_of(origin, prefix, rule)
                    ),
                });
            }
            for (field, piece) in rule.field.iter().zip(pieces) {
                set(
                    out,
                    &field.segments,
                    Built::Value(read(piece.trim())?),
                    where_,
                )?;
            }
            return Ok(());
        }
        let value = read(text)?;
        if value.is_null() {
            // A code that means "no value".
            return Ok(());
        }
        if let Transform::Code(table) = &rule.transform
            && table.encode(Some(&value)) != Some(text)
        {
            let field = prefix.iter().chain(&rule.field[0].segments);
            self.local_codes.borrow_mut().insert(
                field.map(String::as_str).collect::<Vec<_>>().join("."),
                text.to_owned(),
            );
        }
        set(out, &rule.field[0].segments, Built::Value(value), where_)
    }

    pub(super) fn group<'r>(
        &self,
        rule: &'r GroupRule,
        el: &'a Element<'a>,
        out: &mut Built<'r>,
        copies: &mut Copies<'r>,
    ) -> Result<()> {
        if rule.repeated {
            let Some(path) = &rule.xml else {
                return Ok(());
            };
            let (parent, last) = match path.elements.split_last() {
                Some((last, parents)) => {
                    let parent = if parents.is_empty() && !path.absolute {
                        Some(el)
                    } else {
                        match self.find_steps(el, path.absolute, parents, true, true)? {
                            Found::Element(found) => Some(found),
                            _ => None,
                        }
                    };
                    (parent, last)
                }
                None => (Some(el), &path.elements[0]),
            };
            let items: Vec<&Element> = parent
                .map(|p| p.children.iter().filter(|c| last.matches(c)).collect())
                .unwrap_or_default();
            if items.len() < rule.min {
                let at = parent.unwrap_or(el);
                return Err(MunicipalError::Missing {
                    path: self.path(at),
                    position: at.position,
                    what: match rule.min {
                        1 => format!("at least one <{last}>"),
                        n => format!("at least {n} <{last}> (found {})", items.len()),
                    },
                });
            }
            let mut list = Vec::with_capacity(items.len());
            let list_path: Vec<String> = rule
                .field
                .as_ref()
                .map(|f| f.segments.clone())
                .unwrap_or_default();
            for (i, item) in items.into_iter().enumerate() {
                item.mark();
                let mut value = Built::object();
                let mut at = list_path.clone();
                at.push(i.to_string());
                copies.within(&at, |copies| {
                    self.apply(&rule.rules, item, &mut value, copies)
                })?;
                list.push(value);
            }
            if let Some(field) = &rule.field {
                set(out, &field.segments, Built::List(list), || {
                    (self.path(el), el.position)
                })?;
            }
            return Ok(());
        }
        let target = match &rule.xml {
            Some(path) => match self.element(el, path)? {
                Some(found) => found,
                None if rule.required => return Err(self.missing(el, path)),
                None => return Ok(()),
            },
            None => el,
        };
        match &rule.field {
            Some(field) => {
                let sub = entry(out, field).map_err(|problem| MunicipalError::Invalid {
                    path: self.path(target),
                    position: target.position,
                    problem,
                })?;
                copies.within(&field.segments, |copies| {
                    self.apply(&rule.rules, target, sub, copies)
                })
            }
            None => self.apply(&rule.rules, target, out, copies),
        }
    }
}
