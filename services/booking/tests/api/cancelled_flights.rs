//! A flight that catalog cancels cancels its bookings (reason `flight-cancelled`), once however
//! often the news arrives, including bookings made while the news arrives; and a booking's
//! ending carries its flight's departure as it is now, not as it was when booked.

use std::sync::Arc;

use contracts::events::types;
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, flight_event, payment_event, scheduled};

#[tokio::test]
async fn a_cancelled_flight_cancels_its_live_bookings_once() {
    let booking = Booking::start(&[]).await;
    let mut flight = scheduled(&booking, 50, 3, "AB").await;
    scheduled(&booking, 51, 3, "AB").await;
    let pending = booking.book_one(&booking.john, 50, "John").await;
    let paid = booking.book_one(&booking.jane, 50, "Jane").await;
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 8001, &paid)])
        .await;
    let withdrawn = booking.book_one(&booking.jane, 50, "Jane Again").await;
    let withdrawn_id = withdrawn["bookingId"].as_i64().unwrap();
    booking
        .service
        .api
        .post_as(
            &format!("/api/bookings/{withdrawn_id}/cancel"),
            &booking.jane,
            &json!({}),
        )
        .await;
    let elsewhere = booking.book_one(&booking.john, 51, "John").await;

    flight.version = 2;
    flight.status = "Cancelled".parse().unwrap();
    let cancelled = flight_event(types::FLIGHT_STATUS_CHANGED, &flight);
    booking.deliver(std::slice::from_ref(&cancelled)).await;

    for (view, previous) in [(&pending, "PENDING_PAYMENT"), (&paid, "CONFIRMED")] {
        let id = view["bookingId"].as_i64().unwrap();
        let now = booking.booking(id).await;
        assert_eq!(now["status"], "CANCELLED", "{now}");
        assert_eq!(now["cancelReason"], "flight-cancelled");
        let published: Vec<Value> = booking
            .outbox(types::BOOKING_CANCELLED)
            .await
            .into_iter()
            .filter(|e| e["data"]["bookingId"] == id)
            .collect();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0]["data"]["cancelReason"], "flight-cancelled");
        assert_eq!(published[0]["data"]["previousStatus"], previous);
    }
    let withdrawn = booking.booking(withdrawn_id).await;
    assert_eq!(
        withdrawn["cancelReason"], "customer",
        "an ended booking stays as it was"
    );
    assert_eq!(booking.economy(50).await, (6, 0));
    assert_eq!(booking.assigned(50).await, 0);
    let id = elsewhere["bookingId"].as_i64().unwrap();
    assert_eq!(booking.booking(id).await["status"], "PENDING_PAYMENT");

    // The same event again, and later news of the cancelled flight: nothing more is cancelled.
    booking.deliver(std::slice::from_ref(&cancelled)).await;
    flight.version = 3;
    flight.gate = Some("B7".into());
    booking
        .deliver(&[flight_event(types::FLIGHT_UPDATED, &flight)])
        .await;
    assert_eq!(booking.outbox(types::BOOKING_CANCELLED).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_made_while_the_flight_is_cancelled_is_refused_or_cancelled() {
    let booking = Arc::new(Booking::start(&[]).await);
    let mut flight = scheduled(&booking, 52, 20, "ABCDEF").await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..40 {
        let booking = booking.clone();
        attempts.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(i * 2)).await;
            let token = if i % 2 == 0 {
                &booking.john
            } else {
                &booking.jane
            };
            let body = json!({"flightId": 52, "passengers": [{"name": format!("P{i}")}]});
            booking.book(token, &body).await
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    flight.version = 2;
    flight.status = "Cancelled".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_STATUS_CHANGED, &flight)])
        .await;
    for response in attempts.join_all().await {
        if response.status() != StatusCode::CREATED {
            let refusal = problem(response, StatusCode::CONFLICT).await;
            assert_eq!(refusal["message"], "The flight is cancelled");
        }
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE flight_id = 52 \
         AND status IN ('PENDING_PAYMENT', 'CONFIRMED')",
    )
    .fetch_one(&booking.service.db)
    .await
    .unwrap();
    assert_eq!(live, 0, "no booking outlives its flight");
    assert_eq!(booking.economy(52).await, (120, 0));
    assert_eq!(booking.assigned(52).await, 0);
}

#[tokio::test]
async fn a_cancellation_carries_the_flights_current_departure() {
    let booking = Booking::start(&[]).await;
    let mut flight = scheduled(&booking, 53, 3, "AB").await;
    let booked = booking.book_one(&booking.john, 53, "John").await;
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 8101, &booked)])
        .await;
    let created = booking.outbox(types::BOOKING_CREATED).await;
    let booked_departure: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created[0]["data"]["startsAt"].clone()).unwrap();

    let delayed =
        chrono::SubsecRound::trunc_subsecs(flight.departure_at + chrono::Duration::hours(30), 0);
    flight.version = 2;
    flight.departure_at = delayed;
    flight.arrival_at += chrono::Duration::hours(30);
    flight.status = "Delayed".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_UPDATED, &flight)])
        .await;
    let id = booked["bookingId"].as_i64().unwrap();
    let response = booking
        .service
        .api
        .post_as(
            &format!("/api/bookings/{id}/cancel"),
            &booking.john,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.unwrap();
    let shown: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(view["flight"]["departureAt"].clone()).unwrap();
    assert_eq!(shown, delayed);
    let published = booking.outbox(types::BOOKING_CANCELLED).await;
    let sent: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(published[0]["data"]["startsAt"].clone()).unwrap();
    assert_eq!(
        sent, delayed,
        "the payment service refunds by this departure"
    );
    assert_ne!(sent, booked_departure);
}
