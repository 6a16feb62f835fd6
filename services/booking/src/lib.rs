//! Itinera's booking service: seat inventory per flight and cabin (created from catalog's flight
//! events), bookings, and their life cycle. Taking seats and recording a booking are one
//! transaction, so no seat is ever sold twice; every change is published through the outbox.

pub mod bookings;
pub mod domain;
pub mod error;
mod http;
mod replica;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::events::EventBus;
use platform::events::consumer::Consumer;
use platform::events::relay::Relay;
use platform::http::ServiceRouter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bookings::Bookings;

pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "booking",
    default_port: 5002,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// How long a booking awaiting payment holds its seats.
    pub hold: Duration,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::load(source, SERVICE, mode)?,
            hold: source
                .seconds("BOOKING_HOLD_SECS")?
                .unwrap_or(Duration::from_secs(15 * 60)),
        })
    }
}

/// Creates the database if needed and applies migrations, without serving.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    platform::events::prepare_database(&config.settings.database, &MIGRATOR).await?;
    Ok(())
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    db: sqlx::PgPool,
    bus: Arc<dyn EventBus>,
    subscription: platform::events::Subscription,
}

impl Application {
    /// Builds the service and subscribes it to flight events on `bus`.
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let db = platform::events::prepare_database(&settings.database, &MIGRATOR).await?;
        let state = http::AppState {
            bookings: Arc::new(Bookings {
                db: db.clone(),
                hold: config.hold,
            }),
            verifier: Arc::new(JwtVerifier::remote(&settings.jwt)),
        };
        let router = ServiceRouter::standard(settings, env!("CARGO_PKG_VERSION"), &db)
            .build(http::router(state));
        let subscription = bus.subscribe("booking.flights", &[topics::FLIGHTS]);
        Ok(Self {
            listener: platform::http::bind(settings.host, settings.port).await?,
            router,
            db,
            bus,
            subscription,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let relay =
            tokio::spawn(Relay::new(self.db.clone(), self.bus.clone()).run(shutdown.clone()));
        let consumer = Consumer::new(
            "booking.flights",
            self.db.clone(),
            Arc::new(replica::FlightReplica),
        )
        .with_bus(self.bus.clone());
        let consumer = tokio::spawn(consumer.run(self.subscription, shutdown.clone()));
        let served = platform::http::serve(self.listener, self.router, shutdown).await;
        let _ = tokio::join!(relay, consumer);
        served.context("booking HTTP server")
    }
}
