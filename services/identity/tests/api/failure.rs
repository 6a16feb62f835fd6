//! `GET /api/auth/simulate-failure`: seed 002's behaviour in demo mode, closed in production.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, problem, token};

async fn simulate(app: &TestApp, jwt: Option<&str>) -> reqwest::Response {
    let request = app.client.get(app.url("/api/auth/simulate-failure"));
    match jwt {
        Some(jwt) => request.bearer_auth(jwt),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn in_demo_mode_anyone_makes_the_instance_fail_as_seed_002_shows() {
    let app =
        TestApp::spawn_with(&[("ITINERA_MODE", "demo"), ("SIMULATED_FAILURE_SECS", "2")]).await;
    let response = simulate(&app, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        "This identity instance will fail every request for 2 s"
    );
    let failing = app.login("anyone", "whatever-password1").await;
    assert!(failing.headers().contains_key("retry-after"));
    problem(failing, StatusCode::SERVICE_UNAVAILABLE).await;
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn in_production_mode_it_does_not_exist_unless_enabled() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for jwt in [None, Some(admin.as_str())] {
        let body = problem(simulate(&app, jwt).await, StatusCode::NOT_FOUND).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("SIMULATED_FAILURE_ENABLED")
        );
    }
    // Nothing was switched on.
    assert_eq!(
        app.client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn enabled_in_production_mode_it_needs_an_admin() {
    let app = TestApp::spawn_with(&[
        ("SIMULATED_FAILURE_ENABLED", "true"),
        ("SIMULATED_FAILURE_SECS", "2"),
    ])
    .await;
    problem(simulate(&app, None).await, StatusCode::UNAUTHORIZED).await;
    problem(
        simulate(&app, Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let customer = token(&app.user("johndoe").await);
    problem(simulate(&app, Some(&customer)).await, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "refused calls switch nothing on"
    );
    let admin = app.admin_token().await;
    assert_eq!(simulate(&app, Some(&admin)).await.status(), StatusCode::OK);
    problem(
        app.client.get(app.url("/ready")).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
}

#[tokio::test]
async fn zero_seconds_turns_it_off_in_either_mode() {
    for mode in ["demo", "production"] {
        let app = TestApp::spawn_with(&[
            ("ITINERA_MODE", mode),
            ("SIMULATED_FAILURE_ENABLED", "true"),
            ("SIMULATED_FAILURE_SECS", "0"),
        ])
        .await;
        let admin = app.admin_token().await;
        problem(simulate(&app, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    }
}
