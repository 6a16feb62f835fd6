//! Helpers for services' integration tests: a fresh PostgreSQL database per test, dropped after.

pub mod live;

use crate::config::{DEFAULT_DATABASE_SERVER, with_database};

/// A database that exists for one test. It is created by the service under test (which creates
/// its database when missing) and dropped when this value is dropped, even if the test panics.
pub struct TestDatabase {
    pub url: String,
}

impl TestDatabase {
    /// A unique database name on the server named by `TEST_DATABASE_URL` (default: the local server).
    pub fn new(prefix: &str) -> Self {
        let name = format!("test_{prefix}_{}", uuid::Uuid::new_v4().simple());
        Self {
            url: with_database(&maintenance_url(), &name),
        }
    }
}

/// The test server's maintenance database (`postgres`), for tests that administer the server.
pub fn maintenance_url() -> String {
    let server =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_SERVER.to_owned());
    with_database(&server, "postgres")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(crate::db::drop_database(&url)).ok()
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.url);
        }
    }
}

/// Asserts that a response is a problem+json with `status` (and a non-empty `message` equal to
/// its `detail`), and returns its body.
pub async fn problem(
    response: reqwest::Response,
    status: reqwest::StatusCode,
) -> serde_json::Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "errors are problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["message"], body["detail"], "{body}");
    body
}

/// An HTTP client for one service's base URL, with the requests tests make most.
#[derive(Clone, Debug)]
pub struct ApiClient {
    pub base: String,
    pub client: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET` with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }
}

impl ApiClient {
    /// `POST` with a JSON body and a bearer token.
    pub async fn post_as(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET` without a token.
    pub async fn get_anonymous(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }
}

/// An access-token issuer for tests of one service without identity: an Ed25519 key of its own,
/// its JWKS served over HTTP on a loopback port, and tokens signed with the claims identity
/// puts in them (`sub`, `name`, `role`, `iss`, `aud`, `iat`, `exp`, `jti`, and `kid` in the
/// header). A service under test verifies them when its `JWT_JWKS_URL` is [`TestIssuer::jwks_url`].
pub struct TestIssuer {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    jwks_url: String,
    issuer: String,
    audience: String,
    server: tokio::task::AbortHandle,
}

impl TestIssuer {
    /// The issuer and audience identity uses by default (`JWT_ISSUER`, `JWT_AUDIENCE`).
    pub const DEFAULT_ISSUER: &'static str = "itinera";

    /// How long its tokens last, as identity's default `JWT_ACCESS_TTL_SECS`.
    pub const ACCESS_TTL_SECS: i64 = 15 * 60;

    /// A new key, with its JWKS served on `127.0.0.1` until this value is dropped.
    pub async fn start() -> Self {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use jsonwebtoken::jwk::{
            AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
            OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
        };

        let signing = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let der = signing.to_pkcs8_der().expect("an Ed25519 key encodes");
        let public = signing.verifying_key().to_bytes();
        let kid = format!("test-{}", &URL_SAFE_NO_PAD.encode(public)[..12]);
        let jwks = JwkSet {
            keys: vec![Jwk {
                common: CommonParameters {
                    public_key_use: Some(PublicKeyUse::Signature),
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    key_id: Some(kid.clone()),
                    ..Default::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(public),
                }),
            }],
        };
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the JWKS");
        let jwks_url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().expect("a bound address")
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
        .abort_handle();
        Self {
            kid,
            encoding: jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
            jwks_url,
            issuer: Self::DEFAULT_ISSUER.to_owned(),
            audience: Self::DEFAULT_ISSUER.to_owned(),
            server,
        }
    }

    /// Where its public key is published: the service's `JWT_JWKS_URL`.
    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// The `kid` its tokens name.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// An access token for `user_id` with `username` and `role`, valid for
    /// [`TestIssuer::ACCESS_TTL_SECS`].
    pub fn token(&self, user_id: i64, username: &str, role: crate::auth::Role) -> String {
        self.token_expiring_in(user_id, username, role, Self::ACCESS_TTL_SECS)
    }

    /// An access token that expires `seconds` from now (negative: already expired).
    pub fn token_expiring_in(
        &self,
        user_id: i64,
        username: &str,
        role: crate::auth::Role,
        seconds: i64,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = crate::auth::Claims {
            sub: user_id.to_string(),
            name: username.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + seconds,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("a test token signs")
    }

    /// A customer's token.
    pub fn customer(&self, user_id: i64, username: &str) -> String {
        self.token(user_id, username, crate::auth::Role::Customer)
    }

    /// An operations user's token.
    pub fn ops(&self, user_id: i64, username: &str) -> String {
        self.token(user_id, username, crate::auth::Role::Ops)
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One service run by its [`Host`](crate::service::Host) on its own: port 0, a fresh
/// [`TestDatabase`], an in-process [`MemoryBus`](crate::events::MemoryBus) the test publishes
/// fixture events on, and tokens from a [`TestIssuer`]. Stopped when dropped.
pub struct TestService {
    /// Its HTTP API.
    pub api: ApiClient,
    /// Its own database, for the test to read.
    pub db: sqlx::PgPool,
    /// The bus its consumers are subscribed on. `publish` resolves once every consumer group of
    /// the service has stored the effect of the events.
    pub bus: std::sync::Arc<crate::events::MemoryBus>,
    /// Its supervised tasks.
    pub tasks: crate::service::Tasks,
    shutdown: tokio_util::sync::CancellationToken,
    _database: TestDatabase,
}

impl TestService {
    /// Builds and runs service `S` with `settings` on top of its database, port 0 and the
    /// issuer's `JWT_JWKS_URL`.
    pub async fn start<S: crate::service::Service>(
        issuer: &TestIssuer,
        settings: &[(&str, &str)],
    ) -> Self {
        let name = S::SPEC.name;
        let database = TestDatabase::new(name);
        let mut source = crate::config::ConfigSource::from_pairs([
            ("DATABASE_URL", database.url.as_str()),
            ("SERVICE_PORT", "0"),
            ("JWT_JWKS_URL", issuer.jwks_url()),
        ]);
        for (key, value) in settings {
            source = source.with(*key, *value);
        }
        let config = S::load(&source, crate::config::RunMode::Single)
            .unwrap_or_else(|e| panic!("{name} configuration: {e}"));
        let bus = std::sync::Arc::new(crate::events::MemoryBus::default());
        let host = crate::service::Host::<S>::build(config, bus.clone())
            .await
            .unwrap_or_else(|e| panic!("{name} starts: {e:#}"));
        let api = ApiClient::new(format!("http://127.0.0.1:{}", host.port()));
        let tasks = host.tasks();
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(host.run_until_stopped(shutdown.clone()));
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&database.url)
            .await
            .expect("the test connects to the service's database");
        Self {
            api,
            db,
            bus,
            tasks,
            shutdown,
            _database: database,
        }
    }

    /// Publishes `messages` on the service's bus and waits until its consumers have stored them.
    pub async fn publish(&self, messages: &[crate::events::Message]) {
        use crate::events::EventBus as _;
        self.bus
            .publish(messages)
            .await
            .expect("the service's consumers took the events");
    }

    /// The envelopes of `kind` in the service's outbox, oldest first.
    pub async fn outbox(&self, kind: &str) -> Vec<serde_json::Value> {
        sqlx::query_scalar(
            "SELECT envelope FROM outbox WHERE envelope->>'type' = $1 ORDER BY position",
        )
        .bind(kind)
        .fetch_all(&self.db)
        .await
        .expect("the outbox is readable")
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
