//! Helpers for services' integration tests: a fresh PostgreSQL database per test, dropped after.

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
