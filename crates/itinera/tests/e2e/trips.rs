//! Hotels, cars and trips across the platform: ops list a hotel and a car in catalog, booking
//! builds its inventory from catalog's events, a customer books a flight, a stay and a car as one
//! trip paid once, search sees the booking, and an item cancelled on its own is refunded from the
//! trip's payment as its refund quote said.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Platform, eventually};

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Waits until booking has received the listing from catalog's events.
async fn bookable(platform: &Platform, listing_id: &str) {
    eventually("booking knows the listing", || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM listings WHERE listing_id = $1::uuid)",
        )
        .bind(listing_id)
        .fetch_one(&platform.booking_db)
        .await
        .unwrap()
    })
    .await;
}

#[tokio::test]
async fn a_trip_is_booked_paid_once_seen_by_search_and_refunded_item_by_item() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TR1", 3, "AB").await;
    let hotel = created(
        platform
            .post_as(
                "/api/listings/hotels",
                &admin,
                &json!({
                    "name": "Betaville Inn", "city": "Betaville", "address": "1 Main Street",
                    "latitude": 40.7, "longitude": -74.0, "airportCode": "BBB", "stars": 3,
                    "amenities": ["wifi"], "photos": [], "description": "", "checkInTime": "15:00",
                    "currency": "USD", "taxBasisPoints": 1000, "feePerNight": "2.00",
                    "roomTypes": [{"name": "Double", "capacity": 2, "beds": "1 queen", "rooms": 1,
                        "ratePlans": [{"name": "Flexible", "refundable": true,
                            "freeCancellationHours": 24, "weekdayPrice": "100", "weekendPrice": "130"}]}],
                }),
            )
            .await,
    )
    .await;
    let car = created(
        platform
            .post_as(
                "/api/listings/cars",
                &admin,
                &json!({"type": "suv", "daily_rental_price": "55.00", "currency": "USD",
                        "brand": "Toyota", "model": "RAV4", "year": 2025, "location_code": "BBB"}),
            )
            .await,
    )
    .await;
    let (hotel_id, car_id) = (hotel["id"].as_str().unwrap(), car["id"].as_str().unwrap());
    bookable(&platform, hotel_id).await;
    bookable(&platform, car_id).await;

    let (_, token) = platform.customer("traveller").await;
    let card = created(
        platform
            .post_as(
                "/api/payments/cards",
                &token,
                &json!({"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2031, "cvc": "123"}),
            )
            .await,
    )
    .await;
    let trip = created(
        platform
            .post_as(
                "/api/trips",
                &token,
                &json!({
                    "items": [
                        {"type": "flight", "flightId": flight["flightId"], "passengers": [{"name": "Ada Lovelace"}]},
                        {"type": "hotel", "hotelId": hotel_id, "roomTypeId": hotel["roomTypes"][0]["id"],
                         "checkIn": day(2), "checkOut": day(4), "guests": 1},
                        {"type": "car", "carId": car_id, "startDate": day(2), "endDate": day(4)},
                    ],
                    "paymentMethod": "credit_card",
                    "paymentCardId": card["cardId"],
                }),
            )
            .await,
    )
    .await;
    let trip_id = trip["bookingId"].as_i64().unwrap();
    // The request waits for the payment: one charge for the total confirms every item.
    let path = format!("/api/trips/{trip_id}");
    eventually("the trip is paid", || async {
        let trip: Value = platform.get_as(&path, &token).await.json().await.unwrap();
        trip["status"] == "CONFIRMED"
    })
    .await;
    let paid: Value = platform.get_as(&path, &token).await.json().await.unwrap();
    let items = paid["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["status"] == "CONFIRMED"), "{paid}");
    let total = paid["price"]["amountMinor"].as_i64().unwrap();
    // Flight 199.99; two weekday-or-weekend nights at 100/130 plus 10 % tax and 2.00 a night;
    // two days of the car at 55.00.
    assert!(total > 19_999 + 2 * 5_500, "{paid}");
    let payments: Value = platform
        .get_as(&format!("/api/payments?bookingId={trip_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payments["total"], 1, "one payment for the trip: {payments}");
    assert_eq!(payments["payments"][0]["amount"]["amountMinor"], total);
    for item in items {
        let id = item["bookingId"].as_i64().unwrap();
        let none: Value = platform
            .get_as(&format!("/api/payments?bookingId={id}"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(none["total"], 0, "items are not charged: {none}");
    }

    // Search sees the booked car and room within a second of the booking.
    let started = Instant::now();
    let search = format!(
        "/api/listings/cars/search?location=BBB&startDate={}&endDate={}",
        day(3),
        day(5)
    );
    loop {
        let found: Value = platform.get(&search).await.json().await.unwrap();
        if found["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != car["id"])
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the rented car is still offered: {found}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The car alone is cancelled before pick-up: refunded in full from the trip's payment, as
    // its quote says beforehand; the trip's quote covers every item.
    let car_item = items.iter().find(|i| i["product"] == "car").unwrap()["bookingId"]
        .as_i64()
        .unwrap();
    let quote = |booking_id: i64| {
        platform.get_as(
            &format!("/api/payments/refund-quote?bookingId={booking_id}"),
            &token,
        )
    };
    let car_quote: Value = quote(car_item).await.json().await.unwrap();
    assert_eq!(car_quote["paid"]["amountMinor"], 11_000, "{car_quote}");
    assert_eq!(car_quote["refund"]["amountMinor"], 11_000, "{car_quote}");
    assert_eq!(car_quote["fee"]["amountMinor"], 0, "{car_quote}");
    assert_eq!(car_quote["paymentId"], payments["payments"][0]["paymentId"]);
    let trip_quote: Value = quote(trip_id).await.json().await.unwrap();
    assert_eq!(trip_quote["paid"]["amountMinor"], total, "{trip_quote}");
    let cancelled = platform
        .post_as(
            &format!("/api/bookings/{car_item}/cancel"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    eventually("the car's refund is recorded on it", || async {
        let item: Value = platform
            .get_as(&format!("/api/bookings/{car_item}"), &token)
            .await
            .json()
            .await
            .unwrap();
        item["payment"]["refunded"]["amountMinor"] == 11_000
    })
    .await;
    let trip_now: Value = platform.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(trip_now["status"], "CONFIRMED");
    assert_eq!(trip_now["payment"]["refunded"]["amountMinor"], 11_000);
    assert_eq!(quote(car_item).await.status(), StatusCode::CONFLICT);
    let rest: Value = quote(trip_id).await.json().await.unwrap();
    assert_eq!(rest["paid"]["amountMinor"], total - 11_000, "{rest}");
    // The car is offered again for those days.
    eventually("the car is offered again", || async {
        let found: Value = platform.get(&search).await.json().await.unwrap();
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == car["id"])
    })
    .await;
}
