//! An element of a document being written: created along a rule's path, reused by the rules
//! after it, merged with what rules at absolute paths wrote, and looked up by conditions.

use std::borrow::Cow;

use super::super::path::{Filter, FilterTarget, Name};

/// An element being written; its name borrowed from the dialect.
#[derive(Debug, Clone)]
pub(super) struct Node<'d> {
    pub(super) name: &'d Name,
    pub(super) attributes: Vec<(&'d Name, Cow<'d, str>)>,
    pub(super) text: Option<Cow<'d, str>>,
    pub(super) children: Vec<Node<'d>>,
}

impl<'d> Node<'d> {
    pub(super) fn new(name: &'d Name) -> Node<'d> {
        Node {
            name,
            attributes: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    /// A new element for the step `name`: for a step that selects among repeated elements
    /// (`Deltagare[@roll='kallad']`), the one it selects.
    pub(super) fn selected(name: &'d Name) -> Node<'d> {
        let mut node = Node::new(name);
        if let Some(filter) = &name.filter {
            node.mark(filter);
        }
        node
    }

    pub(super) fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.text.is_none() && self.children.is_empty()
    }

    /// The child named `name`: the last one written (or marked as the one a selecting step
    /// selects), or a new one.
    pub(super) fn child(&mut self, name: &'d Name) -> &mut Node<'d> {
        let found = if name.filter.is_none() {
            self.children
                .iter()
                .rposition(|c| std::ptr::eq(c.name, name) || c.name == name)
        } else {
            self.children.iter().rposition(|c| c.selects(name))
        };
        match found {
            Some(i) => &mut self.children[i],
            None => {
                self.children.push(Node::selected(name));
                let last = self.children.len() - 1;
                &mut self.children[last]
            }
        }
    }

    /// The element at `steps` below this one, created where absent.
    pub(super) fn at(&mut self, steps: &'d [Name]) -> &mut Node<'d> {
        steps.iter().fold(self, |node, name| node.child(name))
    }

    /// Where a rule writes `text` at `steps` (and `attribute`): as [`Node::at`], except that a
    /// step selecting among repeated elements (`Deltagare[@ledare='1']`) that selects none
    /// written yet takes the element of that name written by another rule without a selection
    /// and without what the step selects by, that already holds `text` at the rest of the
    /// path (the participant whose role the rule writes), and marks it. Read back, the step
    /// selects the element the value came from. Where none holds it, an element is created,
    /// unless the step selects among the items of a list (`among_items`: the reader would
    /// take a new element for one more item): then `Err` with that step.
    pub(super) fn at_value(
        &mut self,
        steps: &'d [Name],
        attribute: Option<&Name>,
        text: &str,
        among_items: bool,
    ) -> Result<&mut Node<'d>, &'d Name> {
        // Most paths select nothing: the element is where `at` finds it.
        if steps.iter().all(|step| step.filter.is_none()) {
            return Ok(self.at(steps));
        }
        let Some((first, rest)) = steps.split_first() else {
            return Ok(self);
        };
        let Some(filter) = first.filter.as_deref() else {
            return self
                .child(first)
                .at_value(rest, attribute, text, among_items);
        };
        let at = match self.item(first, filter, |c| c.lookup(rest, attribute) == Some(text)) {
            Some(i) => i,
            None if among_items => return Err(first),
            None => {
                self.children.push(Node::selected(first));
                self.children.len() - 1
            }
        };
        self.children[at].at_value(rest, attribute, text, among_items)
    }

    /// Where a group selecting among the items of a list (`xml = "Deltagare[@ledare='ja']"`,
    /// `GroupRule::among_items`) merges `element`, what it wrote: the item that holds
    /// everything `element` holds, as [`Node::item`] finds it. `None` where no item does.
    pub(super) fn item_holding(
        &mut self,
        name: &'d Name,
        element: &Node<'d>,
    ) -> Option<&mut Node<'d>> {
        let filter = name.filter.as_deref()?;
        let at = self.item(name, filter, |c| c.holds(element, Some(filter)))?;
        Some(&mut self.children[at])
    }

    /// The child the selecting step `name` (selecting by `filter`) selects: one written for
    /// it or marked, else the last element of that name written without a selection and
    /// without what the step selects by for which `wanted` holds, marked. `None` where there
    /// is neither.
    fn item(
        &mut self,
        name: &'d Name,
        filter: &'d Filter,
        wanted: impl Fn(&Node<'d>) -> bool,
    ) -> Option<usize> {
        if let Some(i) = self.children.iter().rposition(|c| c.selects(name)) {
            return Some(i);
        }
        let i = self.children.iter().rposition(|c| {
            c.name.filter.is_none()
                && c.name.same(name)
                && !c.has(&filter.target, None)
                && wanted(c)
        })?;
        self.children[i].mark(filter);
        Some(i)
    }

    /// Whether this element holds every attribute, text and child `other` holds (other than
    /// what `filter` selects by).
    fn holds(&self, other: &Node<'_>, filter: Option<&Filter>) -> bool {
        let target = filter.map(|f| &f.target);
        let mark_attribute =
            |key: &Name| matches!(target, Some(FilterTarget::Attribute(a)) if a.same(key));
        let mark_child =
            |name: &Name| matches!(target, Some(FilterTarget::Child(c)) if c.same(name));
        other.attributes.iter().all(|(key, value)| {
            mark_attribute(key)
                || self
                    .attributes
                    .iter()
                    .any(|(k, v)| k.same(key) && v == value)
        }) && (other.text.is_none() || self.text == other.text)
            && other.children.iter().all(|child| {
                mark_child(child.name)
                    || self
                        .children
                        .iter()
                        .any(|c| c.name.same(child.name) && c.holds(child, None))
            })
    }

    /// Whether this element is one the step `name` selects: written for the step, or marked.
    fn selects(&self, name: &Name) -> bool {
        if std::ptr::eq(self.name, name) {
            return true;
        }
        // Most children differ by their local name, told first.
        if !self.name.same(name) {
            return false;
        }
        if self.name.prefix == name.prefix && self.name.filter == name.filter {
            return true;
        }
        // Only an element written without a selection (an item of a list) is ever marked.
        let (None, Some(filter)) = (&self.name.filter, name.filter.as_deref()) else {
            return false;
        };
        self.has(&filter.target, filter.value.as_deref())
    }

    /// Whether this element has the attribute or child a step selects by (of the value
    /// `wanted`, where one is given).
    fn has(&self, target: &FilterTarget, wanted: Option<&str>) -> bool {
        match target {
            FilterTarget::Attribute(attribute) => self
                .attributes
                .iter()
                .any(|(k, v)| k.same(attribute) && wanted.is_none_or(|want| v == want)),
            FilterTarget::Child(element) => self.children.iter().any(|c| {
                c.name.same(element) && wanted.is_none_or(|want| c.text.as_deref() == Some(want))
            }),
        }
    }

    /// Gives this element what the step's `filter` selects by.
    fn mark(&mut self, filter: &'d Filter) {
        let value = Cow::Borrowed(filter.value.as_deref().unwrap_or_default());
        match &filter.target {
            FilterTarget::Attribute(attribute) => self.attributes.push((attribute, value)),
            FilterTarget::Child(element) => {
                let mut inner = Node::new(element);
                inner.text = Some(value);
                self.children.push(inner);
            }
        }
    }

    /// Adds what `other` holds to this element: an attribute or text already there with the
    /// same value is kept once; with another value the two writes conflict (the name of the
    /// attribute or element is the error). `deep`: each child merges into this element's last
    /// child of the same name, if it had one before (what absolute paths write into elements
    /// written before); otherwise children are added after this element's own.
    pub(super) fn merge(&mut self, other: Node<'d>, deep: bool) -> std::result::Result<(), String> {
        for (key, value) in other.attributes {
            match self.attributes.iter().find(|(k, _)| k.same(key)) {
                Some((_, existing)) if *existing == value => {}
                Some(_) => return Err(format!("{}/@{key}", self.name)),
                None => self.attributes.push((key, value)),
            }
        }
        match (&self.text, other.text) {
            (Some(existing), Some(text)) if *existing != text => {
                return Err(self.name.to_string());
            }
            (_, Some(text)) => self.text = Some(text),
            (_, None) => {}
        }
        let before = self.children.len();
        let mut merged_names: Vec<&Name> = Vec::new();
        for child in other.children {
            let target = if deep && !merged_names.contains(&child.name) {
                self.children[..before]
                    .iter()
                    .rposition(|c| c.name == child.name)
            } else {
                None
            };
            match target {
                Some(i) => {
                    merged_names.push(child.name);
                    self.children[i]
                        .merge(child, true)
                        .map_err(|at| format!("{}/{at}", self.name))?;
                }
                None => self.children.push(child),
            }
        }
        Ok(())
    }

    /// The value at `steps` (and `attribute`) below this element as written so far: an
    /// attribute's value, or an element's text (empty for an element without text).
    pub(super) fn lookup(&self, steps: &[Name], attribute: Option<&Name>) -> Option<&str> {
        match steps.split_first() {
            None => match attribute {
                Some(name) => self
                    .attributes
                    .iter()
                    .find(|(k, _)| k.same(name))
                    .map(|(_, v)| &**v),
                None => Some(self.text.as_deref().unwrap_or("")),
            },
            Some((first, rest)) => self
                .children
                .iter()
                .filter(|c| c.name == first)
                .find_map(|c| c.lookup(rest, attribute)),
        }
    }
}
