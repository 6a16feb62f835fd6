//! Trips: a flight, a hotel stay and a car rental held all or nothing, paid once, confirmed or
//! released together, and cancelled whole or item by item.

use contracts::events::types;
use contracts::listings::{CarListing, HotelListing};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Booking, FARE_MINOR, flight_event, payment_event, scheduled};
use crate::stays::{car, day, hotel, listed_car, listed_hotel, rental_body, stay_body};

/// A hotel and a car priced in dollars, like the fixture flights.
async fn listings(booking: &Booking) -> (HotelListing, CarListing) {
    let mut hotel = hotel(1);
    hotel.currency = "USD".into();
    listed_hotel(booking, &hotel, 1).await;
    let mut car = car();
    car.currency = "USD".into();
    listed_car(booking, &car).await;
    (hotel, car)
}

fn trip_body(flight_id: i64, hotel: &HotelListing, car: &CarListing) -> Value {
    json!({
        "items": [
            {"type": "flight", "flightId": flight_id, "passengers": [{"name": "John Doe"}]},
            stay_body(hotel, 1, 3),
            rental_body(car, 1, 3),
        ],
        "paymentMethod": "credit_card",
    })
}

async fn create_trip(booking: &Booking, token: &str, body: &Value) -> reqwest::Response {
    booking.service.api.post_as("/api/trips", token, body).await
}

/// `(seats taken on the flight, room-nights taken, car rentals holding)`.
async fn held(booking: &Booking, flight_id: i64) -> (i32, i64, i64) {
    let (_, seats) = booking.economy(flight_id).await;
    let nights: i64 = sqlx::query_scalar("SELECT COALESCE(sum(taken), 0)::bigint FROM room_nights")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    let rentals: i64 = sqlx::query_scalar("SELECT count(*) FROM rentals WHERE holding")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    (seats, nights, rentals)
}

#[tokio::test]
async fn a_trip_is_held_whole_paid_once_and_confirmed_with_every_item() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 70, 3, "AB").await;
    let (hotel, car) = listings(&booking).await;
    let response = create_trip(&booking, &booking.john, &trip_body(70, &hotel, &car)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let trip: Value = response.json().await.unwrap();
    assert_eq!(trip["product"], "trip");
    assert_eq!(trip["status"], "PENDING_PAYMENT");
    let items = trip["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let total: i64 = items
        .iter()
        .map(|i| i["price"]["amountMinor"].as_i64().unwrap())
        .sum();
    assert_eq!(trip["price"]["amountMinor"], total);
    assert_eq!(items[0]["price"]["amountMinor"], FARE_MINOR);
    assert!(items.iter().all(|i| i["tripId"] == trip["bookingId"]));
    assert_eq!(held(&booking, 70).await, (1, 2, 1));

    // One booking.created per item, each naming the trip, and the trip's own, which alone asks
    // for a payment.
    let created = booking.outbox(types::BOOKING_CREATED).await;
    assert_eq!(created.len(), 4);
    let paid_alone: Vec<&Value> = created
        .iter()
        .filter(|e| e["data"].get("tripId").is_none())
        .collect();
    assert_eq!(paid_alone.len(), 1);
    assert_eq!(paid_alone[0]["data"]["product"], "trip");
    assert_eq!(paid_alone[0]["data"]["price"]["amountMinor"], total);
    // It lists its items with what each one's refund depends on; theirs list nothing.
    let listed = paid_alone[0]["data"]["items"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    for (listed, item) in listed.iter().zip(items) {
        assert_eq!(listed["bookingId"], item["bookingId"]);
        assert_eq!(listed["product"], item["product"]);
        assert_eq!(listed["price"]["amountMinor"], item["price"]["amountMinor"]);
        assert_eq!(listed["price"]["currency"], "USD");
        assert_eq!(listed["refundableUntil"], item["refundableUntil"]);
    }
    assert_eq!(listed[0]["startsAt"], items[0]["flight"]["departureAt"]);
    assert_eq!(listed[1]["startsAt"], items[1]["startsAt"]);
    // The car is free to cancel until pick-up; the flight goes by the fare rule instead.
    assert!(listed[2]["refundableUntil"].is_string() && listed[0].get("refundableUntil").is_none());
    assert!(
        created
            .iter()
            .filter(|e| e["data"].get("tripId").is_some())
            .all(|e| e["data"].get("items").is_none())
    );

    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 7_001, &trip)])
        .await;
    let id = trip["bookingId"].as_i64().unwrap();
    let paid: Value = booking
        .service
        .api
        .get(&format!("/api/trips/{id}"), &booking.john)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["status"], "CONFIRMED");
    assert!(
        paid["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "CONFIRMED"),
        "{paid}"
    );
    assert_eq!(booking.outbox(types::BOOKING_CONFIRMED).await.len(), 4);

    // Listed among the user's trips and bookings; not visible to another customer.
    let trips: Value = booking
        .service
        .api
        .get("/api/trips", &booking.john)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trips["items"][0]["bookingId"], id);
    let foreign = booking
        .service
        .api
        .get(&format!("/api/trips/{id}"), &booking.jane)
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_trip_whose_car_is_taken_holds_nothing_and_asks_for_no_payment() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 71, 3, "AB").await;
    let (hotel, car) = listings(&booking).await;
    let taken = booking.book(&booking.jane, &rental_body(&car, 2, 4)).await;
    assert_eq!(taken.status(), StatusCode::CREATED);
    let before = booking.outbox(types::BOOKING_CREATED).await.len();

    let response = create_trip(&booking, &booking.john, &trip_body(71, &hotel, &car)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: Value = response.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("/car-taken"));
    // No seat, no room-night, only Jane's rental; nothing new published, so nothing is charged.
    assert_eq!(held(&booking, 71).await, (0, 0, 1));
    assert_eq!(booking.outbox(types::BOOKING_CREATED).await.len(), before);
    let trips: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE product = 'trip'")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    assert_eq!(trips, 0);
}

