//! The entry points of the fuzz targets (`fuzz/`) and of the test that replays their corpora:
//! each reads one input the way the gateway reads it from another organisation, and checks
//! what must hold besides not panicking — a decoder refuses with an error that says what is
//! wrong (at a place inside the document, when it names one), or returns a message that
//! encodes and decodes back to itself; a token is accepted only when it was signed with the
//! right key and says what the gateway requires. A broken invariant panics, which the fuzzer
//! reports as a crash and the replay test as a failure.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::{Date, date};

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::formats::{Mappings, canonical, cosmic_link, fhir, municipal, riv, xml};

/// The largest input a target reads: the gateway's default body limit.
pub const MAX_INPUT: usize = 1024 * 1024;

/// The day decoders take as today, fixed so that a replay reads as the campaign did.
pub const TODAY: Date = date(2026, 11, 23);

/// What the targets share, loaded once: the shipped mappings, the example configuration's
/// organisations and clients, and an authenticator with a fixed token key.
pub struct Harness {
    pub mappings: Mappings,
    settings: Settings,
    auth: Authenticator,
    /// The example client's private key (ES384), for assertions that verify.
    client_key: jsonwebtoken::EncodingKey,
    /// Where the configuration target writes its files.
    scratch: tempfile::TempDir,
}

/// The key the harness's authenticator signs access tokens with.
const TOKEN_KEY: &[u8] = b"fuzzing-token-key-of-32-bytes-at-least!!";
const TOKEN_URL: &str = "https://brygga.example/auth/token";
const CLIENT: &str = "region-jh-cosmic";

/// The repository the library was built from (mappings, example configuration).
fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Harness {
    /// Loads the shipped mappings and example configuration. Panics if they do not load: the
    /// harness is for the repository's own data.
    pub fn new() -> Harness {
        let root = repository();
        let settings = Settings::load(&root.join("deploy/config/brygga.toml"))
            .expect("the example configuration loads");
        let mappings = Mappings::load(&root.join("mappings")).expect("the shipped mappings load");
        let auth = Authenticator::new(
            &settings.auth,
            TOKEN_URL.to_owned(),
            settings.clients.clone(),
            TOKEN_KEY,
            std::sync::Arc::new(settings.directory.clone()),
        );
        let pem = std::fs::read(root.join("deploy/config/example-keys/region-jh-cosmic.pem"))
            .expect("the example client key");
        let client_key =
            jsonwebtoken::EncodingKey::from_ec_pem(&pem).expect("the example key is EC");
        let scratch = tempfile::tempdir().expect("a scratch folder");
        copy_folder(
            &root.join("mappings/municipal/socsys"),
            &scratch.path().join("dialect"),
        )
        .expect("a dialect to edit");
        Harness {
            mappings,
            settings,
            auth,
            client_key,
            scratch,
        }
    }
}

fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_folder(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// What a target made of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read (and, for a decoder, written back and read again).
    Accepted,
    /// Refused with an error that says why.
    Refused,
    /// Not looked at (over the size limit, or too short to choose what it is).
    Skipped,
}

/// An error message must say something; every place it names (`line N, column M`, other than
/// text it quotes from the input) must be inside the input.
/// A position a decoder reports must lie on one of the input's lines.
fn check_position(error: &dyn std::fmt::Display, position: Option<xml::Position>, input: &[u8]) {
    if let Some(position) = position {
        let lines = input.iter().filter(|b| **b == b'\n').count() + 1;
        assert!(
            position.line >= 1 && position.line <= lines,
            "{error} is outside a {lines}-line document"
        );
    }
}

