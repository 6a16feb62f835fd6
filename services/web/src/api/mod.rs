//! The platform's public API as the pages call it: through the gateway, with the signed-in
//! user's access token, on behalf of the browser's address. Every answer is typed here; a
//! refusal comes back as an [`ApiError`] carrying the problem's status and message.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod types;

/// How long a page waits for the platform. Booking waits up to its own confirmation wait for a
/// payment, so this is longer than that.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The API client. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Arc<str>,
}

/// Who a call is made for: the access token (if signed in) and the browser's address, which
/// the gateway counts rate limits against (when it trusts this service as a proxy).
#[derive(Clone, Copy, Default)]
pub struct Caller<'a> {
    pub token: Option<&'a str>,
    pub address: Option<IpAddr>,
}

/// The platform refused or failed a call.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The problem's `message` (what the API says is wrong), or what went wrong reaching it.
    pub message: String,
}

impl ApiError {
    fn unreachable(error: &reqwest::Error) -> Self {
        tracing::warn!(error = %error, "the platform's API did not answer");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "The platform is not answering right now; try again in a moment.".into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').into(),
        })
    }

    /// The request for `path` (with its query), as `caller`.
    pub fn request(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = caller.token {
            request = request.bearer_auth(token);
        }
        if let Some(address) = caller.address {
            request = request.header("x-forwarded-for", address.to_string());
        }
        request
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        path: &str,
    ) -> Result<T, ApiError> {
        answer(self.request(caller, Method::GET, path)).await
    }

    /// Sends `body` as JSON with `method`; `idempotency` becomes the `Idempotency-Key`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        body: &impl Serialize,
        idempotency: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request = self.request(caller, method, path).json(body);
        if let Some(key) = idempotency {
            request = request.header("idempotency-key", key);
        }
        answer(request).await
    }

    /// A call whose answer has no body worth reading (204, or one the page does not show).
    pub async fn act(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(), ApiError> {
        let mut request = self.request(caller, method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::unreachable(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refusal(response).await)
        }
    }
}

async fn answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, ApiError> {
    let response = request
        .send()
        .await
        .map_err(|e| ApiError::unreachable(&e))?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ApiError::unreachable(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        tracing::error!(error = %e, %status, "an API answer did not have the expected shape");
        ApiError {
            status: StatusCode::BAD_GATEWAY,
            message: "The platform answered something this page does not understand.".into(),
        }
    })
}

/// The problem+json of a refused call, as an [`ApiError`].
async fn refusal(response: reqwest::Response) -> ApiError {
    let status = response.status();
    let problem: serde_json::Value = response.json().await.unwrap_or_default();
    let message = problem["message"]
        .as_str()
        .or_else(|| problem["detail"].as_str())
        .map_or_else(
            || status.canonical_reason().unwrap_or("Error").to_owned(),
            str::to_owned,
        );
    ApiError { status, message }
}
