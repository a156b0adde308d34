//! The authenticator's unit tests: kept tokens, and their bounds.

use super::*;

fn authenticator(certificates: Vec<String>) -> (Authenticator, Client) {
    let client = Client {
        client_id: "region-ehr".to_owned(),
        name: "Region EHR".to_owned(),
        organisation: Organisation::parse("SE2321000214-1000").expect("an HSA-id"),
        scopes: Scopes::parse("system/Task.cru").expect("scopes"),
        auditor: false,
        relay: false,
        county_statistics: false,
        may_lift_protection: false,
        keys: JwkSet { keys: Vec::new() },
        certificates,
        hsa_id: Some(HsaId::parse("SE5565594230-NPO1").expect("an HSA-id")),
        platform: false,
    };
    let auth = Authenticator::new(
        &AuthSettings::default(),
        "https://gateway.example/auth/token".to_owned(),
        vec![client.clone()],
        &[7; 32],
        Arc::new(Directory::default()),
    );
    (auth, client)
}

/// A token verified once is taken from the cache afterwards, but what can change is still
/// checked at every request: its expiry and the connection's certificate. Another token, even
/// one character apart, is verified on its own.
#[tokio::test]
async fn a_verified_token_is_kept_and_still_checked_at_each_request() {
    let fingerprint = "ab".repeat(32);
    let (auth, client) = authenticator(vec![fingerprint.clone()]);
    let now = Timestamp::from_second(1_800_000_000).expect("a time");
    let token = auth
        .issue(&client, &client.scopes, now, Some(&fingerprint))
        .access_token;
    let first = auth
        .verify_token(&token, now, Some(&fingerprint))
        .await
        .expect("a fresh token");
    assert!(auth.verified_claims(&token).is_some(), "kept");
    let again = auth
        .verify_token(&token, now, Some(&fingerprint))
        .await
        .expect("the kept token");
    assert_eq!(again, first);
    let other = "cd".repeat(32);
    let refused = auth.verify_token(&token, now, Some(&other)).await;
    assert!(
        matches!(&refused, Err(AuthError::InvalidToken(m)) if m.contains("certificate")),
        "{refused:?}"
    );
    let later = now + auth.lifetime + SignedDuration::from_secs(1);
    let expired = auth.verify_token(&token, later, Some(&fingerprint)).await;
    assert!(
        matches!(&expired, Err(AuthError::InvalidToken(m)) if m.contains("expired")),
        "{expired:?}"
    );
    // The signature's last character changed: a token never verified.
    let mut tampered = token.clone();
    let last = tampered.pop().expect("a token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let forged = auth.verify_token(&tampered, now, Some(&fingerprint)).await;
    assert!(
        matches!(&forged, Err(AuthError::InvalidToken(m)) if m.contains("signature")),
        "{forged:?}"
    );
    assert!(auth.verified_claims(&tampered).is_none(), "not kept");
}

#[tokio::test]
async fn the_kept_tokens_stay_bounded() {
    let (auth, client) = authenticator(Vec::new());
    let now = Timestamp::from_second(1_800_000_000).expect("a time");
    for _ in 0..VERIFIED_TOKENS + 10 {
        let token = auth.issue(&client, &client.scopes, now, None).access_token;
        auth.verify_token(&token, now, None).await.expect("valid");
    }
    let kept = auth.verified.lock().expect("lock").len();
    assert!(kept <= VERIFIED_TOKENS, "{kept}");
    assert!(kept >= 10, "the newest stay: {kept}");
}

#[test]
fn a_platform_consumer_is_the_client_registered_with_its_hsa_id() {
    let (auth, client) = authenticator(Vec::new());
    let caller = auth
        .platform_consumer(&HsaId::parse("SE5565594230-NPO1").unwrap(), None)
        .expect("registered");
    assert_eq!(caller.client_id, client.client_id);
    assert_eq!(caller.organisation, client.organisation);
    assert!(!caller.relay && !caller.auditor && !caller.may_lift_protection);
    let refused = auth
        .platform_consumer(&HsaId::parse("SE5565594230-NPO9").unwrap(), None)
        .unwrap_err();
    assert!(
        matches!(&refused, AuthError::Forbidden(m) if m.contains("SE5565594230-NPO9")),
        "{refused:?}"
    );
}
