//! Itinera's identity service: users, credentials, roles, refresh tokens and signing keys.
//!
//! [`Identity`] is the service as the platform's host runs it: HTTP and gRPC, the signing keys
//! (reloaded in the background so a rotation made by another instance is picked up) and the
//! users' events. `itinera up`, `itinera serve identity` and the tests all run it the same way.

pub mod accounts;
mod config;
pub mod domain;
pub mod error;
mod grpc;
mod http;
mod jobs;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use contracts::identity::v1::user_directory_server::UserDirectoryServer;
use platform::auth::{JwtVerifier, Role};
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Job, Parts, Service};

use crate::accounts::Accounts;
use crate::tokens::{KeyRing, LocalKeys, TokenIssuer};

pub use config::{BootstrapUser, Config};

/// The identity service, as the host runs it.
pub struct Identity;

/// Limits of the `UserDirectory` gRPC listener (its HTTP listener has the platform's).
const GRPC_CALL_TIMEOUT: Duration = Duration::from_secs(10);
const GRPC_CALLS_PER_CONNECTION: usize = 64;
const GRPC_CONNECTION_AGE: Duration = Duration::from_secs(300);

/// An identity instance, built and ready to run.
pub type Application = Host<Identity>;

/// The demo users of `itinera up` (`DEMO_USERS=true`): name, password, role.
pub const DEMO_USERS: [(&str, &str, Role); 3] = [
    ("admin", "itinera-admin-1", Role::Admin),
    ("ops", "itinera-ops-1", Role::Ops),
    ("demo", "itinera-demo-1", Role::Customer),
];

impl Service for Identity {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::IDENTITY;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    fn migrator() -> Option<&'static sqlx::migrate::Migrator> {
        Some(&MIGRATOR)
    }

    /// Serves accounts and tokens over HTTP and the user directory over gRPC, publishes users'
    /// events, and reloads the signing keys in the background.
    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let settings = &config.settings;
        let db = context.db()?;
        let ring = KeyRing::load_or_create(
            db.clone(),
            settings.jwt.access_ttl,
            settings.jwt.jwks_refresh,
        )
        .await
        .context("loading token signing keys")?;
        let reload_every = ring.reload_every();
        let verifier = Arc::new(JwtVerifier::new(&settings.jwt, LocalKeys(ring.clone())));
        let accounts = Arc::new(Accounts {
            db,
            tokens: TokenIssuer::new(ring.clone(), settings.jwt.clone()),
            login_policy: config.login_policy.clone(),
        });
        let mut demo_users = Vec::new();
        for user in &config.bootstrap {
            let created = accounts
                .ensure_user(&user.username, &user.email, &user.password, user.role)
                .await
                .map_err(|e| anyhow::anyhow!("creating bootstrap user {}: {e}", user.username))?;
            if created {
                tracing::info!(username = %user.username, role = %user.role, "bootstrap user created");
            }
            if config.demo_users {
                demo_users.push(format!(
                    "{} / {} ({})",
                    user.username, user.password, user.role
                ));
            }
        }

        let state = http::AppState {
            accounts: accounts.clone(),
            verifier: verifier.clone(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        };
        let switch = Arc::new(http::failure::FailureSwitch::new(
            config.simulated_failure,
            config.simulated_failure_access,
        ));
        let failure = http::failure::FailureState {
            switch: switch.clone(),
            verifier: verifier.clone(),
        };
        let router = context
            .edge(env!("CARGO_PKG_VERSION"))
            .build(http::router(state).route(
                http::failure::PATH,
                axum::routing::get(http::failure::simulate).with_state(failure),
            ))
            .layer(axum::middleware::from_fn_with_state(
                switch,
                http::failure::fail_while_switched_on,
            ));

        let grpc = platform::http::bind(settings.host, config.grpc_port).await?;
        let grpc_port = grpc.local_addr()?.port();
        let directory = UserDirectoryServer::new(grpc::Directory {
            accounts: accounts.clone(),
            verifier,
        });
        let parts = Parts::new(router)
            .publishes()
            .serves_grpc(
                grpc_port,
                Job::server("gRPC UserDirectory", move |task| async move {
                    // The directory answers from one indexed read: a call that takes longer is
                    // cut, one connection cannot run more than a few at once, and connections are
                    // recycled, so a client that opens one and hoards it holds little.
                    let served = tonic::transport::Server::builder()
                        .timeout(GRPC_CALL_TIMEOUT)
                        .concurrency_limit_per_connection(GRPC_CALLS_PER_CONNECTION)
                        .max_concurrent_streams(GRPC_CALLS_PER_CONNECTION as u32)
                        .max_connection_age(GRPC_CONNECTION_AGE)
                        .add_service(directory)
                        .serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(grpc),
                            task.shutdown.cancelled_owned(),
                        )
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "identity gRPC server failed");
                    }
                }),
            )
            .runs(
                Job::new("signing-key reload", move |task| {
                    jobs::key_reload::reload_keys(ring, task)
                })
                .stalls_after((reload_every * 4).max(Duration::from_secs(60))),
            )
            .runs(
                Job::new("login-throttle sweep", move |task| {
                    jobs::throttle_sweep::sweep_login_throttles(accounts, task)
                })
                .stalls_after(jobs::throttle_sweep::EVERY * 3),
            )
            // The other services of the same process fetch the signing keys from here.
            .exports(
                "JWT_JWKS_URL",
                format!("http://127.0.0.1:{}/.well-known/jwks.json", context.port),
            )
            .note(format!("gRPC UserDirectory on 127.0.0.1:{grpc_port}"));
        Ok(if demo_users.is_empty() {
            parts
        } else {
            parts.announce(format!(
                "Demo users (created on first start): {}",
                demo_users.join(", ")
            ))
        })
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
