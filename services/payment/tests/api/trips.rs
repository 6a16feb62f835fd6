//! Hotel stays, car rentals and trips: a trip is charged once for its items, each product is
//! refunded by its own rule, and a trip's items cancelled on their own are refunded one by one
//! from the trip's payment, never for more than it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use contracts::events::{
    BookingSnapshot, MoneyAmount, RentalSnapshot, StaySnapshot, TripItem, types,
};
use contracts::states::{BookingStatus, CancelReason, CarType, Product};
use platform::testing::{TestIssuer, TestService};
use serde_json::Value;
use uuid::Uuid;

use super::{SIMULATED, booking, count, event, wait_for};

pub async fn start() -> (TestService, TestIssuer) {
    platform::telemetry::init_for_tests();
    let issuer = TestIssuer::start().await;
    // Demo mode: bookings without a card are paid with the sandbox card.
    let service =
        TestService::start::<payment::Payment>(&issuer, &[SIMULATED, ("ITINERA_MODE", "demo")])
            .await;
    (service, issuer)
}

fn priced(mut booking: BookingSnapshot, amount_minor: i64) -> BookingSnapshot {
    booking.price = MoneyAmount {
        amount_minor,
        currency: "USD".into(),
    };
    booking
}

fn day(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// A two-night stay starting in `starts_in`, free to cancel until `refundable_until`.
pub fn hotel(
    booking_id: i64,
    amount_minor: i64,
    starts_in: Duration,
    refundable_until: Option<DateTime<Utc>>,
) -> BookingSnapshot {
    let starts_at = Utc::now() + starts_in;
    BookingSnapshot {
        product: Product::Hotel,
        description: "Hotel Lumière, Deluxe double, 2 nights".into(),
        starts_at,
        refundable_until,
        flight: None,
        stay: Some(StaySnapshot {
            hotel_id: Uuid::new_v4(),
            hotel_name: "Hotel Lumière".into(),
            city: "Paris".into(),
            room_type_id: Uuid::new_v4(),
            room_type_name: "Deluxe double".into(),
            rate_plan_id: Uuid::new_v4(),
            check_in: day(starts_at),
            check_out: day(starts_at + Duration::days(2)),
            rooms: 1,
            guests: 2,
        }),
        ..priced(booking(booking_id), amount_minor)
    }
}

/// A three-day rental picked up in `starts_in`, free to cancel until pick-up.
pub fn car(booking_id: i64, amount_minor: i64, starts_in: Duration) -> BookingSnapshot {
    let starts_at = Utc::now() + starts_in;
    BookingSnapshot {
        product: Product::Car,
        description: "Toyota RAV4 (suv), CDG, 3 days".into(),
        starts_at,
        refundable_until: Some(starts_at),
        flight: None,
        rental: Some(RentalSnapshot {
            car_id: Uuid::new_v4(),
            car_type: CarType::Suv,
            car: "Toyota RAV4".into(),
            location_code: "CDG".into(),
            start_date: day(starts_at),
            end_date: day(starts_at + Duration::days(3)),
        }),
        ..priced(booking(booking_id), amount_minor)
    }
}

/// A flight departing in `starts_in`.
pub fn flight(booking_id: i64, amount_minor: i64, starts_in: Duration) -> BookingSnapshot {
    let mut flight = priced(booking(booking_id), amount_minor);
    flight.starts_at = Utc::now() + starts_in;
    flight
}

/// Trip `trip_id` of `items`, which become its items; the trip costs their total and lists
/// them, as booking's `booking.created` of a trip does.
pub fn trip(trip_id: i64, items: &mut [BookingSnapshot]) -> BookingSnapshot {
    let total = items.iter().map(|i| i.price.amount_minor).sum();
    for item in items.iter_mut() {
        item.trip_id = Some(trip_id);
    }
    BookingSnapshot {
        product: Product::Trip,
        description: "Trip to Paris: flight, hotel, car".into(),
        starts_at: items.iter().map(|i| i.starts_at).min().unwrap(),
        refundable_until: None,
        flight: None,
        items: items
            .iter()
            .map(|i| TripItem {
                booking_id: i.booking_id,
                product: i.product,
                price: i.price.clone(),
                starts_at: i.starts_at,
                refundable_until: i.refundable_until,
                flight_id: i.flight.as_ref().map(|f| f.flight_id),
            })
            .collect(),
        ..priced(booking(trip_id), total)
    }
}

/// `booking` cancelled by its customer after it was confirmed.
pub fn cancelled(booking: &BookingSnapshot) -> BookingSnapshot {
    BookingSnapshot {
        status: BookingStatus::Cancelled,
        previous_status: Some(BookingStatus::Confirmed),
        cancel_reason: Some(CancelReason::Customer),
        ..booking.clone()
    }
}

pub async fn paid(service: &TestService, booking: &BookingSnapshot) {
    service
        .publish(&[event(types::BOOKING_CREATED, booking)])
        .await;
    wait_for(
        &service.db,
        &format!(
            "SELECT count(*) FROM payments WHERE booking_id = {} AND status = 'SUCCEEDED'",
            booking.booking_id
        ),
        1,
    )
    .await;
}

/// Publishes booking's `booking.cancelled` of each, one batch, and waits until every refund is
/// made.
pub async fn cancel(service: &TestService, bookings: &[BookingSnapshot]) {
    let events: Vec<_> = bookings
        .iter()
        .map(|b| event(types::BOOKING_CANCELLED, &cancelled(b)))
        .collect();
    service.publish(&events).await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM refunds WHERE status <> 'SUCCEEDED'",
        0,
    )
    .await;
}

