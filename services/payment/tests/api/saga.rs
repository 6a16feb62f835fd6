//! The saga and the worker through the running service: booking events in, charges at the
//! simulated processor, payment events out.

use std::sync::Arc;
use std::time::Duration;

use payment::jobs::charges::{Worker, WorkerConfig};
use payment::processor::{CardProcessor, Charge, SimulatedProcessor};
use platform::events::EventBus;

use super::{count, created, service, service_with, wait_for};

#[tokio::test]
async fn a_redelivered_or_replayed_booking_created_charges_once() {
    // Demo mode: the booking has no card, and the sandbox card pays.
    let service = service_with(&[("ITINERA_MODE", "demo")], async |_| {}).await;
    let event = created(41);
    // The same event twice (a redelivery), then the same booking under a new event id (a replay).
    service
        .bus
        .publish(std::slice::from_ref(&event))
        .await
        .unwrap();
    service
        .bus
        .publish(std::slice::from_ref(&event))
        .await
        .unwrap();
    let replay = created(41);
    assert_ne!(replay.envelope.id, event.envelope.id);
    service
        .bus
        .publish(std::slice::from_ref(&replay))
        .await
        .unwrap();

    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'",
        1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&service.db, "SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        1
    );
    assert_eq!(
        count(
            &service.db,
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'payment.succeeded'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_charge_retried_after_a_crash_finds_the_first_charge() {
    // A worker claimed the payment, the processor charged, and the worker died before recording
    // it: the payment is PROCESSING with a lapsed lease, and the processor holds the charge.
    let service = service(async |db| {
        sqlx::query(
            "INSERT INTO payments (booking_id, booking_reference, user_id, method, card_token, amount_minor, \
                 currency, departure_at, description, status, idempotency_key, attempts, lease_until) \
             VALUES (77, 'REF77', 5, 'credit_card', 'sim_approve_sandbox', 19999, 'USD', now() + interval '3 days', \
                     'IT100 economy', 'PROCESSING', 'booking-77', 1, now() - interval '1 second')",
        )
        .execute(db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO simulated_charges (id, idempotency_key, card_token, amount_minor, currency) \
             VALUES ('ch_first', 'booking-77', 'sim_approve_sandbox', 19999, 'USD')",
        )
        .execute(db)
        .await
        .unwrap();
    })
    .await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'",
        1,
    )
    .await;
    let (reference, attempts): (String, i32) =
        sqlx::query_as("SELECT processor_reference, attempts FROM payments WHERE booking_id = 77")
            .fetch_one(&service.db)
            .await
            .unwrap();
    assert_eq!(reference, "ch_first", "the retry found the first charge");
    assert_eq!(attempts, 2);
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        1
    );
}

#[tokio::test]
async fn two_workers_share_the_jobs_and_charge_each_payment_once() {
    let service = service(async |db| {
        sqlx::query(
            "INSERT INTO payments (booking_id, booking_reference, user_id, method, card_token, amount_minor, \
                 currency, departure_at, description, status, idempotency_key) \
             SELECT n, 'REF' || n, 5, 'credit_card', 'sim_approve_sandbox', 1000, 'USD', now() + interval '3 days', \
                    'test', 'PENDING', 'booking-' || n FROM generate_series(1000, 1299) AS n",
        )
        .execute(db)
        .await
        .unwrap();
    })
    .await;
    // The service's own worker and two more compete for the same 300 jobs.
    let workers = (0..2).map(|_| {
        let worker = Worker {
            db: service.db.clone(),
            processor: Arc::new(SimulatedProcessor {
                db: service.db.clone(),
            }),
            config: WorkerConfig::default(),
        };
        tokio::spawn(async move { while worker.tick().await.unwrap() > 0 {} })
    });
    for worker in workers.collect::<Vec<_>>() {
        worker.await.unwrap();
    }
    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'",
        300,
    )
    .await;
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        300
    );
    assert_eq!(
        count(
            &service.db,
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'payment.succeeded'"
        )
        .await,
        300,
        "one payment.succeeded per payment"
    );
    assert_eq!(
        count(&service.db, "SELECT max(attempts)::bigint FROM payments").await,
        1,
        "no job ran twice"
    );
}

#[tokio::test]
async fn the_simulated_processor_creates_its_ledger_when_installed() {
    let service = service(async |_| {}).await;
    // A database whose migrations did not create the ledger.
    sqlx::query("DROP TABLE simulated_refunds, simulated_charges")
        .execute(&service.db)
        .await
        .unwrap();
    // Instances starting together, then one restarting: each install succeeds.
    let (first, second) = tokio::join!(
        SimulatedProcessor::install(&service.db),
        SimulatedProcessor::install(&service.db)
    );
    first.unwrap();
    second.unwrap();
    let processor = SimulatedProcessor::install(&service.db).await.unwrap();
    let charge = || Charge {
        idempotency_key: "installed-1",
        card_token: "sim_approve_sandbox",
        amount_minor: 1_000,
        currency: "USD",
    };
    let reference = processor.charge(charge()).await.unwrap();
    assert_eq!(processor.charge(charge()).await.unwrap(), reference);
    processor
        .refund(&reference, 400, "installed-refund-1")
        .await
        .unwrap();
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        1
    );
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_refunds").await,
        1
    );
}
