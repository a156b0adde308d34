//! `Sensitive<T>`: personal data that serialises as itself but never shows in `Debug` output.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Wraps a value that is personal data (a name, an address, a free-text note). It serialises
/// transparently, so stored and exchanged documents are unchanged, but `Debug` prints
/// `<redacted>`, so a stray `?value` in a log line cannot leak it.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_and_serde_keeps_the_value() {
        let name = Sensitive::new("Astrid Lindqvist".to_owned());
        assert_eq!(format!("{name:?}"), "<redacted>");
        assert_eq!(
            serde_json::to_string(&name).unwrap(),
            "\"Astrid Lindqvist\""
        );
        let back: Sensitive<String> = serde_json::from_str("\"Astrid Lindqvist\"").unwrap();
        assert_eq!(back, name);
    }
}
