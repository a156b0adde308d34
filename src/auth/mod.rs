//! Authentication: SMART Backend Services (client credentials with a signed JWT assertion),
//! the gateway's short-lived access tokens, and tokens of an external identity provider
//! verified against its JWKS. No HTTP here: `http::auth` calls this.
//!
//! Client assertions are accepted only as RS384 or ES384 signed by a key registered for the
//! client; `iss` and `sub` must be the client id, `aud` the token endpoint, `exp` at most five
//! minutes ahead, and `jti` unused (the store remembers used ones until they expire). Access
//! tokens are HS256 under a secret that never leaves the gateway; they carry the granted scopes
//! and the client's organisation.

pub mod access;
mod accounts;
mod assertion;
mod client_side;
pub mod clients;
mod idp;
mod oidc;
pub mod scopes;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

pub use accounts::{Account, NewAccount, Role, add_account, load_accounts, sign_in};
pub use client_side::request_token;
pub use clients::{Client, ClientEntry, load_clients, parse_jwks};
pub use oidc::{PendingSignIn, SignedInPerson};
pub use scopes::{Interaction, Scope, Scopes};

use crate::config::{AuthSettings, Directory, ExternalIssuer};
use crate::domain::identifiers::HsaId;
use crate::domain::party::Organisation;

/// The client-assertion type of RFC 7523, the only one accepted.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The `kid` of the gateway's own access tokens.
const GATEWAY_KID: &str = "brygga-access-token";
/// The algorithms a client assertion may be signed with.
pub const ASSERTION_ALGORITHMS: &[Algorithm] = &[Algorithm::RS384, Algorithm::ES384];
/// The algorithms an external identity provider's tokens may be signed with.
const IDP_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
    Algorithm::PS384,
];
/// How far ahead an assertion's `exp` may be (SMART: no more than five minutes).
const ASSERTION_MAX_LIFETIME: SignedDuration = SignedDuration::from_secs(300);
/// How often an identity provider's JWKS may be fetched again for an unknown `kid`.
const JWKS_REFRESH: Duration = Duration::from_secs(60);

/// Why a request was not authenticated or authorised. Messages say what is wrong without
/// echoing the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 400 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(String),
    /// 400 `unsupported_grant_type`.
    #[error("{0}")]
    UnsupportedGrant(String),
    /// 400 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(String),
    /// 401 `invalid_client`: the assertion did not prove the client.
    #[error("{0}")]
    InvalidClient(String),
    /// 401: no bearer token.
    #[error(
        "the request carries no bearer token; get one from the token endpoint (see /.well-known/smart-configuration)"
    )]
    NoToken,
    /// 401: a token that is not valid (expired, wrong audience, bad signature, unknown issuer).
    #[error("{0}")]
    InvalidToken(String),
    /// 403: the token does not cover what the request does.
    #[error("{0}")]
    Forbidden(String),
    /// 503: an identity provider's keys could not be fetched.
    #[error("{0}")]
    Unavailable(String),
}

impl AuthError {
    /// The OAuth error code (RFC 6749 section 5.2, RFC 6750 section 3.1).
    pub fn oauth_code(&self) -> &'static str {
        match self {
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::UnsupportedGrant(_) => "unsupported_grant_type",
            AuthError::InvalidScope(_) => "invalid_scope",
            AuthError::InvalidClient(_) => "invalid_client",
            AuthError::NoToken | AuthError::InvalidToken(_) => "invalid_token",
            AuthError::Forbidden(_) => "insufficient_scope",
            AuthError::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

/// Who is calling, as proven by a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub organisation: Organisation,
    pub scopes: Scopes,
    /// May read every organisation's audit records.
    pub auditor: bool,
    /// Posts steps on behalf of any organisation (a shared system's integration).
    pub relay: bool,
    /// Sees the statistics of every organisation (the county's follow-up).
    pub county_statistics: bool,
    /// May lift a person's protected identity.
    pub may_lift_protection: bool,
    /// The token's `jti`, for the audit log.
    pub token_id: String,
    /// `brygga` for the gateway's own tokens, the issuer URL for an identity provider's.
    pub issuer: String,
}

impl Caller {
    /// A consumer of the national platform, known by its certificate: `client` as registered,
    /// reading only (none of the powers a client may be given beyond its scopes).
    pub fn platform_consumer(client: &Client) -> Caller {
        Caller {
            client_id: client.client_id.clone(),
            organisation: client.organisation.clone(),
            scopes: client.scopes.clone(),
            auditor: false,
            relay: false,
            county_statistics: false,
            may_lift_protection: false,
            token_id: match &client.hsa_id {
                Some(id) => format!("certificate:{id}"),
                None => "certificate".to_owned(),
            },
            issuer: "mutual-tls".to_owned(),
        }
    }

