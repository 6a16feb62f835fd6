//! The booking saga with the payment service: card outcomes, the wallet, refunds by fare rule,
//! services stopped and restarted mid-saga, and holds that run out.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Options, Platform, Restartable, eventually, problem};

const APPROVE: &str = "4242 4242 4242 4242";
const DECLINE: &str = "4000000000000002";
const INSUFFICIENT_FUNDS: &str = "4000000000009995";
const TIMEOUT: &str = "4000000000000341";
const PROCESSOR_ERROR: &str = "4000000000000119";

fn settings(pairs: &[(&'static str, &str)]) -> Options {
    Options {
        settings: pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        ..Options::default()
    }
}

async fn save_card(platform: &Platform, token: &str, number: &str) -> String {
    let response = platform
        .post_as(
            "/api/payments/cards",
            token,
            &json!({"number": number, "expMonth": 12, "expYear": 2031, "cvc": "123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let card: Value = response.json().await.unwrap();
    assert_eq!(card["last4"], &number[number.len() - 4..]);
    assert!(
        !card.to_string().contains(&number.replace(' ', "")[..12]),
        "the card number is never echoed"
    );
    card["cardId"].as_str().unwrap().to_owned()
}

fn booking_body(flight_id: i64, method: &str, card: Option<&str>) -> Value {
    let mut body = json!({"flightId": flight_id, "passengers": [{"name": "Jane Doe"}], "paymentMethod": method});
    if let Some(card) = card {
        body["paymentCardId"] = json!(card);
    }
    body
}

/// Books and returns the booking as the API answered (after waiting for the payment to settle,
/// unless `wait` is false).
async fn book(platform: &Platform, token: &str, body: &Value, wait: bool) -> Value {
    let mut request = platform
        .client
        .post(platform.url("/api/bookings"))
        .bearer_auth(token)
        .json(body);
    if !wait {
        request = request.header("prefer", "respond-async");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// `count` one-passenger card bookings answered at once (`Prefer: respond-async`), still awaiting
/// payment; returns their ids.
async fn book_pending(platform: &Platform, token: &str, flight_id: i64, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let booked = book(
            platform,
            token,
            &booking_body(flight_id, "credit_card", None),
            false,
        )
        .await;
        assert_eq!(booked["status"], "PENDING_PAYMENT", "{booked}");
        assert!(booked["holdExpiresAt"].is_string());
        ids.push(booked["bookingId"].as_i64().unwrap());
    }
    ids
}

async fn booking(platform: &Platform, token: &str, id: i64) -> Value {
    let response = platform.get_as(&format!("/api/bookings/{id}"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn payment_for(platform: &Platform, token: &str, booking_id: i64) -> Value {
    let response = platform
        .get_as(&format!("/api/payments?bookingId={booking_id}"), token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["total"], 1, "one payment per booking: {page}");
    page["payments"][0].clone()
}

async fn scalar(db: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// Seats held + sold + free = capacity, and the inventory agrees with the seats assigned and the
/// bookings that hold them. Returns the seats taken.
async fn seats_add_up(platform: &Platform, flight_id: i64) -> i64 {
    let (capacity, taken): (i32, i32) = sqlx::query_as(
        "SELECT capacity, taken FROM inventory WHERE flight_id = $1 AND cabin = 'economy'",
    )
    .bind(flight_id)
    .fetch_one(&platform.booking_db)
    .await
    .unwrap();
    let assigned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seat_assignments s JOIN bookings b ON b.id = s.booking_id \
         WHERE s.flight_id = $1 AND b.cabin = 'economy'",
    )
    .bind(flight_id)
    .fetch_one(&platform.booking_db)
    .await
    .unwrap();
    let holding: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(cardinality(seats)), 0)::bigint FROM bookings \
         WHERE flight_id = $1 AND cabin = 'economy' AND status IN ('PENDING_PAYMENT', 'CONFIRMED')",
    )
    .bind(flight_id)
    .fetch_one(&platform.booking_db)
    .await
    .unwrap();
    assert_eq!(
        i64::from(taken),
        assigned,
        "inventory agrees with seat assignments"
    );
    assert_eq!(assigned, holding, "only live bookings hold seats");
    assert!(taken <= capacity);
    i64::from(taken)
}

/// The wallet's balance equals the sum of its movements; returns it.
async fn wallet_adds_up(platform: &Platform, token: &str, user_id: i64) -> i64 {
    let wallet: Value = platform
        .get_as("/api/payments/wallet", token)
        .await
        .json()
        .await
        .unwrap();
    let balance = wallet["balances"][0]["amountMinor"].as_i64().unwrap();
    let movements: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint FROM wallet_entries WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&platform.payment_db)
    .await
    .unwrap();
    assert_eq!(balance, movements, "balance = sum of wallet movements");
    assert!(balance >= 0);
    balance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_test_card_leaves_the_booking_and_its_seats_in_the_right_state() {
    let platform = Platform::spawn_with(settings(&[
        ("PAYMENT_PROCESSOR_TIMEOUT_MS", "300"),
        ("PAYMENT_MAX_ATTEMPTS", "2"),
        ("PAYMENT_RETRY_BASE_MS", "100"),
        ("BOOKING_CONFIRM_WAIT_MS", "8000"),
    ]))
    .await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA100", 3, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("cardholder").await;

    for (number, status, reason) in [
        (APPROVE, "CONFIRMED", None),
        (DECLINE, "CANCELLED", Some("card_declined")),
        (INSUFFICIENT_FUNDS, "CANCELLED", Some("insufficient_funds")),
        (TIMEOUT, "CANCELLED", Some("processor_timeout")),
        (PROCESSOR_ERROR, "CANCELLED", Some("processor_error")),
    ] {
        let card = save_card(&platform, &token, number).await;
        let booked = book(
            &platform,
            &token,
            &booking_body(flight_id, "credit_card", Some(&card)),
            true,
        )
        .await;
        assert_eq!(booked["status"], status, "card {number}: {booked}");
        let id = booked["bookingId"].as_i64().unwrap();
        let payment = payment_for(&platform, &token, id).await;
        match reason {
            None => {
                assert_eq!(payment["status"], "SUCCEEDED");
                assert_eq!(booked["payment"]["paymentId"], payment["paymentId"]);
                assert!(booked["payment"]["paidAt"].is_string());
            }
            Some(reason) => {
                assert_eq!(payment["status"], "FAILED", "{payment}");
                assert_eq!(payment["failureReason"], reason);
                assert_eq!(booked["cancelReason"], "payment-failed");
                assert!(booked["payment"]["paymentId"].is_null());
            }
        }
        assert_eq!(payment["amount"]["amountMinor"], 19_999);
        assert_eq!(payment["card"]["last4"], &number[number.len() - 4..]);
    }
    // One seat sold, four released; one charge at the processor.
    assert_eq!(seats_add_up(&platform, flight_id).await, 1);
    assert_eq!(
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM simulated_charges"
        )
        .await,
        1
    );
    let attempts: i32 = sqlx::query_scalar(
        "SELECT attempts FROM payments WHERE failure_reason = 'processor_timeout'",
    )
    .fetch_one(&platform.payment_db)
    .await
    .unwrap();
    assert_eq!(
        attempts, 3,
        "a timeout is charged up to PAYMENT_MAX_ATTEMPTS times, then looked up once more before it is given up"
    );

    // Bad input is refused at the edge.
    for (number, message) in [
        ("4242 4242 4242 4241", "check digit"),
        ("4242", "12 to 19 digits"),
    ] {
        let body = problem(
            platform
                .post_as(
                    "/api/payments/cards",
                    &token,
                    &json!({"number": number, "expMonth": 1, "expYear": 2031}),
                )
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }
    problem(
        platform
            .post_as(
                "/api/payments/cards",
                &token,
                &json!({"number": APPROVE, "expMonth": 1, "expYear": 2020}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // A number sent as a JSON number is refused without being quoted back.
    let body = problem(
        platform
            .post_as(
                "/api/payments/cards",
                &token,
                &json!({"number": 4_242_424_242_424_242_i64, "expMonth": 1, "expYear": 2031}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(!body.to_string().contains("4242424242"), "{body}");
    problem(
        platform
            .post_as(
                "/api/bookings",
                &token,
                &booking_body(flight_id, "cash", None),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        platform
            .post_as(
                "/api/bookings",
                &token,
                &booking_body(flight_id, "wallet", Some("card_x")),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Someone else's card cannot be used: the payment fails and the seat is released.
    let (_, other) = platform.customer("someoneelse").await;
    let theirs = save_card(&platform, &other, APPROVE).await;
    let booked = book(
        &platform,
        &token,
        &booking_body(flight_id, "credit_card", Some(&theirs)),
        true,
    )
    .await;
    assert_eq!(booked["status"], "CANCELLED");
    let payment = payment_for(&platform, &token, booked["bookingId"].as_i64().unwrap()).await;
    assert_eq!(payment["failureReason"], "card_not_found");
    assert_eq!(seats_add_up(&platform, flight_id).await, 1);
    // Nobody reads another customer's payments.
    problem(
        platform
            .get_as(&format!("/api/payments/{}", payment["paymentId"]), &other)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_wallet_pays_never_goes_negative_and_takes_refunds() {
    let platform =
        Arc::new(Platform::spawn_with(settings(&[("REFUND_FULL_BEFORE_HOURS", "12")])).await);
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA200", 3, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (user_id, token) = platform.customer("walleter").await;
    // A top-up is charged to a saved card, never to the sandbox.
    let top_up = json!({"amount": "500.00", "currency": "USD"});
    problem(
        platform
            .post_as("/api/payments/wallet/top-up", &token, &top_up)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    save_card(&platform, &token, APPROVE).await;

    // A top-up with an Idempotency-Key credits once however often it is sent.
    for _ in 0..3 {
        let response = platform
            .client
            .post(platform.url("/api/payments/wallet/top-up"))
            .bearer_auth(&token)
            .header("idempotency-key", "top-up-1")
            .json(&json!({"amount": "500.00", "currency": "usd"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(wallet_adds_up(&platform, &token, user_id).await, 50_000);
    for body in [
        json!({"amount": "-5", "currency": "USD"}),
        json!({"amount": "0", "currency": "USD"}),
        json!({"amount": "1.001", "currency": "USD"}),
        json!({"amount": "ten", "currency": "USD"}),
        json!({"amount": "10", "currency": "XX"}),
    ] {
        problem(
            platform
                .post_as("/api/payments/wallet/top-up", &token, &body)
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let declined = save_card(&platform, &token, DECLINE).await;
    let body = problem(
        platform
            .post_as(
                "/api/payments/wallet/top-up",
                &token,
                &json!({"amount": "10", "currency": "USD", "cardId": declined}),
            )
            .await,
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(body["reason"], "card_declined");

    // Five bookings at once against 500.00: two fit (2 × 199.99), three are refused.
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (platform, token) = (platform.clone(), token.clone());
        attempts.spawn(async move {
            book(
                &platform,
                &token,
                &booking_body(flight_id, "wallet", None),
                true,
            )
            .await
        });
    }
    let results: Vec<Value> = attempts.join_all().await;
    let confirmed: Vec<&Value> = results
        .iter()
        .filter(|b| b["status"] == "CONFIRMED")
        .collect();
    assert_eq!(confirmed.len(), 2, "{results:?}");
    for cancelled in results.iter().filter(|b| b["status"] != "CONFIRMED") {
        assert_eq!(cancelled["status"], "CANCELLED");
        let payment =
            payment_for(&platform, &token, cancelled["bookingId"].as_i64().unwrap()).await;
        assert_eq!(payment["failureReason"], "insufficient_funds");
    }
    assert_eq!(
        wallet_adds_up(&platform, &token, user_id).await,
        50_000 - 2 * 19_999
    );
    assert_eq!(seats_add_up(&platform, flight_id).await, 2);

    // Cancelled more than 12 h before departure (REFUND_FULL_BEFORE_HOURS): a full refund, to the
    // wallet it was paid from, recorded on the booking.
    let id = confirmed[0]["bookingId"].as_i64().unwrap();
    let cancelled = platform
        .post_as(&format!("/api/bookings/{id}/cancel"), &token, &json!({}))
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    eventually("the refund is recorded on the booking", || async {
        booking(&platform, &token, id).await["payment"]["refunded"]["amountMinor"] == 19_999
    })
    .await;
    let payment = payment_for(&platform, &token, id).await;
    assert_eq!(payment["refund"]["amount"]["amountMinor"], 19_999);
    assert_eq!(payment["refund"]["fee"]["amountMinor"], 0);
    assert_eq!(
        wallet_adds_up(&platform, &token, user_id).await,
        50_000 - 19_999
    );
    assert_eq!(seats_add_up(&platform, flight_id).await, 1);
    let wallet: Value = platform
        .get_as("/api/payments/wallet", &token)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = wallet["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["refund", "payment", "payment", "top_up"]);
}

/// A new flight leaving in 24 h and a new customer's confirmed booking on it, paid with no card
/// saved (the simulated processor's sandbox card pays, as for seed API clients): the flight's id,
/// the customer's token and the booking's id.
async fn booked_a_day_ahead(
    platform: &Platform,
    admin: &str,
    flight_number: &str,
    customer: &str,
) -> (i64, String, i64) {
    let flight = platform.small_flight(admin, flight_number, 2, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer(customer).await;
    let booked = book(
        platform,
        &token,
        &booking_body(flight_id, "credit_card", None),
        true,
    )
    .await;
    assert_eq!(booked["status"], "CONFIRMED");
    (flight_id, token, booked["bookingId"].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fare_rule_counts_from_the_flights_current_departure() {
    // Booked 24 h before departure (late: the rule keeps 25 %), then the flight is delayed by
    // four days: a cancellation now is early, and refunded in full.
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let (flight_id, token, id) = booked_a_day_ahead(&platform, &admin, "PA310", "delayed").await;

    let departure = chrono::Utc::now() + chrono::Duration::days(5);
    let arrival = departure + chrono::Duration::hours(8);
    let delayed = platform
        .client
        .patch(platform.url(&format!("/api/flights/{flight_id}")))
        .bearer_auth(&admin)
        .json(
            &json!({"status": "Delayed", "departureAt": departure.to_rfc3339(),
                      "arrivalAt": arrival.to_rfc3339()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(delayed.status(), StatusCode::OK);
    let expected = departure.timestamp();
    eventually("booking knows the new departure", || async {
        let seen = booking(&platform, &token, id).await["flight"]["departureAt"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp());
        seen == Some(expected)
    })
    .await;

    platform
        .post_as(&format!("/api/bookings/{id}/cancel"), &token, &json!({}))
        .await;
    eventually("the refund is made", || async {
        payment_for(&platform, &token, id).await["refund"]["status"] == "SUCCEEDED"
    })
    .await;
    let payment = payment_for(&platform, &token, id).await;
    assert_eq!(payment["refund"]["fee"]["amountMinor"], 0, "{payment}");
    assert_eq!(payment["refunded"]["amountMinor"], 19_999, "{payment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_cancellation_is_refunded_by_the_fare_rule_to_the_card() {
    // The flight leaves in 24 h; under the default rule (full refund until 24 h before) a
    // cancellation now keeps the 25 % fee.
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let (_, token, id) = booked_a_day_ahead(&platform, &admin, "PA300", "latecomer").await;
    let payment = payment_for(&platform, &token, id).await;

    let receipt: Value = platform
        .get_as(
            &format!("/api/payments/{}/receipt", payment["paymentId"]),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(receipt["totalPaid"]["amount"], "199.99");
    assert!(
        receipt["receiptNumber"]
            .as_str()
            .unwrap()
            .starts_with("IT-")
    );

    platform
        .post_as(&format!("/api/bookings/{id}/cancel"), &token, &json!({}))
        .await;
    eventually("the refund is recorded on the booking", || async {
        booking(&platform, &token, id).await["payment"]["refunded"]["amountMinor"] == 15_000
    })
    .await;
    let payment = payment_for(&platform, &token, id).await;
    assert_eq!(payment["refund"]["fee"]["amountMinor"], 4_999);
    assert_eq!(payment["refunded"]["amount"], "150");
    let refunded: i64 = scalar(
        &platform.payment_db,
        "SELECT refunded_minor FROM simulated_charges",
    )
    .await;
    assert_eq!(
        refunded, 15_000,
        "the processor refunded the original charge"
    );

    let html = platform
        .client
        .get(platform.url(&format!("/api/payments/{}/receipt", payment["paymentId"])))
        .bearer_auth(&token)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Itinera receipt"));
    assert!(
        html.contains("49.99 USD"),
        "total paid after the refund: {html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_made_while_payment_is_down_complete_when_it_returns() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA400", 3, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("patient").await;

    platform.stop(Restartable::Payment);
    let ids = book_pending(&platform, &token, flight_id, 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(
            booking(&platform, &token, *id).await["status"],
            "PENDING_PAYMENT"
        );
    }
    problem(
        platform.get_as("/api/payments", &token).await,
        StatusCode::BAD_GATEWAY,
    )
    .await;

    platform.start(Restartable::Payment).await;
    for id in &ids {
        eventually("the booking is confirmed", || async {
            booking(&platform, &token, *id).await["status"] == "CONFIRMED"
        })
        .await;
    }
    assert_eq!(
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM simulated_charges"
        )
        .await,
        4
    );
    assert_eq!(seats_add_up(&platform, flight_id).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_service_restarted_mid_saga_over_kafka_leaves_nothing_stuck_or_charged_twice() {
    let platform = Platform::spawn_with(Options {
        kafka: true,
        ..Options::default()
    })
    .await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA500", 3, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("restarter").await;

    let ids = book_pending(&platform, &token, flight_id, 6).await;
    // Once payment has started on them, booking goes down: the payments' answers wait in Kafka.
    eventually("payment has received a booking", || async {
        scalar(&platform.payment_db, "SELECT count(*) FROM payments").await >= 1
    })
    .await;
    platform.stop(Restartable::Booking);
    eventually("every booking is paid", || async {
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'",
        )
        .await
            == 6
    })
    .await;
    platform.start(Restartable::Booking).await;
    for id in &ids {
        eventually("the booking is confirmed", || async {
            booking(&platform, &token, *id).await["status"] == "CONFIRMED"
        })
        .await;
    }
    assert_eq!(
        scalar(
            &platform.booking_db,
            "SELECT count(*) FROM bookings WHERE status <> 'CONFIRMED'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM simulated_charges"
        )
        .await,
        6,
        "one charge per booking"
    );
    assert_eq!(seats_add_up(&platform, flight_id).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaid_hold_expires_releases_its_seats_and_is_never_charged() {
    let platform = Platform::spawn_with(settings(&[
        ("BOOKING_HOLD_SECS", "1"),
        ("BOOKING_EXPIRY_INTERVAL_MS", "100"),
    ]))
    .await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA600", 2, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("forgetful").await;

    platform.stop(Restartable::Payment);
    let ids = book_pending(&platform, &token, flight_id, 2).await;
    assert_eq!(seats_add_up(&platform, flight_id).await, 2);
    for id in &ids {
        eventually("the hold expires", || async {
            booking(&platform, &token, *id).await["status"] == "EXPIRED"
        })
        .await;
    }
    assert_eq!(seats_add_up(&platform, flight_id).await, 0);
    let expired = booking(&platform, &token, ids[0]).await;
    assert_eq!(expired["cancelReason"], "hold-expired");

    // Payment comes back to a booking that has already ended: nothing is charged in the end.
    platform.start(Restartable::Payment).await;
    eventually("payment has seen both bookings end", || async {
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id \
             WHERE p.status = 'VOIDED' OR (p.status = 'SUCCEEDED' AND r.status = 'SUCCEEDED')",
        )
        .await
            == 2
    })
    .await;
    assert_eq!(
        scalar(
            &platform.payment_db,
            "SELECT COALESCE(sum(amount_minor - refunded_minor), 0)::bigint FROM simulated_charges"
        )
        .await,
        0,
        "no money kept for an expired hold"
    );
    // The seats can be sold again.
    let booked = book(
        &platform,
        &token,
        &booking_body(flight_id, "credit_card", None),
        true,
    )
    .await;
    assert_eq!(booked["status"], "CONFIRMED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_expiry_schedulers_expire_each_hold_exactly_once() {
    // The service's own scheduler runs once at start and then waits an hour; four competing
    // schedulers below do the work.
    let platform = Platform::spawn_with(settings(&[
        ("BOOKING_HOLD_SECS", "1"),
        ("BOOKING_EXPIRY_INTERVAL_MS", "3600000"),
    ]))
    .await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA700", 4, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, token) = platform.customer("contended").await;
    platform.stop(Restartable::Payment);
    book_pending(&platform, &token, flight_id, 8).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let db = platform.booking_db.clone();
    let schedulers = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut expired = 0;
            loop {
                match booking::bookings::expire_holds(&db, 1).await.unwrap() {
                    0 => return expired,
                    n => expired += n,
                }
            }
        })
    });
    let mut total = 0;
    for scheduler in schedulers.collect::<Vec<_>>() {
        total += scheduler.await.unwrap();
    }
    assert_eq!(total, 8);
    assert_eq!(
        scalar(
            &platform.booking_db,
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'booking.expired'"
        )
        .await,
        8,
        "one booking.expired per hold"
    );
    assert_eq!(seats_add_up(&platform, flight_id).await, 0);
}

#[tokio::test]
async fn the_seed_book_flight_answers_with_the_settled_status() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA800", 2, "AB").await;
    let code = flight["flightCode"].as_str().unwrap();
    let (_, token) = platform.customer("seeduser").await;
    let booked: Value = platform
        .post_as(
            "/api/flight/book-flight",
            &token,
            &json!({"flightId": code, "paymentMethod": "credit_card"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booked["message"], "Flight booked successfully");
    assert_eq!(booked["status"], "Confirmed");
    // An empty wallet cannot pay: still 201 as the seed documents, and the body says so.
    let response = platform
        .post_as(
            "/api/flight/book-flight",
            &token,
            &json!({"flightId": code, "paymentMethod": "wallet"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["status"], "Cancelled");
    let body = problem(
        platform
            .post_as(
                "/api/flight/book-flight",
                &token,
                &json!({"flightId": code, "paymentMethod": "cash"}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("payment method"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_keeps_at_most_the_configured_number_of_saved_cards() {
    let platform = Platform::spawn_with(Options {
        settings: vec![("PAYMENT_MAX_CARDS", "2".into())],
        ..Options::default()
    })
    .await;
    let (_, token) = platform.customer("cardholder").await;
    let save = || {
        platform.post_as(
            "/api/payments/cards",
            &token,
            &json!({"number": APPROVE, "expMonth": 1, "expYear": 2031}),
        )
    };
    // Four at once against a cap of two: exactly two are saved.
    let attempts = futures_util::future::join_all((0..4).map(|_| save())).await;
    let saved: Vec<Value> = {
        let mut saved = Vec::new();
        for response in attempts {
            match response.status() {
                StatusCode::CREATED => saved.push(response.json::<Value>().await.unwrap()),
                _ => {
                    let body = problem(response, StatusCode::CONFLICT).await;
                    assert!(
                        body["message"]
                            .as_str()
                            .unwrap()
                            .contains("At most 2 cards"),
                        "{body}"
                    );
                }
            }
        }
        saved
    };
    assert_eq!(saved.len(), 2);
    let listed: Value = platform
        .get_as("/api/payments/cards", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["cards"].as_array().unwrap().len(), 2);

    // Removing one makes room for another.
    let removed = platform
        .client
        .delete(platform.url(&format!(
            "/api/payments/cards/{}",
            saved[0]["cardId"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(save().await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn in_production_a_cardless_seed_booking_waits_for_the_customer_to_pay() {
    let platform = Platform::spawn_with(settings(&[
        ("ITINERA_MODE", "production"),
        ("BOOKING_CONFIRM_WAIT_MS", "500"),
    ]))
    .await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "PA900", 2, "AB").await;
    let code = flight["flightCode"].as_str().unwrap();
    let (_, token) = platform.customer("cardless").await;
    let response = platform
        .post_as(
            "/api/flight/book-flight",
            &token,
            &json!({"flightId": code}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["status"], "Pending Payment", "{booked}");
    let id = booked["bookingId"].as_i64().unwrap();
    let message = booked["message"].as_str().unwrap();
    assert!(
        message.contains("POST /api/payments/pay") && message.contains(&format!("{id}")),
        "the message says how to pay: {message}"
    );
    // Nothing pays it, and nothing fails it, while the customer has no card.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        booking(&platform, &token, id).await["status"],
        "PENDING_PAYMENT"
    );
    let payment = payment_for(&platform, &token, id).await;
    assert_eq!(payment["awaitingPaymentMethod"], true, "{payment}");
    assert_eq!(
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM simulated_charges"
        )
        .await,
        0
    );

    save_card(&platform, &token, APPROVE).await;
    let response = platform
        .post_as("/api/payments/pay", &token, &json!({"bookingId": id}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    eventually("the booking is confirmed", || async {
        booking(&platform, &token, id).await["status"] == "CONFIRMED"
    })
    .await;
    assert_eq!(
        scalar(
            &platform.payment_db,
            "SELECT count(*) FROM simulated_charges"
        )
        .await,
        1
    );
}
