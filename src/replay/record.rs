//! Recording: the messages a running gateway accepts, written down as a scenario that
//! `brygga replay` runs (`recording.dir`). Personal data never reaches the disk: before a
//! message is written, its person's identity number is replaced by a test identity with a
//! valid check digit, and every text the event marks as personal (names, addresses, free-text
//! notes) by a text of the same shape (letters for letters, digits for digits), so that the
//! recorded document still reads under its contract. The replacements are consistent within a
//! recording (the same person, the same test identity) and keyed by a secret made when the
//! gateway starts and kept nowhere, so they cannot be undone from the recording.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::domain::identifiers::PersonId;
use crate::formats::canonical::CanonicalMessage;

/// What of a message the recording must replace, taken before the message is received.
#[derive(Debug, Clone)]
pub struct Pending {
    person: PersonId,
    texts: Vec<String>,
    kind: String,
}

#[derive(Debug, Default)]
struct State {
    start: Option<Timestamp>,
    count: usize,
    /// Event ids recorded (a message accepted again is a duplicate).
    events: HashSet<String>,
    /// Replacements made so far, original → replacement.
    replaced: HashMap<String, String>,
}

/// Writes accepted messages into a scenario folder.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    key: [u8; 32],
    state: Mutex<State>,
}

impl Recorder {
    /// A recorder writing into `dir` (created if missing; a scenario already there is
    /// continued in a new file).
    pub fn new(dir: PathBuf) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(dir.join("messages"))?;
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(16) {
            chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        Ok(Recorder {
            dir,
            key,
            state: Mutex::new(State::default()),
        })
    }

    /// What `message` holds that must be replaced.
    pub fn prepare(message: &CanonicalMessage) -> Pending {
        let mut texts = crate::domain::sensitive::collect(&message.event);
        texts.retain(|t| !t.trim().is_empty());
        // Longer first, so that a name inside a longer text is replaced with it.
        texts.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
        texts.dedup();
        Pending {
            person: message.person.clone(),
            texts,
            kind: message.event.kind.name().to_owned(),
        }
    }

    fn digest(&self, text: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(text.as_bytes());
        hasher.finalize().into()
    }

