//! `Idempotency-Key`: the same key and body return the same booking; another body gets 422.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Platform, problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_returns_the_same_booking_and_a_different_body_is_refused() {
    let platform = Arc::new(Platform::spawn().await);
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA800", 5, "AB").await;
    let (_, token) = platform.customer("johndoe").await;
    let body = json!({"flightId": flight["flightId"], "passengers": [{"name": "John"}]});
    let send = |key: &str, body: &Value| {
        platform
            .client
            .post(platform.url("/api/bookings"))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(body)
            .send()
    };

    let first = send("trip-1", &body).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let replay = send("trip-1", &body).await.unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        replay.json::<Value>().await.unwrap()["bookingId"],
        first["bookingId"]
    );

    let other = json!({"flightId": flight["flightId"], "passengers": [{"name": "Someone Else"}]});
    problem(
        send("trip-1", &other).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(send("", &body).await.unwrap(), StatusCode::BAD_REQUEST).await;

    // Twenty concurrent requests with one new key make one booking.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (platform, token, body) = (platform.clone(), token.clone(), body.clone());
        tasks.spawn(async move {
            let response = platform
                .client
                .post(platform.url("/api/bookings"))
                .bearer_auth(&token)
                .header("idempotency-key", "trip-2")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()["bookingId"]
                .as_i64()
                .unwrap()
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(id) = tasks.join_next().await {
        ids.insert(id.unwrap());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let bookings: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&platform.booking_db)
        .await
        .unwrap();
    assert_eq!(bookings, 2);
}
