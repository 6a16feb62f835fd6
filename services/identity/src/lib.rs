//! Itinera's identity service: users, credentials, roles, refresh tokens and signing keys.
//!
//! [`Application::build`] binds the HTTP and gRPC ports, connects to (and migrates) the service's
//! database and prepares the signing keys; [`Application::run_until_stopped`] serves until the
//! shutdown token is cancelled. `itinera up`, `itinera serve identity` and the tests all use it.

pub mod accounts;
pub mod domain;
pub mod error;
mod grpc;
mod http;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contracts::identity::v1::user_directory_server::UserDirectoryServer;
use platform::auth::{JwtVerifier, Role};
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::events::EventBus;
use platform::events::relay::Relay;
use platform::http::ServiceRouter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accounts::{Accounts, LoginPolicy};
use crate::tokens::{KeyRing, LocalKeys, TokenIssuer};

pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "identity",
    default_port: 5001,
};
pub const DEFAULT_GRPC_PORT: u16 = 9091;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// An administrator to create at start if no user has that name.
#[derive(Clone)]
pub struct BootstrapUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

impl std::fmt::Debug for BootstrapUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Identity's configuration: the shared settings plus its own.
#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub grpc_port: u16,
    pub login_policy: LoginPolicy,
    /// Users created at start when missing (`ITINERA_ADMIN_USERNAME` / `ITINERA_ADMIN_PASSWORD`,
    /// and the demo users of `itinera up`).
    pub bootstrap: Vec<BootstrapUser>,
    pub trusted_proxies: Vec<IpAddr>,
    /// How long `GET /api/auth/simulate-failure` makes this instance fail (zero: turned off).
    pub simulated_failure: Duration,
}

impl Config {
    pub fn load(source: &ConfigSource, mode: RunMode) -> Result<Self, ConfigError> {
        let settings = Settings::load(source, SERVICE, mode)?;
        let grpc_port = source
            .parse::<u16>("IDENTITY_GRPC_PORT")?
            .unwrap_or(DEFAULT_GRPC_PORT);
        let defaults = LoginPolicy::default();
        let login_policy = LoginPolicy {
            window_secs: source
                .seconds("LOGIN_FAILURE_WINDOW_SECS")?
                .map_or(defaults.window_secs, |d| d.as_secs() as i64),
            account_threshold: source
                .parse("LOGIN_MAX_FAILURES_PER_ACCOUNT")?
                .unwrap_or(defaults.account_threshold),
            address_threshold: source
                .parse("LOGIN_MAX_FAILURES_PER_ADDRESS")?
                .unwrap_or(defaults.address_threshold),
            base_lock_secs: source
                .seconds("LOGIN_LOCK_SECS")?
                .map_or(defaults.base_lock_secs, |d| d.as_secs() as i64),
            max_lock_secs: defaults.max_lock_secs,
        };
        for (key, value) in [
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                login_policy.account_threshold,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                login_policy.address_threshold,
            ),
        ] {
            if value < 1 {
                return Err(ConfigError::invalid(
                    key,
                    &value.to_string(),
                    "must be at least 1",
                ));
            }
        }
        let mut bootstrap = Vec::new();
        match (
            source.get("ITINERA_ADMIN_USERNAME"),
            source.get("ITINERA_ADMIN_PASSWORD"),
        ) {
            (Some(username), Some(password)) => bootstrap.push(BootstrapUser {
                username: username.to_owned(),
                email: source
                    .get("ITINERA_ADMIN_EMAIL")
                    .map_or_else(|| format!("{username}@itinera.local"), str::to_owned),
                password: password.to_owned(),
                role: Role::Admin,
            }),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    key: "ITINERA_ADMIN_PASSWORD".into(),
                    reason:
                        "ITINERA_ADMIN_USERNAME is set, so the administrator needs a password too"
                            .into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    key: "ITINERA_ADMIN_USERNAME".into(),
                    reason:
                        "ITINERA_ADMIN_PASSWORD is set, so the administrator needs a username too"
                            .into(),
                });
            }
            (None, None) => {}
        }
        let trusted_proxies = match source.get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|e| ConfigError::invalid("TRUSTED_PROXIES", s, e))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            settings,
            grpc_port,
            login_policy,
            bootstrap,
            trusted_proxies,
            simulated_failure: source
                .seconds("SIMULATED_FAILURE_SECS")?
                .unwrap_or(Duration::from_secs(30)),
        })
    }
}