/// `(booking it is for, amount, fee)` of each refund of booking `booking_id`'s payment, oldest
/// first.
pub async fn refunds_of(service: &TestService, booking_id: i64) -> Vec<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT r.for_booking_id, r.amount_minor, r.fee_minor FROM refunds r \
         JOIN payments p ON p.id = r.payment_id WHERE p.booking_id = $1 ORDER BY r.id",
    )
    .bind(booking_id)
    .fetch_all(&service.db)
    .await
    .unwrap()
}

async fn refunded(service: &TestService, booking_id: i64) -> i64 {
    count(
        &service.db,
        &format!("SELECT refunded_minor FROM payments WHERE booking_id = {booking_id}"),
    )
    .await
}

#[tokio::test]
async fn a_trips_items_are_not_charged_and_the_trip_is_charged_once_for_the_total() {
    let (service, _issuer) = start().await;
    let mut items = [
        flight(11, 20_000, Duration::days(10)),
        hotel(12, 30_000, Duration::days(10), None),
        car(13, 10_000, Duration::days(10)),
    ];
    let trip = trip(10, &mut items);
    // The items in one batch with the trip, and one again on its own (another path).
    let mut batch = vec![event(types::BOOKING_CREATED, &trip)];
    batch.extend(items.iter().map(|i| event(types::BOOKING_CREATED, i)));
    service.publish(&batch).await;
    service
        .publish(&[event(types::BOOKING_CREATED, &items[1])])
        .await;

    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'",
        1,
    )
    .await;
    let (booking_id, amount, description): (i64, i64, String) =
        sqlx::query_as("SELECT booking_id, amount_minor, description FROM payments")
            .fetch_one(&service.db)
            .await
            .unwrap();
    assert_eq!((booking_id, amount), (10, 60_000));
    assert_eq!(
        description,
        "Trip to Paris: flight, hotel, car, booking REF10"
    );
    assert_eq!(count(&service.db, "SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        1
    );
    // The payment keeps the terms of each item the trip listed, for refund quotes.
    let terms: Vec<(i64, String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT t.booking_id, t.product, t.price_minor, t.refundable_until FROM booking_terms t \
         JOIN payments p ON p.id = t.payment_id WHERE p.booking_id = 10 ORDER BY t.booking_id",
    )
    .fetch_all(&service.db)
    .await
    .unwrap();
    let car_until = terms[2].3.unwrap();
    assert_eq!(
        terms,
        [
            (11, "flight".to_owned(), 20_000, None),
            (12, "hotel".to_owned(), 30_000, None),
            (13, "car".to_owned(), 10_000, Some(car_until)),
        ]
    );
    assert!((car_until - items[2].starts_at).abs() < Duration::milliseconds(1));
}

