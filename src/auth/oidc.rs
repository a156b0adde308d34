//! Signing people in to the web console through an OpenID provider the gateway already trusts
//! for tokens (`[[auth.issuer]]` with an `[auth.issuer.console]` table): the authorisation
//! code flow with PKCE (S256), `state` and `nonce`. The provider's endpoints come from its
//! discovery document; the ID token is verified with the issuer's keys (the same JWKS cache as
//! its access tokens), for the console's client id, unexpired, with the nonce of this
//! sign-in; the person's organisation and role are the token's claims, and the organisation
//! must be in the directory.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::*;
use crate::config::ConsoleSignIn;

/// What the provider's discovery document says of its endpoints.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// A sign-in begun: what the callback needs to finish it.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    /// The issuer's place in `[[auth.issuer]]`.
    pub issuer: usize,
    /// Sent back by the provider; bound to the browser that began by a cookie.
    pub state: String,
    pub nonce: String,
    /// PKCE's secret half: the provider saw only its S256 digest.
    pub verifier: String,
}

/// A person the provider vouched for.
#[derive(Debug, Clone)]
pub struct SignedInPerson {
    /// The provider's `sub`.
    pub subject: String,
    pub name: String,
    pub organisation: Organisation,
    pub role: Role,
    /// The issuer's `iss`.
    pub issuer: String,
}

/// 32 random bytes, base64url: a state, a nonce or a PKCE verifier (43 characters).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator; without it no sign-in can be made safely.
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// PKCE's `code_challenge` for `verifier` (S256).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn console_of(idp: &Idp) -> Option<&ConsoleSignIn> {
    idp.settings.console.as_ref()
}

impl Authenticator {
    /// The providers people may sign in to the console through: their place and label.
    pub fn console_issuers(&self) -> Vec<(usize, String)> {
        self.idps
            .iter()
            .enumerate()
            .filter_map(|(i, idp)| console_of(idp).map(|c| (i, c.label.clone())))
            .collect()
    }

