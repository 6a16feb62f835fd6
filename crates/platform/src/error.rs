//! RFC 9457 problem details, the one error shape of every Itinera API.
//!
//! Every problem also carries a `message` member equal to its `detail`, which is what clients of the
//! seed API read, so one error body serves both the seed API and the resource API.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A problem+json response.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub title: Cow<'static, str>,
    #[serde(serialize_with = "serialize_status")]
    pub status: StatusCode,
    pub detail: String,
    /// Same text as `detail`, for clients written against the seed API.
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 section 3.2), such as which side of a proxy failed.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    retry_after: Option<u64>,
    #[serde(skip)]
    cause: Option<Arc<str>>,
}

/// One invalid input field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Attached to every error response so that the logging middleware can log the cause of a 5xx
/// without the cause ever reaching the client.
#[derive(Clone, Debug)]
pub struct ErrorCause(pub Arc<str>);

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self {
            kind: Cow::Borrowed("about:blank"),
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
            status,
            message: detail.clone(),
            detail,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            retry_after: None,
            cause: None,
        }
    }

    /// A problem type URI under `https://itinera.dev/problems/` that clients can switch on.
    #[must_use]
    pub fn with_type(mut self, slug: &'static str) -> Self {
        self.kind = Cow::Owned(format!("https://itinera.dev/problems/{slug}"));
        self
    }

    #[must_use]
    pub fn with_field_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    #[must_use]
    pub fn with_extension(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Attaches a cause for the log without showing it to the client.
    #[must_use]
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(Arc::from(format!("{cause:#}")));
        self
    }

    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail).with_type("invalid-request")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail).with_type("unauthenticated")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail).with_type("forbidden")
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail).with_type("not-found")
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail).with_type("conflict")
    }

    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail).with_type("unavailable")
    }

    /// A 500 whose body says only that something went wrong; the cause goes to the log.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut problem = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server could not complete the request. It has been logged; retrying may help.",
        )
        .with_type("internal");
        problem.cause = Some(Arc::from(format!("{cause:#}")));
        problem
    }

    /// What a database error means to the caller: 503 while the database is unreachable, 409
    /// when the request would duplicate something unique, 400 for text PostgreSQL cannot store
    /// (a NUL character, which only a request can bring), 500 otherwise (the cause is logged,
    /// never shown).
    pub fn database(error: &sqlx::Error) -> Self {
        if crate::db::is_unavailable(error) {
            return Self::dependency_unavailable("database", error);
        }
        let mut problem = match error {
            sqlx::Error::Database(e) if e.is_unique_violation() => {
                Self::conflict("This already exists.")
            }
            // character_not_in_repertoire, untranslatable_character
            sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("22021" | "22P05")) => {
                Self::bad_request(
                    "Text in the request contains a character that cannot be stored (such as NUL)",
                )
            }
            _ => return Self::internal(error),
        };
        problem.cause = Some(Arc::from(format!("{error:#}")));
        problem
    }

    /// A 503 for a dependency that is down; the cause goes to the log, not to the client.
    pub fn dependency_unavailable(dependency: &str, cause: impl std::fmt::Display) -> Self {
        let mut problem = Self::service_unavailable(format!(
            "A dependency ({dependency}) is unavailable; retry shortly."
        ))
        .with_retry_after(1);
        problem.cause = Some(Arc::from(format!("{cause:#}")));
        problem
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(ErrorCause(cause));
        }
        response
    }
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        Self::database(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let response =
            Problem::internal("password authentication failed for user admin").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = response
            .extensions()
            .get::<ErrorCause>()
            .expect("cause kept for the log");
        assert!(cause.0.contains("password authentication"));
        let body = serde_json::to_string(&Problem::internal("secret detail")).unwrap();
        assert!(!body.contains("secret detail"), "{body}");
    }

    #[test]
    fn problems_carry_the_seed_message_member() {
        let value =
            serde_json::to_value(Problem::bad_request("Username or Email already exists")).unwrap();
        assert_eq!(value["message"], "Username or Email already exists");
        assert_eq!(value["detail"], "Username or Email already exists");
        assert_eq!(value["status"], 400);
        assert_eq!(
            value["type"],
            "https://itinera.dev/problems/invalid-request"
        );
    }
}
