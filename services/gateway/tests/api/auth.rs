//! The gateway refuses bad tokens itself, forwards good ones, and says which side failed.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Platform, problem, token};

#[tokio::test]
async fn missing_expired_and_tampered_tokens_are_refused_at_the_gateway() {
    let platform = Platform::spawn().await;
    let login = platform.user("johndoe").await;
    let good = token(&login);
    let before = platform.identity_requests("/api/users/me").await;

    let missing = platform
        .client
        .get(platform.url("/api/users/me"))
        .send()
        .await
        .unwrap();
    problem(missing, StatusCode::UNAUTHORIZED).await;

    let expired = identity::testing::signed_token(&platform.identity_db, -120, "customer").await;
    let body = problem(
        platform.get("/api/users/me", &expired).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["message"], "The access token has expired");

    let tampered = identity::testing::tamper(&good);
    problem(
        platform.get("/api/users/me", &tampered).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    assert_eq!(
        platform.identity_requests("/api/users/me").await,
        before,
        "refused requests never reached identity"
    );
    assert_eq!(
        platform.get("/api/users/me", &good).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        platform.identity_requests("/api/users/me").await,
        before + 1
    );
}

#[tokio::test]
async fn a_customer_cannot_reach_admin_routes() {
    let platform = Platform::spawn().await;
    let customer = token(&platform.user("johndoe").await);
    problem(
        platform.get("/api/users", &customer).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let rotate = platform
        .client
        .post(platform.url("/api/auth/keys/rotate"))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    problem(rotate, StatusCode::FORBIDDEN).await;

    let admin = token(
        &platform
            .login(crate::helpers::ADMIN.0, crate::helpers::ADMIN.1)
            .await,
    );
    let users: Value = platform
        .get("/api/users", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["total"], 2);
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_new_keys_are_fetched_on_demand() {
    let platform = Platform::spawn().await;
    let old = token(&platform.user("johndoe").await);
    assert_eq!(
        platform.get("/api/users/me", &old).await.status(),
        StatusCode::OK
    );

    let admin = token(
        &platform
            .login(crate::helpers::ADMIN.0, crate::helpers::ADMIN.1)
            .await,
    );
    let rotated = platform
        .client
        .post(platform.url("/api/auth/keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);

    let new = token(&platform.login("johndoe", crate::helpers::PASSWORD).await);
    let new_kid = jsonwebtoken_kid(&new);
    assert_ne!(jsonwebtoken_kid(&old), new_kid);
    assert_eq!(
        platform.get("/api/users/me", &new).await.status(),
        StatusCode::OK,
        "new kid fetched"
    );
    assert_eq!(
        platform.get("/api/users/me", &old).await.status(),
        StatusCode::OK,
        "old key still published"
    );
}

fn jsonwebtoken_kid(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_unavailable_upstream_is_a_clear_problem_naming_the_side() {
    // Demo mode: the gateway's `/ready` is read without a token.
    let platform =
        Platform::spawn_with(&[("RATE_LIMIT_ENABLED", "false"), ("ITINERA_MODE", "demo")]).await;
    platform.identity_shutdown.cancel();
    let mut body = Value::Null;
    for _ in 0..50 {
        let response = platform
            .post(
                "/api/auth/login",
                &serde_json::json!({"username": "a", "password": "b"}),
            )
            .await;
        if response.status() == StatusCode::BAD_GATEWAY {
            body = problem(response, StatusCode::BAD_GATEWAY).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(body["side"], "upstream", "{body}");
    assert_eq!(body["service"], "identity");
    assert_eq!(body["retryable"], true);
    assert!(body["message"].as_str().unwrap().contains("identity_1"));

    let ready = platform
        .client
        .get(platform.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn request_ids_are_kept_end_to_end() {
    let platform = Platform::spawn().await;
    let response = platform
        .client
        .get(platform.url("/api/users/me"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let oversized = platform
        .client
        .post(platform.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    let body = problem(oversized, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(body["side"], "client");
}
