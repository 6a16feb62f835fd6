//! The public seat map of a flight: every cabin with its fare, seats left and the seats held or
//! sold, read without a token and naming no passenger.

use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, FARE_MINOR, scheduled};

async fn seat_map(booking: &Booking, flight: &str) -> reqwest::Response {
    booking
        .service
        .api
        .get_anonymous(&format!("/api/flights/{flight}/seats"))
        .await
}

#[tokio::test]
async fn the_seat_map_shows_each_cabin_with_the_seats_held_or_sold_to_anyone_without_a_token() {
    let booking = Booking::start(&[]).await;
    let flight = scheduled(&booking, 30, 2, "ABC").await;

    let empty = seat_map(&booking, "30").await;
    assert_eq!(empty.status(), StatusCode::OK);
    let empty: Value = empty.json().await.unwrap();
    assert_eq!(
        empty,
        json!({
            "flightId": 30,
            "flightCode": flight.flight_code,
            "cabins": [
                {"cabin": "business", "firstRow": 1, "lastRow": 1, "seatLetters": "AC",
                 "fare": {"amount": "899", "amountMinor": 89_900, "currency": "USD"},
                 "capacity": 2, "seatsLeft": 2, "taken": []},
                {"cabin": "economy", "firstRow": 3, "lastRow": 4, "seatLetters": "ABC",
                 "fare": {"amount": "199.99", "amountMinor": FARE_MINOR, "currency": "USD"},
                 "capacity": 6, "seatsLeft": 6, "taken": []},
            ]
        })
    );

    // A seat chosen at the back, two assigned front to back, one in business. They await
    // payment: a held seat is as taken as a sold one.
    let chosen = booking
        .book(
            &booking.john,
            &json!({"flightId": 30, "passengers": [{"name": "John Doe", "seat": "4c"}]}),
        )
        .await;
    assert_eq!(chosen.status(), StatusCode::CREATED);
    let assigned = booking
        .book(
            &booking.jane,
            &json!({"flightId": 30, "passengers": [{"name": "Jane Doe"}, {"name": "Ann Doe"}]}),
        )
        .await;
    assert_eq!(assigned.status(), StatusCode::CREATED);
    let business = booking
        .book(
            &booking.jane,
            &json!({"flightId": 30, "cabin": "business", "passengers": [{"name": "Bob Doe", "seat": "1C"}]}),
        )
        .await;
    assert_eq!(business.status(), StatusCode::CREATED);

    let map = seat_map(&booking, "30").await;
    assert_eq!(map.status(), StatusCode::OK);
    let text = map.text().await.unwrap();
    for name in ["John", "Jane", "Ann", "Bob"] {
        assert!(!text.contains(name), "the seat map names no one: {text}");
    }
    let map: Value = serde_json::from_str(&text).unwrap();
    let cabins = map["cabins"].as_array().unwrap();
    assert_eq!(cabins[0]["taken"], json!(["1C"]));
    assert_eq!(cabins[0]["seatsLeft"], 1);
    assert_eq!(cabins[1]["taken"], json!(["3A", "3B", "4C"]));
    assert_eq!(cabins[1]["seatsLeft"], 3);

    // A cancelled booking's seat is free again.
    let id = chosen.json::<Value>().await.unwrap()["bookingId"]
        .as_i64()
        .unwrap();
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
    let map: Value = seat_map(&booking, "30").await.json().await.unwrap();
    assert_eq!(map["cabins"][1]["taken"], json!(["3A", "3B"]));
    assert_eq!(map["cabins"][1]["seatsLeft"], 4);
    assert_eq!(
        map["cabins"][0]["taken"],
        json!(["1C"]),
        "business is as it was"
    );
}

#[tokio::test]
async fn an_unknown_flight_is_not_found_and_an_id_that_is_not_an_integer_is_refused() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 31, 1, "AB").await;

    let unknown = problem(seat_map(&booking, "32").await, StatusCode::NOT_FOUND).await;
    assert_eq!(unknown["message"], "Flight not found");
    for bad in ["abc", "31.5", "99999999999999999999", "IT101-20261201"] {
        let refused = problem(seat_map(&booking, bad).await, StatusCode::BAD_REQUEST).await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid path parameter"),
            "{bad}: {refused}"
        );
    }
    // Only reads: the map cannot be written to.
    let write = booking
        .service
        .api
        .post_as("/api/flights/31/seats", &booking.ops, &json!({}))
        .await;
    assert_eq!(write.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(seat_map(&booking, "31").await.status(), StatusCode::OK);
}