    /// `text` with every letter and digit replaced (keeping case, spaces and punctuation).
    fn same_shape(&self, text: &str) -> String {
        let digest = self.digest(text);
        const VOWELS: &[u8] = b"aeiouy";
        const CONSONANTS: &[u8] = b"bdfghjklmnprstv";
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                let n = digest[i % 32].wrapping_add((i / 32) as u8) as usize;
                if c.is_ascii_digit() {
                    char::from(b'0' + (n % 10) as u8)
                } else if c.is_alphabetic() {
                    let pool = if i % 2 == 0 { CONSONANTS } else { VOWELS };
                    let letter = char::from(pool[n % pool.len()]);
                    if c.is_uppercase() {
                        letter.to_ascii_uppercase()
                    } else {
                        letter
                    }
                } else {
                    c
                }
            })
            .collect()
    }

    /// A test identity for `person`'s twelve digits: a date from the digest (a samordningsnummer
    /// keeps its day + 60), a serial of the same parity, and a valid check digit.
    fn test_identity(&self, digits: &str) -> Option<String> {
        if digits.len() != 12 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digest = self.digest(digits);
        let n = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let born = jiff::civil::date(1930, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(n % 25_000)))
            .ok()?;
        let day_offset = if digits[6..8].parse::<u32>().ok()? > 60 {
            60
        } else {
            0
        };
        let parity = digits[10..11].parse::<u32>().ok()? % 2;
        let serial = 100 + (n / 25_000) % 80 * 10 + (n % 5) * 2 + parity;
        let nine = format!(
            "{:02}{:02}{:02}{:03}",
            born.year() % 100,
            born.month(),
            born.day() as u32 + day_offset,
            serial % 1000
        );
        let sum: u32 = nine
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let d = c.to_digit(10).unwrap_or(0) * if i % 2 == 0 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        Some(format!(
            "{}{nine}{}",
            born.year() / 100,
            (10 - sum % 10) % 10
        ))
    }

    /// The forms a text takes in a document: as it is, XML-escaped, JSON-escaped.
    fn forms(text: &str) -> Vec<String> {
        let xml = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;");
        let json = serde_json::to_string(text).unwrap_or_default();
        let json = json.trim_matches('"').to_owned();
        let mut forms = vec![text.to_owned(), xml, json];
        forms.dedup();
        forms
    }

    /// `document` with the person's identity and the personal texts replaced.
    pub fn pseudonymise(&self, document: &str, pending: &Pending) -> String {
        let mut out = document.to_owned();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let twelve = pending.person.value();
        if let Some(test) = state
            .replaced
            .get(&twelve)
            .cloned()
            .or_else(|| self.test_identity(&twelve))
        {
            state.replaced.insert(twelve.clone(), test.clone());
            // Twelve digits, ten, and each with its separator.
            let forms = [
                (twelve.clone(), test.clone()),
                (twelve[2..].to_owned(), test[2..].to_owned()),
                (
                    format!("{}-{}", &twelve[..8], &twelve[8..]),
                    format!("{}-{}", &test[..8], &test[8..]),
                ),
                (
                    format!("{}-{}", &twelve[2..8], &twelve[8..]),
                    format!("{}-{}", &test[2..8], &test[8..]),
                ),
                (
                    format!("{}+{}", &twelve[2..8], &twelve[8..]),
                    format!("{}+{}", &test[2..8], &test[8..]),
                ),
            ];
            for (from, to) in forms {
                out = out.replace(&from, &to);
            }
        }
        for text in &pending.texts {
            let replacement = state
                .replaced
                .get(text)
                .cloned()
                .unwrap_or_else(|| self.same_shape(text));
            state.replaced.insert(text.clone(), replacement.clone());
            for (from, to) in Self::forms(text).into_iter().zip(Self::forms(&replacement)) {
                out = out.replace(&from, &to);
            }
        }
        out
    }

    /// Writes an accepted message (`format`: how it came; `event`: the id its receipt gave)
    /// as the scenario's next step.
    pub fn record(
        &self,
        format: &str,
        document: &str,
        pending: &Pending,
        event: &str,
        at: Timestamp,
    ) -> std::io::Result<()> {
        let written = self.pseudonymise(document, pending);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = *state.start.get_or_insert_with(|| {
            at.checked_sub(jiff::SignedDuration::from_mins(1))
                .unwrap_or(at)
        });
        state.count += 1;
        let duplicate = !state.events.insert(event.to_owned());
        let extension = if format.starts_with("municipal") || format == "cosmic-link" {
            "xml"
        } else {
            "json"
        };
        let name = format!("{:04}-{}.{extension}", state.count, pending.kind);
        std::fs::write(self.dir.join("messages").join(&name), written)?;
        let scenario = self.dir.join("scenario.toml");
        let new = !scenario.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&scenario)?;
        if new {
            writeln!(
                file,
                "# Recorded by brygga from the messages it accepted; personal data replaced by\n\
                 # test identities. Add [[receiver]]s and expectations, then run it with\n\
                 # `brygga replay`.\nname = \"Recorded {}\"\nstart = \"{start}\"",
                start.strftime("%Y-%m-%d %H:%M UTC")
            )?;
        }
        let offset = crate::replay::Offset(at.duration_since(start));
        writeln!(
            file,
            "\n[[step]]\nname = \"{} ({})\"\nat = \"{offset}\"\nsend = \"{format}\"\nfile = \"messages/{name}\"",
            pending.kind, state.count
        )?;
        if duplicate {
            writeln!(file, "[step.expect]\noutcome = \"duplicate\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorder in a folder removed when the test ends.
    fn recorder() -> (tempfile::TempDir, Recorder) {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::new(dir.path().join("recorded")).unwrap();
        (dir, recorder)
    }

    #[test]
    fn test_identities_are_valid_consistent_and_keep_what_the_number_says() {
        let (_dir, recorder) = recorder();
        let today = jiff::civil::date(2026, 11, 23);
        let test = recorder.test_identity("198112189876").unwrap();
        assert_ne!(test, "198112189876");
        assert!(
            PersonId::from_system(
                "http://electronichealth.se/identifier/personnummer",
                &test,
                today
            )
            .is_some(),
            "{test} is a valid personnummer"
        );
        assert_eq!(recorder.test_identity("198112189876").unwrap(), test);
        // The serial's parity (legal sex) is kept.
        assert_eq!(test[10..11].parse::<u32>().unwrap() % 2, 1);
        // A samordningsnummer stays one.
        let coordination = recorder.test_identity("198112789876").unwrap();
        assert!(
            coordination[6..8].parse::<u32>().unwrap() > 60,
            "{coordination}"
        );
    }

    #[test]
    fn texts_keep_their_shape_and_every_form_is_replaced() {
        let (_dir, recorder) = recorder();
        let street = recorder.same_shape("Storgatan 12 B");
        assert_eq!(street.len(), "Storgatan 12 B".len());
        assert_eq!(&street[9..10], " ");
        assert!(street[10..12].chars().all(|c| c.is_ascii_digit()));
        assert_ne!(street, "Storgatan 12 B");
        assert_eq!(recorder.same_shape("831 30").chars().nth(3), Some(' '));
        let pending = Pending {
            person: PersonId::from_system(
                "http://electronichealth.se/identifier/personnummer",
                "198112189876",
                jiff::civil::date(2026, 11, 23),
            )
            .unwrap(),
            texts: vec!["Smith & Söner".into(), "Astrid".into()],
            kind: "admission_notice".into(),
        };
        let document =
            "<P>811218-9876</P><N>Astrid</N><F>Smith &amp; Söner</F>{\"pnr\":\"198112189876\"}";
        let written = recorder.pseudonymise(document, &pending);
        for original in ["811218-9876", "198112189876", "Astrid", "Smith", "Söner"] {
            assert!(!written.contains(original), "{original} in {written}");
        }
        assert!(written.contains("&amp;"), "{written}");
        // The same person, the same test identity, in the next message too.
        assert_eq!(
            recorder.pseudonymise("198112189876", &pending),
            recorder.pseudonymise("198112189876", &pending)
        );
    }
}