fn check_error(what: &str, error: &str, input: &[u8]) -> Outcome {
    assert!(!error.trim().is_empty(), "{what}: an empty error message");
    let lines = input.iter().filter(|b| **b == b'\n').count() + 1;
    let text = String::from_utf8_lossy(input);
    // Every position the error names must lie in the input, except text the error quotes from
    // the input itself (a tag or value that reads "line 9, column"), wherever it stands.
    for (at, _) in error.match_indices("line ") {
        let rest = &error[at + 5..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(line) = digits.parse::<usize>() else {
            continue;
        };
        if !rest[digits.len()..].starts_with(", column ") {
            continue;
        }
        if text.contains(&format!("line {digits}, column")) {
            continue;
        }
        assert!(
            (1..=lines).contains(&line),
            "{what}: the error names line {line} of a {lines}-line input: {error}"
        );
    }
    Outcome::Refused
}

/// The XML reader: a tree, or an error at a position inside the document.
pub fn xml(_h: &Harness, input: &[u8]) -> Outcome {
    if input.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    // Read in the encoding the document declares, as every reader of received XML does.
    let text = match crate::formats::encoding::utf8(input, None) {
        Ok(text) => text,
        Err(error) => {
            check_position(&error, error.position(), input);
            return check_error("xml", &error.to_string(), input);
        }
    };
    match xml::parse(&text) {
        Ok(root) => {
            // Every element is reachable and its text readable.
            fn walk(element: &xml::Element<'_>, depth: usize) -> usize {
                assert!(depth <= 256, "a tree deeper than the reader's limit");
                let _ = element.text();
                1 + element
                    .children
                    .iter()
                    .map(|c| walk(c, depth + 1))
                    .sum::<usize>()
            }
            assert!(walk(&root, 0) >= 1);
            Outcome::Accepted
        }
        Err(error) => {
            check_position(&error, error.position(), &text);
            check_error("xml", &error.to_string(), &text)
        }
    }
}

/// The Cosmic Link decoder: a message that encodes and decodes to itself, stably.
pub fn cosmic_link(h: &Harness, input: &[u8]) -> Outcome {
    if input.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    let codes = &h.mappings.cosmic_link;
    let decoded = match cosmic_link::decode(input, codes, TODAY) {
        Ok(decoded) => decoded,
        Err(error) => return check_error("cosmic-link", &error.to_string(), input),
    };
    let written = match cosmic_link::encode(&decoded.message, codes) {
        Ok(written) => written,
        // A message some kinds cannot carry back (a code with no Cosmic Link form) says why.
        Err(error) => return check_error("cosmic-link encode", &error.to_string(), input),
    };
    let again = cosmic_link::decode(written.as_bytes(), codes, TODAY).unwrap_or_else(|e| {
        panic!("the gateway wrote Cosmic Link it does not read: {e}\n{written}")
    });
    assert_eq!(
        again.message, decoded.message,
        "the round trip changed the message\n{written}"
    );
    assert_eq!(
        cosmic_link::encode(&again.message, codes).ok().as_deref(),
        Some(written.as_str()),
        "encoding is not stable"
    );
    Outcome::Accepted
}

/// Every municipal dialect's reader (the first byte picks the dialect): what it accepts it
/// writes as a document it reads again as the same message.
pub fn municipal(h: &Harness, input: &[u8]) -> Outcome {
    let Some((&pick, document)) = input.split_first() else {
        return Outcome::Skipped;
    };
    if document.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    let dialects: Vec<&municipal::Dialect> = h.mappings.municipal.iter().collect();
    let dialect = dialects[usize::from(pick) % dialects.len()];
    let decoded = match municipal::decode(dialect, document, TODAY) {
        Ok(decoded) => decoded,
        Err(error) => return check_error(&dialect.name, &error.to_string(), document),
    };
    let written = match municipal::encode(dialect, &decoded.message, TODAY) {
        Ok(written) => written,
        Err(error) => return check_error(&dialect.name, &error.to_string(), document),
    };
    let again = municipal::decode(dialect, written.as_bytes(), TODAY).unwrap_or_else(|e| {
        panic!(
            "{} wrote a document it does not read: {e}\n{written}",
            dialect.name
        )
    });
    assert_eq!(
        again.message, decoded.message,
        "{}: the round trip changed the message\n{written}",
        dialect.name
    );
    Outcome::Accepted
}

/// The FHIR reader (Bundle, Task, CarePlan): a message that renders as FHIR the R4 models
/// keep whole.
pub fn fhir(h: &Harness, input: &[u8]) -> Outcome {
    if input.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    let read = match fhir::read(input, TODAY) {
        Ok(read) => read,
        Err(error) => return check_error("fhir", &error.to_string(), input),
    };
    // What was read is a canonical message like any other: it survives Cosmic Link.
    let codes = &h.mappings.cosmic_link;
    if let Ok(written) = cosmic_link::encode(&read.message, codes) {
        let again = cosmic_link::decode(written.as_bytes(), codes, TODAY)
            .unwrap_or_else(|e| panic!("FHIR read to Cosmic Link it does not read: {e}"));
        assert_eq!(
            again.message.event.kind, read.message.event.kind,
            "the kind changed through Cosmic Link"
        );
    }
    Outcome::Accepted
}

/// The FHIR Consent reader.
pub fn fhir_consent(_h: &Harness, input: &[u8]) -> Outcome {
    if input.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    let value = match crate::formats::strict_json::from_slice::<serde_json::Value>(input) {
        Ok(value) => value,
        Err(error) => return check_error("fhir consent", &error.to_string(), input),
    };
    let now = Timestamp::from_second(1_795_000_000).expect("a fixed time");
    match fhir::read_consent(&value, "consent-1", TODAY, now) {
        Ok(_) => Outcome::Accepted,
        Err(error) => check_error("fhir consent", &error.to_string(), input),
    }
}

/// The canonical JSON reader: what it reads it writes back to the same message.
pub fn canonical(_h: &Harness, input: &[u8]) -> Outcome {
    if input.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    let message = match canonical::parse::<canonical::CaseLocator>(input) {
        Ok(message) => message,
        Err(error) => return check_error("canonical", &error.to_string(), input),
    };
    let written = serde_json::to_vec(&message).expect("a message serialises");
    let again = canonical::parse::<canonical::CaseLocator>(&written)
        .unwrap_or_else(|e| panic!("canonical JSON written that does not read: {e}"));
    assert_eq!(
        again, message,
        "the canonical round trip changed the message"
    );
    Outcome::Accepted
}

/// Reads `input` as fields separated by newlines, for the structure-aware token target.
struct Fields<'a>(std::str::Split<'a, char>);

