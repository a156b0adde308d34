//! SMART `system/…` scopes: `system/Task.read` and `system/Task.write` (SMART v1),
//! `system/Task.cruds` (v2), and `*` for every resource type or interaction.

use std::collections::BTreeSet;
use std::fmt;

/// What a request does to a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }
}

impl fmt::Display for Interaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interaction::Create => "create",
            Interaction::Read => "read",
            Interaction::Update => "update",
            Interaction::Delete => "delete",
            Interaction::Search => "search",
        })
    }
}

/// One `system/<type>.<interactions>` scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The resource type, or `*`.
    pub resource: String,
    pub interactions: BTreeSet<Interaction>,
    /// As written, e.g. `system/Task.cruds`.
    pub text: String,
}

impl Scope {
    /// Reads one scope; anything but a `system/` scope is an error that says what is expected.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let rest = text.strip_prefix("system/").ok_or_else(|| {
            format!("{text:?} is not a system scope; brygga grants system/<resource>.<interactions>, e.g. system/Task.cruds")
        })?;
        let (resource, access) = rest
            .split_once('.')
            .ok_or_else(|| format!("{text:?} has no interactions after the resource type"))?;
        let valid_resource = resource == "*"
            || (resource
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
                && resource.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid_resource {
            return Err(format!(
                "{text:?}: {resource:?} is not a FHIR resource type or *"
            ));
        }
        use Interaction::*;
        let interactions: BTreeSet<Interaction> = match access {
            "*" => [Create, Read, Update, Delete, Search].into(),
            "read" => [Read, Search].into(),
            "write" => [Create, Update, Delete].into(),
            letters => {
                let mut set = BTreeSet::new();
                let mut last = None;
                for c in letters.chars() {
                    let i = [Create, Read, Update, Delete, Search]
                        .into_iter()
                        .find(|i| i.letter() == c)
                        .ok_or_else(|| format!("{text:?}: {c:?} is not one of c, r, u, d, s"))?;
                    // SMART v2 writes the letters in the order c, r, u, d, s.
                    if last.is_some_and(|l| l >= i) {
                        return Err(format!("{text:?}: the interactions go in the order cruds"));
                    }
                    last = Some(i);
                    set.insert(i);
                }
                if set.is_empty() {
                    return Err(format!("{text:?} names no interaction"));
                }
                set
            }
        };
        Ok(Scope {
            resource: resource.to_owned(),
            interactions,
            text: text.to_owned(),
        })
    }

    /// Whether this scope is within `other` (for granting only what a client may have).
    pub fn within(&self, other: &Scope) -> bool {
        (other.resource == "*" || other.resource == self.resource)
            && self.interactions.is_subset(&other.interactions)
    }

    pub fn allows(&self, resource: &str, interaction: Interaction) -> bool {
        (self.resource == "*" || self.resource == resource)
            && self.interactions.contains(&interaction)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// Space-separated scopes, as in a token request or an access token.
    pub fn parse(text: &str) -> Result<Scopes, String> {
        text.split_whitespace()
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Scopes)
    }

    pub fn allows(&self, resource: &str, interaction: Interaction) -> bool {
        self.0.iter().any(|s| s.allows(resource, interaction))
    }

    /// The requested scopes that `granted` covers; `requested` empty asks for all of them.
    pub fn grant(requested: &Scopes, granted: &Scopes) -> Scopes {
        if requested.0.is_empty() {
            return granted.clone();
        }
        Scopes(
            requested
                .0
                .iter()
                .filter(|r| granted.0.iter().any(|g| r.within(g)))
                .cloned()
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These scopes within `registered`: each interaction kept only where a registered scope
    /// allows it too (a token's scopes within its client's current registration).
    pub fn narrowed_to(&self, registered: &Scopes) -> Scopes {
        let mut narrowed = Vec::new();
        for scope in &self.0 {
            for allowed in &registered.0 {
                let resource = match (scope.resource.as_str(), allowed.resource.as_str()) {
                    (a, b) if a == b => a,
                    ("*", b) => b,
                    (a, "*") => a,
                    _ => continue,
                };
                let interactions: BTreeSet<Interaction> = scope
                    .interactions
                    .intersection(&allowed.interactions)
                    .copied()
                    .collect();
                if interactions.is_empty() {
                    continue;
                }
                let letters: String = interactions.iter().map(|i| i.letter()).collect();
                narrowed.push(Scope {
                    resource: resource.to_owned(),
                    interactions,
                    text: format!("system/{resource}.{letters}"),
                });
            }
        }
        Scopes(narrowed)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.0.iter().map(|s| s.text.as_str()).collect();
        f.write_str(&texts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_v1_and_v2_scopes_read_alike() {
        let v1 = Scope::parse("system/Task.read").unwrap();
        let v2 = Scope::parse("system/Task.rs").unwrap();
        assert_eq!(v1.interactions, v2.interactions);
        assert!(
            Scope::parse("system/*.*")
                .unwrap()
                .allows("Consent", Interaction::Create)
        );
        assert!(!v1.allows("Task", Interaction::Update));
        assert!(!v1.allows("Consent", Interaction::Read));
    }

    #[test]
    fn malformed_scopes_say_what_is_expected() {
        for bad in [
            "patient/Task.read",
            "system/Task",
            "system/task.read",
            "system/Task.src",
            "system/Task.x",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_requested_scopes_the_client_holds_are_granted() {
        let held = Scopes::parse("system/Task.cru system/Consent.r").unwrap();
        let asked = Scopes::parse("system/Task.r system/Consent.c system/AuditEvent.r").unwrap();
        assert_eq!(Scopes::grant(&asked, &held).to_string(), "system/Task.r");
        assert_eq!(Scopes::grant(&Scopes::default(), &held), held);
    }
}
