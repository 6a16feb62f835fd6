//! The payment service on its own against PostgreSQL: booking events in, charges at the simulated
//! processor (or a scripted one standing for a real processor), payment events out through the
//! outbox, and its HTTP API with tokens from a test issuer.

mod http;
mod refund_quotes;
mod saga;
mod trips;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use contracts::events::{
    BookingSnapshot, FlightBooking, InventorySnapshot, MoneyAmount, topics, types,
};
use contracts::states::{BookingStatus, Cabin, PaymentMethod, Product};
use platform::config::{ConfigSource, RunMode};
use platform::events::{Envelope, MemoryBus, Message};
use platform::testing::TestDatabase;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The settings every test starts payment with: production mode (the default of a single
/// service) needs the simulated processor named.
pub const SIMULATED: (&str, &str) = ("PAYMENT_PROCESSOR", "simulated");

/// A booking of user 5 paid by card (their most recent saved one, or none).
pub fn booking(booking_id: i64) -> BookingSnapshot {
    let departure_at = chrono::Utc::now() + chrono::Duration::days(3);
    BookingSnapshot {
        booking_id,
        reference: format!("REF{booking_id}"),
        user_id: 5,
        product: Product::Flight,
        trip_id: None,
        description: "IT100-20261201 economy, 1 passenger".into(),
        starts_at: departure_at,
        refundable_until: None,
        flight: Some(FlightBooking {
            flight_id: 1,
            flight_code: "IT100-20261201".into(),
            departure_at,
            cabin: Cabin::Economy,
            seats: vec!["3A".into()],
            passengers: vec!["Jane Doe".into()],
            inventory: InventorySnapshot {
                flight_id: 1,
                cabin: Cabin::Economy,
                capacity: 10,
                seats_left: 9,
                version: 1,
            },
        }),
        stay: None,
        rental: None,
        items: Vec::new(),
        price: MoneyAmount {
            amount_minor: 19_999,
            currency: "USD".into(),
        },
        status: BookingStatus::PendingPayment,
        payment_method: Some(PaymentMethod::CreditCard),
        payment_card_id: None,
        previous_status: None,
        cancel_reason: None,
    }
}

/// Booking's event `kind` (e.g. `booking.created`) about `booking`.
pub fn event(kind: &str, booking: &BookingSnapshot) -> Message {
    let id = booking.booking_id.to_string();
    Message {
        topic: topics::BOOKINGS.into(),
        key: id.clone(),
        envelope: Envelope::new("booking", kind, id, serde_json::to_value(booking).unwrap()),
    }
}

pub fn created(booking_id: i64) -> Message {
    event(types::BOOKING_CREATED, &booking(booking_id))
}

pub struct Service {
    pub db: PgPool,
    pub bus: Arc<MemoryBus>,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Builds the service with `settings` (which migrates its database); `before_run` sees the
/// database before the service starts working.
pub async fn service_with<F: AsyncFnOnce(&PgPool)>(
    settings: &[(&str, &str)],
    before_run: F,
) -> Service {
    platform::telemetry::init_for_tests();
    let database = TestDatabase::new("payment");
    let mut source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
        SIMULATED,
    ]);
    for (key, value) in settings {
        source = source.with(*key, *value);
    }
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

pub async fn service<F: AsyncFnOnce(&PgPool)>(before_run: F) -> Service {
    service_with(&[], before_run).await
}

/// A migrated payment database that no service works on: the test drives a worker itself.
pub async fn database() -> (PgPool, TestDatabase) {
    platform::telemetry::init_for_tests();
    let database = TestDatabase::new("payment");
    let source = ConfigSource::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("SERVICE_PORT", "0"),
        SIMULATED,
    ]);
    // Building migrates (and installs the simulated processor's ledger); it never runs.
    drop(
        payment::Application::build(
            payment::Config::load(&source, RunMode::Single).unwrap(),
            Arc::new(MemoryBus::default()),
        )
        .await
        .unwrap(),
    );
    let db = PgPool::connect(&database.url).await.unwrap();
    (db, database)
}

pub async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

pub async fn wait_for(db: &PgPool, sql: &str, expected: i64) {
    for _ in 0..200 {
        if count(db, sql).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {sql} = {expected}");
}
