//! Payment's HTTP API in both modes: a top-up needs a saved card; a booking made with no card on
//! file waits, in production, for the customer to pay it with a saved card or the wallet.

use std::time::Duration;

use axum::http::StatusCode;
use contracts::events::types;
use contracts::states::BookingStatus;
use platform::testing::{TestIssuer, TestService, problem};
use serde_json::{Value, json};

use super::{SIMULATED, booking, count, database, event, wait_for};

async fn start(issuer: &TestIssuer, mode: &'static str) -> TestService {
    platform::telemetry::init_for_tests();
    TestService::start::<payment::Payment>(issuer, &[SIMULATED, ("ITINERA_MODE", mode)]).await
}

async fn save_card(service: &TestService, token: &str) -> String {
    let response = service
        .api
        .post_as(
            "/api/payments/cards",
            token,
            &json!({"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2040}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let card: Value = response.json().await.unwrap();
    card["cardId"].as_str().unwrap().to_owned()
}

async fn payment_of(service: &TestService, token: &str, booking_id: i64) -> Value {
    let page: Value = service
        .api
        .get(&format!("/api/payments?bookingId={booking_id}"), token)
        .await
        .json()
        .await
        .unwrap();
    page["payments"][0].clone()
}

#[tokio::test]
async fn a_top_up_is_charged_only_to_a_saved_card_in_either_mode() {
    let issuer = TestIssuer::start().await;
    for mode in ["demo", "production"] {
        let service = start(&issuer, mode).await;
        let token = issuer.customer(5, "jane");
        let top_up = json!({"amount": "100.00", "currency": "USD"});
        let refused = problem(
            service
                .api
                .post_as("/api/payments/wallet/top-up", &token, &top_up)
                .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("POST /api/payments/cards"),
            "{mode}: {refused}"
        );
        assert_eq!(
            count(&service.db, "SELECT count(*) FROM wallets").await,
            0,
            "{mode}: nothing credited"
        );
        assert_eq!(
            count(&service.db, "SELECT count(*) FROM simulated_charges").await,
            0,
            "{mode}: nothing charged"
        );

        save_card(&service, &token).await;
        let response = service
            .api
            .post_as("/api/payments/wallet/top-up", &token, &top_up)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{mode}");
        let charged: String = sqlx::query_scalar("SELECT card_token FROM simulated_charges")
            .fetch_one(&service.db)
            .await
            .unwrap();
        assert_ne!(
            charged, "sim_approve_sandbox",
            "{mode}: the saved card paid"
        );
    }
}

#[tokio::test]
async fn a_cardless_booking_in_production_waits_and_is_then_paid_with_a_saved_card() {
    let issuer = TestIssuer::start().await;
    let service = start(&issuer, "production").await;
    let token = issuer.customer(5, "jane");
    service
        .publish(&[event(types::BOOKING_CREATED, &booking(301))])
        .await;

    let waiting = payment_of(&service, &token, 301).await;
    assert_eq!(waiting["status"], "PENDING", "{waiting}");
    assert_eq!(waiting["awaitingPaymentMethod"], true, "{waiting}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(service.outbox("payment.failed").await.is_empty());
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        0,
        "the sandbox card is never charged in production"
    );

    let pay = json!({"bookingId": 301});
    problem(
        service.api.post_as("/api/payments/pay", &token, &pay).await,
        StatusCode::CONFLICT,
    )
    .await;
    let stranger = issuer.customer(6, "eve");
    save_card(&service, &stranger).await;
    problem(
        service
            .api
            .post_as("/api/payments/pay", &stranger, &pay)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    save_card(&service, &token).await;
    let accepted = service.api.post_as("/api/payments/pay", &token, &pay).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE booking_id = 301 AND status = 'SUCCEEDED'",
        1,
    )
    .await;
    assert_eq!(service.outbox("payment.succeeded").await.len(), 1);
    let paid = payment_of(&service, &token, 301).await;
    assert_eq!(paid["card"]["last4"], "4242", "{paid}");
    assert_eq!(paid["awaitingPaymentMethod"], false, "{paid}");
    let again = problem(
        service.api.post_as("/api/payments/pay", &token, &pay).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        again["type"].as_str().unwrap().ends_with("not-payable"),
        "{again}"
    );
}

#[tokio::test]
async fn a_cardless_booking_in_production_can_be_paid_from_the_wallet_or_expire() {
    let issuer = TestIssuer::start().await;
    let service = start(&issuer, "production").await;
    let token = issuer.customer(5, "jane");
    let mut expired = booking(402);
    service
        .publish(&[
            event(types::BOOKING_CREATED, &booking(401)),
            event(types::BOOKING_CREATED, &expired),
        ])
        .await;

    let by_wallet = json!({"bookingId": 401, "method": "wallet"});
    let short = problem(
        service
            .api
            .post_as("/api/payments/pay", &token, &by_wallet)
            .await,
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(short["reason"], "insufficient_funds", "{short}");
    assert_eq!(
        payment_of(&service, &token, 401).await["awaitingPaymentMethod"],
        true,
        "still payable"
    );

    save_card(&service, &token).await;
    let topped = service
        .api
        .post_as(
            "/api/payments/wallet/top-up",
            &token,
            &json!({"amount": "500.00", "currency": "USD"}),
        )
        .await;
    assert_eq!(topped.status(), StatusCode::OK);
    let response = service
        .api
        .post_as("/api/payments/pay", &token, &by_wallet)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let paid: Value = response.json().await.unwrap();
    assert_eq!(paid["status"], "SUCCEEDED", "{paid}");
    assert_eq!(paid["method"], "wallet", "{paid}");
    assert_eq!(service.outbox("payment.succeeded").await.len(), 1);
    assert_eq!(
        count(&service.db, "SELECT balance_minor FROM wallets").await,
        50_000 - 19_999
    );

    // An awaiting payment whose booking runs out is voided, never charged.
    expired.status = BookingStatus::Expired;
    expired.previous_status = Some(BookingStatus::PendingPayment);
    service
        .publish(&[event(types::BOOKING_EXPIRED, &expired)])
        .await;
    let voided = payment_of(&service, &token, 402).await;
    assert_eq!(voided["status"], "VOIDED", "{voided}");
    problem(
        service
            .api
            .post_as("/api/payments/pay", &token, &json!({"bookingId": 402}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn the_payment_step_reads_only_the_card_each_payment_uses() {
    let (db, _database) = database().await;
    // User 5 has three cards (c1 oldest, c3 newest, c0 removed); user 6 has one.
    sqlx::query(
        "INSERT INTO cards (id, user_id, brand, last4, exp_month, exp_year, processor_token, created_at, deleted_at) \
         VALUES ('c0', 5, 'visa', '0000', 1, 2040, 't0', now(), now()), \
                ('c1', 5, 'visa', '1111', 1, 2040, 't1', now() - interval '3 days', NULL), \
                ('c2', 5, 'visa', '2222', 1, 2040, 't2', now() - interval '2 days', NULL), \
                ('c3', 5, 'visa', '3333', 1, 2040, 't3', now() - interval '1 day', NULL), \
                ('c6', 6, 'visa', '6666', 1, 2040, 't6', now(), NULL)",
    )
    .execute(&db)
    .await
    .unwrap();
    let mut tx = db.begin().await.unwrap();
    let found = payment::store::cards::for_payments(
        &mut tx,
        &[5, 5, 5, 6, 7, 5],
        &[
            None,
            Some("c1".into()),
            Some("c6".into()),
            None,
            None,
            Some("c0".into()),
        ],
    )
    .await
    .unwrap();
    let read: Vec<(i64, &str)> = found
        .iter()
        .map(|c| (c.position, c.card.id.as_str()))
        .collect();
    assert_eq!(
        read,
        [(1, "c3"), (2, "c1"), (4, "c6")],
        "one card per payment: the newest, or the one chosen; never another user's or a removed one"
    );
}
