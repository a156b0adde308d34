//! Finding a document's message kind with one lookup, where the dialect lets it: when every
//! kind's detection starts by testing the same element or attribute for its own value
//! (`@typ = 'Inskrivning'`), the value read once names the only kinds worth testing.

use std::collections::HashMap;

use super::*;

/// The kinds by the value their detection's first test reads at `path`.
#[derive(Debug, Clone)]
pub struct DetectionIndex {
    pub path: XmlPath,
    /// Each value, with the kinds (positions in [`Dialect::kinds`]) that test for it.
    by_value: HashMap<String, Vec<usize>>,
}

impl DetectionIndex {
    /// The index of `kinds`, if each one's detection starts with a condition of one test, of
    /// equality, at one path shared by all.
    pub(super) fn of(kinds: &[MessageKind]) -> Option<DetectionIndex> {
        fn first(kind: &MessageKind) -> Option<(&XmlPath, &String)> {
            match kind.detect.first().map(|c| c.any.as_slice()) {
                Some([Test::Equals(path, value)]) => Some((path, value)),
                _ => None,
            }
        }
        let (path, _) = first(kinds.first()?)?;
        let mut by_value: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, kind) in kinds.iter().enumerate() {
            let (_, value) = first(kind).filter(|(other, _)| *other == path)?;
            by_value.entry(value.clone()).or_default().push(i);
        }
        Some(DetectionIndex {
            path: path.clone(),
            by_value,
        })
    }

    /// The kinds whose first test holds when `path` reads `value` (`None`: absent).
    pub fn kinds(&self, value: Option<&str>) -> &[usize] {
        value
            .and_then(|v| self.by_value.get(v))
            .map_or(&[], Vec::as_slice)
    }
}