#[tokio::test]
async fn a_hotel_is_refunded_in_full_before_its_deadline_and_not_at_all_after_or_without_one() {
    let (service, _issuer) = start().await;
    let in_time = hotel(
        21,
        30_000,
        Duration::days(5),
        Some(Utc::now() + Duration::days(4)),
    );
    let too_late = hotel(
        22,
        30_000,
        Duration::days(1),
        Some(Utc::now() - Duration::hours(1)),
    );
    let non_refundable = hotel(23, 30_000, Duration::days(30), None);
    for stay in [&in_time, &too_late, &non_refundable] {
        paid(&service, stay).await;
    }
    cancel(&service, &[in_time, too_late, non_refundable]).await;

    assert_eq!(refunds_of(&service, 21).await, [(21, 30_000, 0)]);
    assert_eq!(refunds_of(&service, 22).await, [(22, 0, 30_000)]);
    assert_eq!(refunds_of(&service, 23).await, [(23, 0, 30_000)]);
    assert_eq!(refunded(&service, 21).await, 30_000);
    assert_eq!(refunded(&service, 22).await, 0);
    assert_eq!(refunded(&service, 23).await, 0);
    assert_eq!(
        count(
            &service.db,
            "SELECT COALESCE(sum(refunded_minor), 0)::bigint FROM simulated_charges"
        )
        .await,
        30_000,
        "only the stay cancelled in time went back to the card"
    );
}

#[tokio::test]
async fn a_car_is_refunded_in_full_before_pick_up() {
    let (service, _issuer) = start().await;
    let rental = car(31, 12_345, Duration::hours(3));
    paid(&service, &rental).await;
    cancel(&service, std::slice::from_ref(&rental)).await;
    assert_eq!(refunds_of(&service, 31).await, [(31, 12_345, 0)]);
    assert_eq!(refunded(&service, 31).await, 12_345);
}

#[tokio::test]
async fn an_item_cancelled_on_its_own_is_refunded_its_amount_from_the_trips_payment() {
    let (service, _issuer) = start().await;
    let mut items = [
        flight(41, 20_000, Duration::days(10)),
        hotel(
            42,
            30_000,
            Duration::days(10),
            Some(Utc::now() + Duration::days(9)),
        ),
        car(43, 10_000, Duration::days(10)),
    ];
    let trip = trip(40, &mut items);
    paid(&service, &trip).await;
    cancel(&service, &items[1..2]).await;

    assert_eq!(refunds_of(&service, 40).await, [(42, 30_000, 0)]);
    assert_eq!(refunded(&service, 40).await, 30_000);
    let published = service.outbox("payment.refunded").await;
    assert_eq!(published.len(), 1);
    let data = &published[0]["data"];
    assert_eq!(data["bookingId"], 40, "{data}");
    assert_eq!(data["refundForBookingId"], 42, "{data}");
    assert_eq!(data["refunded"]["amountMinor"], 30_000, "{data}");
    assert_eq!(data["refundFee"]["amountMinor"], 0, "{data}");
    assert_eq!(published[0]["subject"], "40", "keyed by the trip");
}