impl<'a> Fields<'a> {
    fn next(&mut self) -> &'a str {
        self.0.next().unwrap_or("")
    }

    fn number(&mut self) -> i64 {
        self.next().trim().parse().unwrap_or(0)
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Access tokens and client assertions built from the input (structure-aware): the first line
/// chooses what and how it is signed — `token` (the gateway's key, HS256), `assertion` (the
/// example client's key, ES384) or anything else (the header, claims and signature as given)
/// — and the lines after it are the header's `alg` and `kid`, then `iss`, `sub`, `aud`, `exp`
/// and `iat` as seconds from now, `scope`, `organisation` and one extra claim. Whatever is
/// accepted was signed with the right key, by the right issuer, for this gateway, unexpired.
pub fn auth(h: &Harness, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::Skipped;
    };
    if text.len() > 16 * 1024 {
        return Outcome::Skipped;
    }
    let mut fields = Fields(text.split('\n'));
    let mode = fields.next();
    let (alg, kid) = (fields.next(), fields.next());
    let now = Timestamp::from_second(1_795_000_000).expect("a fixed time");
    let seconds = now.as_second();
    let mut claims = serde_json::Map::new();
    for name in ["iss", "sub", "aud"] {
        let value = fields.next();
        if !value.is_empty() {
            claims.insert(name.to_owned(), value.into());
        }
    }
    let exp = seconds.saturating_add(fields.number());
    let iat = seconds.saturating_add(fields.number());
    claims.insert("exp".to_owned(), exp.into());
    claims.insert("iat".to_owned(), iat.into());
    claims.insert("jti".to_owned(), "fuzz".into());
    for name in ["scope", "organisation"] {
        let value = fields.next();
        if !value.is_empty() {
            claims.insert(name.to_owned(), value.into());
        }
    }
    let (key, value) = (fields.next(), fields.next());
    if !key.is_empty() {
        claims.insert(key.to_owned(), value.into());
    }
    let claims = serde_json::Value::Object(claims);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = (!kid.is_empty()).then(|| kid.to_owned());
    let signed = match mode {
        "token" => jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(TOKEN_KEY),
        )
        .ok(),
        "assertion" => {
            header.alg = jsonwebtoken::Algorithm::ES384;
            jsonwebtoken::encode(&header, &claims, &h.client_key).ok()
        }
        _ => None,
    };
    let jwt = signed.clone().unwrap_or_else(|| {
        let header = serde_json::json!({ "alg": alg, "kid": kid, "typ": "JWT" });
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(fields.next().as_bytes())
        )
    });
    let audience = TOKEN_URL.trim_end_matches("/auth/token");
    let aud = claims["aud"].as_str();
    // An access token.
    let mut outcome = Outcome::Refused;
    let verified = poll_once(h.auth.verify_token(&jwt, now, None));
    if let Some(Ok(caller)) = verified {
        outcome = Outcome::Accepted;
        assert!(
            mode == "token" && signed.is_some(),
            "a token not signed with the gateway's key was accepted"
        );
        assert_eq!(
            aud,
            Some(audience),
            "a token for another audience was accepted"
        );
        assert_eq!(
            claims["iss"].as_str(),
            Some(TOKEN_URL),
            "another issuer's token"
        );
        assert!(exp > seconds, "an expired token was accepted");
        assert_eq!(caller.client_id, claims["sub"].as_str().unwrap_or_default());
    }
    // A client assertion.
    if let Ok(assertion) = h.auth.verify_assertion(&jwt, now) {
        outcome = Outcome::Accepted;
        assert!(
            mode == "assertion" && signed.is_some(),
            "an assertion not signed with the client's key was accepted"
        );
        assert_eq!(
            assertion.client_id, CLIENT,
            "an assertion for another client"
        );
        assert_eq!(claims["iss"].as_str(), Some(CLIENT));
        assert_eq!(claims["sub"].as_str(), Some(CLIENT));
        assert_eq!(aud, Some(TOKEN_URL), "an assertion for another endpoint");
        assert!(exp > seconds, "an expired assertion was accepted");
    }
    outcome
}

