//! The limits on what one user may hold awaiting payment: each is refused by name and value, on
//! both paths that book, concurrent requests cannot pass one together, and paying or cancelling
//! gives the allowance back.

use std::sync::Arc;

use contracts::events::types;
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, payment_event, scheduled};

fn passengers(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"name": format!("Passenger {i}")}))
        .collect()
}

/// `POST /api/bookings` for `count` passengers on `flight_id` as `token`.
async fn book(booking: &Booking, token: &str, flight_id: i64, count: usize) -> reqwest::Response {
    booking
        .book(
            token,
            &json!({"flightId": flight_id, "passengers": passengers(count)}),
        )
        .await
}

/// Seed 002's `POST /api/flight/book-flight` (one economy seat) as `token`.
async fn book_flight(booking: &Booking, token: &str, flight_id: i64) -> reqwest::Response {
    booking
        .service
        .api
        .post_as(
            "/api/flight/book-flight",
            token,
            &json!({"flightId": format!("TA{flight_id}-20991231")}),
        )
        .await
}

/// Asserts a refusal for the limit set by `setting` to `max`, its message naming both.
async fn refused(response: reqwest::Response, setting: &str, max: i64) -> Value {
    let refusal = problem(response, StatusCode::CONFLICT).await;
    assert!(
        refusal["type"]
            .as_str()
            .unwrap()
            .ends_with("/unpaid-hold-limit"),
        "{refusal}"
    );
    assert_eq!(refusal["limit"], setting, "{refusal}");
    assert_eq!(refusal["max"], max, "{refusal}");
    let message = refusal["message"].as_str().unwrap();
    assert!(message.contains(&format!("{setting} = {max}")), "{message}");
    refusal
}

#[tokio::test]
async fn a_user_past_the_pending_bookings_limit_is_refused_on_both_paths() {
    let booking = Booking::start(&[("BOOKING_MAX_PENDING_PER_USER", "2")]).await;
    scheduled(&booking, 40, 10, "ABCDEF").await;
    assert_eq!(book(&booking, &booking.john, 40, 1).await.status(), 201);
    assert_eq!(book_flight(&booking, &booking.john, 40).await.status(), 201);

    let refusal = refused(
        book(&booking, &booking.john, 40, 1).await,
        "BOOKING_MAX_PENDING_PER_USER",
        2,
    )
    .await;
    assert_eq!(
        refusal["message"],
        "You already have 2 bookings awaiting payment, the most one user may have \
         (BOOKING_MAX_PENDING_PER_USER = 2); pay for or cancel one first"
    );
    refused(
        book_flight(&booking, &booking.john, 40).await,
        "BOOKING_MAX_PENDING_PER_USER",
        2,
    )
    .await;
    assert_eq!(booking.economy(40).await, (60, 2), "refusals took no seat");
    assert_eq!(booking.outbox(types::BOOKING_CREATED).await.len(), 2);
    // The limit is each user's own.
    assert_eq!(book(&booking, &booking.jane, 40, 1).await.status(), 201);
}

#[tokio::test]
async fn a_user_past_the_held_seats_limit_is_refused() {
    let booking = Booking::start(&[("BOOKING_MAX_HELD_SEATS_PER_USER", "5")]).await;
    scheduled(&booking, 41, 10, "ABCDEF").await;
    scheduled(&booking, 42, 10, "ABCDEF").await;
    assert_eq!(book(&booking, &booking.john, 41, 3).await.status(), 201);
    // Seats count over every flight.
    let refusal = refused(
        book(&booking, &booking.john, 42, 3).await,
        "BOOKING_MAX_HELD_SEATS_PER_USER",
        5,
    )
    .await;
    assert_eq!(
        refusal["message"],
        "This booking would hold 6 seats awaiting payment in all; one user may hold at most 5 \
         (BOOKING_MAX_HELD_SEATS_PER_USER = 5); pay for or cancel a booking first"
    );
    assert_eq!(book(&booking, &booking.john, 42, 2).await.status(), 201);
    refused(
        book_flight(&booking, &booking.john, 42).await,
        "BOOKING_MAX_HELD_SEATS_PER_USER",
        5,
    )
    .await;
    assert_eq!(booking.economy(42).await, (60, 2));
}

