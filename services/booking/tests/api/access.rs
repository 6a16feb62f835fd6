//! Who may read and cancel which booking, tokens, and `Idempotency-Key`.

use std::sync::Arc;

use contracts::events::types;
use platform::auth::Role;
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, JANE, JOHN, scheduled};

#[tokio::test]
async fn a_customer_cannot_read_or_cancel_another_customers_booking_but_ops_can_read_it() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 20, 2, "AB").await;
    let johns = booking.book_one(&booking.john, 20, "John").await;
    let id = johns["bookingId"].as_i64().unwrap();

    assert_eq!(
        booking.get(&booking.john, id).await.status(),
        StatusCode::OK
    );
    let hidden = problem(booking.get(&booking.jane, id).await, StatusCode::NOT_FOUND).await;
    assert_eq!(hidden["message"], "Booking not found");
    let seen: Value = booking.get(&booking.ops, id).await.json().await.unwrap();
    assert_eq!(seen["userId"], JOHN);

    let api = &booking.service.api;
    let janes: Value = api
        .get("/api/bookings", &booking.jane)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(janes["total"], 0);
    problem(
        api.get(&format!("/api/bookings?userId={JOHN}"), &booking.jane)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let listed: Value = api
        .get(&format!("/api/bookings?userId={JOHN}"), &booking.ops)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["bookingId"], id);

    let cancel = |token: &str| {
        let token = token.to_owned();
        async move {
            api.post_as(&format!("/api/bookings/{id}/cancel"), &token, &json!({}))
                .await
        }
    };
    problem(cancel(&booking.jane).await, StatusCode::NOT_FOUND).await;
    assert_eq!(booking.booking(id).await["status"], "PENDING_PAYMENT");
    let cancelled: Value = cancel(&booking.john).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["cancelReason"], "customer");
    assert_eq!(booking.economy(20).await, (4, 0));
    let published = booking.outbox(types::BOOKING_CANCELLED).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["data"]["previousStatus"], "PENDING_PAYMENT");
    // Cancelling again returns it unchanged and publishes nothing.
    let again: Value = cancel(&booking.john).await.json().await.unwrap();
    assert_eq!(again["status"], "CANCELLED");
    assert_eq!(booking.outbox(types::BOOKING_CANCELLED).await.len(), 1);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthenticated() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 21, 2, "AB").await;
    let body = json!({"flightId": 21, "passengers": [{"name": "John"}]});
    let api = &booking.service.api;

    let missing = api.post("/api/bookings", &body).await;
    let missing = problem(missing, StatusCode::UNAUTHORIZED).await;
    assert_eq!(missing["message"], "Missing bearer token");
    let expired = booking
        .issuer
        .token_expiring_in(JANE, "jane", Role::Customer, -60);
    let expired = problem(
        booking.book(&expired, &body).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(expired["message"], "The access token has expired");
    // Signed by a key booking was never shown.
    let stranger = platform::testing::TestIssuer::start().await;
    let foreign = stranger.customer(JANE, "jane");
    problem(
        booking.book(&foreign, &body).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        api.get("/api/bookings", "not-a-jwt").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(booking.economy(21).await, (4, 0), "no seat was taken");
}

/// `POST /api/bookings` as `token` with an `Idempotency-Key`.
async fn keyed(booking: &Booking, token: &str, key: &str, body: &Value) -> reqwest::Response {
    let api = &booking.service.api;
    api.client
        .post(api.url("/api/bookings"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_replay_returns_the_same_booking_and_takes_no_more_seats() {
    let booking = Arc::new(Booking::start(&[]).await);
    scheduled(&booking, 22, 5, "AB").await;
    let body = json!({"flightId": 22, "passengers": [{"name": "John"}]});

    let first = keyed(&booking, &booking.john, "trip-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let replay = keyed(&booking, &booking.john, "trip-1", &body).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["bookingId"], first["bookingId"]);
    assert_eq!(replay["passengers"], first["passengers"]);

    let other = json!({"flightId": 22, "passengers": [{"name": "Someone Else"}]});
    problem(
        keyed(&booking, &booking.john, "trip-1", &other).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // A key belongs to its user: another customer's request with it is a booking of its own.
    let janes = keyed(&booking, &booking.jane, "trip-1", &body).await;
    assert_eq!(janes.status(), StatusCode::CREATED);
    assert_ne!(
        janes.json::<Value>().await.unwrap()["bookingId"],
        first["bookingId"]
    );

    // Ten concurrent requests with one new key make one booking.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (booking, body) = (booking.clone(), body.clone());
        tasks.spawn(async move {
            let response = keyed(&booking, &booking.john, "trip-2", &body).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()["bookingId"].clone()
        });
    }
    let ids: std::collections::HashSet<String> = tasks
        .join_all()
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(booking.economy(22).await, (10, 3));
    assert_eq!(booking.outbox(types::BOOKING_CREATED).await.len(), 3);
}

#[tokio::test]
async fn staff_find_bookings_by_reference_or_flight_and_customers_only_their_own() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 30, 3, "AB").await;
    scheduled(&booking, 31, 3, "AB").await;
    let johns = booking.book_one(&booking.john, 30, "John").await;
    let janes = booking.book_one(&booking.jane, 30, "Jane").await;
    booking.book_one(&booking.jane, 31, "Jane").await;
    let reference = johns["reference"].as_str().unwrap();
    let api = &booking.service.api;
    let list = |path: String, token: String| async move {
        let answer = api.get(&path, &token).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let page: Value = answer.json().await.unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["bookingId"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };

    // Staff: by reference (any case) across users, and every booking on a flight.
    assert_eq!(
        list(
            format!("/api/bookings?reference={}", reference.to_lowercase()),
            booking.ops.clone()
        )
        .await,
        [johns["bookingId"].as_i64().unwrap()]
    );
    assert_eq!(
        list("/api/bookings?flightId=30".into(), booking.ops.clone()).await,
        [
            janes["bookingId"].as_i64().unwrap(),
            johns["bookingId"].as_i64().unwrap()
        ]
    );
    // A customer finds their own booking by its reference, never another's, and may not list a
    // flight's bookings.
    assert_eq!(
        list(
            format!("/api/bookings?reference={reference}"),
            booking.john.clone()
        )
        .await,
        [johns["bookingId"].as_i64().unwrap()]
    );
    assert!(
        list(
            format!("/api/bookings?reference={reference}"),
            booking.jane.clone()
        )
        .await
        .is_empty()
    );
    problem(
        api.get("/api/bookings?flightId=30", &booking.jane).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        api.get(
            &format!("/api/bookings?reference={reference}&userId={JOHN}"),
            &booking.jane,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}