    /// On whose behalf the caller posts steps.
    pub fn acting(&self) -> crate::pipeline::Acting<'_> {
        if self.relay {
            crate::pipeline::Acting::Relay(&self.organisation)
        } else {
            crate::pipeline::Acting::Client(&self.organisation)
        }
    }

    /// Whether the scopes cover `interaction` on `resource`; otherwise the 403 to answer.
    pub fn require(&self, resource: &str, interaction: Interaction) -> Result<(), AuthError> {
        if self.scopes.allows(resource, interaction) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "the token's scopes ({}) do not cover {interaction} on {resource}; it needs system/{resource}.{}",
                self.scopes,
                match interaction {
                    Interaction::Create => "c",
                    Interaction::Read => "r",
                    Interaction::Update => "u",
                    Interaction::Delete => "d",
                    Interaction::Search => "s",
                }
            )))
        }
    }
}

/// A client assertion whose signature and claims verified; its `jti` must still be marked used.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub client_id: String,
    pub jti: String,
    pub expires_at: Timestamp,
}

/// What the token endpoint answers (RFC 6749 section 5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    scope: String,
    organisation: String,
    #[serde(default)]
    auditor: bool,
    /// RFC 8705: the token is bound to the client certificate with this SHA-256 thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Confirmation {
    #[serde(rename = "x5t#S256")]
    thumbprint: String,
}

