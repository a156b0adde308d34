//! Checking rules against the canonical model when a dialect is loaded: every field a rule
//! sets exists in a message of its kind and can hold what the rule puts there. A typo
//! (`event.physican`), a field of another kind (`event.attendees` on a SIP answer) or a value
//! of the wrong type is an error naming the rule, the field and the nearest valid names.

use super::super::codes::Vocabulary;
use super::super::model::{self, Node, Produces};
use super::*;

/// Checks `rules` against `context`, the model of the message (or of the group's object) they
/// write into; `root` is the message's model, for paths from the message root.
pub(super) fn check(rules: &[Rule], context: &Node, root: &Node, what: &str) -> Result<(), String> {
    for rule in rules {
        check_rule(rule, context, root, what).map_err(|e| format!("{}: {e}", rule.origin))?;
    }
    Ok(())
}

fn check_rule(rule: &Rule, context: &Node, root: &Node, what: &str) -> Result<(), String> {
    match &rule.body {
        Body::Value(value) => {
            let several = value.field.len() > 1;
            for field in &value.field {
                let node = resolve(context, field, what)?;
                let produced = if several {
                    Produces::String
                } else {
                    produces(&value.transform)
                };
                node.accepts(produced).map_err(|e| in_field(field, e))?;
                if let Some(default) = &value.default {
                    node.accepts(Produces::Json(default))
                        .map_err(|e| in_field(field, format!("default: {e}")))?;
                }
            }
            Ok(())
        }
        Body::Const { field, value } => resolve(context, field, what)?
            .accepts(Produces::Json(value))
            .map_err(|e| in_field(field, e)),
        Body::Copy { field, from } => {
            resolve(context, field, what)?;
            resolve(root, from, what).map_err(|e| format!("copy: {e}"))?;
            Ok(())
        }
        Body::Group(group) => {
            let node = match &group.field {
                None => context.clone(),
                Some(field) => {
                    let node = resolve(context, field, what)?;
                    let shape = if group.repeated {
                        Produces::List
                    } else {
                        Produces::Object
                    };
                    node.accepts(shape).map_err(|e| in_field(field, e))?;
                    node
                }
            };
            let inner = if group.repeated {
                node.items().unwrap_or(node)
            } else {
                node
            };
            check(&group.rules, &inner, root, what)
        }
        Body::Fixed { .. } | Body::Check { .. } | Body::Ignore { .. } => Ok(()),
    }
}

fn in_field(field: &CanonPath, problem: String) -> String {
    format!("field {field}: {problem}")
}

/// The model of the place `path` names under `context`; an unknown name is an error with the
/// nearest valid names.
fn resolve(context: &Node, path: &CanonPath, what: &str) -> Result<Node, String> {
    let mut node = context.clone();
    for (i, segment) in path.segments.iter().enumerate() {
        node = node.field(segment).map_err(|known| {
            let walked = path.segments[..i].join(".");
            let here = if walked.is_empty() {
                what.to_owned()
            } else {
                format!("{walked} in {what}")
            };
            let nearest = model::nearest(segment, &known);
            let hint = match nearest.as_slice() {
                [] if known.is_empty() => String::new(),
                [] => format!(" (its fields: {})", known.join(", ")),
                names => format!(" (did you mean {}?)", names.join(", ")),
            };
            format!("field {path}: {segment:?} is not a field of {here}{hint}")
        })?;
    }
    Ok(node)
}

/// What a transform puts into its field.
fn produces(transform: &Transform) -> Produces<'static> {
    match transform {
        Transform::String { .. } => Produces::String,
        Transform::Integer => Produces::Integer,
        Transform::Boolean => Produces::Boolean,
        Transform::Date { .. } => Produces::Date,
        Transform::DateTime { .. } => Produces::DateTime,
        Transform::PersonId { .. } => Produces::PersonId,
        Transform::HsaId => Produces::HsaId,
        Transform::Kommunkod => Produces::Kommunkod,
        Transform::Code(table) => match Vocabulary::find(table.vocabulary) {
            Some(vocabulary) => Produces::Code {
                values: vocabulary.values,
                boolean: vocabulary.boolean,
            },
            None => Produces::String,
        },
    }
}
