use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, problem, token};

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt)
        .unwrap()
        .kid
        .expect("tokens carry a kid")
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let app = TestApp::spawn().await;
    let login = app.user("johndoe").await;
    let first = login["refreshToken"].as_str().unwrap().to_owned();

    let response = app
        .post("/api/auth/refresh", &json!({"refreshToken": first}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.unwrap();
    let second = refreshed["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        app.get("/api/users/me", &token(&refreshed)).await.status(),
        StatusCode::OK
    );

    // The spent token is refused, and presenting it again revokes the token that replaced it.
    let body = problem(
        app.post("/api/auth/refresh", &json!({"refreshToken": first}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["message"], "Invalid or expired refresh token");
    let response = app
        .post("/api/auth/refresh", &json!({"refreshToken": second}))
        .await;
    problem(response, StatusCode::UNAUTHORIZED).await;

    // Tokens are stored hashed, never as issued.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = convert_to($1, 'UTF8')",
    )
    .bind(&second)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let login = app.user("johndoe").await;
    let refresh = login["refreshToken"].as_str().unwrap();
    for _ in 0..2 {
        let response = app
            .post("/api/auth/logout", &json!({"refreshToken": refresh}))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    problem(
        app.post("/api/auth/refresh", &json!({"refreshToken": refresh}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        app.post("/api/auth/refresh", &json!({"refreshToken": "rt_made_up"}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let app = TestApp::spawn().await;
    let login = app.user("johndoe").await;
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["kid"], kid_of(&token(&login)).as_str());
    assert!(keys[0].get("d").is_none(), "no private part is published");
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let app = TestApp::spawn().await;
    let customer = token(&app.user("johndoe").await);
    let old_kid = kid_of(&customer);

    problem(
        app.client
            .post(app.url("/api/auth/keys/rotate"))
            .bearer_auth(&customer)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;

    let admin = app.admin_token().await;
    let response = app
        .client
        .post(app.url("/api/auth/keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let new_kid = response.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, old_kid);

    assert_eq!(
        app.get("/api/users/me", &customer).await.status(),
        StatusCode::OK,
        "old token still valid"
    );
    let fresh = token(&app.logged_in("johndoe", crate::helpers::PASSWORD).await);
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(
        app.get("/api/users/me", &fresh).await.status(),
        StatusCode::OK
    );

    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()]);
}

#[tokio::test]
async fn forged_expired_and_malformed_tokens_are_refused_directly_at_the_service() {
    let app = TestApp::spawn().await;
    let good = token(&app.user("johndoe").await);
    let cases = [
        crate::helpers::tamper(&good),
        crate::helpers::signed_token(&app.db, -120, "admin").await,
        "garbage".to_owned(),
    ];
    for bad in cases {
        problem(
            app.get("/api/users/me", &bad).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let expired = crate::helpers::signed_token(&app.db, -120, "customer").await;
    let body = problem(
        app.get("/api/users/me", &expired).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["message"], "The access token has expired");
    let no_scheme = app
        .client
        .get(app.url("/api/users/me"))
        .header("authorization", good)
        .send()
        .await
        .unwrap();
    problem(no_scheme, StatusCode::UNAUTHORIZED).await;
}

async fn revoke(app: &TestApp, jwt: &str, kid: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/auth/keys/{kid}")))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_admins_revoke_keys_and_revoking_the_signing_key_rotates_first() {
    let app = TestApp::spawn().await;
    let customer = token(&app.user("johndoe").await);
    let kid = kid_of(&customer);
    problem(revoke(&app, &customer, &kid).await, StatusCode::FORBIDDEN).await;
    problem(
        app.client
            .delete(app.url(&format!("/api/auth/keys/{kid}")))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let admin = app.admin_token().await;
    problem(
        revoke(&app, &admin, "no-such-kid").await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let response = revoke(&app, &admin, &kid).await;
    assert_eq!(response.status(), StatusCode::OK);
    let revoked: Value = response.json().await.unwrap();
    assert_eq!(revoked["kid"], kid.as_str());
    let signing = revoked["signingKid"].as_str().unwrap().to_owned();
    assert_ne!(signing, kid);

    // Identity itself refuses the key's tokens at once, the admin's own included.
    for jwt in [&customer, &admin] {
        let body = problem(
            app.get("/api/users/me", jwt).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(body["message"], "The access token is invalid");
    }
    // The key is gone from the JWKS; new tokens are signed with the new key.
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [signing.as_str()]);
    let fresh = token(&app.logged_in("johndoe", PASSWORD).await);
    assert_eq!(kid_of(&fresh), signing);
    assert_eq!(
        app.get("/api/users/me", &fresh).await.status(),
        StatusCode::OK
    );
    // Its private half is gone too.
    let private: Vec<u8> =
        sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE kid = $1")
            .bind(&kid)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(private.is_empty());

    // Revoking it again changes nothing.
    let admin = app.admin_token().await;
    let again = revoke(&app, &admin, &kid).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again.json::<Value>().await.unwrap()["signingKid"],
        signing.as_str()
    );
}

#[tokio::test]
async fn another_service_refuses_a_revoked_keys_tokens_within_seconds() {
    let app = TestApp::spawn_with(&[("JWT_JWKS_REFRESH_SECS", "1")]).await;
    let jwks_url = app.url("/.well-known/jwks.json");
    // Booking verifies identity's tokens against its JWKS, refreshed every second.
    let issuer = platform::testing::TestIssuer::start().await;
    let booking = platform::testing::TestService::start::<booking::Booking>(
        &issuer,
        &[("JWT_JWKS_URL", &jwks_url), ("JWT_JWKS_REFRESH_SECS", "1")],
    )
    .await;
    let login = app.user("johndoe").await;
    let customer = token(&login);
    // A retired key (rotated out) stays valid; only revocation ends its tokens early.
    let admin = app.admin_token().await;
    let rotated = app
        .client
        .post(app.url("/api/auth/keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let after_rotation = token(&app.logged_in("johndoe", PASSWORD).await);
    for jwt in [&customer, &after_rotation] {
        assert_eq!(
            booking.api.get("/api/bookings", jwt).await.status(),
            StatusCode::OK
        );
    }

    let admin = app.admin_token().await;
    let response = revoke(&app, &admin, &kid_of(&customer)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let revoked_at = std::time::Instant::now();
    loop {
        let response = booking.api.get("/api/bookings", &customer).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            let body = problem(response, StatusCode::UNAUTHORIZED).await;
            assert_eq!(body["message"], "The access token is invalid");
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_millis(2500),
            "booking still accepts a revoked key's token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Tokens of the other key are unaffected.
    assert_eq!(
        booking
            .api
            .get("/api/bookings", &after_rotation)
            .await
            .status(),
        StatusCode::OK
    );
}
