//! Hotel stays and car rentals: room-nights and car-days never oversold, whatever the
//! concurrency, and the same life cycle as flights.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use contracts::events::{ListingSnapshot, topics, types};
use contracts::listings::{CarListing, HotelListing, RatePlanSnapshot, RoomTypeSnapshot};
use contracts::states::{CarType, Product};
use platform::events::{Envelope, Message};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Booking, payment_event};

/// A hotel with one room type of `rooms` rooms, a refundable plan (free cancellation up to 48
/// hours before check-in) and a non-refundable one, in euros.
pub fn hotel(rooms: i32) -> HotelListing {
    let plan = |name: &str, refundable, weekday| RatePlanSnapshot {
        rate_plan_id: Uuid::new_v4(),
        name: name.into(),
        refundable,
        free_cancellation_hours: 48,
        weekday_minor: weekday,
        weekend_minor: weekday + 4_000,
        prices: BTreeMap::new(),
    };
    HotelListing {
        hotel_id: Uuid::new_v4(),
        name: "Hôtel du Test".into(),
        city: "Paris".into(),
        airport_code: "CDG".into(),
        time_zone: "Europe/Paris".into(),
        check_in_time: "15:00".into(),
        currency: "EUR".into(),
        tax_basis_points: 1_000,
        fee_per_night_minor: 200,
        room_types: vec![RoomTypeSnapshot {
            room_type_id: Uuid::new_v4(),
            name: "Double".into(),
            capacity: 2,
            beds: "1 queen".into(),
            rooms,
            rate_plans: vec![plan("Flexible", true, 12_000), plan("Saver", false, 10_000)],
        }],
    }
}

pub fn car() -> CarListing {
    CarListing {
        car_id: Uuid::new_v4(),
        car_type: CarType::Suv,
        brand: "Toyota".into(),
        model: "RAV4".into(),
        year: 2025,
        location_code: "CDG".into(),
        time_zone: "Europe/Paris".into(),
        daily_price_minor: 6_500,
        currency: "EUR".into(),
        available: true,
    }
}

/// `kind` for a listing, as catalog's relay sends it.
pub fn listing_event(kind: &str, listing: ListingSnapshot) -> Message {
    let key = listing.listing_id.to_string();
    Message {
        topic: topics::LISTINGS.into(),
        key: key.clone(),
        envelope: Envelope::new("catalog", kind, key, serde_json::to_value(listing).unwrap()),
    }
}

pub async fn listed_hotel(booking: &Booking, hotel: &HotelListing, version: i64) {
    let listing = ListingSnapshot {
        listing_id: hotel.hotel_id,
        product: Product::Hotel,
        hotel: Some(hotel.clone()),
        car: None,
        version,
    };
    booking
        .deliver(&[listing_event(types::LISTING_CREATED, listing)])
        .await;
}

pub async fn listed_car(booking: &Booking, car: &CarListing) {
    let listing = ListingSnapshot {
        listing_id: car.car_id,
        product: Product::Car,
        hotel: None,
        car: Some(car.clone()),
        version: 1,
    };
    booking
        .deliver(&[listing_event(types::LISTING_CREATED, listing)])
        .await;
}

pub fn day(offset: i64) -> NaiveDate {
    Utc::now().date_naive() + Duration::days(offset)
}

pub fn stay_body(hotel: &HotelListing, from: i64, to: i64) -> Value {
    json!({
        "type": "hotel",
        "hotelId": hotel.hotel_id,
        "roomTypeId": hotel.room_types[0].room_type_id,
        "checkIn": day(from),
        "checkOut": day(to),
        "rooms": 1,
        "guests": 2,
    })
}

pub fn rental_body(car: &CarListing, from: i64, to: i64) -> Value {
    json!({"type": "car", "carId": car.car_id, "startDate": day(from), "endDate": day(to)})
}

