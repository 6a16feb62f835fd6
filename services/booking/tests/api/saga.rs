//! Booking's side of the payment saga, fed `payment.*` fixtures: confirmation, cancellation with
//! seats released, redelivery, the request that waits for its payment, and holds that run out.

use std::time::{Duration, Instant};

use contracts::events::types;
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, eventually, payment_event, scheduled};

/// Rows of the booking-payments consumer's inbox.
async fn payments_inbox(booking: &Booking) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1")
        .bind(booking::PAYMENTS_CONSUMER)
        .fetch_one(&booking.service.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn payment_succeeded_confirms_a_pending_booking_and_its_redelivery_changes_nothing() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 30, 2, "AB").await;
    let pending = booking.book_one(&booking.john, 30, "John").await;
    assert_eq!(pending["status"], "PENDING_PAYMENT");
    let id = pending["bookingId"].as_i64().unwrap();

    let paid = payment_event(types::PAYMENT_SUCCEEDED, 5001, &pending);
    booking.deliver(std::slice::from_ref(&paid)).await;
    let confirmed = booking.booking(id).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(confirmed["payment"]["paymentId"], 5001);
    assert!(confirmed["payment"]["paidAt"].is_string());
    assert!(confirmed["holdExpiresAt"].is_null());
    let published = booking.outbox(types::BOOKING_CONFIRMED).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["data"]["previousStatus"], "PENDING_PAYMENT");
    assert_eq!(published[0]["data"]["bookingId"], id);

    // The same event again (same id), alone and in a batch: recognised, nothing changes.
    booking.deliver(std::slice::from_ref(&paid)).await;
    booking.deliver(&[paid.clone(), paid.clone()]).await;
    assert_eq!(booking.booking(id).await, confirmed);
    assert_eq!(booking.outbox(types::BOOKING_CONFIRMED).await.len(), 1);
    assert_eq!(payments_inbox(&booking).await, 1);
    // A late failure of the same booking does not undo a confirmation.
    booking
        .deliver(&[payment_event(types::PAYMENT_FAILED, 5002, &pending)])
        .await;
    assert_eq!(booking.booking(id).await["status"], "CONFIRMED");
    assert_eq!(booking.economy(30).await, (4, 1));
    assert!(booking.outbox(types::BOOKING_CANCELLED).await.is_empty());
}

#[tokio::test]
async fn payment_failed_cancels_the_booking_and_releases_its_seats_once() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 31, 1, "AB").await;
    let first = booking.book_one(&booking.john, 31, "John").await;
    let second = booking.book_one(&booking.jane, 31, "Jane").await;
    let body = json!({"flightId": 31, "passengers": [{"name": "Third"}]});
    problem(
        booking.book(&booking.jane, &body).await,
        StatusCode::CONFLICT,
    )
    .await;

    let failed = payment_event(types::PAYMENT_FAILED, 6001, &first);
    booking.deliver(std::slice::from_ref(&failed)).await;
    let id = first["bookingId"].as_i64().unwrap();
    let cancelled = booking.booking(id).await;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["cancelReason"], "payment-failed");
    assert!(cancelled["payment"]["paymentId"].is_null());
    assert_eq!(booking.economy(31).await, (2, 1));
    assert_eq!(booking.assigned(31).await, 1);
    let published = booking.outbox(types::BOOKING_CANCELLED).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["data"]["previousStatus"], "PENDING_PAYMENT");
    assert_eq!(published[0]["data"]["cancelReason"], "payment-failed");
    assert_eq!(published[0]["data"]["flight"]["inventory"]["seatsLeft"], 1);

    // Redelivered: the seat is not released twice.
    booking.deliver(std::slice::from_ref(&failed)).await;
    assert_eq!(booking.economy(31).await, (2, 1));
    assert_eq!(booking.outbox(types::BOOKING_CANCELLED).await.len(), 1);

    // The released seat can be sold again; the other booking is untouched.
    let third = booking.book(&booking.jane, &body).await;
    assert_eq!(third.status(), StatusCode::CREATED);
    assert_eq!(
        third.json::<Value>().await.unwrap()["passengers"][0]["seat"],
        first["passengers"][0]["seat"]
    );
    assert_eq!(
        booking.booking(second["bookingId"].as_i64().unwrap()).await["status"],
        "PENDING_PAYMENT"
    );
}

