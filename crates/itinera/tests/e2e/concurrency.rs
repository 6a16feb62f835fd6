//! Never more seats sold than exist, whatever the concurrency.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::Platform;

async fn race(platform: Arc<Platform>, token: &str, bodies: Vec<Value>) -> Vec<StatusCode> {
    let mut tasks = tokio::task::JoinSet::new();
    for body in bodies {
        let (platform, token) = (platform.clone(), token.to_owned());
        tasks.spawn(async move {
            platform
                .post_as("/api/bookings", &token, &body)
                .await
                .status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_attempts_for_ten_seats_sell_exactly_ten() {
    let platform = Arc::new(Platform::spawn().await);
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA600", 5, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("johndoe").await;

    let bodies = (0..200)
        .map(|i| json!({"flightId": flight_id, "passengers": [{"name": format!("P{i}")}]}))
        .collect();
    let statuses = race(platform.clone(), &token, bodies).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (10, 190), "{statuses:?}");

    let (taken, capacity, assigned, distinct): (i32, i32, i64, i64) = sqlx::query_as(
        "SELECT i.taken, i.capacity, (SELECT count(*) FROM seat_assignments WHERE flight_id = $1), \
                (SELECT count(DISTINCT seat) FROM seat_assignments WHERE flight_id = $1) \
         FROM inventory i WHERE i.flight_id = $1 AND i.cabin = 'economy'",
    )
    .bind(flight_id)
    .fetch_one(&platform.booking_db)
    .await
    .unwrap();
    assert_eq!((taken, capacity, assigned, distinct), (10, 10, 10, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_attempts_for_one_seat_have_exactly_one_winner() {
    let platform = Arc::new(Platform::spawn().await);
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA700", 5, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("johndoe").await;

    let bodies = (0..50)
        .map(|i| json!({"flightId": flight_id, "passengers": [{"name": format!("P{i}"), "seat": "5A"}]}))
        .collect();
    let statuses = race(platform.clone(), &token, bodies).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
    let taken: i32 = sqlx::query_scalar(
        "SELECT taken FROM inventory WHERE flight_id = $1 AND cabin = 'economy'",
    )
    .bind(flight_id)
    .fetch_one(&platform.booking_db)
    .await
    .unwrap();
    assert_eq!(taken, 1, "refused attempts gave their seat back");
}