    async fn discovery(&self, idp: &Idp) -> Result<Discovery, AuthError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            idp.settings.issuer.trim_end_matches('/')
        );
        let unavailable = |e: String| {
            AuthError::Unavailable(format!(
                "the discovery document of identity provider {} cannot be read from {url}: {e}",
                idp.settings.issuer
            ))
        };
        let found: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if found.issuer != idp.settings.issuer {
            return Err(unavailable(format!(
                "it names the issuer {:?}, not the configured one",
                found.issuer
            )));
        }
        Ok(found)
    }

    /// Begins a sign-in through provider `issuer`: the URL to send the browser to, and what the
    /// callback needs (keep it until then, bound to this browser).
    pub async fn begin_console_sign_in(
        &self,
        issuer: usize,
        redirect_uri: &str,
    ) -> Result<(String, PendingSignIn), AuthError> {
        let (idp, console) = self
            .idps
            .get(issuer)
            .and_then(|idp| console_of(idp).map(|c| (idp, c)))
            .ok_or_else(|| {
                AuthError::InvalidRequest("no such sign-in provider for the console".to_owned())
            })?;
        let discovery = self.discovery(idp).await?;
        let pending = PendingSignIn {
            issuer,
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
        };
        let scope = std::iter::once("openid")
            .chain(console.scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", console.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", scope.as_str()),
            ("state", pending.state.as_str()),
            ("nonce", pending.nonce.as_str()),
            ("code_challenge", challenge(&pending.verifier).as_str()),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| AuthError::InvalidRequest(e.to_string()))?;
        let separator = if discovery.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok((
            format!("{}{separator}{query}", discovery.authorization_endpoint),
            pending,
        ))
    }

    /// Finishes a sign-in: redeems `code` with the PKCE verifier, verifies the ID token and
    /// reads the person from it. Every refusal says why (none names the person).
    pub async fn finish_console_sign_in(
        &self,
        pending: &PendingSignIn,
        code: &str,
        redirect_uri: &str,
        now: Timestamp,
    ) -> Result<SignedInPerson, AuthError> {
        let invalid = AuthError::InvalidToken;
        let (idp, console) = self
            .idps
            .get(pending.issuer)
            .and_then(|idp| console_of(idp).map(|c| (idp, c)))
            .ok_or_else(|| invalid("the sign-in's provider is no longer configured".to_owned()))?;
        let discovery = self.discovery(idp).await?;
        let secret = console
            .client_secret_env
            .as_ref()
            .map(|name| {
                std::env::var(name).map_err(|_| {
                    AuthError::Unavailable(format!(
                        "the console's client secret is not in the environment variable {name}"
                    ))
                })
            })
            .transpose()?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", console.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(secret) = &secret {
            form.push(("client_secret", secret.as_str()));
        }
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| AuthError::InvalidRequest(e.to_string()))?;
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                AuthError::Unavailable(format!(
                    "the token endpoint of identity provider {} did not answer: {e}",
                    idp.settings.issuer
                ))
            })?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(invalid(format!(
                "the identity provider refused the sign-in's code ({status}: {})",
                answer["error"].as_str().unwrap_or("no error given")
            )));
        }
        let id_token = answer["id_token"]
            .as_str()
            .ok_or_else(|| invalid("the identity provider sent no ID token".to_owned()))?;
        let claims = self.verify_id_token(idp, console, id_token, now).await?;
        if claims["nonce"].as_str() != Some(pending.nonce.as_str()) {
            return Err(invalid(
                "the ID token's nonce is not this sign-in's".to_owned(),
            ));
        }
        let claim = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
        let subject = claim("sub")
            .ok_or_else(|| invalid("the ID token has no sub".to_owned()))?
            .to_owned();
        let organisation = claim(&idp.settings.organisation_claim)
            .ok_or_else(|| {
                invalid(format!(
                    "the ID token has no {} claim (the person's organisation)",
                    idp.settings.organisation_claim
                ))
            })
            .and_then(|code| {
                Organisation::parse(code)
                    .map_err(|e| invalid(format!("the ID token's organisation claim: {e}")))
            })?;
        if !self.directory.has_organisation(&organisation) {
            return Err(invalid(format!(
                "the ID token's organisation ({organisation}) is not in the organisation directory"
            )));
        }
        let role = claim(&console.role_claim)
            .ok_or_else(|| {
                invalid(format!(
                    "the ID token has no {} claim (the person's console role)",
                    console.role_claim
                ))
            })
            .and_then(|role| {
                Role::parse(role).map_err(|e| invalid(format!("the ID token's role claim: {e}")))
            })?;
        let name = claim(&console.name_claim).unwrap_or(&subject).to_owned();
        Ok(SignedInPerson {
            subject,
            name,
            organisation,
            role,
            issuer: idp.settings.issuer.clone(),
        })
    }

    /// The ID token's claims, once its signature (the issuer's keys), issuer, audience (the
    /// console's client id) and expiry hold.
    async fn verify_id_token(
        &self,
        idp: &Idp,
        console: &ConsoleSignIn,
        token: &str,
        now: Timestamp,
    ) -> Result<serde_json::Value, AuthError> {
        let invalid = AuthError::InvalidToken;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("the ID token cannot be read: {e}")))?;
        if !IDP_ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!(
                "the ID token is signed with {:?}, which is not accepted",
                header.alg
            )));
        }
        let keys = self.idp_keys(idp, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["aud", "iss", "sub"]);
        validation.set_audience(&[&console.client_id]);
        validation.set_issuer(&[&idp.settings.issuer]);
        let claims = keys
            .iter()
            .filter_map(|key| DecodingKey::from_jwk(key).ok())
            .find_map(|key| {
                jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
                    .ok()
                    .map(|data| data.claims)
            })
            .ok_or_else(|| {
                invalid(
                    "the ID token does not verify with the provider's keys for the console's client"
                        .to_owned(),
                )
            })?;
        let exp = claims["exp"]
            .as_i64()
            .ok_or_else(|| invalid("the ID token has no exp".to_owned()))?;
        if from_seconds(exp) <= now {
            return Err(invalid(format!(
                "the ID token expired at {}",
                from_seconds(exp)
            )));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod pkce {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = random_token();
        assert_eq!(verifier.len(), 43);
        assert_ne!(verifier, random_token());
    }
}
