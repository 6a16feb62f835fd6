use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, problem};

#[tokio::test]
async fn registration_answers_as_seed_002_documents() {
    let app = TestApp::spawn().await;
    let response = app
        .register("johndoe", "johndoe@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: serde_json::Value = response.json().await.unwrap();
    let user_id = body["userId"].as_i64().expect("integer userId");
    assert_eq!(
        body,
        json!({"message": "User registered successfully", "userId": user_id})
    );

    let stored: (String, String, String) =
        sqlx::query_as("SELECT username, email, password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (stored.0.as_str(), stored.1.as_str()),
        ("johndoe", "johndoe@example.com")
    );
    assert!(
        stored.2.starts_with("$argon2id$"),
        "password stored as an argon2id hash"
    );
    assert!(!stored.2.contains(PASSWORD));
}

#[tokio::test]
async fn duplicate_username_or_email_gets_the_seed_message() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.register("johndoe", "john@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::CREATED
    );
    for (username, email) in [
        ("johndoe", "other@example.com"),
        ("JohnDoe", "other@example.com"),
        ("someone", "john@example.com"),
        ("someone", "John@EXAMPLE.com"),
    ] {
        let body = problem(
            app.register(username, email, PASSWORD).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(
            body["message"], "Username or Email already exists",
            "{username} {email}"
        );
    }
}

#[tokio::test]
async fn invalid_registrations_get_a_400_that_names_the_field() {
    let app = TestApp::spawn().await;
    let long_name = "a".repeat(33);
    let long_password = format!("a1{}", "x".repeat(200));
    let cases = [
        ("", "john@example.com", PASSWORD, "username"),
        (long_name.as_str(), "john@example.com", PASSWORD, "username"),
        ("john doe", "john@example.com", PASSWORD, "username"),
        ("johndoe", "", PASSWORD, "email"),
        ("johndoe", "not-an-email", PASSWORD, "email"),
        ("johndoe", "john@example", PASSWORD, "email"),
        ("johndoe", "john@example.com", "", "password"),
        ("johndoe", "john@example.com", "short1", "password"),
        ("johndoe", "john@example.com", "onlyletters", "password"),
        (
            "johndoe",
            "john@example.com",
            long_password.as_str(),
            "password",
        ),
    ];
    for (username, email, password, field) in cases {
        let body = problem(
            app.register(username, email, password).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1, "only the bootstrap administrator exists");
}

#[tokio::test]
async fn malformed_bodies_get_clear_4xx() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/auth/register");

    let wrong_types = json!({"username": 123, "email": "a@example.com", "password": PASSWORD});
    let body = problem(
        app.post("/api/auth/register", &wrong_types).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("username"),
        "{body}"
    );

    let missing = json!({"username": "johndoe", "password": PASSWORD});
    let body = problem(
        app.post("/api/auth/register", &missing).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("email"),
        "{body}"
    );

    let no_body = app.client.post(&url).send().await.unwrap();
    problem(no_body, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let empty = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    problem(empty, StatusCode::BAD_REQUEST).await;

    let syntax = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    problem(syntax, StatusCode::BAD_REQUEST).await;

    let huge = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"username\": \"{}\"}}", "a".repeat(200_000)))
        .send()
        .await
        .unwrap();
    problem(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
}