#[tokio::test]
async fn a_user_past_the_flight_share_limit_is_refused() {
    let booking = Booking::start(&[("BOOKING_MAX_FLIGHT_SHARE_PERCENT", "30")]).await;
    // 2 business and 8 economy seats: 30 % is 3 seats.
    scheduled(&booking, 43, 2, "ABCD").await;
    scheduled(&booking, 44, 10, "ABCDEF").await;
    assert_eq!(book(&booking, &booking.john, 43, 2).await.status(), 201);
    let refusal = refused(
        book(&booking, &booking.john, 43, 2).await,
        "BOOKING_MAX_FLIGHT_SHARE_PERCENT",
        30,
    )
    .await;
    assert_eq!(
        refusal["message"],
        "This booking would hold 4 of this flight's 10 seats awaiting payment; one user may hold \
         at most 3 of them unpaid (30% of the flight, BOOKING_MAX_FLIGHT_SHARE_PERCENT = 30); pay \
         for or cancel a booking first"
    );
    // Business seats count too.
    let business = json!({"flightId": 43, "cabin": "business", "passengers": passengers(2)});
    refused(
        booking.book(&booking.john, &business).await,
        "BOOKING_MAX_FLIGHT_SHARE_PERCENT",
        30,
    )
    .await;
    // One more seat is within the share; the flight is then at it, on both paths.
    assert_eq!(book(&booking, &booking.john, 43, 1).await.status(), 201);
    refused(
        book_flight(&booking, &booking.john, 43).await,
        "BOOKING_MAX_FLIGHT_SHARE_PERCENT",
        30,
    )
    .await;
    // Another flight, another share; another user, their own share.
    assert_eq!(book(&booking, &booking.john, 44, 4).await.status(), 201);
    assert_eq!(book(&booking, &booking.jane, 43, 3).await.status(), 201);
    assert_eq!(booking.economy(43).await, (8, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bookings_cannot_pass_a_limit_together() {
    let booking = Arc::new(Booking::start(&[("BOOKING_MAX_PENDING_PER_USER", "3")]).await);
    // Bookings of one cabin wait for each other anyway; these are on eight flights.
    for flight_id in 60..68 {
        scheduled(&booking, flight_id, 10, "ABCDEF").await;
    }
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..24 {
        let booking = booking.clone();
        attempts.spawn(async move {
            let flight_id = 60 + i % 8;
            // Both paths that book, interleaved.
            if i % 2 == 0 {
                book(&booking, &booking.john, flight_id, 1).await
            } else {
                book_flight(&booking, &booking.john, flight_id).await
            }
        });
    }
    let mut created = 0;
    for response in attempts.join_all().await {
        if response.status() == StatusCode::CREATED {
            created += 1;
        } else {
            refused(response, "BOOKING_MAX_PENDING_PER_USER", 3).await;
        }
    }
    assert_eq!(created, 3);
    let taken: i64 = sqlx::query_scalar("SELECT sum(taken)::bigint FROM inventory")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    assert_eq!(taken, 3, "refusals took no seat");
    assert_eq!(booking.outbox(types::BOOKING_CREATED).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_of_one_keyed_request_at_the_limit_all_get_its_booking() {
    let booking = Arc::new(Booking::start(&[("BOOKING_MAX_PENDING_PER_USER", "1")]).await);
    scheduled(&booking, 46, 10, "ABCDEF").await;
    let body = json!({"flightId": 46, "passengers": passengers(1)});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (booking, body) = (booking.clone(), body.clone());
        tasks.spawn(async move {
            let api = &booking.service.api;
            let response = api
                .client
                .post(api.url("/api/bookings"))
                .bearer_auth(&booking.john)
                .header("idempotency-key", "family-trip")
                .json(&body)
                .send()
                .await
                .unwrap();
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
    // A new request is past the limit.
    refused(
        book(&booking, &booking.john, 46, 1).await,
        "BOOKING_MAX_PENDING_PER_USER",
        1,
    )
    .await;
}

#[tokio::test]
async fn paying_cancelling_or_a_failed_payment_gives_the_allowance_back() {
    let booking = Booking::start(&[("BOOKING_MAX_PENDING_PER_USER", "1")]).await;
    scheduled(&booking, 47, 10, "ABCDEF").await;
    let first = booking.book_one(&booking.john, 47, "John").await;
    refused(
        book(&booking, &booking.john, 47, 1).await,
        "BOOKING_MAX_PENDING_PER_USER",
        1,
    )
    .await;

    // Paid: no longer held unpaid.
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 7001, &first)])
        .await;
    assert_eq!(
        booking.booking(first["bookingId"].as_i64().unwrap()).await["status"],
        "CONFIRMED"
    );
    let second = booking.book_one(&booking.john, 47, "John").await;
    refused(
        book_flight(&booking, &booking.john, 47).await,
        "BOOKING_MAX_PENDING_PER_USER",
        1,
    )
    .await;

    // Cancelled by the customer.
    let id = second["bookingId"].as_i64().unwrap();
    let cancelled = booking
        .service
        .api
        .post_as(
            &format!("/api/bookings/{id}/cancel"),
            &booking.john,
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let third = booking.book_one(&booking.john, 47, "John").await;

    // Cancelled because its payment failed.
    booking
        .deliver(&[payment_event(types::PAYMENT_FAILED, 7002, &third)])
        .await;
    assert_eq!(book_flight(&booking, &booking.john, 47).await.status(), 201);
}
