//! Client assertions (RFC 7523): RS384 or ES384, signed by a key registered for the client,
//! `iss` and `sub` the client id, `aud` the token endpoint, `exp` at most five minutes ahead.

use super::idp::candidate_keys;
use super::*;

impl Authenticator {
    /// Verifies a client assertion's signature and claims at `now`.
    pub fn verify_assertion(
        &self,
        assertion: &str,
        now: Timestamp,
    ) -> Result<VerifiedAssertion, AuthError> {
        let invalid = |m: String| AuthError::InvalidClient(m);
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
            invalid("the client assertion is not a signed JWT with a readable header (alg none and unknown algorithms are refused)".to_owned())
        })?;
        if !ASSERTION_ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!(
                "the client assertion is signed with {:?}; brygga accepts RS384 and ES384",
                header.alg
            )));
        }
        let claims: AssertionClaims = jsonwebtoken::dangerous::insecure_decode(assertion)
            .map(|t| t.claims)
            .map_err(|_| invalid("the client assertion's claims cannot be read".to_owned()))?;
        let client_id = claims
            .iss
            .as_deref()
            .ok_or_else(|| invalid("the client assertion has no iss (the client id)".to_owned()))?;
        let client = self
            .client(client_id)
            .ok_or_else(|| invalid(format!("no client {client_id:?} is registered")))?;
        if claims.sub.as_deref() != Some(client_id) {
            return Err(invalid(
                "the client assertion's sub is not its iss (both are the client id)".to_owned(),
            ));
        }
        let keys = candidate_keys(&client.keys, header.kid.as_deref());
        if keys.is_empty() {
            return Err(invalid(format!(
                "no key of client {client_id:?} has kid {:?}",
                header.kid.unwrap_or_default()
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["aud", "iss", "sub"]);
        validation.set_audience(&[&self.token_url]);
        let mut last = None;
        let mut verified = false;
        for key in keys {
            let Ok(decoding) = DecodingKey::from_jwk(key) else {
                continue;
            };
            match jsonwebtoken::decode::<serde_json::Value>(assertion, &decoding, &validation) {
                Ok(_) => {
                    verified = true;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if !verified {
            let why = match last.as_ref().map(|e| e.kind()) {
                Some(jsonwebtoken::errors::ErrorKind::InvalidAudience) => format!(
                    "the client assertion's aud is not this token endpoint ({})",
                    self.token_url
                ),
                Some(jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(c)) => {
                    format!("the client assertion has no {c}")
                }
                _ => format!(
                    "the client assertion's signature does not verify with a key registered for {client_id:?}"
                ),
            };
            return Err(invalid(why));
        }
        let exp = claims
            .exp
            .ok_or_else(|| invalid("the client assertion has no exp".to_owned()))?;
        let expires_at = from_seconds(exp);
        if expires_at <= now {
            return Err(invalid(format!(
                "the client assertion expired at {expires_at}"
            )));
        }
        if expires_at > now + ASSERTION_MAX_LIFETIME {
            return Err(invalid(
                "the client assertion's exp is more than five minutes ahead".to_owned(),
            ));
        }
        if let Some(nbf) = claims.nbf
            && from_seconds(nbf) > now + SignedDuration::from_secs(60)
        {
            return Err(invalid(
                "the client assertion is not valid yet (nbf)".to_owned(),
            ));
        }
        let jti = claims
            .jti
            .filter(|j| !j.trim().is_empty())
            .ok_or_else(|| invalid("the client assertion has no jti".to_owned()))?;
        Ok(VerifiedAssertion {
            client_id: client_id.to_owned(),
            jti,
            expires_at,
        })
    }
}
