//! Seat inventory: created from catalog's flight events, taken by bookings, never oversold.

use std::sync::Arc;

use contracts::events::{BookingSnapshot, types};
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, FARE_MINOR, JOHN, flight_event, scheduled};

#[tokio::test]
async fn a_scheduled_flight_creates_its_inventory_and_becomes_bookable() {
    let booking = Booking::start(&[]).await;
    let body = json!({"flightId": 7, "passengers": [{"name": "John Doe"}]});
    let unknown = problem(
        booking.book(&booking.john, &body).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(unknown["message"], "Flight not found");

    let flight = scheduled(&booking, 7, 2, "AB").await;
    let cabins: Vec<(String, i32, i32, i64)> = sqlx::query_as(
        "SELECT cabin, capacity, taken, fare_minor FROM inventory WHERE flight_id = 7 ORDER BY cabin",
    )
    .fetch_all(&booking.service.db)
    .await
    .unwrap();
    assert_eq!(
        cabins,
        [
            ("business".to_owned(), 2, 0, 89_900),
            ("economy".to_owned(), 4, 0, FARE_MINOR)
        ]
    );

    let by_id = booking.book_one(&booking.john, 7, "John Doe").await;
    assert_eq!(by_id["status"], "PENDING_PAYMENT");
    assert_eq!(by_id["userId"], JOHN);
    assert_eq!(by_id["flight"]["flightCode"], flight.flight_code);
    assert_eq!(
        by_id["passengers"],
        json!([{"name": "John Doe", "seat": "3A"}])
    );
    assert_eq!(by_id["price"]["amountMinor"], FARE_MINOR);
    assert!(by_id["holdExpiresAt"].is_string());
    let by_code = booking
        .book(
            &booking.john,
            &json!({"flightCode": flight.flight_code, "cabin": "business",
                    "passengers": [{"name": "Ann Doe", "seat": "1c"}, {"name": "Bob Doe"}]}),
        )
        .await;
    assert_eq!(by_code.status(), StatusCode::CREATED);
    let by_code: Value = by_code.json().await.unwrap();
    assert_eq!(
        by_code["passengers"],
        json!([{"name": "Ann Doe", "seat": "1C"}, {"name": "Bob Doe", "seat": "1A"}])
    );
    assert_eq!(by_code["price"]["amount"], "1798");

    let read = booking
        .get(&booking.john, by_id["bookingId"].as_i64().unwrap())
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(
        (&read["bookingId"], &read["reference"], &read["passengers"]),
        (
            &by_id["bookingId"],
            &by_id["reference"],
            &by_id["passengers"]
        )
    );
    assert_eq!(booking.economy(7).await, (4, 1));
    assert_eq!(booking.assigned(7).await, 3);
}

#[tokio::test]
async fn flight_changes_apply_in_version_order_and_departed_or_cancelled_flights_are_refused() {
    let booking = Booking::start(&[]).await;
    let mut flight = scheduled(&booking, 8, 2, "AB").await;
    let held = booking.book_one(&booking.john, 8, "John").await;

    flight.version = 3;
    flight.status = "Cancelled".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_STATUS_CHANGED, &flight)])
        .await;
    // An older snapshot arriving late changes nothing.
    let mut stale = flight.clone();
    stale.version = 2;
    stale.status = "Delayed".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_STATUS_CHANGED, &stale)])
        .await;
    let status: String = sqlx::query_scalar("SELECT status FROM flights WHERE flight_id = 8")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    assert_eq!(status, "Cancelled");
    let body = json!({"flightId": 8, "passengers": [{"name": "Late"}]});
    let refused = problem(
        booking.book(&booking.jane, &body).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/flight-cancelled"),
        "{refused}"
    );

    // The flight's cancellation took the booking holding a seat with it.
    let id = held["bookingId"].as_i64().unwrap();
    let cancelled = booking.booking(id).await;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["cancelReason"], "flight-cancelled");
    assert_eq!(booking.economy(8).await, (4, 0));

    let mut departing = scheduled(&booking, 18, 2, "AB").await;
    let held = booking.book_one(&booking.john, 18, "John").await;
    departing.version = 2;
    departing.status = "Departed".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_STATUS_CHANGED, &departing)])
        .await;
    let body = json!({"flightId": 18, "passengers": [{"name": "Late"}]});
    let refused = problem(
        booking.book(&booking.jane, &body).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        refused["type"]
            .as_str()
            .unwrap()
            .ends_with("/flight-departed"),
        "{refused}"
    );
    let id = held["bookingId"].as_i64().unwrap();
    problem(
        booking
            .service
            .api
            .post_as(
                &format!("/api/bookings/{id}/cancel"),
                &booking.john,
                &json!({}),
            )
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        booking.economy(18).await,
        (4, 1),
        "the held seat stays held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_bookings_for_ten_seats_sell_exactly_ten() {
    let booking = Arc::new(Booking::start(&[]).await);
    scheduled(&booking, 9, 5, "AB").await;

    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..30 {
        let booking = booking.clone();
        attempts.spawn(async move {
            let body = json!({"flightId": 9, "passengers": [{"name": format!("P{i}")}]});
            let response = booking.book(&booking.john, &body).await;
            if response.status() == StatusCode::CREATED {
                let created: Value = response.json().await.unwrap();
                Ok(created["passengers"][0]["seat"]
                    .as_str()
                    .unwrap()
                    .to_owned())
            } else {
                Err(problem(response, StatusCode::CONFLICT).await)
            }
        });
    }
    let results = attempts.join_all().await;
    let mut seats: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let refusals: Vec<&Value> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!((seats.len(), refusals.len()), (10, 20));
    for refusal in refusals {
        assert!(
            refusal["type"].as_str().unwrap().ends_with("/sold-out"),
            "{refusal}"
        );
        assert_eq!(refusal["message"], "Not enough seats left in this cabin");
    }
    seats.sort();
    seats.dedup();
    assert_eq!(seats.len(), 10, "every seat sold once");
    assert_eq!(booking.economy(9).await, (10, 10));
    assert_eq!(booking.assigned(9).await, 10);
    assert_eq!(booking.outbox(types::BOOKING_CREATED).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_requests_for_one_seat_have_one_winner() {
    let booking = Arc::new(Booking::start(&[]).await);
    scheduled(&booking, 10, 5, "AB").await;

    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..10 {
        let booking = booking.clone();
        attempts.spawn(async move {
            let body =
                json!({"flightId": 10, "passengers": [{"name": format!("P{i}"), "seat": "5B"}]});
            booking.book(&booking.jane, &body).await
        });
    }
    let mut created = 0;
    for response in attempts.join_all().await {
        if response.status() == StatusCode::CREATED {
            created += 1;
        } else {
            let refusal = problem(response, StatusCode::CONFLICT).await;
            assert_eq!(refusal["message"], "Seat 5B is already taken");
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        booking.economy(10).await,
        (10, 1),
        "refused attempts gave their seat back"
    );
}

#[tokio::test]
async fn every_booking_is_published_as_booking_created_with_the_seats_left() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 11, 2, "AB").await;
    let mut ids = Vec::new();
    for name in ["One", "Two", "Three"] {
        ids.push(booking.book_one(&booking.john, 11, name).await["bookingId"].clone());
    }
    let created = booking.outbox(types::BOOKING_CREATED).await;
    assert_eq!(created.len(), 3);
    for (i, (envelope, id)) in created.iter().zip(&ids).enumerate() {
        assert_eq!(envelope["subject"], id.to_string());
        assert_eq!(envelope["source"], "itinera/booking");
        let snapshot: BookingSnapshot = serde_json::from_value(envelope["data"].clone()).unwrap();
        assert_eq!(snapshot.booking_id, id.as_i64().unwrap());
        assert_eq!(snapshot.user_id, JOHN);
        assert_eq!(snapshot.status.as_str(), "PENDING_PAYMENT");
        assert_eq!(snapshot.price.amount_minor, FARE_MINOR);
        assert_eq!(snapshot.flight.as_ref().unwrap().inventory.capacity, 4);
        assert_eq!(
            snapshot.flight.as_ref().unwrap().inventory.seats_left,
            3 - i as i32
        );
    }
    let topics: Vec<String> = sqlx::query_scalar("SELECT DISTINCT topic FROM outbox")
        .fetch_all(&booking.service.db)
        .await
        .unwrap();
    assert_eq!(topics, [contracts::events::topics::BOOKINGS]);
}
