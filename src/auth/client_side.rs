//! The client side of SMART Backend Services, for `brygga token`.

use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::ASSERTION_TYPE;

/// The client side of SMART Backend Services (`brygga token`): signs an assertion for
/// `client_id` with the PEM key at `key_file`, posts it to `token_url`, and answers the access
/// token.
pub async fn request_token(
    token_url: &str,
    client_id: &str,
    key_file: &std::path::Path,
    kid: Option<&str>,
    scope: Option<&str>,
) -> anyhow::Result<String> {
    let pem = std::fs::read(key_file)
        .map_err(|e| anyhow::anyhow!("cannot read the key {}: {e}", key_file.display()))?;
    let text = String::from_utf8_lossy(&pem);
    let (alg, key) = if text.contains("RSA") || rsa_pkcs8(&pem) {
        (Algorithm::RS384, EncodingKey::from_rsa_pem(&pem))
    } else {
        (Algorithm::ES384, EncodingKey::from_ec_pem(&pem))
    };
    let key = key.map_err(|e| {
        anyhow::anyhow!(
            "{} is not a PEM private key for RS384 or ES384: {e}",
            key_file.display()
        )
    })?;
    let mut header = Header::new(alg);
    header.kid = kid
        .map(str::to_owned)
        .or_else(|| Some(format!("{client_id}-1")));
    let now = Timestamp::now();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now.as_second() + 240,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let assertion = jsonwebtoken::encode(&header, &claims, &key)?;
    let mut form = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_assertion_type", ASSERTION_TYPE.to_owned()),
        ("client_assertion", assertion),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_owned()));
    }
    let response = reqwest::Client::new()
        .post(token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form)?)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {token_url}: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!(
            "the token endpoint answered {status}: {} ({})",
            body["error_description"]
                .as_str()
                .unwrap_or("no description"),
            body["error"].as_str().unwrap_or("no error code")
        );
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the token endpoint answered no access_token"))
}

/// Whether a PKCS#8 PEM holds an RSA key (its algorithm identifier is rsaEncryption).
fn rsa_pkcs8(pem: &[u8]) -> bool {
    use base64::Engine;
    let text = String::from_utf8_lossy(pem);
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    // OID 1.2.840.113549.1.1.1
    der.windows(9)
        .any(|w| w == [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01])
}
