//! The functions a SIP invitation names and a held meeting records (physician, nurse, curator,
//! case officer, …), as a code table of data (`mappings/functions.toml`):
//! each code with the words that name it in the free text systems send ("Psykiatrisk
//! öppenvård, kurator" is a curator). Comparing what was invited with who came by function is
//! what shows a physician invited and a curator sent. Pure: loaded once, no IO after.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// One function of the table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// Its name, as shown.
    pub name: String,
    /// Words that name it in a function's free text (case does not matter); the longest
    /// match wins.
    pub words: Vec<String>,
}

/// The code table: function code → function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Functions(BTreeMap<String, Function>);

impl Functions {
    /// Reads the table; the error names the file and the entry.
    pub fn load(path: &Path) -> Result<Functions, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "{}: cannot be read: {e} (the function code table SIP invitations and meetings \
                 are compared by; the distribution's mappings folder has one to start from)",
                path.display()
            )
        })?;
        let mut table: BTreeMap<String, Function> =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for (code, function) in &mut table {
            if function.words.is_empty() {
                return Err(format!(
                    "{}: [{code}]: words is empty; give the words that name the function",
                    path.display()
                ));
            }
            if let Some(word) = function.words.iter().find(|w| w.trim().is_empty()) {
                return Err(format!(
                    "{}: [{code}]: an empty word {word:?}",
                    path.display()
                ));
            }
            // Compared with lower-cased text: kept lower case whatever the file says.
            for word in &mut function.words {
                *word = word.to_lowercase();
            }
        }
        Ok(Functions(table))
    }

    /// The code of the function `text` names (case does not matter), if any: the function with
    /// the longest word found in it.
    pub fn classify(&self, text: &str) -> Option<&str> {
        let text = text.to_lowercase();
        self.0
            .iter()
            .flat_map(|(code, f)| f.words.iter().map(move |w| (code, w)))
            .filter(|(_, word)| text.contains(word.as_str()))
            .max_by_key(|(_, word)| word.chars().count())
            .map(|(code, _)| code.as_str())
    }

    /// The function's name, or the code itself for a code the table does not have.
    pub fn name<'a>(&'a self, code: &'a str) -> &'a str {
        self.0.get(code).map_or(code, |f| f.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_names_the_functions_in_the_examples_free_text() {
        let functions =
            Functions::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/functions.toml"))
                .unwrap();
        for (text, code) in [
            ("Psykiatrisk öppenvård, kurator", Some("curator")),
            ("Sjuksköterska hemsjukvård", Some("nurse")),
            ("Biståndshandläggare", Some("case_officer")),
            ("Överläkare, psykiatri", Some("physician")),
            ("Distriktssköterska", Some("nurse")),
            ("Regionens företrädare", None),
        ] {
            assert_eq!(functions.classify(text), code, "{text}");
        }
        assert_eq!(functions.name("physician"), "Läkare");
    }
}
