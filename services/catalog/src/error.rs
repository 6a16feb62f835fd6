//! Every way a catalog request can fail, and the problem+json each becomes.

use axum::response::{IntoResponse, Response};
use platform::Problem;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for CatalogError {
    fn into_response(self) -> Response {
        match self {
            Self::Invalid(detail) => Problem::bad_request(detail),
            Self::NotFound(detail) => Problem::not_found(detail),
            Self::Conflict(detail) => Problem::conflict(detail),
            Self::Refused(problem) => problem,
            Self::Database(e) => Problem::database(&e),
            Self::Internal(e) => Problem::internal(format!("{e:#}")),
        }
        .into_response()
    }
}
