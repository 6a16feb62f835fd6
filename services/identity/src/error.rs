//! Every way an identity request can fail, and the problem+json each becomes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::Problem;
use platform::error::FieldError;

use crate::domain::InvalidValue;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid input")]
    Invalid(Vec<InvalidValue>),
    /// Seed 002: `400 {"message": "Username or Email already exists"}`.
    #[error("Username or Email already exists")]
    DuplicateUser,
    /// Seed 002: `401 {"message": "Invalid username or password"}`.
    #[error("Invalid username or password")]
    BadCredentials,
    #[error("Invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("The current password is wrong")]
    WrongCurrentPassword,
    #[error(
        "Too many failed password attempts from this address or for this account; retry in {retry_after} seconds"
    )]
    Throttled { retry_after: u64 },
    #[error("User not found")]
    UserNotFound,
    #[error("The last administrator cannot lose the admin role")]
    LastAdmin,
    /// Every password-hashing slot stayed busy for the whole wait (see `accounts::HashGate`).
    #[error("Too many password checks at once; retry shortly")]
    Busy,
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<InvalidValue> for IdentityError {
    fn from(value: InvalidValue) -> Self {
        Self::Invalid(vec![value])
    }
}

impl IdentityError {
    fn to_problem(&self) -> Problem {
        match self {
            Self::Invalid(errors) => {
                let summary = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                Problem::bad_request(format!("Invalid input: {summary}")).with_field_errors(
                    errors
                        .iter()
                        .map(|e| FieldError {
                            field: e.field.to_owned(),
                            message: e.to_string(),
                        })
                        .collect(),
                )
            }
            Self::DuplicateUser => {
                Problem::bad_request(self.to_string()).with_type("duplicate-user")
            }
            Self::BadCredentials | Self::InvalidRefreshToken => {
                Problem::unauthorized(self.to_string())
            }
            Self::WrongCurrentPassword => Problem::forbidden(self.to_string()),
            Self::Throttled { retry_after } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, self.to_string())
                    .with_type("too-many-attempts")
                    .with_retry_after(*retry_after)
            }
            Self::UserNotFound => Problem::not_found(self.to_string()),
            Self::LastAdmin => Problem::conflict(self.to_string()),
            Self::Busy => Problem::service_unavailable(self.to_string())
                .with_type("busy")
                .with_retry_after(1),
            Self::Refused(problem) => problem.clone(),
            Self::Database(e) => Problem::database(e),
            Self::Internal(e) => Problem::internal(format!("{e:#}")),
        }
    }
}

impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        self.to_problem().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_hashing_gate_is_a_503_to_retry() {
        let response = IdentityError::Busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }
}
