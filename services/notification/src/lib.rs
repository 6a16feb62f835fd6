//! Itinera's notification service. It keeps the contact data it needs from identity's events (no
//! synchronous calls), turns user and booking events into notifications from a template per type
//! and channel, stores them, and delivers them: email over SMTP, a webhook for SMS or push
//! providers, and an in-app inbox.

mod config;
pub mod domain;
pub mod error;
mod events;
mod http;
mod jobs;
pub mod live;
mod store;

use std::sync::Arc;

use contracts::events::topics;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

pub use config::Config;

pub use jobs::delivery::Channels;

/// The notification service, as the host runs it.
pub struct Notification;

/// A notification instance, built and ready to run.
pub type Application = Host<Notification>;

/// The consumer group (and inbox name) of the notification service.
pub const CONSUMER: &str = "notification.events";

impl Service for Notification {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::NOTIFICATION;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    fn migrator() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    /// Serves the inbox, subscriptions, Socket.IO and SSE; turns user, flight and booking events
    /// into notifications and live updates; delivers email and webhooks; fans live updates out
    /// to the other instances.
    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let settings = &config.settings;
        let db = context.db()?;
        let verifier = Arc::new(JwtVerifier::remote(&settings.jwt));
        let fanout = match &settings.redis_url {
            Some(url) => Some(live::Fanout::new(url, &config.live_prefix).map_err(|e| {
                ConfigError::invalid("REDIS_URL", &platform::config::redact_url(url), e)
            })?),
            None => None,
        };
        let live_metrics = live::LiveMetrics::default();
        let (live, socket_layer) = live::Live::new(
            db.clone(),
            verifier.clone(),
            fanout,
            live_metrics.clone(),
            config.limits,
        );
        let state = http::AppState {
            db: db.clone(),
            verifier,
            live: live.clone(),
            max_subscriptions: config.limits.max_subscriptions,
        };
        // Socket.IO answers under /socket.io/ before the API router sees the request.
        let router = context
            .edge_with_metrics(env!("CARGO_PKG_VERSION"), |registry| {
                live_metrics.register(registry)
            })
            .build(http::router(state))
            .layer(socket_layer)
            .layer(axum::middleware::map_request(live::detach_head));
        let notifier = events::Notifier {
            email: config.channels.smtp.is_some(),
            webhook: config.channels.webhook.is_some(),
            live: live.clone(),
        };
        let deliverer = jobs::delivery::Deliverer::new(db, config.channels.clone());
        let email = match &config.channels.smtp {
            Some((host, port)) => format!("email through smtp://{host}:{port}"),
            None => "email: set SMTP_URL".to_owned(),
        };
        let fanned_out = if settings.redis_url.is_some() {
            ", fanned out through Redis"
        } else {
            ""
        };
        Ok(Parts::new(router)
            .note(format!(
                "{email}; live flight updates: Socket.IO at /socket.io/ and SSE at /api/live/updates through the gateway{fanned_out}"
            ))
            .consumes(
                CONSUMER,
                &[topics::USERS, topics::FLIGHTS, topics::BOOKINGS],
                notifier,
            )
            // A pass sends one batch, each message within the SMTP or webhook timeout.
            .runs(
                Job::new("delivery", move |task| deliverer.run(task))
                    .stalls_after(std::time::Duration::from_secs(300)),
            )
            // Live connections close with the listener, so long polls do not hold up the drain.
            .runs(Job::server("live connections", move |task| {
                live.run(task.shutdown)
            })))
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