#[tokio::test]
async fn a_declined_trip_payment_releases_every_item() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 72, 3, "AB").await;
    let (hotel, car) = listings(&booking).await;
    let trip: Value = create_trip(&booking, &booking.john, &trip_body(72, &hotel, &car))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held(&booking, 72).await, (1, 2, 1));
    booking
        .deliver(&[payment_event(types::PAYMENT_FAILED, 7_002, &trip)])
        .await;
    assert_eq!(held(&booking, 72).await, (0, 0, 0));
    let cancelled = booking.outbox(types::BOOKING_CANCELLED).await;
    assert_eq!(cancelled.len(), 4);
    assert!(
        cancelled
            .iter()
            .all(|e| e["data"]["cancelReason"] == "payment-failed")
    );
    assert_eq!(booking.outbox(types::CAR_AVAILABLE).await.len(), 1);
}

#[tokio::test]
async fn a_paid_trip_is_cancelled_item_by_item_then_ends_with_its_last_item() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 73, 3, "AB").await;
    let (hotel, car) = listings(&booking).await;
    let trip: Value = create_trip(&booking, &booking.john, &trip_body(73, &hotel, &car))
        .await
        .json()
        .await
        .unwrap();
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 7_003, &trip)])
        .await;
    let trip_id = trip["bookingId"].as_i64().unwrap();
    let items: Vec<i64> = trip["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["bookingId"].as_i64().unwrap())
        .collect();
    let cancel = |id: i64| {
        let api = booking.service.api.clone();
        let token = booking.john.clone();
        async move {
            api.post_as(&format!("/api/bookings/{id}/cancel"), &token, &json!({}))
                .await
        }
    };

    // The car alone: its days come back, the rest stays booked and paid.
    let car_item = cancel(items[2]).await;
    assert_eq!(car_item.status(), StatusCode::OK);
    assert_eq!(held(&booking, 73).await, (1, 2, 0));
    let ended = booking.outbox(types::BOOKING_CANCELLED).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["data"]["tripId"], trip_id);
    assert_eq!(ended[0]["data"]["previousStatus"], "CONFIRMED");
    assert_eq!(ended[0]["data"]["product"], "car");
    assert_eq!(booking.booking(trip_id).await["status"], "CONFIRMED");

    // Then the flight and the hotel: the trip ends with its last item.
    assert_eq!(cancel(items[0]).await.status(), StatusCode::OK);
    assert_eq!(booking.booking(trip_id).await["status"], "CONFIRMED");
    assert_eq!(cancel(items[1]).await.status(), StatusCode::OK);
    assert_eq!(held(&booking, 73).await, (0, 0, 0));
    let trip_now = booking.booking(trip_id).await;
    assert_eq!(trip_now["status"], "CANCELLED");
    assert_eq!(booking.outbox(types::BOOKING_CANCELLED).await.len(), 4);
}

