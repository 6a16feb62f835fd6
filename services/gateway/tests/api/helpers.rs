use platform::config::{ConfigSource, RunMode};
use platform::testing::{ApiClient, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "securepassword123";
pub const ADMIN: (&str, &str) = ("root", "rootpassword1");

/// Identity and the gateway in front of it.
pub struct Platform {
    pub gateway: String,
    pub identity: String,
    /// `url`, `post`, `get` and `client`, for the gateway.
    pub api: ApiClient,
    pub identity_db: sqlx::PgPool,
    pub identity_shutdown: CancellationToken,
    gateway_shutdown: CancellationToken,
    _database: TestDatabase,
}

impl std::ops::Deref for Platform {
    type Target = ApiClient;
    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.identity_shutdown.cancel();
        self.gateway_shutdown.cancel();
    }
}

impl Platform {
    /// Rate limits are off: these tests are about other things; `rate_limits.rs` tests them.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[("RATE_LIMIT_ENABLED", "false")]).await
    }

    pub async fn spawn_with(settings: &[(&str, &str)]) -> Self {
        platform::telemetry::init_for_tests();
        let database = TestDatabase::new("gateway");
        let mut source = ConfigSource::from_pairs([
            ("DATABASE_URL", database.url.as_str()),
            ("SERVICE_PORT", "0"),
            ("IDENTITY_GRPC_PORT", "0"),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("ITINERA_ADMIN_USERNAME", ADMIN.0),
            ("ITINERA_ADMIN_PASSWORD", ADMIN.1),
        ]);
        for (key, value) in settings {
            source = source.with(*key, *value);
        }
        let identity = identity::Application::build(
            identity::Config::load(&source, RunMode::Single).unwrap(),
            std::sync::Arc::new(platform::events::MemoryBus::default()),
        )
        .await
        .expect("identity starts");
        let identity_address = format!("http://127.0.0.1:{}", identity.port());
        let identity_shutdown = CancellationToken::new();
        tokio::spawn(identity.run_until_stopped(identity_shutdown.clone()));

        let source = source
            .with("IDENTITY_UPSTREAMS", identity_address.as_str())
            .with(
                "JWT_JWKS_URL",
                format!("{identity_address}/.well-known/jwks.json"),
            );
        let gateway = gateway::Application::build(
            gateway::Config::load(&source, RunMode::Single).unwrap(),
            std::sync::Arc::new(platform::events::bus::Disconnected),
        )
        .await
        .expect("gateway starts");
        let gateway_address = format!("http://127.0.0.1:{}", gateway.port());
        let gateway_shutdown = CancellationToken::new();
        tokio::spawn(gateway.run_until_stopped(gateway_shutdown.clone()));

        let identity_db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&database.url)
            .await
            .unwrap();
        Self {
            gateway: gateway_address.clone(),
            identity: identity_address,
            api: ApiClient::new(gateway_address),
            identity_db,
            identity_shutdown,
            gateway_shutdown,
            _database: database,
        }
    }

    /// Registers and logs in through the gateway; returns the login body.
    pub async fn user(&self, username: &str) -> Value {
        let registered = self
            .post(
                "/api/auth/register",
                &json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(registered.status(), StatusCode::CREATED);
        self.login(username, PASSWORD).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Value {
        let response = self
            .post(
                "/api/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// How many requests identity itself has served for `route` (from its own metrics).
    pub async fn identity_requests(&self, route: &str) -> u64 {
        let metrics = self
            .client
            .get(format!("{}/metrics", self.identity))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .filter(|line| {
                line.starts_with("http_requests_total")
                    && line.contains(&format!("route=\"{route}\""))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Platform {
    /// The sum of a counter's series in the gateway's own metrics (demo mode: read without a
    /// token).
    pub async fn gateway_counter(&self, name: &str) -> u64 {
        let metrics = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .filter(|line| line.starts_with(&format!("{name}_total")))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

pub fn token(login: &Value) -> String {
    login["token"]
        .as_str()
        .expect("token in login body")
        .to_owned()
}

pub use platform::testing::problem;
