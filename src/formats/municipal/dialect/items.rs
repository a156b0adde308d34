//! Paths that select among the items of a list (`Deltagare[@ledare='ja']/@funktion` beside
//! `each = "Deltagare"`), found at load: writing marks the item that holds the value, and
//! refuses a value no item holds rather than write an element the reader would take for one
//! more item.

use super::{Body, Rule};
use crate::formats::municipal::path::XmlPath;

/// Whether `path` selects among the elements `each` writes: at the step where `each` names
/// its element without a selection, `path` names the same element with one, after the same
/// steps.
fn among(path: &XmlPath, each: &XmlPath) -> bool {
    let Some((last, parents)) = each.elements.split_last() else {
        return false;
    };
    if last.filter.is_some() || path.absolute != each.absolute {
        return false;
    }
    path.elements.get(parents.len()).is_some_and(|step| {
        step.filter.is_some() && step.same(last) && path.elements[..parents.len()] == *parents
    })
}

/// Sets `among_items` on each value or fixed rule of `rules` (and on the groups within) that
/// selects among the items a repeated group of the same list writes. Such a rule must come
/// after the group: its value is looked for among the items already written.
pub(super) fn mark(rules: &mut [Rule]) -> Result<(), String> {
    let eaches: Vec<(usize, XmlPath, String)> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, rule)| match &rule.body {
            Body::Group(group) if group.repeated => {
                Some((i, group.xml.clone()?, rule.origin.clone()))
            }
            _ => None,
        })
        .collect();
    for (i, rule) in rules.iter_mut().enumerate() {
        let (paths, flag): (Vec<&XmlPath>, &mut bool) = match &mut rule.body {
            Body::Value(value) => (value.xml.iter().collect(), &mut value.among_items),
            Body::Fixed {
                xml, among_items, ..
            } => (vec![&*xml], among_items),
            Body::Group(group) => {
                mark(&mut group.rules)?;
                if group.repeated {
                    continue;
                }
                (group.xml.iter().collect(), &mut group.among_items)
            }
            _ => continue,
        };
        for (at, each, origin) in &eaches {
            let Some(path) = paths.iter().find(|p| among(p, each)) else {
                continue;
            };
            if *at > i {
                return Err(format!(
                    "{} selects among the items {origin} writes ({} in {}): \
                     put it after that rule, so that writing finds the item that holds its value",
                    rule.origin, path.source, each.source
                ));
            }
            *flag = true;
        }
    }
    Ok(())
}
