//! `GET /api/operations/events`: every instance's event backlog gathered for staff, in either
//! mode; an instance without `/events` is left out, one that does not answer is named.

use std::sync::Arc;

use axum::response::IntoResponse;
use platform::config::{ConfigSource, RunMode};
use platform::testing::{TestIssuer, problem};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// An instance whose `/events` answers `events`, or that has none (`None`: 404, like a service
/// without a database).
async fn instance(events: Option<Value>) -> String {
    let app = axum::Router::new()
        .route("/ready", axum::routing::get(|| async { "ok" }))
        .route(
            "/events",
            axum::routing::get(move || {
                let events = events.clone();
                async move {
                    match events {
                        Some(events) => axum::Json(events).into_response(),
                        None => axum::http::StatusCode::NOT_FOUND.into_response(),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn staff_see_every_instances_backlog_and_dead_letters_and_nobody_else_does() {
    platform::telemetry::init_for_tests();
    let issuer = TestIssuer::start().await;
    let backlog = json!({"outboxPending": 3, "oldestPendingSeconds": 12.5, "deadLetters": 1,
                         "lastDeadLetterAt": "2026-12-06T10:00:00Z"});
    let booking = instance(Some(backlog.clone())).await;
    let web = instance(None).await;
    // An address nothing listens on: an instance that does not answer.
    let gone = "http://127.0.0.1:9".to_owned();
    let source = ConfigSource::from_pairs([
        ("SERVICE_PORT", "0"),
        ("ITINERA_MODE", "demo"),
        ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("JWT_JWKS_URL", issuer.jwks_url()),
        ("BOOKING_UPSTREAMS", booking.as_str()),
        ("PAYMENT_UPSTREAMS", gone.as_str()),
        ("WEB_UPSTREAMS", web.as_str()),
    ]);
    let gateway = gateway::Application::build(
        gateway::Config::load(&source, RunMode::Single).unwrap(),
        Arc::new(platform::events::bus::Disconnected),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::new();
    let get = |token: Option<String>| {
        let mut request = client.get(format!("{base}/api/operations/events"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    // Even in demo mode, where discovery status is open, this is for staff only.
    problem(get(None).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    problem(
        get(Some(issuer.customer(1, "carol"))).await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let answer = get(Some(issuer.ops(2, "oscar"))).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let services: Value = answer.json::<Value>().await.unwrap()["services"].clone();
    assert_eq!(services["booking"][0]["events"], backlog);
    assert_eq!(services["booking"][0]["url"], booking);
    assert!(services["payment"][0]["error"].is_string(), "{services}");
    assert!(services["payment"][0].get("events").is_none());
    assert!(
        services.get("web").is_none(),
        "a service without /events is left out: {services}"
    );
    shutdown.cancel();
}
