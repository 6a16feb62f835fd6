//! Itinera's catalog service: airports, aircraft types and their seat maps, flights with fares and
//! status, and the flight search read model (kept current from booking's events).
//!
//! Every flight change is published (`flight.scheduled`, `flight.updated`,
//! `flight.status-changed`) through the transactional outbox.

mod activity;
mod cache;
pub mod cars;
pub mod catalog;
mod config;
pub mod demo;
mod directory;
pub mod domain;
pub mod error;
mod events;
mod hotels;
mod http;
mod search_cache;
pub mod store;

use std::sync::Arc;

use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

use crate::catalog::Catalog as FlightCatalog;

pub use config::Config;

/// The catalog service, as the host runs it.
pub struct Catalog;

/// A catalog instance, built and ready to run.
pub type Application = Host<Catalog>;

/// The consumer group (and inbox name) that keeps seats left current for search.
pub const SEATS_LEFT_CONSUMER: &str = "catalog.seats-left";

/// The consumer group (and inbox name) that keeps car rentals current for car search.
pub const RENTALS_CONSUMER: &str = "catalog.rentals";
/// The consumer group (and inbox name) that keeps the hotel stays search counts rooms from.
pub const STAYS_CONSUMER: &str = "catalog.stays";

impl Service for Catalog {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::CATALOG;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    fn migrator() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    /// Serves airports, aircraft, flights and search; publishes every flight change; keeps seats
    /// left from booking's events.
    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let db = context.db()?;
        let catalog = Arc::new(FlightCatalog::new(db.clone(), config.search_cache_ttl));
        let (activity, activity_writer) =
            activity::Activity::new(db.clone(), activity::MAX_PENDING);
        let seed = http::SeedSize {
            days: config.seed_days,
            per_day: config.seed_flights_per_day,
        };
        let seeded = config.demo_schedule && seed_demo(&catalog, &seed).await?;
        let searches = search_cache::SharedSearchCache::new(
            config.shared_search_ttl,
            shared_cache_connection(config.settings.redis_url.as_deref()).await,
        );
        let followed = searches.clone();
        let listened = db.clone();
        let state = http::AppState {
            searches,
            catalog,
            cars: Arc::new(cars::CarCatalog::new(db)),
            activity: activity.clone(),
            verifier: Arc::new(JwtVerifier::remote(&config.settings.jwt)),
            seed,
        };
        let router = context
            .edge_with_metrics(env!("CARGO_PKG_VERSION"), |registry| {
                activity.register(registry)
            })
            .build(http::router(state, config.settings.mode));
        let parts = Parts::new(router)
            .publishes()
            .consumes(
                SEATS_LEFT_CONSUMER,
                &[topics::BOOKINGS],
                events::bookings::SeatsLeft,
            )
            .consumes(
                RENTALS_CONSUMER,
                &[topics::BOOKINGS],
                events::rentals::CarRentals,
            )
            .consumes(STAYS_CONSUMER, &[topics::BOOKINGS], events::stays::Stays)
            .runs(Job::new("search cache invalidation", move |task| {
                followed.follow(listened, task)
            }))
            .runs(
                Job::new("activity writer", move |task| activity_writer.run(task))
                    .stalls_after(activity::FLUSH_EVERY * 30),
            );
        Ok(if seeded {
            parts.announce(format!(
                "Demo schedule loaded: {} airports, flights for the next {} days (booking receives them within seconds).",
                demo::airports().len(),
                config.seed_days
            ))
        } else {
            parts
        })
    }
}

/// Redis for the shared search cache, when configured and answering at start; without it each
/// instance caches in process (still invalidated by every change, on every instance).
async fn shared_cache_connection(url: Option<&str>) -> Option<redis::aio::ConnectionManager> {
    let client = match redis::Client::open(url?) {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "REDIS_URL unusable; search answers are cached in process");
            return None;
        }
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        redis::aio::ConnectionManager::new(client),
    )
    .await
    {
        Ok(Ok(redis)) => Some(redis),
        _ => {
            tracing::warn!("Redis not answering; search answers are cached in process");
            None
        }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Loads the demo schedule into the catalog's database if it has no flights (what `GET /seed`
/// does); says whether it did.
pub async fn load_demo_schedule(config: &Config) -> anyhow::Result<bool> {
    let db = platform::events::prepare_database(&config.settings.database, &MIGRATOR).await?;
    let catalog = FlightCatalog::new(db, config.search_cache_ttl);
    let seed = http::SeedSize {
        days: config.seed_days,
        per_day: config.seed_flights_per_day,
    };
    seed_demo(&catalog, &seed).await
}

async fn seed_demo(catalog: &FlightCatalog, seed: &http::SeedSize) -> anyhow::Result<bool> {
    let first_day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    catalog
        .seed_demo(first_day, seed.days, seed.per_day)
        .await
        .map_err(|e| anyhow::anyhow!("loading the demo schedule: {e}"))
}
