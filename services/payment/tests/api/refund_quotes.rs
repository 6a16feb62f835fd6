//! `GET /api/payments/refund-quote`: what cancelling a booking now would give back, by the rules
//! and terms its refund follows, so that the refund made when it is then cancelled is the quote.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use contracts::events::{BookingSnapshot, types};
use contracts::states::{BookingStatus, CancelReason};
use platform::auth::Role;
use platform::config::{ConfigSource, DatabaseSettings, RunMode};
use platform::events::MemoryBus;
use platform::testing::{ApiClient, TestDatabase, TestIssuer, TestService, problem};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::trips::{cancel, car, flight, hotel, paid, refunds_of, start, trip};
use super::{SIMULATED, booking, event, wait_for};

/// The quote for `booking_id` as `token`.
async fn quote(service: &TestService, token: &str, booking_id: i64) -> reqwest::Response {
    service
        .api
        .get(
            &format!("/api/payments/refund-quote?bookingId={booking_id}"),
            token,
        )
        .await
}

/// A quote that must be given: `(paid, refund, fee)` in minor units, and the body.
async fn quoted(service: &TestService, token: &str, booking_id: i64) -> ((i64, i64, i64), Value) {
    let response = quote(service, token, booking_id).await;
    assert_eq!(response.status(), StatusCode::OK, "{booking_id}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["bookingId"], booking_id, "{body}");
    for money in ["paid", "refund", "fee"] {
        assert_eq!(body[money]["currency"], "USD", "{body}");
    }
    let minor = |money: &str| body[money]["amountMinor"].as_i64().unwrap();
    ((minor("paid"), minor("refund"), minor("fee")), body)
}

/// A quote for a booking with nothing left to refund.
async fn refused(service: &TestService, token: &str, booking_id: i64) {
    let ended = problem(
        quote(service, token, booking_id).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        ended["type"].as_str().unwrap().ends_with("/booking-ended"),
        "{ended}"
    );
}

/// Whether a quote's `refundableUntil` is `expected` (the database keeps microseconds).
fn refundable_until(body: &Value, expected: Option<DateTime<Utc>>) -> bool {
    let given = body["refundableUntil"]
        .as_str()
        .map(|at| at.parse::<DateTime<Utc>>().unwrap());
    match (given, expected) {
        (Some(given), Some(expected)) => (given - expected).abs() <= Duration::microseconds(1),
        (given, expected) => given == expected,
    }
}

#[tokio::test]
async fn a_quote_is_the_refund_that_cancelling_then_makes_for_every_product() {
    let (service, issuer) = start().await;
    let token = issuer.customer(5, "jane");
    let stay_until = Utc::now() + Duration::days(4);
    let bookings = [
        flight(101, 19_999, Duration::days(3)),
        // Departs in 2 hours: the fare rule keeps 25 %.
        flight(102, 20_000, Duration::hours(2)),
        hotel(103, 30_000, Duration::days(5), Some(stay_until)),
        hotel(104, 30_000, Duration::days(30), None),
        car(105, 12_345, Duration::hours(3)),
    ];
    let mut quotes = Vec::new();
    for booking in &bookings {
        paid(&service, booking).await;
        quotes.push(quoted(&service, &token, booking.booking_id).await);
    }

    let (amounts, bodies): (Vec<_>, Vec<_>) = quotes.into_iter().unzip();
    assert_eq!(
        amounts,
        [
            (19_999, 19_999, 0),
            (20_000, 15_000, 5_000),
            (30_000, 30_000, 0),
            (30_000, 0, 30_000),
            (12_345, 12_345, 0),
        ]
    );
    let fare_rule = "Full refund until 24 h before departure, 25 % fee after that.";
    assert_eq!(bodies[0]["rule"], fare_rule);
    assert!(
        refundable_until(
            &bodies[0],
            Some(bookings[0].starts_at - Duration::hours(24))
        ),
        "{}",
        bodies[0]
    );
    assert_eq!(bodies[1]["rule"], fare_rule);
    assert!(bodies[1]["refundableUntil"].is_null(), "{}", bodies[1]);
    assert!(
        refundable_until(&bodies[2], Some(stay_until)),
        "{}",
        bodies[2]
    );
    assert!(
        bodies[2]["rule"]
            .as_str()
            .unwrap()
            .starts_with("Full refund until "),
        "{}",
        bodies[2]
    );
    assert_eq!(
        bodies[3]["rule"],
        "Non-refundable: cancelling gives nothing back."
    );
    assert!(bodies[3]["refundableUntil"].is_null());
    assert!(
        refundable_until(&bodies[4], Some(bookings[4].starts_at)),
        "{}",
        bodies[4]
    );
    for (booking, body) in bookings.iter().zip(&bodies) {
        let payment_id: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE booking_id = $1")
            .bind(booking.booking_id)
            .fetch_one(&service.db)
            .await
            .unwrap();
        assert_eq!(body["paymentId"], payment_id);
    }

    // Each cancelled now: the refund made is the one quoted, and there is nothing left to quote.
    cancel(&service, &bookings).await;
    for (booking, (_, refund, fee)) in bookings.iter().zip(&amounts) {
        let id = booking.booking_id;
        assert_eq!(refunds_of(&service, id).await, [(id, *refund, *fee)]);
        refused(&service, &token, id).await;
    }
}

#[tokio::test]
async fn a_trips_quote_adds_up_its_items_still_booked_and_an_items_quote_is_that_item() {
    let (service, issuer) = start().await;
    let token = issuer.customer(5, "jane");
    let mut items = [
        flight(201, 20_000, Duration::hours(2)),
        hotel(202, 30_000, Duration::days(3), None),
        car(203, 10_000, Duration::days(3)),
    ];
    let trip = trip(200, &mut items);
    paid(&service, &trip).await;

    let (whole, body) = quoted(&service, &token, 200).await;
    assert_eq!(whole, (60_000, 15_000 + 10_000, 5_000 + 30_000));
    assert!(body["refundableUntil"].is_null(), "{body}");
    let rule = body["rule"].as_str().unwrap();
    assert!(
        rule.starts_with(
            "Each item is refunded by its own rule (flight: full refund until 24 h before \
             departure, 25 % fee after that; hotel: non-refundable; car: full refund until "
        ),
        "{rule}"
    );
    let (car_quote, car_body) = quoted(&service, &token, 203).await;
    assert_eq!(car_quote, (10_000, 10_000, 0));
    assert_eq!(
        car_body["paymentId"], body["paymentId"],
        "the trip's payment"
    );
    assert!(
        refundable_until(&car_body, Some(items[2].starts_at)),
        "{}",
        car_body
    );

    // The car cancelled on its own gets its quote; the trip's quote is now the rest.
    cancel(&service, &items[2..]).await;
    assert_eq!(refunds_of(&service, 200).await, [(203, 10_000, 0)]);
    refused(&service, &token, 203).await;
    let (rest, _) = quoted(&service, &token, 200).await;
    assert_eq!(rest, (50_000, 15_000, 35_000));

    // The whole trip cancelled: its items still booked are refunded as quoted.
    let mut all = vec![trip];
    all.extend_from_slice(&items[..2]);
    cancel(&service, &all).await;
    let made = refunds_of(&service, 200).await;
    assert_eq!(made.len(), 3, "{made:?}");
    let (refund, fee) = made[1..]
        .iter()
        .fold((0, 0), |(r, f), &(_, amount, kept)| (r + amount, f + kept));
    assert_eq!((refund, fee), (rest.1, rest.2));
    refused(&service, &token, 200).await;
    refused(&service, &token, 201).await;
}

#[tokio::test]
async fn only_the_owner_or_staff_get_a_quote_and_malformed_requests_are_refused() {
    let (service, issuer) = start().await;
    paid(&service, &flight(301, 19_999, Duration::days(3))).await;
    let path = "/api/payments/refund-quote?bookingId=301";

    let anonymous = service.api.get_anonymous(path).await;
    problem(anonymous, StatusCode::UNAUTHORIZED).await;
    let stranger = problem(
        service.api.get(path, &issuer.customer(6, "john")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(stranger["message"], "Booking not found");
    for staff in [
        issuer.ops(900, "ops"),
        issuer.token(901, "root", Role::Admin),
    ] {
        let (amounts, _) = quoted(&service, &staff, 301).await;
        assert_eq!(amounts, (19_999, 19_999, 0));
    }

    let owner = issuer.customer(5, "jane");
    let unknown = problem(quote(&service, &owner, 399).await, StatusCode::NOT_FOUND).await;
    assert_eq!(unknown["message"], "Booking not found");
    for query in [
        "",
        "?bookingId=",
        "?bookingId=abc",
        "?bookingId=301&userId=5",
    ] {
        problem(
            service
                .api
                .get(&format!("/api/payments/refund-quote{query}"), &owner)
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn a_booking_not_paid_yet_is_quoted_nothing_back_and_one_that_ended_unpaid_is_refused() {
    platform::telemetry::init_for_tests();
    let issuer = TestIssuer::start().await;
    // Production mode: a card booking with no card on file waits for the customer to pay.
    let service = TestService::start::<payment::Payment>(&issuer, &[SIMULATED]).await;
    let token = issuer.customer(5, "jane");
    let unpaid = booking(401);
    service
        .publish(&[event(types::BOOKING_CREATED, &unpaid)])
        .await;

    let (amounts, body) = quoted(&service, &token, 401).await;
    assert_eq!(amounts, (0, 0, 0));
    assert!(
        body["rule"]
            .as_str()
            .unwrap()
            .starts_with("Nothing has been charged yet"),
        "{body}"
    );
    assert!(body["refundableUntil"].is_null(), "{body}");

    // Its hold runs out: the payment is voided, and there is nothing to quote.
    let expired = BookingSnapshot {
        status: BookingStatus::Expired,
        previous_status: Some(BookingStatus::PendingPayment),
        cancel_reason: Some(CancelReason::HoldExpired),
        ..unpaid
    };
    service
        .publish(&[event(types::BOOKING_EXPIRED, &expired)])
        .await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE booking_id = 401 AND status = 'VOIDED'",
        1,
    )
    .await;
    refused(&service, &token, 401).await;
}

#[tokio::test]
async fn payments_recorded_before_terms_were_kept_are_quoted_by_the_fare_rule_from_their_departure()
{
    platform::telemetry::init_for_tests();
    let database = TestDatabase::new("payment");
    // The database as the release before this one left it, with a paid booking in it.
    let mut before = sqlx::migrate!("./migrations");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let settings = DatabaseSettings {
        url: database.url.clone(),
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(10),
    };
    let db = platform::db::connect_and_migrate(&settings, &before)
        .await
        .unwrap();
    let departure_at = Utc::now() + Duration::days(2);
    sqlx::query(
        "INSERT INTO payments (booking_id, booking_reference, user_id, method, amount_minor, \
             currency, departure_at, description, status, idempotency_key, completed_at) \
         VALUES (501, 'REF501', 5, 'credit_card', 19999, 'USD', $1, 'IT100 economy', \
             'SUCCEEDED', 'booking-501', now())",
    )
    .bind(departure_at)
    .execute(&db)
    .await
    .unwrap();

    let issuer = TestIssuer::start().await;
    let source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
        ("JWT_JWKS_URL", issuer.jwks_url()),
        SIMULATED,
    ]);
    let app = payment::Application::build(
        payment::Config::load(&source, RunMode::Single).unwrap(),
        Arc::new(MemoryBus::default()),
    )
    .await
    .unwrap();
    let api = ApiClient::new(format!("http://127.0.0.1:{}", app.port()));
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let response = api
        .get(
            "/api/payments/refund-quote?bookingId=501",
            &issuer.customer(5, "jane"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["paid"]["amountMinor"], 19_999);
    assert_eq!(body["refund"]["amountMinor"], 19_999);
    assert!(
        refundable_until(&body, Some(departure_at - Duration::hours(24))),
        "{}",
        body
    );
    shutdown.cancel();
}

/// `flight.updated` for flight `flight_id`, now leaving at `departure_at`, as catalog sends it.
fn flight_moved(flight_id: i64, departure_at: DateTime<Utc>) -> platform::events::Message {
    let flight = contracts::events::FlightSnapshot {
        flight_id,
        flight_code: format!("IT{flight_id}-20991231"),
        airline: "Test Air".into(),
        origin: "AAA".into(),
        destination: "BBB".into(),
        departure_at,
        arrival_at: departure_at + Duration::hours(2),
        origin_time_zone: "Europe/Paris".into(),
        destination_time_zone: "Europe/London".into(),
        status: "Delayed".parse().unwrap(),
        gate: None,
        cabins: Vec::new(),
        version: 2,
    };
    let key = flight_id.to_string();
    platform::events::Message {
        topic: contracts::events::topics::FLIGHTS.into(),
        key: key.clone(),
        envelope: platform::events::Envelope::new(
            "catalog",
            types::FLIGHT_UPDATED,
            key,
            serde_json::to_value(&flight).unwrap(),
        ),
    }
}

#[tokio::test]
async fn a_flight_moved_after_booking_is_quoted_from_its_new_departure_as_its_refund_is() {
    let (service, issuer) = start().await;
    let token = issuer.customer(5, "jane");
    // Leaves in 2 hours: the fare rule keeps 25 %.
    let mut alone = flight(301, 20_000, Duration::hours(2));
    alone.flight.as_mut().unwrap().flight_id = 77;
    paid(&service, &alone).await;
    assert_eq!(
        quoted(&service, &token, 301).await.0,
        (20_000, 15_000, 5_000)
    );
    // A trip's flight item on the same flight, and one on another flight that stays put.
    let mut item = flight(303, 10_000, Duration::hours(2));
    item.flight.as_mut().unwrap().flight_id = 77;
    let mut other = flight(304, 10_000, Duration::hours(2));
    other.flight.as_mut().unwrap().flight_id = 78;
    paid(&service, &trip(302, &mut [item, other])).await;
    assert_eq!(
        quoted(&service, &token, 303).await.0,
        (10_000, 7_500, 2_500)
    );

    // Ops move the flight to the day after tomorrow: cancelling now is free again.
    service
        .publish(&[flight_moved(77, Utc::now() + Duration::days(2))])
        .await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM booking_terms WHERE flight_id = 77 AND starts_at > now() + interval '1 day'",
        2,
    )
    .await;
    assert_eq!(quoted(&service, &token, 301).await.0, (20_000, 20_000, 0));
    assert_eq!(quoted(&service, &token, 303).await.0, (10_000, 10_000, 0));
    assert_eq!(
        quoted(&service, &token, 304).await.0,
        (10_000, 7_500, 2_500)
    );
}
