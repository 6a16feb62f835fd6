//! The event backbone: CloudEvents envelopes, a transactional outbox with a relay, a bus, and
//! idempotent consumers.
//!
//! A producing service writes its events into its own `outbox` table in the transaction that
//! changes its state ([`outbox::enqueue`]); the [`relay`] publishes them in order to the [`bus`]
//! and marks them sent only once the bus has taken them. A consuming service records each event id
//! in its `inbox` table in the transaction of its effect ([`consumer`]), so a redelivered event
//! changes nothing. A crash or restart at any point loses nothing: unsent rows are sent again,
//! and redelivered events are recognised.

pub mod bus;
pub mod consumer;
pub mod kafka;
pub mod outbox;
pub mod relay;
pub mod status;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use bus::{Delivery, EventBus, MemoryBus, Subscription};

/// A CloudEvents 1.0 event in its JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub specversion: String,
    pub id: Uuid,
    /// The producing service, e.g. `itinera/catalog`.
    pub source: String,
    /// The event type, e.g. `flight.scheduled`.
    #[serde(rename = "type")]
    pub kind: String,
    pub time: DateTime<Utc>,
    /// The aggregate the event is about (a flight id, a booking id).
    pub subject: String,
    pub datacontenttype: String,
    pub data: serde_json::Value,
}

impl Envelope {
    pub fn new(
        source: &str,
        kind: &str,
        subject: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: format!("itinera/{source}"),
            kind: kind.into(),
            time: Utc::now(),
            subject: subject.into(),
            datacontenttype: "application/json".into(),
            data,
        }
    }

    /// The payload as its typed form.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.data.clone())
    }
}

/// An event on its way through the bus: the topic it belongs to and the key that keeps one
/// aggregate's events in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub topic: String,
    pub key: String,
    pub envelope: Envelope,
}

/// Prepares a service's database: created if missing, the service's migrations applied, and the
/// outbox, inbox and dead-letter tables in place.
pub async fn prepare_database(
    settings: &crate::config::DatabaseSettings,
    migrator: &sqlx::migrate::Migrator,
) -> anyhow::Result<sqlx::PgPool> {
    let db = crate::db::connect_and_migrate(settings, migrator).await?;
    install(&db)
        .await
        .map_err(|e| anyhow::anyhow!("installing the outbox and inbox: {e}"))?;
    Ok(db)
}

/// The Kafka transport for a service, when the settings name brokers (`KAFKA_BROKERS`).
pub async fn kafka_transport(
    settings: &crate::config::Settings,
    topics: &[&str],
) -> anyhow::Result<Option<std::sync::Arc<dyn EventBus>>> {
    if settings.kafka_brokers.is_empty() {
        return Ok(None);
    }
    let bus = kafka::KafkaBus::connect(
        kafka::KafkaSettings {
            brokers: settings.kafka_brokers.clone(),
            client_id: format!("itinera-{}", settings.service_name),
            partitions: 3,
            session_timeout: settings.kafka_session_timeout,
            prefix: settings.kafka_topic_prefix.clone(),
            security: settings.kafka_security.clone(),
        },
        topics,
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "connecting to Kafka at {}: {e}",
            settings.kafka_brokers.join(",")
        )
    })?;
    Ok(Some(std::sync::Arc::new(bus)))
}

/// Creates the outbox, inbox and dead-letter tables if they do not exist. Every service that
/// produces or consumes events calls this at start, after its own migrations.
pub async fn install(db: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    const DDL: [&str; 5] = [
        "CREATE TABLE IF NOT EXISTS outbox (
            position     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id     UUID        NOT NULL UNIQUE,
            topic        TEXT        NOT NULL,
            event_key    TEXT        NOT NULL,
            envelope     JSONB       NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
            published_at TIMESTAMPTZ,
            attempts     INTEGER     NOT NULL DEFAULT 0,
            last_error   TEXT
        )",
        "CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (position) WHERE published_at IS NULL",
        "CREATE TABLE IF NOT EXISTS inbox (
            consumer     TEXT        NOT NULL,
            event_id     UUID        NOT NULL,
            processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )",
        "CREATE TABLE IF NOT EXISTS dead_letters (
            id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            consumer     TEXT        NOT NULL,
            topic        TEXT        NOT NULL,
            envelope     JSONB       NOT NULL,
            error        TEXT        NOT NULL,
            attempts     INTEGER     NOT NULL,
            failed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
        "CREATE INDEX IF NOT EXISTS inbox_processed_idx ON inbox (processed_at)",
    ];
    // Two instances starting together must not race on the DDL.
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::db::locks::EVENT_SCHEMA)
        .execute(&mut *tx)
        .await?;
    for statement in DDL {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}