#[tokio::test]
async fn an_item_cancelled_before_payment_ends_the_whole_trip() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 74, 3, "AB").await;
    let (hotel, car) = listings(&booking).await;
    let trip: Value = create_trip(&booking, &booking.john, &trip_body(74, &hotel, &car))
        .await
        .json()
        .await
        .unwrap();
    let hotel_item = trip["items"][1]["bookingId"].as_i64().unwrap();
    let response = booking
        .service
        .api
        .post_as(
            &format!("/api/bookings/{hotel_item}/cancel"),
            &booking.john,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(held(&booking, 74).await, (0, 0, 0));
    let id = trip["bookingId"].as_i64().unwrap();
    assert_eq!(booking.booking(id).await["status"], "CANCELLED");
}

#[tokio::test]
async fn bad_trips_are_refused() {
    let booking = Booking::start(&[]).await;
    scheduled(&booking, 75, 3, "AB").await;
    let (_, car) = listings(&booking).await;
    let euro_hotel = hotel(1);
    listed_hotel(&booking, &euro_hotel, 1).await;
    let mixed = json!({"items": [
        {"type": "flight", "flightId": 75, "passengers": [{"name": "John Doe"}]},
        stay_body(&euro_hotel, 1, 2),
    ]});
    let response = create_trip(&booking, &booking.john, &mixed).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(held(&booking, 75).await, (0, 0, 0));
    for body in [
        json!({"items": []}),
        json!({"items": [rental_body(&car, 1, 2)], "unknown": 1}),
        json!({"items": [{"type": "car", "carId": car.car_id, "startDate": day(1),
                          "endDate": day(2), "paymentMethod": "wallet"}]}),
        json!({"items": (0..7).map(|i| rental_body(&car, i + 1, i + 2)).collect::<Vec<_>>()}),
    ] {
        let response = create_trip(&booking, &booking.john, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let anonymous = booking
        .service
        .api
        .post("/api/trips", &json!({"items": [rental_body(&car, 1, 2)]}))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_flight_cancelled_by_ops_ends_an_unpaid_trip_whole_and_leaves_a_paid_one_its_other_items()
{
    let booking = Booking::start(&[]).await;
    let mut flight = scheduled(&booking, 76, 3, "AB").await;
    let (hotel, car) = listings(&booking).await;
    let unpaid: Value = create_trip(&booking, &booking.john, &trip_body(76, &hotel, &car))
        .await
        .json()
        .await
        .unwrap();
    flight.version = 2;
    flight.status = "Cancelled".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_STATUS_CHANGED, &flight)])
        .await;
    let id = unpaid["bookingId"].as_i64().unwrap();
    assert_eq!(booking.booking(id).await["status"], "CANCELLED");
    assert_eq!(held(&booking, 76).await, (0, 0, 0));

    let mut other = scheduled(&booking, 77, 3, "AB").await;
    let paid: Value = create_trip(&booking, &booking.john, &trip_body(77, &hotel, &car))
        .await
        .json()
        .await
        .unwrap();
    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 7_077, &paid)])
        .await;
    other.version = 2;
    other.status = "Cancelled".parse().unwrap();
    booking
        .deliver(&[flight_event(types::FLIGHT_STATUS_CHANGED, &other)])
        .await;
    let id = paid["bookingId"].as_i64().unwrap();
    let trip = booking.booking(id).await;
    assert_eq!(trip["status"], "CONFIRMED");
    let statuses: Vec<&str> = trip["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["CANCELLED", "CONFIRMED", "CONFIRMED"]);
    assert_eq!(held(&booking, 77).await, (0, 2, 1));
}
