//! Which service a path goes to, and under which access rule and limit class: stand-in upstreams
//! that answer with their own name behind a gateway in production mode.

use std::sync::Arc;

use platform::config::{ConfigSource, RunMode};
use platform::testing::TestIssuer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// An upstream that answers every request with its name, and the method, path and whether a
/// token came with it as it arrived.
async fn upstream(name: &'static str) -> String {
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| async move {
        axum::Json(json!({
            "service": name,
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "token": request.headers().contains_key("authorization"),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_flights_seat_map_goes_to_booking_without_a_token_as_a_search_read() {
    platform::telemetry::init_for_tests();
    let issuer = TestIssuer::start().await;
    let (catalog, booking) = (upstream("catalog").await, upstream("booking").await);
    let source = ConfigSource::from_pairs([
        ("SERVICE_PORT", "0"),
        ("GATEWAY_HEALTH_INTERVAL_MS", "0"),
        ("JWT_JWKS_URL", issuer.jwks_url()),
        ("CATALOG_UPSTREAMS", catalog.as_str()),
        ("BOOKING_UPSTREAMS", booking.as_str()),
        ("RATE_LIMIT_SEARCH", "6/1m"),
        ("RATE_LIMIT_DEFAULT", "50/1m"),
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
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    // Booking answers the seat map, to anyone, counted as a public read (per address, even
    // with a token: the gateway checks none).
    let seats = get("/api/flights/7/seats").await.unwrap();
    assert_eq!(seats.status(), StatusCode::OK);
    assert_eq!(seats.headers()["ratelimit-policy"], "6;w=60");
    let seats: Value = seats.json().await.unwrap();
    assert_eq!(
        seats,
        json!({"service": "booking", "method": "GET", "path": "/api/flights/7/seats", "token": false})
    );
    let with_token: Value = client
        .get(format!("{base}/api/flights/7/seats"))
        .bearer_auth(issuer.customer(5, "jane"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(with_token["service"], "booking");
    assert_eq!(with_token["token"], true);

    // Every other flight path is still catalog's.
    for path in [
        "/api/flights",
        "/api/flights/7",
        "/api/flights/seats",
        "/api/flights/7/seats/1A",
    ] {
        let read: Value = get(path).await.unwrap().json().await.unwrap();
        assert_eq!(read["service"], "catalog", "{path}");
    }
    // Booking's other routes still need a token before anything leaves the gateway.
    assert_eq!(
        get("/api/bookings/7").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Six public reads from this address spent the search class's limit (6 a minute here).
    let refused = get("/api/flights/7/seats").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    shutdown.cancel();
}