/// A certificate fingerprint (hex) as an RFC 8705 thumbprint (base64url).
fn thumbprint(hex_fingerprint: &str) -> String {
    use base64::Engine;
    let bytes = hex::decode(hex_fingerprint).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An identity provider and its keys, fetched when first needed.
struct Idp {
    settings: ExternalIssuer,
    keys: RwLock<Option<(JwkSet, Instant)>>,
}

/// The clients file the registry is read from, and the file's state when it was last read.
struct ClientsSource {
    path: std::path::PathBuf,
    read: std::sync::Mutex<Option<FileStamp>>,
}

/// The registered clients, as last read.
type Registry = Arc<HashMap<String, Arc<Client>>>;

/// Verifies assertions and tokens and issues access tokens.
pub struct Authenticator {
    /// The registered clients. Read again from the clients file whenever it has changed, before
    /// a request is judged: a client's scopes cut, its organisation changed or the client
    /// removed take effect at once, on every instance reading the file.
    clients: std::sync::RwLock<Registry>,
    source: Option<ClientsSource>,
    token_url: String,
    audience: String,
    lifetime: SignedDuration,
    encoding: EncodingKey,
    decoding: DecodingKey,
    idps: Vec<Idp>,
    directory: Arc<Directory>,
    http: reqwest::Client,
    /// The gateway's own tokens whose signature, audience and issuer were verified, by token:
    /// a client presents one token for many requests, and each then skips decoding and
    /// verifying it again. What can change (expiry, the client's registration, the connection's
    /// certificate) is checked at every request.
    verified: std::sync::Mutex<HashMap<String, Arc<AccessClaims>>>,
}

/// The most verified tokens `Authenticator::verified` keeps; past it, the expired ones go, and
/// if none has expired, all of them.
const VERIFIED_TOKENS: usize = 4_096;

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("clients", &self.registry().len())
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

fn seconds(at: Timestamp) -> i64 {
    at.as_second()
}

fn from_seconds(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap_or(Timestamp::MAX)
}

impl Authenticator {
    /// `key` is the secret for access tokens (at least 32 bytes).
    pub fn new(
        settings: &AuthSettings,
        token_url: String,
        clients: Vec<Client>,
        key: &[u8],
        directory: Arc<Directory>,
    ) -> Authenticator {
        let audience = token_url
            .strip_suffix("/auth/token")
            .unwrap_or(&token_url)
            .to_owned();
        Authenticator {
            clients: std::sync::RwLock::new(Arc::new(
                clients
                    .into_iter()
                    .map(|c| (c.client_id.clone(), Arc::new(c)))
                    .collect(),
            )),
            source: None,
            token_url,
            audience,
            lifetime: SignedDuration::from_secs(settings.token_lifetime_seconds as i64),
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            verified: std::sync::Mutex::new(HashMap::new()),
            idps: settings
                .issuers
                .iter()
                .map(|s| Idp {
                    settings: s.clone(),
                    keys: RwLock::new(None),
                })
                .collect(),
            directory,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The token endpoint's URL: the `aud` client assertions must carry.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// Reads the registry again from `path` whenever the file changes (its modification time
    /// or size), so that a registration changed in the file is in force at the next request.
    pub fn reading_clients_from(mut self, path: std::path::PathBuf) -> Authenticator {
        let stamp = file_stamp(&path);
        self.source = Some(ClientsSource {
            path,
            read: std::sync::Mutex::new(stamp),
        });
        self
    }

    /// The registered clients, read again first if the clients file changed. A file that no
    /// longer reads leaves the last good registry in force, and says so in the log.
    fn registry(&self) -> Registry {
        if let Some(source) = &self.source {
            let now = file_stamp(&source.path);
            let mut read = source.read.lock().unwrap_or_else(|e| e.into_inner());
            if now != *read {
                *read = now;
                match clients::load_clients(&source.path, &self.directory) {
                    Ok(clients) => {
                        let registry: HashMap<String, Arc<Client>> = clients
                            .into_iter()
                            .map(|c| (c.client_id.clone(), Arc::new(c)))
                            .collect();
                        tracing::info!(
                            clients = registry.len(),
                            "the clients file changed; its registrations are in force"
                        );
                        *self.clients.write().unwrap_or_else(|e| e.into_inner()) =
                            Arc::new(registry);
                    }
                    Err(problems) => {
                        for problem in problems {
                            tracing::error!(%problem, "the changed clients file does not read; the last good registrations stay in force");
                        }
                    }
                }
            }
        }
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.registry().get(client_id).cloned()
    }

    /// Every scope some client may be granted, for the SMART configuration.
    pub fn scopes_supported(&self) -> Vec<String> {
        let registry = self.registry();
        let mut scopes: Vec<String> = registry
            .values()
            .flat_map(|c| c.scopes.0.iter().map(|s| s.text.clone()))
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// The scopes to grant `client` for `requested` (space-separated; empty for all it holds).
    pub fn grant(&self, client: &Client, requested: &str) -> Result<Scopes, AuthError> {
        let requested = Scopes::parse(requested).map_err(AuthError::InvalidScope)?;
        let granted = Scopes::grant(&requested, &client.scopes);
        if granted.is_empty() {
            return Err(AuthError::InvalidScope(format!(
                "client {:?} holds none of the requested scopes; it may be granted {}",
                client.client_id, client.scopes
            )));
        }
        Ok(granted)
    }

    /// Whether `client` may get a token over a connection presenting `certificate`: a client
    /// bound to certificates must present one of them.
    pub fn check_certificate(
        &self,
        client: &Client,
        certificate: Option<&str>,
    ) -> Result<(), AuthError> {
        if client.certificates.is_empty() {
            return Ok(());
        }
        match certificate {
            Some(c) if client.certificates.iter().any(|r| r == c) => Ok(()),
            Some(_) => Err(AuthError::InvalidClient(format!(
                "the client certificate presented is not one registered for {:?}",
                client.client_id
            ))),
            None => Err(AuthError::InvalidClient(format!(
                "client {:?} authenticates with its client certificate (mutual TLS); none was presented",
                client.client_id
            ))),
        }
    }

    /// A client proven by its certificate alone (RFC 8705 `tls_client_auth`).
    pub fn certificate_client(
        &self,
        client_id: &str,
        certificate: Option<&str>,
    ) -> Result<Arc<Client>, AuthError> {
        let client = self.client(client_id).ok_or_else(|| {
            AuthError::InvalidClient(format!("no client {client_id:?} is registered"))
        })?;
        if client.certificates.is_empty() {
            return Err(AuthError::InvalidClient(format!(
                "client {client_id:?} has no client certificate registered; authenticate with a signed client assertion"
            )));
        }
        self.check_certificate(&client, certificate)?;
        Ok(client)
    }

    /// The caller a consumer of the national platform is, named by the HSA-id in the subject
    /// of its client certificate (already verified against the platform's trust anchors):
    /// the client registered with that `hsa_id`, with its organisation and scopes as
    /// registered now. `original`: the consumer the caller names in RIV-TA's
    /// `x-rivta-original-serviceconsumer-hsaid`, which only the national service platform
    /// (a client marked `platform`) may name, and which is then the caller.
    pub fn platform_consumer(
        &self,
        hsa_id: &HsaId,
        original: Option<&HsaId>,
    ) -> Result<Caller, AuthError> {
        let registry = self.registry();
        let registered = |id: &HsaId, who: &str| {
            registry
                .values()
                .find(|c| c.hsa_id.as_ref() == Some(id))
                .cloned()
                .ok_or_else(|| {
                    AuthError::Forbidden(format!(
                        "the consuming system {id} {who} is not registered (clients file, hsa_id)"
                    ))
                })
        };
        let client = registered(hsa_id, "named by the client certificate")?;
        match (client.platform, original) {
            (false, None) => Ok(Caller::platform_consumer(&client)),
            (false, Some(_)) => Err(AuthError::Forbidden(format!(
                "{hsa_id} names another consumer (x-rivta-original-serviceconsumer-hsaid), which only the national service platform may (a client marked platform)"
            ))),
            (true, None) => Err(AuthError::Forbidden(format!(
                "{hsa_id} is the national service platform: it must name the consumer it calls for (x-rivta-original-serviceconsumer-hsaid)"
            ))),
            (true, Some(original)) => {
                let consumer = registered(original, "named by the platform")?;
                if consumer.platform {
                    return Err(AuthError::Forbidden(format!(
                        "{original} is a platform, not a consumer"
                    )));
                }
                Ok(Caller::platform_consumer(&consumer))
            }
        }
    }

    /// An access token for `client` with `scopes`, valid from `now` for the configured lifetime,
    /// bound to `certificate` when the client is bound to certificates.
    pub fn issue(
        &self,
        client: &Client,
        scopes: &Scopes,
        now: Timestamp,
        certificate: Option<&str>,
    ) -> TokenResponse {
        let claims = AccessClaims {
            iss: self.token_url.clone(),
            sub: client.client_id.clone(),
            aud: self.audience.clone(),
            exp: seconds(now + self.lifetime),
            iat: seconds(now),
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scopes.to_string(),
            organisation: client.organisation.code(),
            auditor: client.auditor,
            cnf: certificate
                .filter(|_| !client.certificates.is_empty())
                .map(|c| Confirmation {
                    thumbprint: thumbprint(c),
                }),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(GATEWAY_KID.to_owned());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 signing with a secret cannot fail");
        TokenResponse {
            access_token,
            token_type: "bearer".to_owned(),
            expires_in: self.lifetime.as_secs() as u64,
            scope: claims.scope,
        }
    }

    /// Verifies a bearer token at `now`, presented over a connection with `certificate` (the
    /// client certificate's SHA-256, if any): one of the gateway's, or one of a configured
    /// identity provider's.
    pub async fn verify_token(
        &self,
        token: &str,
        now: Timestamp,
        certificate: Option<&str>,
    ) -> Result<Caller, AuthError> {
        let invalid = |m: &str| AuthError::InvalidToken(m.to_owned());
        if let Some(claims) = self.verified_claims(token) {
            return self.admit(&claims, now, certificate);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the bearer token is not a signed JWT with a readable header"))?;
        if header.kid.as_deref() == Some(GATEWAY_KID) || header.alg == Algorithm::HS256 {
            return self.verify_own(token, header.alg, now, certificate);
        }
        #[derive(Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let iss = jsonwebtoken::dangerous::insecure_decode::<Iss>(token)
            .ok()
            .and_then(|t| t.claims.iss)
            .ok_or_else(|| invalid("the bearer token has no issuer"))?;
        let idp = self
            .idps
            .iter()
            .find(|i| i.settings.issuer == iss)
            .ok_or_else(|| {
                invalid(
                    "the bearer token is not from this gateway or a configured identity provider",
                )
            })?;
        self.verify_idp(idp, token, &header, now).await
    }

    /// The claims of one of the gateway's tokens verified before, if `token` is one.
    fn verified_claims(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.get(token).cloned()
    }

    /// Verifies one of the gateway's own tokens (signature, audience, issuer), keeps its claims
    /// for the next requests with it, and checks what `admit` checks.
    fn verify_own(
        &self,
        token: &str,
        alg: Algorithm,
        now: Timestamp,
        certificate: Option<&str>,
    ) -> Result<Caller, AuthError> {
        let claims = Arc::new(self.own_claims(token, alg)?);
        let caller = self.admit(&claims, now, certificate)?;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_TOKENS {
            let now = now.as_second();
            verified.retain(|_, claims| claims.exp > now);
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), claims);
        Ok(caller)
    }

    /// The claims of one of the gateway's own tokens, once its signature, audience and issuer
    /// verify.
    fn own_claims(&self, token: &str, alg: Algorithm) -> Result<AccessClaims, AuthError> {
        let invalid = |m: String| AuthError::InvalidToken(m);
        if alg != Algorithm::HS256 {
            return Err(invalid(format!(
                "the bearer token is signed with {alg:?}; the gateway's tokens are HS256"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["aud", "iss", "sub"]);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.token_url]);
        Ok(
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => invalid(format!(
                        "the bearer token's audience is not this gateway ({})",
                        self.audience
                    )),
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                        invalid("the bearer token was issued by another token endpoint".to_owned())
                    }
                    _ => invalid("the bearer token's signature does not verify".to_owned()),
                })?
                .claims,
        )
    }

    /// The caller of a verified token at `now`, over a connection with `certificate`: the
    /// token has not expired, its client is still registered under its organisation, and a
    /// token bound to a certificate comes with that certificate.
    fn admit(
        &self,
        claims: &AccessClaims,
        now: Timestamp,
        certificate: Option<&str>,
    ) -> Result<Caller, AuthError> {
        let invalid = |m: String| AuthError::InvalidToken(m);
        let expires_at = from_seconds(claims.exp);
        if expires_at <= now {
            return Err(invalid(format!("the bearer token expired at {expires_at}")));
        }
        let organisation = Organisation::parse(&claims.organisation)
            .map_err(|_| invalid("the bearer token names no valid organisation".to_owned()))?;
        // A client removed from the configuration loses its tokens at once.
        let client = self
            .client(&claims.sub)
            .ok_or_else(|| invalid(format!("client {:?} is no longer registered", claims.sub)))?;
        if client.organisation != organisation {
            return Err(invalid(
                "the bearer token's organisation is not its client's".to_owned(),
            ));
        }
        let bound = claims.cnf.as_ref().map(|c| c.thumbprint.as_str());
        let presented = certificate.map(thumbprint);
        if !client.certificates.is_empty() || bound.is_some() {
            match (bound, presented.as_deref()) {
                (Some(b), Some(p)) if b == p => {}
                _ => {
                    return Err(invalid(
                        "the bearer token is bound to a client certificate this connection did not present".to_owned(),
                    ));
                }
            }
        }
        Ok(Caller {
            client_id: claims.sub.clone(),
            organisation,
            // What the token was granted, within what the client is registered for now: a
            // scope cut from the registration is cut from its tokens at once.
            scopes: Scopes::parse(&claims.scope)
                .map_err(|_| invalid("the bearer token's scopes cannot be read".to_owned()))?
                .narrowed_to(&client.scopes),
            auditor: claims.auditor && client.auditor,
            relay: client.relay,
            county_statistics: client.county_statistics,
            may_lift_protection: client.may_lift_protection,
            token_id: claims.jti.clone(),
            issuer: "brygga".to_owned(),
        })
    }
}

/// A file's modification time, size and inode (`None` if it cannot be read): a file written
/// again, or replaced by a rename as editors do, has another.
fn file_stamp(path: &std::path::Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok()?, metadata.len(), inode))
}

type FileStamp = (std::time::SystemTime, u64, u64);

/// A random secret for access tokens (when none is configured).
pub fn random_key() -> Result<Vec<u8>, String> {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no random bytes for the token key: {e}"))?;
    Ok(key)
}
