//! What a page answers when it cannot show what was asked: an HTML page with the status, what
//! went wrong and where to go next; or, for a page that needs a signed-in user, a redirect to
//! sign in that comes back afterwards.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

use crate::api::ApiError;
use crate::layout;

#[derive(Debug)]
pub enum PageError {
    /// Sign in, then come back to `next`.
    SignIn {
        next: String,
    },
    Status {
        status: StatusCode,
        message: String,
    },
}

impl PageError {
    pub fn sign_in(next: &str) -> Self {
        Self::SignIn {
            next: next.to_owned(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::status(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::status(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::status(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(cause: &str) -> Self {
        tracing::error!(cause, "page failed");
        Self::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side.",
        )
    }

    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            message: message.into(),
        }
    }

    /// An API refusal seen from the page at `here`: an expired session signs in again.
    pub fn from_api(error: ApiError, here: &str) -> Self {
        if error.status == StatusCode::UNAUTHORIZED {
            Self::sign_in(here)
        } else {
            Self::status(error.status, error.message)
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::status(error.status, error.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next } => {
                Redirect::to(&format!("/login?next={}", crate::pages::encode(&next)))
                    .into_response()
            }
            PageError::Status { status, message } => {
                let title = status.canonical_reason().unwrap_or("Error");
                let body = layout::bare(
                    title,
                    html! {
                        h1 { (title) }
                        p role="alert" { (message) }
                        p { a href="/" { "Back to search" } }
                    },
                );
                (status, Html(body.into_string())).into_response()
            }
        }
    }
}
