//! The attributes a dialect picks repeated elements by (`Falt[@namn='x']`), gathered from every
//! path of its rules, so that paths in messages can name such an element by its value.

use super::*;
use crate::formats::municipal::path::FilterTarget;

/// Each (element, attribute) a path of the envelope or of a message kind selects by.
pub(super) fn collect(envelope: &[Rule], kinds: &[MessageKind]) -> Vec<(Name, Name)> {
    let mut selectors = Vec::new();
    selected_by(envelope, &mut selectors);
    for kind in kinds {
        selected_by(&kind.rules, &mut selectors);
        for path in kind
            .context
            .iter()
            .chain(kind.detect.iter().flat_map(tested))
        {
            path_selectors(path, &mut selectors);
        }
    }
    selectors
}

/// The paths a condition tests.
fn tested(condition: &Condition) -> impl Iterator<Item = &XmlPath> {
    condition.any.iter().map(|test| match test {
        Test::Exists(p) | Test::Absent(p) | Test::Equals(p, _) | Test::NotEquals(p, _) => p,
    })
}

/// Adds each (element, attribute) a step of `path` selects by.
fn path_selectors(path: &XmlPath, out: &mut Vec<(Name, Name)>) {
    for step in &path.elements {
        if let Some(filter) = &step.filter
            && let FilterTarget::Attribute(attribute) = &filter.target
        {
            let element = Name {
                filter: None,
                ..step.clone()
            };
            if !out
                .iter()
                .any(|(e, a)| e.same(&element) && a.same(attribute))
            {
                out.push((element, attribute.clone()));
            }
        }
    }
}

/// The selectors of every path of `rules` (and of the groups within).
fn selected_by(rules: &[Rule], out: &mut Vec<(Name, Name)>) {
    for rule in rules {
        for path in rule.when.iter().chain(&rule.unless).flat_map(tested) {
            path_selectors(path, out);
        }
        match &rule.body {
            Body::Value(v) => v.xml.iter().for_each(|p| path_selectors(p, out)),
            Body::Fixed { xml, .. } => path_selectors(xml, out),
            Body::Ignore { xml, anywhere } => xml
                .iter()
                .chain(anywhere)
                .for_each(|p| path_selectors(p, out)),
            Body::Check { conditions, .. } => conditions
                .iter()
                .flat_map(tested)
                .for_each(|p| path_selectors(p, out)),
            Body::Group(g) => {
                g.xml.iter().for_each(|p| path_selectors(p, out));
                selected_by(&g.rules, out);
            }
            Body::Const { .. } | Body::Copy { .. } => {}
        }
    }
}