#[tokio::test]
async fn a_payment_for_a_booking_it_does_not_have_is_dead_lettered_and_the_next_is_applied() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 34, 1, "AB").await;
    let ghost = json!({"bookingId": 999_999, "userId": 1, "price": {"amountMinor": 100, "currency": "USD"}});
    booking
        .deliver(&[payment_event(types::PAYMENT_FAILED, 7001, &ghost)])
        .await;
    let (consumer, error): (String, String) =
        sqlx::query_as("SELECT consumer, error FROM dead_letters")
            .fetch_one(&booking.service.db)
            .await
            .unwrap();
    assert_eq!(consumer, booking::PAYMENTS_CONSUMER);
    assert!(error.contains("does not have"), "{error}");

    let pending = booking.book_one(&booking.john, 34, "John").await;
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 7002, &pending)])
        .await;
    let id = pending["bookingId"].as_i64().unwrap();
    assert_eq!(booking.booking(id).await["status"], "CONFIRMED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_request_answers_confirmed_as_soon_as_the_payment_arrives() {
    let booking =
        std::sync::Arc::new(Booking::start(&[("BOOKING_CONFIRM_WAIT_MS", "10000")]).await);
    scheduled(&booking, 32, 2, "AB").await;
    let started = Instant::now();
    let request = {
        let booking = booking.clone();
        tokio::spawn(async move { booking.book_one(&booking.john, 32, "John").await })
    };
    let mut pending = None;
    for _ in 0..100 {
        let page: Value = booking
            .service
            .api
            .get("/api/bookings", &booking.john)
            .await
            .json()
            .await
            .unwrap();
        pending = page["items"].get(0).cloned();
        if pending.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending = pending.expect("the booking is recorded while its request waits");
    assert_eq!(pending["status"], "PENDING_PAYMENT");
    assert!(!request.is_finished(), "the request waits for its payment");
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 8001, &pending)])
        .await;
    let answered = request.await.unwrap();
    assert_eq!(answered["status"], "CONFIRMED");
    assert_eq!(answered["payment"]["paymentId"], 8001);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered when the payment arrived, not when the wait ran out"
    );

    // `Prefer: respond-async` answers at once, awaiting payment.
    let api = &booking.service.api;
    let response = api
        .client
        .post(api.url("/api/bookings"))
        .bearer_auth(&booking.jane)
        .header("prefer", "respond-async")
        .json(&json!({"flightId": 32, "passengers": [{"name": "Jane"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "PENDING_PAYMENT"
    );
}

#[tokio::test]
async fn a_hold_that_runs_out_expires_gives_its_seats_back_and_is_not_confirmed_later() {
    let booking = Booking::start(&[
        ("BOOKING_HOLD_SECS", "1"),
        ("BOOKING_EXPIRY_INTERVAL_MS", "50"),
    ])
    .await;
    scheduled(&booking, 33, 1, "AB").await;
    let held = booking.book_one(&booking.john, 33, "John").await;
    let id = held["bookingId"].as_i64().unwrap();
    assert_eq!(booking.economy(33).await, (2, 1));
    eventually("the hold expires", || async {
        booking.booking(id).await["status"] == "EXPIRED"
    })
    .await;
    assert_eq!(booking.economy(33).await, (2, 0));
    assert_eq!(booking.assigned(33).await, 0);
    let expired = booking.outbox(types::BOOKING_EXPIRED).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["cancelReason"], "hold-expired");

    // A payment that succeeds after the hold ran out leaves the booking expired.
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 9001, &held)])
        .await;
    assert_eq!(booking.booking(id).await["status"], "EXPIRED");
    assert!(booking.outbox(types::BOOKING_CONFIRMED).await.is_empty());
}

#[tokio::test]
async fn a_payment_of_another_amount_or_currency_confirms_nothing() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 35, 2, "AB").await;
    let pending = booking.book_one(&booking.john, 35, "John").await;
    let other = booking.book_one(&booking.john, 35, "Jane").await;
    let id = pending["bookingId"].as_i64().unwrap();

    let mut short = payment_event(types::PAYMENT_SUCCEEDED, 7101, &pending);
    short.envelope.data["amount"]["amountMinor"] =
        json!(pending["price"]["amountMinor"].as_i64().unwrap() - 1);
    let mut foreign = payment_event(types::PAYMENT_SUCCEEDED, 7102, &pending);
    foreign.envelope.data["amount"]["currency"] = json!("EUR");
    // In one batch with a payment that is right: that one still confirms its booking.
    let right = payment_event(types::PAYMENT_SUCCEEDED, 7103, &other);
    booking.deliver(&[short, foreign, right]).await;

    assert_eq!(booking.booking(id).await["status"], "PENDING_PAYMENT");
    let other_id = other["bookingId"].as_i64().unwrap();
    assert_eq!(booking.booking(other_id).await["status"], "CONFIRMED");
    let errors: Vec<String> = sqlx::query_scalar("SELECT error FROM dead_letters ORDER BY id")
        .fetch_all(&booking.service.db)
        .await
        .unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().all(|e| e.contains("but the booking costs")),
        "{errors:?}"
    );

    // The right amount still confirms it.
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 7104, &pending)])
        .await;
    assert_eq!(booking.booking(id).await["status"], "CONFIRMED");
}

#[tokio::test]
async fn a_payment_event_from_anyone_but_payment_is_refused() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 36, 1, "AB").await;
    let pending = booking.book_one(&booking.john, 36, "John").await;
    let id = pending["bookingId"].as_i64().unwrap();
    let mut forged = payment_event(types::PAYMENT_SUCCEEDED, 7201, &pending);
    forged.envelope.source = "itinera/catalog".into();
    booking.deliver(&[forged]).await;

    assert_eq!(booking.booking(id).await["status"], "PENDING_PAYMENT");
    let error: String = sqlx::query_scalar("SELECT error FROM dead_letters")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    assert!(
        error.contains("comes from itinera/catalog, not from payment"),
        "{error}"
    );
}
