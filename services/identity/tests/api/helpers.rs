use platform::config::{ConfigSource, RunMode};
use platform::testing::{ApiClient, TestDatabase};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "securepassword123";
pub const ADMIN: (&str, &str) = ("root", "rootpassword1");

pub struct TestApp {
    /// `url`, `post`, `get` and `client`, for this service's address.
    pub api: ApiClient,
    pub grpc_port: u16,
    pub db: sqlx::PgPool,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;
    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Identity with an administrator `root` bootstrapped.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        platform::telemetry::init_for_tests();
        let database = TestDatabase::new("identity");
        let mut source = ConfigSource::from_pairs([
            ("DATABASE_URL", database.url.as_str()),
            ("SERVICE_PORT", "0"),
            ("IDENTITY_GRPC_PORT", "0"),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("ITINERA_ADMIN_USERNAME", ADMIN.0),
            ("ITINERA_ADMIN_PASSWORD", ADMIN.1),
        ]);
        for (key, value) in extra {
            source = source.with(*key, *value);
        }
        let config =
            identity::Config::load(&source, RunMode::Single).expect("valid test configuration");
        let app = identity::Application::build(
            config,
            std::sync::Arc::new(platform::events::MemoryBus::default()),
        )
        .await
        .expect("identity starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let grpc_port = app.grpc_port();
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&database.url)
            .await
            .expect("test connects to its database");
        Self {
            api: ApiClient::new(address),
            grpc_port,
            db,
            shutdown,
            _database: database,
        }
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/register",
            &json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// A login from client `address` (as the gateway reports it in `X-Forwarded-For`).
    pub async fn login_from(&self, address: &str, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", address)
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request sent")
    }

    /// Registers `username` and logs in; returns the login body.
    pub async fn user(&self, username: &str) -> Value {
        let response = self
            .register(username, &format!("{username}@example.com"), PASSWORD)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        self.logged_in(username, PASSWORD).await
    }

    pub async fn logged_in(&self, username: &str, password: &str) -> Value {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {username}");
        response.json().await.unwrap()
    }

    pub async fn admin_token(&self) -> String {
        token(&self.logged_in(ADMIN.0, ADMIN.1).await)
    }
}

pub fn token(login: &Value) -> String {
    login["token"]
        .as_str()
        .expect("token in login body")
        .to_owned()
}

pub use platform::testing::problem;

pub use identity::testing::{signed_token, tamper};
