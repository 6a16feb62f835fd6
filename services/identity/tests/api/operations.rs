use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn health_ready_version_and_metrics() {
    let app = TestApp::spawn().await;
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["checks"]["database"],
        "ok"
    );
    let version: Value = app
        .client
        .get(app.url("/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["service"], "identity");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    app.user("johndoe").await;
    let _ = app
        .client
        .get(app.url("/api/users/42"))
        .send()
        .await
        .unwrap();
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{service="identity",method="POST",route="/api/auth/register",status="201"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/users/{user_id}",status="401""#),
        "labelled by template: {metrics}"
    );
    assert!(!metrics.contains("/api/users/42"), "never by raw path");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    // Terminate the service's connections and forbid new ones, as if the database had gone away.
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut admin = sqlx::PgConnection::connect(&platform::testing::maintenance_url())
        .await
        .unwrap();
    use sqlx::Connection;
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = app
        .register("johndoe", "johndoe@example.com", crate::helpers::PASSWORD)
        .await;
    let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        !body["message"].as_str().unwrap().contains("connection"),
        "no internals: {body}"
    );

    sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if app
            .client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "ready again once the database is back");
}

#[tokio::test]
async fn request_ids_and_unknown_routes() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let body = problem(response, StatusCode::NOT_FOUND).await;
    assert!(body["message"].as_str().unwrap().contains("/nowhere"));

    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(
        !response.headers()["x-request-id"].is_empty(),
        "generated when absent"
    );

    let response = app
        .client
        .delete(app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn readiness_covers_configured_redis_and_kafka() {
    let app = TestApp::spawn_with(&[
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("KAFKA_BROKERS", "127.0.0.1:1"),
    ])
    .await;
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
    assert_eq!(body["checks"]["kafka"], "unavailable");
}