/// Creates the service's database if needed and applies its migrations, without serving.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    platform::events::prepare_database(&config.settings.database, &MIGRATOR).await?;
    Ok(())
}

/// A built identity service, bound to its ports and ready to serve.
pub struct Application {
    /// This instance's entry in the service registry (with `REDIS_URL`).
    registration: Option<platform::discovery::Registration>,
    http: TcpListener,
    grpc: TcpListener,
    router: axum::Router,
    directory: UserDirectoryServer<grpc::Directory>,
    ring: Arc<KeyRing>,
    accounts: Arc<Accounts>,
    bus: Arc<dyn EventBus>,
}

impl Application {
    /// Builds the service; its events go out through `bus`.
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let db = platform::events::prepare_database(&settings.database, &MIGRATOR).await?;
        let ring = KeyRing::load_or_create(db.clone(), settings.jwt.access_ttl)
            .await
            .context("loading token signing keys")?;
        let verifier = Arc::new(JwtVerifier::new(&settings.jwt, LocalKeys(ring.clone())));
        let accounts = Arc::new(Accounts {
            db: db.clone(),
            tokens: TokenIssuer::new(ring.clone(), settings.jwt.clone()),
            login_policy: config.login_policy.clone(),
        });
        for user in &config.bootstrap {
            let created = accounts
                .ensure_user(&user.username, &user.email, &user.password, user.role)
                .await
                .map_err(|e| anyhow::anyhow!("creating bootstrap user {}: {e}", user.username))?;
            if created {
                tracing::info!(username = %user.username, role = %user.role, "bootstrap user created");
            }
        }

        let state = http::AppState {
            accounts: accounts.clone(),
            verifier: verifier.clone(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        };
        let switch = Arc::new(http::failure::FailureSwitch::new(config.simulated_failure));
        let router = ServiceRouter::standard(settings, env!("CARGO_PKG_VERSION"), &db)
            .build(http::router(state).route(
                http::failure::PATH,
                axum::routing::get(http::failure::simulate).with_state(switch.clone()),
            ))
            .layer(axum::middleware::from_fn_with_state(
                switch,
                http::failure::fail_while_switched_on,
            ));

        let http = platform::http::bind(settings.host, settings.port).await?;
        let grpc = platform::http::bind(settings.host, config.grpc_port).await?;
        Ok(Self {
            registration: platform::discovery::Registration::from_settings(
                settings,
                http.local_addr()?.port(),
            ),
            http,
            grpc,
            router,
            directory: UserDirectoryServer::new(grpc::Directory {
                accounts: accounts.clone(),
                verifier,
            }),
            ring,
            accounts,
            bus,
        })
    }

    pub fn port(&self) -> u16 {
        self.http.local_addr().map_or(0, |a| a.port())
    }

    pub fn grpc_port(&self) -> u16 {
        self.grpc.local_addr().map_or(0, |a| a.port())
    }

    pub fn accounts(&self) -> Arc<Accounts> {
        self.accounts.clone()
    }

    /// Serves HTTP and gRPC until `shutdown` is cancelled, reloading the key ring periodically so
    /// that a rotation made by another instance is picked up.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let registration = self
            .registration
            .map(|registration| tokio::spawn(registration.run(shutdown.clone())));
        let ring = self.ring.clone();
        let reload_stop = shutdown.clone();
        let reload = tokio::spawn(async move {
            let mut every = tokio::time::interval(KeyRing::RELOAD_EVERY);
            every.tick().await;
            loop {
                tokio::select! {
                    () = reload_stop.cancelled() => break,
                    _ = every.tick() => {
                        if let Err(e) = ring.reload().await {
                            tracing::warn!(error = %format!("{e:#}"), "reloading signing keys failed");
                        }
                    }
                }
            }
        });
        let grpc_stop = shutdown.clone();
        let grpc = tonic::transport::Server::builder()
            .add_service(self.directory)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.grpc),
                async move { grpc_stop.cancelled().await },
            );
        let relay = tokio::spawn(
            Relay::new(self.accounts.db.clone(), self.bus.clone()).run(shutdown.clone()),
        );
        let http = platform::http::serve(self.http, self.router, shutdown.clone());
        let (http, grpc) = tokio::join!(http, grpc);
        reload.abort();
        let _ = relay.await;
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        http.context("identity HTTP server")?;
        grpc.context("identity gRPC server")?;
        Ok(())
    }
}
