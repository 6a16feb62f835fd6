//! Every way a notification request can fail, and the problem+json each becomes.

use axum::response::{IntoResponse, Response};
use platform::Problem;

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("{0}")]
    Invalid(String),
    #[error("Notification not found")]
    NotificationNotFound,
    #[error("You may only read your own subscriptions")]
    OthersSubscriptions,
    #[error("You are not subscribed to {0}")]
    NotSubscribed(String),
    #[error("{}", crate::store::subscriptions::too_many(*.0))]
    TooManySubscriptions(u32),
    /// The subscription just made was removed before it could be read back.
    #[error("The subscription was removed meanwhile")]
    SubscriptionRemoved,
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for NotificationError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            Self::Invalid(_) => Problem::bad_request(detail),
            Self::NotificationNotFound | Self::NotSubscribed(_) => Problem::not_found(detail),
            Self::OthersSubscriptions => Problem::forbidden(detail),
            Self::SubscriptionRemoved => Problem::conflict(detail),
            Self::TooManySubscriptions(_) => {
                Problem::conflict(detail).with_type("too-many-subscriptions")
            }
            Self::Refused(problem) => problem,
            Self::Database(e) => Problem::database(&e),
        }
        .into_response()
    }
}
