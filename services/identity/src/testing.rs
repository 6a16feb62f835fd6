//! Helpers for tests of identity and of services that rely on its tokens.

use serde_json::json;

/// A token signed with identity's real active key (read from its database), for user 1 with
/// `role`, expiring `exp_offset` seconds from now (negative: already expired).
pub async fn signed_token(db: &sqlx::PgPool, exp_offset: i64, role: &str) -> String {
    let (kid, der): (String, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(db)
    .await
    .expect("identity has an active signing key");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "1", "name": "root", "role": role, "iss": "itinera", "aud": "itinera",
        "iat": now - 1000, "exp": now + exp_offset, "jti": "test",
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid);
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )
    .expect("token signs")
}

/// The token with its payload changed to claim the admin role, its signature left as it was.
pub fn tamper(jwt: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).expect("base64 payload"))
        .expect("utf-8");
    assert!(
        payload.contains("\"customer\""),
        "tamper expects a customer token"
    );
    parts[1] = URL_SAFE_NO_PAD.encode(payload.replace("\"customer\"", "\"admin\""));
    parts.join(".")
}
