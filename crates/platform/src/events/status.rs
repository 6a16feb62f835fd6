//! `/events` on every service with a database: how far its events are behind. The outbox's
//! backlog (events written but not yet published, and how long the oldest has waited) and the
//! dead letters its consumers set aside. Served on the service's own port beside `/metrics`,
//! never through the gateway (which gathers it for staff as `/api/operations/events`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::Problem;

/// A service's event backlog, as `/events` answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStatus {
    /// Events in the outbox not yet published.
    pub outbox_pending: i64,
    /// How long the oldest of them has waited, in seconds (none when nothing waits).
    pub oldest_pending_seconds: Option<f64>,
    /// Events the consumers gave up on, kept in `dead_letters`.
    pub dead_letters: i64,
    /// When the last of them failed.
    pub last_dead_letter_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Reads the backlog: the pending outbox through its partial index, the dead letters whole.
pub async fn read(db: &PgPool) -> Result<EventStatus, sqlx::Error> {
    let (outbox_pending, oldest_pending_seconds): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8 \
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(db)
    .await?;
    let (dead_letters, last_dead_letter_at) =
        sqlx::query_as("SELECT count(*), max(failed_at) FROM dead_letters")
            .fetch_one(db)
            .await?;
    Ok(EventStatus {
        outbox_pending,
        oldest_pending_seconds,
        dead_letters,
        last_dead_letter_at,
    })
}

pub(crate) async fn serve(State(db): State<PgPool>) -> Response {
    match read(&db).await {
        Ok(status) => axum::Json(status).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "event status unreadable");
            Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "The event tables cannot be read right now",
            )
            .into_response()
        }
    }
}
