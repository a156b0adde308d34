//! Tokens of an external identity provider: verified against its JWKS, fetched when first
//! needed and again when a token names a key not yet known (at most once a minute).

use super::*;

impl Authenticator {
    pub(super) async fn idp_keys(
        &self,
        idp: &Idp,
        kid: Option<&str>,
    ) -> Result<Vec<Jwk>, AuthError> {
        {
            let cached = idp.keys.read().await;
            if let Some((set, fetched)) = cached.as_ref() {
                let keys: Vec<Jwk> = candidate_keys(set, kid).into_iter().cloned().collect();
                if !keys.is_empty() || fetched.elapsed() < JWKS_REFRESH {
                    return Ok(keys);
                }
            }
        }
        let mut cached = idp.keys.write().await;
        if let Some((_, fetched)) = cached.as_ref()
            && fetched.elapsed() < JWKS_REFRESH
            && let Some((set, _)) = cached.as_ref()
        {
            return Ok(candidate_keys(set, kid).into_iter().cloned().collect());
        }
        let unavailable = |e: String| {
            AuthError::Unavailable(format!(
                "the keys of identity provider {} cannot be fetched from {}: {e}",
                idp.settings.issuer, idp.settings.jwks_url
            ))
        };
        let response = self
            .http
            .get(&idp.settings.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.to_string()))?;
        let text = response
            .text()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let set = parse_jwks(&text).map_err(unavailable)?;
        let keys = candidate_keys(&set, kid).into_iter().cloned().collect();
        *cached = Some((set, Instant::now()));
        Ok(keys)
    }

    pub(super) async fn verify_idp(
        &self,
        idp: &Idp,
        token: &str,
        header: &Header,
        now: Timestamp,
    ) -> Result<Caller, AuthError> {
        let invalid = |m: String| AuthError::InvalidToken(m);
        if !IDP_ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!(
                "the bearer token is signed with {:?}, which is not accepted from an identity provider",
                header.alg
            )));
        }
        let keys = self.idp_keys(idp, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["aud", "iss"]);
        validation.set_audience(&[&idp.settings.audience]);
        validation.set_issuer(&[&idp.settings.issuer]);
        let mut claims = None;
        let mut audience_wrong = false;
        for key in &keys {
            let Ok(decoding) = DecodingKey::from_jwk(key) else {
                continue;
            };
            match jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => {
                    audience_wrong |=
                        matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidAudience)
                }
            }
        }
        let claims = claims.ok_or_else(|| {
            if audience_wrong {
                invalid(format!(
                    "the bearer token's audience is not {}",
                    idp.settings.audience
                ))
            } else {
                invalid("the bearer token's signature does not verify with the identity provider's keys".to_owned())
            }
        })?;
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| invalid("the bearer token has no exp".to_owned()))?;
        if from_seconds(exp) <= now {
            return Err(invalid(format!(
                "the bearer token expired at {}",
                from_seconds(exp)
            )));
        }
        let claim = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
        let organisation = claim(&idp.settings.organisation_claim)
            .ok_or_else(|| {
                invalid(format!(
                    "the bearer token has no {} claim (the organisation it acts for)",
                    idp.settings.organisation_claim
                ))
            })
            .and_then(|code| {
                Organisation::parse(code)
                    .map_err(|e| invalid(format!("the bearer token's organisation claim: {e}")))
            })?;
        if !self.directory.has_organisation(&organisation) {
            return Err(invalid(format!(
                "the bearer token's organisation ({organisation}) is not in the organisation directory"
            )));
        }
        let scope_text = match claims.get(&idp.settings.scope_claim) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        // Scopes that are not system scopes (openid, profile, …) are ignored.
        let scopes = Scopes(
            scope_text
                .split_whitespace()
                .filter_map(|s| Scope::parse(s).ok())
                .collect(),
        );
        let client_id = claim("azp")
            .or_else(|| claim("client_id"))
            .or_else(|| claim("sub"))
            .unwrap_or("unknown")
            .to_owned();
        Ok(Caller {
            client_id,
            organisation,
            scopes,
            auditor: false,
            relay: false,
            county_statistics: false,
            may_lift_protection: false,
            token_id: claim("jti").unwrap_or("").to_owned(),
            issuer: idp.settings.issuer.clone(),
        })
    }
}

/// The keys of `set` a token with `kid` may be signed with: the one with that kid, or every key
/// when the token names none.
pub(super) fn candidate_keys<'a>(set: &'a JwkSet, kid: Option<&str>) -> Vec<&'a Jwk> {
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .collect(),
        None => set.keys.iter().collect(),
    }
}
