//! The payment service on its own against PostgreSQL: booking events in, charges at the simulated
//! processor, payment events out through the outbox.

use std::sync::Arc;
use std::time::Duration;

use contracts::events::{BookingSnapshot, InventorySnapshot, MoneyAmount, topics, types};
use contracts::states::{BookingStatus, Cabin, PaymentMethod};
use payment::jobs::charges::{Worker, WorkerConfig};
use payment::processor::{CardProcessor, Charge, SimulatedProcessor};
use platform::config::{ConfigSource, RunMode};
use platform::events::{Envelope, EventBus, MemoryBus, Message};
use platform::testing::TestDatabase;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

fn created(booking_id: i64) -> Message {
    let booking = BookingSnapshot {
        booking_id,
        reference: format!("REF{booking_id}"),
        user_id: 5,
        flight_id: 1,
        flight_code: "IT100-20261201".into(),
        departure_at: chrono::Utc::now() + chrono::Duration::days(3),
        cabin: Cabin::Economy,
        seats: vec!["3A".into()],
        passengers: vec!["Jane Doe".into()],
        price: MoneyAmount {
            amount_minor: 19_999,
            currency: "USD".into(),
        },
        status: BookingStatus::PendingPayment,
        payment_method: Some(PaymentMethod::CreditCard),
        payment_card_id: None,
        previous_status: None,
        cancel_reason: None,
        inventory: InventorySnapshot {
            flight_id: 1,
            cabin: Cabin::Economy,
            capacity: 10,
            seats_left: 9,
            version: 1,
        },
    };
    Message {
        topic: topics::BOOKINGS.into(),
        key: booking_id.to_string(),
        envelope: Envelope::new(
            "booking",
            types::BOOKING_CREATED,
            booking_id.to_string(),
            serde_json::to_value(booking).unwrap(),
        ),
    }
}

struct Service {
    db: PgPool,
    bus: Arc<MemoryBus>,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Builds the service (which migrates its database); `before_run` sees the database before the
/// service starts working.
async fn service<F: AsyncFnOnce(&PgPool)>(before_run: F) -> Service {
    platform::telemetry::init_for_tests();
    let database = TestDatabase::new("payment");
    let source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
    ]);
    let bus = Arc::new(MemoryBus::default());
    let app = payment::Application::build(
        payment::Config::load(&source, RunMode::Single).unwrap(),
        bus.clone(),
    )
    .await
    .unwrap();
    let db = PgPool::connect(&database.url).await.unwrap();
    before_run(&db).await;
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Service {
        db,
        bus,
        shutdown,
        _database: database,
    }
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

async fn wait_for(db: &PgPool, sql: &str, expected: i64) {
    for _ in 0..200 {
        if count(db, sql).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {sql} = {expected}");
}

#[tokio::test]
async fn a_redelivered_or_replayed_booking_created_charges_once() {
    let service = service(async |_| {}).await;
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