/// Polls a future that never waits on IO (token verification without identity providers)
/// once; `None` if it would have waited.
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// The files an operator edits (the first byte picks which): settings, organisations,
/// clients, subscriptions, a deadline policy, a dialect's `dialect.toml` or message file, a
/// scenario. Each loads or is refused with messages that say what is wrong.
pub fn config(h: &Harness, input: &[u8]) -> Outcome {
    let Some((&pick, text)) = input.split_first() else {
        return Outcome::Skipped;
    };
    if text.len() > 64 * 1024 {
        return Outcome::Skipped;
    }
    let dir = h.scratch.path();
    let write = |name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("the scratch folder is writable");
        path
    };
    let problems: Vec<String> = match pick % 7 {
        // The settings' own keys and values (the files they name are the other kinds).
        0 => match std::str::from_utf8(text) {
            Ok(text) => toml::from_str::<Settings>(text)
                .err()
                .map(|e| vec![e.to_string()])
                .unwrap_or_default(),
            Err(error) => vec![error.to_string()],
        },
        1 => crate::config::Directory::load(&write("organisations.toml"))
            .err()
            .unwrap_or_default(),
        2 => crate::auth::load_clients(&write("clients.toml"), &h.settings.directory)
            .err()
            .unwrap_or_default(),
        3 => {
            crate::delivery::load_subscriptions(&write("subscriptions.toml"), &h.settings.directory)
                .err()
                .unwrap_or_default()
        }
        4 => {
            let path = write("policy.toml");
            crate::process::policy::Policies::load_files(std::slice::from_ref(&path), &path)
                .err()
                .map(|e| vec![e.to_string()])
                .unwrap_or_default()
        }
        5 => {
            let folder = dir.join("dialect");
            let file = if text.first() == Some(&b'[') || text.starts_with(b"name") {
                folder.join("dialect.toml")
            } else {
                folder.join("messages/avvikelse.toml")
            };
            // The file's own form first (what most inputs fail), the whole dialect compiled
            // only for one that has it: compiling reads every file of the folder.
            let parsed = std::str::from_utf8(text)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    if file.ends_with("dialect.toml") {
                        toml::from_str::<municipal::DialectSpec>(t).map(|_| ())
                    } else {
                        toml::from_str::<municipal::MessageSpec>(t).map(|_| ())
                    }
                    .map_err(|e| e.to_string())
                });
            if let Err(problem) = parsed {
                assert!(!problem.trim().is_empty(), "an empty problem");
                return Outcome::Refused;
            }
            let original = std::fs::read(&file).expect("the dialect's file");
            std::fs::write(&file, text).expect("writable");
            let loaded = municipal::load_folder(&folder)
                .err()
                .map(|e| vec![e.to_string()])
                .unwrap_or_default();
            std::fs::write(&file, original).expect("writable");
            loaded
        }
        _ => crate::replay::load(&write("scenario.toml"))
            .err()
            .map(|e| vec![e])
            .unwrap_or_default(),
    };
    for problem in &problems {
        assert!(!problem.trim().is_empty(), "an empty problem");
    }
    if problems.is_empty() {
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}