/// Rooms taken per night of a room type, as stored.
async fn nights_taken(booking: &Booking, room_type: Uuid) -> Vec<(NaiveDate, i32)> {
    sqlx::query_as(
        "SELECT night, taken FROM room_nights WHERE room_type_id = $1 AND taken > 0 ORDER BY night",
    )
    .bind(room_type)
    .fetch_all(&booking.service.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn overlapping_stays_never_take_a_night_beyond_its_rooms() {
    let booking = Booking::start(&[]).await;
    let hotel = hotel(5);
    listed_hotel(&booking, &hotel, 1).await;
    let room_type = hotel.room_types[0].room_type_id;
    // 100 stays of one to four nights between day 10 and day 20, all at once, from 100 users.
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..100i64 {
        let token = booking.issuer.customer(1_000 + i, &format!("guest{i}"));
        let from = 10 + (i * 7) % 9;
        let to = (from + 1 + i % 4).min(20);
        let body = stay_body(&hotel, from, to);
        let api = booking.service.api.clone();
        requests.spawn(async move {
            let response = api.post_as("/api/bookings", &token, &body).await;
            let status = response.status();
            let view: Value = response.json().await.unwrap();
            (status, from, to, view)
        });
    }
    let results = requests.join_all().await;
    let mut wanted: BTreeMap<NaiveDate, i32> = BTreeMap::new();
    let mut created = 0;
    for (status, from, to, view) in &results {
        match *status {
            StatusCode::CREATED => {
                created += 1;
                assert_eq!(view["product"], "hotel");
                assert_eq!(view["status"], "PENDING_PAYMENT");
                for d in *from..*to {
                    *wanted.entry(day(d)).or_default() += 1;
                }
            }
            StatusCode::CONFLICT => assert!(
                view["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("/rooms-unavailable")),
                "{view}"
            ),
            other => panic!("unexpected {other}: {view}"),
        }
    }
    assert!(created >= 5, "only {created} stays were booked");
    let stored = nights_taken(&booking, room_type).await;
    assert!(stored.iter().all(|(_, taken)| *taken <= 5), "{stored:?}");
    // What is stored is exactly what the booked stays hold.
    let stored: BTreeMap<NaiveDate, i32> = stored.into_iter().collect();
    assert_eq!(stored, wanted);
    assert!(
        stored.values().any(|taken| *taken == 5),
        "the contention never filled a night: {stored:?}"
    );
}

#[tokio::test]
async fn one_car_is_rented_once_for_overlapping_days_and_back_to_back_ranges_both_succeed() {
    let booking = Booking::start(&[]).await;
    let car = car();
    listed_car(&booking, &car).await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..50i64 {
        let token = booking.issuer.customer(2_000 + i, &format!("driver{i}"));
        // Every range covers day 14.
        let body = rental_body(&car, 10 + i % 5, 15 + i % 3);
        let api = booking.service.api.clone();
        requests.spawn(async move { api.post_as("/api/bookings", &token, &body).await.status() });
    }
    let statuses = requests.join_all().await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
    );

    // Back to back: the drop-off day is the next pick-up day.
    let other = self::car();
    listed_car(&booking, &other).await;
    let first = booking
        .book(&booking.john, &rental_body(&other, 3, 6))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = booking
        .book(&booking.jane, &rental_body(&other, 6, 8))
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    let overlapping = booking
        .book(&booking.jane, &rental_body(&other, 5, 7))
        .await;
    assert_eq!(overlapping.status(), StatusCode::CONFLICT);
    let booked = booking.outbox(types::CAR_BOOKED).await;
    assert_eq!(booked.len(), 3);
    assert_eq!(booked[1]["data"]["carId"], other.car_id.to_string());
    assert_eq!(booked[1]["data"]["startDate"], day(3).to_string());
    assert_eq!(booked[1]["data"]["endDate"], day(6).to_string());
}

#[tokio::test]
async fn a_stay_is_priced_as_the_listing_says_paid_through_the_saga_and_cancelled_with_its_nights()
{
    let booking = Booking::start(&[]).await;
    let hotel = hotel(1);
    listed_hotel(&booking, &hotel, 1).await;
    let response = booking
        .book(&booking.john, &stay_body(&hotel, 30, 33))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let view: Value = response.json().await.unwrap();
    // The cheapest plan for the stay (the non-refundable one), as the shared quote computes it.
    let plan = &hotel.room_types[0].rate_plans[1];
    let quote = hotel.quote(plan, day(30), day(33), 1).unwrap();
    assert_eq!(view["price"]["amountMinor"], quote.total_minor);
    assert_eq!(view["price"]["currency"], "EUR");
    assert_eq!(view["stay"]["nights"], 3);
    assert_eq!(view["stay"]["ratePlanId"], plan.rate_plan_id.to_string());
    assert!(
        view.get("refundableUntil").is_none(),
        "non-refundable: {view}"
    );
    let created = booking.outbox(types::BOOKING_CREATED).await;
    assert_eq!(created[0]["data"]["product"], "hotel");
    assert_eq!(created[0]["data"]["stay"]["checkIn"], day(30).to_string());

    // The one room is gone for those nights, not for the check-out night.
    let again = booking
        .book(&booking.jane, &stay_body(&hotel, 32, 34))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let after = booking
        .book(&booking.jane, &stay_body(&hotel, 33, 34))
        .await;
    assert_eq!(after.status(), StatusCode::CREATED);

    booking
        .deliver(&[payment_event(types::PAYMENT_SUCCEEDED, 5_001, &view)])
        .await;
    let id = view["bookingId"].as_i64().unwrap();
    let paid = booking.booking(id).await;
    assert_eq!(paid["status"], "CONFIRMED");
    assert_eq!(paid["payment"]["paymentId"], 5_001);

    // Someone else cannot see or cancel it.
    let foreign = booking
        .service
        .api
        .post_as(
            &format!("/api/bookings/{id}/cancel"),
            &booking.jane,
            &json!({}),
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
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
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    let ended = booking.outbox(types::BOOKING_CANCELLED).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["data"]["previousStatus"], "CONFIRMED");
    // Its nights are free again; the neighbour's night stays taken.
    assert_eq!(
        nights_taken(&booking, hotel.room_types[0].room_type_id).await,
        vec![(day(33), 1)]
    );
    let rebooked = booking
        .book(&booking.jane, &stay_body(&hotel, 30, 33))
        .await;
    assert_eq!(rebooked.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_refundable_stay_says_until_when_and_a_rental_until_pick_up() {
    let booking = Booking::start(&[]).await;
    let hotel = hotel(2);
    listed_hotel(&booking, &hotel, 1).await;
    let mut body = stay_body(&hotel, 20, 22);
    body["ratePlanId"] = json!(hotel.room_types[0].rate_plans[0].rate_plan_id);
    let view: Value = booking
        .book(&booking.john, &body)
        .await
        .json()
        .await
        .unwrap();
    let until: chrono::DateTime<Utc> =
        serde_json::from_value(view["refundableUntil"].clone()).unwrap();
    let starts: chrono::DateTime<Utc> = serde_json::from_value(view["startsAt"].clone()).unwrap();
    assert_eq!(starts - until, Duration::hours(48));
    // 15:00 in Paris.
    assert!(matches!(
        starts.format("%H:%M").to_string().as_str(),
        "13:00" | "14:00"
    ));

    let car = car();
    listed_car(&booking, &car).await;
    let view: Value = booking
        .book(&booking.john, &rental_body(&car, 5, 9))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["price"]["amountMinor"], 4 * 6_500);
    assert_eq!(view["refundableUntil"], view["startsAt"]);
    assert_eq!(view["rental"]["days"], 4);
}

#[tokio::test]
async fn bad_stays_and_rentals_are_refused_with_what_is_wrong() {
    let booking = Booking::start(&[]).await;
    let hotel = hotel(2);
    listed_hotel(&booking, &hotel, 1).await;
    let car = car();
    listed_car(&booking, &car).await;
    let cases = [
        (stay_body(&hotel, 5, 5), StatusCode::BAD_REQUEST),
        (stay_body(&hotel, 5, 40), StatusCode::BAD_REQUEST),
        (stay_body(&hotel, -2, 1), StatusCode::BAD_REQUEST),
        (
            json!({"type": "hotel", "hotelId": Uuid::new_v4(), "roomTypeId": Uuid::new_v4(),
                   "checkIn": day(3), "checkOut": day(4)}),
            StatusCode::NOT_FOUND,
        ),
        (
            {
                let mut b = stay_body(&hotel, 3, 4);
                b["guests"] = json!(5);
                b
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            {
                let mut b = stay_body(&hotel, 3, 4);
                b["rooms"] = json!(0);
                b
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"type": "hotel", "hotelId": "nope", "roomTypeId": Uuid::new_v4(),
                   "checkIn": day(3), "checkOut": day(4)}),
            StatusCode::BAD_REQUEST,
        ),
        (rental_body(&car, 6, 4), StatusCode::BAD_REQUEST),
        (
            json!({"type": "car", "carId": Uuid::new_v4(), "startDate": day(3), "endDate": day(4)}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"type": "boat"}), StatusCode::BAD_REQUEST),
        (stay_body(&hotel, 600, 602), StatusCode::BAD_REQUEST),
        (rental_body(&car, 600, 602), StatusCode::BAD_REQUEST),
    ];
    for (body, status) in cases {
        let response = booking.book(&booking.john, &body).await;
        assert_eq!(response.status(), status, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Nothing was held by the refusals.
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&booking.service.db)
        .await
        .unwrap();
    assert_eq!(held, 0);
    let anonymous = booking
        .service
        .api
        .post("/api/bookings", &rental_body(&car, 3, 4))
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_car_taken_out_of_service_or_deleted_cannot_be_rented_and_expired_holds_give_days_back() {
    let booking = Booking::start(&[
        ("BOOKING_HOLD_SECS", "1"),
        ("BOOKING_EXPIRY_INTERVAL_MS", "100"),
    ])
    .await;
    let car = car();
    listed_car(&booking, &car).await;
    let held: Value = booking
        .book(&booking.john, &rental_body(&car, 4, 6))
        .await
        .json()
        .await
        .unwrap();
    let id = held["bookingId"].as_i64().unwrap();
    crate::helpers::eventually("the hold expires", || async {
        booking.booking(id).await["status"] == "EXPIRED"
    })
    .await;
    let available = booking.outbox(types::CAR_AVAILABLE).await;
    assert_eq!(available.len(), 1);
    assert_eq!(available[0]["data"]["bookingId"], id);
    // The days are free again.
    let again = booking.book(&booking.jane, &rental_body(&car, 4, 6)).await;
    assert_eq!(again.status(), StatusCode::CREATED);

    let mut off = car.clone();
    off.available = false;
    let listing = ListingSnapshot {
        listing_id: car.car_id,
        product: Product::Car,
        hotel: None,
        car: Some(off),
        version: 2,
    };
    booking
        .deliver(&[listing_event(types::LISTING_UPDATED, listing.clone())])
        .await;
    let refused = booking
        .book(&booking.john, &rental_body(&car, 10, 11))
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let deleted = ListingSnapshot {
        version: 3,
        ..listing
    };
    booking
        .deliver(&[listing_event(types::LISTING_DELETED, deleted)])
        .await;
    let gone = booking
        .book(&booking.john, &rental_body(&car, 10, 11))
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_idempotency_key_used_for_a_flight_cannot_book_a_car() {
    let booking = Booking::start(&[]).await;
    crate::helpers::scheduled(&booking, 81, 3, "AB").await;
    let car = car();
    listed_car(&booking, &car).await;
    let keyed = |body: Value| {
        let booking = &booking;
        async move {
            booking
                .service
                .api
                .client
                .post(booking.service.api.url("/api/bookings"))
                .bearer_auth(&booking.john)
                .header("idempotency-key", "one-key")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let flight = keyed(json!({"flightId": 81, "passengers": [{"name": "John"}]})).await;
    assert_eq!(flight.status(), StatusCode::CREATED);
    let rental = keyed(rental_body(&car, 3, 4)).await;
    assert_eq!(rental.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // And the other way round.
    let other = self::car();
    listed_car(&booking, &other).await;
    let first = booking
        .service
        .api
        .client
        .post(booking.service.api.url("/api/bookings"))
        .bearer_auth(&booking.jane)
        .header("idempotency-key", "two-key")
        .json(&rental_body(&other, 3, 4))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let flight = booking
        .service
        .api
        .client
        .post(booking.service.api.url("/api/bookings"))
        .bearer_auth(&booking.jane)
        .header("idempotency-key", "two-key")
        .json(&json!({"flightId": 81, "passengers": [{"name": "Jane"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(flight.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Only the first flight holds a seat.
    assert_eq!(booking.economy(81).await.1, 1);
}

#[tokio::test]
async fn room_nights_and_car_days_held_unpaid_are_limited_per_user() {
    let booking = Booking::start(&[("BOOKING_MAX_HELD_NIGHTS_PER_USER", "3")]).await;
    let hotel = hotel(3);
    listed_hotel(&booking, &hotel, 1).await;
    let car = car();
    listed_car(&booking, &car).await;
    // A trip counts its own items: two nights and two days are four, past the limit, and
    // nothing of it is held.
    let trip = json!({
        "items": [stay_body(&hotel, 10, 12), rental_body(&car, 10, 12)],
        "paymentMethod": "credit_card",
    });
    let refused = booking
        .service
        .api
        .post_as("/api/trips", &booking.john, &trip)
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["limit"], "BOOKING_MAX_HELD_NIGHTS_PER_USER");
    assert!(
        nights_taken(&booking, hotel.room_types[0].room_type_id)
            .await
            .is_empty()
    );
    let stay = booking
        .book(&booking.john, &stay_body(&hotel, 10, 12))
        .await;
    assert_eq!(stay.status(), StatusCode::CREATED);
    // Two more days would make four.
    let refused = booking
        .book(&booking.john, &rental_body(&car, 10, 12))
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["limit"], "BOOKING_MAX_HELD_NIGHTS_PER_USER");
    // One more fits; another user is not concerned.
    let one = booking
        .book(&booking.john, &rental_body(&car, 10, 11))
        .await;
    assert_eq!(one.status(), StatusCode::CREATED);
    let other = booking
        .book(&booking.jane, &stay_body(&hotel, 10, 13))
        .await;
    assert_eq!(other.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_of_one_keyed_stay_for_the_last_room_all_get_its_booking() {
    let booking = std::sync::Arc::new(Booking::start(&[]).await);
    let hotel = hotel(1);
    listed_hotel(&booking, &hotel, 1).await;
    let body = stay_body(&hotel, 10, 12);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (booking, body) = (booking.clone(), body.clone());
        tasks.spawn(async move {
            let api = &booking.service.api;
            let response = api
                .client
                .post(api.url("/api/bookings"))
                .bearer_auth(&booking.john)
                .header("idempotency-key", "last-room")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            assert!(status.is_success(), "{status}: {answer}");
            assert!(answer["bookingId"].is_i64(), "{answer}");
            answer["bookingId"].clone()
        });
    }
    let ids: std::collections::HashSet<String> = tasks
        .join_all()
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        nights_taken(&booking, hotel.room_types[0].room_type_id).await,
        vec![(day(10), 1), (day(11), 1)]
    );
}
