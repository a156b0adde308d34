//! The console's sessions: a random token in an HttpOnly, Secure, SameSite=Strict cookie, kept
//! here by its SHA-256 (a memory dump holds no usable token), with the account it signed in,
//! a CSRF token for its forms, and two limits: idle (since the last request) and absolute
//! (since sign-in). In memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::auth::{Account, Role};
use crate::domain::party::Organisation;

/// The cookie's name.
pub const COOKIE: &str = "brygga_session";

/// The most sessions kept; past it, the expired go, and then the oldest.
const MOST: usize = 10_000;

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub name: String,
    pub organisation: Organisation,
    pub role: Role,
    /// Sees the county's statistics (every unit, small figures suppressed).
    pub county_statistics: bool,
    /// Every form of the session carries it; a POST without it is refused.
    pub csrf: String,
    /// `sv` or `en`.
    pub language: &'static str,
    signed_in: Timestamp,
    seen: Timestamp,
}

/// The sessions of this instance.
#[derive(Debug)]
pub struct Sessions {
    by_digest: Mutex<HashMap<String, Session>>,
    idle: SignedDuration,
    absolute: SignedDuration,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator; without it no session can be made safely.
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    hex::encode(bytes)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    pub fn new(idle: SignedDuration, absolute: SignedDuration) -> Sessions {
        Sessions {
            by_digest: Mutex::new(HashMap::new()),
            idle,
            absolute,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self, session: &Session, now: Timestamp) -> bool {
        now < session.seen + self.idle && now < session.signed_in + self.absolute
    }

    /// A new session for `account` at `now`; its token, for the cookie.
    pub fn sign_in(&self, account: &Account, language: &'static str, now: Timestamp) -> String {
        let token = random_hex();
        let session = Session {
            username: account.username.clone(),
            name: account.name.clone(),
            organisation: account.organisation.clone(),
            role: account.role,
            county_statistics: account.county_statistics,
            csrf: random_hex(),
            language,
            signed_in: now,
            seen: now,
        };
        let mut map = self.map();
        if map.len() >= MOST {
            map.retain(|_, s| self.live(s, now));
            if map.len() >= MOST
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.signed_in)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(digest(&token), session);
        token
    }

    /// The session of `token` at `now`, if it lives; its idle time starts again.
    pub fn find(&self, token: &str, now: Timestamp) -> Option<Session> {
        let key = digest(token);
        let mut map = self.map();
        let session = map.get_mut(&key)?;
        if !self.live(session, now) {
            map.remove(&key);
            return None;
        }
        session.seen = now;
        Some(session.clone())
    }

    /// Sets the session's language.
    pub fn set_language(&self, token: &str, language: &'static str) {
        if let Some(session) = self.map().get_mut(&digest(token)) {
            session.language = language;
        }
    }

    /// Ends the session of `token`.
    pub fn sign_out(&self, token: &str) {
        self.map().remove(&digest(token));
    }
}

/// The session token of a request's `Cookie` header.
pub fn token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that holds `token`, or (`None`) that clears it.
pub fn cookie(token: Option<&str>) -> String {
    match token {
        Some(token) => {
            format!("{COOKIE}={token}; Path=/console; HttpOnly; Secure; SameSite=Strict")
        }
        None => format!("{COOKIE}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
    }
}