/// The RIV-TA GetCarePlans request reader (what the national platform sends): refused with
/// an error whose position lies in the document, or a request naming a producer and a person,
/// with a period that does not end before it starts.
pub fn riv(_h: &Harness, input: &[u8]) -> Outcome {
    if input.len() > MAX_INPUT {
        return Outcome::Skipped;
    }
    match riv::decode_request(input, TODAY) {
        Ok(request) => {
            assert!(!request.logical_address.is_empty(), "no logical address");
            if let Some((start, end)) = request.date_period {
                assert!(start <= end, "a period that ends before it starts");
            }
            assert!(request.care_contact_ids.iter().all(|c| !c.is_empty()));
            Outcome::Accepted
        }
        Err(error) => {
            check_position(&error, error.position, input);
            assert!(error.path.starts_with('/'), "{error} names no element");
            check_error("riv", &error.to_string(), input)
        }
    }
}

/// A target's entry point.
pub type Target = fn(&Harness, &[u8]) -> Outcome;

/// The targets by name, for the replay test and `fuzz/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("xml", xml),
    ("cosmic_link", cosmic_link),
    ("municipal", municipal),
    ("fhir", fhir),
    ("fhir_consent", fhir_consent),
    ("canonical", canonical),
    ("auth", auth),
    ("config", config),
    ("riv", riv),
];

/// The corpus folder of `target` in the repository.
pub fn corpus(target: &str) -> PathBuf {
    repository().join("fuzz/corpus").join(target)
}

/// Runs `target` on every file of `folder`; answers how many it accepted and refused.
pub fn replay(h: &Harness, target: Target, folder: &Path) -> (usize, usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.sort();
    let (mut accepted, mut refused) = (0, 0);
    for file in &files {
        let input = std::fs::read(file).expect("a corpus file");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(h, &input)));
        match outcome {
            Ok(Outcome::Accepted) => accepted += 1,
            Ok(_) => refused += 1,
            Err(_) => {}
        }
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{}: {message}", file.display());
        }
    }
    (accepted, refused)
}