#[tokio::test]
async fn two_items_cancelled_are_two_refunds_and_a_redelivery_queues_nothing_more() {
    let (service, issuer) = start().await;
    let mut items = [
        // Departs in 2 hours: the fare rule keeps 25 %.
        flight(51, 20_000, Duration::hours(2)),
        car(52, 10_000, Duration::days(3)),
        hotel(53, 30_000, Duration::days(3), None),
    ];
    let trip = trip(50, &mut items);
    paid(&service, &trip).await;
    let events: Vec<_> = items[..2]
        .iter()
        .map(|i| event(types::BOOKING_CANCELLED, &cancelled(i)))
        .collect();
    service.publish(&events).await;
    // The same events again (a redelivery), and the same cancellations under new ids (a replay).
    service.publish(&events).await;
    cancel(&service, &items[..2]).await;

    assert_eq!(
        refunds_of(&service, 50).await,
        [(51, 15_000, 5_000), (52, 10_000, 0)]
    );
    assert_eq!(refunded(&service, 50).await, 25_000);
    assert_eq!(service.outbox("payment.refunded").await.len(), 2);
    assert_eq!(
        count(&service.db, "SELECT refunded_minor FROM simulated_charges").await,
        25_000
    );

    // The customer sees both refunds on the trip's payment and its receipt.
    let token = issuer.customer(5, "jane");
    let page: Value = service
        .api
        .get("/api/payments?bookingId=50", &token)
        .await
        .json()
        .await
        .unwrap();
    let payment = &page["payments"][0];
    let refunds = payment["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 2, "{payment}");
    assert_eq!(refunds[0]["forBookingId"], 51);
    assert_eq!(refunds[0]["amount"]["amountMinor"], 15_000, "{payment}");
    assert_eq!(refunds[1]["forBookingId"], 52);
    assert_eq!(payment["refund"]["forBookingId"], 52, "the latest");
    assert_eq!(payment["refunded"]["amountMinor"], 25_000);
    let id = payment["paymentId"].as_i64().unwrap();
    let receipt: Value = service
        .api
        .get(&format!("/api/payments/{id}/receipt"), &token)
        .await
        .json()
        .await
        .unwrap();
    let lines = receipt["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{receipt}");
    assert!(
        lines[1]["description"]
            .as_str()
            .unwrap()
            .contains("booking REF51: cancelled by the customer"),
        "{receipt}"
    );
    assert_eq!(lines[2]["amount"]["amountMinor"], -10_000, "{receipt}");
    assert_eq!(receipt["totalPaid"]["amountMinor"], 35_000, "{receipt}");
}

#[tokio::test]
async fn a_whole_trip_cancelled_refunds_exactly_what_its_items_rules_give_back() {
    let (service, _issuer) = start().await;
    let mut items = [
        flight(61, 20_000, Duration::hours(2)),
        hotel(62, 30_000, Duration::days(3), None),
        car(63, 10_000, Duration::days(3)),
    ];
    let trip = trip(60, &mut items);
    paid(&service, &trip).await;
    // Booking cancels the trip and its items together: the trip's event first, then the items'.
    let mut all = vec![trip];
    all.extend(items);
    cancel(&service, &all).await;

    assert_eq!(
        refunds_of(&service, 60).await,
        [(61, 15_000, 5_000), (62, 0, 30_000), (63, 10_000, 0)]
    );
    assert_eq!(refunded(&service, 60).await, 25_000);
    // The trip's own event, redelivered after its items', still adds nothing.
    cancel(&service, &all[..1]).await;
    assert_eq!(refunded(&service, 60).await, 25_000);
    assert_eq!(refunds_of(&service, 60).await.len(), 3);
}

#[tokio::test]
async fn a_trips_refunds_never_add_up_to_more_than_it_paid() {
    let (service, _issuer) = start().await;
    // Items whose prices add up to more than the trip's: each is refunded in full by its rule,
    // but the payment gives back at most what it took.
    let mut items = [
        car(71, 8_000, Duration::days(3)),
        car(72, 8_000, Duration::days(3)),
    ];
    let mut trip = trip(70, &mut items);
    trip.price.amount_minor = 10_000;
    paid(&service, &trip).await;
    cancel(&service, &items).await;

    assert_eq!(
        refunds_of(&service, 70).await,
        [(71, 8_000, 0), (72, 2_000, 6_000)]
    );
    assert_eq!(refunded(&service, 70).await, 10_000);
}

#[tokio::test]
async fn a_trip_that_ended_before_it_was_confirmed_is_refunded_in_full_and_its_items_add_nothing() {
    let (service, _issuer) = start().await;
    let mut items = [
        flight(81, 20_000, Duration::days(3)),
        hotel(82, 30_000, Duration::days(3), None),
    ];
    let trip = trip(80, &mut items);
    // Paid, but only after the hold ran out: the trip and its items expired unconfirmed.
    paid(&service, &trip).await;
    let expired: Vec<_> = std::iter::once(&trip)
        .chain(&items)
        .map(|b| {
            let mut expired = b.clone();
            expired.status = BookingStatus::Expired;
            expired.previous_status = Some(BookingStatus::PendingPayment);
            expired.cancel_reason = Some(CancelReason::HoldExpired);
            event(types::BOOKING_EXPIRED, &expired)
        })
        .collect();
    service.publish(&expired).await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM refunds WHERE status = 'SUCCEEDED'",
        1,
    )
    .await;
    assert_eq!(refunds_of(&service, 80).await, [(80, 50_000, 0)]);
    assert_eq!(refunded(&service, 80).await, 50_000);
}

#[tokio::test]
async fn a_cancellation_processed_after_the_deadline_is_refunded_by_when_the_customer_cancelled() {
    let (service, _issuer) = start().await;
    let stay = hotel(
        61,
        30_000,
        Duration::days(2),
        Some(Utc::now() + Duration::milliseconds(1_500)),
    );
    paid(&service, &stay).await;
    // Cancelled in time (the event's time), but handled after the deadline has passed.
    let late = event(types::BOOKING_CANCELLED, &cancelled(&stay));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    service.publish(&[late]).await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM refunds WHERE status <> 'SUCCEEDED'",
        0,
    )
    .await;
    assert_eq!(refunds_of(&service, 61).await, [(61, 30_000, 0)]);
}
