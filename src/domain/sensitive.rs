//! `Sensitive<T>`: personal data that serialises as itself but never shows in `Debug` output.

use std::cell::RefCell;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// Wraps a value that is personal data (a name, an address, a free-text note). It serialises
/// transparently, so stored and exchanged documents are unchanged, but `Debug` prints
/// `<redacted>`, so a stray `?value` in a log line cannot leak it.
#[derive(Clone, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(transparent)]
pub struct Sensitive<T>(pub T);

thread_local! {
    /// While `collect` runs on this thread: the texts of every `Sensitive` serialised.
    static COLLECTED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

impl<T: Serialize> Serialize for Sensitive<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        COLLECTED.with(|collected| {
            if let Some(texts) = collected.borrow_mut().as_mut()
                && let Ok(serde_json::Value::String(text)) = serde_json::to_value(&self.0)
            {
                texts.push(text);
            }
        });
        self.0.serialize(serializer)
    }
}

/// Every text wrapped as `Sensitive` in `value` (names, addresses, free-text notes), found by
/// serialising it: what a recording must replace before it writes a message down.
pub fn collect<V: Serialize>(value: &V) -> Vec<String> {
    COLLECTED.with(|collected| *collected.borrow_mut() = Some(Vec::new()));
    let _ = serde_json::to_value(value);
    COLLECTED
        .with(|collected| collected.borrow_mut().take())
        .unwrap_or_default()
}

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

    #[test]
    fn the_sensitive_texts_of_a_value_are_collected_and_only_those() {
        #[derive(Serialize)]
        struct Note {
            id: &'static str,
            name: Sensitive<String>,
            reason: Option<Sensitive<String>>,
        }
        let note = Note {
            id: "N-1",
            name: Sensitive::new("Astrid".to_owned()),
            reason: Some(Sensitive::new("ont i ryggen".to_owned())),
        };
        assert_eq!(collect(&note), ["Astrid", "ont i ryggen"]);
        // Outside `collect`, nothing is kept.
        let _ = serde_json::to_string(&note);
        assert_eq!(collect(&"plain"), Vec::<String>::new());
    }
}
