//! Seed 002's API, through the gateway, exactly as documented.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Platform, problem};

#[tokio::test]
async fn register_and_login_bodies_and_status_codes() {
    let platform = Platform::spawn().await;
    let body = json!({"username": "johndoe", "password": "securepassword123", "email": "johndoe@example.com"});
    let response = platform.post("/api/auth/register", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["message"], "User registered successfully");
    let user_id = registered["userId"].as_i64().expect("integer id");

    let response = platform.post("/api/auth/register", &body).await;
    let duplicate = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(duplicate["message"], "Username or Email already exists");

    let login = platform.login("johndoe", PASSWORD).await;
    assert_eq!(login["message"], "Login successful");
    assert_eq!(login["userId"], user_id);
    assert!(login["token"].is_string());

    let response = platform
        .post(
            "/api/auth/login",
            &json!({"username": "johndoe", "password": "nope12345"}),
        )
        .await;
    let refused = problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(refused["message"], "Invalid username or password");
}

#[tokio::test]
async fn the_profile_is_reachable_with_the_login_token() {
    let platform = Platform::spawn().await;
    let login = platform.user("johndoe").await;
    let response = platform
        .get("/api/users/me", &crate::helpers::token(&login))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], "johndoe");
    assert_eq!(me["userId"], login["userId"]);
}

#[tokio::test]
async fn gateway_status_as_seed_002_documents() {
    let platform = Platform::spawn().await;
    let status: Value = platform
        .client
        .get(platform.url("/api/gateway/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "Gateway is running");
    let port: u16 = platform
        .gateway
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(status["port"], port);
    assert!(status["uptime"].as_f64().unwrap() >= 0.0);
}
